"""Preview of a five-condition segment on the demo workspace of 100,000 customers, beside the same
question written directly in pandas, in the same run.

The definition: members who viewed products at least three times in the last 30 days, bought
nothing in those 30 days, saw the winter sale banner, and whose 7-day purchase probability is at
least 20% (``DEFINITION``).

Sides, each in fresh processes taking turns (medians of ``REPEATS``), wall time and peak memory:

- ours: ``shopmind.segments.preview`` (the count, ten customers as the list shows them, the
  count per RFM segment, the warnings), the store opened before the clock starts: a first
  preview in a fresh process (as the command line runs it), and a second one in the same
  process (as the server answers every preview after its first);
- pandas: the rows it needs read from the same store into DataFrames (events of three types,
  profiles, orders and lines, the scores of the latest runs), then the same answer computed with
  merges and group-bys (the count only);
- pandas, rows in memory: the computation alone, the DataFrames read before the clock starts.

The two answers are checked to be equal. The workspace is the dashboard benchmark's (built once
into ``SHOPMIND_BENCH_CACHE``); ``DASHBOARD_CUSTOMERS`` changes its size. Run with
``python -m bench.bench_segments``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._measure import paired_medians, row
from bench.bench_dashboard import AS_OF, CUSTOMERS, _workspace

REPEATS = 5
DEFINITION = {
    "name": {
        "ko": "최근 자주 보지만 사지 않은, 배너를 본 구매 유망 회원",
        "en": "Browsing, not buying, likely",
    },
    "conditions": [
        {
            "kind": "event",
            "type": "product_view",
            "count": {"at_least": 3},
            "window": {"kind": "last", "days": 30},
        },
        {
            "kind": "not",
            "condition": {"kind": "event", "type": "order_completed", "window": {"kind": "last", "days": 30}},
        },
        {
            "kind": "event",
            "type": "banner_impression",
            "where": [{"property": "banner_id", "value": "bn-winter-sale"}],
        },
        {"kind": "profile", "field": "purchase_probability_7d", "op": ">=", "value": 0.2},
        {"kind": "profile", "field": "member", "value": True},
    ],
}

_OPEN = """
import sys
sys.path.insert(0, {root!r})
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo
from shopmind.store import Store
store = Store({path!r}, read_only=True)
as_of = datetime.fromisoformat({as_of!r}).replace(tzinfo=ZoneInfo("Asia/Seoul"))
"""

OURS = """
from shopmind.segments import preview
definition = {definition}
"""

#: pandas reads what it needs: every column the answer rests on, no more
READ = """
import pandas as pd
def read():
    q = store.query_arrow
    events = q("SELECT type, user_id, anonymous_id, event_time, banner_id FROM events "
               "WHERE type IN ('product_view', 'banner_impression')").to_pandas()
    profiles = q("SELECT identifier, profile_id, kind FROM profiles").to_pandas()
    orders = q("SELECT order_id, ordered_at, customer_id, email_hash, phone_hash, is_return, verified "
               "FROM orders").to_pandas()
    lines = q("SELECT order_id, quantity, unit_price, is_product, is_return FROM order_lines").to_pandas()
    runs = q("SELECT run_id, job, as_of, status FROM job_runs").to_pandas()
    scores = q("SELECT run_id, profile_id, value FROM scores WHERE name = 'purchase_probability_7d'").to_pandas()
    return events, profiles, orders, lines, runs, scores
"""

COMPUTE = """
def answer(events, profiles, orders, lines, runs, scores):
    owner = profiles.set_index("identifier").profile_id
    # the events the answer needs, before they are tied to customers (the costly step)
    events = events[events.event_time < as_of]
    recent = (events.type == "product_view") & (events.event_time >= as_of - timedelta(days=30))
    banner = (events.type == "banner_impression") & (events.banner_id == "bn-winter-sale")
    events = events[recent | banner]
    ident = ("user:" + events.user_id).fillna("anon:" + events.anonymous_id)
    events = events.assign(profile_id=ident.map(owner).fillna(ident))
    views = events[events.type == "product_view"].groupby("profile_id").size()
    viewed = set(views[views >= 3].index)
    saw = set(events[events.type == "banner_impression"].profile_id)
    # a purchase as the RFM runs count it: placed, verified, product lines worth something
    kept = lines[lines.is_product & ~lines.is_return]
    value = (kept.quantity * kept.unit_price).groupby(kept.order_id).sum()
    placed = orders[~orders.is_return & orders.verified.fillna(True)]
    placed = placed[placed.order_id.isin(value[value > 0].index)]
    placed = placed[(placed.ordered_at < as_of) & (placed.ordered_at >= as_of - timedelta(days=30))]
    key = ("user:" + placed.customer_id).fillna("email:" + placed.email_hash).fillna("phone:" + placed.phone_hash)
    key = key.dropna()
    bought = set(key.map(owner).fillna(key))
    ok = runs[(runs.status == "ok") & (runs.as_of <= as_of)]
    latest = ok.sort_values("as_of").groupby("job").tail(1).run_id
    s = scores[scores.run_id.isin(latest)]
    likely = set(s[s.value >= 0.2].profile_id)
    members = set(profiles[profiles.kind == "user"].profile_id)
    return len((viewed & saw & likely & members) - bought)
"""


def main() -> None:
    folder = _workspace()
    root = str(Path(__file__).resolve().parents[1] / "src")
    opened = _OPEN.format(root=root, path=str(folder / "shop.duckdb"), as_of=AS_OF)
    ours_setup = opened + OURS.format(definition=repr(DEFINITION))
    ours_body = "preview(store, definition, as_of=as_of).count"
    pandas_setup = opened + READ + COMPUTE
    pandas_body = "answer(*read())"
    warm_setup = ours_setup + "\npreview(store, definition, as_of=as_of)\n"
    memory_setup = pandas_setup + "\nframes = read()\n"
    memory_body = "answer(*frames)"
    # one untimed round: the file's pages in the OS cache for every side alike
    paired_medians(1, (ours_setup, ours_body), (pandas_setup, pandas_body))
    (ours, warm, pandas, in_memory), _ = paired_medians(
        REPEATS,
        (ours_setup, ours_body),
        (warm_setup, ours_body),
        (pandas_setup, pandas_body),
        (memory_setup, memory_body),
    )
    if not ours.result == warm.result == pandas.result == in_memory.result:
        raise RuntimeError(
            f"the answers differ: ours {ours.result}, pandas {pandas.result}, {in_memory.result}"
        )
    print(
        f"{CUSTOMERS:,} customers · five conditions · {ours.result:,} members · medians of {REPEATS} fresh processes"
    )
    print(row("preview vs pandas reading the rows it needs, s", ours.seconds, pandas.seconds, "s"))
    print(row("preview vs pandas with the rows in memory, s", ours.seconds, in_memory.seconds, "s"))
    print(row("a second preview vs pandas reading, s", warm.seconds, pandas.seconds, "s"))
    print(row("a second preview vs pandas in memory, s", warm.seconds, in_memory.seconds, "s"))
    print(row("peak memory: preview vs pandas reading, MB", ours.peak_mb, pandas.peak_mb, "MB"))
    print(row("peak memory: preview vs pandas in memory, MB", ours.peak_mb, in_memory.peak_mb, "MB"))


if __name__ == "__main__":
    main()
