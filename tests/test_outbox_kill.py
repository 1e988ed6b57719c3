"""Delivery once (issue 19, point 5): a sender process killed with SIGKILL in the middle of sending,
twice, and restarted: every eligible customer got their message, none of the suppressed did, and
the only repeats are messages that were in flight at a kill (found in ``sending``, then marked
``unknown`` and resent with the same key), at most the batch in flight per kill. First with a
file channel and a sender process of the tests' own (3,000 customers), then the acceptance:
``shopmind worker`` sending 10,000 e-mails to a real SMTP server (aiosmtpd), repeats counted by
Message-ID.

The provider here is a file channel (each message a JSON line, synced before the channel answers):
a message is out once its line is written, whatever the sender recorded."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from shopmind.store import ConsentEntry, OutboxRow, Store, Workspace, enqueue, outbox_counts, record_consents
from tests.workers import SHOPMIND, shopmind_env, smtp_channels_toml

ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS = 3000
BATCH = 25


def _customers(n: int = CUSTOMERS) -> dict[str, str]:
    """Who each customer is: eligible, withdrawn (opted out after consenting), never consented,
    or consented but absent from the shop's contact file (unreachable)."""
    kinds = {}
    for i in range(n):
        kind = "eligible"
        if i % 20 == 3:
            kind = "withdrawn"
        elif i % 10 == 7:
            kind = "no_consent"
        elif i % 20 == 11:
            kind = "unreachable"
        kinds[f"m{i:05d}"] = kind
    return kinds


def _seed(
    tmp_path: Path, n: int = CUSTOMERS, store_path: Path | None = None, channel: str = "email"
) -> tuple[Path, Path, dict[str, str]]:
    kinds = _customers(n)
    now = datetime.now(UTC)
    store_path = store_path or tmp_path / "shop.duckdb"
    contacts = tmp_path / "members.csv"
    contacts.write_text(
        "아이디,이메일,휴대폰\n"
        + "".join(
            f"{m},{m}@shop.example,010-{1000 + i // 10000}-{i % 10000:04d}\n"
            for i, (m, kind) in enumerate(kinds.items())
            if kind != "unreachable"
        )
    )
    consents = [
        ConsentEntry(f"user:{m}", channel, True, now - timedelta(days=30), "signup_form", purpose=purpose)
        for m, kind in kinds.items()
        if kind != "no_consent"
        # text messages at night need the night-time consent too: the test may run at any hour
        for purpose in ("advertising", "night_advertising")
    ] + [
        ConsentEntry(f"user:{m}", channel, False, now - timedelta(hours=1), "unsubscribe_link")
        for m, kind in kinds.items()
        if kind == "withdrawn"
    ]
    rows = [
        OutboxRow(
            message_key=f"winback:user:{m}:s1",
            campaign_id="winback",
            step="s1",
            profile_id=f"user:{m}",
            channel=channel,
            format="email" if channel == "email" else "lms",
            kind="advertising",
            due_at=now - timedelta(minutes=1),
            body_text=f"(광고) {m}님, 다시 만나요",
            subject="다시 만나요",
        )
        for m in kinds
    ]
    with Store(store_path) as store:
        record_consents(store, consents)
        assert enqueue(store, rows, at=now) == n
    return store_path, contacts, kinds


def _start(store: Path, contacts: Path, out: Path | str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "outbox_sender.py"),
            str(store),
            str(contacts),
            str(out),
            str(BATCH),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=shopmind_env(),
    )


def _lines(out: Path) -> int:
    return out.read_bytes().count(b"\n") if out.exists() else 0


def _kill_after(process: subprocess.Popen[bytes], out: Path, lines: int) -> None:
    """SIGKILL the sender once ``lines`` messages are out (it must still be sending then)."""
    deadline = time.monotonic() + 300  # a hang guard, not a speed check
    while _lines(out) < lines:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, f"the sender sent only {_lines(out)} messages"
        time.sleep(0.005)
    assert process.poll() is None, "the sender finished before the kill: the test proves nothing"
    process.send_signal(signal.SIGKILL)
    process.wait()


def _in_flight(store_path: Path) -> set[str]:
    with Store(store_path) as store:
        return {key for (key,) in store.sql("SELECT message_key FROM outbox WHERE state = 'sending'")}


def test_a_killed_sender_loses_nothing_and_repeats_only_what_was_in_flight(tmp_path: Path) -> None:
    store_path, contacts, kinds = _seed(tmp_path)
    out = tmp_path / "provider.jsonl"
    in_flight: list[set[str]] = []
    for kill_at in (CUSTOMERS // 5, CUSTOMERS // 2):
        process = _start(store_path, contacts, out)
        _kill_after(process, out, kill_at)
        in_flight.append(_in_flight(store_path))
    last = _start(store_path, contacts, out)
    stdout, stderr = last.communicate(timeout=600)
    assert last.returncode == 0, stderr.decode()
    facts = orjson.loads(stdout)
    # the restart found what the kill left in sending
    assert facts["recovered"] == len(in_flight[-1])

    received = Counter(orjson.loads(line)["key"] for line in out.read_bytes().splitlines())
    eligible = {f"winback:user:{m}:s1" for m, kind in kinds.items() if kind == "eligible"}
    suppressed = {f"winback:user:{m}:s1": kind for m, kind in kinds.items() if kind != "eligible"}
    assert eligible <= set(received)  # every eligible customer got the message
    assert not set(received) & set(suppressed)  # no suppressed one did
    repeats = {key for key, n in received.items() if n > 1}
    with Store(store_path) as store:
        resent = {key for (key,) in store.sql("SELECT message_key FROM outbox WHERE resends > 0")}
        reasons = dict(store.sql("SELECT message_key, reason FROM outbox WHERE state = 'suppressed'"))
        counts = outbox_counts(store)
    # the only repeats are messages in flight at a kill, marked unknown and resent with their key
    assert repeats <= resent <= set().union(*in_flight)
    assert all(received[key] <= 1 + sum(key in f for f in in_flight) for key in repeats)
    assert all(len(f) <= BATCH for f in in_flight)  # at most the batch in flight per kill
    assert counts["sent"] == len(eligible) and counts["queued"] == counts["sending"] == counts["unknown"] == 0
    assert reasons == suppressed  # each with its reason: withdrawn, no_consent, unreachable
    assert counts["suppressed"] == len(suppressed)


def test_a_killed_sender_repeats_nothing_at_a_gateway_that_dedupes_on_the_key(tmp_path: Path) -> None:
    """The same kills with text messages to the HTTP gateway stand-in: the requests of the
    messages in flight at a kill reach it twice, with their keys, and it sends none twice."""
    from tests.gateway_standin import Standin

    store_path, contacts, kinds = _seed(tmp_path, channel="sms")
    standin = Standin()
    try:
        url = standin.gateway_url.replace("://", f"://{standin.api_key}@", 1) + "?from=02-1234-5678"
        in_flight: list[set[str]] = []
        for kill_at in (CUSTOMERS // 5, CUSTOMERS // 2):
            process = _start(store_path, contacts, url)
            deadline = time.monotonic() + 300  # a hang guard, not a speed check
            while len(standin.gateway.received()) < kill_at:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the sender stopped sending"
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            process.wait()
            in_flight.append(_in_flight(store_path))
        last = _start(store_path, contacts, url)
        _, stderr = last.communicate(timeout=600)
        assert last.returncode == 0, stderr.decode()
        taken = Counter(r.key for r in standin.gateway.received())
        carried = standin.gateway.carried()
    finally:
        standin.close()
    eligible = {f"winback:user:{m}:s1" for m, kind in kinds.items() if kind == "eligible"}
    assert set(taken) == eligible and set(taken.values()) == {1}  # every one, none twice
    carried_twice = {key for key, n in carried.items() if n > 1}
    with Store(store_path) as store:
        resent = {key for (key,) in store.sql("SELECT message_key FROM outbox WHERE resends > 0")}
        counts = outbox_counts(store)
    # what reached the gateway twice was in flight at a kill, and it said "duplicate" to it
    assert carried_twice <= resent <= set().union(*in_flight)
    assert counts["sent"] == len(eligible) and counts["suppressed"] == CUSTOMERS - len(eligible)


# -- the acceptance: 10,000 e-mails to a real SMTP server, through ``shopmind worker`` -----------

SMTP_CUSTOMERS = 10_000


def _workspace_for_smtp(tmp_path: Path, port: int) -> tuple[Workspace, Path, dict[str, str]]:
    """A workspace whose e-mail goes to the SMTP server on ``port``, its outbox holding one
    message per customer (eligible or not, as ``_customers`` says), and the shop's contact file."""
    ws = Workspace.init(tmp_path / "shop")
    _, contacts, kinds = _seed(tmp_path, SMTP_CUSTOMERS, ws.store_path)
    (ws.path / "channels.toml").write_text(smtp_channels_toml(port))
    return ws, contacts, kinds


def _worker(workspace: Path, contacts: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *SHOPMIND,
            "worker",
            "-w",
            str(workspace),
            "--contacts",
            str(contacts),
            "--once",
            "--batch",
            str(BATCH),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=shopmind_env(),
    )


def test_ten_thousand_emails_to_smtp_with_the_worker_killed_twice(tmp_path: Path) -> None:
    from tests.smtp_server import SmtpServer

    with SmtpServer() as smtp:
        ws, contacts, kinds = _workspace_for_smtp(tmp_path, smtp.port)
        workspace, store_path = ws.path, ws.store_path
        in_flight: list[set[str]] = []
        for kill_at in (SMTP_CUSTOMERS // 5, SMTP_CUSTOMERS // 2):
            process = _worker(workspace, contacts)
            deadline = time.monotonic() + 600  # a hang guard, not a speed check
            while len(smtp.mails) < kill_at:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, f"the worker sent only {len(smtp.mails)} e-mails"
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            process.wait()
            in_flight.append(_in_flight(store_path))
        last = _worker(workspace, contacts)
        _, stderr = last.communicate(timeout=900)
        assert last.returncode == 0, stderr.decode()
        if in_flight[-1]:  # (killed between two rounds, none was)
            assert f"{len(in_flight[-1])} message(s) were being handed over" in " ".join(
                stderr.decode().split()
            )
        received = Counter(r.key for r in smtp.received())  # by Message-ID
    eligible = {f"winback:user:{m}:s1" for m, kind in kinds.items() if kind == "eligible"}
    suppressed = {f"winback:user:{m}:s1" for m, kind in kinds.items() if kind != "eligible"}
    assert eligible <= set(received)
    assert not set(received) & suppressed
    repeats = {key for key, n in received.items() if n > 1}
    with Store(store_path) as store:
        resent = {key for (key,) in store.sql("SELECT message_key FROM outbox WHERE resends > 0")}
        counts = outbox_counts(store)
    # the only repeated Message-IDs are messages in flight at a kill (unknown, resent)
    assert repeats <= resent <= set().union(*in_flight)
    assert all(len(f) <= BATCH for f in in_flight)
    assert counts["sent"] == len(eligible) and counts["suppressed"] == len(suppressed)
