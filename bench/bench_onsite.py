"""Recommendations and on-site decisions over HTTP on loopback, at a steady request rate (an
open-loop load generator: requests leave on schedule whether or not earlier ones have been
answered), on the synthetic shop of ``make demo`` (5,000 customers, 90 days) after
``shopmind run``'s customer intelligence. Reports p50/p99 latency per kind of request and the
server's peak memory; target p99 < 20 ms.

Peer, measured in the same run with the same load: implicit's ALS (the best single algorithm on
Online Retail) fitted on the same purchases and served by a bare FastAPI endpoint on uvicorn that
returns item ids only (no names, reasons, context or profiles); for /v1/decide, the same bare
app answering a constant (the HTTP stack's floor).

Run with ``python -m bench.bench_onsite`` (about five minutes).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving import Server, free_port
from tests.shops import demo_workspace

from bench._measure import peak_rss_mb, row, wait_until_ready
from shopmind.pipeline import recommender_data
from shopmind.store import Store

RATE = 100.0  # requests per second
REQUESTS = 2000  # of each kind
CUSTOMERS, DAYS = 5000, 90

_PEER = textwrap.dedent(
    """
    import sys, numpy as np, pandas as pd, scipy.sparse as sp, uvicorn
    from fastapi import FastAPI
    from implicit.als import AlternatingLeastSquares
    rows = pd.read_parquet(sys.argv[2])
    users = {u: i for i, u in enumerate(rows["user"].unique())}
    items = rows["item"].unique()
    index = {it: i for i, it in enumerate(items)}
    matrix = sp.csr_matrix(
        (rows["weight"].to_numpy(float), (rows["user"].map(users), rows["item"].map(index))),
        shape=(len(users), len(items)),
    )
    model = AlternatingLeastSquares(factors=64, iterations=15, random_state=0)
    model.fit(matrix, show_progress=False)
    popular = np.argsort(-np.asarray(matrix.sum(axis=0)).ravel())
    app = FastAPI()

    @app.get("/readyz")
    async def ready():
        return {"ready": True}

    @app.get("/v1/recommendations")
    async def recommend(user: str, n: int = 10):
        row = users.get(user)
        if row is None:
            ids = popular[:n]
        else:
            ids, _ = model.recommend(row, matrix[row], N=n)
        return {"items": [{"product_id": str(items[i])} for i in ids]}

    @app.get("/v1/decide")
    async def decide(anonymousId: str, placement: str | None = None):
        return {"decision_id": None, "placement": placement, "action": None}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


async def _steady(url: str, key: str, requests: list[tuple[str, dict[str, Any]]]) -> np.ndarray:
    """GET each (path, params) at RATE per second; each request's latency in ms."""
    latencies = np.full(len(requests), np.nan)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=30
    ) as http:

        async def one(i: int, path: str, params: dict[str, Any]) -> None:
            t0 = time.perf_counter()
            answer = await http.get(path, params=params)
            latencies[i] = (time.perf_counter() - t0) * 1e3
            if answer.status_code != 200:
                raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")

        for path, params in requests[:20]:  # warm the connections up
            await http.get(path, params=params)
        start = time.perf_counter()
        tasks = []
        for i, (path, params) in enumerate(requests):
            delay = start + i / RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, path, params)))
        await asyncio.gather(*tasks)
    return latencies


def _sessions(url: str, key: str, visitors: list[str], products: list[str]) -> None:
    """Live sessions for the decide load: a product page, add to cart, the cart page, exit intent."""
    at = datetime.now(UTC) - timedelta(minutes=10)
    batch = []
    for n, visitor in enumerate(visitors):
        product = products[n % len(products)]
        for step, body in enumerate(
            (
                {"type": "page", "context": {"page": {"url": f"https://shop.kr/product/{product}"}}},
                {
                    "type": "track",
                    "event": "Product Added",
                    "properties": {"product_id": product, "price": 9900},
                },
                {"type": "page", "context": {"page": {"url": "https://shop.kr/cart"}}},
                {"type": "track", "event": "Exit Intent"},
            )
        ):
            stamp = (at + timedelta(seconds=step)).isoformat()
            batch.append({"messageId": uuid.uuid4().hex, "anonymousId": visitor, "timestamp": stamp, **body})
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        for i in range(0, len(batch), 400):
            answer = http.post("/v1/batch", json={"batch": batch[i : i + 400]})
            if answer.status_code != 200 or answer.json()["rejected"]:
                raise RuntimeError(answer.text[:300])


def _loads(
    users: list[str], products: list[str], visitors: list[str]
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    rng = np.random.default_rng(0)
    pick = lambda pool: pool[int(rng.integers(len(pool)))]  # noqa: E731
    return {
        "recommendations (their usual context)": [
            ("/v1/recommendations", {"user": pick(users), "n": 10}) for _ in range(REQUESTS)
        ],
        "recommendations (cart of 2, region)": [
            (
                "/v1/recommendations",
                {
                    "user": pick(users),
                    "n": 10,
                    "cart": f"{pick(products)},{pick(products)}",
                    "region": "부산",
                },
            )
            for _ in range(REQUESTS)
        ],
        "decide (live sessions at the cart's exit)": [
            ("/v1/decide", {"anonymousId": visitors[i % len(visitors)], "placement": "popup"})
            for i in range(REQUESTS)
        ],
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        shop = demo_workspace(Path(tmp) / "shop", customers=CUSTOMERS, days=DAYS)
        with Store(shop.folder / "shop.duckdb") as store:
            data = recommender_data(store)
            products = sorted(data.catalogue["item"].astype(str))
        data.interactions[["user", "item", "weight"]].to_parquet(Path(tmp) / "interactions.parquet")
        users = sorted(data.interactions["user"].astype(str).unique())
        print(
            f"shop: {CUSTOMERS:,} customers, {DAYS} days, {len(users):,} buyers, {len(products)} products "
            f"({time.perf_counter() - t0:.0f} s to build)"
        )
        visitors = [f"bench-visitor-{i}" for i in range(REQUESTS)]
        loads = _loads(users, products, visitors)
        server = Server(shop.folder).start()
        try:
            with server.client() as c:
                while (ready := c.get("/readyz").json())["recommender"] == "training":
                    time.sleep(0.5)
            print(f"ours: recommender {ready['recommender']} in {ready['recommender_fit_seconds']:.0f} s")
            _sessions(server.url, server.write_key, visitors, products)
            ours = {
                kind: asyncio.run(_steady(server.url, server.secret_key, reqs))
                for kind, reqs in loads.items()
            }
            assert server.process is not None
            ours_mb = peak_rss_mb(server.process.pid)
        finally:
            server.stop()
        port = free_port()
        peer = subprocess.Popen(
            [sys.executable, "-c", _PEER, str(port), str(Path(tmp) / "interactions.parquet")]
        )
        try:
            wait_until_ready(f"http://127.0.0.1:{port}/readyz", 120)  # it fits ALS first
            theirs = {
                kind: asyncio.run(_steady(f"http://127.0.0.1:{port}", "none", reqs))
                for kind, reqs in loads.items()
            }
            theirs_mb = peak_rss_mb(peer.pid)
        finally:
            peer.terminate()
            peer.wait()
    print(f"steady load: {RATE:.0f} requests/s, {REQUESTS:,} of each kind")
    worst = 0.0
    for kind in loads:
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            a, b = float(np.nanquantile(ours[kind], q)), float(np.nanquantile(theirs[kind], q))
            print(row(f"{kind} {label}", a, b, "ms"))
            if label == "p99":
                worst = max(worst, a)
    print(
        f"peak RSS: ours {ours_mb:.0f} MB (server with the hybrid, sessions, triggers), peer {theirs_mb:.0f} MB"
    )
    print(f"target p99 < 20 ms: {'met' if worst < 20 else 'NOT met'} (worst p99 {worst:.1f} ms)")


if __name__ == "__main__":
    main()
