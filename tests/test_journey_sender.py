"""The sender advances the journeys: real ``shopmind worker --once`` turns on a small workspace
whose channels are the built-in default (every channel to ``outbox/<channel>.jsonl``), its clock
moved by ``SHOPMIND_CLOCK_SHIFT_FILE``. A two-step campaign sends its second step only to the
member who clicked and did not buy; an abandoned-cart campaign messages the customer whose cart
was left for an hour, and not the one who ordered within it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shopmind.activation import (
    campaign_settings,
    message_key,
    new_campaign,
    read_outbox_file,
    schedule_stored,
)
from shopmind.store import ConsentEntry, Store, Workspace, record_consents
from tests.campaign_rows import add_orders
from tests.workers import run_shopmind

SEOUL = ZoneInfo("Asia/Seoul")
MIN = timedelta(minutes=1)
H = timedelta(hours=1)


def _tomorrow_at(hour: int, minute: int) -> datetime:
    """Tomorrow at ``hour:minute`` in Seoul (a daytime moment, whenever the test runs)."""
    day = datetime.now(SEOUL).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SEOUL).astimezone(UTC)


class Clock:
    """The worker's clock: moved to a moment by writing the shift file (seconds from now)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def move_to(self, at: datetime) -> None:
        self.path.write_text(str((at - datetime.now(UTC)).total_seconds()))


def _shop(tmp_path: Path, who: str, at: datetime) -> tuple[Path, Path]:
    """A workspace whose members ``who`` gave e-mail consent, and the contact file with their addresses."""
    workspace = tmp_path / "shop"
    Workspace.init(workspace)
    contacts = tmp_path / "members.csv"
    contacts.write_text("아이디,이메일\n" + "".join(f"{w},{w}@shop.example\n" for w in who))
    with Workspace(workspace).open_store() as store:
        for w in who:
            store.sql("INSERT INTO profiles VALUES (?, ?, 'user')", [f"user:{w}", f"user:{w}"])
            # a customer-intelligence run found them dormant VIPs (the win-back audience)
            store.sql("INSERT INTO segment_members VALUES ('r1', 'dormant_vip', ?, ?)", [f"user:{w}", at - H])
        store.sql(
            "INSERT INTO job_runs VALUES ('r1', 'customer_intelligence', ?, ?, ?, 'ok')",
            [at - H, at - H, at - H],
        )
        record_consents(
            store,
            [ConsentEntry(f"user:{w}", "email", True, at - timedelta(days=3), "signup_form") for w in who],
        )
    return workspace, contacts


def _schedule(workspace: Path, definition: dict[str, Any], at: datetime) -> str:
    ws = Workspace(workspace)
    with ws.open_store() as store:
        stored = new_campaign(store, definition, created_by="test", now=at)
        schedule_stored(store, campaign_settings(ws), stored.campaign_id, now=at)
        return stored.campaign_id


def _sent(workspace: Path) -> list[dict[str, Any]]:
    path = workspace / "outbox" / "email.jsonl"
    return list(read_outbox_file(path)) if path.exists() else []


def _events(store: Store, rows: list[tuple[str, str, str, str, datetime]]) -> None:
    """message_events: (campaign, step, profile, kind, at), keyed like the sender's messages."""
    for n, (cid, step, profile, kind, at) in enumerate(rows):
        key = store.scalar(
            "SELECT message_key FROM outbox WHERE campaign_id = ? AND step = ? AND profile_id = ?",
            [cid, step, profile],
        )
        store.sql(
            "INSERT INTO message_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [f"e{n}", key, cid, step, profile, kind, at, at],
        )


def test_the_worker_sends_a_later_step_only_to_who_clicked_and_did_not_buy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shift = tmp_path / "clock-shift"
    monkeypatch.setenv("SHOPMIND_CLOCK_SHIFT_FILE", str(shift))
    clock = Clock(shift)
    start = _tomorrow_at(11, 30)
    noon = _tomorrow_at(12, 0)
    workspace, contacts = _shop(tmp_path, "ab", start)
    cid = _schedule(
        workspace,
        {
            "name": "다시 만나요",
            "audience": {"kind": "rfm", "segments": ["dormant_vip"]},
            "steps": [
                {"id": "s1", "messages": {"email": {"subject": "다시 만나요", "text": "새 상품이 왔어요"}}},
                {
                    "id": "s2",
                    "wait_hours": 48,
                    "when": "clicked_not_bought",
                    "messages": {"email": {"subject": "쿠폰을 드려요", "text": "쿠폰을 드려요"}},
                },
            ],
            "channel": {"mode": "fixed", "channels": ["email"]},
            "send_time": {"mode": "fixed", "hour": 12},
            "holdout": 0.0,
        },
        start,
    )
    with Workspace(workspace).open_store(read_only=True) as store:  # at step 1 since it goes
        assert store.sql(
            "SELECT profile_id, step, step_at FROM campaign_members WHERE campaign_id = ? ORDER BY 1", [cid]
        ) == [("user:a", "s1", noon), ("user:b", "s1", noon)]
    clock.move_to(noon + 10 * MIN)
    first = run_shopmind("worker", "-w", str(workspace), "--contacts", str(contacts), "--once")
    assert first.returncode == 0, first.stderr
    assert sorted(m["to"] for m in _sent(workspace)) == ["a@shop.example", "b@shop.example"], first.stderr
    with Workspace(workspace).open_store() as store:
        _events(
            store,
            [
                (cid, "s1", "user:a", "clicked", noon + 30 * MIN),
                (cid, "s1", "user:b", "clicked", noon + 30 * MIN),
            ],
        )
        add_orders(store, [("o1", "b", noon + H, 39_000.0)])  # member b bought
    # one worker turn per moment (``--once``: the journeys once, then what is due): no race with
    # a running worker's start-up on a busy machine
    clock.move_to(noon + 10 * MIN + 49 * H)  # step 2 fell due for who clicked and did not buy
    turn = run_shopmind("worker", "-w", str(workspace), "--contacts", str(contacts), "--once")
    assert turn.returncode == 0, turn.stderr
    assert len(_sent(workspace)) == 2  # queued for its send hour, the next noon
    clock.move_to(noon + 10 * MIN + 72 * H)  # its send hour
    last = run_shopmind("worker", "-w", str(workspace), "--contacts", str(contacts), "--once")
    assert last.returncode == 0, last.stderr
    log = turn.stderr + last.stderr
    to = [m["to"] for m in _sent(workspace)]
    assert sorted(to) == ["a@shop.example", "a@shop.example", "b@shop.example"], log
    assert "journeys: 0 entered, 1 queued" in log, log
    with Workspace(workspace).open_store(read_only=True) as store:
        steps = store.sql(
            "SELECT profile_id, step, state FROM outbox WHERE campaign_id = ? ORDER BY 1, 2", [cid]
        )
        exits = store.sql(
            "SELECT profile_id, step, exit_reason FROM campaign_members WHERE campaign_id = ? ORDER BY 1",
            [cid],
        )
    assert steps == [("user:a", "s1", "sent"), ("user:a", "s2", "sent"), ("user:b", "s1", "sent")]
    assert exits[0][:2] == ("user:a", "s2") and exits[1][2] == "purchased", exits


def test_the_worker_messages_an_abandoned_cart_an_hour_on_and_not_who_ordered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shift = tmp_path / "clock-shift"
    monkeypatch.setenv("SHOPMIND_CLOCK_SHIFT_FILE", str(shift))
    clock = Clock(shift)
    cart = _tomorrow_at(11, 20)
    workspace, contacts = _shop(tmp_path, "ac", cart)
    cid = _schedule(
        workspace,
        {
            "name": "장바구니",
            "audience": {"kind": "segment", "segment": "all"},
            "trigger": {
                "kind": "event",
                "event": "add_to_cart",
                "unless": "order_completed",
                "after_hours": 1,
            },
            "steps": [{"id": "s1", "messages": {"email": {"subject": "담아두신 상품", "text": "기다려요"}}}],
            "channel": {"mode": "fixed", "channels": ["email"]},
            "send_time": {"mode": "fixed", "hour": 13},
            "holdout": 0.0,
            "start_at": (cart - 24 * H).isoformat(),
        },
        cart - 24 * H,
    )
    with Workspace(workspace).open_store() as store:
        for n, (user, kind, at) in enumerate(
            [
                ("a", "add_to_cart", cart),
                ("c", "add_to_cart", cart),
                ("c", "order_completed", cart + 20 * MIN),
            ]
        ):
            store.sql(
                "INSERT INTO events (message_id, type, user_id, event_time, received_at, source) "
                "VALUES (?, ?, ?, ?, ?, 'test')",
                [f"m{n}", kind, user, at, at],
            )
    log = ""
    for moment in (cart + MIN, cart + 61 * MIN, _tomorrow_at(13, 1)):
        # before the hour is up nobody enters; at +61 min a's cart was left an hour (a enters,
        # queued for 13:00; c ordered within it); at the send hour a's message goes
        clock.move_to(moment)
        turn = run_shopmind("worker", "-w", str(workspace), "--contacts", str(contacts), "--once")
        assert turn.returncode == 0, turn.stderr
        log += turn.stderr
        if moment < _tomorrow_at(13, 0):
            assert _sent(workspace) == [], turn.stderr
    assert [(m["to"], m["key"]) for m in _sent(workspace)] == [
        ("a@shop.example", message_key(cid, "s1", "user:a"))
    ], log
    assert "journeys: 1 entered, 1 queued" in log, log
    with Workspace(workspace).open_store(read_only=True) as store:
        members = store.sql("SELECT profile_id, step FROM campaign_members WHERE campaign_id = ?", [cid])
    assert members == [("user:a", "s1")]


def test_a_failing_journey_is_logged_and_counted_and_the_others_and_the_sending_go_on(tmp_path: Path) -> None:
    """In process: a campaign whose stored definition no longer parses fails its turn; the
    abandoned cart beside it still brings its customer in; a sender whose journeys raise still
    sends the outbox and counts the failure."""
    from shopmind.activation import (
        CampaignSettings,
        JourneysTurn,
        MemoryChannel,
        MemoryContacts,
        OutboxSender,
        holdout_key,
        link_key,
        load_channel_config,
        run_journeys,
    )
    from shopmind.core import FixedClock
    from shopmind.store import enqueue
    from tests.campaign_rows import email_ad

    at = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # 12:00 in Seoul
    settings = CampaignSettings(holdout_key(b"k" * 32), link_key(b"k" * 32), load_channel_config(tmp_path))
    with Store(":memory:") as store:
        store.sql(
            "INSERT INTO campaigns VALUES ('broken', 'broken', '{\"name\": 1}', 'running', ?, 'test', ?)",
            [at, at],
        )
        stored = new_campaign(
            store,
            {
                "name": "장바구니",
                "audience": {"kind": "segment", "segment": "all"},
                "trigger": {
                    "kind": "event",
                    "event": "add_to_cart",
                    "unless": "order_completed",
                    "after_hours": 1,
                },
                "steps": [
                    {"id": "s1", "messages": {"email": {"subject": "담아두신 상품", "text": "기다려요"}}}
                ],
                "start_at": (at - 24 * H).isoformat(),
            },
            created_by="test",
            now=at - 24 * H,
        )
        store.sql("UPDATE campaigns SET state = 'running' WHERE campaign_id = ?", [stored.campaign_id])
        store.sql(
            "INSERT INTO events (message_id, type, user_id, event_time, received_at, source) "
            "VALUES ('m1', 'add_to_cart', 'a', ?, ?, 'test')",
            [at - 2 * H, at - 2 * H],
        )
        turn = run_journeys(store, settings, now=at)
        assert (turn.campaigns, turn.entered, turn.errors) == (1, 1, 1)  # the broken one: an error, not a run

        def boom(now: datetime) -> JourneysTurn:
            raise RuntimeError("the campaigns table is gone")

        enqueue(store, [email_ad("b", at - MIN)], at=at)
        record_consents(store, [ConsentEntry("user:b", "email", True, at - 24 * H, "signup_form")])
        channel = MemoryChannel()
        sender = OutboxSender(
            store,
            channel,
            MemoryContacts({"user:b": {"email": "b@shop.example"}}),
            clock=FixedClock(at),
            journeys=boom,
        )
        stats = sender.drain()
        assert (stats.sent, stats.journey_turns, stats.journey_errors) == (1, 1, 1)
        assert stats.facts()["journey_errors"] == 1


def test_the_running_sender_turns_the_journeys_every_interval() -> None:
    """``run_forever`` (what ``worker`` and ``serve --send`` run) turns the journeys at start and
    again after each interval, between its sending rounds."""
    import threading

    from shopmind.activation import JourneysTurn, MemoryChannel, MemoryContacts, OutboxSender
    from shopmind.core import FixedClock

    at = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
    turns: list[datetime] = []
    enough = threading.Event()

    def journeys(now: datetime) -> JourneysTurn:
        turns.append(now)
        if len(turns) >= 3:
            enough.set()
        return JourneysTurn(campaigns=1, queued=1)

    with Store(":memory:") as store:
        sender = OutboxSender(
            store,
            MemoryChannel(),
            MemoryContacts({}),
            clock=FixedClock(at),
            journeys=journeys,
            journey_interval=0.05,
        )
        runner = threading.Thread(target=sender.run_forever, kwargs={"idle_s": 0.01})
        runner.start()
        try:
            assert enough.wait(60), turns
        finally:
            sender.stop()
            runner.join(60)
    assert not runner.is_alive()
    assert turns[:3] == [at, at, at] and sender.stats.journey_turns >= 3 and sender.stats.journey_queued >= 3
