"""Faults found when the running server was attacked (issue 16, points 7, 8 and 11), each reproduced
against a real ``shopmind serve`` on loopback: bounded work per request, deeply nested events,
compressed bodies, HEAD, the tracker's charset, out-of-range query values and ids with '/'."""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from shopmind.events import Event, EventType
from shopmind.onsite import SessionTracker
from shopmind.onsite._session import MAX_CART_LINES, MAX_CATEGORIES, MAX_PRODUCTS
from tests.serving import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("limits") / "shop", args=("--no-recommender",)).start()
    yield running
    running.stop()


def _stored(server: Server, message_id: str) -> bool:
    with server.client(server.secret_key) as secret:
        return secret.get(f"/v1/events/{message_id}").status_code == 200


def test_a_batch_of_too_many_events_is_refused_at_once_naming_the_limit(server: Server) -> None:
    # 160,000 empty objects in 480 kB: under the byte limit, it took 9.8 s and answered 13 MB
    body = b'{"batch":[' + b",".join([b"{}"] * 160_000) + b"]}"
    assert len(body) < 500 * 1024
    started = time.monotonic()
    with server.client(server.write_key) as write:
        refused = write.post("/v1/batch", content=body)
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"] == "too_many_events"
    assert "160,000 events" in refused.json()["message"] and "2,500" in refused.json()["message"]
    assert refused.json()["errors"] == [{"field": "batch", "reason": "at most 2,500 events"}]
    assert len(refused.content) < 1000
    assert time.monotonic() - started < 5


def test_a_large_batch_does_not_hold_up_health_checks(server: Server) -> None:
    invalid = b'{"batch":[' + b",".join([b'{"type":"nonsense","anonymousId":"x"}'] * 2_500) + b"]}"
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            while not done.is_set():
                started = time.monotonic()
                assert c.get("/healthz").status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.005)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with server.client(server.write_key) as write:
            for _ in range(4):
                answer = write.post("/v1/batch", content=invalid)
                assert answer.status_code == 200 and len(answer.json()["rejected"]) == 2_500
    finally:
        done.set()
        prober.join()
    # validation yields to the event loop every few hundred events: a probe waits for one chunk
    assert latencies and max(latencies) < 1.0, max(latencies)


def test_an_event_nested_too_deeply_is_refused_alone_and_the_others_are_stored(server: Server) -> None:
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(300):
        deep = {"a": deep}
    batch = {
        "batch": [
            {"type": "track", "event": "fine", "anonymousId": "n-1", "messageId": "nested-ok"},
            {
                "type": "track",
                "event": "deep",
                "anonymousId": "n-1",
                "messageId": "nested-bad",
                "properties": deep,
            },
        ]
    }
    with server.client(server.write_key) as write:
        answer = write.post("/v1/batch", content=json.dumps(batch))
        # a retrying client must not fail forever: the request succeeds for the valid event
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 1
        assert answer.json()["rejected"] == [
            {
                "index": 1,
                "errors": [
                    {"field": "properties", "reason": "nested too deeply (more than 254 levels); flatten it"}
                ],
            }
        ]
        single = write.post("/v1/track", content=json.dumps(batch["batch"][1]))
        assert single.status_code == 400 and single.json()["errors"][0]["field"] == "properties"
    assert _stored(server, "nested-ok") and not _stored(server, "nested-bad")
    with server.client(server.secret_key) as secret:
        quarantined = secret.get("/v1/quarantine", params={"limit": 10}).json()["rejected"]
    assert any("nested too deeply" in str(row) for row in quarantined)


def test_gzip_and_deflate_bodies_are_read_and_a_bomb_is_stopped_at_the_limit(server: Server) -> None:
    event = orjson.dumps({"event": "zipped", "anonymousId": "z-1", "messageId": "gzip-1"})
    with server.client(server.write_key) as write:
        zipped = write.post("/v1/track", content=gzip.compress(event), headers={"Content-Encoding": "gzip"})
        assert zipped.status_code == 200, zipped.text
        deflated = write.post(
            "/v1/track",
            content=zlib.compress(event.replace(b"gzip-1", b"deflate-1")),
            headers={"Content-Encoding": "deflate"},
        )
        assert deflated.status_code == 200, deflated.text
        broken = write.post("/v1/track", content=b"not gzip", headers={"Content-Encoding": "gzip"})
        assert broken.status_code == 400 and broken.json()["error"] == "invalid_encoding"
        other = write.post("/v1/track", content=event, headers={"Content-Encoding": "br"})
        assert other.status_code == 415 and "gzip" in other.json()["message"]
        # 20 MB of spaces in 20 kB of gzip: refused once the inflated body passes 500 kB
        bomb = gzip.compress(b'{"batch":[]' + b" " * 20_000_000 + b"}")
        assert len(bomb) < 100_000
        refused = write.post("/v1/batch", content=bomb, headers={"Content-Encoding": "gzip"})
        assert refused.status_code == 413
    assert _stored(server, "gzip-1") and _stored(server, "deflate-1")


def test_head_and_the_trackers_charset(server: Server) -> None:
    with server.client() as c:
        for path in ("/healthz", "/sdk.js"):
            head = c.head(path)
            assert head.status_code == 200 and head.content == b"", path
        sdk = c.get("/sdk.js")
        # on an EUC-KR shop page, a tracker without a charset shows its Korean as mojibake
        assert sdk.headers["content-type"] == "application/javascript; charset=utf-8"
        assert any(0xAC00 <= ord(ch) <= 0xD7A3 for ch in sdk.content.decode("utf-8"))  # Korean in it


def test_out_of_range_query_values_answer_400_naming_the_field(server: Server) -> None:
    with server.client(server.secret_key) as secret:
        for path in ("/dashboard/products", "/dashboard/customers/segment/vip"):
            answer = secret.get(path, params={"offset": 2**64})
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["errors"][0]["field"] == "offset"
        assert secret.get("/v1/quarantine", params={"limit": 2**70}).status_code == 400


def test_product_and_profile_ids_with_a_slash_open_their_pages(
    server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with server.client(server.write_key) as write:
        order = {
            "type": "order_completed",
            "userId": "team/42",
            "messageId": "slash-order",
            "properties": {
                "order_id": "o/1",
                "products": [{"product_id": "SKU/12/RED", "price": 1000, "quantity": 1}],
            },
        }
        assert write.post("/v1/track", json=order).status_code == 200
    with server.client(server.secret_key) as secret:
        page = secret.get("/dashboard/products/SKU/12/RED")
        assert page.status_code == 200 and "SKU/12/RED" in page.text
        assert secret.get("/dashboard/products/SKU%2F12%2FRED").status_code == 200
        profile = secret.get("/v1/profiles/team/42")  # a live profile since the order was collected
        assert profile.status_code == 200, profile.text
        assert profile.json()["profile_id"] == "user:team/42"


T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def _view(i: int) -> Event:
    return Event(
        message_id=f"m{i}",
        type=EventType.PRODUCT_VIEW,
        anonymous_id="scraper",
        event_time=T0 + timedelta(milliseconds=i),
        received_at=T0,
        product_id=f"P{i}",
        category=f"c{i}",
        page_url=f"/product/P{i}",
    )


def test_a_live_session_stays_bounded_whatever_one_visitor_sends() -> None:
    # 5,000 product views by one visitor took 0.48 s at first and 6.8 s after 20,000: each view
    # searched and shifted the list of every product seen. Now a session keeps bounded state.
    tracker = SessionTracker()
    for i in range(30_000):
        session, _ = tracker.observe(_view(i))
    assert session is not None
    assert len(session.products) == MAX_PRODUCTS and session.products[-1] == "P29999"
    assert len(session.categories) == MAX_CATEGORIES
    for i in range(MAX_CART_LINES + 50):
        tracker.observe(
            Event(
                message_id=f"c{i}",
                type=EventType.CART_ADD,
                anonymous_id="scraper",
                event_time=T0 + timedelta(seconds=40 + i),
                received_at=T0,
                product_id=f"P{i}",
                quantity=1,
            )
        )
    assert len(session.cart) == MAX_CART_LINES and session.cart_items == MAX_CART_LINES
    for i in range(10_000):
        session.record_served(f"d{i}", "popup")
    assert session.served == {"popup": 10_000} and session.last_decision == "d9999"


def test_the_live_session_update_costs_the_same_for_the_first_and_the_thousandth_view() -> None:
    # operation count, not time: the products kept never exceed the bound however many arrive
    tracker = SessionTracker()
    sizes = []
    for i in range(5_000):
        session, _ = tracker.observe(_view(i))
        assert session is not None
        sizes.append(len(session.recent_products))
    assert max(sizes) == MAX_PRODUCTS
