"""A campaign's results: the intervals against published and hand-computed numbers, the sufficient
statistics the engine sums against the same sums over the rows in Python, the attribution window's
edges, message events stored once, and a simulated campaign with a planted effect that its
interval covers."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as stats_t

from shopmind.activation import (
    Arm,
    campaign_results,
    proportion_difference,
    uplift,
    welch_difference,
    wilson_interval,
)
from shopmind.core import FixedClock, InvalidInputError
from shopmind.store import (
    MessageEvent,
    Store,
    arm_totals,
    record_conversions,
    record_message_events,
)
from tests.campaign_rows import Row, add_members, add_orders, add_outbox, define_campaign

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
DAY = timedelta(days=1)


# --- the intervals -------------------------------------------------------------------------------

# Newcombe (1998), "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17, Table II: method 1 (Wald) and
# method 10 (hybrid score, from Wilson intervals), 95 %.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0575, 0.3425), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.2605, 0.9395), (0.1705, 0.8090)),
    ((5, 56, 0, 29), (0.0146, 0.1640), (-0.0381, 0.1926)),
]


@pytest.mark.parametrize(("counts", "wald", "newcombe"), NEWCOMBE_TABLE_II)
def test_difference_of_proportions_matches_newcombes_published_table(
    counts: tuple[int, int, int, int], wald: tuple[float, float], newcombe: tuple[float, float]
) -> None:
    x1, n1, x2, n2 = counts
    hybrid = proportion_difference(x1, n1, x2, n2)
    textbook = proportion_difference(x1, n1, x2, n2, method="wald")
    assert hybrid.estimate == pytest.approx(x1 / n1 - x2 / n2)
    assert (round(hybrid.low, 4), round(hybrid.high, 4)) == newcombe
    assert (round(textbook.low, 4), round(textbook.high, 4)) == wald


def test_wilson_interval_by_hand() -> None:
    # 81 of 263 (Newcombe's 1998 single-proportion paper, example): 0.2553 to 0.3662
    found = wilson_interval(81, 263)
    assert (round(found.low, 4), round(found.high, 4)) == (0.2553, 0.3662)
    assert wilson_interval(0, 10).low == 0.0 and wilson_interval(10, 10).high == 1.0


def _student_t_quantile(p: float, df: float) -> float:
    """The Student t quantile by integrating its density (Simpson's rule) and bisection: a hand
    computation that shares nothing with the code under test."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(x: float) -> float:  # for x >= 0: 1/2 + the integral from 0 to x
        steps = 4000
        h = x / steps
        total = 0.0
        for i in range(steps + 1):
            weight = 1 if i in (0, steps) else (4 if i % 2 else 2)
            total += weight * math.exp(log_c - (df + 1) / 2 * math.log1p((i * h) ** 2 / df))
        return 0.5 + total * h / 3

    low, high = 0.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if cdf(mid) < p else (low, mid)
    return (low + high) / 2


def test_welch_interval_from_sums_matches_a_hand_computation_on_the_raw_values() -> None:
    # Welch's test example (Wikipedia, "Welch's t-test", A1 and A2): t = -2.46, df = 25.0
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    found = welch_difference(
        len(a1), sum(a1), sum(x * x for x in a1), len(a2), sum(a2), sum(x * x for x in a2)
    )
    m1, m2 = sum(a1) / len(a1), sum(a2) / len(a2)
    v1 = sum((x - m1) ** 2 for x in a1) / (len(a1) - 1)
    v2 = sum((x - m2) ** 2 for x in a2) / (len(a2) - 1)
    se = math.sqrt(v1 / len(a1) + v2 / len(a2))
    df = se**4 / ((v1 / len(a1)) ** 2 / (len(a1) - 1) + (v2 / len(a2)) ** 2 / (len(a2) - 1))
    assert round((m1 - m2) / se, 2) == -2.46 and round(df, 1) == 25.0
    t = _student_t_quantile(0.975, df)
    assert t == pytest.approx(2.0595, abs=1e-3)  # tables: t(0.975, 25) = 2.060
    assert found.estimate == pytest.approx(m1 - m2)
    assert found.df == pytest.approx(df, rel=1e-9)
    assert found.low == pytest.approx(m1 - m2 - t * se, abs=1e-6)
    assert found.high == pytest.approx(m1 - m2 + t * se, abs=1e-6)
    assert found.high < 0  # p = 0.021: the interval leaves out 0


@settings(max_examples=300, deadline=None)
@given(
    n1=st.integers(1, 5000),
    n2=st.integers(1, 5000),
    share1=st.floats(0, 1),
    share2=st.floats(0, 1),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_the_difference_interval_holds_its_estimate_and_stays_in_range(
    n1: int, n2: int, share1: float, share2: float, confidence: float
) -> None:
    x1, x2 = round(share1 * n1), round(share2 * n2)
    found = proportion_difference(x1, n1, x2, n2, confidence)
    assert -1.0 - 1e-12 <= found.low <= found.estimate <= found.high <= 1.0 + 1e-12
    wider = proportion_difference(x1, n1, x2, n2, 0.999)
    assert wider.low <= found.low + 1e-12 and found.high <= wider.high + 1e-12


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=60),
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=60),
)
def test_welch_from_sums_equals_welch_from_the_values(a: list[float], b: list[float]) -> None:
    x, y = np.array(a), np.array(b)
    found = welch_difference(len(a), x.sum(), (x * x).sum(), len(b), y.sum(), (y * y).sum())
    assert found.estimate == pytest.approx(x.mean() - y.mean(), abs=1e-6)
    se = math.sqrt(x.var(ddof=1) / len(a) + y.var(ddof=1) / len(b))
    if se > 1e-3:  # the sums lose digits the values keep only when the spread is a rounding error
        assert (found.high - found.low) / 2 == pytest.approx(
            float(stats_t.ppf(0.975, found.df)) * se, rel=1e-4
        )
    assert found.low <= found.estimate <= found.high


def test_welch_interval_edges() -> None:
    same = welch_difference(3, 6.0, 12.0, 4, 8.0, 16.0)  # every value 2: no spread
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="two values"):
        welch_difference(1, 1.0, 1.0, 5, 5.0, 5.0)


def test_intervals_cover_the_true_effect_about_95_times_in_100() -> None:
    rng = np.random.default_rng(19)
    rate_t, rate_h, n = 0.12, 0.07, 1500
    covered_rate = covered_revenue = 0
    runs = 400
    for _ in range(runs):
        bought_t, bought_h = rng.random(n) < rate_t, rng.random(n) < rate_h
        spend_t = np.where(bought_t, rng.gamma(2.0, 15_000.0, n), 0.0)
        spend_h = np.where(bought_h, rng.gamma(2.0, 15_000.0, n), 0.0)
        found = uplift(
            Arm(n, int(bought_t.sum()), float(spend_t.sum()), float((spend_t**2).sum())),
            Arm(n, int(bought_h.sum()), float(spend_h.sum()), float((spend_h**2).sum())),
            messaged=n,
            cost=0.0,
        )
        assert found.conversion is not None and found.revenue_per_customer is not None
        covered_rate += found.conversion.covers(rate_t - rate_h)
        covered_revenue += found.revenue_per_customer.covers((rate_t - rate_h) * 30_000.0)
    # 95 % nominal; with 400 runs a correct interval lands within 0.92-0.98 nearly always
    assert 0.92 <= covered_rate / runs <= 0.98
    assert 0.92 <= covered_revenue / runs <= 0.98


# --- the store's side: events, windows, sufficient statistics --------------------------------------


@pytest.fixture
def store() -> Store:
    return Store(":memory:", clock=FixedClock(T0 + 30 * DAY))


def test_message_events_are_stored_once_and_tied_to_their_message(store: Store) -> None:
    define_campaign(store, "c1", at=T0)
    add_outbox(
        store,
        "c1",
        [Row("c1:user:a:s1", "user:a", T0, provider_id="gw-1"), Row("c1:user:b:s1", "user:b", T0)],
        T0,
    )
    events = [
        MessageEvent("opened", T0 + DAY, message_key="c1:user:a:s1"),
        MessageEvent("opened", T0 + 2 * DAY, message_key="c1:user:a:s1"),  # the pixel again: once
        MessageEvent("delivered", T0, provider_id="gw-1", event_id="gw-cb-1"),
        MessageEvent("clicked", T0 + DAY, message_key="nobody"),  # no such message
        MessageEvent("clicked", T0 + DAY, message_key="c1:user:b:s1", detail={"link": 0}),
        MessageEvent("clicked", T0 + DAY, message_key="c1:user:b:s1", detail={"link": 1}),
    ]
    first = record_message_events(store, events)
    assert (first.inserted, first.duplicates, first.unknown) == (4, 1, (3,))
    again = record_message_events(store, events)
    assert (again.inserted, again.duplicates, again.unknown) == (0, 5, (3,))
    rows = store.sql(
        "SELECT event_id, message_key, campaign_id, step, profile_id, kind FROM message_events ORDER BY event_id"
    )
    assert rows == [
        ("clicked:c1:user:b:s1:0", "c1:user:b:s1", "c1", "s1", "user:b", "clicked"),
        ("clicked:c1:user:b:s1:1", "c1:user:b:s1", "c1", "s1", "user:b", "clicked"),
        ("gw-cb-1", "c1:user:a:s1", "c1", "s1", "user:a", "delivered"),
        ("opened:c1:user:a:s1", "c1:user:a:s1", "c1", "s1", "user:a", "opened"),
    ]
    with pytest.raises(InvalidInputError) as bad:
        record_message_events(store, [MessageEvent("bounced", T0, message_key="c1:user:a:s1")])
    assert bad.value.errors[0].field == "events.0.kind"
    with pytest.raises(InvalidInputError) as bad:
        record_message_events(store, [MessageEvent("opened", T0)])
    assert bad.value.errors[0].field == "events.0.message_key"


def test_the_attribution_window_and_which_orders_count(store: Store) -> None:
    define_campaign(store, "c1", at=T0, attribution_days=7)
    add_members(
        store,
        "c1",
        [
            ("user:a", "treated", T0 - DAY),
            ("user:b", "treated", T0 - DAY),
            ("user:c", "treated", T0 - DAY),  # not messaged: window from entry
            ("user:h", "holdout", T0 - DAY),
            ("user:i", "holdout", T0 - DAY),
        ],
    )
    add_outbox(
        store,
        "c1",
        [
            Row("c1:a:s1", "user:a", T0, cost=9.9),
            Row("c1:b:s1", "user:b", T0 + 2 * DAY, cost=9.9),
            Row("c1:c:s1", "user:c", None, state="suppressed", cost=9.9),
        ],
        T0,
    )
    add_orders(
        store,
        [
            ("o1", "a", T0 - timedelta(minutes=1), 1000.0),  # before the message: not attributed
            ("o2", "a", T0 + 3 * DAY, 20_000.0),
            ("o3", "a", T0 + 6 * DAY, 5_000.0),  # a second order in the window: same conversion
            ("o4", "b", T0 + 9 * DAY - timedelta(seconds=1), 7_000.0),  # 7 days after b's message, just
            ("o5", "b", T0 + 9 * DAY, 8_000.0),  # ... and at the window's end: out
            ("o6", "c", T0 + DAY, 3_000.0),  # c's window started at entry
            ("o7", "h", T0 - DAY + 6 * DAY, 4_000.0),  # holdout: from entry
            ("o8", "i", T0 + 6 * DAY + timedelta(seconds=1), 9_000.0),  # past entry + 7 days
            ("o9", "zz", T0 + DAY, 50_000.0),  # not a member
        ],
    )
    add_orders(store, [("r1", "h", T0, 10_000.0)], is_return=True)
    add_orders(store, [("u1", "i", T0, 10_000.0)], verified=False)  # a browser's claim
    arms = arm_totals(store, "c1", 7, T0 + 30 * DAY)
    assert arms["treated"].n == 3 and arms["treated"].conversions == 3
    assert arms["treated"].revenue == 25_000.0 + 7_000.0 + 3_000.0
    assert arms["treated"].revenue_squares == 25_000.0**2 + 7_000.0**2 + 3_000.0**2
    assert (arms["holdout"].n, arms["holdout"].conversions, arms["holdout"].revenue) == (2, 1, 4_000.0)
    # as of an earlier moment, later orders do not exist yet
    assert arm_totals(store, "c1", 7, T0 + 2 * DAY)["treated"].conversions == 1

    results = campaign_results(store, "c1", as_of=T0 + 30 * DAY)
    (step,) = results.steps
    assert (step.planned, step.sent, step.suppressed) == (3, 2, 1)
    assert (step.converted, step.revenue, step.cost) == (2, 32_000.0, 19.8)
    assert results.uplift.messaged == 2 and results.uplift.cost == 19.8
    assert results.uplift.treated.conversion_rate == 1.0 and results.uplift.holdout.conversion_rate == 0.5
    earlier = campaign_results(store, "c1", as_of=T0 + DAY)  # b's message had not gone yet
    assert (earlier.steps[0].sent, earlier.steps[0].cost, earlier.uplift.messaged) == (1, 9.9, 1)

    assert record_conversions(store, "c1", 7, T0 + 30 * DAY) == 3  # o2, o3 on a's message; o4 on b's
    assert record_conversions(store, "c1", 7, T0 + 30 * DAY) == 0
    converted = store.sql(
        "SELECT message_key, json_extract_string(detail, '$.order_id') FROM message_events "
        "WHERE kind = 'converted' ORDER BY 2"
    )
    assert converted == [("c1:a:s1", "o2"), ("c1:a:s1", "o3"), ("c1:b:s1", "o4")]


def test_holdout_window_starts_at_the_campaigns_start_when_later_than_entry(store: Store) -> None:
    define_campaign(store, "c1", at=T0, start_at=T0 + 5 * DAY)
    add_members(store, "c1", [("user:h", "holdout", T0), ("user:i", "holdout", T0)])
    add_orders(store, [("o1", "h", T0 + DAY, 1.0), ("o2", "i", T0 + 6 * DAY, 1.0)])
    results = campaign_results(store, "c1", as_of=T0 + 30 * DAY)
    assert results.uplift.holdout.conversions == 1  # o2 only: o1 came before the campaign began
    assert results.uplift.conversion is None  # no treated members: nothing to compare


def test_the_engines_sums_equal_pythons_over_the_same_rows(store: Store) -> None:
    rng = random.Random(7)
    define_campaign(store, "c1", at=T0, attribution_days=3)
    members, outbox, orders = [], [], []
    oracle: dict[str, list[float]] = {"treated": [], "holdout": []}
    for i in range(600):
        pid, arm = f"user:m{i}", ("holdout" if rng.random() < 0.2 else "treated")
        entered = T0 + timedelta(hours=rng.randrange(0, 48))
        members.append((pid, arm, entered))
        since = entered
        if arm == "treated" and rng.random() < 0.8:
            since = entered + timedelta(hours=rng.randrange(0, 12))
            outbox.append(Row(f"c1:m{i}:s1", pid, since))
        spent = 0.0
        for j in range(rng.randrange(0, 4)):
            at = since + timedelta(hours=rng.uniform(-48, 120))
            amount = float(rng.randrange(1, 100) * 1000)
            orders.append((f"o{i}-{j}", f"m{i}", at, amount))
            if since <= at < since + 3 * DAY:
                spent += amount
        oracle[arm].append(spent)
    add_members(store, "c1", members)
    add_outbox(store, "c1", outbox, T0)
    add_orders(store, orders)
    arms = arm_totals(store, "c1", 3, T0 + 60 * DAY)
    for arm, spends in oracle.items():
        assert arms[arm].n == len(spends)
        assert arms[arm].conversions == sum(1 for s in spends if s > 0)
        assert arms[arm].revenue == pytest.approx(sum(spends))
        assert arms[arm].revenue_squares == pytest.approx(sum(s * s for s in spends))


def test_a_simulated_campaign_measures_its_planted_effect(store: Store) -> None:
    """Holdout buys at 5 %, a message lifts that by 8 percentage points; spend per order is a
    gamma with mean 30,000 KRW. The uplift intervals cover the planted 0.08 and 2,400 KRW per
    customer, and the holdout's rate covers the 5 % baseline."""
    rng = np.random.default_rng(2026)
    define_campaign(store, "win-back", at=T0, attribution_days=7)
    n = 20_000
    holdout = rng.random(n) < 0.1
    bought = rng.random(n) < np.where(holdout, 0.05, 0.13)
    spend = rng.gamma(2.0, 15_000.0, n).round()
    members = [(f"user:m{i}", "holdout" if holdout[i] else "treated", T0) for i in range(n)]
    outbox = [
        Row(f"wb:m{i}:s1", f"user:m{i}", T0 + timedelta(hours=2), cost=9.9)
        for i in range(n)
        if not holdout[i]
    ]
    orders = [(f"o{i}", f"m{i}", T0 + timedelta(days=3), float(spend[i])) for i in range(n) if bought[i]]
    add_members(store, "win-back", members)
    add_outbox(store, "win-back", outbox, T0)
    add_orders(store, orders)
    found = campaign_results(store, "win-back", as_of=T0 + 10 * DAY).uplift
    assert found.conversion is not None and found.revenue_per_customer is not None
    assert found.conversion.covers(0.08), found.conversion
    assert found.conversion.low > 0.05  # and it is narrow enough to tell
    assert found.revenue_per_customer.covers(0.08 * 30_000.0), found.revenue_per_customer
    assert wilson_interval(found.holdout.conversions, found.holdout.n).covers(0.05)
    assert found.treated.n + found.holdout.n == n and found.messaged == found.treated.n
    assert found.cost == pytest.approx(9.9 * found.treated.n)
    assert found.incremental_conversions is not None and found.incremental_revenue is not None
    assert found.incremental_conversions.estimate == pytest.approx(
        found.conversion.estimate * found.treated.n
    )
    assert found.net_revenue is not None
    assert found.net_revenue.estimate == pytest.approx(found.incremental_revenue.estimate - found.cost)
    assert found.net_revenue.covers(0.08 * 30_000.0 * found.treated.n - found.cost)
    as_dict = found.to_dict()
    assert as_dict["conversion_rate_difference"]["low"] == found.conversion.low


def test_results_of_an_unknown_campaign_name_the_field(store: Store) -> None:
    with pytest.raises(InvalidInputError) as bad:
        campaign_results(store, "nope", as_of=T0)
    assert bad.value.errors[0].field == "campaign_id"
