"""Generate the synthetic Korean shop and load it into a store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pyarrow as pa

from shopmind.core import IdentifierHasher
from shopmind.demo import DemoConsents, PlantedTruths, generate_consents, generate_shop, simulate_onsite
from shopmind.store import (
    ConsentNotice,
    Store,
    log_decisions,
    log_outcomes,
    record_consent_rows,
    record_notices,
)

CHUNK = 250_000


@dataclass(frozen=True)
class DemoLoadReport:
    events: int
    orders: int
    order_lines: int
    products: int
    weather_days: int
    interests: int
    profiles: int
    duplicates: int
    decisions: int  # simulated on-site decisions of the built-in triggers (newly stored)
    consents: int  # advertising consent ledger entries (newly stored)
    truths: PlantedTruths


def load_demo_shop(
    store: Store,
    *,
    customers: int,
    days: int,
    seed: int,
    start: date | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    hasher: IdentifierHasher | None = None,
) -> DemoLoadReport:
    """Generate a shop from ``seed`` and store it; loading the same seed twice stores it once.
    Give the workspace's ``hasher`` so guests are found by their demo phone number or e-mail."""
    report = progress or (lambda phase, done, total: None)
    shop = generate_shop(
        customers=customers,
        days=days,
        seed=seed,
        start=start,
        progress=lambda d, t: report("generate", d, t),
        hasher=hasher,
    )
    products = store.write_products(shop.products)
    store.write_weather(shop.weather)
    interests = store.write_interests(shop.interests)
    events = shop.events
    inserted = duplicates = 0
    for begin in range(0, max(events.num_rows, 1), CHUNK):
        result = store.write_events(events.slice(begin, CHUNK))
        inserted += result.inserted
        duplicates += result.duplicates
        report("store events", min(begin + CHUNK, events.num_rows), events.num_rows)
    orders, lines = store.write_orders(shop.orders, shop.order_lines)
    consents = _store_consents(store, generate_consents(customers, days, seed, shop.start))
    report("profiles", 0, 1)
    profiles = store.rebuild_profiles()
    report("profiles", 1, 1)
    # the on-site page has data before anyone visits the demo shop's pages
    decisions, outcomes = simulate_onsite(shop.truths, seed)
    logged = log_decisions(store, decisions.to_pylist())
    log_outcomes(store, outcomes.to_pylist())
    return DemoLoadReport(
        events=inserted,
        orders=orders.inserted,
        order_lines=lines.inserted,
        products=products.inserted,
        weather_days=shop.weather.num_rows,
        interests=interests.inserted,
        profiles=profiles,
        duplicates=duplicates + orders.duplicates + lines.duplicates,
        decisions=logged,
        consents=consents,
        truths=shop.truths,
    )


def _store_consents(store: Store, made: DemoConsents) -> int:
    """The demo members' consent ledger and notices; re-loading the same seed stores them once."""
    entries = made.entries.append_column("source", pa.repeat(pa.scalar("demo"), made.entries.num_rows))
    notices = [
        ConsentNotice(
            row["identifier"], row["channel"], row["sent_at"], source="demo", notice_id=row["notice_id"]
        )
        for row in made.notices.to_pylist()
    ]
    record_notices(store, notices)
    return record_consent_rows(store, entries).inserted
