"""Durability: 100,000 events from concurrent clients; the server is killed with SIGKILL at a
random moment and restarted; every event that got a 2xx is in the store, exactly once, and so is
what derives from it (orders with their lines, identity links), written after the events."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from shopmind.store import Store
from tests.serving import Server

TOTAL, CLIENTS, BATCH = 100_000, 4, 250


def _event(client: int, i: int) -> dict[str, object]:
    """A product view; every 50th an order of two lines, every 40th an identify call."""
    event: dict[str, object] = {"messageId": f"c{client}-{i}", "anonymousId": f"visitor-{client}-{i % 500}"}
    if i % 50 == 7:
        products = [{"product_id": f"P{(i + k) % 300:05d}", "price": 1000 + k, "quantity": 1} for k in (0, 1)]
        return event | {
            "event": "Order Completed",
            "properties": {"order_id": f"O-{client}-{i}", "products": products},
        }
    if i % 40 == 3:
        return event | {"type": "identify", "userId": f"member-{client}-{i % 500}"}
    return event | {
        "event": "product_view",
        "properties": {"product_id": f"P{i % 300:05d}", "price": 1000 + i % 50},
    }


def _batch(client: int, start: int) -> list[dict[str, object]]:
    return [_event(client, i) for i in range(start, start + BATCH)]


@pytest.mark.slow
def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    server = Server(tmp_path / "shop").start()
    acked: set[str] = set()
    lock = threading.Lock()
    retries = [0]

    def send(client: int) -> None:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.write_key}"}
        ) as http:
            for start in range(0, TOTAL // CLIENTS, BATCH):
                events = _batch(client, start)
                while True:  # re-send until acknowledged, as a tracker does
                    try:
                        answer = http.post("/v1/batch", json={"batch": events}, timeout=30)
                        if answer.status_code == 200 and answer.json()["accepted"] == len(events):
                            break
                    except httpx.TransportError:
                        pass
                    with lock:
                        retries[0] += 1
                    time.sleep(0.05)
                with lock:
                    acked.update(str(e["messageId"]) for e in events)

    threads = [threading.Thread(target=send, args=(c,), daemon=True) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    kill_after = rng.randint(TOTAL // 10, TOTAL // 2)  # a random moment in the load
    while len(acked) < kill_after:
        time.sleep(0.005)
    server.kill()  # SIGKILL: no shutdown, no flush
    with lock:
        before_kill = set(acked)
    with Store(server.workspace / "shop.duckdb") as store:  # what a restart finds on disk
        stored = {row[0] for row in store.sql("SELECT message_id FROM events")}
    missing = before_kill - stored
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    server.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert server.stop() == 0
    with Store(server.workspace / "shop.duckdb") as store:
        count, distinct = store.sql("SELECT count(*), count(DISTINCT message_id) FROM events")[0]
        ids = {row[0] for row in store.sql("SELECT message_id FROM events")}
        orders = store.sql("SELECT order_id, count(*) FROM order_lines GROUP BY order_id")
        headers = store.scalar("SELECT count(*) FROM orders")
        graph = store.identity_graph()
    assert len(acked) == TOTAL and retries[0] > 0  # the kill interrupted requests, they were re-sent
    assert count == distinct == TOTAL and ids == acked  # each exactly once, even the re-sent ones
    # every order once with its two lines, and every identify call's visitor joined to its member
    sent = [_event(c, i) for c in range(CLIENTS) for i in range(TOTAL // CLIENTS)]
    order_ids = {e["properties"]["order_id"] for e in sent if e.get("event") == "Order Completed"}  # type: ignore[index]
    assert headers == len(order_ids) and dict(orders) == dict.fromkeys(order_ids, 2)
    for e in (e for e in sent if e.get("type") == "identify"):
        assert graph.profile_of(f"anon:{e['anonymousId']}") == graph.profile_of(f"user:{e['userId']}")
