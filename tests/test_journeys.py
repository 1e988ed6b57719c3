"""Journeys advance as declared: a trigger brings customers in (segment entry, an abandoned cart),
each step falls due ``wait_hours`` after the previous one, branches follow the answer to it
(opened, clicked, bought: from message_events and orders), a purchase ends the journey. Rows are
written straight into the store's tables (migration 16)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from shopmind.activation import (
    DueStep,
    Entrant,
    advance,
    campaign_json,
    enter_members,
    parse_campaign,
    record_steps,
)
from shopmind.core import InvalidInputError
from shopmind.events import ORDER_LINE_SCHEMA, ORDER_SCHEMA
from shopmind.store import Store

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 10:00 KST
H = timedelta(hours=1)
_ids = itertools.count(1)

JOURNEY: dict[str, Any] = {
    "name": "휴면 VIP 복귀",
    "audience": {"kind": "rfm", "segments": ["dormant_vip"]},
    "steps": [
        {"id": "s1", "messages": {"email": {"text": "다시 만나요"}}, "wait_hours": 2},
        {
            "id": "s2",
            "after": "s1",
            "wait_hours": 48,
            "when": "clicked_not_bought",
            "messages": {"sms": {"text": "쿠폰"}},
        },
        {
            "id": "s3",
            "after": "s1",
            "wait_hours": 48,
            "when": "not_clicked",
            "messages": {"sms": {"text": "다시"}},
        },
    ],
    "start_at": (T0 - 24 * H).isoformat(),
}


def add_campaign(store: Store, definition: dict[str, Any], cid: str = "c1", state: str = "running") -> None:
    campaign = parse_campaign(definition)
    store.sql(
        "INSERT INTO campaigns VALUES (?, ?, ?, ?, ?, 'test', ?)",
        [cid, campaign.name + cid, campaign_json(campaign), state, T0 - 48 * H, T0 - 48 * H],
    )


def member(
    store: Store,
    profile: str,
    *,
    arm: str = "treated",
    entered: datetime = T0,
    step: str | None = None,
    at: datetime | None = None,
    cid: str = "c1",
) -> None:
    store.sql(
        "INSERT INTO campaign_members VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
        [cid, profile, arm, entered, step, at],
    )


def event(store: Store, profile: str, kind: str, at: datetime, step: str = "s1", cid: str = "c1") -> None:
    store.sql(
        "INSERT INTO message_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        [f"e{next(_ids)}", f"{cid}:{step}:{profile}", cid, step, profile, kind, at, at],
    )


def order(store: Store, customer: str, at: datetime, *, is_return: bool = False) -> None:
    order_id = f"o{next(_ids)}"
    head = {name: None for name in ORDER_SCHEMA.names}
    head.update(
        order_id=order_id,
        ordered_at=at,
        customer_id=customer,
        currency="KRW",
        is_return=is_return,
        source="test",
        verified=True,
    )
    line = {
        "order_id": order_id,
        "line_key": f"{order_id}#1",
        "line_no": 1,
        "product_id": "p1",
        "description": "x",
        "quantity": 1,
        "unit_price": 10_000.0,
        "is_return": False,
        "is_product": True,
    }
    store.write_orders(
        pa.Table.from_pylist([head], schema=ORDER_SCHEMA),
        pa.Table.from_pylist([line], schema=ORDER_LINE_SCHEMA),
    )


def shop_event(store: Store, user: str, kind: str, at: datetime) -> None:
    store.sql(
        "INSERT INTO events (message_id, type, user_id, event_time, received_at, source) VALUES (?, ?, ?, ?, ?, 'test')",
        [f"m{next(_ids)}", kind, user, at, at],
    )


def dues(result: Any) -> set[tuple[str, str, datetime]]:
    return {(d.profile_id, d.step, d.due_at) for d in result.due}


def state(store: Store, profile: str, cid: str = "c1") -> tuple[Any, ...]:
    rows = store.sql(
        "SELECT step, step_at, exited_at, exit_reason FROM campaign_members WHERE campaign_id = ? AND profile_id = ?",
        [cid, profile],
    )
    return rows[0]


def test_the_first_step_falls_due_its_wait_after_entry_and_only_for_the_treated(store: Store) -> None:
    add_campaign(store, JOURNEY)
    member(store, "user:a", entered=T0)
    member(store, "user:b", entered=T0 + H)
    member(store, "user:h", arm="holdout", entered=T0)
    assert advance(store, "c1", T0 + H).due == ()
    assert dues(advance(store, "c1", T0 + 2 * H)) == {("user:a", "s1", T0 + 2 * H)}
    later = advance(store, "c1", T0 + 5 * H)
    assert dues(later) == {("user:a", "s1", T0 + 2 * H), ("user:b", "s1", T0 + 3 * H)}
    assert [d.profile_id for d in later.due] == ["user:a", "user:b"]  # by due time
    # advancing changes nothing until the steps are recorded as sent
    assert dues(advance(store, "c1", T0 + 5 * H)) == dues(later)
    record_steps(store, "c1", later.due)
    assert state(store, "user:a")[:2] == ("s1", T0 + 2 * H)
    assert advance(store, "c1", T0 + 5 * H).due == ()


def test_branches_follow_the_answer_to_the_previous_step_by_its_due_time(store: Store) -> None:
    add_campaign(store, JOURNEY)
    sent = T0
    for p in ("user:clicked", "user:opened", "user:silent", "user:late", "user:bought"):
        member(store, p, entered=T0 - 2 * H, step="s1", at=sent)
    event(store, "user:clicked", "opened", sent + H)
    event(store, "user:clicked", "clicked", sent + 2 * H)
    event(store, "user:opened", "opened", sent + H)
    event(store, "user:late", "clicked", sent + 49 * H)  # after the branch was decided
    event(store, "user:bought", "clicked", sent + H)
    order(store, "bought", sent + 3 * H)
    early = advance(store, "c1", sent + 47 * H)
    assert early.due == ()  # no branch's time has come
    assert [(x.profile_id, x.reason, x.at) for x in early.exits] == [
        ("user:bought", "purchased", sent + 3 * H)
    ]
    due = sent + 48 * H
    result = advance(store, "c1", due)
    assert dues(result) == {
        ("user:clicked", "s2", due),
        ("user:opened", "s3", due),
        ("user:silent", "s3", due),
        ("user:late", "s3", due),
    }
    assert result.exits == ()
    assert state(store, "user:bought")[2:] == (sent + 3 * H, "purchased")


def test_a_purchase_ends_the_journey_at_once_and_only_purchases_since_entry_count(store: Store) -> None:
    add_campaign(store, JOURNEY)
    member(store, "user:a", entered=T0)
    member(store, "user:b", entered=T0)
    member(store, "user:c", entered=T0)
    member(store, "p-merged", entered=T0)  # a stitched profile: its member id is m9
    store.sql("INSERT INTO profiles VALUES ('user:m9', 'p-merged', 'member')")
    order(store, "a", T0 + 30 * 60 * timedelta(seconds=1))
    order(store, "b", T0 - H)  # before they entered: no exit
    order(store, "c", T0 + H, is_return=True)  # a return is no purchase
    order(store, "m9", T0 + H)
    result = advance(store, "c1", T0 + 3 * H)
    assert {(x.profile_id, x.reason) for x in result.exits} == {
        ("user:a", "purchased"),
        ("p-merged", "purchased"),
    }
    assert dues(result) == {("user:b", "s1", T0 + 2 * H), ("user:c", "s1", T0 + 2 * H)}
    assert advance(store, "c1", T0 + 3 * H).exits == ()  # written once


def test_without_exit_on_purchase_buyers_stay_and_a_journey_with_no_branch_left_finishes(
    store: Store,
) -> None:
    add_campaign(store, {**JOURNEY, "exit_on_purchase": False})
    member(store, "user:bought", entered=T0 - 2 * H, step="s1", at=T0)
    member(store, "user:done", entered=T0 - 50 * H, step="s2", at=T0)
    event(store, "user:bought", "clicked", T0 + H)
    order(store, "bought", T0 + 2 * H)
    early = advance(store, "c1", T0 + H)
    assert [(x.profile_id, x.reason, x.at) for x in early.exits] == [("user:done", "finished", T0)]
    assert state(store, "user:done")[2:] == (T0, "finished")
    # clicked and bought: neither clicked_not_bought nor not_clicked holds at 48 h
    result = advance(store, "c1", T0 + 48 * H)
    assert result.due == ()
    assert [(x.profile_id, x.reason, x.at) for x in result.exits] == [
        ("user:bought", "finished", T0 + 48 * H)
    ]


@pytest.mark.parametrize(
    ("when", "events", "expected"),
    [
        ("opened", [], False),
        ("opened", ["opened"], True),
        ("opened", ["clicked"], True),  # a text reports no opens: its click shows it was read
        ("not_opened", ["clicked"], False),
        ("clicked", ["opened"], False),
        ("not_clicked", ["opened"], True),
        ("not_bought", ["clicked"], True),
        ("always", [], True),
    ],
)
def test_each_condition(store: Store, when: str, events: Sequence[str], expected: bool) -> None:
    steps = [
        JOURNEY["steps"][0],
        {"id": "s2", "wait_hours": 24, "when": when, "messages": {"sms": {"text": "x"}}},
    ]
    add_campaign(store, {**JOURNEY, "steps": steps})
    member(store, "user:a", step="s1", at=T0)
    for kind in events:
        event(store, "user:a", kind, T0 + H)
    event(store, "user:a", "clicked", T0 + H, step="s0")  # another step's answer does not count
    assert bool(advance(store, "c1", T0 + 24 * H).due) is expected


def test_an_abandoned_cart_brings_the_customer_in_an_hour_later(store: Store) -> None:
    cart = {
        **JOURNEY,
        "audience": {"kind": "segment", "segment": "all"},
        "trigger": {"kind": "event", "event": "add_to_cart", "unless": "order_completed", "after_hours": 1},
    }
    add_campaign(store, cart)
    shop_event(store, "u1", "add_to_cart", T0)
    shop_event(store, "u1", "order_completed", T0 + 0.5 * H)  # bought: no abandoned cart
    shop_event(store, "u2", "add_to_cart", T0)
    shop_event(store, "u2", "add_to_cart", T0 + 0.2 * H)  # enters once, from the first cart
    shop_event(store, "u3", "add_to_cart", T0 + 0.5 * H)  # not an hour yet
    shop_event(store, "u4", "add_to_cart", T0 - 30 * H)  # before the campaign started
    shop_event(store, "u5", "add_to_cart", T0)
    shop_event(store, "u6", "add_to_cart", T0)
    shop_event(store, "u6", "order_completed", T0 + 2 * H)  # bought, but after the hour
    member(store, "user:u5")  # already a member
    result = advance(store, "c1", T0 + H)
    assert result.entrants == (Entrant("user:u2", T0 + H), Entrant("user:u6", T0 + H))
    later = advance(store, "c1", T0 + 2 * H).entrants  # by entry time
    assert [(e.profile_id, e.entered_at) for e in later] == [
        ("user:u2", T0 + H),
        ("user:u6", T0 + H),
        ("user:u3", T0 + 1.5 * H),
    ]
    added = enter_members(store, "c1", result.entrants, {"user:u2": "treated", "user:u6": "holdout"})
    assert (
        added == 2
        and enter_members(store, "c1", result.entrants, {"user:u2": "treated", "user:u6": "holdout"}) == 0
    )
    after = advance(store, "c1", T0 + 3 * H)
    assert DueStep("user:u2", "s1", T0 + 3 * H) in after.due and "user:u6" not in {
        d.profile_id for d in after.due
    }
    assert [e.profile_id for e in after.entrants] == ["user:u3"]


def test_segment_entry_brings_in_who_entered_after_the_start(store: Store) -> None:
    start = T0 - 24 * H
    saved = {**JOURNEY, "trigger": {"kind": "segment_entry", "segment": "seg-1"}}
    add_campaign(store, saved)
    store.sql("INSERT INTO segments VALUES ('seg-1', 'x', 'x', NULL, NULL, '{}', ?, ?, NULL)", [start, start])
    store.sql("INSERT INTO segment_history VALUES ('seg-1', 'user:old', ?, NULL)", [start - H])
    store.sql("INSERT INTO segment_history VALUES ('seg-1', 'user:new', ?, NULL)", [T0])
    store.sql("INSERT INTO segment_history VALUES ('seg-1', 'user:soon', ?, NULL)", [T0 + 5 * H])
    assert advance(store, "c1", T0 + H).entrants == (Entrant("user:new", T0),)

    rfm = {**JOURNEY, "trigger": {"kind": "segment_entry", "segment": "dormant_vip"}}
    add_campaign(store, rfm, cid="c2")
    for run, as_of, members in (("r1", start + H, ["user:x"]), ("r2", T0, ["user:x", "user:y"])):
        store.sql(
            "INSERT INTO job_runs VALUES (?, 'intelligence', ?, ?, ?, 'ok')", [run, as_of, as_of, as_of]
        )
        for p in members:
            store.sql("INSERT INTO segment_members VALUES (?, 'dormant_vip', ?, ?)", [run, p, as_of])
    # x was in the first run after the start (nothing before it), y entered with the second
    assert advance(store, "c2", T0 + H).entrants == (Entrant("user:x", start + H), Entrant("user:y", T0))


def test_a_paused_campaign_stands_still(store: Store) -> None:
    add_campaign(store, JOURNEY, state="paused")
    member(store, "user:a")
    order(store, "a", T0 + H)
    result = advance(store, "c1", T0 + 10 * H)
    assert result.due == () and result.exits == ()
    assert state(store, "user:a")[2] is None


def test_bad_input_names_the_field(store: Store) -> None:
    add_campaign(store, JOURNEY)
    with pytest.raises(InvalidInputError) as caught:
        advance(store, "nope", T0)
    assert caught.value.field == "campaign_id"
    with pytest.raises(InvalidInputError) as caught:
        advance(store, "c1", T0.replace(tzinfo=None))
    assert caught.value.field == "now"
    with pytest.raises(InvalidInputError) as caught:
        enter_members(store, "c1", [Entrant("user:a", T0)], {})
    assert caught.value.field == "arms"


def test_a_branch_with_a_shorter_wait_goes_first_and_the_rest_wait_for_the_longer(store: Store) -> None:
    steps = [
        JOURNEY["steps"][0],
        {
            "id": "fast",
            "after": "s1",
            "wait_hours": 24,
            "when": "clicked",
            "messages": {"sms": {"text": "x"}},
        },
        {"id": "slow", "after": "s1", "wait_hours": 48, "when": "always", "messages": {"sms": {"text": "y"}}},
    ]
    add_campaign(store, {**JOURNEY, "steps": steps})
    member(store, "user:clicker", step="s1", at=T0)
    member(store, "user:other", step="s1", at=T0)
    event(store, "user:clicker", "clicked", T0 + H)
    first = advance(store, "c1", T0 + 30 * H)
    assert dues(first) == {("user:clicker", "fast", T0 + 24 * H)} and first.exits == ()
    record_steps(store, "c1", first.due)
    second = advance(store, "c1", T0 + 48 * H)
    assert dues(second) == {("user:other", "slow", T0 + 48 * H)}
    # the clicker, at the last step "fast", is done; "other" waits to be recorded at "slow"
    assert [(x.profile_id, x.reason) for x in second.exits] == [("user:clicker", "finished")]


def test_run_journey_queues_an_abandoned_cart_journey_through_the_plan(store: Store) -> None:
    """Wired to the plan: entrants join their arm, the due step is planned (consent, hour),
    composed and queued once, the members move to it; a branch queues the next step later."""
    from shopmind.activation import Sender, holdout_key, new_campaign, run_journey, schedule_campaign
    from shopmind.store import record_consents
    from shopmind.store._consent import ConsentEntry

    key = holdout_key(b"k" * 32)
    sender = Sender(name="가게", contact="02-123-4567", opt_out_phone="080-123-4567")
    store.sql(
        "INSERT INTO profiles VALUES ('user:u1', 'u1', 'user'), ('user:u2', 'u2', 'user'), ('user:u3', 'u3', 'user')"
    )
    record_consents(
        store, [ConsentEntry(f"user:{u}", "sms", True, T0 - 72 * H, "signup_form") for u in ("u1", "u2")]
    )
    for user in ("u1", "u2", "u3"):
        shop_event(store, user, "add_to_cart", T0)
    definition = {
        "name": "장바구니",
        "audience": {"kind": "segment", "segment": "all"},
        "trigger": {"kind": "event", "event": "add_to_cart", "unless": "order_completed", "after_hours": 1},
        "steps": [
            {"id": "s1", "messages": {"sms": {"text": "담아두신 상품이 기다려요"}}},
            {
                "id": "s2",
                "wait_hours": 48,
                "when": "clicked_not_bought",
                "messages": {"sms": {"text": "쿠폰을 드려요"}},
            },
        ],
        "channel": {"mode": "fixed", "channels": ["sms"]},
        "send_time": {"mode": "fixed", "hour": 10},
        "holdout": 0.0,
    }
    stored = new_campaign(store, definition, created_by="test", now=T0 - 24 * H)
    schedule_campaign(store, stored.campaign_id, now=T0 - 24 * H, key=key, sender=sender)
    cid = stored.campaign_id

    run = run_journey(store, cid, now=T0 + H, key=key, sender=sender)
    assert run.entered == 3 and run.queued == 2
    assert [(x.profile_id, x.reason) for x in run.excluded] == [("u3", "no_consent")]
    send = T0 + 24 * H  # the next 10:00 in Seoul
    queued = store.sql("SELECT profile_id, step, due_at FROM outbox WHERE campaign_id = ? ORDER BY 1", [cid])
    assert queued == [("u1", "s1", send), ("u2", "s1", send)]
    assert state(store, "u1", cid)[:2] == ("s1", send) and state(store, "u3", cid)[3] == "no_consent"

    again = run_journey(store, cid, now=T0 + 2 * H, key=key, sender=sender)
    assert (again.entered, again.queued, again.advanced.due) == (0, 0, ())

    event(store, "u1", "clicked", send + H, cid=cid)
    later = run_journey(store, cid, now=send + 48 * H, key=key, sender=sender)
    assert later.queued == 1
    assert store.sql("SELECT profile_id FROM outbox WHERE campaign_id = ? AND step = 's2'", [cid]) == [
        ("u1",)
    ]
    assert state(store, "u2", cid)[3] == "finished"
