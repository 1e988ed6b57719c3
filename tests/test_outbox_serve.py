"""The sender inside the server (``shopmind serve --send``) and ``shopmind worker``, each on a real
workspace whose channels are the built-in default (every channel to ``outbox/<channel>.jsonl``):
due messages go out with their keys and addresses from the shop's contact file; an opt-out
recorded through the API while the server runs stops a message that falls due after it; a
graceful stop leaves nothing in ``sending``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shopmind.activation import read_outbox_file
from shopmind.store import ConsentEntry, OutboxRow, Workspace, enqueue, outbox_counts, record_consents
from tests.campaign_rows import email_ad
from tests.serving import Server
from tests.workers import run_shopmind, wait_for


def _message(who: str, due: datetime) -> OutboxRow:
    return email_ad(who, due, subject="다시 만나요")


def _seed(workspace: Path, now: datetime) -> Path:
    """Now due: a, b (consent), n (none); due tomorrow: e (will opt out), f (consent)."""
    contacts = workspace.parent / "members.csv"
    contacts.write_text("아이디,이메일\n" + "".join(f"{w},{w}@shop.example\n" for w in "abnef"))
    with Workspace(workspace).open_store() as store:
        record_consents(
            store,
            [
                ConsentEntry(f"user:{w}", "email", True, now - timedelta(days=3), "signup_form")
                for w in "abef"
            ],
        )
        tomorrow = now + timedelta(days=1)
        rows = [_message(w, now - timedelta(minutes=1)) for w in "abn"] + [
            _message(w, tomorrow) for w in "ef"
        ]
        enqueue(store, rows, at=now)
    return contacts


def _sent(workspace: Path) -> list[str]:
    return [m["key"] for m in read_outbox_file(workspace / "outbox" / "email.jsonl")]


def test_the_server_sends_the_outbox_and_an_api_opt_out_stops_a_later_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shift = tmp_path / "clock-shift"
    monkeypatch.setenv("SHOPMIND_CLOCK_SHIFT_FILE", str(shift))
    server = Server(tmp_path / "shop")
    contacts = _seed(server.workspace, datetime.now(UTC))
    server.args = ("--send", "--contacts", str(contacts), "--no-recommender", "--run-at", "off")
    server.start()
    try:
        wait_for(lambda: len(_sent(server.workspace)) >= 2, "a and b were not sent")
        with server.client(server.secret_key) as client:
            answer = client.post(
                "/v1/consent",
                json={
                    "profileId": "user:e",
                    "channel": "email",
                    "granted": False,
                    "method": "unsubscribe_link",
                },
            )
            assert answer.status_code in (200, 201), answer.text
        shift.write_text(str(int(timedelta(days=1, minutes=1).total_seconds())))  # tomorrow comes
        wait_for(lambda: "c1:user:f:s1" in _sent(server.workspace), "f was not sent when due")
        # a second sender on the same store is refused, with the way to go
        refused = run_shopmind("worker", "-w", str(server.workspace), "--once")
        assert refused.returncode == 5 and "--send" in refused.stderr, refused.stderr
    finally:
        assert server.stop() == 0, server.output()
    sent = _sent(server.workspace)
    assert sorted(sent) == ["c1:user:a:s1", "c1:user:b:s1", "c1:user:f:s1"]
    records = {m["key"]: m for m in read_outbox_file(server.workspace / "outbox" / "email.jsonl")}
    assert records["c1:user:a:s1"]["to"] == "a@shop.example"
    with Workspace(server.workspace).open_store(read_only=True) as store:
        reasons = dict(store.sql("SELECT message_key, reason FROM outbox WHERE state = 'suppressed'"))
        counts = outbox_counts(store)
    assert reasons == {"c1:user:n:s1": "no_consent", "c1:user:e:s1": "withdrawn"}
    assert counts["sending"] == 0 and counts["sent"] == 3


def test_the_worker_command_sends_what_is_due_and_names_a_bad_option(tmp_path: Path) -> None:
    workspace = tmp_path / "shop"
    Workspace.init(workspace)
    contacts = _seed(workspace, datetime.now(UTC))
    done = run_shopmind("worker", "-w", str(workspace), "--contacts", str(contacts), "--once")
    assert done.returncode == 0, done.stderr
    assert sorted(_sent(workspace)) == ["c1:user:a:s1", "c1:user:b:s1"]
    assert "sent 2" in done.stderr and "no_consent 1" in done.stderr
    assert "queued=2" in done.stdout and "sent=2" in done.stdout and "suppressed=1" in done.stdout
    bad = run_shopmind("worker", "-w", str(workspace), "--column", "phone")
    assert bad.returncode == 2 and "--column" in bad.stderr and "FIELD=COLUMN" in bad.stderr
    missing = run_shopmind("worker", "-w", str(workspace), "--contacts", str(tmp_path / "no.csv"))
    assert missing.returncode == 4 and "no such file" in " ".join(missing.stderr.split())
    # the server checks before it starts
    serving = run_shopmind("serve", "-w", str(workspace), "--send", "--contacts", str(tmp_path / "no.csv"))
    assert serving.returncode == 4 and "no such file" in " ".join(serving.stderr.split())
    (workspace / "channels.toml").write_text(
        '[channels.email]\nurl = "smtp://"\n[sender]\nname = "봄날상점"\n'
    )
    config = run_shopmind("worker", "-w", str(workspace), "--contacts", str(contacts), "--once")
    assert config.returncode == 2 and "sender.contact" in " ".join(config.stderr.split()), config.stderr
