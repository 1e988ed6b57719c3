"""Live segment membership: the cost of keeping N saved segments up to date per event that arrives
(N = 10 and 100 live segments: banner clicks, "saw banner X and did not click", category views
counted over sliding windows, "viewed a category then added to cart within 30 minutes", searches,
page patterns), with the history's entries and exits written, on the synthetic shop of
``shopmind demo`` (``CUSTOMERS`` customers, ``DAYS`` days of events) and a week of new events
replayed in groups of ``GROUP`` (the server's group commit) with the clock following them.

Peer, measured in the same run: recomputing the same segments with the compiled Ibis query over
the stored events (``segments.members``), once per group of ``GROUP`` events (kinder to the peer
than once per event), on ``PEER_GROUPS`` groups; the figure is per event. Also reported: the
rebuild from the stored events at start, and the peak memory (RSS) of each side's process, with
how much state the live side keeps. Every figure is measured on a quiet machine and again beside
``--hog N`` processes spinning on the CPU (one per core by default).

Run with ``python -m bench.bench_live_segments [--hog N]`` (a few minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._measure import cpu_hog, load_note, measure, row

CUSTOMERS, DAYS, SEED = 10_000, 60, 11
GROUP = 100  # events per group, as the server commits them
REPLAY_DAYS = 7  # of new events replayed (the demo's last week, a week later)
PEER_GROUPS = 3
SIZES = (10, 100)

PREPARE = """
from datetime import timedelta
from shopmind.pipeline import load_demo_shop
from shopmind.store import Store
with Store({path!r}) as store:
    load_demo_shop(store, customers={customers}, days={days}, seed={seed})
"""

# the segments: templates over the shop's own vocabulary (banners, categories), cycled to N
SEGMENTS = r"""
import itertools, json, shutil, types
from datetime import timedelta
from shopmind.core import FixedClock
from shopmind.segments import create_segment, parse_definition
from shopmind.store import Store, LIVE_EVENT_COLUMNS


def definitions(store, n):
    banners = [b for (b,) in store.sql(
        "SELECT banner_id FROM events WHERE banner_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC")]
    categories = [c for (c,) in store.sql(
        "SELECT category FROM events WHERE category IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC")]
    def last(days):
        return {"kind": "last", "days": days}
    def made():
        for k, days in itertools.product((1, 2, 3, 4), (1, 3, 7, 14)):
            for b in banners:
                yield [{"kind": "event", "type": "banner_click", "where": [{"property": "banner_id", "value": b}],
                        "count": {"at_least": k}, "window": last(days)}]
                yield [{"kind": "event", "type": "banner_impression", "where": [{"property": "banner_id", "value": b}],
                        "count": {"at_least": k}, "window": last(days)},
                       {"kind": "not", "condition": {"kind": "event", "type": "banner_click",
                        "where": [{"property": "banner_id", "value": b}], "window": last(days)}}]
            for c in categories:
                yield [{"kind": "event", "type": "product_view", "category": c, "count": {"at_least": k + 1},
                        "window": last(days)}]
                yield [{"kind": "sequence", "steps": [{"type": "product_view", "category": c}, {"type": "cart_add"}],
                        "within_minutes": 30 * k, "window": last(days)}]
            yield [{"kind": "event", "type": "search", "count": {"at_least": k + 1}, "window": last(days)}]
            yield [{"kind": "event", "type": "page_view", "page": "*/category/*", "count": {"at_least": 2 * k},
                    "window": last(days)}]
            yield [{"kind": "any", "conditions": [
                {"kind": "event", "type": "cart_add", "count": {"at_least": k}, "window": last(days)},
                {"kind": "event", "type": "checkout_start", "window": last(days)}]}]
    return [parse_definition({"name": {"en": f"segment {i}"}, "conditions": conditions})
            for i, conditions in zip(range(n), made())]


def copy(source, folder, n):
    path = f"{folder}/shop-{n}.duckdb"
    shutil.copy(source, path)
    store = Store(path)
    end = store.scalar("SELECT max(event_time) FROM events")
    found = definitions(store, n)
    for d in found:
        create_segment(store, d, as_of=end, materialize=False)
    return store, end, found


def replay(store, end, days):
    # the shop's last week again, a week later, with new message ids: new events arriving
    rows = store.query_arrow(
        f"SELECT {', '.join(LIVE_EVENT_COLUMNS)} FROM events WHERE event_time > ? ORDER BY event_time",
        [end - timedelta(days=days)],
    ).to_pylist()
    shift = timedelta(days=days)
    out = []
    for r in rows:
        r["event_time"] = r["event_time"] + shift
        r["message_id"] = "replay-" + r["message_id"]
        out.append(types.SimpleNamespace(**r))
    return out
"""

OURS = r"""
import time
from shopmind.segments import LiveMembership
store, end, found = copy({source!r}, {folder!r}, {n})
clock = FixedClock(end)
stream = replay(store, end, {replay_days})
live = LiveMembership(clock)
started = time.perf_counter()
live.start(store)
rebuild = time.perf_counter() - started
state_after_rebuild = live.engine.stats()


def replay_all():
    # each group counted as the server counts it before acknowledging it; the history written as
    # the server writes it under load, with the derived rows, once DERIVED_MAX_AGE_S has passed
    from shopmind.api._worker import DERIVED_MAX_AGE_S
    observe = write = 0.0
    writes = 0
    last = time.perf_counter()
    for i in range(0, len(stream), {group}):
        group = stream[i:i + {group}]
        if group[-1].event_time > clock.now():
            clock.advance(group[-1].event_time - clock.now())
        t0 = time.perf_counter()
        live.observe(store, group, None)
        live.after_links(store, {{}})
        t1 = time.perf_counter()
        observe += t1 - t0
        if t1 - last >= DERIVED_MAX_AGE_S or i + {group} >= len(stream):
            live.write(store)
            last = time.perf_counter()
            write += last - t1
            writes += 1
    return {{"observe_s": observe, "write_s": write, "writes": writes, "written": live.written}}
"""
OURS_BODY = r"""(lambda r: {{**r, "events": len(stream), "rebuild_s": rebuild, "state": live.engine.stats(),
    "rebuilt": state_after_rebuild, "live": len(live.engine.segments),
    "not_live": len(live.engine.problems)}})(replay_all())"""

PEER = r"""
import time
import pyarrow as pa
from shopmind.events import EVENT_SCHEMA
from shopmind.segments import members
store, end, found = copy({source!r}, {folder!r}, {n})
stream = replay(store, end, {replay_days})
groups = [stream[i:i + {group}] for i in range({group}, ({peer_groups} + 1) * {group}, {group})]
names = EVENT_SCHEMA.names


def store_group(group):
    rows = [{{k: getattr(e, k, None) for k in names}} for e in group]
    for r in rows:
        r["received_at"] = r["event_time"]
        r["source"] = "api"
    store.write_events(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA), link=False)


def recompute():
    spent, counted = 0.0, 0
    for group in groups:
        store_group(group)  # (not timed: our side's events are stored by the server too)
        as_of = group[-1].event_time + timedelta(microseconds=1)
        t0 = time.perf_counter()
        for d in found:
            counted += members(store, d, as_of=as_of).num_rows
        spent += time.perf_counter() - t0
    return spent, counted
"""
PEER_BODY = (
    """(lambda r: {{"events": len(groups) * {group}, "seconds": r[0], "members": r[1]}})(recompute())"""
)


def _prepare(folder: str) -> str:
    path = f"{folder}/demo.duckdb"
    measure(PREPARE.format(path=path, customers=CUSTOMERS, days=DAYS, seed=SEED), "None")
    return path


def _one(source: str, folder: str, n: int, label: str) -> None:
    params = {
        "source": source,
        "folder": folder,
        "n": n,
        "replay_days": REPLAY_DAYS,
        "group": GROUP,
        "peer_groups": PEER_GROUPS,
    }
    ours = measure(SEGMENTS + OURS.format(**params), OURS_BODY.format(**params))
    peer = measure(SEGMENTS + PEER.format(**params), PEER_BODY.format(**params))
    got, theirs = ours.result, peer.result
    assert isinstance(got, dict) and isinstance(theirs, dict)
    observe_us = got["observe_s"] / got["events"] * 1e6
    ours_us = (got["observe_s"] + got["write_s"]) / got["events"] * 1e6
    peer_us = theirs["seconds"] / theirs["events"] * 1e6
    print(
        f"  {n} segments ({got['live']} live, {got['not_live']} counted at each run), {label}: "
        f"{got['events']:,} events in groups of {GROUP}"
    )
    print(row(f"update per event, {n} segments, {label}", ours_us, peer_us, "µs"))
    state = got["state"]
    print(
        f"    ours: {ours_us:.1f} µs per event: {observe_us:.1f} µs counting it before it is acknowledged, "
        f"the rest writing {got['written']:,} stays into the history in {got['writes']} writes "
        f"({got['write_s'] / max(got['writes'], 1) * 1000:.0f} ms each); rebuild at start "
        f"{got['rebuild_s']:.2f} s; state kept: {state['identifiers']:,} identifiers, "
        f"{state['times']:,} event times, {state['members']:,} members; peak RSS {ours.peak_mb:.0f} MB"
    )
    print(
        f"    peer: {peer_us:,.0f} µs per event ({theirs['seconds']:.2f} s for {PEER_GROUPS} groups x {n} "
        f"queries); peak RSS {peer.peak_mb:.0f} MB"
    )
    target = "met" if ours_us < 1000 else "NOT met"
    print(f"    target well under 1 ms per event: {target} ({ours_us / 1000:.3f} ms)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--hog", type=int, default=os.cpu_count() or 2, help="busy processes (0: none)")
    hog = parser.parse_args(argv).hog
    with tempfile.TemporaryDirectory() as folder:
        source = _prepare(folder)
        print(
            f"the synthetic shop: {CUSTOMERS:,} customers, {DAYS} days; {REPLAY_DAYS} days of new events replayed"
        )
        for label, processes in [("quiet", 0)] + ([(f"beside {hog} busy processes", hog)] if hog else []):
            print(f"{label}: {load_note()}")
            with cpu_hog(processes):
                for n in SIZES:
                    _one(source, folder, n, label)


if __name__ == "__main__":
    main()
