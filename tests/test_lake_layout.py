"""The open data layout: declared schemas, the chunk writer and the export of a store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.core import FixedClock, InvalidInputError
from shopmind.events import EVENT_SCHEMA
from shopmind.pipeline import load_demo_shop
from shopmind.store import (
    LAKE_TABLES,
    LakeError,
    LakeWriter,
    Store,
    export_lake,
    export_log,
    lake_partition,
    lake_schema,
    read_manifest,
)

T0 = datetime(2026, 3, 31, 14, 59, 59, tzinfo=UTC)  # 23:59:59 in Seoul; a second later it is April there


def _parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def _events(times: list[datetime], prefix: str = "m") -> pa.Table:
    n = len(times)
    return pa.table(
        {
            "message_id": [f"{prefix}{i}" for i in range(n)],
            "type": ["page_view"] * n,
            "anonymous_id": [f"a{i % 3}" for i in range(n)],
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "received_at": pa.array(times, pa.timestamp("us", tz="UTC")),
            "source": ["server"] * n,
        }
    )


def test_every_table_declares_its_schema_and_partition() -> None:
    assert LAKE_TABLES[:5] == ("events", "orders", "order_lines", "products", "profiles")
    assert "scores" in LAKE_TABLES
    for name in LAKE_TABLES:
        schema = lake_schema(name)
        files = lake_schema(name, partition=False)
        if lake_partition(name) == "day":
            assert schema.field("day").type == pa.date32()
            assert schema.names == [*files.names, "day"]
        else:
            assert schema.equals(files)
            assert "day" not in schema.names
    assert [lake_partition(n) for n in ("products", "profiles", "consents")] == [None, None, None]
    assert lake_schema("events", partition=False).equals(EVENT_SCHEMA)
    with pytest.raises(InvalidInputError, match="unknown lake table 'clicks'"):
        lake_schema("clicks")


def test_writer_files_rows_under_the_shop_local_day(tmp_path: Path) -> None:
    times = [T0, T0 + timedelta(seconds=1), T0 + timedelta(days=1, seconds=1)]
    with LakeWriter(tmp_path / "lake", zone="Asia/Seoul") as writer:
        assert writer.append("events", _events(times)) == 3
    days = sorted(p.name for p in (tmp_path / "lake" / "events").iterdir())
    assert days == ["day=2026-03-31", "day=2026-04-01", "day=2026-04-02"]
    for part in _parts(tmp_path / "lake" / "events"):
        assert part.name.startswith("part-") and part.suffix == ".parquet"
        assert pq.read_schema(part).equals(lake_schema("events", partition=False))
    read = ds.dataset(
        tmp_path / "lake" / "events", partitioning="hive", schema=lake_schema("events")
    ).to_table()
    by_id = dict(zip(read.column("message_id").to_pylist(), read.column("day").to_pylist(), strict=True))
    assert {k: v.isoformat() for k, v in by_id.items()} == {
        "m0": "2026-03-31",
        "m1": "2026-04-01",
        "m2": "2026-04-02",
    }
    assert read_manifest(tmp_path / "lake") == {
        "layout": "shopmind-lake",
        "version": 1,
        "zone": "Asia/Seoul",
        "tables": list(LAKE_TABLES),
    }


def test_a_zone_with_summer_time_moves_the_day_boundary(tmp_path: Path) -> None:
    # London: midnight is 00:00 UTC in winter, 23:00 UTC (the day before) in summer
    winter = datetime(2026, 1, 10, 23, 30, tzinfo=UTC)
    summer = datetime(2026, 7, 10, 23, 30, tzinfo=UTC)
    with LakeWriter(tmp_path, zone="Europe/London") as writer:
        writer.append("events", _events([winter, summer]))
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == ["day=2026-01-10", "day=2026-07-11"]


def test_appending_adds_files_and_never_rewrites_one(tmp_path: Path) -> None:
    with LakeWriter(tmp_path, rows_per_file=2) as writer:
        writer.append("events", _events([T0 + timedelta(days=1)] * 3, "a"))
    first = {p: p.read_bytes() for p in _parts(tmp_path)}
    with LakeWriter(tmp_path) as writer:
        writer.append("events", _events([T0 + timedelta(days=1)] * 2, "b").to_batches())
        report = writer.close()
    assert report.rows("events") == 2 and report.files("events") == 1
    after = _parts(tmp_path)
    assert len(after) == len(first) + 1
    assert all(p.read_bytes() == body for p, body in first.items())  # untouched
    assert ds.dataset(tmp_path / "events", partitioning="hive").count_rows() == 5
    assert not [p for p in (tmp_path / "events").rglob(".*")]  # no temporary file left


def test_writer_refuses_input_naming_the_table_and_column(tmp_path: Path) -> None:
    writer = LakeWriter(tmp_path)
    with pytest.raises(InvalidInputError, match=r"events\.evnt_name: not a column of the lake table events"):
        writer.append("events", _events([T0]).append_column("evnt_name", pa.array(["x"])))
    with pytest.raises(InvalidInputError, match=r"events\.event_time: is required: no such column"):
        writer.append("events", _events([T0]).drop_columns(["event_time"]))
    lines = pa.table(
        {"line_key": ["k"], "order_id": ["o"], "product_id": ["p"], "quantity": [1], "unit_price": [1.0]}
    )
    with pytest.raises(
        InvalidInputError, match=r"order_lines\.day: order lines need their order's 'ordered_at'"
    ):
        writer.append("order_lines", lines)
    assert writer.append("order_lines", lines.append_column("day", pa.array(["2026-04-01"]))) == 1
    report = writer.close()
    assert report.rows("order_lines") == 1
    part = _parts(tmp_path / "order_lines")[0]
    assert part.parent.name == "day=2026-04-01"
    row = pq.read_table(part).to_pylist()[0]
    assert row["is_return"] is False and row["is_product"] is True  # the store's defaults
    with pytest.raises(LakeError, match="closed"):
        writer.append("events", _events([T0]))


def test_a_lake_has_one_zone(tmp_path: Path) -> None:
    LakeWriter(tmp_path, zone="Asia/Seoul").close()
    with pytest.raises(LakeError, match="zone Asia/Seoul, not Europe/London"):
        LakeWriter(tmp_path, zone="Europe/London")
    with pytest.raises(InvalidInputError, match="zone: 'Mars/Base' is not an IANA time zone"):
        LakeWriter(tmp_path / "other", zone="Mars/Base")


@pytest.fixture(scope="module")
def demo() -> Iterator[Store]:
    with Store(":memory:", clock=FixedClock(datetime(2026, 2, 1, tzinfo=UTC))) as store:
        load_demo_shop(store, customers=150, days=20, seed=7)
        as_of = datetime(2026, 1, 21, tzinfo=UTC)
        run_id = store.begin_run("customer_intelligence", as_of)
        store.write_scores(
            run_id,
            as_of,
            pa.table(
                {"profile_id": ["user:x", "user:y"], "name": ["clv_12m", "clv_12m"], "value": [1.5, None]}
            ),
        )
        store.finish_run(run_id)
        yield store


def test_export_writes_every_table_in_its_declared_schema(demo: Store, tmp_path: Path) -> None:
    report = export_lake(demo, tmp_path, zone="Asia/Seoul")
    for name in LAKE_TABLES:
        stored = demo.scalar(f"SELECT count(*) FROM {'consent_ledger' if name == 'consents' else name}")
        assert report.rows(name) == stored > 0, name
        parts = _parts(tmp_path / name)
        assert len(parts) == report.files(name) > 0
        for part in parts:
            assert pq.read_schema(part).equals(lake_schema(name, partition=False)), part
        read = ds.dataset(
            tmp_path / name, partitioning="hive" if lake_partition(name) else None, schema=lake_schema(name)
        )
        assert read.count_rows() == stored
    # the day folders are the shop-local dates, as another engine computes them from the files
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/Los_Angeles'")  # a session zone must not matter
    wrong = con.sql(
        f"""SELECT count(*) FROM read_parquet('{tmp_path}/events/*/*.parquet', hive_partitioning = true)
            WHERE day <> CAST(timezone('Asia/Seoul', event_time) AS DATE)"""
    ).fetchall()[0]
    assert wrong == (0,)
    lines_days = con.sql(
        f"""SELECT count(*) FROM read_parquet('{tmp_path}/order_lines/*/*.parquet', hive_partitioning = true) l
            JOIN read_parquet('{tmp_path}/orders/*/*.parquet', hive_partitioning = true) o USING (order_id)
            WHERE l.day <> o.day"""
    ).fetchall()[0]
    assert lines_days == (0,)
    scores = pq.read_table(_parts(tmp_path / "scores")[0]).to_pylist()
    assert {(s["job"], s["profile_id"], s["value"]) for s in scores} == {
        ("customer_intelligence", "user:x", 1.5),
        ("customer_intelligence", "user:y", None),
    }
    assert json.loads((tmp_path / "_lake.json").read_text())["zone"] == "Asia/Seoul"
    # the export log keeps that the whole shop left, and where to
    (logged,) = [
        r for r in export_log(demo) if r.format == "lake" and r.destination == str(tmp_path.resolve())
    ]
    assert logged.audience == "the whole shop" and logged.status == "ok" and logged.actor == "library"
    assert logged.members == demo.scalar("SELECT count(DISTINCT profile_id) FROM profiles") > 0
    assert json.loads(logged.detail)["rows"]["events"] == report.rows("events")


def test_export_refuses_a_lake_that_holds_files_unless_replacing(demo: Store, tmp_path: Path) -> None:
    export_lake(demo, tmp_path, tables=["orders"])
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    with pytest.raises(LakeError, match="orders already holds files"):
        export_lake(demo, tmp_path, tables=["orders"])
    report = export_lake(demo, tmp_path, tables=["orders"], replace=True)
    assert ds.dataset(tmp_path / "orders", partitioning="hive").count_rows() == report.rows("orders")
    assert keep.read_text() == "mine"  # replace deletes the lake's table folders only
    with pytest.raises(LakeError, match="zone Asia/Seoul, not UTC"):
        export_lake(demo, tmp_path, tables=["events"], zone="UTC")
    export_lake(demo, tmp_path, tables=["events"])
    with pytest.raises(LakeError, match="zone Asia/Seoul, not UTC, in events"):  # the events keep their days
        export_lake(demo, tmp_path, tables=["orders"], zone="UTC", replace=True)
    assert ds.dataset(tmp_path / "orders", partitioning="hive").count_rows() > 0  # nothing deleted
    assert export_lake(demo, tmp_path, tables=["orders", "events"], zone="UTC", replace=True).zone == "UTC"
    assert read_manifest(tmp_path)["zone"] == "UTC"  # type: ignore[index]


ZONES = ("Asia/Seoul", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu")


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
        ),
        min_size=1,
        max_size=50,
    ),
    st.sampled_from(ZONES),
)
@settings(max_examples=40, deadline=None)
def test_both_writers_and_python_agree_on_the_shop_local_day(moments: list[datetime], zone: str) -> None:
    """The day of a moment as the chunk writer computes it (pyarrow), as the export computes it
    (DuckDB's timezone()) and as Python's zoneinfo says, around midnights and summer-time
    changes (London, New York, Lord Howe's half hour) and in a zone 5:45 from UTC."""
    from zoneinfo import ZoneInfo

    from shopmind.store._lake import shop_dates

    times = pa.array(moments, pa.timestamp("us", tz="UTC"))
    by_arrow = shop_dates(times, zone).to_pylist()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    by_duckdb = [
        str(d)
        for (d,) in con.sql(
            f"SELECT CAST(timezone('{zone}', t) AS DATE) FROM (SELECT unnest(?) AS t, generate_subscripts(?, 1) AS i) ORDER BY i",
            params=[moments, moments],
        ).fetchall()
    ]
    by_python = [m.astimezone(ZoneInfo(zone)).date().isoformat() for m in moments]
    assert by_arrow == by_python
    assert by_duckdb == by_python


def test_a_store_that_cannot_log_the_export_exports_nothing(tmp_path: Path) -> None:
    Store(tmp_path / "shop.duckdb").close()
    with (
        Store(tmp_path / "shop.duckdb", read_only=True) as store,
        pytest.raises(LakeError, match="a lake export is logged, and this store cannot log it"),
    ):
        export_lake(store, tmp_path / "lake")
    assert not (tmp_path / "lake").exists()
