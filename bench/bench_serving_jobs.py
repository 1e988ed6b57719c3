"""Collection while the server makes a full run: batched ingestion (events acknowledged as durable
per second, 100 per batch, 8 connections) while every customer-intelligence job runs inside the
server (``POST /v1/jobs/run``: its own thread and connection), beside the same ingestion on the
same server without a run, before and after it. Target: during the run at least 80% of the
throughput without it.

Shop: the synthetic shop of ``make demo`` (5,000 customers, 90 days). Load: the event mix of
``bench_api``. Rounds of ``EVENTS`` events: ``QUIET_ROUNDS`` before the run, as many as fit while
it runs (a round counts if the run was still going when it ended), ``QUIET_ROUNDS`` after it
(once the recommender's refit that follows the run is done); each figure is the median of its
rounds, every round printed (the machine is shared: the quiet rounds before and after bracket
what the neighbours did meanwhile).

Run with ``python -m bench.bench_serving_jobs`` (about five minutes).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving import Server
from tests.shops import demo_workspace

from bench.bench_api import CONNECTIONS, SEED, _drive, _event, _jobs, _run

CUSTOMERS, DAYS = 5000, 90
AS_OF = "2026-04-01"  # the shop's last day: every job has the history it needs
BATCH = 100
EVENTS = 20_000  # per round
QUIET_ROUNDS = 4
TARGET = 0.8


class _Load:
    """Rounds of fresh events (new message ids every round) for one server."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.rng = random.Random(SEED)
        self.now = datetime.now(UTC)
        self.offset = 0

    def round(self) -> float:
        bodies = []
        for b in range(EVENTS // BATCH):
            events = [_event(self.offset + b * BATCH + j, self.rng, self.now) for j in range(BATCH)]
            bodies.append((orjson.dumps({"batch": events}), BATCH))
        self.offset += EVENTS
        jobs = _jobs(self.server.port, self.server.write_key, "/v1/batch", bodies)
        seconds, _ = _run(_drive(self.server.port, jobs, CONNECTIONS))
        return EVENTS / seconds


def _state(server: Server) -> dict[str, object]:
    with server.client(server.secret_key) as c:
        found: dict[str, object] = c.get("/v1/jobs").json()
        return found


def _fits(server: Server) -> int:
    recommender = _state(server)["recommender"]
    assert isinstance(recommender, dict)
    return int(recommender["fits"])


def _wait_for_fits(server: Server, fits: int, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while _fits(server) < fits:
        if time.monotonic() > deadline:
            raise RuntimeError("the recommender was not learned in time")
        time.sleep(0.5)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        shop = demo_workspace(Path(tmp) / "shop", customers=CUSTOMERS, days=DAYS)
        print(f"shop: {CUSTOMERS:,} customers, {DAYS} days ({time.perf_counter() - t0:.0f} s to build)")
        server = Server(shop.folder, ("--run-at", "off")).start()
        try:
            _wait_for_fits(server, 1)  # the start-up learning is over
            load = _Load(server)
            load.round()  # warm-up, not counted
            before = [load.round() for _ in range(QUIET_ROUNDS)]
            with server.client(server.secret_key) as c:
                started = c.post("/v1/jobs/run", json={"as_of": f"{AS_OF}T00:00:00+09:00"})
                assert started.status_code == 202, started.text
            run_started = time.perf_counter()
            during: list[float] = []
            while True:
                figure = load.round()
                if _state(server)["running"] is None:  # the run ended during this round
                    break
                during.append(figure)
            run_seconds = time.perf_counter() - run_started
            history = _state(server)["history"]
            assert isinstance(history, list)
            print(f"full run: {history[0]['status']} in about {run_seconds:.0f} s ({history[0]['detail']})")
            _wait_for_fits(server, 2)  # the refit after the run is over
            after = [load.round() for _ in range(QUIET_ROUNDS)]
        finally:
            server.stop()
    quiet = median(before + after)
    print(
        f"without a run: {quiet:,.0f} events/s (rounds before: "
        f"{', '.join(f'{x:,.0f}' for x in before)}; after: {', '.join(f'{x:,.0f}' for x in after)})"
    )
    if not during:
        print("the run ended before a whole round of ingestion: make EVENTS smaller")
        return
    busy = median(during)
    print(
        f"during the run: {busy:,.0f} events/s ({len(during)} rounds: {', '.join(f'{x:,.0f}' for x in during)})"
    )
    ratio = busy / quiet
    print(
        f"ingestion during a full run / without it: {ratio:.2f} "
        f"(target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
