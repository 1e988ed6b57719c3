"""The collection API on loopback, driven by an asyncio load generator (httpx, 8 connections):
batched ingestion throughput (events acknowledged as durable per second; target >= 20,000/s on 2
cores) and the single-event request rate with its p50/p99 latency, with the server's peak memory.
Peer, measured in the same run with the same load: a bare FastAPI endpoint on uvicorn that parses
the JSON body and answers 200 without validating or storing anything (the HTTP stack's floor).

Run with ``python -m bench.bench_api``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving import Server, free_port

from bench._measure import row

CONNECTIONS = 8
BATCH = 100
BATCHES = 1000  # 100,000 events
SINGLES = 3000

_PEER = textwrap.dedent(
    """
    import orjson, uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import ORJSONResponse
    app = FastAPI(default_response_class=ORJSONResponse)

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


def _event(i: int) -> dict[str, object]:
    return {
        "messageId": f"bench-{i}",
        "event": "product_view",
        "anonymousId": f"visitor-{i % 5000}",
        "sessionId": f"s-{i % 20000}",
        "context": {"device": {"type": "mobile"}, "location": {"region": "서울"}},
        "properties": {"product_id": f"P{i % 3000:05d}", "price": 12900, "category": "라면"},
    }


async def _drive(url: str, key: str, jobs: list[tuple[str, dict[str, object]]]) -> tuple[float, np.ndarray]:
    """Send every (path, body) over CONNECTIONS connections; wall time and each request's latency."""
    latencies = np.empty(len(jobs))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(jobs)):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits
    ) as http:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                path, body = jobs[i]
                t0 = time.perf_counter()
                answer = await http.post(path, json=body, timeout=60)
                latencies[i] = time.perf_counter() - t0
                if answer.status_code != 200:
                    raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return time.perf_counter() - t0, latencies


def _load(url: str, key: str, offset: int) -> dict[str, float]:
    batches = [
        ("/v1/batch", {"batch": [_event(offset + b * BATCH + j) for j in range(BATCH)]})
        for b in range(BATCHES)
    ]
    seconds, _ = asyncio.run(_drive(url, key, batches))
    singles = [("/v1/track", _event(offset + BATCHES * BATCH + i)) for i in range(SINGLES)]
    single_seconds, latencies = asyncio.run(_drive(url, key, singles))
    return {
        "events_per_s": BATCHES * BATCH / seconds,
        "requests_per_s": SINGLES / single_seconds,
        "p50_ms": float(np.median(latencies) * 1e3),
        "p99_ms": float(np.quantile(latencies, 0.99) * 1e3),
    }


def _peak_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            line = next(ln for ln in fh if ln.startswith("VmHWM"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return float("nan")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "shop").start()
        try:
            ours = _load(server.url, server.write_key, 0)
            assert server.process is not None
            ours_mb = _peak_mb(server.process.pid)
        finally:
            server.stop()
        port = free_port()
        peer = subprocess.Popen([sys.executable, "-c", _PEER, str(port)])
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            theirs = _load(f"http://127.0.0.1:{port}", "none", 0)
            theirs_mb = psutil.Process(peer.pid).memory_info().rss / 2**20
        finally:
            peer.terminate()
            peer.wait()
    print(f"ours: {ours['events_per_s']:,.0f} events/s batched (durable), peak RSS {ours_mb:.0f} MB")
    print(
        f"peer (bare FastAPI, nothing stored): {theirs['events_per_s']:,.0f} events/s, RSS {theirs_mb:.0f} MB"
    )
    print(
        row(
            "batched ingestion, s per 100k events",
            1e5 / ours["events_per_s"],
            1e5 / theirs["events_per_s"],
            "s",
        )
    )
    print(
        row(
            "single events, s per 1k requests",
            1e3 / ours["requests_per_s"],
            1e3 / theirs["requests_per_s"],
            "s",
        )
    )
    print(row("single event p50", ours["p50_ms"], theirs["p50_ms"], "ms"))
    print(row("single event p99", ours["p99_ms"], theirs["p99_ms"], "ms"))
    target = "met" if ours["events_per_s"] >= 20_000 else "NOT met"
    print(f"target >= 20,000 events/s batched: {target}")


if __name__ == "__main__":
    main()
