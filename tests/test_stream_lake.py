"""``shopmind demo --to-lake DIR --events N``: the streamed shop written as the open data layout
(hive folders by shop-local day) that DuckDB reads back whole: every row once, each under its
own day, order lines under their order's day."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from shopmind.core import InvalidInputError
from shopmind.pipeline import DemoLakeReport, write_demo_lake
from shopmind.store import read_manifest

DAYS = 30
EVENTS = 20_000


def shopmind(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopmind", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "COLUMNS": "200",
            "PATH": "/usr/bin:/bin",
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        },
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoLakeReport]:
    folder = tmp_path_factory.mktemp("lake") / "shop"
    # a small writer buffer, so several flushes add files to the same day folders
    report = write_demo_lake(
        folder, days=DAYS, seed=3, events=EVENTS, chunk_events=5_000, rows_per_file=8_000
    )
    return folder, report


def _read(folder: Path, table: str) -> str:
    return f"read_parquet('{folder}/{table}/**/*.parquet', hive_partitioning = true)"


def test_every_row_of_every_cohort_is_written_once(lake: tuple[Path, DemoLakeReport]) -> None:
    folder, report = lake
    assert report.cohorts == 4
    assert 0.75 * EVENTS < report.rows("events") < 1.35 * EVENTS
    con = duckdb.connect()
    for table, key in (("events", "message_id"), ("orders", "order_id"), ("order_lines", "line_key")):
        rows, distinct = con.execute(
            f"SELECT count(*), count(DISTINCT {key}) FROM {_read(folder, table)}"
        ).fetchone()
        assert rows == distinct == report.rows(table), table
    assert con.execute(f"SELECT count(*) FROM read_parquet('{folder}/products/*.parquet')").fetchone() == (
        186,
    )
    assert report.files("events") > DAYS  # more than one flush: days got several part files
    assert read_manifest(folder)["zone"] == "Asia/Seoul"  # type: ignore[index]


def test_rows_are_filed_under_their_shop_local_day(lake: tuple[Path, DemoLakeReport]) -> None:
    folder, _ = lake
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    misfiled = con.execute(
        f"""SELECT count(*) FROM {_read(folder, "events")}
        WHERE day <> CAST(timezone('Asia/Seoul', event_time) AS DATE)"""
    ).fetchone()
    assert misfiled == (0,)
    days = con.execute(
        f"SELECT min(day), max(day), count(DISTINCT day) FROM {_read(folder, 'events')}"
    ).fetchone()
    assert str(days[0]) == "2026-01-01" and days[2] == DAYS
    lines_elsewhere = con.execute(
        f"""SELECT count(*) FROM {_read(folder, "order_lines")} AS l
        JOIN {_read(folder, "orders")} AS o USING (order_id) WHERE l.day <> o.day"""
    ).fetchone()
    assert lines_elsewhere == (0,)


def test_a_directory_holding_a_lake_is_refused(lake: tuple[Path, DemoLakeReport]) -> None:
    folder, report = lake
    with pytest.raises(InvalidInputError) as caught:
        write_demo_lake(folder, days=DAYS, seed=4, events=5_000)
    assert caught.value.field == "directory"
    assert sum(1 for _ in (folder / "events").rglob("*.parquet")) == report.files("events")  # untouched


def test_the_cli_writes_a_lake_and_says_how_to_load_it(tmp_path: Path) -> None:
    target = tmp_path / "lake"
    done = shopmind("demo", "--to-lake", str(target), "--events", "6000", "--days", "14", "--seed", "9")
    assert done.returncode == 0, done.stderr
    assert "shopmind import parquet" in done.stdout
    events = duckdb.execute(f"SELECT count(*) FROM {_read(target, 'events')}").fetchone()[0]  # type: ignore[index]
    assert f"{events:,}" in done.stdout

    again = shopmind("demo", "--to-lake", str(target), "--events", "6000", "--days", "14")
    assert again.returncode == 2
    assert "already holds a lake" in again.stderr

    no_lake = shopmind("demo", "--events", "6000", "-w", str(tmp_path / "ws"))
    assert no_lake.returncode == 2
    assert "--events needs --to-lake" in no_lake.stderr
    assert not (tmp_path / "ws").exists()


def test_the_lake_imports_whole_into_a_workspace(lake: tuple[Path, DemoLakeReport], tmp_path: Path) -> None:
    from shopmind.ingest import import_lake
    from shopmind.store import Workspace

    folder, report = lake
    with Workspace.init(tmp_path / "ws").open_store() as store:
        imported = {r.kind: r for r in import_lake(store, folder)}
        for table in ("events", "orders", "order_lines", "products"):
            kind = next(k for k in imported if table.rstrip("s") in k.replace(" ", "_"))
            assert imported[kind].rejected == 0, imported[kind].rejected_by_reason
            assert store.scalar(f"SELECT count(*) FROM {table}") == report.rows(table), table
        members = store.scalar("SELECT count(DISTINCT user_id) FROM events WHERE user_id IS NOT NULL")
        linked = store.scalar("SELECT count(*) FROM profiles WHERE identifier LIKE 'user:%'")
        assert members == linked > 0  # every member who came has a profile
