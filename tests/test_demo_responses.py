"""The demo shop answers campaign messages with the planted effects: dormant former VIPs buy
8 percentage points more often after a coupon message, active VIPs no more than without one,
evening readers open more at their own hour than at 10:00, and the holdout buys at the no-message
rate. Rates are checked against their 95 % sampling intervals over seeded draws."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from shopmind.activation import CHANNELS as ACTIVATION_CHANNELS
from shopmind.core import InvalidInputError
from shopmind.demo import (
    EVENING_READER_HOURS,
    MESSAGE_EVENT_SCHEMA,
    MESSAGE_RESPONSES,
    RESPONSE_DAYS,
    Product,
    Recipients,
    SentMessage,
    generate_shop,
    shop_recipients,
    simulate_responses,
)
from shopmind.demo._responses import CHANNELS
from shopmind.events import ORDER_LINE_SCHEMA, ORDER_SCHEMA
from shopmind.store import Store

KST = timedelta(hours=9)
AT_10 = datetime(2026, 7, 1, 10, 0, tzinfo=UTC) - KST  # 10:00 KST
AT_21 = datetime(2026, 7, 1, 21, 0, tzinfo=UTC) - KST  # 21:00 KST: the evening readers' hour
Z = 1.959964


def roster(counts: dict[str, int]) -> Recipients:
    groups = {f"user:{g}{i:06d}": g for g, n in counts.items() for i in range(n)}
    return Recipients(
        groups=groups,
        products=(Product("p1", "양말", "패션잡화", 9_900.0), Product("p2", "텀블러", "주방", 19_000.0)),
        own_hours={p: EVENING_READER_HOURS for p, g in groups.items() if g == "evening_reader"},
        favourites={p: "주방" for p in groups},
    )


def campaign(
    people: Recipients,
    group: str,
    *,
    at: datetime = AT_10,
    coupon: bool = True,
    channel: str = "email",
    cid: str = "c1",
) -> list[SentMessage]:
    """Every member of ``group``; every tenth (by position) in the holdout."""
    members = sorted(p for p, g in people.groups.items() if g == group)
    return [
        SentMessage(cid, "s1", p, "holdout" if i % 10 == 0 else "treated", at, channel, coupon)
        for i, p in enumerate(members)
    ]


def buy_rates(messages: list[SentMessage], orders: pa.Table) -> dict[str, tuple[int, int]]:
    """arm → (members who ordered within RESPONSE_DAYS of their send moment, members)."""
    bought: dict[str, list[datetime]] = {}
    for customer, at in zip(
        orders.column("customer_id").to_pylist(), orders.column("ordered_at").to_pylist(), strict=True
    ):
        bought.setdefault(f"user:{customer}", []).append(at)
    out: dict[str, tuple[int, int]] = {}
    for arm in ("treated", "holdout"):
        rows = [m for m in messages if m.arm == arm]
        hits = sum(
            any(m.at <= t < m.at + timedelta(days=RESPONSE_DAYS) for t in bought.get(m.profile_id, []))
            for m in rows
        )
        out[arm] = (hits, len(rows))
    return out


def difference(rates: dict[str, tuple[int, int]]) -> tuple[float, float, float]:
    """Treated minus holdout purchase rate with its 95 % Wald interval."""
    (a, n), (b, m) = rates["treated"], rates["holdout"]
    p, q = a / n, b / m
    se = math.sqrt(p * (1 - p) / n + q * (1 - q) / m)
    return p - q, p - q - Z * se, p - q + Z * se


def interval(hits: int, n: int) -> tuple[float, float]:
    p = hits / n
    se = math.sqrt(max(p * (1 - p), 1e-12) / n)
    return p - Z * se, p + Z * se


def test_channels_are_the_activation_channels() -> None:
    assert set(CHANNELS) == set(ACTIVATION_CHANNELS)


def test_dormant_vips_buy_8_points_more_after_a_coupon_over_seeded_draws() -> None:
    people = roster({"dormant_vip": 4_000})
    messages = campaign(people, "dormant_vip")
    planted = MESSAGE_RESPONSES["dormant_vip"].coupon_uplift
    assert planted == pytest.approx(0.08)
    covered, estimates = 0, []
    for seed in range(20):
        diff, low, high = difference(buy_rates(messages, simulate_responses(messages, people, seed).orders))
        covered += low <= planted <= high
        estimates.append(diff)
        assert low > 0.0 or seed > 0  # (one draw alone already sees an effect)
    assert covered >= 17  # a 95 % interval: about 19 of 20
    mean = sum(estimates) / len(estimates)
    spread = math.sqrt(sum((e - mean) ** 2 for e in estimates) / (len(estimates) - 1) / len(estimates))
    assert abs(mean - planted) < 3 * spread + 1e-9


def test_a_big_draw_pins_the_dormant_uplift_and_the_holdout_rate() -> None:
    people = roster({"dormant_vip": 40_000})
    messages = campaign(people, "dormant_vip")
    rates = buy_rates(messages, simulate_responses(messages, people, 7).orders)
    diff, low, high = difference(rates)
    assert low <= 0.08 <= high and low > 0.05, (diff, low, high)
    lo, hi = interval(*rates["holdout"])
    assert lo <= MESSAGE_RESPONSES["dormant_vip"].no_message <= hi
    # a message without a coupon wins fewer over: its own planted uplift
    plain = campaign(people, "dormant_vip", coupon=False)
    diff, low, high = difference(buy_rates(plain, simulate_responses(plain, people, 7).orders))
    assert low <= MESSAGE_RESPONSES["dormant_vip"].message_uplift <= high and high < 0.05


@pytest.mark.parametrize("group", ["active_vip", "buyer", "non_buyer", "evening_reader"])
def test_other_groups_buy_as_planted_and_the_holdout_at_the_no_message_rate(group: str) -> None:
    people = roster({group: 30_000})
    messages = campaign(people, group)
    rates = buy_rates(messages, simulate_responses(messages, people, 3).orders)
    answer = MESSAGE_RESPONSES[group]
    diff, low, high = difference(rates)
    assert low <= answer.coupon_uplift <= high, (group, diff, low, high)
    if group == "active_vip":
        assert answer.coupon_uplift == 0.0 and answer.no_message == pytest.approx(0.5)
    lo, hi = interval(*rates["holdout"])
    assert lo <= answer.no_message <= hi
    lo, hi = interval(*rates["treated"])
    assert lo <= answer.no_message + answer.coupon_uplift <= hi


def opens(messages: list[SentMessage], events: pa.Table) -> tuple[int, int]:
    opened = {
        k
        for k, kind in zip(
            events.column("message_key").to_pylist(), events.column("kind").to_pylist(), strict=True
        )
        if kind == "opened"
    }
    treated = [m for m in messages if m.arm == "treated"]
    return sum(m.key in opened for m in treated), len(treated)


def test_evening_readers_open_more_at_their_hour_than_at_ten() -> None:
    people = roster({"evening_reader": 10_000, "buyer": 10_000})
    answer = MESSAGE_RESPONSES["evening_reader"]
    for seed in range(2):
        rates = {}
        for group in ("evening_reader", "buyer"):
            for name, at in (("best", AT_21), ("ten", AT_10)):
                sent = campaign(people, group, at=at, coupon=False, cid=f"{group}-{name}")
                rates[group, name] = opens(sent, simulate_responses(sent, people, seed).message_events)
        best_lo, best_hi = interval(*rates["evening_reader", "best"])
        ten_lo, ten_hi = interval(*rates["evening_reader", "ten"])
        assert best_lo <= answer.read_own_hour <= best_hi
        assert ten_lo <= answer.read <= ten_hi
        assert best_lo > ten_hi  # planted: their own hour beats a fixed 10:00 send
        # nobody else minds the hour
        buyer = MESSAGE_RESPONSES["buyer"].read
        for name in ("best", "ten"):
            lo, hi = interval(*rates["buyer", name])
            assert lo <= buyer <= hi


def test_texts_show_clicks_but_no_opens_and_clicks_follow_opens() -> None:
    people = roster({"active_vip": 3_000})
    sms = campaign(people, "active_vip", channel="sms")
    events = simulate_responses(sms, people, 1).message_events
    kinds = events.column("kind").to_pylist()
    assert "opened" not in kinds and kinds.count("clicked") > 100
    email = campaign(people, "active_vip")
    rows = simulate_responses(email, people, 1).message_events.to_pylist()
    opened = {r["message_key"]: r["occurred_at"] for r in rows if r["kind"] == "opened"}
    sent = {m.key: m.at for m in email}
    clicks = [r for r in rows if r["kind"] == "clicked"]
    assert clicks and all(
        r["message_key"] in opened and r["occurred_at"] > opened[r["message_key"]] for r in clicks
    )
    assert all(t >= sent[k] for k, t in opened.items())
    assert len({r["event_id"] for r in rows}) == len(rows)
    holdout = {m.key for m in email if m.arm == "holdout"}
    assert not holdout & {r["message_key"] for r in rows}  # the holdout got nothing to open


def test_the_same_seed_gives_the_same_answers_and_a_member_answers_alone() -> None:
    people = roster({"dormant_vip": 2_000, "buyer": 2_000})
    messages = campaign(people, "dormant_vip") + campaign(people, "buyer")
    first = simulate_responses(messages, people, 5)
    again = simulate_responses(list(reversed(messages)), people, 5)
    assert first.orders.equals(again.orders) and first.order_lines.equals(again.order_lines)
    assert first.message_events.sort_by("event_id").equals(again.message_events.sort_by("event_id"))
    other = simulate_responses(messages, people, 6)
    assert not first.orders.equals(other.orders)
    # the dormant VIPs answer the same whether or not the buyers were sent anything
    alone = simulate_responses(campaign(people, "dormant_vip"), people, 5)
    dormant = {
        o
        for o, c in zip(
            first.orders.column("order_id").to_pylist(),
            first.orders.column("customer_id").to_pylist(),
            strict=True,
        )
        if c.startswith("dormant")
    }
    assert dormant == set(alone.orders.column("order_id").to_pylist())


def test_orders_are_the_stores_shape_within_the_window_and_load_into_a_store(store: Store) -> None:
    shop = generate_shop(customers=3_000, days=60, seed=4)
    people = shop_recipients(shop)
    truths = shop.truths
    groups = people.groups
    assert {p for p, g in groups.items() if g == "dormant_vip"} == {
        f"user:{u}" for u in truths.churned_vip_user_ids
    }
    assert {p for p, g in groups.items() if g == "active_vip"} == {
        f"user:{u}" for u in truths.active_vip_user_ids
    }
    assert {p for p, g in groups.items() if g == "evening_reader"} == {
        f"user:{u}" for u in truths.evening_reader_user_ids
    }
    buyers = {f"user:{c}" for c in shop.orders.column("customer_id").to_pylist() if c}
    assert all(p in buyers for p, g in groups.items() if g == "buyer")
    assert not any(p in buyers for p, g in groups.items() if g == "non_buyer")
    assert truths.message_responses is MESSAGE_RESPONSES

    start = datetime.combine(truths.end, datetime.min.time(), UTC) - KST + timedelta(hours=10)
    messages = [
        SentMessage("winback", "s1", p, "holdout" if i % 10 == 0 else "treated", start, "email", True)
        for i, p in enumerate(sorted(groups))
    ]
    answers = simulate_responses(messages, people, 4)
    assert answers.orders.schema == ORDER_SCHEMA and answers.order_lines.schema == ORDER_LINE_SCHEMA
    assert answers.message_events.schema == MESSAGE_EVENT_SCHEMA
    assert answers.orders.num_rows > 100
    moments = answers.orders.column("ordered_at").to_pylist()
    assert all(start <= t < start + timedelta(days=RESPONSE_DAYS) for t in moments)
    products = dict(
        zip(
            shop.products.column("product_id").to_pylist(),
            shop.products.column("price").to_pylist(),
            strict=True,
        )
    )
    lines = answers.order_lines.to_pylist()
    assert all(products[r["product_id"]] == r["unit_price"] and r["quantity"] >= 1 for r in lines)
    assert {r["order_id"] for r in lines} == set(answers.orders.column("order_id").to_pylist())
    last = {}  # a member's orders come from where their last order came from
    for customer, region, channel, device in zip(
        *(shop.orders.column(c).to_pylist() for c in ("customer_id", "region", "channel", "device_type")),
        strict=True,
    ):
        if customer:
            last[customer] = (region, channel, device)
    heads = answers.orders.to_pylist()
    assert all(
        (r["region"], r["channel"], r["device_type"]) == last.get(r["customer_id"], (None, "web", "mobile"))
        for r in heads
    )
    store.write_orders(answers.orders, answers.order_lines)
    assert store.query_arrow("SELECT count(*) AS n FROM orders").column("n").to_pylist() == [
        answers.orders.num_rows
    ]
    store.write_orders(answers.orders, answers.order_lines)  # loading twice stores them once
    assert store.query_arrow("SELECT count(*) AS n FROM order_lines").column("n").to_pylist() == [len(lines)]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (SentMessage("c", "s1", "user:nobody", "treated", AT_10, "email"), "messages[0].profile_id"),
        (SentMessage("c", "s1", "user:buyer000000", "control", AT_10, "email"), "messages[0].arm"),
        (SentMessage("c", "s1", "user:buyer000000", "treated", AT_10, "fax"), "messages[0].channel"),
        (
            SentMessage("c", "s1", "user:buyer000000", "treated", AT_10.replace(tzinfo=None), "email"),
            "messages[0].at",
        ),
    ],
)
def test_bad_messages_are_refused_naming_the_field(message: SentMessage, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        simulate_responses([message], roster({"buyer": 1}), 0)
    assert [e.field for e in caught.value.errors] == [field]


def test_on_the_demo_shop_sending_at_the_habits_best_hour_beats_ten_oclock_for_evening_readers() -> None:
    """End to end below the planner: the shop's events → habits' best send hour and channel →
    the simulated opens. Evening readers' habits put most of them at 21-22h on e-mail."""
    from shopmind.features import best_time_and_device
    from shopmind.pipeline import load_demo_shop

    with Store(":memory:") as store:
        shop = load_demo_shop(store, customers=3_000, days=90, seed=7)
        end = datetime.combine(shop.truths.end, datetime.min.time(), UTC) - KST
        habits = best_time_and_device(store.table("events"), store.table("profiles"), end).to_pandas()
        people = shop_recipients(generate_shop(customers=3_000, days=90, seed=7))
    readers = habits[habits["profile_id"].isin({f"user:{u}" for u in shop.truths.evening_reader_user_ids})]
    assert len(readers) > 150
    assert readers["send_hour"].isin(EVENING_READER_HOURS).mean() > 0.7
    day = end + timedelta(days=1)  # the next shop-local midnight, as UTC
    rates = {}
    for name in ("best", "ten"):
        sent = [
            SentMessage(
                name, "s1", p, "treated", day + timedelta(hours=h if name == "best" else 10), c, False
            )
            for p, h, c in zip(
                readers["profile_id"], readers["send_hour"], readers["send_channel"], strict=True
            )
        ]
        rates[name] = opens(sent, simulate_responses(sent, people, 7).message_events)
    best_lo, _ = interval(*rates["best"])
    _, ten_hi = interval(*rates["ten"])
    assert best_lo > ten_hi, rates


def load_campaign(store: Store, cid: str, messages: list[SentMessage], people: Recipients, seed: int) -> None:
    """The campaign as the plan, the worker and the tracking would have left it: its members, the
    treated members' sent messages, and what the demo shop answered."""
    from shopmind.activation import campaign_json, parse_campaign

    start = min(m.at for m in messages)
    definition = parse_campaign(
        {
            "name": f"win-back {cid}",
            "audience": {"kind": "rfm", "segments": ["dormant_vip"]},
            "steps": [{"id": "s1", "messages": {"email": {"text": "x"}}, "coupon": "BACK10"}],
            "start_at": start.isoformat(),
        }
    )
    store.sql(
        "INSERT INTO campaigns VALUES (?, ?, ?, 'running', ?, 'test', ?)",
        [cid, definition.name, campaign_json(definition), start, start],
    )
    members = pa.table(
        {
            "profile_id": [m.profile_id for m in messages],
            "arm": [m.arm for m in messages],
            "moment": pa.array([m.at for m in messages], pa.timestamp("us", tz="UTC")),
            "key": [m.key for m in messages],
        }
    )
    with store.staged("_sent", members) as sent:
        store.sql(
            f"""INSERT INTO campaign_members (campaign_id, profile_id, arm, entered_at, step, step_at)
                SELECT ?, profile_id, arm, moment, CASE WHEN arm = 'treated' THEN 's1' END,
                       CASE WHEN arm = 'treated' THEN moment END FROM {sent}""",
            [cid],
        )
        store.sql(
            f"""INSERT INTO outbox (message_key, campaign_id, step, profile_id, channel, format, kind, state,
                    due_at, planned_at, body_text, cost, created_at, updated_at, sent_at)
                SELECT key, ?, 's1', profile_id, 'email', 'email', 'advertising', 'sent', moment, moment, 'x',
                       0.5, moment, moment, moment FROM {sent} WHERE arm = 'treated'""",
            [cid],
        )
    answers = simulate_responses(messages, people, seed)
    store.write_orders(answers.orders, answers.order_lines)
    with store.staged("_answers", answers.message_events) as events:
        store.sql(f"INSERT INTO message_events SELECT * FROM {events}")


def test_the_measured_win_back_uplift_covers_the_planted_effect(store: Store) -> None:
    """Through the measurement (activation.campaign_results): the dormant VIPs' uplift interval
    covers the planted 8 points and excludes 0; the active VIPs' covers 0; each holdout converts at
    its no-message rate."""
    from shopmind.activation import campaign_results, wilson_interval

    people = roster({"dormant_vip": 20_000, "active_vip": 10_000})
    for group, cid in (("dormant_vip", "wb-dormant"), ("active_vip", "wb-active")):
        load_campaign(store, cid, campaign(people, group, cid=cid), people, 11)
        uplift = campaign_results(store, cid, as_of=AT_10 + timedelta(days=10)).uplift
        answer = MESSAGE_RESPONSES[group]
        assert uplift.conversion is not None and uplift.conversion.covers(answer.coupon_uplift), (
            uplift.conversion
        )
        if group == "dormant_vip":
            assert uplift.conversion.low > 0
        holdout = uplift.holdout
        assert wilson_interval(holdout.conversions, holdout.n).covers(answer.no_message)
        assert uplift.messaged == uplift.treated.n
    steps = campaign_results(store, "wb-dormant", as_of=AT_10 + timedelta(days=10)).steps
    assert steps[0].sent == 18_000 and 0 < steps[0].clicked < steps[0].opened < steps[0].sent
