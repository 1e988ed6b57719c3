"""The campaign plan (set-based, in DuckDB) equals a plain pandas implementation of the same rules
(``bench/_plan_peer.py``) row for row, on random customers, consents, habits, earlier messages and
campaigns; the holdout is deterministic and close to the asked share; and each rule has its own
small example that would fail without it."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from bench._plan_peer import pandas_plan, synthetic_store
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.activation import (
    Sender,
    assign_arm,
    assign_arms,
    compose,
    holdout_draw,
    holdout_key,
    message_key,
    parse_campaign,
    plan_campaign,
)
from shopmind.core import InvalidInputError
from shopmind.store import OutboxRow, Store, enqueue, record_consents
from shopmind.store._consent import ConsentEntry

AT = datetime(2026, 12, 5, 5, 30, tzinfo=UTC)  # 14:30 in Seoul
KEY = holdout_key(b"k" * 32)
SHORT = "{{ profile_id }}님 쿠폰"
LONG = "신상품이 들어왔어요. " * 12


def _normal(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _rows(table: pa.Table | pd.DataFrame) -> list[dict[str, Any]]:
    records = table.to_pylist() if isinstance(table, pa.Table) else table.to_dict("records")
    return [{k: _normal(v) for k, v in r.items()} for r in records]


def _random_campaign(rnd: random.Random) -> dict[str, Any]:
    channels = rnd.sample(["email", "sms", "kakao", "app_push", "web_push"], rnd.randint(1, 5))
    # the first channel always has a message (a fixed policy uses only it)
    with_message = channels[:1] + [c for c in channels[1:] if rnd.random() < 0.85]
    campaign: dict[str, Any] = {
        "name": "random",
        "audience": {"kind": "segment", "segment": "vip"},
        "steps": [
            {
                "id": "s1",
                "kind": rnd.choice(["advertising", "advertising", "informational"]),
                "messages": {c: {"text": rnd.choice([SHORT, LONG])} for c in with_message},
            }
        ],
        "channel": {"mode": rnd.choice(["cheapest", "cheapest", "fixed"]), "channels": channels},
        "send_time": {"mode": rnd.choice(["best_hour", "fixed"]), "hour": rnd.randint(0, 23)},
        "caps": {"per_day": rnd.randint(1, 2), "per_week": rnd.randint(2, 4)},
        "holdout": rnd.choice([0.0, 0.1, 0.3]),
    }
    if rnd.random() < 0.3:
        campaign["start_at"] = (AT + timedelta(hours=rnd.randint(1, 60))).isoformat()
    if rnd.random() < 0.3:
        campaign["end_at"] = (AT + timedelta(hours=rnd.randint(61, 90))).isoformat()
    return campaign


@pytest.mark.parametrize("seed", range(8))
def test_plan_equals_the_pandas_oracle(seed: int) -> None:
    rnd = random.Random(seed)
    with Store(":memory:") as store:
        ids = synthetic_store(store, 400, seed, AT)
        audience = [*rnd.sample(ids, 300), "p9999999"]  # one customer the store knows nothing of
        campaign = parse_campaign(_random_campaign(rnd))
        costs = {"email": rnd.choice([0.5, 50.0]), "app_push": rnd.choice([0.0, 3.0])}
        at = AT + timedelta(minutes=rnd.randint(0, 24 * 60))
        plan = plan_campaign(store, campaign, f"c{seed}", at=at, key=KEY, audience=audience, costs=costs)
        oracle = pandas_plan(store, campaign, f"c{seed}", at=at, key=KEY, audience=audience, costs=costs)
    ours, theirs = _rows(plan.table), _rows(oracle)
    assert len(ours) == len(theirs) == len(set(audience))
    for a, b in zip(ours, theirs, strict=True):
        assert a == b, (a, b)
    # the counts are the table's
    statuses = [r["status"] for r in ours]
    assert plan.counts.planned == statuses.count("planned")
    assert plan.counts.holdout == statuses.count("holdout")
    assert sum(plan.counts.excluded.values()) == statuses.count("excluded")


def test_the_random_plans_exercise_every_rule() -> None:
    """The oracle comparison above means something only if its cases reach each branch."""
    seen_reasons: set[str] = set()
    seen_basis: set[str] = set()
    for seed in range(8):
        rnd = random.Random(seed)
        with Store(":memory:") as store:
            ids = synthetic_store(store, 400, seed, AT)
            audience = [*rnd.sample(ids, 300), "p9999999"]
            campaign = parse_campaign(_random_campaign(rnd))
            costs = {"email": rnd.choice([0.5, 50.0]), "app_push": rnd.choice([0.0, 3.0])}
            at = AT + timedelta(minutes=rnd.randint(0, 24 * 60))
            plan = plan_campaign(store, campaign, f"c{seed}", at=at, key=KEY, audience=audience, costs=costs)
        seen_reasons |= {r for r in plan.table.column("reason").to_pylist() if r}
        seen_basis |= {r for r in plan.table.column("channel_basis").to_pylist() if r}
    assert {"no_consent", "opted_out", "unreachable", "cap_day", "cap_week", "night_deferred"} <= seen_reasons
    assert {"responsive", "consented", "fixed"} <= seen_basis


@settings(max_examples=40, deadline=None)
@given(
    campaign=st.text(min_size=1, max_size=12),
    share=st.sampled_from([0.05, 0.1, 0.25, 0.5]),
)
def test_holdout_is_deterministic_and_near_the_share(campaign: str, share: float) -> None:
    ids = [f"p{i}" for i in range(4000)]
    first = [assign_arm(KEY, campaign, p, share) for p in ids]
    assert first == [assign_arm(KEY, campaign, p, share) for p in ids]
    held = first.count("holdout") / len(ids)
    # binomial: 5 standard deviations either side (a false alarm once in ~3 million)
    assert abs(held - share) <= 5 * math.sqrt(share * (1 - share) / len(ids))


def test_holdout_in_the_engine_equals_python_and_depends_on_key_and_campaign() -> None:
    ids = [f"p{i}" for i in range(2000)]
    with Store(":memory:") as store:
        arms = assign_arms(store, KEY, "c1", pa.array(ids), 0.1)
    engine = dict(zip(arms.column("profile_id").to_pylist(), arms.column("arm").to_pylist(), strict=True))
    assert engine == {p: assign_arm(KEY, "c1", p, 0.1) for p in ids}
    other_campaign = [assign_arm(KEY, "c2", p, 0.1) for p in ids]
    other_key = [assign_arm(holdout_key(b"x" * 32), "c1", p, 0.1) for p in ids]
    assert other_campaign != [engine[p] for p in ids]
    assert other_key != [engine[p] for p in ids]
    assert 0.0 <= holdout_draw(KEY, "c1", "p1") < 1.0


# -- each rule on its own -------------------------------------------------------------------------


def _store_with(consents: list[tuple[str, str, str, bool, datetime]]) -> Store:
    store = Store(":memory:")
    store.sql("INSERT INTO profiles VALUES ('user:a', 'a', 'user'), ('user:b', 'b', 'user')")
    record_consents(
        store,
        [
            ConsentEntry(f"user:{who}", ch, ok, when, "signup_form", purpose=p)
            for who, ch, p, ok, when in consents
        ],
    )
    return store


def _campaign(**over: Any) -> Any:
    base: dict[str, Any] = {
        "name": "c",
        "audience": {"kind": "segment", "segment": "vip"},
        "steps": [{"id": "s1", "messages": {"sms": {"text": "hi"}, "email": {"text": "hi", "subject": "s"}}}],
        "channel": {"mode": "cheapest", "channels": ["sms", "email"]},
        "send_time": {"mode": "fixed", "hour": 22},
        "holdout": 0.0,
    }
    base.update(over)
    return parse_campaign(base)


def _one(plan: Any, who: str) -> dict[str, Any]:
    return next(r for r in plan.table.to_pylist() if r["profile_id"] == who)


GIVEN = AT - timedelta(days=30)


def test_no_consent_and_a_withdrawal_exclude_with_their_reasons() -> None:
    with _store_with(
        [
            ("a", "sms", "advertising", True, GIVEN),
            ("a", "sms", "advertising", False, GIVEN + timedelta(days=1)),
        ]
    ) as store:
        plan = plan_campaign(store, _campaign(), "c", at=AT, key=KEY, audience=["a", "b"])
    assert _one(plan, "a")["reason"] == "opted_out"
    assert _one(plan, "b")["reason"] == "no_consent"
    why = plan.why_excluded()
    assert [(e.reason, e.count, e.examples) for e in why] == [
        ("opted_out", 1, ("a",)),
        ("no_consent", 1, ("b",)),
    ]
    assert why[0].share == 0.5


def test_an_informational_step_needs_no_consent_and_keeps_its_night_hour() -> None:
    steps = [{"id": "s1", "kind": "informational", "messages": {"sms": {"text": "배송이 시작됐어요"}}}]
    with _store_with([]) as store:
        plan = plan_campaign(store, _campaign(steps=steps), "c", at=AT, key=KEY, audience=["a"])
    row = _one(plan, "a")
    assert row["status"] == "planned" and row["reason"] is None
    assert row["due_at"] == datetime(2026, 12, 5, 13, 0, tzinfo=UTC)  # 22:00 KST


def test_night_hour_moves_to_eight_without_night_consent_and_email_is_exempt() -> None:
    with _store_with(
        [
            ("a", "sms", "advertising", True, GIVEN),
            ("b", "sms", "advertising", True, GIVEN),
            ("b", "sms", "night_advertising", True, GIVEN),
        ]
    ) as store:
        sms = plan_campaign(store, _campaign(), "c", at=AT, key=KEY, audience=["a", "b"])
    moved, kept = _one(sms, "a"), _one(sms, "b")
    assert moved["reason"] == "night_deferred" and moved["status"] == "planned"
    assert moved["planned_at"] == datetime(2026, 12, 5, 13, 0, tzinfo=UTC)  # 22:00 KST
    assert moved["due_at"] == datetime(2026, 12, 5, 23, 0, tzinfo=UTC)  # 08:00 KST the next day
    assert kept["reason"] is None and kept["due_at"] == kept["planned_at"]
    with _store_with([("a", "email", "advertising", True, GIVEN)]) as store:
        mail = plan_campaign(store, _campaign(), "c", at=AT, key=KEY, audience=["a"])
    assert _one(mail, "a")["channel"] == "email" and _one(mail, "a")["reason"] is None


def test_cheapest_prefers_a_channel_they_respond_on() -> None:
    consents = [("a", c, "advertising", True, GIVEN) for c in ("sms", "email")]
    with _store_with(consents) as store:
        plain = plan_campaign(store, _campaign(), "c", at=AT, key=KEY, audience=["a"])
        with store.job_run("preferences", AT) as run_id:
            store.write_profile_facts(
                run_id,
                AT,
                "habits",
                pa.table({"profile_id": ["a"], "send_hour": [9], "send_channel": ["sms"]}),
            )
        responsive = plan_campaign(
            store, _campaign(send_time={"mode": "best_hour", "hour": 10}), "c", at=AT, key=KEY, audience=["a"]
        )
    assert _one(plain, "a")["channel"] == "email" and _one(plain, "a")["channel_basis"] == "consented"
    row = _one(responsive, "a")
    assert row["channel"] == "sms" and row["channel_basis"] == "responsive"
    assert row["send_hour"] == 9 and row["hour_basis"] == "habits"
    assert row["due_at"] == datetime(2026, 12, 6, 0, 0, tzinfo=UTC)  # 09:00 KST tomorrow (it is 14:30)


def test_caps_count_other_campaigns_on_the_same_shop_day() -> None:
    with _store_with(
        [("a", "email", "advertising", True, GIVEN), ("b", "email", "advertising", True, GIVEN)]
    ) as store:
        due = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)  # 00:30 KST on the 6th: the planned day in Seoul
        other = OutboxRow("k1", "other", "s1", "a", "sms", "sms", "advertising", due, "x", cost=9.9)
        enqueue(store, [other], at=AT)
        store.sql("UPDATE outbox SET state = 'sent', sent_at = due_at")
        plan = plan_campaign(
            store,
            _campaign(send_time={"mode": "fixed", "hour": 10}),
            "c",
            at=AT,
            key=KEY,
            audience=["a", "b"],
        )
    assert _one(plan, "a")["reason"] == "cap_day"  # the 6th in Seoul already has one advertisement
    assert _one(plan, "b")["status"] == "planned"


def test_web_push_needs_a_live_subscription() -> None:
    steps = [{"id": "s1", "messages": {"web_push": {"text": "hi"}}}]
    with _store_with(
        [("a", "web_push", "advertising", True, GIVEN), ("b", "web_push", "advertising", True, GIVEN)]
    ) as store:
        store.sql(
            "INSERT INTO push_subscriptions (endpoint, identifier, p256dh, auth, created_at, revoked_at) "
            "VALUES ('https://p/1', 'user:b', 'k', 'a', ?, NULL)",
            [AT],
        )
        plan = plan_campaign(
            store,
            _campaign(steps=steps, channel={"mode": "fixed", "channels": ["web_push"]}),
            "c",
            at=AT,
            key=KEY,
            audience=["a", "b"],
        )
    assert _one(plan, "a")["reason"] == "unreachable"
    assert _one(plan, "b")["status"] == "planned"


def test_a_step_without_a_message_on_the_channels_is_refused() -> None:
    with _store_with([]) as store, pytest.raises(InvalidInputError) as err:
        plan_campaign(
            store,
            _campaign(channel={"mode": "fixed", "channels": ["kakao"]}),
            "c",
            at=AT,
            key=KEY,
            audience=["a"],
        )
    assert "steps.s1.messages" in str(err.value.errors[0].field)


def test_compose_finishes_advertising_and_keys_are_stable() -> None:
    with _store_with([("a", "sms", "advertising", True, GIVEN)]) as store:
        campaign = _campaign(send_time={"mode": "fixed", "hour": 10})
        plan = plan_campaign(store, campaign, "c", at=AT, key=KEY, audience=["a"])
        sender = Sender(name="가게", contact="02-123-4567", opt_out_phone="080-123-4567")
        rows = compose(plan, campaign, sender=sender)
    assert len(rows) == 1
    row = rows[0]
    assert row.message_key == message_key("c", "s1", "a")
    assert row.body_text.startswith("(광고)") and "080-123-4567" in row.body_text and "가게" in row.body_text
    assert row.state == "queued" and row.channel == "sms" and row.format == "sms" and row.cost == 9.9


def test_a_reachable_table_narrows_the_channels_it_lists() -> None:
    consents = [(who, c, "advertising", True, GIVEN) for who in ("a", "b") for c in ("sms", "email")]
    with _store_with(consents) as store:
        reachable = pa.table({"profile_id": ["b"], "channel": ["email"]})  # e-mail known for b only
        plan = plan_campaign(
            store,
            _campaign(send_time={"mode": "fixed", "hour": 10}),
            "c",
            at=AT,
            key=KEY,
            audience=["a", "b"],
            reachable=reachable,
        )
    assert _one(plan, "a")["channel"] == "sms"  # no e-mail address: the dearer SMS
    assert _one(plan, "b")["channel"] == "email"


def test_a_send_after_the_end_is_excluded() -> None:
    with _store_with([("a", "email", "advertising", True, GIVEN)]) as store:
        campaign = _campaign(
            send_time={"mode": "fixed", "hour": 10}, end_at=(AT + timedelta(hours=2)).isoformat()
        )
        plan = plan_campaign(store, campaign, "c", at=AT, key=KEY, audience=["a"])
    assert _one(plan, "a")["reason"] == "after_end"  # 10:00 KST tomorrow is past the end


def test_the_audience_from_rfm_segments_and_movements() -> None:
    from shopmind.activation import audience_ids

    with Store(":memory:") as store:
        runs = {"r1": AT - timedelta(days=20), "r2": AT - timedelta(days=1), "r0": AT - timedelta(days=90)}
        for run_id, as_of in runs.items():
            store.sql(
                "INSERT INTO job_runs VALUES (?, 'customer_intelligence', ?, ?, ?, 'ok')",
                [run_id, as_of, as_of, as_of],
            )
        members = [
            ("r0", "vip", "old"),  # a VIP three months ago: outside a 30-day window
            ("r1", "vip", "a"),
            ("r1", "loyal", "b"),
            ("r1", "new", "c"),
            ("r2", "dormant_vip", "a"),
            ("r2", "dormant_vip", "c"),
            ("r2", "dormant_vip", "old"),
            ("r2", "vip", "b"),
        ]
        for run_id, segment, who in members:
            store.sql("INSERT INTO segment_members VALUES (?, ?, ?, ?)", [run_id, segment, who, runs[run_id]])
        moved = _campaign(audience={"kind": "moved", "from": ["vip", "loyal"], "to": ["dormant_vip"]})
        rfm = _campaign(audience={"kind": "rfm", "segments": ["dormant_vip", "vip"]})
        segment = _campaign(audience={"kind": "segment", "segment": "vip"})
        assert sorted(audience_ids(store, moved).to_pylist()) == ["a"]
        assert sorted(audience_ids(store, rfm).to_pylist()) == ["a", "b", "c", "old"]
        assert audience_ids(store, segment).to_pylist() == ["b"]


def test_compose_tracks_links_and_needs_what_the_law_wants() -> None:
    steps = [
        {
            "id": "s1",
            "messages": {
                "email": {
                    "subject": "겨울 세일",
                    "text": "{{ profile_id }}님, 새 상품: {{ link('https://shop.example/new') }}",
                    "html": "<p><a href=\"{{ link('https://shop.example/new') }}\">새 상품</a></p>",
                }
            },
        }
    ]
    campaign = _campaign(steps=steps, channel={"mode": "fixed", "channels": ["email"]})
    sender = Sender(name="가게", contact="02-123-4567", opt_out_phone="080-123-4567")
    with _store_with([("a", "email", "advertising", True, GIVEN)]) as store:
        plan = plan_campaign(store, campaign, "c", at=AT, key=KEY, audience=["a"])
        with pytest.raises(InvalidInputError) as err:
            compose(plan, campaign, sender=sender)  # no unsubscribe link for an advertising e-mail
        assert err.value.errors[0].field == "unsubscribe_url"
        rows = compose(
            plan,
            campaign,
            sender=sender,
            unsubscribe_url=lambda key: f"https://t.example/m/u/{key}",
            tracked=lambda key, i, target: f"https://t.example/m/c/{key}.{i}",
        )
    key = message_key("c", "s1", "a")
    row = rows[0]
    assert row.subject is not None and row.subject.startswith("(광고)")
    assert f"https://t.example/m/c/{key}.0" in row.body_text and "shop.example/new" not in row.body_text
    assert row.body_html is not None
    assert f"https://t.example/m/u/{key}" in row.body_text and f"https://t.example/m/u/{key}" in row.body_html
    assert row.links == ("https://shop.example/new",)
    assert row.cost == 0.5 and row.format == "email"


def test_compose_refuses_text_advertising_without_a_free_080_number() -> None:
    with _store_with([("a", "sms", "advertising", True, GIVEN)]) as store:
        campaign = _campaign(send_time={"mode": "fixed", "hour": 10})
        plan = plan_campaign(store, campaign, "c", at=AT, key=KEY, audience=["a"])
        with pytest.raises(InvalidInputError) as err:
            compose(plan, campaign, sender=Sender(name="가게", contact="02-123-4567"))
    assert err.value.errors[0].field == "sender.opt_out_phone"


@pytest.mark.parametrize("seed", [3, 11])
def test_after_queuing_the_plan_no_planned_customer_exceeds_the_caps(seed: int) -> None:
    """The outbox's own cap counts (``store.cap_counts``), after the plan's messages are queued:
    every customer who got one stays within the campaign's caps that shop day and week."""
    from shopmind.store import ALL_CHANNELS, cap_counts

    campaign = parse_campaign(
        {
            "name": "caps",
            "audience": {"kind": "segment", "segment": "vip"},
            "steps": [
                {"id": "s1", "messages": {c: {"text": "hi", "subject": "s"} for c in ("sms", "email")}}
            ],
            "channel": {"mode": "cheapest", "channels": ["sms", "email"]},
            "send_time": {"mode": "fixed", "hour": 10},
            "caps": {"per_day": 1, "per_week": 2},
            "holdout": 0.0,
        }
    )
    sender = Sender(name="가게", contact="02-123-4567", opt_out_phone="080-123-4567")
    with Store(":memory:") as store:
        ids = synthetic_store(store, 500, seed, AT)
        plan = plan_campaign(store, campaign, "caps", at=AT, key=KEY, audience=ids)
        rows = compose(plan, campaign, sender=sender, unsubscribe_url=lambda k: f"https://t.example/u/{k}")
        assert enqueue(store, rows, at=AT) == plan.counts.planned > 0
        day = (AT + timedelta(days=1)).date()  # 10:00 in Seoul tomorrow (it is 14:30 there)
        counts = cap_counts(store, day, profile_ids=[r.profile_id for r in rows]).to_pylist()
    assert plan.counts.excluded["cap_day"] > 0 and plan.counts.excluded["cap_week"] > 0
    for c in counts:
        assert c["day"] <= 1 and c["week"] <= 2, c
    overall = {c["profile_id"] for c in counts if c["channel"] == ALL_CHANNELS}
    assert overall == {r.profile_id for r in rows}  # each planned customer counted, with this message
