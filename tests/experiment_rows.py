"""Experiments with exposures and orders written straight into a store, for the surfaces' tests:
a popup test whose free-shipping variant converts more (seeded), one whose split is broken (SRM),
and a running one nobody has met yet."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from shopmind.experiments import parse_experiment
from shopmind.measure import new_experiment
from shopmind.store import Store, record_exposures, set_experiment_state

T0 = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
AS_OF = datetime(2026, 11, 30, tzinfo=UTC)


def popup(experiment_id: str, name: str) -> dict[str, object]:
    return {
        "id": experiment_id,
        "name": name,
        "point": {"kind": "placement", "placement": "popup", "trigger": "exit-coupon"},
        "variants": [
            {"name": "control", "trigger": "exit-coupon"},
            {"name": "free-shipping", "trigger": "exit-free-shipping"},
        ],
        "metrics": [
            {"name": "conversion", "kind": "conversion", "window_days": 7},
            {"name": "revenue", "kind": "revenue", "window_days": 7},
        ],
        "analysis": {"cuped": False},
    }


def _order(store: Store, order_id: str, customer: str, at: datetime, amount: float) -> None:
    store.sql(
        "INSERT INTO orders (order_id, ordered_at, customer_id, anonymous_id, email_hash, currency, "
        "is_return, source, verified) VALUES (?, ?, ?, NULL, NULL, 'KRW', false, 'test', true)",
        [
            order_id,
            at,
            customer,
        ],
    )
    store.sql(
        "INSERT INTO order_lines (line_key, order_id, product_id, quantity, unit_price) VALUES (?, ?, 'p', 1, ?)",
        [f"{order_id}:1", order_id, amount],
    )


def seed(
    store: Store,
    experiment_id: str,
    name: str,
    counts: dict[str, int],
    rates: dict[str, float],
    seed: int = 7,
) -> dict[str, dict[str, float]]:
    """A running popup experiment with ``counts`` exposed customers per variant (each exposed on
    one of the first five days), of whom a ``rates`` share ordered within a week (one order of
    10,000–50,000 won); the truth per variant: units, converted, revenue."""
    rng = random.Random(seed)
    new_experiment(store, parse_experiment(popup(experiment_id, name)), created_by="test", now=T0)
    # stored data for the results, not a start: several seeded ones share one point
    set_experiment_state(store, experiment_id, "running", T0)
    rows = []
    truth: dict[str, dict[str, float]] = {}
    for variant, n in counts.items():
        converted, revenue = 0, 0.0
        for i in range(n):
            member = f"{experiment_id}-{variant}-{i:04d}"
            unit = f"user:{member}"
            store.sql("INSERT INTO profiles VALUES (?, ?, 'user')", [unit, unit])
            at = T0 + timedelta(days=rng.randrange(5), hours=rng.randrange(20))
            rows.append(
                {
                    "experiment_id": experiment_id,
                    "unit_id": unit,
                    "variant": variant,
                    "exposed_at": at,
                    "propensity": None,
                    "source": "test",
                }
            )
            if rng.random() < rates[variant]:
                amount = float(rng.randrange(10, 51) * 1000)
                _order(store, f"o-{member}", member, at + timedelta(hours=rng.randrange(1, 100)), amount)
                converted += 1
                revenue += amount
        truth[variant] = {"units": n, "converted": converted, "revenue": revenue}
    record_exposures(store, rows)
    return truth


def empty(store: Store, experiment_id: str, name: str) -> None:
    """A running experiment nobody has met yet."""
    new_experiment(store, parse_experiment(popup(experiment_id, name)), created_by="test", now=T0)
    # stored data for the results, not a start: several seeded ones share one point
    set_experiment_state(store, experiment_id, "running", T0)


def seed_pages(store: Store) -> dict[str, Any]:
    """The experiments the page tests read: a clear A/B test (``popup-copy``, its truth returned),
    a broken split (``broken-split``: SRM flags it) and one nobody has met yet (``nobody-yet``)."""
    truth = seed(
        store,
        "popup-copy",
        "이탈 팝업 문구",
        {"control": 500, "free-shipping": 500},
        {"control": 0.1, "free-shipping": 0.2},
    )
    seed(
        store,
        "broken-split",
        "배정이 깨진 실험",
        {"control": 600, "free-shipping": 400},
        {"control": 0.1, "free-shipping": 0.1},
        seed=8,
    )
    empty(store, "nobody-yet", "아직 아무도 없는 실험")
    return truth


#: the workspace triggers the popup experiments name (starting one refuses a variant naming a
#: trigger the server lacks)
TRIGGERS = """
[[trigger]]
id = "exit-coupon"
name = { ko = "이탈 쿠폰", en = "Exit coupon" }
action = "popup"
placement = "popup"
[trigger.content]
title = { ko = "쿠폰", en = "Coupon" }

[[trigger]]
id = "exit-free-shipping"
name = { ko = "이탈 무료 배송", en = "Exit free shipping" }
action = "popup"
placement = "popup"
enabled = false
[trigger.content]
title = { ko = "무료 배송", en = "Free shipping" }
"""
