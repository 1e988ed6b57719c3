"""An experiment's results over ``EXPOSURES`` exposures (a fifth of them devices, half of those
merged into a member's profile, so some persons saw both variants), ``ORDERS`` orders before and
after the exposures: ``experiment_results`` (units resolved to profiles, conversion and revenue
per person within 7 days, revenue winsorised at its 99th percentile, CUPED sums over the 28 days
before, order value as a ratio, all summed per variant in DuckDB; then SRM, the statistics and the
traffic per day) beside a peer in the same run: the same sums in pandas over the rows pulled out
of the store (exposures, profiles, order totals and the orders' buyers), fed to the same
statistics. Both must agree (each variant's value to 1e-9).

The data are generated in the engine (``range`` and hashes, no Python loops). Run with
``python -m bench.bench_experiment_results`` (20 minutes on a busy 2-core machine; the peer
needs about 6 GB). Measured 2026-12-05 (load average 10 on 2 cores): ours 63 s, 3.3 GB; pandas
232 s, 6.3 GB (3.7x).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._measure import load_note, measure, paired_medians, row, spread

EXPOSURES, ORDERS, REPEATS = 10_000_000, 1_500_000, 3

EXPERIMENT = """
from shopmind.experiments import parse_experiment
exp = parse_experiment({
    "id": "bench", "name": "bench",
    "point": {"kind": "placement", "placement": "popup", "trigger": "exit"},
    "variants": [{"name": "control", "trigger": "exit"}, {"name": "treat", "trigger": "exit2"}],
    "metrics": [
        {"name": "conversion", "kind": "conversion", "window_days": 7},
        {"name": "revenue", "kind": "revenue", "window_days": 7, "cap_quantile": 0.99},
        {"name": "order_value", "kind": "order_value", "window_days": 7},
    ],
    "analysis": {"cuped": True, "cuped_days": 28},
})
"""

PREPARE = """
from datetime import UTC, datetime
from shopmind.store import Store

t0 = datetime(2026, 10, 1, tzinfo=UTC)
n, orders = {exposures}, {orders}
# a unit i: a device when i % 5 == 0 (half of them, i % 10 == 0, merged into member i + 1), else a
# member; the variant by a hash of i; exposed within the first 14 days
unit = "CASE WHEN i % 5 = 0 THEN 'anon:d' || i ELSE 'user:m' || i END"
with Store({path!r}) as store:
    store.sql(f'''INSERT INTO exposures
        SELECT 'bench', {{unit}}, CASE WHEN hash(i, 'v') % 2 = 0 THEN 'control' ELSE 'treat' END,
               ?::TIMESTAMPTZ + to_seconds((hash(i, 't') % (14 * 86400))::BIGINT), NULL, 'bench'
        FROM range({{n}}) r(i)''', [t0])
    store.sql(f'''INSERT INTO profiles
        SELECT 'user:m' || i, 'user:m' || i, 'user' FROM range({{n}}) r(i) WHERE i % 5 <> 0
        UNION ALL SELECT 'anon:d' || i, 'user:m' || (i + 1), 'anon' FROM range({{n}}) r(i) WHERE i % 10 = 0''')
    # orders of members (and of some devices), from 40 days before the exposures to 30 after;
    # the treated buy a little more
    store.sql(f'''CREATE TEMP TABLE o AS SELECT j, hash(j, 'who') % {{n}} AS i,
               ?::TIMESTAMPTZ + to_seconds((hash(j, 'at') % (70 * 86400))::BIGINT - 40 * 86400) AS ts,
               1000 + (hash(j, 'amount') % 200000)::DOUBLE AS amount
        FROM range({{orders}}) r(j)''', [t0])
    store.sql('''INSERT INTO orders (order_id, ordered_at, customer_id, anonymous_id, currency, is_return, source)
        SELECT 'o' || j, ts, CASE WHEN i % 5 <> 0 THEN 'm' || i END, CASE WHEN i % 5 = 0 THEN 'd' || i END,
               'KRW', hash(j, 'ret') % 50 = 0, 'bench' FROM o''')
    store.sql('''INSERT INTO order_lines (line_key, order_id, line_no, product_id, quantity, unit_price)
        SELECT 'o' || j, 'o' || j, 1, 'p', 1, amount FROM o''')
    store.sql("DROP TABLE o")
    store.checkpoint()
"""

OURS = """
from datetime import UTC, datetime
from shopmind.measure import experiment_results
from shopmind.store import Store
store = Store({path!r}, read_only=True)
as_of = datetime(2026, 11, 1, tzinfo=UTC)
"""
OURS_BODY = "experiment_results(store, exp, as_of=as_of).to_dict()"

PEER = """
from datetime import UTC, datetime, timedelta
import numpy as np, pandas as pd
from shopmind.experiments import ExperimentResult, TrafficPoint, VariantStats, analyse_experiment
from shopmind.store import Store
store = Store({path!r}, read_only=True)
as_of = datetime(2026, 11, 1, tzinfo=UTC)

def peer():
    units = store.query_arrow(
        "SELECT unit_id, variant, exposed_at FROM exposures WHERE experiment_id = 'bench' AND exposed_at <= ?",
        [as_of]).to_pandas()
    profiles = store.query_arrow("SELECT identifier, profile_id FROM profiles").to_pandas()
    totals = store.query_arrow("SELECT order_id, ordered_at, revenue, is_return FROM order_totals").to_pandas()
    buyers = store.query_arrow(
        "SELECT order_id, customer_id, email_hash, phone_hash, anonymous_id FROM orders").to_pandas()
    who = profiles.set_index("identifier")["profile_id"]
    units["profile_id"] = units.unit_id.map(who).fillna(units.unit_id)
    units = units.sort_values(["profile_id", "exposed_at", "variant"])
    crossed = int((units.groupby("profile_id").variant.nunique() > 1).sum())
    units = units.drop_duplicates("profile_id")
    o = totals[~totals.is_return & (totals.ordered_at <= as_of)].merge(buyers, on="order_id")
    ident = ("user:" + o.customer_id).fillna("email:" + o.email_hash).fillna("phone:" + o.phone_hash)
    o["ident"] = ident.fillna("anon:" + o.anonymous_id)
    o = o[o.ident.notna()]
    o["profile_id"] = o.ident.map(who).fillna(o.ident)
    j = units[["profile_id", "exposed_at"]].merge(o[["profile_id", "ordered_at", "revenue"]], on="profile_id")
    post = (j.ordered_at >= j.exposed_at) & (j.ordered_at < j.exposed_at + timedelta(days=7))
    pre = (j.ordered_at >= j.exposed_at - timedelta(days=28)) & (j.ordered_at < j.exposed_at)
    per = pd.DataFrame({{
        "profile_id": j.profile_id,
        "x": np.where(post, j.revenue, 0.0), "n": post.astype("int64"),
        "px": np.where(pre, j.revenue, 0.0), "pn": pre.astype("int64"),
    }}).groupby("profile_id").sum()
    u = units.set_index("profile_id")[["variant"]].join(per).fillna(0.0)
    cap = np.quantile(u.x, 0.99)
    values = {{
        "conversion": ((u.n > 0).astype(float), (u.pn > 0).astype(float), None),
        "revenue": (u.x.clip(upper=cap), u.px.clip(upper=cap), None),
        "order_value": (u.x, None, u.n.astype(float)),
    }}
    stats = {{}}
    for name, (x, p, d) in values.items():
        rows = []
        for variant in exp.variant_names:
            m = (u.variant == variant).to_numpy()
            xv = x[m]
            extra = {{}}
            if p is not None:
                pv = p[m]
                extra |= dict(pre_sum=float(pv.sum()), pre_sum_squares=float((pv * pv).sum()),
                              post_pre_sum=float((xv * pv).sum()))
            if d is not None:
                dv = d[m]
                extra |= dict(d_sum=float(dv.sum()), d_sum_squares=float((dv * dv).sum()),
                              x_d_sum=float((xv * dv).sum()))
            rows.append(VariantStats(variant, int(m.sum()), float(xv.sum()), float((xv * xv).sum()), **extra))
        stats[name] = rows
    counts = {{v: int((u.variant == v).sum()) for v in exp.variant_names}}
    srm, metrics = analyse_experiment(exp, stats, counts)
    days = (units.exposed_at + timedelta(hours=9)).dt.date.astype(str)
    daily = units.groupby([days, units.variant]).size()
    totals_by_day = daily.groupby(level=0).transform("sum")
    traffic = [TrafficPoint(d, v, int(c), c / t) for ((d, v), c), t in zip(daily.items(), totals_by_day)]
    return ExperimentResult("bench", as_of, sum(counts.values()), srm, metrics, traffic, [], crossed).to_dict()
"""
PEER_BODY = "peer()"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "bench.duckdb")
        measure(PREPARE.format(path=path, exposures=EXPOSURES, orders=ORDERS), "None")
        (ours, peer), (ours_times, peer_times) = paired_medians(
            REPEATS,
            (EXPERIMENT + OURS.format(path=path), OURS_BODY),
            (EXPERIMENT + PEER.format(path=path), PEER_BODY),
        )
        a, b = ours.result, peer.result
        assert isinstance(a, dict) and isinstance(b, dict)
        assert (a["units"], a["crossed_units"]) == (b["units"], b["crossed_units"]), (a["units"], b["units"])
        for ma, mb in zip(a["metrics"], b["metrics"], strict=True):
            for va, vb in zip(ma["variants"], mb["variants"], strict=True):
                assert va["units"] == vb["units"], (ma["metric"], va, vb)
                assert abs(va["value"] - vb["value"]) <= 1e-9 * max(1.0, abs(vb["value"])), (
                    ma["metric"],
                    va,
                    vb,
                )
        assert a["traffic"] == b["traffic"]
        print(load_note())
        print(
            f"experiment results, {EXPOSURES:,} exposures ({a['units']:,} persons, {a['crossed_units']:,} "
            f"crossed), {ORDERS:,} orders; conversion, revenue (capped, CUPED), order value"
        )
        print(row("results: time (peer: pandas over the pulled rows)", ours.seconds, peer.seconds, "s"))
        print(row("results: peak memory", ours.peak_mb, peer.peak_mb, "MB"))
        print(f"  ours {spread(ours_times)}; peer {spread(peer_times)}")
        for m in a["metrics"]:
            print(f"  {m['metric']}: " + ", ".join(f"{v['variant']} {v['value']:.4f}" for v in m["variants"]))


if __name__ == "__main__":
    main()
