"""The saved audiences of a store written before segments existed become saved segments when the
store is opened (migration 13): the same rule as a definition, the same members as stays that
began when the audience was saved, and no ``audiences`` tables left beside the segments."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from shopmind.segments import member_list, members, saved_segments
from shopmind.store import MIGRATIONS, Store

SAVED = datetime(2026, 4, 1, 9, tzinfo=UTC)


def _store_before_segments(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)"
    )
    for migration in MIGRATIONS:
        if migration.version > 12:
            break
        con.execute(migration.sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [migration.version, migration.name])
    con.execute(
        "INSERT INTO profiles VALUES ('user:a', 'user:a', 'user'), ('user:b', 'user:b', 'user'), ('user:c', 'user:c', 'user')"
    )
    con.execute(
        "INSERT INTO job_runs VALUES ('r1', 'purchase_probability', ?, ?, ?, 'ok')", [SAVED, SAVED, SAVED]
    )
    con.execute(
        "INSERT INTO scores VALUES ('r1', 'user:a', 'purchase_probability_7d', 0.35, ?), "
        "('r1', 'user:b', 'purchase_probability_7d', 0.5, ?), ('r1', 'user:c', 'purchase_probability_7d', 0.9, ?)",
        [SAVED] * 3,
    )
    band = {"score": "purchase_probability_7d", "low": 0.3, "high": 0.6}
    top = {"score": "purchase_probability_7d", "low": 0.8, "high": 1.0}
    con.execute(
        "INSERT INTO audiences VALUES ('0123456789abcdef', '30-60%', ?, 'r1', 2, ?)",
        [json.dumps(band), SAVED],
    )
    con.execute(
        "INSERT INTO audiences VALUES ('fedcba9876543210', '상위', ?, 'r1', 1, ?)", [json.dumps(top), SAVED]
    )
    con.execute(
        "INSERT INTO audience_members VALUES ('0123456789abcdef', 'user:a'), ('0123456789abcdef', 'user:b'), "
        "('fedcba9876543210', 'user:c')"
    )
    con.close()


def test_saved_audiences_become_segments(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    _store_before_segments(path)
    with Store(path) as store:
        tables = {t for (t,) in store.sql("SELECT table_name FROM information_schema.tables")}
        assert {"segments", "segment_history"} <= tables and not tables & {"audiences", "audience_members"}
        found = {s.segment_id: s for s in saved_segments(store)}
        assert set(found) == {"0123456789abcdef", "fedcba9876543210"}
        band, top = found["0123456789abcdef"], found["fedcba9876543210"]
        assert (band.name_ko, band.name_en, band.members, band.created_at) == ("30-60%", "30-60%", 2, SAVED)
        assert top.name_ko == "상위" and top.members == 1
        total, rows = member_list(store, band.segment_id, limit=None)
        assert total == 2 and {r["profile_id"] for r in rows} == {"user:a", "user:b"}
        assert {r["entered_at"] for r in rows} == {SAVED}
        # the rule reads the same as the audience did: [low, high), the top band up to 1 itself
        later = datetime(2026, 4, 2, tzinfo=UTC)
        assert members(store, band.definition, as_of=later).column("profile_id").to_pylist() == [
            "user:a",
            "user:b",
        ]
        assert members(store, top.definition, as_of=later).column("profile_id").to_pylist() == ["user:c"]
        assert isinstance(members(store, top.definition, as_of=later), pa.Table)
