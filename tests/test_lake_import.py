"""Importing a lake directory: bad files and rows are quarantined naming the file, the row, the
field and the reason while the good rows are stored; a directory written by another tool
(pyarrow, with its own partition folders and bookkeeping files) imports too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from shopmind.core import ImportFileError, InvalidInputError
from shopmind.ingest import import_lake
from shopmind.store import LakeWriter, Store

T = datetime(2026, 4, 1, 3, 0, tzinfo=UTC)


def _events(n: int, prefix: str = "e") -> pa.Table:
    return pa.table(
        {
            "message_id": [f"{prefix}{i}" for i in range(n)],
            "type": ["product_view"] * n,
            "user_id": [f"m{i % 4}" for i in range(n)],
            "anonymous_id": [f"a{i}" for i in range(n)],
            "event_time": pa.array([T] * n, pa.timestamp("us", tz="UTC")),
            "received_at": pa.array([T] * n, pa.timestamp("us", tz="UTC")),
            "source": ["server"] * n,
            "product_id": ["p1"] * n,
            "price": [1000.0] * n,
        }
    )


def _quarantine(store: Store) -> list[tuple[object, ...]]:
    return store.sql("SELECT source, line_no, field, reason FROM quarantine ORDER BY source, line_no")


def test_bad_rows_and_files_are_quarantined_naming_file_row_field_and_reason(
    store: Store, tmp_path: Path
) -> None:
    with LakeWriter(tmp_path) as writer:
        writer.append("events", _events(3))
    day = tmp_path / "events" / "day=2026-04-01"
    # a file of the shop's own making: times as text, one unreadable, one unknown type, one
    # event that names nobody
    bad = pa.table(
        {
            "message_id": ["b1", "b2", "b3", "b4"],
            "type": ["page_view", "page_view", "teleport", "page_view"],
            "user_id": ["m1", "m1", "m1", None],
            "event_time": [
                "2026-04-01T10:00:00+09:00",
                "yesterday",
                "2026-04-01 10:00:00",
                "2026-04-01 11:00:00",
            ],
            "price": ["12", "3", "4", "-5"],
        }
    )
    pq.write_table(bad, day / "shop-export.parquet")
    (day / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (day / "_SUCCESS").write_bytes(b"")  # what Spark leaves: skipped, as hive readers do
    (day / ".part-0.crc").write_bytes(b"\x00")

    reports = import_lake(store, tmp_path)

    (events,) = reports
    assert events.kind == "lake:events"
    assert (events.rows_read, events.stored, events.rejected) == (7, 4, 4)  # 3 + 1 good; 3 rows + 1 file
    assert not events.ok
    assert dict(events.rejected_by_reason) == {
        "file: not a readable Parquet file": 1,
        "event_time: cannot read … as a date and time (ISO 8601, e.g. 2026-03-01 14:30:00+09:00)": 1,
        "type: … is not an event type (one of page_view, product_view, search, cart_add, cart_remove, "
        "checkout_start, order_completed, banner_impression, banner_click, message_open, message_click, "
        "identify, alias, custom)": 1,
        "anonymous_id: an event needs an anonymous_id or a user_id": 1,
    }
    rows = _quarantine(store)
    broken, *shop = rows
    assert broken[0].endswith("broken.parquet") and broken[1] is None and broken[2] == "file"
    assert "not a readable Parquet file" in str(broken[3])
    assert [(Path(str(s)).name, line, field) for s, line, field, _ in shop] == [
        ("shop-export.parquet", 2, "event_time"),
        ("shop-export.parquet", 3, "type"),
        ("shop-export.parquet", 4, "anonymous_id"),
    ]
    reasons = [str(r) for *_, r in shop]
    assert reasons[0].startswith('event_time: cannot read "yesterday" as a date and time')
    assert reasons[1].startswith('type: "teleport" is not an event type')
    assert "anonymous_id: an event needs an anonymous_id or a user_id" in reasons[2]
    assert "price: must be a finite number >= 0, not -5.0" in reasons[2]  # every reason of the row
    assert all(f"(file {day / 'shop-export.parquet'})" in r for r in reasons)
    raw = store.sql("SELECT raw FROM quarantine WHERE line_no = 2")[0][0]
    assert '"event_time":"yesterday"' in raw and '"message_id":"b2"' in raw  # the row as it was read
    # the good rows of the shop's file are stored, the text times read (a time without a zone is the shop's)
    got = dict(store.sql("SELECT message_id, event_time FROM events WHERE message_id = 'b1'"))
    assert got == {"b1": datetime(2026, 4, 1, 1, 0, tzinfo=UTC)}
    # again: nothing stored twice, nothing quarantined twice
    again = import_lake(store, tmp_path)[0]
    assert (again.stored, again.duplicates) == (0, 4)
    assert _quarantine(store) == rows


def test_a_file_without_a_required_column_rejects_its_rows(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "orders"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.table({"order_id": ["o1", "o2"], "customer_id": ["m1", "m2"]}), folder / "orders.parquet"
    )
    lines = tmp_path / "order_lines"
    lines.mkdir()
    pq.write_table(
        pa.table({"order_id": ["o9"], "product_id": ["p"], "quantity": [1], "unit_price": [5.0]}),
        lines / "lines.parquet",
    )
    orders, order_lines = import_lake(store, tmp_path)
    assert (orders.stored, orders.rejected) == (0, 2)
    assert (order_lines.stored, order_lines.rejected) == (0, 1)
    assert [(field, str(reason).split(" (file")[0]) for _, _, field, reason in _quarantine(store)] == [
        ("order_id", 'order_id: no order "o9" (a line needs its order in orders/ or the store)'),
        ("ordered_at", "ordered_at: the file has no column ordered_at"),
        ("ordered_at", "ordered_at: the file has no column ordered_at"),
    ]


def test_a_directory_written_by_pyarrow_imports(store: Store, tmp_path: Path) -> None:
    """A shop's own export: other partition folders (``dt=``), naive local times, no message ids,
    no line keys, no currency, text numbers; keys are made from the content, so a re-import
    stores nothing twice."""
    naive = pa.array([datetime(2026, 4, 1, 9, 0), datetime(2026, 4, 2, 23, 30)], pa.timestamp("ms"))
    events = pa.table(
        {
            "anonymous_id": ["v1", "v2"],
            "type": ["page_view", "cart_add"],
            "event_time": naive,
            "product_id": [None, "p7"],
            "dt": ["2026-04-01", "2026-04-02"],
        }
    )
    orders = pa.table(
        {"order_id": ["o1"], "ordered_at": naive.slice(1), "customer_id": ["m5"], "dt": ["2026-04-02"]}
    )
    lines = pa.table(
        {
            "order_id": ["o1", "o1"],
            "product_id": ["p7", "p7"],  # the same product twice on one order: two lines
            "quantity": ["2", "2"],
            "unit_price": [1500, 1500],
            "dt": ["2026-04-02", "2026-04-02"],
        }
    )
    hive = ds.partitioning(pa.schema([("dt", pa.string())]), flavor="hive")
    for name, table in (("events", events), ("orders", orders), ("order_lines", lines)):
        ds.write_dataset(table, tmp_path / name, format="parquet", partitioning=hive)
    (tmp_path / "events" / "_SUCCESS").write_bytes(b"")

    reports = import_lake(store, tmp_path, zone="Asia/Seoul", currency="KRW")

    assert [(r.kind, r.stored, r.rejected) for r in reports] == [
        ("lake:events", 2, 0),
        ("lake:orders", 1, 0),
        ("lake:order_lines", 2, 0),
    ]
    stored = store.sql(
        "SELECT anonymous_id, event_time, source, message_id FROM events ORDER BY anonymous_id"
    )
    assert [row[:3] for row in stored] == [
        ("v1", datetime(2026, 4, 1, 0, 0, tzinfo=UTC), "lake"),
        ("v2", datetime(2026, 4, 2, 14, 30, tzinfo=UTC), "lake"),
    ]
    assert all(str(row[3]).startswith("h-") for row in stored)
    assert store.sql("SELECT currency, verified, source FROM orders") == [("KRW", True, "lake")]
    assert store.sql("SELECT quantity, unit_price FROM order_lines") == [(2, 1500.0), (2, 1500.0)]
    again = import_lake(store, tmp_path)
    assert [(r.stored, r.duplicates) for r in again] == [(0, 2), (0, 1), (0, 2)]
    assert store.scalar("SELECT count(*) FROM profiles WHERE profile_id = 'user:m5'") == 1


def test_a_directory_without_lake_tables_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such directory"):
        import_lake(store, tmp_path / "nowhere")
    (tmp_path / "clicks").mkdir()
    with pytest.raises(ImportFileError, match=r"holds none of the lake's table folders \(events/, orders/"):
        import_lake(store, tmp_path)
    with pytest.raises(ImportFileError, match="scores are a run's results"):
        import_lake(store, tmp_path, tables=["scores"])
    with pytest.raises(InvalidInputError, match="zone: 'Moon/Base' is not an IANA time zone"):
        (tmp_path / "events").mkdir()
        import_lake(store, tmp_path, zone="Moon/Base")


def test_the_cli_names_the_tables_the_importer_reads() -> None:
    from shopmind.cli._data import LAKE_TABLE_NAMES
    from shopmind.ingest import LAKE_IMPORTED_TABLES

    assert LAKE_TABLE_NAMES == LAKE_IMPORTED_TABLES


def test_the_commands_say_what_they_did_and_what_is_wrong(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shopmind.cli import app
    from shopmind.store import Workspace

    runner = CliRunner()
    ws = Workspace.init(tmp_path / "ws").path
    with LakeWriter(tmp_path / "lake") as writer:
        writer.append("events", _events(5))

    def run(*args: str | Path) -> tuple[int, str]:
        done = runner.invoke(app, [str(a) for a in args])
        return done.exit_code, " ".join(done.output.split())

    code, out = run("import", "parquet", tmp_path / "lake", "-w", ws)
    assert code == 0 and "import lake:events" in out and "newly stored │ 5" in out
    assert run("import", "parquet", tmp_path / "lake", "-w", ws, "--tables", "events,clicks")[0] == 2
    code, out = run("export", "parquet", tmp_path / "out", "-w", ws)
    assert code == 0 and "events │ 5 │ 1" in out and "shopmind import parquet" in out
    code, out = run("export", "parquet", tmp_path / "out", "-w", ws)
    assert code == 4 and "already holds files" in out and "--replace" in out
    assert run("export", "parquet", tmp_path / "out", "-w", ws, "--replace")[0] == 0
    code, out = run("export", "parquet", "-w", ws)
    assert code == 2 and "shopmind export parquet DIR" in out
    code, out = run("export", "parquet", tmp_path / "x", "--segment", "vip", "-w", ws)
    assert code == 2 and "not both" in out


def test_a_verified_order_in_the_lake_replaces_a_clients_claim(store: Store, tmp_path: Path) -> None:
    from shopmind.store import lake_schema

    claim = pa.table(
        {
            "order_id": ["o1", "o2"],
            "ordered_at": pa.array([T, T], pa.timestamp("us", tz="UTC")),
            "currency": ["KRW", "KRW"],
            "is_return": [False, False],
            "source": ["client", "server"],
            "verified": [False, True],
        }
    )
    store.write_orders(claim, lake_schema("order_lines", partition=False).empty_table())
    with LakeWriter(tmp_path) as writer:
        writer.append(
            "orders", claim.drop_columns(["verified"]).set_column(4, "source", pa.array(["shop", "shop"]))
        )
    (orders,) = import_lake(store, tmp_path)
    assert (orders.stored, orders.duplicates) == (1, 1)  # o1's claim replaced; o2 was stored verified
    assert store.sql("SELECT order_id, source, verified FROM orders ORDER BY 1") == [
        ("o1", "shop", True),
        ("o2", "server", True),
    ]


def test_consents_and_profiles_are_checked_too(store: Store, tmp_path: Path) -> None:
    at = pa.array([T, T, T], pa.timestamp("us", tz="UTC"))
    with LakeWriter(tmp_path) as writer:
        writer.append("events", _events(2))  # members m0 and m1, visitors a0 and a1
    (tmp_path / "consents").mkdir()
    pq.write_table(
        pa.table(
            {
                "identifier": ["user:m0", "m1", "user:m1"],
                "channel": ["sms", "sms", "fax"],
                "purpose": ["advertising"] * 3,
                "granted": [True, True, True],
                "occurred_at": at,
            }
        ),
        tmp_path / "consents" / "ledger.parquet",
    )
    (tmp_path / "profiles").mkdir()
    pq.write_table(
        pa.table(
            {
                "identifier": ["anon:a0", "anon:a1", "anon:zz", "a1"],
                "profile_id": ["user:m0", "user:m0", "anon:zz", "user:m1"],
            }
        ),
        tmp_path / "profiles" / "p.parquet",
    )
    _, consents, profiles = import_lake(store, tmp_path)
    assert (consents.stored, consents.rejected) == (1, 2)
    assert (profiles.rejected, dict(profiles.extra)["lone identifiers without facts (not kept)"]) == (1, 1)
    assert [(field, str(reason).split(" (")[0]) for _, _, field, reason in _quarantine(store)] == [
        ("identifier", 'identifier: "m1" is not an identifier'),
        ("channel", 'channel: "fax" is not one of email, sms, kakao, app_push, web_push'),
        ("identifier", 'identifier: "a1" is not an identifier'),
    ]
    # a0 was m0's already (the events said so); the lake links a1 (m1's) to m0: one customer now
    assert profiles.stored == 1 and profiles.duplicates == 1
    assert dict(store.sql("SELECT identifier, profile_id FROM profiles WHERE kind = 'anon'")) == {
        "anon:a0": "user:m0",
        "anon:a1": "user:m0",
    }
    assert store.sql("SELECT identifier, channel FROM consent_ledger") == [("user:m0", "sms")]


def test_an_event_stored_before_is_skipped_whatever_its_stored_time(store: Store, tmp_path: Path) -> None:
    """Stored copies are looked for among the batch's time span only (a look that stays small in
    a large store): a copy stored with another time is still stored once, the primary key
    refusing it."""
    lake = _events(4)
    at = pa.array([T.replace(year=2025)] * 2, pa.timestamp("us", tz="UTC"))
    before = (lake.slice(0, 2).set_column(4, "event_time", at), lake.slice(2, 1))
    for at_first, rows in enumerate(before):  # e0, e1 stored at other times; e2 at the same
        with LakeWriter(tmp_path / f"before{at_first}") as writer:
            writer.append("events", rows)
        import_lake(store, tmp_path / f"before{at_first}")
    with LakeWriter(tmp_path / "lake") as writer:
        writer.append("events", lake)

    (events,) = import_lake(store, tmp_path / "lake")

    assert (events.stored, events.duplicates) == (1, 3)
    assert store.sql("SELECT message_id, year(event_time) FROM events ORDER BY 1") == [
        ("e0", 2025),
        ("e1", 2025),
        ("e2", 2026),
        ("e3", 2026),
    ]
