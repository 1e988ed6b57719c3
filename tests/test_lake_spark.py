"""The open layout between shopmind and Apache Spark, both ways: Spark reads an exported lake
(with the same shop-local days), and a directory Spark wrote (INT96 times, ``_SUCCESS`` files,
its own part names) imports with the same instants."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shopmind.events import EVENT_SCHEMA
from shopmind.ingest import import_lake
from shopmind.store import LakeWriter, Store, export_lake
from tests.spark_fixtures import spark  # noqa: F401  (the session fixture)

MIDNIGHT = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)  # 2026-04-01 00:00 in Seoul


def test_spark_reads_a_lake_with_its_days(spark: Any, store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Both writers: the chunk writer (pyarrow) and the export of a store (DuckDB's own writer)."""
    times = [datetime(2026, 3, 31, 14, 59, 59, tzinfo=UTC), MIDNIGHT]
    events = pa.table(
        {
            "message_id": ["before", "after"],
            "type": ["page_view", "page_view"],
            "anonymous_id": ["a", "b"],
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "received_at": pa.array(times, pa.timestamp("us", tz="UTC")),
            "source": ["server", "server"],
        }
    )
    with LakeWriter(tmp_path / "written", zone="Asia/Seoul") as writer:
        writer.append("events", events)
    store.write_events(pa.Table.from_pylist(events.to_pylist(), schema=EVENT_SCHEMA))
    export_lake(store, tmp_path / "exported", zone="Asia/Seoul")
    for lake in ("written", "exported"):
        rows = (
            spark.read.parquet(str(tmp_path / lake / "events"))
            .select("message_id", "event_time", "day")
            .collect()
        )
        got = {r["message_id"]: (r["event_time"], r["day"].isoformat()) for r in rows}
        # the session zone is UTC: Spark's naive datetimes are the UTC instants
        assert got == {
            "before": (datetime(2026, 3, 31, 14, 59, 59), "2026-03-31"),
            "after": (datetime(2026, 3, 31, 15, 0), "2026-04-01"),
        }, lake


def test_a_lake_written_by_spark_imports(spark: Any, store: Store, tmp_path: Path) -> None:  # noqa: F811
    frame = spark.createDataFrame(
        [("s1", "page_view", "v1", MIDNIGHT, "2026-04-01"), ("s2", "search", "v2", MIDNIGHT, "2026-04-01")],
        "message_id string, type string, anonymous_id string, event_time timestamp, day string",
    )
    frame.write.option("compression", "snappy").partitionBy("day").parquet(str(tmp_path / "events"))
    written = sorted(p.name for p in (tmp_path / "events").rglob("*") if p.is_file())
    assert "_SUCCESS" in written  # Spark's own bookkeeping is there, and skipped
    part = next((tmp_path / "events").rglob("part-*.parquet"))
    kinds = {c.name: c.physical_type for c in pq.ParquetFile(part).schema}
    assert kinds["event_time"] == "INT96"  # Spark's default: UTC instants with no zone in the file

    (report,) = import_lake(store, tmp_path)

    assert (report.stored, report.rejected) == (2, 0)
    assert store.sql("SELECT message_id, event_time FROM events ORDER BY 1") == [
        ("s1", MIDNIGHT),
        ("s2", MIDNIGHT),
    ]
