"""Import of Online Retail (541,909 lines): shopmind's validated, idempotent import vs a plain
``pandas.read_parquet`` + load into DuckDB (no validation, no keys, no dedup), each in a fresh
process (imports and opening the store untimed), the two taking turns ``REPEATS`` times: the
median wall time, the CPU time of the process (every thread) beside it, and peak memory.

The machine is shared: the wall ratio moves with the neighbours' load, the CPU ratio much less
(it still grows a little on a busy machine: caches are shared too).

What ours does that the peer does not (the issue's "same checks as now"): every field typed and
checked in SQL with the reason kept for rejected rows (quarantine), cancellations and non-product
codes flagged, a line key per line (md5 of the normalised line and its occurrence among identical
lines) so that a re-import stores nothing twice (the lines whose key is stored are left out by an
anti-join: since schema version 19 no primary-key index, whose insert of 541,909 random keys cost
about half of our CPU time), order headers and products derived and stored, profiles rebuilt. The
md5 of every line (with the number and time written as text) is now the largest single cost.

Run with ``python -m bench.bench_import``; ``python -m bench.bench_import --before ../main/src``
measures our import as of this checkout against other sources instead, taking turns.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from bench._measure import Measurement, load_note, measure, row, taking_turns

DATA = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "online_retail" / "online_retail.parquet"
)
REPEATS = 3
LINES = 541_909

OURS = (
    "import time\nfrom shopmind.store import Store\nfrom shopmind.ingest import import_orders\nstore = Store(':memory:')",
    f"(lambda c: (import_orders(store, {str(DATA)!r}).stored, time.process_time() - c))(time.process_time())",
)
PEER = (
    "import time, duckdb, pandas as pd\ncon = duckdb.connect(':memory:')",
    f"(lambda c: ((lambda df: (con.execute('CREATE TABLE lines AS SELECT * FROM df'), len(df))[1])"
    f"(pd.read_parquet({str(DATA)!r})), time.process_time() - c))(time.process_time())",
)


def _median(runs: list[Measurement]) -> Measurement:
    return sorted(runs, key=lambda m: m.seconds)[(len(runs) - 1) // 2]


def _cpu(runs: list[Measurement]) -> float:
    return statistics.median(float(m.result[1]) for m in runs)  # type: ignore[index]


def before_after(other: str) -> None:
    """Our import as of this checkout and as of the sources in ``other`` (e.g. ``../main/src``),
    taking turns in fresh processes: what a change gained, on a shared machine."""
    mine = str(Path(__file__).resolve().parents[1] / "src")
    runs = taking_turns([mine, other], REPEATS, lambda: measure(*OURS))
    print(f"Online Retail import, this checkout vs {other}, medians of {REPEATS}; {load_note()}")
    print(
        row(
            "  wall time (ours: this checkout; peer: the other)",
            _median(runs[mine]).seconds,
            _median(runs[other]).seconds,
            "s",
        )
    )
    print(row("  CPU time (all threads)", _cpu(runs[mine]), _cpu(runs[other]), "s"))
    print(row("  peak memory (RSS)", _median(runs[mine]).peak_mb, _median(runs[other]).peak_mb, "MB"))


def main() -> None:
    if not DATA.exists():
        print(f"skipped: {DATA} is absent")
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--before":
        before_after(sys.argv[2])
        return
    ours: list[Measurement] = []
    peer: list[Measurement] = []
    for _ in range(REPEATS):
        ours.append(measure(*OURS))
        peer.append(measure(*PEER))
    for m in (*ours, *peer):
        assert m.result[0] == LINES, m.result  # type: ignore[index]
    o, p = _median(ours), _median(peer)
    print(
        f"Online Retail import, {LINES:,} lines (peer: pandas.read_parquet + DuckDB load, no checks), "
        f"medians of {REPEATS} fresh processes each, taking turns; {load_note()}"
    )
    print(row("wall time", o.seconds, p.seconds, "s"))
    print(row("CPU time (all threads)", _cpu(ours), _cpu(peer), "s"))
    print(row("peak memory (RSS of the process)", o.peak_mb, p.peak_mb, "MB"))
    print(row("lines per second (wall)", LINES / o.seconds, LINES / p.seconds, "l/s", lower_is_better=False))
    print(
        "  wall, every run: ours "
        + ", ".join(f"{m.seconds:.2f}" for m in ours)
        + " s; peer "
        + ", ".join(f"{m.seconds:.2f}" for m in peer)
        + " s"
    )
    print(f"  target: at least 0.5x the peer: {'met' if p.seconds / o.seconds >= 0.5 else 'NOT met'} (wall)")


if __name__ == "__main__":
    main()
