"""The DuckDB store: migrations, durability across reopen, one owner per file, idempotent writes."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from shopmind.core import SchemaVersionError, StoreError, WorkspaceError, WorkspaceLockedError
from shopmind.events import EVENT_SCHEMA, events_to_arrow, validate_event
from shopmind.store import (
    LATEST_VERSION,
    MIGRATIONS,
    ConsentEntry,
    Store,
    Workspace,
    WriteResult,
    open_store,
    record_consents,
)

from .conftest import NOW


def _events(n: int, start: int = 0) -> pa.Table:
    return events_to_arrow(
        [
            validate_event(
                {
                    "messageId": f"m{i}",
                    "type": "page_view",
                    "anonymousId": f"a{i % 7}",
                    "userId": f"u{i % 5}",
                },
                received_at=NOW,
            )
            for i in range(start, start + n)
        ]
    )


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    with Store(path) as s:
        assert s.schema_version() == LATEST_VERSION
        versions = [v for (v,) in s.sql("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [m.version for m in MIGRATIONS] == sorted(set(versions))
        assert s.migrate() == []
    with Store(path) as s:
        s.sql("INSERT INTO schema_migrations VALUES (999, 'from the future', now())")
    with pytest.raises(SchemaVersionError, match="upgrade shopmind"):
        Store(path)


def test_writes_are_durable_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    with Store(path) as s:
        first = s.write_events(_events(100))
        assert (first.inserted, first.duplicates) == (100, 0)
        doubled = pa.concat_tables([_events(10, start=95), _events(10, start=95)])
        again = s.write_events(doubled)
        assert (again.inserted, again.duplicates) == (5, 15)
    with Store(path, read_only=True) as s:  # reopened: everything acknowledged is there
        assert s.scalar("SELECT count(*) FROM events") == 105
        assert s.scalar("SELECT count(DISTINCT message_id) FROM events") == 105
        assert s.table("events").count().execute() == 105  # Ibis reads the same data


def test_events_without_links_are_one_statement_and_still_stored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "shop.duckdb"
    with Store(path) as s:
        statements: list[str] = []
        run = s._run
        monkeypatch.setattr(s, "_run", lambda sql, params=None: statements.append(sql) or run(sql, params))
        first = s.write_events(_events(50), link=False)
        assert (first.inserted, first.duplicates) == (50, 0)
        # the INSERT alone: no BEGIN, no COMMIT, no lookup (only the table's columns, read once)
        assert [q.split()[0] for q in statements] == ["SELECT"] and "duckdb_columns" in statements[0]
        statements.clear()
        # a stored key fails the one statement as a whole: then the keys are looked up, once
        again = s.write_events(_events(10, start=45), link=False)
        assert (again.inserted, again.duplicates) == (5, 5)
        assert again.stored_before == {f"m{i}" for i in range(45, 50)}
        assert [q.split()[0] for q in statements] == ["BEGIN", "SELECT", "COMMIT"]
        repeated = s.write_events(pa.concat_tables([_events(3, start=60)] * 2), link=False)
        assert (repeated.inserted, repeated.duplicates) == (3, 3)
        assert s.write_events(_events(0), link=False) == WriteResult(0, 0)
        assert s.scalar("SELECT count(*) FROM identity_links") == 0
    with Store(path, read_only=True) as s:
        assert s.scalar("SELECT count(*) FROM events") == 58
        assert s.scalar("SELECT count(DISTINCT message_id) FROM events") == 58


def test_event_rows_follow_the_schema(store: Store) -> None:
    store.write_events(_events(3))
    cols = [
        name
        for (name,) in store.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'events' ORDER BY ordinal_position"
        )
    ]
    assert cols == EVENT_SCHEMA.names


def test_second_process_gets_a_clear_lock_error(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from shopmind.store import Workspace; s = Workspace(sys.argv[1]).open_store(); "
            "print('ready', flush=True); time.sleep(30)",
            str(ws.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(WorkspaceLockedError, match="in use by another shopmind process"):
            ws.open_store()
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    ws.open_store().close()  # free again once the owner is gone


def test_workspace_and_urls(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="shopmind init"):
        Workspace(tmp_path / "nowhere")
    ws = Workspace.init(tmp_path / "ws")
    assert Workspace.init(tmp_path / "ws").hasher().email("a@b.co") == ws.hasher().email("a@b.co")
    assert oct((ws.path / "hash.key").stat().st_mode & 0o777) == "0o600"
    with open_store(f"duckdb://{ws.store_path}") as s:
        assert s.schema_version() == LATEST_VERSION
    with open_store("duckdb://:memory:") as s:
        assert s.path == ":memory:"
    with pytest.raises(StoreError, match="unsupported store URL"):
        open_store("postgres://x")


def test_products_catalogue_overwrites_but_orders_only_fill_gaps(store: Store) -> None:
    store.write_products(
        pa.table({"product_id": ["P1"], "name": ["from orders"], "price": [100.0]}), overwrite=False
    )
    store.write_products(pa.table({"product_id": ["P1"], "name": ["신라면"], "brand": ["농심"]}))
    store.write_products(
        pa.table({"product_id": ["P1"], "name": ["again from orders"], "price": [5.0]}), overwrite=False
    )
    assert store.sql("SELECT name, brand, price FROM products") == [("신라면", "농심", 100.0)]


def test_status_summarises_tables_and_quality(store: Store) -> None:
    store.write_events(_events(12))
    record_consents(store, [ConsentEntry("user:u1", "email", True, datetime(2026, 3, 1, tzinfo=UTC), "api")])
    st = store.status()
    assert st.rows("events") == 12 and st.rows("consent_ledger") == 1
    events = next(t for t in st.tables if t.name == "events")
    assert events.first is not None and events.last is not None
    assert dict(st.quality)["anonymous-only events"] == 0


def test_profile_facts_keep_nested_values_per_run(store: Store) -> None:
    as_of = datetime(2026, 3, 1, tzinfo=UTC)
    run = store.begin_run("preferences", as_of)
    rows = pa.table(
        {
            "profile_id": ["user:a", "user:b"],
            "top_categories": [[{"rank": 1, "category": "라면"}], []],
            "send_hour": [21, None],
        }
    )
    assert store.write_profile_facts(run, as_of, "taste", rows) == 2
    assert store.profile_facts("user:a", "taste") is None  # the run has not finished: not visible
    store.finish_run(run)
    assert store.profile_facts("user:a", "taste") == {
        "profile_id": "user:a",
        "top_categories": [{"rank": 1, "category": "라면"}],
        "send_hour": 21,
    }
    assert store.profile_facts("user:b", "taste", run) == {
        "profile_id": "user:b",
        "top_categories": [],
        "send_hour": None,
    }
    assert store.profile_facts("user:a", "habits") is None


def test_job_run_is_ok_only_when_its_block_ends_and_failed_if_it_raises(store: Store) -> None:
    as_of = datetime(2026, 3, 1, tzinfo=UTC)
    with store.job_run("demo_job", as_of) as run_id:
        assert store.run_at("demo_job", as_of) is None  # not visible while running
    assert store.run_at("demo_job", as_of) == run_id
    with pytest.raises(RuntimeError), store.job_run("other_job", as_of) as failed:
        raise RuntimeError("boom")
    assert store.run_at("other_job", as_of) is None
    assert store.sql("SELECT status FROM job_runs WHERE run_id = ?", [failed]) == [("failed",)]
