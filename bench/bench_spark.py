"""``shopmind run`` with ``--engine duckdb`` beside ``--engine spark`` (local master) on the same
demo shop, each in a fresh process, one after the other: wall time of each, their ratio, and
whether the two runs wrote the same segments and scores (per job: segment members equal; the
largest relative difference of any score).

Spark is for clusters: on one machine the figure is its overhead (a JVM, planning each query,
scheduling tasks), not its speed. The Spark run's wall time includes exporting the workspace's
facts to Parquet (``WORKSPACE/lake``) and starting the session.

Run with ``python -m bench.bench_spark [CUSTOMERS] [DAYS] [MASTER]`` (defaults 400, 60,
``local[2]``: several minutes on a busy 2-core machine). Needs Java.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

START = datetime(2026, 1, 1, tzinfo=UTC)  # the synthetic shop's first day


def _shopmind(*args: str) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "shopmind", *args], capture_output=True, text=True, env=os.environ
    )
    if done.returncode != 0:
        raise RuntimeError(f"shopmind {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - began


def _results(
    folder: Path, as_of: datetime
) -> dict[str, tuple[set[tuple[str, str]], dict[tuple[str, str], float]]]:
    con = duckdb.connect(str(folder / "shop.duckdb"), read_only=True)
    try:
        runs = con.execute(
            "SELECT job, run_id FROM job_runs WHERE status = 'ok' AND as_of = ? ORDER BY finished_at", [as_of]
        ).fetchall()
        found = {}
        for job, run_id in runs:
            members = set(
                con.execute(
                    "SELECT segment, profile_id FROM segment_members WHERE run_id = ?", [run_id]
                ).fetchall()
            )
            rows = con.execute(
                "SELECT profile_id, name, value FROM scores WHERE run_id = ?", [run_id]
            ).fetchall()
            found[job] = (members, {(p, n): v for p, n, v in rows})
        return found
    finally:
        con.close()


def _largest_difference(a: dict[tuple[str, str], float], b: dict[tuple[str, str], float]) -> float:
    worst = 0.0
    for key, value in a.items():
        other = b.get(key)
        if value is None or other is None or math.isnan(value) or math.isnan(other):
            if (value is None) != (other is None):
                return math.inf
            continue
        scale = max(abs(value), 1e-9)
        worst = max(worst, abs(value - other) / scale)
    return worst


def main(customers: int = 400, days: int = 60, master: str = "local[2]") -> None:
    as_of = START + timedelta(days=days)
    with tempfile.TemporaryDirectory() as tmp:
        duck, spark = Path(tmp) / "duckdb", Path(tmp) / "spark"
        _shopmind("init", "-w", str(duck))
        _shopmind("demo", "-w", str(duck), "--customers", str(customers), "--days", str(days), "--seed", "42")
        shutil.copytree(duck, spark)
        day = as_of.date().isoformat()
        common = ["--as-of", day, "--zone", "UTC", "--churn-horizon", "21"]
        duck_s = _shopmind("run", "-w", str(duck), *common)
        spark_s = _shopmind("run", "-w", str(spark), *common, "--engine", "spark", "--spark-master", master)
        events = duckdb.connect(str(duck / "shop.duckdb"), read_only=True)
        n_events = events.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
        events.close()
        print(
            f"demo shop: {customers:,} customers, {days} days, {n_events:,} events; shopmind run as of {day}"
        )
        print(f"  --engine duckdb           {duck_s:7.1f} s")
        print(f"  --engine spark ({master}) {spark_s:7.1f} s   ({spark_s / duck_s:.1f}x DuckDB's time)")
        left, right = _results(duck, as_of), _results(spark, as_of)
        for job in sorted(left):
            if job not in right:
                print(f"  {job:24s} not run on Spark")
                continue
            (members, scores), (members_s, scores_s) = left[job], right[job]
            same = (
                "same segments"
                if members == members_s
                else f"segments differ ({len(members ^ members_s)} rows)"
            )
            keys = "" if scores.keys() == scores_s.keys() else " (scored profiles differ)"
            print(
                f"  {job:24s} {same}; {len(scores):,} scores, largest relative difference "
                f"{_largest_difference(scores, scores_s):.1e}{keys}"
            )


if __name__ == "__main__":
    argv = sys.argv[1:]
    main(
        int(argv[0]) if argv else 400,
        int(argv[1]) if len(argv) > 1 else 60,
        argv[2] if len(argv) > 2 else "local[2]",
    )
