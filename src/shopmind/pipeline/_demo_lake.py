"""``shopmind demo --to-lake DIR``: the synthetic shop streamed into the open data layout, cohort
by cohort (``demo.stream_shop``), so a shop of 100 million events is written on one machine with
the memory of one cohort and of the lake writer's buffer, never of the whole shop.

The lake gets ``events``, ``orders``, ``order_lines`` (each partitioned by shop-local day) and
``products``; ``shopmind import parquet DIR`` then loads it into a workspace. The demo's weather
and external interests are not tables of the layout and stay out (``shopmind demo`` loads them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.demo import DEFAULT_CHUNK_EVENTS, ShopChunk, stream_shop
from shopmind.store import LAKE_TABLES, LakeReport, LakeWriter

#: Rows a table buffers before the writer writes its part files (one per day present). A cohort
#: spans the whole period, so a flush of N events makes files of about N / days rows: 3 million
#: events (~1.1 GB in Arrow) give files of ~8,000 rows over a year, not 2,700 at the writer's default.
ROWS_PER_FILE = 3_000_000


@dataclass(frozen=True)
class DemoLakeReport:
    """What ``write_demo_lake`` wrote: the shop's size and the lake's rows and files per table."""

    directory: str
    customers: int
    days: int
    seed: int
    start: date
    cohorts: int
    lake: LakeReport

    def rows(self, table: str) -> int:
        return self.lake.rows(table)

    def files(self, table: str) -> int:
        return self.lake.files(table)


def write_demo_lake(
    directory: str | Path,
    *,
    days: int,
    seed: int,
    customers: int | None = None,
    events: int | None = None,
    start: date | None = None,
    chunk_events: int = DEFAULT_CHUNK_EVENTS,
    rows_per_file: int = ROWS_PER_FILE,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoLakeReport:
    """Generate the synthetic shop of ``customers`` members (or about ``events`` events) over
    ``days`` days and write it to a new lake at ``directory`` (refused if it holds one already:
    a second shop's rows would mix with the first's). ``progress("generate", cohort, cohorts)``
    after each cohort."""
    folder = Path(directory)
    if folder.is_dir() and any((folder / table).exists() for table in LAKE_TABLES):
        raise InvalidInputError(
            [FieldError("directory", f"{folder} already holds a lake; give a new or empty directory")]
        )
    stream = stream_shop(
        days=days, seed=seed, customers=customers, events=events, start=start, chunk_events=chunk_events
    )
    report = progress or (lambda phase, done, total: None)
    cohorts = len(stream.cohort_sizes)
    report("generate", 0, cohorts)
    writer = LakeWriter(folder, zone=DEFAULT_SHOP_TZ, rows_per_file=rows_per_file)
    writer.append("products", stream.products)
    for chunk in stream:
        writer.append("events", chunk.events)
        writer.append("orders", chunk.orders)
        writer.append("order_lines", _lines_with_order_times(chunk))
        report("generate", chunk.cohort + 1, cohorts)
        del chunk  # the next cohort is drawn with this one's memory given back
    lake = writer.close()
    return DemoLakeReport(
        directory=str(folder),
        customers=stream.customers,
        days=stream.days,
        seed=stream.seed,
        start=stream.start,
        cohorts=cohorts,
        lake=lake,
    )


def _lines_with_order_times(chunk: ShopChunk) -> pa.Table:
    """The cohort's order lines with their order's ``ordered_at``: the lake files a line under
    its order's day."""
    orders = chunk.orders
    position = pc.index_in(chunk.order_lines.column("order_id"), value_set=orders.column("order_id"))
    return chunk.order_lines.append_column("ordered_at", orders.column("ordered_at").take(position))


__all__ = ["ROWS_PER_FILE", "DemoLakeReport", "write_demo_lake"]
