"""The synthetic shop in cohorts, for shops too big to hold in memory (100 million events).

``generate_shop`` draws everyone at once and returns whole Arrow tables: fine for the demo's
million events, not for a hundred million (~375 bytes an event in Arrow, several times that
while drawing). ``stream_shop`` splits the members into cohorts of about ``chunk_events`` events
each and yields one cohort's tables at a time, so the memory needed is that of one cohort
whatever the size of the shop; a consumer writes each chunk out (``shopmind demo --to-lake``)
and drops it.

Every cohort shares the shop's catalogue, weather and campaigns (drawn from ``seed`` exactly as
``generate_shop`` draws them, so they are the same tables) and draws its people, sessions and
events from a random stream of its own (``[seed, COHORT_STREAM, cohort]``): equal arguments give
identical chunks, and a cohort does not depend on how many came before it. Member ids run on
across cohorts (``m000001`` ...); event, session and order ids carry the cohort
(``demo-42c3-17``, ``ORD-42c3-0000005``), so ids never repeat across the shop.

What the streamed shop does not give: the planted truths (they map every member to their
devices, favourites and cycles, which is the memory a streamed shop must not hold), and
guests' contact hashes of :func:`guest_contact` (random strings stand in for them).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.core import FieldError, InvalidInputError
from shopmind.demo._inquiries import add_inquiries
from shopmind.demo._people import People
from shopmind.demo._rain import rain_rng
from shopmind.demo._restock import restock_rng
from shopmind.demo._simulator import (
    EVENTS_PER_CUSTOMER_DAY,
    MAX_DAYS,
    ShopSetting,
    draw_cohort,
    shop_setting,
)

#: Second word of each cohort's seed, so that its stream is none of the whole-shop generator's.
COHORT_STREAM = 0x5354524D  # "STRM"
#: Events a cohort aims at: ~1.5 GB peak while one is drawn (measured: 1.09 M events, 1.45 GB).
DEFAULT_CHUNK_EVENTS = 1_000_000
MAX_STREAM_CUSTOMERS = 100_000_000
MAX_STREAM_EVENTS = 10_000_000_000
MIN_COHORT = 10  # members: below that a cohort has no VIP tier to speak of
#: the sparsest members may be, relative to the demo's rates (a planted VIP keeps a floor of orders,
#: so much sparser shops would have more events than asked for)
MIN_ACTIVITY = 0.05


@dataclass(frozen=True)
class ShopChunk:
    """One cohort's tables, in the layouts of :class:`SyntheticShop`'s tables of the same names:
    members ``m{first_member:06d}`` onwards (``members`` of them) and their share of anonymous
    visitors, guests and job seekers. The events are in time order but for the 문의하기 clicks,
    which come last (sorting them in would copy the whole table)."""

    cohort: int
    first_member: int
    members: int
    events: pa.Table
    orders: pa.Table
    order_lines: pa.Table
    interests: pa.Table

    def summary(self) -> dict[str, int]:
        """Rows per table."""
        return {
            "events": self.events.num_rows,
            "orders": self.orders.num_rows,
            "order_lines": self.order_lines.num_rows,
            "interests": self.interests.num_rows,
        }


@dataclass(frozen=True)
class ShopStream:
    """A shop to be generated cohort by cohort: iterate it for the :class:`ShopChunk` s (each
    iteration draws them afresh, identically). ``products`` and ``weather`` are the shop's whole
    tables (small: ~190 products, a row per region and day)."""

    customers: int
    days: int
    seed: int
    start: date
    cohort_sizes: tuple[int, ...]
    setting: ShopSetting
    activity: float = 1.0  # the members' browsing and buying rates relative to the demo's

    @property
    def products(self) -> pa.Table:
        return self.setting.catalogue.table

    @property
    def weather(self) -> pa.Table:
        return self.setting.weather.table

    @property
    def expected_events(self) -> int:
        """About how many events the shop will have (``EVENTS_PER_CUSTOMER_DAY``)."""
        return round(EVENTS_PER_CUSTOMER_DAY * self.customers * self.days * self.activity)

    def __iter__(self) -> Iterator[ShopChunk]:
        first = 1
        for cohort, members in enumerate(self.cohort_sizes):
            yield _chunk(self.setting, self.seed, cohort, first, members, self.activity)
            first += members


def customers_for_events(events: int, days: int) -> int:
    """Members that give about ``events`` events over ``days`` days (visitors' events included)."""
    return max(1, round(events / (EVENTS_PER_CUSTOMER_DAY * days)))


def stream_shop(
    *,
    days: int,
    seed: int,
    customers: int | None = None,
    events: int | None = None,
    start: date | None = None,
    chunk_events: int = DEFAULT_CHUNK_EVENTS,
) -> ShopStream:
    """A shop of ``customers`` members (or as many as give about ``events`` events) over ``days``
    days from ``start`` (default 2026-01-01), generated in cohorts of about ``chunk_events``
    events. Given both, the members are that many and each comes less often (browsing and
    buying rates scaled by ``activity``, at most the demo's own: a shop of 7 million members
    and 100 million events a year). Pure and lazy: nothing is drawn but the catalogue and
    weather until it is iterated."""
    days, seed, chunk_events = _check(days, seed, chunk_events)
    members, activity = _members(customers, events, days)
    per_cohort = max(MIN_COHORT, round(customers_for_events(chunk_events, days) / activity))
    cohorts = max(1, math.ceil(members / per_cohort))
    edges = np.linspace(0, members, cohorts + 1).round().astype(np.int64)
    setting = shop_setting(np.random.default_rng(seed), start, days)
    return ShopStream(
        customers=members,
        days=days,
        seed=seed,
        start=setting.first_day,
        cohort_sizes=tuple(int(n) for n in np.diff(edges)),
        setting=setting,
        activity=activity,
    )


def _chunk(
    setting: ShopSetting, seed: int, cohort: int, first_member: int, members: int, activity: float
) -> ShopChunk:
    def numbered_members(people: People) -> People:
        numbers = pa.array(np.arange(first_member, first_member + people.members), pa.int64())
        digits = pc.utf8_lpad(pc.cast(numbers, pa.string()), 6, "0")
        return replace(
            people,
            user_ids=pc.binary_join_element_wise("m", digits, ""),
            browse_rate=people.browse_rate * activity,
            order_rate=people.order_rate * activity,
        )

    drawn = draw_cohort(
        setting,
        members,
        np.random.default_rng([seed, COHORT_STREAM, cohort]),
        rain_rng(seed, cohort),
        restock_rng(seed, cohort),
        f"{seed}c{cohort}",
        numbered_members,
        lambda phase: None,
    )
    return ShopChunk(
        cohort=cohort,
        first_member=first_member,
        members=members,
        events=add_inquiries(drawn.events, seed, cohort, in_order=False),
        orders=drawn.orders,
        order_lines=drawn.order_lines,
        interests=drawn.interests,
    )


def _whole(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def _check(days: object, seed: object, chunk_events: object) -> tuple[int, int, int]:
    d, s, c = _whole(days), _whole(seed), _whole(chunk_events)
    errors = []
    if d is None or not 1 <= d <= MAX_DAYS:
        errors.append(FieldError("days", f"must be a whole number from 1 to {MAX_DAYS:,}"))
    if s is None or s < 0:
        errors.append(FieldError("seed", "must be a whole number >= 0"))
    if c is None or c < 1_000:
        errors.append(FieldError("chunk_events", "must be a whole number >= 1,000"))
    if errors or d is None or s is None or c is None:
        raise InvalidInputError(errors)
    return d, s, c


def _members(customers: object, events: object, days: int) -> tuple[int, float]:
    """The members and their activity (1.0: the demo's rates)."""
    if customers is None and events is None:
        raise InvalidInputError([FieldError("events", "give the number of events (or of customers)")])
    c = e = None
    if customers is not None:
        c = _whole(customers)
        if c is None or not 1 <= c <= MAX_STREAM_CUSTOMERS:
            raise InvalidInputError(
                [FieldError("customers", f"must be a whole number from 1 to {MAX_STREAM_CUSTOMERS:,}")]
            )
    if events is not None:
        e = _whole(events)
        if e is None or not 1 <= e <= MAX_STREAM_EVENTS:
            raise InvalidInputError(
                [FieldError("events", f"must be a whole number from 1 to {MAX_STREAM_EVENTS:,}")]
            )
    if c is not None and e is None:
        return c, 1.0
    assert e is not None
    if c is None:
        members = customers_for_events(e, days)
        if members > MAX_STREAM_CUSTOMERS:
            raise InvalidInputError(
                [
                    FieldError(
                        "events",
                        f"needs {members:,} members over {days} days; at most {MAX_STREAM_CUSTOMERS:,}",
                    )
                ]
            )
        return members, 1.0
    full = EVENTS_PER_CUSTOMER_DAY * c * days  # the events at the demo's own rates
    if not MIN_ACTIVITY * full <= e <= full:
        raise InvalidInputError(
            [
                FieldError(
                    "events",
                    f"{c:,} members over {days} days make {MIN_ACTIVITY * full:,.0f} to {full:,.0f} events "
                    "(at most the demo's rates)",
                )
            ]
        )
    return c, e / full


__all__ = [
    "COHORT_STREAM",
    "DEFAULT_CHUNK_EVENTS",
    "ShopChunk",
    "ShopStream",
    "customers_for_events",
    "stream_shop",
]
