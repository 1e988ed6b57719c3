"""A campaign's results for ``MEMBERS`` customers (10 % holdout, every treated one messaged, about
``BUYERS`` of them buying in the window and as many orders outside it): ``campaign_results``
(per-step counts and the uplift, sums computed in DuckDB, one query each) beside a peer in the
same run: the same figures in pandas over the rows pulled out of the store (members, messages,
orders), fed to the same interval functions. Both must agree to the cent.

Run with ``python -m bench.bench_campaign_results`` (about a minute).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._measure import load_note, measure, paired_medians, row, spread

MEMBERS, BUYERS, SEED, REPEATS = 1_000_000, 80_000, 19, 3

PREPARE = """
from datetime import UTC, datetime, timedelta
import numpy as np, pyarrow as pa
from shopmind.activation import Campaign, Content, SegmentAudience, Step, campaign_json
from shopmind.store import Store

t0 = datetime(2026, 11, 2, 1, tzinfo=UTC)
rng = np.random.default_rng({seed})
n = {members}
ids = np.array([f"user:m{{i}}" for i in range(n)])
holdout = rng.random(n) < 0.1
with Store({path!r}) as store:
    campaign = Campaign(name="bench", audience=SegmentAudience(segment="dormant_vip"),
                        steps=[Step(id="s1", messages={{"sms": Content(text="x")}})])
    store.sql("INSERT INTO campaigns VALUES ('c1', 'bench', ?, 'running', ?, 'bench', ?)",
              [campaign_json(campaign), t0, t0])
    entered = pa.array(np.full(n, np.datetime64(t0.replace(tzinfo=None), "us")), pa.timestamp("us", tz="UTC"))
    members = pa.table({{"profile_id": ids, "arm": np.where(holdout, "holdout", "treated"), "entered_at": entered}})
    with store.staged("m", members) as src:
        store.sql(f"INSERT INTO campaign_members (campaign_id, profile_id, arm, entered_at) SELECT 'c1', * FROM {{src}}")
    treated = ids[~holdout]
    sent = pa.array(np.datetime64(t0.replace(tzinfo=None), "us") + rng.integers(0, 12 * 3600, treated.size).astype("timedelta64[s]"),
                    pa.timestamp("us", tz="UTC"))
    outbox = pa.table({{"profile_id": treated, "sent_at": sent}})
    with store.staged("o", outbox) as src:
        store.sql(f'''INSERT INTO outbox (message_key, campaign_id, step, profile_id, channel, format, kind, state,
            due_at, planned_at, body_text, cost, created_at, updated_at, sent_at)
            SELECT 'c1:' || profile_id || ':s1', 'c1', 's1', profile_id, 'sms', 'sms', 'advertising', 'sent',
                   sent_at, sent_at, 'x', 9.9, sent_at, sent_at, sent_at FROM {{src}}''')
    buyers = rng.choice(n, {buyers} * 2, replace=False)
    offsets = np.concatenate([rng.integers(13 * 3600, 6 * 86400, {buyers}), rng.integers(8 * 86400, 30 * 86400, {buyers})])
    orders = pa.table({{
        "order_id": [f"o{{i}}" for i in range(buyers.size)],
        "customer_id": [f"m{{b}}" for b in buyers],
        "ordered_at": pa.array(np.datetime64(t0.replace(tzinfo=None), "us") + offsets.astype("timedelta64[s]"),
                               pa.timestamp("us", tz="UTC")),
        "amount": rng.gamma(2.0, 15000.0, buyers.size).round(),
    }})
    with store.staged("b", orders) as src:
        store.sql(f"INSERT INTO orders (order_id, ordered_at, customer_id, currency, source) "
                  f"SELECT order_id, ordered_at, customer_id, 'KRW', 'bench' FROM {{src}}")
        store.sql(f"INSERT INTO order_lines (line_key, order_id, line_no, product_id, quantity, unit_price) "
                  f"SELECT order_id, order_id, 1, 'p', 1, amount FROM {{src}}")
"""

OURS = """
from datetime import UTC, datetime
from shopmind.activation import campaign_results
from shopmind.store import Store
store = Store({path!r}, read_only=True)
as_of = datetime(2026, 12, 31, tzinfo=UTC)
"""
OURS_BODY = "campaign_results(store, 'c1', as_of=as_of).uplift.to_dict()"

PEER = """
from datetime import UTC, datetime, timedelta
import numpy as np, pandas as pd
from shopmind.activation import Arm, uplift
from shopmind.store import Store
store = Store({path!r}, read_only=True)
as_of = datetime(2026, 12, 31, tzinfo=UTC)

def peer():
    members = store.query_arrow("SELECT profile_id, arm, entered_at FROM campaign_members WHERE campaign_id = 'c1'").to_pandas()
    sent = store.query_arrow("SELECT profile_id, sent_at, cost FROM outbox WHERE campaign_id = 'c1' AND sent_at <= ?", [as_of]).to_pandas()
    orders = store.query_arrow(
        "SELECT 'user:' || customer_id AS profile_id, ordered_at, revenue FROM order_totals "
        "WHERE NOT is_return AND ordered_at <= ?", [as_of]).to_pandas()
    first = sent.groupby("profile_id", as_index=False)["sent_at"].min()
    m = members.merge(first, on="profile_id", how="left")
    m["since"] = np.where((m.arm == "treated") & m.sent_at.notna(), m.sent_at, m.entered_at)
    m["since"] = pd.to_datetime(m["since"], utc=True)
    j = m[["profile_id", "since"]].merge(orders, on="profile_id")
    j = j[(j.ordered_at >= j.since) & (j.ordered_at < j.since + timedelta(days=7))]
    spent = j.groupby("profile_id")["revenue"].sum()
    m["revenue"] = m.profile_id.map(spent).fillna(0.0)
    arms = {{}}
    for arm, g in m.groupby("arm"):
        arms[arm] = Arm(len(g), int((g.revenue > 0).sum()), float(g.revenue.sum()), float((g.revenue ** 2).sum()))
    treated_sent = int(m[(m.arm == "treated")].sent_at.notna().sum())
    return uplift(arms["treated"], arms["holdout"], messaged=treated_sent, cost=float(sent.cost.sum())).to_dict()
"""
PEER_BODY = "peer()"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "bench.duckdb")
        measure(PREPARE.format(path=path, seed=SEED, members=MEMBERS, buyers=BUYERS), "None")
        (ours, peer), (ours_times, peer_times) = paired_medians(
            REPEATS, (OURS.format(path=path), OURS_BODY), (PEER.format(path=path), PEER_BODY)
        )
        a, b = ours.result, peer.result
        assert isinstance(a, dict) and isinstance(b, dict)
        for key in (
            "conversion_rate_difference",
            "revenue_per_customer_difference",
            "net_incremental_revenue",
        ):
            for end in ("estimate", "low", "high"):
                assert abs(a[key][end] - b[key][end]) <= 1e-6 * max(1.0, abs(b[key][end])), (key, end, a, b)
        print(load_note())
        print(f"campaign results, {MEMBERS:,} members, {BUYERS:,} buyers in the window and as many outside")
        print(row("results: time (peer: pandas over the pulled rows)", ours.seconds, peer.seconds, "s"))
        print(row("results: peak memory", ours.peak_mb, peer.peak_mb, "MB"))
        print(f"  ours {spread(ours_times)}; peer {spread(peer_times)}")
        print(f"  conversion rate difference {a['conversion_rate_difference']}")


if __name__ == "__main__":
    main()
