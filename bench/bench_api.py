"""The collection API on loopback: batched ingestion throughput (events acknowledged as durable
per second; target >= 20,000/s on 2 cores) and the single-event request rate with its p50/p99
latency, with the server's peak memory and its CPU time per event.

Load generator: a lean HTTP/1.1 keep-alive client on asyncio (8 connections, or ``--connections
N``; bodies encoded before the clock starts), because it shares the 2 cores with the server and
its own CPU time is taken from the server's. Each answer is checked (200, every event of a batch
accepted).

Events: a seeded mix of the shapes a shop's tracker sends (product views, page views, cart adds,
searches, identify calls with traits, orders), each with a message id, a timestamp, sentAt and a
context; ``BATCH_SIZES`` events per batch (Segment's limit is 500 KB per batch; its libraries
send 20-100 events per batch; the bodies here are 40-200 KB).

Rounds: the batch sizes alternate, ``ROUNDS`` times 100k events each, on the same server; each
batched figure is the median of its rounds (every round is printed: the machines are shared and
one slow round says more about the neighbours than about the server).

Peer, measured in the same run with the same load: a bare FastAPI endpoint on uvicorn that parses
the JSON body and answers 200 without validating or storing anything (the HTTP stack's floor).

``--live-segments N`` saves N segments the server keeps live before it starts (product views of
a category, cart adds, searches, counted over sliding windows: the load's events match them), so
the figures include counting each group's events for them before it is acknowledged.

Run with ``python -m bench.bench_api [--connections N] [--live-segments N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

import numpy as np
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving import Server, free_port

from bench._measure import peak_rss_mb, row, wait_until_ready

CONNECTIONS = 8
BATCH_SIZES = (100, 500)
EVENTS = 100_000  # per batch size and round
ROUNDS = 3  # the machines are shared: each figure is the median of the rounds (all are printed)
SINGLES = 3000
SEED = 20261124

_PEER = textwrap.dedent(
    """
    import orjson, uvicorn
    from fastapi import FastAPI, Request
    from shopmind.api._json import JSON  # the same orjson response as ours
    app = FastAPI(default_response_class=JSON)

    @app.get("/readyz")
    async def ready():
        return {"ready": True}

    @app.post("/v1/batch")
    async def batch(request: Request):
        body = orjson.loads(await request.body())
        return {"success": True, "accepted": len(body["batch"]), "duplicates": 0, "rejected": []}

    @app.post("/v1/track")
    async def track(request: Request):
        body = orjson.loads(await request.body())
        return {"success": True, "messageId": body.get("messageId"), "duplicate": False}

    uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning")
    """
)

_REGIONS = ("서울", "부산", "인천", "대구", "광주", "대전", "제주")
_CATEGORIES = ("라면", "김치", "코트", "신발", "화장품", "과자")


def _event(i: int, rng: random.Random, now: datetime) -> dict[str, object]:
    """Event ``i`` of the load: a tracker's call with its context."""
    visitor = rng.randrange(5000)
    at = now - timedelta(minutes=30) + timedelta(milliseconds=i * 7)
    product = f"P{rng.randrange(3000):05d}"
    context: dict[str, object] = {
        "device": {"type": rng.choice(("mobile", "mobile", "desktop", "tablet"))},
        "location": {"region": rng.choice(_REGIONS)},
        "locale": "ko-KR",
        "page": {"url": f"https://shop.example/p/{product}", "referrer": "https://search.naver.com/"},
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148",
        "library": {"name": "shopmind.js", "version": "1.0.0"},
    }
    event: dict[str, object] = {
        "messageId": f"bench-{i}",
        "anonymousId": f"visitor-{visitor}",
        "sessionId": f"s-{visitor}-{i // 2000}",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "sentAt": (at + timedelta(milliseconds=40)).isoformat().replace("+00:00", "Z"),
        "context": context,
    }
    kind = rng.random()
    price = rng.randrange(10, 500) * 100
    if kind < 0.50:
        event |= {"type": "track", "event": "Product Viewed"}
        event["properties"] = {"product_id": product, "price": price, "category": rng.choice(_CATEGORIES)}
    elif kind < 0.75:
        event |= {"type": "page", "name": "Product"}
        event["properties"] = {"path": f"/p/{product}", "title": "상품"}
    elif kind < 0.85:
        event |= {"type": "track", "event": "Product Added"}
        event["properties"] = {"product_id": product, "price": price, "quantity": rng.randint(1, 3)}
    elif kind < 0.95:
        event |= {"type": "track", "event": "Products Searched"}
        event["properties"] = {"query": rng.choice(("겨울 코트", "라면", "운동화"))}
    elif kind < 0.98:
        event |= {"type": "identify", "userId": f"member-{visitor}"}
        event["traits"] = {"grade": rng.choice(("gold", "silver")), "region": rng.choice(_REGIONS)}
    else:
        event |= {"type": "track", "event": "Order Completed", "userId": f"member-{visitor}"}
        event["properties"] = {
            "order_id": f"O-{i}",
            "revenue": price,
            "products": [{"product_id": product, "price": price, "quantity": 1}],
        }
    return event


@dataclass(frozen=True)
class _Job:
    request: bytes  # the whole HTTP request, head and body
    events: int  # how many events the answer must accept


def _jobs(port: int, key: str, path: str, bodies: list[tuple[bytes, int]]) -> list[_Job]:
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer {key}\r\n"
        "content-type: application/json\r\n"
    )
    return [_Job(f"{head}content-length: {len(b)}\r\n\r\n".encode() + b, n) for b, n in bodies]


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    )
    return status, await reader.readexactly(length)


async def _drive(port: int, jobs: list[_Job], connections: int) -> tuple[float, np.ndarray]:
    """Send every job over ``connections`` keep-alive connections; wall time and each one's latency."""
    latencies = np.empty(len(jobs))
    next_job = iter(range(len(jobs)))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in next_job:
                job = jobs[i]
                t0 = time.perf_counter()
                writer.write(job.request)
                status, body = await _answer(reader)
                latencies[i] = time.perf_counter() - t0
                answer = orjson.loads(body)
                if status != 200 or answer.get("accepted", 1) != job.events or answer.get("rejected"):
                    raise RuntimeError(f"{status} {body[:300]!r}")
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return time.perf_counter() - t0, latencies


def _run(coroutine: object) -> tuple[float, np.ndarray]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    return uvloop.run(coroutine)  # type: ignore[arg-type]


@dataclass
class _Figures:
    events_per_s: dict[int, list[float]]  # per batch size, each round's
    cpu_us_per_event: dict[int, list[float]]  # the server's CPU time (all its threads) per event
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    peak_mb: float


def _load(port: int, key: str, pid: int, connections: int) -> _Figures:
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    server = psutil.Process(pid)
    events_per_s: dict[int, list[float]] = {}
    cpu: dict[int, list[float]] = {}
    offset = 0
    for _ in range(ROUNDS):
        for size in BATCH_SIZES:
            bodies = []
            for b in range(EVENTS // size):
                events = [_event(offset + b * size + j, rng, now) for j in range(size)]
                bodies.append((orjson.dumps({"batch": events}), size))
            offset += EVENTS
            jobs = _jobs(port, key, "/v1/batch", bodies)
            before = sum(server.cpu_times()[:2])
            seconds, _ = _run(_drive(port, jobs, connections))
            cpu.setdefault(size, []).append((sum(server.cpu_times()[:2]) - before) / EVENTS * 1e6)
            events_per_s.setdefault(size, []).append(EVENTS / seconds)
    singles = []
    for i in range(SINGLES):
        event = _event(offset + i, rng, now)
        event |= {"type": "track", "event": "Product Viewed"}
        event["properties"] = {"product_id": "P00001", "price": 12900}
        singles.append((orjson.dumps(event), 1))
    single_seconds, latencies = _run(_drive(port, _jobs(port, key, "/v1/track", singles), connections))
    return _Figures(
        events_per_s,
        cpu,
        SINGLES / single_seconds,
        float(np.median(latencies) * 1e3),
        float(np.quantile(latencies, 0.99) * 1e3),
        peak_rss_mb(pid),
    )


def _save_live_segments(workspace: Path, n: int) -> None:
    """``n`` segments on what the load sends, all of them kept live by the server."""
    from shopmind.segments import create_segment, is_live, parse_definition
    from shopmind.store import Workspace

    def made(i: int) -> dict[str, object]:
        days = 1 + i % 7
        window = {"kind": "last", "days": days}
        kind = i % 3
        if kind == 0:
            condition = {"kind": "event", "type": "product_view", "category": _CATEGORIES[i % len(_CATEGORIES)],
                         "count": {"at_least": 2 + i % 3}, "window": window}  # fmt: skip
        elif kind == 1:
            condition = {"kind": "sequence", "steps": [{"type": "product_view"}, {"type": "cart_add"}],
                         "within_minutes": 10 + i, "window": window}  # fmt: skip
        else:
            condition = {
                "kind": "event",
                "type": "search",
                "count": {"at_least": 1 + i % 4},
                "window": window,
            }
        return {"name": {"en": f"live {i}"}, "conditions": [condition]}

    with Workspace(workspace).open_store() as store:
        for i in range(n):
            definition = parse_definition(made(i))
            assert is_live(definition)
            create_segment(store, definition, as_of=datetime.now(UTC), materialize=False)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--connections",
        type=_positive,
        default=CONNECTIONS,
        help=f"concurrent clients (default {CONNECTIONS})",
    )
    parser.add_argument(
        "--live-segments", type=int, default=0, help="live segments saved before the server starts"
    )
    args = parser.parse_args(argv)
    connections = args.connections
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "shop")
        if args.live_segments:
            _save_live_segments(server.workspace, args.live_segments)
        server.start()
        try:
            assert server.process is not None
            ours = _load(server.port, server.write_key, server.process.pid, connections)
        finally:
            server.stop()
        port = free_port()
        peer = subprocess.Popen([sys.executable, "-c", _PEER, str(port)])
        try:
            wait_until_ready(f"http://127.0.0.1:{port}/readyz", 30)
            theirs = _load(port, "none", peer.pid, connections)
        finally:
            peer.terminate()
            peer.wait()
    print(f"{connections} connections; {args.live_segments} live segments")
    print(
        f"ours: peak RSS {ours.peak_mb:.0f} MB; peer (bare FastAPI, nothing stored): {theirs.peak_mb:.0f} MB"
    )
    for size in BATCH_SIZES:
        rounds = ", ".join(f"{x:,.0f}" for x in ours.events_per_s[size])
        print(
            f"batches of {size}: ours {median(ours.events_per_s[size]):,.0f} events/s durable "
            f"(rounds: {rounds}; {median(ours.cpu_us_per_event[size]):.1f} µs server CPU per event), "
            f"peer {median(theirs.events_per_s[size]):,.0f} events/s "
            f"({median(theirs.cpu_us_per_event[size]):.1f} µs)"
        )
        print(
            row(
                f"batched ingestion ({size}/batch), s per 100k events",
                1e5 / median(ours.events_per_s[size]),
                1e5 / median(theirs.events_per_s[size]),
                "s",
            )
        )
    print(
        row("single events, s per 1k requests", 1e3 / ours.requests_per_s, 1e3 / theirs.requests_per_s, "s")
    )
    print(row("single event p50", ours.p50_ms, theirs.p50_ms, "ms"))
    print(row("single event p99", ours.p99_ms, theirs.p99_ms, "ms"))
    for size in BATCH_SIZES:
        met = "met" if median(ours.events_per_s[size]) >= 20_000 else "NOT met"
        print(f"target >= 20,000 events/s batched ({size}/batch, median of {ROUNDS} rounds): {met}")


if __name__ == "__main__":
    main()
