"""Erasing a customer erases what campaigns kept of them too (issue 19 on top of issue 16): the
messages in the outbox (their text may name them), their message events, their places in
campaigns and their browsers' Web Push subscriptions; someone else's rows stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson

from shopmind.store import (
    ERASED_MESSAGE_TABLES,
    Outcome,
    Store,
    Workspace,
    claim_due,
    enqueue,
    record_outcomes,
)
from tests.campaign_rows import email_ad
from tests.test_erasure import kim_needles, seed
from tests.test_privacy import holding, shopmind

from .conftest import NOW


def _campaign_rows(store: Store) -> None:
    rows = [email_ad(who, NOW) for who in ("kim-7q", "lee-3x")]
    enqueue(store, rows, at=NOW)
    claim_due(store, NOW, 10)
    record_outcomes(
        store,
        [Outcome(r.message_key, "failed", "mailbox full", event="failed") for r in rows],
        at=NOW,
    )
    for who in ("kim-7q", "lee-3x"):
        store.sql(
            "INSERT INTO campaign_members VALUES ('c1', ?, 'treated', ?, 's1', ?, NULL, NULL)",
            [f"user:{who}", NOW, NOW],
        )
        store.sql(
            "INSERT INTO push_subscriptions (endpoint, identifier, p256dh, auth, created_at, revoked_at) VALUES (?, ?, 'P', 'A', ?, NULL)",
            [f"https://push.example/{who}", f"anon:anon-{who}", NOW - timedelta(days=1)],
        )


def _per_table(store: Store, who: str) -> dict[str, int]:
    return {
        "message_events": store.scalar(
            "SELECT count(*) FROM message_events WHERE profile_id = ?", [f"user:{who}"]
        ),
        "outbox": store.scalar("SELECT count(*) FROM outbox WHERE profile_id = ?", [f"user:{who}"]),
        "campaign_members": store.scalar(
            "SELECT count(*) FROM campaign_members WHERE profile_id = ?", [f"user:{who}"]
        ),
        "push_subscriptions": store.scalar(
            "SELECT count(*) FROM push_subscriptions WHERE identifier = ?", [f"anon:anon-{who}"]
        ),
    }


def test_an_erasure_deletes_the_customers_messages_events_memberships_and_subscriptions(
    tmp_path: Path,
) -> None:
    ws = Workspace.init(tmp_path / "shop")
    seed(ws)
    with ws.open_store() as store:
        _campaign_rows(store)
        kim_before, lee_before = _per_table(store, "kim-7q"), _per_table(store, "lee-3x")
    # Kim is in every campaign table: the test proves something
    assert all(kim_before[t] > 0 for t in ERASED_MESSAGE_TABLES), kim_before
    assert all(lee_before.values())

    done = shopmind("customers", "erase", "user:kim-7q", "--yes", "--json", "-w", str(ws.path))
    assert done.returncode == 0, done.stderr
    deleted = orjson.loads(done.stdout)["deleted"]
    assert {t: deleted[t] for t in ERASED_MESSAGE_TABLES} == kim_before
    with ws.open_store(read_only=True) as store:
        assert _per_table(store, "kim-7q") == dict.fromkeys(ERASED_MESSAGE_TABLES, 0)
        assert _per_table(store, "lee-3x") == lee_before
        assert holding(store, kim_needles(ws.hasher())) == []
        assert store.scalar("SELECT count(*) FROM outbox WHERE contains(body_text, 'kim-7q')") == 0


def test_an_erasure_removes_the_customers_lines_from_the_workspaces_outbox_files(tmp_path: Path) -> None:
    """The file channel's record of what it sent holds addresses and texts: the erased customer's
    lines go (a resent one twice, a torn one too), everyone else's stay as they were, in order,
    and the channel still appends to the same file afterwards."""
    from shopmind.activation import Message, OutboxFileChannel, read_outbox_file

    ws = Workspace.init(tmp_path / "shop")
    seed(ws)
    with ws.open_store() as store:
        _campaign_rows(store)
    outbox = ws.path / "outbox" / "email.jsonl"
    channel = OutboxFileChannel(outbox, fsync=False)

    def mail(who: str) -> Message:
        return Message(f"c1:user:{who}:s1", "email", f"{who}@mail.example", f"(광고) {who}님, 다시 만나요")

    for who in ("lee-3x", "kim-7q", "lee-3x", "kim-7q"):  # Kim's sent twice (an unknown hand-over)
        channel.send(mail(who))
    # a line Kim's writer began when it was killed, ended by the next writer
    with open(outbox, "ab") as fh:
        fh.write(b'{"key": "c1:user:kim-7q:s1", "format": "email", "to": "kim-7q@ma\n')
    channel.send(mail("lee-3x"))
    before = outbox.read_bytes()

    done = shopmind("customers", "erase", "user:kim-7q", "--yes", "--json", "-w", str(ws.path))
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["outbox_lines_removed"] == 3
    after = outbox.read_bytes()
    assert b"kim-7q" not in after
    assert after.splitlines() == [line for line in before.splitlines() if b"kim-7q" not in line]
    assert [m["to"] for m in read_outbox_file(outbox)] == ["lee-3x@mail.example"] * 3
    channel.send(mail("park-1z"))  # the channel's open file is the same file: nothing lost
    assert [m["to"] for m in read_outbox_file(outbox)][-1] == "park-1z@mail.example"
    assert outbox.stat().st_mode & 0o777 == 0o600
    channel.close()
