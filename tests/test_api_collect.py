"""The collection API against a real ``shopmind serve`` on loopback: keys and scopes, duplicates,
partial batches, size limits, bad JSON, clock skew, back-pressure and the one-owner rule."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shopmind.store import Store
from tests.serving import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("api") / "shop").start()
    yield running
    running.stop()


def _view(message_id: str, **extra: object) -> dict[str, object]:
    return {
        "messageId": message_id,
        "event": "product_view",
        "anonymousId": "visitor-1",
        "properties": {"product_id": "P00001", "price": 12900},
        **extra,
    }


def test_keys_and_scopes(server: Server) -> None:
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        answer = write.post("/v1/track", json=_view("scope-1"))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "success": True,
            "messageId": "scope-1",
            "duplicate": False,
            "timeFlag": "server_time",
        }
        # a write key collects but cannot read; a secret key can
        denied = write.get("/v1/events/scope-1")
        assert denied.status_code == 403 and "secret key" in denied.json()["message"]
        stored = secret.get("/v1/events/scope-1")
        assert stored.status_code == 200 and stored.json()["type"] == "product_view"
        assert stored.json()["product_id"] == "P00001"
        assert secret.get("/v1/events/never-sent").status_code == 404
    with server.client("sm_w_000000000000_not-a-real-key") as wrong:
        refused = wrong.post("/v1/track", json=_view("scope-2"))
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        assert "shopmind keys create" in refused.json()["message"]
    with server.client() as anonymous:
        assert anonymous.post("/v1/track", json=_view("scope-3")).status_code == 401
        # browsers' sendBeacon cannot set headers: the write key may come in the query
        beacon = anonymous.post(f"/v1/track?writeKey={server.write_key}", json=_view("scope-4"))
        assert beacon.status_code == 200
        # ... but a secret read never accepts it there
        assert anonymous.get(f"/v1/events/scope-4?writeKey={server.secret_key}").status_code == 401


def test_a_resent_event_is_stored_once(server: Server) -> None:
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        first = write.post("/v1/track", json=_view("dup-1")).json()
        again = write.post("/v1/track", json=_view("dup-1")).json()
        assert (first["duplicate"], again["duplicate"]) == (False, True)
        batch = write.post(
            "/v1/batch", json={"batch": [_view("dup-2"), _view("dup-2"), _view("dup-1")]}
        ).json()
        assert batch == {"success": True, "accepted": 3, "duplicates": 2, "rejected": []}
        assert secret.get("/v1/events/dup-2").status_code == 200


def test_a_partial_batch_stores_the_valid_and_lists_the_invalid(server: Server) -> None:
    events = [
        _view("part-1"),
        {"type": "nonsense", "anonymousId": "v", "messageId": "part-2"},
        _view("part-3"),
        {"event": "product_view", "messageId": "part-4", "properties": {"product_id": "P1"}},  # nobody
        {
            "event": "order_completed",
            "anonymousId": "v",
            "messageId": "part-5",
            "properties": {"order_id": "O1"},
        },
    ]
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        answer = write.post("/v1/batch", json={"batch": events})
        assert answer.status_code == 200
        body = answer.json()
        assert body["accepted"] == 2 and body["success"] is False
        by_index = {r["index"]: r["errors"] for r in body["rejected"]}
        assert sorted(by_index) == [1, 3, 4]
        assert by_index[1][0]["field"] == "type" and "unknown event type" in by_index[1][0]["reason"]
        assert by_index[3][0]["field"] == "anonymousId"
        assert any(e["field"] == "properties.products" for e in by_index[4])
        assert secret.get("/v1/events/part-1").status_code == 200
        assert secret.get("/v1/events/part-2").status_code == 404
        kept = secret.get("/v1/quarantine", params={"limit": 1000}).json()["rejected"]
        reasons = {r["raw"]: r["reason"] for r in kept if r["source"] == "api"}
        assert any("part-2" in raw and "unknown event type" in reason for raw, reason in reasons.items())
        # one invalid event alone gets 400, names the field, and is quarantined too
        single = write.post(
            "/v1/track", json={"event": "product_view", "anonymousId": "v", "messageId": "bad-1"}
        )
        assert single.status_code == 400
        assert single.json()["errors"][0]["field"] == "properties.product_id"
        kept = secret.get("/v1/quarantine", params={"limit": 1000}).json()["rejected"]
        assert any("bad-1" in r["raw"] for r in kept)


def test_size_limits_and_bad_json(server: Server) -> None:
    with server.client(server.write_key) as write:
        big = _view("big-1", properties={"product_id": "P1", "note": "x" * 33_000})
        assert write.post("/v1/track", json=big).status_code == 413
        # in a batch, the one event above 32 KB is rejected alone
        mixed = write.post("/v1/batch", json={"batch": [_view("big-2"), big]}).json()
        assert mixed["accepted"] == 1 and mixed["rejected"][0]["index"] == 1
        assert "too large" in mixed["rejected"][0]["errors"][0]["reason"]
        huge = {
            "batch": [
                _view(f"huge-{i}", properties={"product_id": "P1", "n": "y" * 2000}) for i in range(300)
            ]
        }
        too_big = write.post("/v1/batch", json=huge)
        assert too_big.status_code == 413 and too_big.json()["error"] == "too_large"
        broken = write.post(
            "/v1/track", content=b'{"event": "product_view", ', headers={"content-type": "application/json"}
        )
        assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"
        not_a_batch = write.post("/v1/batch", json={"events": []})
        assert not_a_batch.status_code == 400 and not_a_batch.json()["errors"][0]["field"] == "batch"


def test_clock_skew_is_corrected_and_the_far_future_clamped(server: Server) -> None:
    now = datetime.now(UTC)
    # the client's clock is an hour slow: it says it sent at now - 1 h an event of 10 s before that
    client_sent = now - timedelta(hours=1)
    skewed = _view(
        "skew-1",
        timestamp=(client_sent - timedelta(seconds=10)).isoformat(),
        sentAt=client_sent.isoformat(),
    )
    future = _view("skew-2", timestamp=(now + timedelta(days=1)).isoformat())
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        assert write.post("/v1/track", json=skewed).json()["timeFlag"] == "skew_corrected"
        assert write.post("/v1/track", json=future).json()["timeFlag"] == "future_clamped"
        stored = secret.get("/v1/events/skew-1").json()
        corrected = datetime.fromisoformat(stored["event_time"])
        assert abs((corrected - (now - timedelta(seconds=10))).total_seconds()) < 5
        clamped = secret.get("/v1/events/skew-2").json()
        assert clamped["time_flag"] == "future_clamped"
        assert abs((datetime.fromisoformat(clamped["event_time"]) - now).total_seconds()) < 5
        assert datetime.fromisoformat(clamped["client_time"]) > now + timedelta(hours=23)


def test_back_pressure_answers_503_and_429_with_retry_after(tmp_path: Path) -> None:
    server = Server(tmp_path / "shop", args=("--max-pending", "10", "--rate", "2")).start()
    try:
        with server.client(server.write_key) as write:
            crowded = write.post("/v1/batch", json={"batch": [_view(f"bp-{i}") for i in range(20)]})
            assert crowded.status_code == 503 and int(crowded.headers["retry-after"]) >= 1
            codes = [write.post("/v1/track", json=_view(f"rate-{i}")).status_code for i in range(12)]
            assert 200 in codes and 429 in codes, codes
            limited = write.post("/v1/track", json=_view("rate-x"))
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    finally:
        assert server.stop() == 0


def test_one_server_per_workspace_and_graceful_stop(tmp_path: Path) -> None:
    server = Server(tmp_path / "shop").start()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "shopmind", "serve", "-w", str(server.workspace), "--port", "1"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 5
        assert "in use by another shopmind process" in " ".join(second.stderr.split())
        with server.client(server.write_key) as write:
            for i in range(5):
                assert (
                    write.post("/v1/page", json={"anonymousId": "v", "messageId": f"stop-{i}"}).status_code
                    == 200
                )
    finally:
        assert server.stop() == 0  # SIGTERM: a clean exit, the store closed
    with Store(server.workspace / "shop.duckdb") as store:
        assert store.scalar("SELECT count(*) FROM events WHERE message_id LIKE 'stop-%'") == 5
        assert store.scalar("SELECT count(*) FROM events WHERE type = 'page_view'") == 5
