"""The outbox and its sender: enqueued once, claimed once, every outcome recorded; consent checked
again at hand-over (an opt-out recorded a moment ago stops the message), the night rule moves a
message to 08:00, a customer without an address is suppressed, refusals for now are retried with
backoff, a cut hand-over is resent with the same key, a stop returns the unsent rest of a batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from shopmind.activation import (
    ChainedContacts,
    ChannelError,
    FileContacts,
    HandOverUnknownError,
    MemoryChannel,
    MemoryContacts,
    Message,
    OutboxSender,
    PushSubscriptions,
    Receipt,
)
from shopmind.core import FixedClock, IdentifierHasher, InvalidInputError
from shopmind.store import (
    ALL_CHANNELS,
    ConsentEntry,
    OutboxRow,
    Store,
    cap_counts,
    claim_due,
    enqueue,
    mark_retry,
    mark_sent,
    next_due,
    outbox_counts,
    record_consents,
    recover_sending,
    retry_at,
)

#: 10:00 in Seoul: day time, advertising allowed with consent
DAY = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DAY)


@pytest.fixture
def store(clock: FixedClock) -> Iterator[Store]:
    with Store(":memory:", clock=clock) as s:
        yield s


def row(
    who: str,
    *,
    channel: str = "email",
    fmt: str | None = None,
    kind: str = "advertising",
    step: str = "s1",
    due: datetime = DAY,
    campaign: str = "c1",
) -> OutboxRow:
    return OutboxRow(
        message_key=f"{campaign}:{who}:{step}",
        campaign_id=campaign,
        step=step,
        profile_id=f"user:{who}",
        channel=channel,
        format=fmt or channel,
        kind=kind,
        due_at=due,
        body_text=f"(광고) 안녕하세요 {who}님",
        subject="다시 만나요" if channel == "email" else None,
        links=("https://shop.example/p/1",),
    )


def consent(
    store: Store,
    who: str,
    channel: str = "email",
    granted: bool = True,
    *,
    at: datetime = DAY,
    purpose: str = "advertising",
) -> None:
    record_consents(
        store, [ConsentEntry(f"user:{who}", channel, granted, at, "signup_form", purpose=purpose)]
    )


def states(store: Store) -> dict[str, str]:
    return dict(store.sql("SELECT message_key, state FROM outbox ORDER BY 1"))


# -- the store ---------------------------------------------------------------------------------


def test_enqueue_is_idempotent_and_keeps_a_sent_row_as_it_is(store: Store) -> None:
    assert enqueue(store, [row("a"), row("b"), row("a")], at=DAY) == 2
    mark = claim_due(store, DAY, 1)
    assert [c.message_key for c in mark] == ["c1:a:s1"]
    assert mark_sent(store, "c1:a:s1", at=DAY, provider_id="p-1") == 1
    # planning the same step again adds nothing and leaves the sent row sent
    assert enqueue(store, [row("a"), row("b"), row("c")], at=DAY + timedelta(hours=1)) == 1
    assert states(store) == {"c1:a:s1": "sent", "c1:b:s1": "queued", "c1:c:s1": "queued"}
    stored = store.sql(
        "SELECT links, attempts, provider_id, sent_at FROM outbox WHERE message_key = 'c1:a:s1'"
    )
    assert stored == [('["https://shop.example/p/1"]', 1, "p-1", DAY)]


def test_enqueue_names_a_bad_row(store: Store) -> None:
    naive = OutboxRow("k", "c", "s", "user:a", "email", "email", "advertising", datetime(2026, 11, 2), "x")
    with pytest.raises(InvalidInputError, match=r"rows\[0\]\.due_at"):
        enqueue(store, [naive], at=DAY)
    with pytest.raises(InvalidInputError, match=r"rows\[1\]\.state"):
        enqueue(
            store,
            [
                row("a"),
                OutboxRow("k", "c", "s", "user:a", "email", "email", "advertising", DAY, "x", state="sent"),
            ],
            at=DAY,
        )
    assert outbox_counts(store)["queued"] == 0


def test_claim_takes_due_rows_once_in_order(store: Store) -> None:
    enqueue(
        store,
        [row("late", due=DAY + timedelta(hours=2)), row("b"), row("a", due=DAY - timedelta(minutes=5))],
        at=DAY,
    )
    first = claim_due(store, DAY, 10)
    assert [c.message_key for c in first] == ["c1:a:s1", "c1:b:s1"]  # earliest due first; the late one waits
    assert all(c.attempts == 1 and c.resends == 0 for c in first)
    assert first[0].links == ("https://shop.example/p/1",)
    assert claim_due(store, DAY, 10) == []  # sending rows are not claimed twice
    assert next_due(store) == DAY + timedelta(hours=2)
    assert [c.message_key for c in claim_due(store, DAY + timedelta(hours=2), 10)] == ["c1:late:s1"]
    with pytest.raises(InvalidInputError, match="limit"):
        claim_due(store, DAY, 0)


def test_only_a_scheduled_or_running_campaigns_messages_are_claimed(store: Store) -> None:
    states = {"c1": "paused", "c2": "running", "c3": "finished", "c4": "draft", "c5": "scheduled"}
    for campaign, state in states.items():
        store.sql(
            "INSERT INTO campaigns VALUES (?, ?, '{}', ?, ?, 'test', ?)",
            [campaign, campaign, state, DAY, DAY],
        )
    enqueue(store, [row(c, campaign=c) for c in states], at=DAY)
    assert sorted(c.campaign_id for c in claim_due(store, DAY, 10)) == ["c2", "c5"]


def test_retry_backs_off_exponentially_and_honours_retry_after(store: Store) -> None:
    assert retry_at(DAY, 1) == DAY + timedelta(seconds=30)
    assert retry_at(DAY, 3) == DAY + timedelta(seconds=120)
    assert retry_at(DAY, 30) == DAY + timedelta(hours=1)  # capped
    assert retry_at(DAY, 1, retry_after_s=90) == DAY + timedelta(seconds=90)
    enqueue(store, [row("a")], at=DAY)
    (claimed,) = claim_due(store, DAY, 1)
    assert mark_retry(store, claimed.message_key, "429", at=DAY, attempts=claimed.attempts) == 1
    assert claim_due(store, DAY + timedelta(seconds=29), 1) == []
    (again,) = claim_due(store, DAY + timedelta(seconds=30), 1)
    assert again.attempts == 2


def test_recovered_rows_are_resent_with_their_key_and_counted(store: Store) -> None:
    enqueue(store, [row("a"), row("b")], at=DAY)
    claim_due(store, DAY, 10)
    mark_sent(store, "c1:a:s1", at=DAY)
    assert recover_sending(store, at=DAY) == 1  # b was being handed over when the sender died
    assert states(store) == {"c1:a:s1": "sent", "c1:b:s1": "unknown"}
    (resend,) = claim_due(store, DAY, 10)
    assert (resend.message_key, resend.attempts, resend.resends) == ("c1:b:s1", 2, 1)
    mark_sent(store, "c1:b:s1", at=DAY)
    counts = outbox_counts(store)
    assert counts["sent"] == 2 and counts["unknown"] == 0 and counts["resent"] == 1
    assert set(counts) >= {"queued", "sending", "sent", "failed", "suppressed", "unknown"}


def test_cap_counts_per_shop_day_week_and_channel(store: Store) -> None:
    # Tuesday 2026-11-03 in Seoul; Monday the 2nd starts the week
    tuesday = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
    rows = [
        row("a", step="s1", due=tuesday),
        row("a", step="s2", due=tuesday, channel="sms"),
        row("a", step="s3", due=tuesday - timedelta(days=1)),  # Monday: this week, not today
        row("a", step="s4", due=datetime(2026, 11, 1, 14, 0, tzinfo=UTC)),  # Sunday 23:00 KST: last week
        row("a", step="s5", due=datetime(2026, 11, 2, 16, 0, tzinfo=UTC)),  # Tuesday 01:00 KST: today
        row("a", step="s6", due=tuesday, kind="informational"),  # not advertising: never capped
        row("b", due=tuesday),
    ]
    enqueue(store, rows, at=DAY)
    enqueue(
        store,
        [
            OutboxRow(
                "x",
                "c1",
                "s9",
                "user:a",
                "email",
                "email",
                "advertising",
                tuesday,
                "t",
                state="suppressed",
                reason="cap",
            )
        ],
        at=DAY,
    )  # suppressed: not counted
    counts = cap_counts(store, date(2026, 11, 3))
    found = {(p, c): (d, w) for p, c, d, w in zip(*counts.to_pydict().values(), strict=True)}
    assert found == {
        ("user:a", "email"): (2, 3),
        ("user:a", "sms"): (1, 1),
        ("user:a", ALL_CHANNELS): (3, 4),
        ("user:b", "email"): (1, 1),
        ("user:b", ALL_CHANNELS): (1, 1),
    }
    only_b = cap_counts(store, date(2026, 11, 3), profile_ids=["user:b"])
    assert set(only_b.column("profile_id").to_pylist()) == {"user:b"}


# -- the sender --------------------------------------------------------------------------------


def sender(store: Store, clock: FixedClock, channel: object, contacts: object, **kw: object) -> OutboxSender:
    return OutboxSender(store, channel, contacts, clock=clock, **kw)  # type: ignore[arg-type]


def book(*who: str) -> MemoryContacts:
    return MemoryContacts({f"user:{w}": {"email": f"{w}@shop.example", "sms": "01012345678"} for w in who})


def test_the_sender_hands_over_with_the_key_and_suppresses_the_ineligible(
    store: Store, clock: FixedClock
) -> None:
    for who in ("a", "b", "nomail"):
        consent(store, who)
    consent(store, "gone", at=DAY - timedelta(days=30))
    consent(store, "gone", granted=False, at=DAY - timedelta(minutes=1))  # withdrew a minute ago
    enqueue(
        store,
        [row(w) for w in ("a", "b", "nomail", "gone", "never")] + [row("info", kind="informational")],
        at=DAY,
    )
    channel = MemoryChannel()
    work = sender(store, clock, channel, book("a", "b", "gone", "never", "info"), batch=2)
    stats = work.drain()
    assert sorted(m.to for m in channel.sent) == ["a@shop.example", "b@shop.example", "info@shop.example"]
    keys = {m.key for m in channel.sent}
    assert keys == {"c1:a:s1", "c1:b:s1", "c1:info:s1"}
    sent = next(m for m in channel.sent if m.key == "c1:a:s1")
    assert (
        sent.subject == "다시 만나요" and sent.text.startswith("(광고)") and sent.data["campaign_id"] == "c1"
    )
    reasons = dict(store.sql("SELECT message_key, reason FROM outbox WHERE state = 'suppressed'"))
    assert reasons == {"c1:gone:s1": "withdrawn", "c1:never:s1": "no_consent", "c1:nomail:s1": "unreachable"}
    assert stats.sent == 3 and stats.suppressed == {"withdrawn": 1, "no_consent": 1, "unreachable": 1}
    assert stats.rounds == 3 and stats.facts()["sent"] == 3


def test_an_opt_out_recorded_after_planning_stops_the_message(store: Store, clock: FixedClock) -> None:
    consent(store, "a")
    consent(store, "b")
    enqueue(store, [row("a"), row("b")], at=DAY)
    channel = MemoryChannel()
    work = sender(store, clock, channel, book("a", "b"), batch=1)
    assert work.run_once() == 1
    assert [m.key for m in channel.sent] == ["c1:a:s1"]
    clock.advance(timedelta(seconds=20))  # b clicks unsubscribe; the next round is seconds later
    consent(store, "b", granted=False, at=clock.now())
    work.drain()
    assert [m.key for m in channel.sent] == ["c1:a:s1"]
    assert states(store)["c1:b:s1"] == "suppressed"


def test_night_defers_sms_to_eight_but_not_email(store: Store) -> None:
    night = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)  # 22:00 in Seoul
    clock = FixedClock(night)
    for who in ("a", "b", "owl"):
        consent(store, who, "sms")
        consent(store, who)
    consent(store, "owl", "sms", purpose="night_advertising")
    enqueue(
        store,
        [row("a", channel="sms", due=night), row("owl", channel="sms", due=night), row("b", due=night)],
        at=night,
    )
    channel = MemoryChannel()
    sender(store, clock, channel, book("a", "b", "owl")).drain()
    assert {m.key for m in channel.sent} == {"c1:owl:s1", "c1:b:s1"}  # night consent; e-mail is exempt
    moved = store.sql("SELECT state, due_at, reason FROM outbox WHERE message_key = 'c1:a:s1'")
    eight = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)  # 08:00 in Seoul the next morning
    assert moved == [("queued", eight, "night_deferred")]
    clock.advance(eight - night)
    sender(store, clock, channel, book("a", "b", "owl")).drain()
    assert "c1:a:s1" in {m.key for m in channel.sent}


class Flaky:
    """Answers from a script of outcomes per key: ``retry``, ``reject``, ``cut``, ``down``, ``boom``
    or ``sent``."""

    formats = frozenset({"email"})

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.calls: list[str] = []

    def send(self, message: Message) -> Receipt:
        self.calls.append(message.key)
        step = self.script.get(message.key, ["sent"]).pop(0) if self.script.get(message.key) else "sent"
        if step == "retry":
            return Receipt(message.key, "retry", reason="429 too many", retry_after_s=60)
        if step == "reject":
            return Receipt(message.key, "rejected", reason="no such mailbox")
        if step == "cut":
            raise HandOverUnknownError("the connection broke after DATA")
        if step == "down":
            raise ChannelError("provider down before the hand-over")
        if step == "boom":
            raise RuntimeError("the adapter broke mid-way")
        return Receipt(message.key, "sent", provider_id=f"p-{message.key}")

    def close(self) -> None:
        return None


def test_retries_rejections_and_cut_hand_overs(store: Store, clock: FixedClock) -> None:
    for who in ("r", "x", "u", "d", "b", "g"):
        consent(store, who)
    enqueue(store, [row(w) for w in ("r", "x", "u", "d", "b", "g")], at=DAY)
    channel = Flaky(
        {
            "c1:r:s1": ["retry"],
            "c1:x:s1": ["reject"],
            "c1:u:s1": ["cut"],
            "c1:d:s1": ["down"],
            "c1:b:s1": ["boom"],
            "c1:g:s1": ["retry", "retry", "retry"],
        }
    )
    work = sender(store, clock, channel, book("r", "x", "u", "d", "b", "g"), max_attempts=3)
    work.drain()
    got = {
        k: (s, a, r) for k, s, a, r in store.sql("SELECT message_key, state, attempts, resends FROM outbox")
    }
    assert got["c1:u:s1"] == ("unknown", 1, 0)  # resent after the backoff, not at once
    assert got["c1:b:s1"] == ("unknown", 1, 0)  # an adapter that broke may have handed it over
    assert got["c1:x:s1"][0] == "failed"
    assert got["c1:r:s1"][0] == got["c1:d:s1"][0] == got["c1:g:s1"][0] == "queued"
    waits = dict(store.sql("SELECT message_key, next_attempt_at FROM outbox WHERE state = 'queued'"))
    assert waits["c1:r:s1"] == DAY + timedelta(seconds=60)  # the provider's Retry-After beats 30 s
    assert waits["c1:d:s1"] == DAY + timedelta(seconds=30)
    cut_wait = store.scalar("SELECT next_attempt_at FROM outbox WHERE message_key = 'c1:u:s1'")
    assert cut_wait == DAY + timedelta(seconds=30)
    events = store.sql("SELECT event_id, kind, profile_id FROM message_events")
    assert events == [("c1:x:s1:failed", "failed", "user:x")]
    for _ in range(3):
        clock.advance(timedelta(minutes=5))
        work.drain()
    # the cut one was claimed again after the backoff and resent with its key
    assert channel.calls.count("c1:u:s1") == 2
    got = {k: (s, a) for k, s, a in store.sql("SELECT message_key, state, attempts FROM outbox")}
    assert got["c1:u:s1"] == ("sent", 2)
    resent = dict(store.sql("SELECT message_key, resends FROM outbox WHERE resends > 0"))
    assert resent == {"c1:u:s1": 1, "c1:b:s1": 1}
    assert got["c1:r:s1"] == ("sent", 2) and got["c1:d:s1"] == ("sent", 2)
    assert got["c1:g:s1"] == ("failed", 3)  # three refusals for now: given up
    reason = store.scalar("SELECT reason FROM outbox WHERE message_key = 'c1:g:s1'")
    assert reason.startswith("gave up after 3 attempts")
    assert outbox_counts(store)["failed"] == 2


def test_no_channel_for_a_format_fails_it_with_the_reason(store: Store, clock: FixedClock) -> None:
    consent(store, "a", "kakao")
    enqueue(store, [row("a", channel="kakao", fmt="brand")], at=DAY)
    sender(store, clock, MemoryChannel(formats=frozenset({"email"})), book("a")).drain()
    assert store.sql("SELECT state, reason FROM outbox") == [
        ("failed", "no channel is configured for 'brand' messages")
    ]


def test_a_stop_returns_the_rest_of_the_batch_to_the_queue(store: Store, clock: FixedClock) -> None:
    for who in "abcd":
        consent(store, who)
    enqueue(store, [row(w) for w in "abcd"], at=DAY)
    holder: list[OutboxSender] = []

    class StopsAfterTwo(MemoryChannel):
        def send(self, message: Message) -> Receipt:
            receipt = super().send(message)
            if len(self.sent) == 2:
                holder[0].stop()  # SIGTERM arrives while the second message is in flight
            return receipt

    channel = StopsAfterTwo()
    work = sender(store, clock, channel, book(*"abcd"), batch=4)
    holder.append(work)
    work.run_forever(idle_s=0.01)
    assert work.stats.sent == 2 and work.stats.released == 2
    assert sorted(states(store).values()) == ["queued", "queued", "sent", "sent"]
    assert store.sql("SELECT attempts FROM outbox WHERE state = 'queued'") == [(0,), (0,)]
    # the next sender sends the rest, nothing twice
    sender(store, clock, channel, book(*"abcd")).drain()
    assert sorted(m.key for m in channel.sent) == [f"c1:{w}:s1" for w in "abcd"]


def test_the_contact_file_and_push_subscriptions_give_addresses(store: Store, tmp_path: Path) -> None:
    hasher = IdentifierHasher(b"k" * 32)
    contacts = tmp_path / "members.csv"
    contacts.write_text("아이디,이메일,휴대폰\nkim,kim@shop.example,010-1111-2222\n,guest@shop.example,\n")
    guest = f"email:{hasher.email('guest@shop.example')}"
    store.sql(
        "INSERT INTO profiles VALUES ('user:kim', 'user:kim', 'user'), ('anon:a1', 'user:kim', 'anon'), "
        "(?, ?, 'email')",
        [guest, guest],
    )
    store.sql(
        "INSERT INTO push_subscriptions (endpoint, identifier, p256dh, auth, created_at, revoked_at) VALUES ('https://push.example/1', 'anon:a1', 'P', 'A', ?, NULL), "
        "('https://push.example/0', 'anon:a1', 'P0', 'A0', ?, NULL)",
        [DAY, DAY - timedelta(days=1)],
    )
    from_file = FileContacts(store, contacts, hasher=hasher)
    assert from_file.address("user:kim", "email") == "kim@shop.example"
    assert from_file.address("user:kim", "sms") == "010-1111-2222"
    assert from_file.address(guest, "email") == "guest@shop.example"
    assert from_file.address(guest, "sms") is None
    assert from_file.address("user:nobody", "email") is None
    push = PushSubscriptions(store)
    found = push.address("user:kim", "web_push")
    assert found is not None and orjson.loads(found) == {
        "endpoint": "https://push.example/1",
        "keys": {"p256dh": "P", "auth": "A"},
    }
    store.sql("UPDATE push_subscriptions SET revoked_at = ? WHERE endpoint = 'https://push.example/1'", [DAY])
    older = push.address("user:kim", "web_push")
    assert older is not None and orjson.loads(older)["endpoint"] == "https://push.example/0"
    chain = ChainedContacts([from_file, push])
    assert chain.address("user:kim", "email") == "kim@shop.example"
    assert chain.address("user:kim", "web_push") == older
    assert chain.address("user:kim", "app_push") is None


def test_a_failed_round_returns_its_rows_and_the_sender_goes_on(store: Store, clock: FixedClock) -> None:
    consent(store, "a")
    enqueue(store, [row("a")], at=DAY)
    holder: list[OutboxSender] = []

    class Flickering:
        calls = 0

        def address(self, profile_id: str, channel: str) -> str | None:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("the contact lookup timed out")
            holder[0].stop()
            return "a@shop.example"

    channel = MemoryChannel()
    work = sender(store, clock, channel, Flickering())
    holder.append(work)
    work.run_forever(idle_s=0.01)
    assert [m.key for m in channel.sent] == ["c1:a:s1"]
    assert store.sql("SELECT state, attempts FROM outbox") == [("sent", 1)]  # the failed round did not count


def test_a_write_conflict_when_recording_is_tried_again(
    store: Store, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Another connection (the server's planner, an erasure) holds the row in a transaction of
    its own while the round is recorded: the sender tries again once it is done."""
    consent(store, "a")
    enqueue(store, [row("a")], at=DAY)
    other = store.reader()
    timers: list[threading.Timer] = []

    class Busy:
        def address(self, profile_id: str, channel: str) -> str | None:
            other.sql("BEGIN TRANSACTION")
            other.sql("UPDATE outbox SET state = state WHERE message_key = 'c1:a:s1'")
            timers.append(threading.Timer(0.02, lambda: other.sql("ROLLBACK")))
            timers[0].start()
            return "a@shop.example"

    channel = MemoryChannel()
    with caplog.at_level("WARNING", logger="shopmind.activation"):
        sender(store, clock, channel, Busy()).run_once()
    timers[0].join()
    other.close()
    assert [m.key for m in channel.sent] == ["c1:a:s1"]
    assert store.sql("SELECT state FROM outbox") == [("sent",)]
    assert "trying again" in caplog.text  # the first try met the other transaction


def test_a_campaign_paused_mid_batch_stops_within_ten_messages(store: Store, clock: FixedClock) -> None:
    """The batch was claimed while the campaign ran; paused while the batch is being handed over
    (a slow, rate-limited gateway can take minutes for one), the rest of it waits in the queue."""
    store.sql("INSERT INTO campaigns VALUES ('c1', 'c1', '{}', 'running', ?, 'test', ?)", [DAY, DAY])
    who = [f"m{i:02d}" for i in range(30)]
    for w in who:
        consent(store, w)
    enqueue(store, [row(w) for w in who], at=DAY)

    class PausedAtTheThird(MemoryChannel):
        def send(self, message: Message) -> Receipt:
            receipt = super().send(message)
            if len(self.sent) == 3:  # the marketer presses pause
                store.sql("UPDATE campaigns SET state = 'paused' WHERE campaign_id = 'c1'")
            return receipt

    channel = PausedAtTheThird()
    work = sender(store, clock, channel, book(*who), batch=30)
    work.drain()
    assert len(channel.sent) == 10  # the state is read again every 10 messages
    assert sorted(states(store).values()) == ["queued"] * 20 + ["sent"] * 10
    assert store.sql("SELECT DISTINCT attempts FROM outbox WHERE state = 'queued'") == [(0,)]
    store.sql("UPDATE campaigns SET state = 'running' WHERE campaign_id = 'c1'")  # resumed
    sender(store, clock, channel, book(*who), batch=30).drain()
    assert sorted(m.key for m in channel.sent) == sorted(f"c1:{w}:s1" for w in who)
