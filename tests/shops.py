"""Small synthetic shops for the server's tests, with the facts planted in them as oracles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shopmind.pipeline import (
    load_demo_shop,
    run_churn_risk,
    run_customer_intelligence,
    run_preferences,
    run_purchase_probability,
    run_vip_lookalike,
)
from shopmind.store import Workspace

START = datetime(2026, 1, 1, tzinfo=UTC)  # the synthetic shop's first day


@dataclass(frozen=True)
class Shop:
    folder: Path
    vip: str  # a VIP's member id (no prefix)
    repeat_buyer: str  # a member with orders who is not a VIP
    pairs: tuple[tuple[str, str], ...]  # planted complements: (bought first, bought with it)


def demo_workspace(folder: Path, customers: int = 400, days: int = 60) -> Shop:
    """A workspace with the synthetic shop loaded and its customers understood."""
    ws = Workspace.init(folder)
    with ws.open_store() as store:
        loaded = load_demo_shop(store, customers=customers, days=days, seed=3)
        run_customer_intelligence(store, START + timedelta(days=days))  # as of its last day
        vips = {p for (p,) in store.sql("SELECT profile_id FROM segment_members WHERE segment = 'vip'")}
        buyers = store.sql(
            "SELECT 'user:' || customer_id FROM orders GROUP BY 1 HAVING count(*) >= 2 ORDER BY 1"
        )
    repeat = next(p for (p,) in buyers if p not in vips)
    pairs = tuple((p.antecedent, p.consequent) for p in loaded.truths.complementary_pairs)
    return Shop(folder, sorted(vips)[0].removeprefix("user:"), repeat.removeprefix("user:"), pairs)


def understood_workspace(folder: Path, customers: int = 1500, days: int = 90) -> Path:
    """A workspace with the synthetic shop loaded and every job run as ``shopmind run`` does,
    customer intelligence twice (30 days apart: segment movement), as the dashboard shows it."""
    ws = Workspace.init(folder)
    as_of = START + timedelta(days=days)
    with ws.open_store() as store:
        load_demo_shop(store, customers=customers, days=days, seed=5, hasher=ws.hasher())
        run_customer_intelligence(store, as_of - timedelta(days=30))
        run_customer_intelligence(store, as_of)
        run_churn_risk(store, as_of, horizon_days=21)
        run_purchase_probability(store, as_of, horizon_days=7)
        run_vip_lookalike(store, as_of)
        run_preferences(store, as_of)
    return folder
