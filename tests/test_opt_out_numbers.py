"""An 080 opt-out reply stops text-message advertising to that number even when shopmind never
linked the number to the customer: the server's sender (``shopmind serve --send``) takes the
number from the shop's contact file at hand-over, hashes it, and finds the withdrawal the
``POST /v1/opt-outs`` recorded under that hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shopmind.activation import read_outbox_file
from shopmind.store import ConsentEntry, OutboxRow, Workspace, enqueue, record_consents
from tests.serving import Server
from tests.workers import wait_for


def _row(key: str, who: str, due: datetime, kind: str = "advertising") -> OutboxRow:
    return OutboxRow(key, "c1", "s1", f"user:{who}", "sms", "sms", kind, due, f"(광고) 봄날상점 {who}님 쿠폰")


def test_an_080_reply_from_an_unlinked_number_stops_the_next_text_ad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shift = tmp_path / "clock-shift"
    monkeypatch.setenv("SHOPMIND_CLOCK_SHIFT_FILE", str(shift))
    server = Server(tmp_path / "shop")
    contacts = tmp_path / "members.csv"
    contacts.write_text("아이디,휴대폰\na,010-1234-5678\nb,010-9876-5432\n")
    now = datetime.now(UTC)
    # due at 11:00 shop time tomorrow or later: never at night, whatever time the test runs
    due = (now + timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)
    with Workspace(server.workspace).open_store() as store:
        record_consents(
            store,
            [ConsentEntry(f"user:{w}", "sms", True, now - timedelta(days=3), "signup_form") for w in "ab"],
        )
        enqueue(
            store,
            [
                _row("c1:a:s1", "a", due),
                _row("c1:a:n1", "a", due, "informational"),  # not advertising: the opt-out does not stop it
                _row("c1:b:s1", "b", due),
            ],
            at=now,
        )
        # the store has never seen a's number: nothing links it to user:a
        assert store.scalar("SELECT count(*) FROM profiles WHERE identifier LIKE 'phone:%'") == 0
    server.args = ("--send", "--contacts", str(contacts), "--no-recommender", "--run-at", "off")
    server.start()
    outbox = server.workspace / "outbox" / "sms.jsonl"
    try:
        with server.client(server.secret_key) as client:
            answer = client.post("/v1/opt-outs", json={"phone": "01012345678", "entryId": "080-1"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["profileId"] != "user:a"  # withdrawn for the number alone
        shift.write_text(str(int((due - now + timedelta(minutes=1)).total_seconds())))
        wait_for(
            lambda: (
                outbox.exists() and {"c1:b:s1", "c1:a:n1"} <= {m["key"] for m in read_outbox_file(outbox)}
            ),
            "b's ad and a's notice were not sent",
        )
    finally:
        assert server.stop() == 0, server.output()
    sent = {m["key"]: m["to"] for m in read_outbox_file(outbox)}
    assert sent == {"c1:b:s1": "010-9876-5432", "c1:a:n1": "010-1234-5678"}
    with Workspace(server.workspace).open_store(read_only=True) as store:
        state = store.sql("SELECT state, reason FROM outbox WHERE message_key = 'c1:a:s1'")
    assert state == [("suppressed", "withdrawn")]
