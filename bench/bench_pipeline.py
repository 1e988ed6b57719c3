"""The whole customer-intelligence pipeline, each run in a fresh process, with wall time and peak
memory (RSS) per stage; stages are timed with the pipeline's own ``progress(phase, done, total)``
callbacks (the time up to a report counts in the phase that reports it).

(a) Online Retail (541,909 order lines, UK, 2010-12-01 .. 2011-12-09): import the parquet file
into a fresh workspace store (``import_orders`` with the ``online_retail`` preset, what
``shopmind import orders --format online_retail`` runs), then ``run_customer_intelligence`` as of
2011-12-10 00:00 in the shop's zone (Europe/London: the pipeline's default zone is Asia/Seoul).
Imports are untimed on both sides (the peer's pandas and lifetimes; ours shopmind and the
libraries its run loads on first use, Ibis with its DuckDB backend and the holiday calendars);
the whole process, the interpreter and every import included, is printed beside. The peer is the usual lifetimes
notebook on the same file: pandas reads the parquet, drops guests,
cancellations and non-product codes (the preset's pattern), sums lines per invoice, and
``lifetimes.utils.summary_data_from_transaction_data`` (days, ``freq_multiplier=7``: weeks as the
pipeline uses) feeds BetaGeoFitter, GammaGammaFitter (repeat buyers) and
``customer_lifetime_value`` (12 months, 1% monthly discount). The peer does less: no validation,
quarantine, dedup keys or stored profiles, no visit summary or RFM segments, nothing written.

(b) Scaling on synthetic shops of 10k, 100k and 1M customers: ``load_demo_shop`` into a ``Store``
on a temporary file, then ``run_customer_intelligence`` as of the day after the period. Every size
uses the same period of ``DAYS`` = 30 days: the demo makes ~0.42 events per customer-day, so 1M
customers make ~12.6M events (~1.3M for 100k), which the generator (it holds the whole shop as
Arrow tables) and the store load can do on this machine (2 cores, 24 GB) within ``TIMEOUT`` = 10
minutes; 90 days would triple that. A size that does not finish in time is reported as such.

Run with ``python -m bench.bench_pipeline`` (or ``python -m bench`` for every benchmark);
``python -m bench.bench_pipeline --before ../main/src`` runs (a) alone as of this checkout and
as of other sources, taking turns (what a change gained, on a shared machine).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from statistics import median

from bench._measure import StagedMeasurement, load_note, measure_stages, row, taking_turns
from shopmind.ingest import ONLINE_RETAIL

ROOT = Path(__file__).resolve().parents[1]
ONLINE_RETAIL_FILE = "../shared/data/online_retail/online_retail.parquet"
AS_OF = "2011-12-10"
DAYS = 30
SIZES = (10_000, 100_000, 1_000_000)
TIMEOUT = 600.0

# what runs up to each progress report, read from the code of each step
IMPORT_LABELS = {
    "read": "read file",
    "validate": "validate (typed SQL checks, kept in the engine)",
    "store": "orders; line keys and lines; products",
}
RUN_LABELS = {
    "summaries": "summaries: purchases, visits, RFM segments",
    "fit 2": "fit: BG/NBD",
    "fit": "fit: Gamma-Gamma + scores (P(alive), E[Y], CLV)",
    "store": "store: scores + segment members",
}
TAIL = "store: report (Pareto curve)"  # after the last report of run_customer_intelligence
LOAD_LABELS = {
    "generate": "generate_shop",
    "store events": "store products, weather, interests, events",
    "profiles 0": "store orders + lines",
    "profiles 1": "rebuild profiles",
}

OURS_RETAIL = f"""
import tempfile, time
from datetime import datetime
from zoneinfo import ZoneInfo
from shopmind.ingest import import_orders
from shopmind.pipeline import run_customer_intelligence
from shopmind.store import Workspace
import holidays, ibis, ibis.backends.duckdb  # what the run loads on first use (shopmind loads them lazily): untimed, as the peer's imports

stages = Stages()
cpu = time.process_time()
tmp = tempfile.TemporaryDirectory()
ws = Workspace.init(tmp.name + "/ws")
store = ws.open_store()
stages.end("import: init workspace")
imp = import_orders(
    store, {ONLINE_RETAIL_FILE!r}, fmt="online_retail", hasher=ws.hasher(),
    progress=stages.progress("import: ", {IMPORT_LABELS!r}),
)
stages.end("import: products, rebuild profiles")
zone = "Europe/London"
as_of = datetime.fromisoformat({AS_OF!r}).replace(tzinfo=ZoneInfo(zone))
rep = run_customer_intelligence(store, as_of, zone=zone, progress=stages.progress("run ", {RUN_LABELS!r}))
stages.end("run {TAIL}")
clv = store.scalar("SELECT sum(value) FROM scores WHERE run_id = ? AND name = 'clv_12m'", [rep.run_id])
store.close()
stages.report({{
    "lines": imp.rows_read, "stored": imp.stored, "rejected": imp.rejected, "buyers": rep.buyers,
    "profiles": rep.profiles, "vips": rep.vips, "bgnbd": dict(rep.clv_params),
    "gg": dict(rep.spend_params), "clv_sum": clv, "warnings": list(rep.warnings),
    "cpu": time.process_time() - cpu,
}})
"""

PEER_RETAIL = f"""
import time, warnings
import numpy as np, pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
warnings.simplefilter("ignore")

stages = Stages()
cpu = time.process_time()
df = pd.read_parquet({ONLINE_RETAIL_FILE!r})
stages.end("read parquet")
df = df[df.CustomerID.notna() & (df.Quantity != 0)]
df = df[~df.InvoiceNo.str.startswith("C") & ~df.StockCode.str.strip().str.fullmatch({ONLINE_RETAIL.non_product_pattern!r}, case=False)]
df = df.assign(value=df.Quantity * df.UnitPrice, at=pd.to_datetime(df.InvoiceDate))
orders = df.groupby("InvoiceNo").agg(customer=("CustomerID", "min"), at=("at", "min"), value=("value", "sum"))
orders = orders[(orders.value > 0) & (orders["at"] < {AS_OF!r})]
stages.end("clean, invoice values")
data = summary_data_from_transaction_data(
    orders, "customer", "at", monetary_value_col="value", observation_period_end="2011-12-09", freq="D", freq_multiplier=7
)
stages.end("summary (lifetimes.utils)")
x, tx, T, m = (data[c] for c in ("frequency", "recency", "T", "monetary_value"))
bg = BetaGeoFitter().fit(x, tx, T)
stages.end("fit BG/NBD")
rep = data[(x > 0) & (m > 0)]
gg = GammaGammaFitter().fit(rep.frequency, rep.monetary_value)
stages.end("fit Gamma-Gamma")
p_alive = bg.conditional_probability_alive(x, tx, T)
e90 = bg.conditional_expected_number_of_purchases_up_to_time(90 / 7, x, tx, T)
spend = gg.conditional_expected_average_profit(x, m)
clv = gg.customer_lifetime_value(bg, x, tx, T, m, time=12, freq="W", discount_rate=0.01)
stages.end("score (P(alive), E[Y(90d)], spend, CLV 12m)")
stages.report({{
    "buyers": len(data), "repeat": len(rep), "bgnbd": bg.params_.to_dict(), "gg": gg.params_.to_dict(),
    "clv_sum": float(np.nansum(clv)), "clv_nan": int(np.isnan(np.asarray(clv, float)).sum()),
    "cpu": time.process_time() - cpu,
}})
"""

DEMO = """
import os, tempfile
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo
from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.pipeline import load_demo_shop, run_customer_intelligence
from shopmind.store import Store

stages = Stages()
tmp = tempfile.TemporaryDirectory()
store = Store(tmp.name + "/shop.duckdb")
stages.end("generate+load: open store")
start = date(2026, 1, 1)
load = load_demo_shop(
    store, customers={customers}, days={days}, seed=7, start=start,
    progress=stages.progress("generate+load: ", {labels!r}),
)
end = start + timedelta(days={days})
as_of = datetime(end.year, end.month, end.day, tzinfo=ZoneInfo(DEFAULT_SHOP_TZ))
rep = run_customer_intelligence(store, as_of, progress=stages.progress("", {run_labels!r}))
stages.end({tail!r})
size = os.path.getsize(store.path)
store.close()
stages.report({{
    "events": load.events, "orders": load.orders, "lines": load.order_lines, "profiles": rep.profiles,
    "buyers": rep.buyers, "bgnbd": dict(rep.clv_params), "gg": dict(rep.spend_params),
    "warnings": list(rep.warnings), "store_mb": size / 2**20,
}})
"""


def _params(values: object) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in dict(values).items())  # type: ignore[call-overload]


def _print_stages(title: str, m: StagedMeasurement) -> None:
    print(f"  {title}: {m.seconds:.2f} s, peak RSS {m.peak_mb:,.0f} MB")
    for s in m.stages:
        print(f"    {s.name:<58} {s.seconds:8.2f} s   peak {s.peak_mb:8,.0f} MB")


def online_retail() -> None:
    if not (ROOT / ONLINE_RETAIL_FILE).exists():
        print(f"skipped: {ONLINE_RETAIL_FILE} is absent")
        return
    ours = measure_stages(OURS_RETAIL)
    peer = measure_stages(PEER_RETAIL)
    o, p = dict(ours.result), dict(peer.result)  # type: ignore[call-overload]
    print(
        f"(a) Online Retail, as of {AS_OF} 00:00 Europe/London: {o['lines']:,} lines read, {o['stored']:,} "
        f"stored, {o['rejected']:,} quarantined; {load_note()}"
    )
    _print_stages("ours (import into a fresh workspace + run_customer_intelligence)", ours)
    _print_stages("peer (pandas + lifetimes)", peer)
    print(row("parquet -> CLV of every buyer (end to end)", ours.seconds, peer.seconds, "s"))
    print(
        row(
            "  the whole process (interpreter and imports too)",
            ours.process_seconds,
            peer.process_seconds,
            "s",
        )
    )
    print(row("  the same, CPU time (all threads)", o["cpu"], p["cpu"], "s"))
    peer_analysis = peer.seconds - peer.seconds_of("read parquet", "clean")
    print(row("summary -> fit -> scores (ours: the run)", ours.seconds_of("run "), peer_analysis, "s"))
    print(row("peak RSS of the process", ours.peak_mb, peer.peak_mb, "MB"))
    print(
        f"    buyers ours {o['buyers']:,} (profiles {o['profiles']:,}, VIPs {o['vips']:,}); peer {p['buyers']:,} "
        f"({p['repeat']:,} repeat buyers for Gamma-Gamma)"
    )
    print(f"    BG/NBD ours: {_params(o['bgnbd'])}\n    BG/NBD peer: {_params(p['bgnbd'])}")
    print(f"    Gamma-Gamma ours: {_params(o['gg'])}\n    Gamma-Gamma peer: {_params(p['gg'])}")
    print(f"    sum of 12-month CLV: ours {o['clv_sum']:,.0f}, peer {p['clv_sum']:,.0f} ({p['clv_nan']} NaN)")
    for note in o["warnings"]:
        print(f"    ours warned: {note}")


GROUPS = ("generate+load", "summaries", "fit", "store")


def scaling() -> None:
    print(
        f"\n(b) synthetic shops over {DAYS} days: load_demo_shop into a Store on a temporary file, then "
        "run_customer_intelligence (a fresh process per size)"
    )
    done: dict[int, StagedMeasurement] = {}
    for n in SIZES:
        script = DEMO.format(customers=n, days=DAYS, labels=LOAD_LABELS, run_labels=RUN_LABELS, tail=TAIL)
        try:
            m = measure_stages(script, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"  {n:,} customers: NOT FEASIBLE here, did not finish within {TIMEOUT:.0f} s (stopped)")
            continue
        except RuntimeError as exc:
            print(f"  {n:,} customers: failed: {str(exc)[-500:]}")
            continue
        done[n] = m
        r = dict(m.result)  # type: ignore[call-overload]
        _print_stages(
            f"{n:,} customers: {r['events']:,} events, {r['orders']:,} orders, {r['buyers']:,} buyers, "
            f"{r['profiles']:,} profiles, store file {r['store_mb']:,.0f} MB",
            m,
        )
        print(f"    BG/NBD {_params(r['bgnbd'])}; Gamma-Gamma {_params(r['gg'])}")
        for note in r["warnings"]:
            print(f"    warned: {note}")
    if not done:
        return
    print("\n  per stage, seconds / peak RSS MB")
    print("  " + f"{'stage':<16}" + "".join(f"{f'{n:,} customers':>26}" for n in done))
    for group in (*GROUPS, "total"):
        cells = []
        for m in done.values():
            stages = [s for s in m.stages if group == "total" or s.name.split(":")[0] == group]
            seconds = sum(s.seconds for s in stages)
            peak = m.peak_mb if group == "total" else max((s.peak_mb for s in stages), default=0.0)
            cells.append(f"{seconds:10.1f} s {peak:9,.0f} MB")
        print("  " + f"{group:<16}" + "".join(f"{c:>26}" for c in cells))


def before_after(other: str, repeats: int = 2) -> None:
    """(a) as of this checkout and as of the sources in ``other`` (e.g. ``../main/src``), the two
    taking turns in fresh processes: wall and CPU time, medians of ``repeats``."""
    mine = str(ROOT / "src")

    def once() -> tuple[float, float]:
        m = measure_stages(OURS_RETAIL)
        return m.seconds, float(dict(m.result)["cpu"])  # type: ignore[call-overload]

    runs = taking_turns([mine, other], repeats, once, also=[str(ROOT)])
    print(f"(a) parquet -> CLV of every buyer, this checkout vs {other}, medians of {repeats}; {load_note()}")
    wall, cpu = ({src: median(r[i] for r in rs) for src, rs in runs.items()} for i in (0, 1))
    print(row("  wall time (ours: this checkout; peer: the other)", wall[mine], wall[other], "s"))
    print(row("  CPU time (all threads)", cpu[mine], cpu[other], "s"))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--before":
        before_after(sys.argv[2])
        return
    print("Customer-intelligence pipeline: wall time and peak RSS per stage, each run in a fresh process")
    online_retail()
    scaling()


if __name__ == "__main__":
    main()
