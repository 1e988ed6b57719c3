"""The demo shop's simulated on-site traffic: the built-in triggers' decisions over the last two weeks
and their outcomes, served to whom the triggers target, stored once however often it is loaded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shopmind.demo import SyntheticShop, generate_shop, simulate_onsite
from shopmind.onsite import DEFAULT_TRIGGERS, parse_triggers
from shopmind.pipeline import load_demo_shop
from shopmind.store import Workspace, trigger_performance


@pytest.fixture(scope="module")
def shop() -> SyntheticShop:
    return generate_shop(customers=600, days=60, seed=11)


def test_decisions_follow_the_triggers_and_their_outcomes_are_consistent(shop: SyntheticShop) -> None:
    truths = shop.truths
    decisions, outcomes = simulate_onsite(truths, 11)
    again = simulate_onsite(truths, 11)
    assert decisions.equals(again[0]) and outcomes.equals(again[1])  # the seed decides
    rows = decisions.to_pylist()
    triggers = {t.id: t for t in parse_triggers(DEFAULT_TRIGGERS, "defaults")}
    assert {r["trigger_id"] for r in rows} == set(triggers)
    end = datetime.combine(truths.end, datetime.min.time(), UTC) - timedelta(hours=9)  # KST midnight
    assert all(end - timedelta(days=14) <= r["decided_at"] < end for r in rows)
    for r in rows:
        assert (r["placement"], r["action"]) == (
            triggers[r["trigger_id"]].placement,
            triggers[r["trigger_id"]].action,
        )
        if r["trigger_id"] == "returning-vip":
            assert r["user_id"] in truths.active_vip_user_ids
        if r["trigger_id"] == "careers-banner":
            assert r["visitor"] in truths.job_seeker_anonymous_ids
        if r["trigger_id"] == "first-purchase-coupon":
            assert r["user_id"] is None and r["visitor"] not in truths.guest_buyer_anonymous_ids
    seen: dict[str, set[str]] = {}
    for o in outcomes.to_pylist():
        seen.setdefault(o["decision_id"], set()).add(o["outcome"])
        assert (o["revenue"] is not None) == (o["outcome"] == "converted")
    for kinds in seen.values():
        assert "shown" in kinds
        assert "converted" not in kinds or "clicked" in kinds
        assert not {"clicked", "dismissed"} <= kinds
    assert sum("converted" in k for k in seen.values()) > 0


def test_the_demo_job_stores_them_once(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "shop").open_store() as store:
        first = load_demo_shop(store, customers=300, days=30, seed=4)
        second = load_demo_shop(store, customers=300, days=30, seed=4)
        served = {row["trigger_id"]: row for row in trigger_performance(store)}
        stored = store.scalar("SELECT count(*) FROM decisions")
    assert first.decisions > 0 and second.decisions == 0 and stored == first.decisions
    assert set(served) == {"first-purchase-coupon", "cart-abandonment", "careers-banner", "returning-vip"}


def test_converted_revenue_counts_verified_orders_only() -> None:
    """A conversion's revenue counts once its order is verified, at the confirmed amount; what a
    page reported for an order no server confirmed (or for no stored order at all) is kept apart."""
    import pyarrow as pa

    from shopmind.events import ORDER_LINE_SCHEMA, ORDER_SCHEMA
    from shopmind.store import Store, log_decisions, log_outcomes

    at = datetime(2026, 3, 30, 3, tzinfo=UTC)

    def order(order_id: str, price: float, verified: bool) -> tuple[pa.Table, pa.Table]:
        header = {name: None for name in ORDER_SCHEMA.names}
        header |= {"order_id": order_id, "ordered_at": at, "anonymous_id": "v1", "currency": "KRW"}
        header |= {"is_return": False, "verified": verified, "source": "server" if verified else "client"}
        line = {"order_id": order_id, "line_key": f"{order_id}#1", "line_no": 1, "product_id": "P1"}
        line |= {
            "description": "우산",
            "quantity": 2,
            "unit_price": price,
            "is_return": False,
            "is_product": True,
        }
        return pa.Table.from_pylist([header], ORDER_SCHEMA), pa.Table.from_pylist([line], ORDER_LINE_SCHEMA)

    with Store(":memory:") as store:
        store.write_orders(*order("o-ok", 5_000.0, verified=True))
        store.write_orders(*order("o-claim", 3_500.0, verified=False))
        log_decisions(
            store,
            [
                {"decision_id": d, "decided_at": at, "visitor": "v1", "trigger_id": "cart-abandonment"}
                | {"action": "slide_in", "placement": "slide_in"}
                for d in ("d1", "d2", "d3")
            ],
        )
        # what the pages reported: d1's order claims more than the shop confirmed
        reported = [("d1", "o-ok", 99_000.0), ("d2", "o-claim", 7_000.0), ("d3", None, 3_000.0)]
        log_outcomes(
            store,
            [
                {"decision_id": d, "outcome": "converted", "outcome_at": at, "order_id": o, "revenue": r}
                for d, o, r in reported
            ],
        )
        (row,) = trigger_performance(store)
        assert row["converted"] == 3
        assert row["revenue"] == pytest.approx(10_000.0)  # o-ok as confirmed: 2 x 5,000
        assert row["unverified_revenue"] == pytest.approx(10_000.0)  # o-claim's 7,000 + d3's 3,000
        store.write_orders(*order("o-claim", 3_000.0, verified=True))  # the shop's server confirms it
        (row,) = trigger_performance(store)
        assert row["revenue"] == pytest.approx(16_000.0) and row["unverified_revenue"] == pytest.approx(
            3_000.0
        )
