"""Webhook delivery against a real HTTP server on loopback: every request is signed (the receiver
checks it as docs/exports.md tells receivers to), a batch that fails with 5xx or times out is
retried with backoff under the same idempotency key, a 4xx is not retried, and every outcome is
in the export log."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from shopmind.audiences import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    DeliveryError,
    RetryPolicy,
    UnknownDestinationError,
    add_webhook,
    audience_from_ids,
    export_to_webhook,
    sign,
    verify_signature,
)
from shopmind.core import InvalidInputError
from shopmind.store import export_log
from tests.exports_shop import PEOPLE, build

SECRET = "whsec_test_0123456789abcdef"
FAST = RetryPolicy(attempts=4, base_seconds=0.01, cap_seconds=0.05, timeout_seconds=0.5)


@dataclass
class Receiver:
    """A loopback HTTP server that answers the first ``fail_first`` requests with ``status`` (or,
    for status 0, answers too late), then 200; it keeps what it got."""

    fail_first: int = 0
    status: int = 503
    got: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                failing = len(receiver.got) < receiver.fail_first
                answer = receiver.status if failing else 200
                receiver.got.append((dict(self.headers), body, answer))
                if failing and receiver.status == 0:
                    time.sleep(1.0)  # longer than the sender's timeout
                    answer = 200
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/shopmind"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _verify_like_a_receiver(header: str, body: bytes) -> bool:
    """The check docs/exports.md gives receivers, written out independently of shopmind."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    expected = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


def test_batches_are_signed_retried_and_logged(tmp_path: Path, receiver: Receiver) -> None:
    shop = build(tmp_path)
    receiver.fail_first = 2  # the first batch fails twice with 503
    waits: list[float] = []
    with shop.ws.open_store() as store:
        add_webhook(store, "crm", receiver.url, created_by="test", secret=SECRET)
        record = export_to_webhook(
            store,
            audience_from_ids([p.profile_id for p in PEOPLE]),
            "crm",
            hasher=shop.ws.hasher(),
            actor="test",
            batch_size=4,
            policy=FAST,
            sleep=lambda s: (waits.append(s), time.sleep(s)),
        )
        logged = export_log(store)[0]
    assert [answer for _, _, answer in receiver.got] == [503, 503, 200, 200]
    assert len(waits) == 2 and all(0 <= w <= FAST.cap_seconds for w in waits)
    keys = [h[IDEMPOTENCY_HEADER] for h, _, _ in receiver.got]
    assert keys[0] == keys[1] == keys[2] == f"{record.export_id}-1" and keys[3] == f"{record.export_id}-2"
    members = []
    for headers, body, _ in receiver.got:
        assert headers["Content-Type"] == "application/json"
        assert _verify_like_a_receiver(headers[SIGNATURE_HEADER], body)
        assert verify_signature(SECRET, headers[SIGNATURE_HEADER], body)
        assert not verify_signature("another secret of 16+", headers[SIGNATURE_HEADER], body)
        assert not verify_signature(SECRET, headers[SIGNATURE_HEADER], body + b" ")  # tampered
    for _, body, answer in receiver.got:
        if answer == 200:
            members += orjson.loads(body)["members"]
    bodies = [orjson.loads(b) for _, b, a in receiver.got if a == 200]
    assert [b["last"] for b in bodies] == [False, True] and [b["batch"] for b in bodies] == [1, 2]
    assert sorted(m["profile_id"] for m in members) == sorted(p.profile_id for p in PEOPLE)
    kim = next(m for m in members if m["member_id"] == "m001")
    assert kim["segment"] == "vip" and kim["scores"]["purchase_probability_7d"] == 0.45
    text = b"".join(b for _, b, _ in receiver.got).decode()
    assert all(p.email.strip() not in text and p.phone not in text for p in PEOPLE)  # no contact data
    assert record.members == 6 and logged.status == "ok" and logged.destination == "webhook:crm"
    assert orjson.loads(logged.detail)["requests"] == 4


def test_a_timeout_is_retried(tmp_path: Path, receiver: Receiver) -> None:
    shop = build(tmp_path)
    receiver.fail_first, receiver.status = 1, 0  # the first answer comes after the sender gave up
    with shop.ws.open_store() as store:
        add_webhook(store, "slow", receiver.url, created_by="test", secret=SECRET)
        record = export_to_webhook(
            store, audience_from_ids(["user:m001"]), "slow", hasher=shop.ws.hasher(), actor="t", policy=FAST
        )
    assert len(receiver.got) == 2 and record.members == 1
    assert receiver.got[0][0][IDEMPOTENCY_HEADER] == receiver.got[1][0][IDEMPOTENCY_HEADER]


def test_a_refusal_is_not_retried_and_endless_failure_stops(tmp_path: Path, receiver: Receiver) -> None:
    shop = build(tmp_path)
    receiver.fail_first, receiver.status = 1, 400
    with shop.ws.open_store() as store:
        add_webhook(store, "strict", receiver.url, created_by="test", secret=SECRET)
        with pytest.raises(DeliveryError) as refused:
            export_to_webhook(
                store,
                audience_from_ids(["user:m001"]),
                "strict",
                hasher=shop.ws.hasher(),
                actor="t",
                policy=FAST,
            )
        assert refused.value.status == 400 and refused.value.attempts == 1 and len(receiver.got) == 1
        receiver.got.clear()
        receiver.fail_first, receiver.status = 100, 502
        with pytest.raises(DeliveryError) as failing:
            export_to_webhook(
                store,
                audience_from_ids(["user:m001"]),
                "strict",
                hasher=shop.ws.hasher(),
                actor="t",
                policy=FAST,
            )
        assert failing.value.attempts == FAST.attempts and len(receiver.got) == FAST.attempts
        log = export_log(store)
        with pytest.raises(UnknownDestinationError):
            export_to_webhook(
                store, audience_from_ids(["user:m001"]), "nowhere", hasher=shop.ws.hasher(), actor="t"
            )
    assert [r.status for r in log] == ["failed", "failed"]
    assert "502" in orjson.loads(log[0].detail)["error"]


def test_destinations_are_checked(tmp_path: Path) -> None:
    shop = build(tmp_path)
    with shop.ws.open_store() as store:
        _, made = add_webhook(store, "ok", "https://crm.example/hooks", created_by="t")
        assert made.startswith("whsec_") and len(made) > 30
        for name, url, field_name in (
            ("bad name!", "https://x.example", "name"),
            ("x", "ftp://x.example", "url"),
            ("x", "not a url", "url"),
            ("ok", "https://x.example", "name"),  # taken
        ):
            with pytest.raises(InvalidInputError) as bad:
                add_webhook(store, name, url, created_by="t")
            assert bad.value.errors[0].field == field_name


def test_signatures_expire() -> None:
    body = b'{"members":[]}'
    header = sign(SECRET, body, 1_000_000)
    assert verify_signature(SECRET, header, body, now=1_000_100)
    assert not verify_signature(SECRET, header, body, now=1_000_000 + 301)  # a replay, too late
    assert not verify_signature(SECRET, "v1=abc", body)
