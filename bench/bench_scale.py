"""Cost curves of one machine: generate (the synthetic shop streamed to a Parquet lake), import
(the lake into a fresh workspace), features (RFM, visits, behaviour) and each job, at 1M, 10M
and 100M events, each stage in a fresh process with its wall time and peak memory (RSS).

The peer of each figure is the same stage at the smallest size measured in the same run: the
growth factor beside the growth of the events says whether a stage grows linearly (a factor of
~10 for 10x the events) or worse.

DuckDB runs under ``SHOPMIND_DUCKDB_MEMORY_LIMIT`` (default here 6GB) with its spill folder in the
work directory, so the figures show what a bounded machine does. A watchdog kills a stage whose
RSS passes ``--kill-above`` (default 12 GB: the issue's bound) and reports it as not met.

Run with ``python -m bench.bench_scale`` (1M events; what ``make bench`` runs) or
``python -m bench.bench_scale --events 1000000 10000000 100000000`` (hours for 100M; run it in
the background with ``nice``). Each run appends its figures to ``bench/results/scale_results.jsonl`` and
draws ``bench/results/scale.svg`` (``--plot docs/scale.svg``: the README's) from every size measured there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench._measure import load_note

DAYS = 365
SEED = 1
AS_OF = datetime(2026, 12, 31, 15, tzinfo=UTC)  # the end of the year in Seoul
# figures and the plot stay out of git (bench/results/ is ignored); ``--plot docs/scale.svg``
# redraws the README's plot when a run measured every size it shows
RESULTS = Path(__file__).with_name("results") / "scale_results.jsonl"
BOUND_GB = 12  # the bound on one machine's peak memory
SPARK_MASTER = "local[2]"  # the machine's two cores
PLOT = Path(__file__).with_name("results") / "scale.svg"

#: the jobs of ``shopmind run``, in its order: (stage name, call on ``store`` as of ``AS_OF``)
JOBS = (
    ("intelligence", "run_customer_intelligence(store, AS_OF).profiles"),
    ("churn", "run_churn_risk(store, AS_OF).buyers"),
    ("purchase", "run_purchase_probability(store, AS_OF).profiles"),
    ("lookalike", "run_vip_lookalike(store, AS_OF).scored"),
    ("preferences", "run_preferences(store, AS_OF).tastes"),
    ("personas", "len(run_personas(store, AS_OF).personas)"),
    ("recommender", "run_recommender(store, AS_OF).interactions"),
)

_WRAPPER = """
import json, resource, time
from datetime import datetime
AS_OF = datetime.fromisoformat({as_of!r})
{setup}
t0 = time.perf_counter()
result = (lambda: ({body}))()
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("@@" + json.dumps({{"seconds": elapsed, "peak_mb": peak, "result": result}}, default=str))
"""


@dataclass(frozen=True)
class Figure:
    stage: str
    events: int
    seconds: float
    peak_mb: float
    result: str
    note: str = ""


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return 0.0


def _tree_rss_mb(pid: int) -> float:
    """The RSS of ``pid`` and every process under it (a Spark stage's JVM is one)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent and child not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(_rss_mb(member) for member in tree)


def run_stage(stage: str, events: int, setup: str, body: str, env: dict[str, str], kill_mb: float) -> Figure:
    """``body`` in a fresh process after ``setup``; killed if its RSS passes ``kill_mb``."""
    code = _WRAPPER.format(as_of=AS_OF.isoformat(), setup=textwrap.dedent(setup), body=body)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    killed = threading.Event()
    highest = [0.0]

    def watch() -> None:
        while proc.poll() is None:
            rss = _tree_rss_mb(proc.pid)
            highest[0] = max(highest[0], rss)
            if rss > kill_mb:
                killed.set()
                proc.kill()
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    watcher.join()
    if killed.is_set():
        return Figure(stage, events, float("nan"), highest[0], "", f"killed above {kill_mb:,.0f} MB")
    line = next((ln for ln in out.splitlines() if ln.startswith("@@")), None)
    if proc.returncode != 0 or line is None:
        last = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
        return Figure(stage, events, float("nan"), highest[0], "", f"failed: {last[:200]}")
    data = json.loads(line[2:])
    # the process's own peak (exact), or its tree's as sampled (with Spark's JVM) when higher
    return Figure(stage, events, data["seconds"], max(data["peak_mb"], highest[0]), str(data["result"]))


def stages(lake: Path, workspace: Path) -> list[tuple[str, str, str]]:
    """(stage, setup, body) in the order they run."""
    open_store = f"from shopmind.store import Workspace\nstore = Workspace({str(workspace)!r}).open_store()\n"
    features = open_store + textwrap.dedent(
        """
        from shopmind.features import behaviour_features, purchase_transactions, rfm_summary, visit_summary
        def work():
            orders, lines = store.table("orders"), store.table("order_lines")
            events, profiles = store.table("events"), store.table("profiles")
            tx = purchase_transactions(orders, lines, profiles)
            rfm = rfm_summary(tx, AS_OF).to_pyarrow().num_rows
            visits = visit_summary(events, profiles, AS_OF).to_pyarrow().num_rows
            behaviour = behaviour_features(events, tx, profiles, AS_OF).to_pyarrow().num_rows
            return {"rfm": rfm, "visits": visits, "behaviour": behaviour}
        """
    )
    found = [
        (
            "generate",
            "from shopmind.pipeline import write_demo_lake",
            f"write_demo_lake({str(lake)!r}, events=EVENTS, customers=CUSTOMERS, days={DAYS}, seed={SEED}).rows('events')",
        ),
        (
            "import",
            f"""
            from shopmind.store import Workspace
            from shopmind.ingest import import_lake
            ws = Workspace.init({str(workspace)!r})
            store = ws.open_store()
            """,
            f"sum(r.accepted for r in import_lake(store, {str(lake)!r}))",
        ),
        (
            "load",  # the peer of import: the same tables through the store's own writers, unvalidated
            f"""
            import pyarrow.dataset as ds
            from shopmind.store import Workspace, lake_schema
            ws = Workspace.init({str(workspace)!r})
            store = ws.open_store()
            def parts(name):
                data = ds.dataset({str(lake)!r} + "/" + name, partitioning="hive", schema=lake_schema(name))
                for batch in data.to_batches(batch_size=500_000):
                    yield pa.Table.from_batches([batch]).drop_columns(["day"])
            def work():
                import pyarrow as pa
                globals()["pa"] = pa
                store.write_products(ds.dataset({str(lake)!r} + "/products").to_table().drop_columns(["updated_at"]))
                stored = sum(store.write_events(t).inserted for t in parts("events"))
                orders = pa.concat_tables(parts("orders"))
                lines = pa.concat_tables(parts("order_lines"))
                store.write_orders(orders, lines)
                store.rebuild_profiles()
                return stored
            """,
            "work()",
        ),
        ("features", features, "work()"),
    ]
    for name, call in JOBS:
        found.append((name, open_store + "from shopmind.pipeline import *", call))
    # the same stages with the facts read from the lake by Spark (``shopmind run --engine spark
    # --data LAKE``), run only when asked for: their time includes starting Spark; the peak is that
    # of the Python driver and Spark's JVM together
    on_spark = textwrap.dedent(
        f"""
        from shopmind.core import DEFAULT_SHOP_TZ
        from shopmind.store import facts_on_spark
        def on_spark(work):
            with facts_on_spark(store, {str(lake)!r}, zone=DEFAULT_SHOP_TZ, master={SPARK_MASTER!r}):
                return work()
        """
    )
    for name, setup, body in list(found[3:]):
        found.append((f"spark-{name}", textwrap.dedent(setup) + on_spark, f"on_spark(lambda: {body})"))
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    parser.add_argument(
        "--stages",
        nargs="+",
        default=None,
        help="only these stages (default: all; without generate: the kept lake)",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/shopmind-bench-scale"))
    parser.add_argument("--memory-limit", default="6GB", help="SHOPMIND_DUCKDB_MEMORY_LIMIT for the stages")
    parser.add_argument("--kill-above", type=float, default=12_000, help="MB of RSS that stops a stage")
    parser.add_argument("--keep", action="store_true", help="keep the lake and workspace of the last size")
    parser.add_argument(
        "--plot", type=Path, default=PLOT, help="where to draw the plot (README's: docs/scale.svg)"
    )
    parser.add_argument(
        "--customers-per-event",
        type=float,
        default=None,
        help="members per event (0.07: the issue's 7M members for 100M events); default: the demo's "
        "rates (about 65,000 members per million events)",
    )
    parser.add_argument("--table", action="store_true", help="print the recorded figures as a Markdown table")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(load_results()))
        return

    print(load_note())
    figures: list[Figure] = []

    def customers(events: int) -> int | None:
        return None if args.customers_per_event is None else round(events * args.customers_per_event)

    for n in sorted(args.events):
        folder = args.work / f"{n}"
        # a stage left out keeps what an earlier run (--keep) made: the lake, the imported workspace
        for part, makers in (("lake", {"generate"}), ("workspace", {"import", "load"}), ("spill", set())):
            if not makers or not args.stages or makers & set(args.stages):
                shutil.rmtree(folder / part, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            SHOPMIND_DUCKDB_MEMORY_LIMIT=args.memory_limit,
            SHOPMIND_DUCKDB_TEMP_DIRECTORY=str(folder / "spill"),
        )
        for stage, setup, body in stages(folder / "lake", folder / "workspace"):
            if (args.stages and stage not in args.stages) or (
                not args.stages and (stage == "load" or stage.startswith("spark-"))
            ):
                continue  # load and spark-* only when asked for: peers of import and of the stages
            figure = run_stage(
                stage,
                n,
                f"EVENTS = {n}\nCUSTOMERS = {customers(n)}\n" + textwrap.dedent(setup),
                body,
                env,
                args.kill_above,
            )
            figures.append(figure)
            print(_line(figure), flush=True)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            with RESULTS.open("a") as fh:
                fh.write(
                    json.dumps({**asdict(figure), "at": datetime.now().isoformat(timespec="seconds")}) + "\n"
                )
            if figure.note and stage in ("generate", "import", "load"):
                break  # the later stages need this one's output
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print()
    print(growth_table(figures))
    spark = spark_table(figures)
    if spark:
        print()
        print(spark)
    draw(load_results(), args.plot)
    print(f"\nplot: {args.plot}")


def _line(f: Figure) -> str:
    rate = f"{f.events / f.seconds:12,.0f} events/s" if f.seconds == f.seconds and f.seconds > 0 else ""
    return (
        f"{f.stage:<13} {f.events:>12,} events  {f.seconds:9.1f} s  peak {f.peak_mb:8,.0f} MB {rate} {f.note}"
    )


def growth_table(figures: list[Figure]) -> str:
    """Each stage at each size beside its figure at the smallest size: time and memory growth."""
    lines = ["growth vs the smallest size (linear: the events' factor)"]
    smallest: dict[str, Figure] = {}
    for f in sorted(figures, key=lambda f: f.events):
        base = smallest.setdefault(f.stage, f)
        if base is f:
            continue
        lines.append(
            f"{f.stage:<13} x{f.events / base.events:<6.0f} events: time x{f.seconds / base.seconds:6.1f}, "
            f"peak memory x{f.peak_mb / base.peak_mb:5.1f}"
        )
    return "\n".join(lines)


def spark_table(figures: list[Figure]) -> str:
    """Each stage run on both engines in this run: Spark's time over DuckDB's."""
    done = {(f.stage, f.events): f for f in figures if f.seconds == f.seconds}
    lines = []
    for (stage, events), f in sorted(done.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        duck = done.get((stage.removeprefix("spark-"), events))
        if stage.startswith("spark-") and duck is not None:
            lines.append(
                f"{duck.stage:<13} {events:>12,} events: Spark {f.seconds:8.1f} s, DuckDB {duck.seconds:8.1f} s, "
                f"Spark / DuckDB x{f.seconds / duck.seconds:5.1f}"
            )
    return (
        "\n".join(["Spark (local[2]) beside DuckDB on the same workspace and lake", *lines]) if lines else ""
    )


def markdown_table(figures: list[Figure]) -> str:
    """Seconds and peak GB per stage (rows) and size (columns), as the README shows them."""
    sizes = sorted({f.events for f in figures})
    order = ["generate", "import", "load", "features", *(name for name, _ in JOBS)]
    cell = {(f.stage, f.events): f for f in figures}
    head = "| stage | " + " | ".join(f"{n / 1e6:g}M events: time, peak" for n in sizes) + " |"
    lines = [head, "|---|" + "---|" * len(sizes)]
    for stage in order:
        cells = []
        for n in sizes:
            f = cell.get((stage, n))
            if f is None:
                cells.append("not measured")
            elif f.seconds != f.seconds:
                cells.append(f.note or "failed")
            else:
                cells.append(f"{f.seconds:,.0f} s, {f.peak_mb / 1024:.1f} GB")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_results() -> list[Figure]:
    """The latest figure of each (stage, events) in ``scale_results.jsonl``."""
    if not RESULTS.exists():
        return []
    latest: dict[tuple[str, int], Figure] = {}
    for line in RESULTS.read_text().splitlines():
        data = json.loads(line)
        data.pop("at", None)
        f = Figure(**data)
        latest[(f.stage, f.events)] = f
    return list(latest.values())


def draw(figures: list[Figure], path: Path) -> None:
    """A log-log SVG of seconds and peak GB per stage against events (no plotting library)."""
    import math

    # DuckDB's stages (the Spark ones are compared in a table, measured at one size)
    done = [
        f for f in figures if f.seconds == f.seconds and f.seconds > 0 and not f.stage.startswith("spark-")
    ]
    if not done:
        return
    sizes = sorted({f.events for f in done})
    stages_seen = list(dict.fromkeys(f.stage for f in sorted(done, key=lambda f: f.events)))
    colours = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
        "#000000",
    ]
    width, height, pad = 420, 300, 50

    def panel(x0: int, title: str, value: str, unit: str) -> list[str]:
        values = [getattr(f, value) / (1024 if value == "peak_mb" else 1) for f in done]
        if value == "peak_mb":
            values.append(BOUND_GB)  # the bound is on the chart
        lo, hi = math.log10(min(values)), math.log10(max(values))
        hi = hi if hi > lo else lo + 1
        xlo, xhi = (
            math.log10(min(sizes[0], 1e6)),
            math.log10(max(sizes[-1], 1e8)),
        )  # 1M to 100M, measured or not
        xhi = xhi if xhi > xlo else xlo + 1

        def x(events: int) -> float:
            return x0 + pad + (math.log10(events) - xlo) / (xhi - xlo) * (width - 2 * pad)

        def y(v: float) -> float:
            return height - pad - (math.log10(v) - lo) / (hi - lo) * (height - 2 * pad)

        out = [
            f'<text x="{x0 + width / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
            f'<line x1="{x0 + pad}" y1="{height - pad}" x2="{x0 + width - pad}" y2="{height - pad}" stroke="black"/>',
            f'<line x1="{x0 + pad}" y1="{pad}" x2="{x0 + pad}" y2="{height - pad}" stroke="black"/>',
            f'<text x="{x0 + 12}" y="{pad - 10}" font-size="11">{unit} (log)</text>',
        ]
        if value == "peak_mb":
            out.append(
                f'<line x1="{x0 + pad}" y1="{y(BOUND_GB):.1f}" x2="{x0 + width - pad}" y2="{y(BOUND_GB):.1f}" '
                'stroke="red" stroke-dasharray="4 3"/>'
            )
            out.append(
                f'<text x="{x0 + width - pad}" y="{y(BOUND_GB) - 4:.1f}" text-anchor="end" font-size="10" '
                f'fill="red">{BOUND_GB:g} GB bound</text>'
            )
        for n in sorted({*sizes, 1_000_000, 10_000_000, 100_000_000}):
            out.append(
                f'<text x="{x(n):.0f}" y="{height - pad + 16}" text-anchor="middle" font-size="11">{n / 1e6:g}M</text>'
            )
        for v in (10**k for k in range(math.floor(lo), math.ceil(hi) + 1)):
            if lo <= math.log10(v) <= hi:
                out.append(
                    f'<text x="{x0 + pad - 4}" y="{y(v) + 4:.0f}" text-anchor="end" font-size="10">{v:g}</text>'
                )
        for i, stage in enumerate(stages_seen):
            points = sorted(
                (f.events, getattr(f, value) / (1024 if value == "peak_mb" else 1))
                for f in done
                if f.stage == stage
            )
            colour = colours[i % len(colours)]
            path_d = " ".join(
                f"{'M' if j == 0 else 'L'}{x(e):.1f},{y(v):.1f}" for j, (e, v) in enumerate(points)
            )
            out.append(f'<path d="{path_d}" fill="none" stroke="{colour}" stroke-width="2"/>')
            out.extend(f'<circle cx="{x(e):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>' for e, v in points)
        return out

    body = panel(0, "time per stage", "seconds", "seconds") + panel(
        width, "peak memory per stage", "peak_mb", "GB"
    )
    for i, stage in enumerate(stages_seen):
        body.append(
            f'<text x="{2 * width + 10}" y="{pad + 16 * i}" font-size="12" fill="{colours[i % len(colours)]}">{stage}</text>'
        )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width + 110}" height="{height}" '
        f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg)


if __name__ == "__main__":
    main()
