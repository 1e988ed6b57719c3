"""The open data layout: ``export_lake`` of a demo shop vs DuckDB's bare ``COPY`` of the same
tables to Parquet (no partitions, no declared schema), and ``import_lake`` of its events into a
fresh store vs a bare ``CREATE TABLE AS SELECT * FROM read_parquet(...)`` (no checks, no keys, no
identity links, no dedup), each in a fresh process, with wall time and peak memory.

``python -m bench.bench_lake [CUSTOMERS] [DAYS]`` (default 5000 customers over 90 days: about
200,000 events)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench._measure import measure, row


def main(customers: int = 5000, days: int = 90) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shop = root / "shop.duckdb"
        # the shop is made in its own process too: a process's peak memory is inherited by its children
        made = measure(
            "from shopmind.pipeline import load_demo_shop\nfrom shopmind.store import Store\n"
            f"store = Store({str(shop)!r})\n"
            f"load_demo_shop(store, customers={customers}, days={days}, seed=42)\n"
            "n = int(store.scalar('SELECT count(*) FROM events'))\nstore.close()",
            "n",
        )
        events = int(str(made.result))
        open_shop = f"from shopmind.store import Store, export_lake\nstore = Store({str(shop)!r})"
        ours = measure(open_shop, f"export_lake(store, {str(root / 'lake')!r}).rows('events')")
        peer = measure(
            f"import duckdb\ncon = duckdb.connect({str(shop)!r}, read_only=True)",
            f"[con.execute(f\"COPY {{t}} TO '{root}/bare_{{t}}.parquet' (FORMAT PARQUET, COMPRESSION ZSTD)\") "
            "for t in ('events', 'orders', 'order_lines', 'products', 'profiles', 'consent_ledger')] and "
            f"con.execute(\"SELECT count(*) FROM '{root}/bare_events.parquet'\").fetchall()[0][0]",
        )
        assert ours.result == peer.result == events, (ours.result, peer.result, events)
        print(f"lake export of a demo shop: {events:,} events, {customers:,} customers, {days} days")
        print("(peer: DuckDB COPY of each table to one Parquet file: no day folders, no declared schema)")
        print(row("export: wall time", ours.seconds, peer.seconds, "s"))
        print(row("export: peak memory (RSS of the process)", ours.peak_mb, peer.peak_mb, "MB"))

        ours = measure(
            f"from shopmind.store import Store\nfrom shopmind.ingest import import_lake\nstore = Store({str(root / 'in.duckdb')!r})",
            f"import_lake(store, {str(root / 'lake')!r}, tables=['events'])[0].stored",
        )
        peer = measure(
            f"import duckdb\ncon = duckdb.connect({str(root / 'bare.duckdb')!r})",
            f"con.execute(\"CREATE TABLE events AS SELECT * FROM read_parquet('{root}/lake/events/*/*.parquet')\") "
            "and con.execute('SELECT count(*) FROM events').fetchall()[0][0]",
        )
        assert ours.result == peer.result == events, (ours.result, peer.result, events)
        print("lake import of the events into a fresh store (peer: read_parquet + CREATE TABLE, no checks)")
        print(row("import: wall time", ours.seconds, peer.seconds, "s"))
        print(row("import: peak memory (RSS of the process)", ours.peak_mb, peer.peak_mb, "MB"))
        print(
            row(
                "import: events per second",
                events / ours.seconds,
                events / peer.seconds,
                "e/s",
                lower_is_better=False,
            )
        )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
