"""A shop's data leaves through the open layout and comes back whole: the demo shop exported with
``shopmind export parquet DIR``, imported into a fresh workspace with ``shopmind import parquet
DIR``, holds the same events, orders, lines, products, profiles and consents; a second import
stores nothing twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from shopmind.ingest import import_lake
from shopmind.store import Workspace

#: per table, the columns that must be equal (the store's own bookkeeping, e.g. when a row was
#: stored, is left out)
COMPARED = {
    "events": "*",
    "orders": "*",
    "order_lines": "*",
    "profiles": "*",
    "products": "* EXCLUDE (updated_at)",
    "consent_ledger": "entry_id, identifier, channel, purpose, granted, occurred_at, method, text_version, source",
}


def shopmind(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopmind", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "SHOPMIND_SHOP_TIMEZONE": "Asia/Seoul"},
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """(the demo shop's workspace, its lake, the workspace the lake was imported into)"""
    root = tmp_path_factory.mktemp("roundtrip")
    shop, lake, fresh = root / "shop", root / "lake", root / "fresh"
    made = shopmind("demo", "-w", shop, "--customers", "200", "--days", "21", "--seed", "11")
    assert made.returncode == 0, made.stderr
    exported = shopmind("export", "parquet", lake, "-w", shop)
    assert exported.returncode == 0, exported.stderr
    assert "read it back with: shopmind import parquet" in exported.stdout
    assert shopmind("init", "-w", fresh).returncode == 0
    imported = shopmind("import", "parquet", lake, "-w", fresh)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "import lake:events" in imported.stdout  # (exit code 0: nothing rejected)
    yield shop, lake, fresh


def _both(shop: Path, fresh: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"ATTACH '{shop / 'shop.duckdb'}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{fresh / 'shop.duckdb'}' AS b (READ_ONLY)")
    return con


@pytest.mark.parametrize("table", list(COMPARED))
def test_every_row_comes_back_equal(moved: tuple[Path, Path, Path], table: str) -> None:
    shop, _, fresh = moved
    con = _both(shop, fresh)
    cols = COMPARED[table]
    counts = [con.sql(f"SELECT count(*) FROM {db}.{table}").fetchall()[0][0] for db in ("a", "b")]
    assert counts[0] == counts[1] > 0
    # an order-independent checksum of every compared column, and the rows themselves both ways
    checksums = [
        con.sql(f"SELECT sum(hash(COLUMNS(*))::HUGEINT) FROM (SELECT {cols} FROM {db}.{table})").fetchall()
        for db in ("a", "b")
    ]
    assert checksums[0] == checksums[1]
    for x, y in (("a", "b"), ("b", "a")):
        left = con.sql(
            f"SELECT count(*) FROM (SELECT {cols} FROM {x}.{table} EXCEPT SELECT {cols} FROM {y}.{table})"
        )
        assert left.fetchall() == [(0,)], f"{table}: rows of {x} missing in {y}"


def test_a_second_import_stores_nothing_twice(moved: tuple[Path, Path, Path]) -> None:
    _, lake, fresh = moved
    ws = Workspace(fresh)
    with ws.open_store() as store:
        before = {t: store.scalar(f"SELECT count(*) FROM {t}") for t in (*COMPARED, "identity_links")}
        reports = import_lake(store, lake)
        after = {t: store.scalar(f"SELECT count(*) FROM {t}") for t in (*COMPARED, "identity_links")}
        assert store.scalar("SELECT count(*) FROM quarantine") == 0
    assert after == before
    assert {r.kind for r in reports} == {
        f"lake:{t}" for t in ("events", "orders", "order_lines", "products", "consents", "profiles")
    }
    for report in reports:
        assert report.rows_read > 0 and report.rejected == 0
        assert report.stored == 0 and report.duplicates == report.rows_read, report.kind


def test_the_imported_shop_gets_the_same_segments(moved: tuple[Path, Path, Path]) -> None:
    from datetime import UTC, datetime

    from shopmind.pipeline import run_customer_intelligence

    shop, _, fresh = moved
    as_of = datetime(2026, 1, 22, tzinfo=UTC)  # the demo's 21 days from 2026-01-01
    members = []
    for folder in (shop, fresh):
        with Workspace(folder).open_store() as store:
            run_customer_intelligence(store, as_of)
            members.append(store.sql("SELECT segment, profile_id FROM segment_members ORDER BY ALL"))
    assert members[0] == members[1] and len(members[0]) > 100
