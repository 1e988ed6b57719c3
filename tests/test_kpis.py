"""The overview's KPIs (``insights.kpis``) against a naive Python computation over small synthetic
stores: orders of members and guests on shop-local days (Asia/Seoul, so late-UTC orders land on
the next day), unverified claims and returns that must not count, sessions with and without an
order, and a range compared with the period before it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shopmind import insights
from shopmind.core import InvalidInputError
from shopmind.events import EVENT_SCHEMA, ORDER_LINE_SCHEMA, ORDER_SCHEMA
from shopmind.features import daily_visits
from shopmind.store import Store, write_visit_days

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SEOUL = timedelta(hours=9)
HORIZON_HOURS = 24 * 40


@dataclass(frozen=True)
class Order:
    order_id: str
    at: datetime
    customer: str | None  # "user:…", "email:…" or None (a guest who left no contact)
    value: float
    verified: bool
    is_return: bool


@dataclass(frozen=True)
class Session:
    session_id: str | None  # None: a lone event without a session id
    visitor: str  # anonymous id
    at: datetime
    order_id: str | None  # an order_completed event in the session


def _day(at: datetime) -> date:
    return (at + SEOUL).date()


orders_st = st.lists(
    st.tuples(
        st.sampled_from(["user:m1", "user:m2", "user:m3", "email:e1", "email:e2", None]),
        st.integers(0, HORIZON_HOURS),
        st.integers(1, 9),  # value in thousands of won
        st.integers(0, 9),  # 0: an unverified claim, 1: a return, else a placed order
    ),
    min_size=0,
    max_size=30,
)
sessions_st = st.lists(
    st.tuples(st.sampled_from(["a1", "a2", "a3", "a4"]), st.integers(0, HORIZON_HOURS), st.integers(-1, 29)),
    max_size=30,
)


def _build(raw_orders: list[tuple], raw_sessions: list[tuple]) -> tuple[Store, list[Order], list[Session]]:
    orders = [
        Order(f"o{i}", T0 + timedelta(hours=h), who, v * 1000.0, kind != 0, kind == 1)
        for i, (who, h, v, kind) in enumerate(raw_orders)
    ]
    sessions = [
        Session(
            None if i % 5 == 4 else f"s{i}",
            visitor,
            T0 + timedelta(hours=h),
            orders[k].order_id if 0 <= k < len(orders) else None,
        )
        for i, (visitor, h, k) in enumerate(raw_sessions)
    ]
    store = Store(":memory:")
    headers = [
        {
            "order_id": o.order_id,
            "ordered_at": o.at,
            "customer_id": o.customer.removeprefix("user:")
            if o.customer and o.customer.startswith("user:")
            else None,
            "email_hash": o.customer.removeprefix("email:")
            if o.customer and o.customer.startswith("email:")
            else None,
            "currency": "KRW",
            "is_return": o.is_return,
            "source": "test",
            "verified": o.verified,
        }
        for o in orders
    ]
    lines = [
        {
            "order_id": o.order_id,
            "line_key": f"{o.order_id}:{n}",
            "line_no": n,
            "product_id": "p",
            "quantity": 1,
            "unit_price": o.value / 2,
            "is_return": o.is_return,
            "is_product": True,
        }
        for o in orders
        for n in (1, 2)
    ]
    store.write_orders(
        pa.Table.from_pylist(headers, ORDER_SCHEMA), pa.Table.from_pylist(lines, ORDER_LINE_SCHEMA)
    )
    events = []
    for i, s in enumerate(sessions):
        base = {"anonymous_id": s.visitor, "session_id": s.session_id, "source": "test", "received_at": s.at}
        events.append({**base, "message_id": f"v{i}", "type": "page_view", "event_time": s.at})
        if s.order_id is not None:  # bought half an hour later: possibly the next local day
            later = s.at + timedelta(minutes=30)
            events.append(
                {
                    **base,
                    "message_id": f"b{i}",
                    "type": "order_completed",
                    "event_time": later,
                    "order_id": s.order_id,
                }
            )
    store.write_events(pa.Table.from_pylist(events, EVENT_SCHEMA))
    store.rebuild_profiles()
    as_of = T0 + timedelta(hours=HORIZON_HOURS + 2)
    with store.job_run("customer_intelligence", as_of) as run_id:
        days = daily_visits(store.table("events"), store.table("orders"), store.table("profiles"), as_of)
        write_visit_days(store, run_id, as_of, days.to_pyarrow())
    return store, orders, sessions


def _naive(
    orders: list[Order], sessions: list[Session], start: date, end: date, within: int
) -> dict[str, tuple]:
    """(numerator, denominator) of each KPI, computed the slow, obvious way."""
    placed = [o for o in orders if o.verified and not o.is_return]
    inside = [o for o in placed if start <= _day(o.at) <= end]
    revenue = sum(o.value for o in inside)
    days: dict[str, list[date]] = defaultdict(list)
    for o in placed:
        if o.customer is not None and _day(o.at) not in days[o.customer]:
            days[o.customer].append(_day(o.at))
    for d in days.values():
        d.sort()
    buyers = {o.customer for o in inside if o.customer is not None}
    returning = [c for c in buyers if len([d for d in days[c] if d <= end]) >= 2]
    cohort = [
        c for c, d in days.items() if start - timedelta(days=within) <= d[0] <= end - timedelta(days=within)
    ]
    converted = [c for c in cohort if len(days[c]) >= 2 and days[c][1] <= days[c][0] + timedelta(days=within)]
    placed_ids = {o.order_id for o in placed}
    # (visitor, time, order id) of each event, by session; an event without a session id is a
    # session of its own (so a lone purchase event is a converted session by itself)
    per_session: dict[str, list[tuple[str, datetime, str | None]]] = defaultdict(list)
    for i, s in enumerate(sessions):
        per_session[s.session_id or f"lone{i}"].append((s.visitor, s.at, None))
        if s.order_id is not None:
            key = s.session_id or f"lone-order{i}"
            per_session[key].append((s.visitor, s.at + timedelta(minutes=30), s.order_id))
    n_sessions = n_converted = 0
    visitors: set[tuple[date, str]] = set()
    for group in per_session.values():
        visitor, first, _ = min(group, key=lambda e: e[1])
        if start <= _day(first) <= end:
            n_sessions += 1
            n_converted += any(order in placed_ids for _, _, order in group)
            visitors.add((_day(first), visitor))
    return {
        "repurchase_rate": (len(returning), len(buyers)),
        "second_purchase": (len(converted), len(cohort)),
        "average_order_value": (revenue, len(inside)),
        "visit_conversion": (n_converted, n_sessions),
        "revenue_per_visitor": (revenue, len(visitors)),
    }


def _check(found: insights.KpiReport, expected: dict[str, tuple], previous: dict[str, tuple]) -> None:
    for key, (num, den) in expected.items():
        kpi = found[key]
        assert (kpi.numerator, kpi.denominator) == pytest.approx((num, den)), key
        assert kpi.value == (pytest.approx(num / den) if den else None), key
        pnum, pden = previous[key]
        assert (kpi.previous_numerator, kpi.previous_denominator) == pytest.approx((pnum, pden)), key


# (no shrinking: each example builds a store, and shrinking one took minutes)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(orders_st, sessions_st, st.integers(0, 35), st.integers(1, 20), st.integers(1, 15))
def test_kpis_equal_a_naive_computation(raw_orders, raw_sessions, offset, length, within) -> None:  # type: ignore[no-untyped-def]
    store, orders, sessions = _build(raw_orders, raw_sessions)
    with store:
        start = _day(T0) + timedelta(days=offset)
        end = start + timedelta(days=length - 1)
        found = insights.kpis(store, start, end, within=within)
        assert (found.previous_end, (found.previous_end - found.previous_start).days) == (
            start - timedelta(days=1),
            length - 1,
        )
        _check(
            found,
            _naive(orders, sessions, start, end, within),
            _naive(orders, sessions, found.previous_start, found.previous_end, within),
        )


def test_default_range_is_the_last_30_days_up_to_the_newest_placed_order() -> None:
    raw = [
        ("user:m1", 0, 5, 5),
        ("user:m1", 24 * 20, 5, 5),
        ("user:m2", 24 * 39 + 20, 5, 0),
    ]
    store, orders, _ = _build(raw, [("a1", 3, 0), ("a1", 24 * 20 + 1, -1)])
    with store:
        found = insights.kpis(store)
        newest = _day(orders[1].at)  # the later order is an unverified claim: not the newest
        assert (found.start, found.end) == (newest - timedelta(days=29), newest)
        assert found["repurchase_rate"].value == 1.0  # m1 bought on two days, both in range
        assert found["average_order_value"].value == 5000.0
        assert found["visit_conversion"].value == 0.5
        assert found["average_order_value"].change is None  # nothing in the 30 days before


def test_changes_compare_with_the_period_before() -> None:
    raw = [("user:m1", 2, 2, 5), ("user:m2", 24 * 12, 4, 5), ("user:m3", 24 * 13, 6, 5)]
    store, _, _ = _build(raw, [])
    with store:
        start = _day(T0) + timedelta(days=10)
        found = insights.kpis(store, start, start + timedelta(days=9))
        aov = found["average_order_value"]
        assert (aov.value, aov.previous) == (5000.0, 2000.0)
        assert aov.change == pytest.approx(1.5)  # amounts: relative change
        assert found["repurchase_rate"].change == 0.0  # rates: a difference (here 0 − 0)
        assert found["visit_conversion"].value is None  # no visits counted: no denominator


@pytest.mark.parametrize(
    ("start", "end", "within", "field"),
    [
        (date(2026, 3, 5), date(2026, 3, 1), 30, "start"),
        (date(2000, 1, 1), date(2026, 3, 1), 30, "end"),
        (date(2026, 3, 1), date(2026, 3, 5), 0, "within"),
    ],
)
def test_a_bad_range_names_its_field(start: date, end: date, within: int, field: str) -> None:
    with Store(":memory:") as store, pytest.raises(InvalidInputError) as caught:
        insights.kpis(store, start, end, within=within)
    assert caught.value.field == field


def test_an_empty_store_needs_a_range_or_today() -> None:
    with Store(":memory:") as store:
        with pytest.raises(InvalidInputError):
            insights.kpis(store)
        found = insights.kpis(store, today=date(2026, 3, 31))
        assert found.end == date(2026, 3, 31) and all(k.value is None for k in found.kpis)


def test_every_model_input_has_words_in_both_languages() -> None:
    """The look-alike drivers and CLV inputs the 360 page shows are said in words, not names."""
    from shopmind.features import FEATURES
    from shopmind.web._i18n import MESSAGES

    names = [*FEATURES, "frequency", "recency_weeks", "T_weeks", "monetary_value"]
    missing = [n for n in names if f"feat.{n}" not in MESSAGES]
    assert not missing
    for n in names:
        ko, en = MESSAGES[f"feat.{n}"]
        assert n not in ko and n not in en and not any("a" <= c.lower() <= "z" for c in ko)
