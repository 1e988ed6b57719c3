"""``shopmind demo --to-lake DIR [--events N]``: the synthetic shop streamed into a Parquet lake
(the open data layout) instead of a workspace, for shops too big to generate in memory."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from rich.table import Table

from shopmind.cli._common import EXIT_USAGE, console, fail, progress_bars
from shopmind.core import InvalidInputError, StoreError


def write_lake(
    directory: Path,
    *,
    customers: int | None,
    events: int | None,
    days: int,
    seed: int,
    start: date | None,
    chunk_events: int,
) -> None:
    """Write the shop to ``directory`` and print what was written."""
    from shopmind.pipeline import write_demo_lake

    try:
        with progress_bars() as progress:
            report = write_demo_lake(
                directory,
                customers=customers,
                events=events,
                days=days,
                seed=seed,
                start=start,
                chunk_events=chunk_events,
                progress=progress,
            )
    except (InvalidInputError, StoreError) as exc:  # a bad size, a lake there already
        raise fail(str(exc), EXIT_USAGE) from None
    table = Table(title=f"demo shop written to {report.directory}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("files", justify="right")
    for name, rows, files in report.lake.tables:
        table.add_row(name, f"{rows:,}", f"{files:,}")
    console.print(table)
    console.print(
        f"seed {seed} · {report.customers:,} members · {report.days} days from {report.start} · "
        f"{report.cohorts:,} cohorts"
    )
    console.print(f"load it into a workspace with: shopmind import parquet {report.directory}")
