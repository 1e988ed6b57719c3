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
