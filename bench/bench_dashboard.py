"""The dashboard's pages on the demo workspace of 100,000 customers (target: each page answers
within 1 s), over HTTP on loopback from a running ``shopmind serve`` with the recommender ready.

Each page is asked ``ROUNDS`` times in turn (after one warm-up round); reported: p50 and the
slowest answer per page, and the server's peak memory.

Peer, measured in the same run on the same store: what a dashboard without the jobs' stored
results runs on every load, i.e. the overview's and the segment map's figures computed from the
event table (customers, orders and revenue by day, revenue per buyer for the Pareto curve, RFM
quintiles per buyer), timed in DuckDB directly.

The workspace is built once (``shopmind demo`` + ``shopmind run``, several minutes) and kept in
``SHOPMIND_BENCH_CACHE`` (default ``~/.cache/shopmind-bench``). Run with
``python -m bench.bench_dashboard``; ``DASHBOARD_CUSTOMERS`` changes the size.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving import Server

from bench._measure import peak_rss_mb, row
from shopmind.store import Store

CUSTOMERS = int(os.environ.get("DASHBOARD_CUSTOMERS", "100000"))
DAYS = 90
AS_OF = "2026-04-01"
ROUNDS = 10
TARGET_S = 1.0

#: what a dashboard without stored results computes from the events on each load
_FROM_EVENTS = {
    "overview": [
        """SELECT count(DISTINCT user_id), count(DISTINCT anonymous_id) FILTER (WHERE user_id IS NULL)
        FROM events""",
        """SELECT CAST(event_time AS DATE) AS day, count(*), sum(revenue) FROM events
        WHERE type = 'order_completed' GROUP BY 1 ORDER BY 1""",
        """SELECT coalesce(user_id, anonymous_id), sum(revenue) AS revenue FROM events
        WHERE type = 'order_completed' GROUP BY 1 ORDER BY 2 DESC""",
    ],
    "customers": [
        """WITH buyers AS (
            SELECT coalesce(user_id, anonymous_id) AS who, max(event_time) AS last, count(*) AS f,
                   sum(revenue) AS m
            FROM events WHERE type = 'order_completed' GROUP BY 1
        ), scored AS (
            SELECT who, ntile(5) OVER (ORDER BY last) AS r, ntile(5) OVER (ORDER BY f) AS f,
                   ntile(5) OVER (ORDER BY m) AS m
            FROM buyers
        )
        SELECT r, f, m, count(*) FROM scored GROUP BY ALL""",
    ],
}


def _workspace() -> Path:
    cache = Path(os.environ.get("SHOPMIND_BENCH_CACHE", Path.home() / ".cache" / "shopmind-bench"))
    folder = cache / f"dashboard-{CUSTOMERS}-{DAYS}d"
    done = folder / ".built"
    if done.exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    shopmind = [sys.executable, "-m", "shopmind"]
    started = time.perf_counter()
    print(f"building the demo workspace of {CUSTOMERS:,} customers in {folder} (once)...", flush=True)
    subprocess.run([*shopmind, "init", "-w", str(folder)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [
            *shopmind,
            "demo",
            "-w",
            str(folder),
            "--customers",
            str(CUSTOMERS),
            "--days",
            str(DAYS),
            "--seed",
            "42",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [*shopmind, "run", "-w", str(folder), "--as-of", AS_OF, "--churn-horizon", "21"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    done.touch()
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def _peer(folder: Path) -> tuple[dict[str, float], dict[str, str]]:
    """Seconds per load of the figures computed from the events (median of 3), and the URLs the
    pages need (a VIP, a best-selling product)."""
    times: dict[str, float] = {}
    with Store(folder / "shop.duckdb") as store:
        events = store.scalar("SELECT count(*) FROM events")
        print(f"store: {events:,} events", flush=True)
        for page, queries in _FROM_EVENTS.items():
            rounds = []
            for _ in range(3):
                t0 = time.perf_counter()
                for query in queries:
                    store.sql(query)
                rounds.append(time.perf_counter() - t0)
            times[page] = statistics.median(rounds)
        vip = store.sql(
            "SELECT m.profile_id FROM segment_members m JOIN job_runs r USING (run_id) "
            "WHERE r.job = 'customer_intelligence' AND m.segment = 'vip' ORDER BY 1 LIMIT 1"
        )[0][0]
        product = store.sql("SELECT product_id FROM order_lines GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[
            0
        ][0]
    pages = {
        "overview": "/dashboard/overview",
        "customers": "/dashboard/customers",
        "segment list (VIP)": "/dashboard/customers/segment/vip",
        "predictions": "/dashboard/predictions",
        "band count (20-60%)": "/dashboard/predictions/audience?low=0.2&high=0.6",
        "customer 360 (a VIP)": f"/dashboard/customer?id={vip}",
        "products": "/dashboard/products",
        "product (best seller)": f"/dashboard/products/{product}",
        "explorer (부산, 3°C, 8h)": "/dashboard/products?region=부산&temp_c=3&hour=8",
        "on-site": "/dashboard/onsite",
    }
    return times, pages


def main() -> None:
    folder = _workspace()
    peer, pages = _peer(folder)
    server = Server(folder).start(timeout=300)
    try:
        headers = {"Authorization": f"Bearer {server.secret_key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            started = time.perf_counter()
            while client.get("/readyz").json().get("recommender") == "training":
                time.sleep(1)
            print(f"recommender ready after {time.perf_counter() - started:.0f} s more", flush=True)
            seconds: dict[str, list[float]] = {name: [] for name in pages}
            for round_ in range(ROUNDS + 1):
                for name, url in pages.items():
                    t0 = time.perf_counter()
                    answer = client.get(url)
                    elapsed = time.perf_counter() - t0
                    if answer.status_code != 200:
                        raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:300]}")
                    if round_:  # the first round warms up
                        seconds[name].append(elapsed)
        rss = peak_rss_mb(server.process.pid) if server.process else float("nan")
    finally:
        server.stop()
    print(f"{CUSTOMERS:,} customers · {ROUNDS} loads per page · server peak RSS {rss:,.0f} MB")
    print(f"{'page':<28} {'p50':>9} {'slowest':>9}")
    worst = 0.0
    for name, values in seconds.items():
        worst = max(worst, max(values))
        print(f"{name:<28} {statistics.median(values) * 1000:7.0f} ms {max(values) * 1000:7.0f} ms")
    for page, label in (("overview", "overview"), ("customers", "customers")):
        ours = statistics.median(seconds[label])
        print(row(f"{page}: stored results vs from the events, s", ours, peer[page], "s"))
    verdict = "met" if worst <= TARGET_S else "NOT met"
    print(f"target every page within {TARGET_S:.0f} s: {verdict} (slowest answer {worst * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
