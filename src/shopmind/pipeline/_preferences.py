"""The preferences job: each profile's taste (categories, brands, price band, interests) and habits
(when and on what they browse and buy; best send hour and channel) as of a date, stored as
profile facts (kinds ``taste`` and ``habits``) for the profile page, the API and campaigns."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.features import best_time_and_device, customer_taste, send_fallbacks
from shopmind.store import Store

JOB = "preferences"
#: profiles per part: a shop with more runs part by part (each part one query per kind of fact),
#: so that a query's per-profile arrays of millions of profiles never have to fit at once
PART_PROFILES = 1_000_000
_FALLBACKS = ibis.schema(
    {"segment": "string", "peak_hour": "int64", "device_type": "string", "channel": "string"}
)


@dataclass(frozen=True)
class PreferencesReport:
    run_id: str
    as_of: datetime
    tastes: int  # profiles with a taste (any product signal or interest)
    habits: int  # profiles with habits (every profile; fallbacks included)
    fallbacks: int  # of which with the segment's or the shop's send time (little history)
    parts: int = 1  # parts the profiles were computed in


def run_preferences(
    store: Store,
    as_of: datetime,
    *,
    zone: str = DEFAULT_SHOP_TZ,
    part_profiles: int = PART_PROFILES,
    progress: Callable[[str, int, int], None] | None = None,
) -> PreferencesReport:
    """Compute and store every profile's taste and habits as of ``as_of``. The habits' fallback
    for customers with little history is their RFM segment's peak when a customer-intelligence
    run of the same ``as_of`` exists, else the shop's.

    A shop with more than ``part_profiles`` profiles is computed in parts of about that many
    (:func:`~shopmind.features.customers_in_part`); the fallback peaks are computed once, from
    every session, so the stored facts are the same as in one part."""
    if not isinstance(part_profiles, int) or isinstance(part_profiles, bool) or part_profiles < 1:
        raise InvalidInputError([FieldError("part_profiles", "must be a whole number of profiles >= 1")])
    report = progress or (lambda phase, done, total: None)
    segments = _segments(store, as_of)
    events, profiles = store.table("events"), store.table("profiles")
    parts = max(1, math.ceil(int(profiles.count().execute()) / part_profiles))
    fallbacks = None
    if parts > 1:
        # a few rows (the shop's and each segment's peak), not recomputed from every session per part
        found = send_fallbacks(events, profiles, as_of, zone=zone, segments=segments).to_pyarrow()
        fallbacks = store.small_table("send_fallbacks", found.cast(_FALLBACKS.to_pyarrow()))
    steps = 2 * parts + 1
    tastes = habit_rows = 0
    # computed by the engine and written as they come: a shop's millions of profiles never sit
    # in this process at once
    with store.job_run(JOB, as_of) as run_id:
        for part in range(parts):
            report("taste", part, steps)
            tastes += store.write_profile_facts_of(
                run_id, as_of, "taste", _taste(store, as_of, (part, parts))
            )
        for part in range(parts):
            report("habits", parts + part, steps)
            habits = best_time_and_device(
                events, profiles, as_of, zone=zone, segments=segments, part=(part, parts), fallbacks=fallbacks
            )
            habit_rows += store.write_profile_facts_of(run_id, as_of, "habits", habits)
        report("store", steps - 1, steps)
    (fallback_rows,) = store.sql(
        "SELECT count(*) FILTER (WHERE CAST(json_extract(facts, '$.is_fallback') AS BOOLEAN)) "
        "FROM profile_facts WHERE run_id = ? AND kind = 'habits'",
        [run_id],
    )[0]
    report("store", steps, steps)
    return PreferencesReport(run_id, as_of, tastes, habit_rows, int(fallback_rows), parts)


def _segments(store: Store, as_of: datetime) -> ir.Table | None:
    """The RFM segments of the customer-intelligence run of ``as_of`` (none without one)."""
    intelligence = store.run_at("customer_intelligence", as_of)
    if intelligence is None:
        return None
    members = store.table("segment_members")
    return members.filter((members.run_id == intelligence) & (members.segment != "clv_vip")).select(
        "profile_id", "segment"
    )


def _taste(store: Store, as_of: datetime, part: tuple[int, int]) -> ir.Table:
    return customer_taste(
        store.table("events"),
        store.table("orders"),
        store.table("order_lines"),
        store.table("products"),
        store.table("profiles"),
        store.table("external_interests"),
        as_of,
        part=part,
    )
