"""Import of Online Retail (541,909 lines): shopmind's validated, idempotent import vs a plain
``pandas.read_parquet`` + load into DuckDB (no validation, no keys, no dedup), each in a fresh
process, with wall time and peak memory."""

from __future__ import annotations

from pathlib import Path

from bench._measure import measure, row

DATA = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "online_retail" / "online_retail.parquet"
)


def main() -> None:
    if not DATA.exists():
        print(f"skipped: {DATA} is absent")
        return
    ours = measure(
        "from shopmind.store import Store\nfrom shopmind.ingest import import_orders\nstore = Store(':memory:')",
        f"import_orders(store, {str(DATA)!r}).stored",
    )
    peer = measure(
        "import duckdb, pandas as pd\ncon = duckdb.connect(':memory:')",
        f"(lambda df: (con.execute('CREATE TABLE lines AS SELECT * FROM df'), len(df))[1])"
        f"(pd.read_parquet({str(DATA)!r}))",
    )
    assert ours.result == peer.result == 541_909, (ours.result, peer.result)
    print(f"Online Retail import, {ours.result:,} lines (peer: pandas.read_parquet + DuckDB load, no checks)")
    print(row("wall time", ours.seconds, peer.seconds, "s"))
    print(row("peak memory (RSS of the process)", ours.peak_mb, peer.peak_mb, "MB"))
    print(
        row(
            "lines per second",
            ours.result / ours.seconds,
            peer.result / peer.seconds,
            "l/s",
            lower_is_better=False,
        )
    )


if __name__ == "__main__":
    main()
