"""The preferences job: each profile's taste (categories, brands, price band, interests) and habits
(when and on what they browse and buy; best send hour and channel) as of a date, stored as
profile facts (kinds ``taste`` and ``habits``) for the profile page, the API and campaigns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.features import best_time_and_device, customer_taste
from shopmind.store import Store

JOB = "preferences"


@dataclass(frozen=True)
class PreferencesReport:
    run_id: str
    as_of: datetime
    tastes: int  # profiles with a taste (any product signal or interest)
    habits: int  # profiles with habits (every profile; fallbacks included)
    fallbacks: int  # of which with the segment's or the shop's send time (little history)


def run_preferences(
    store: Store,
    as_of: datetime,
    *,
    zone: str = DEFAULT_SHOP_TZ,
    progress: Callable[[str, int, int], None] | None = None,
) -> PreferencesReport:
    """Compute and store every profile's taste and habits as of ``as_of``. The habits' fallback
    for customers with little history is their RFM segment's peak when a customer-intelligence
    run of the same ``as_of`` exists, else the shop's."""
    report = progress or (lambda phase, done, total: None)
    segments = None
    intelligence = store.run_at("customer_intelligence", as_of)
    if intelligence is not None:
        members = store.table("segment_members")
        segments = members.filter((members.run_id == intelligence) & (members.segment != "clv_vip")).select(
            "profile_id", "segment"
        )
    report("taste", 0, 3)
    taste = customer_taste(
        store.table("events"),
        store.table("orders"),
        store.table("order_lines"),
        store.table("products"),
        store.table("profiles"),
        store.table("external_interests"),
        as_of,
    )
    habits = best_time_and_device(
        store.table("events"), store.table("profiles"), as_of, zone=zone, segments=segments
    )
    # computed by the engine and written as they come: a shop's millions of profiles never sit
    # in this process at once
    with store.job_run(JOB, as_of) as run_id:
        tastes = store.write_profile_facts_of(run_id, as_of, "taste", taste)
        report("habits", 1, 3)
        habit_rows = store.write_profile_facts_of(run_id, as_of, "habits", habits)
        report("store", 2, 3)
    (fallbacks,) = store.sql(
        "SELECT count(*) FILTER (WHERE CAST(json_extract(facts, '$.is_fallback') AS BOOLEAN)) "
        "FROM profile_facts WHERE run_id = ? AND kind = 'habits'",
        [run_id],
    )[0]
    report("store", 3, 3)
    return PreferencesReport(run_id, as_of, tastes, habit_rows, int(fallbacks))
