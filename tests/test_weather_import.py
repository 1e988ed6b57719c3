"""Weather per region and day, imported from a file: good rows stored, bad rows quarantined with
the field and reason, a re-import replacing the day; the recommenders' data then carries it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopmind.core import ImportFileError
from shopmind.ingest import import_weather
from shopmind.store import Store, Workspace
from tests.test_cli import shopmind

CSV = """region,day,temp_c,precip_mm
서울,2026-01-10,-7.5,0
부산,2026-01-10,3.0,12.5
강원,2026-01-10,-12,
서울,not a day,1,0
대구,2026-01-10,hot,0
광주,2026-01-10,4,-3
,2026-01-10,1,1
제주,2026-01-10,,
"""


def test_weather_file_is_checked_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "weather.csv"
    path.write_text(CSV, encoding="utf-8")
    with Store(":memory:") as store:
        report = import_weather(store, path)
        assert (report.accepted, report.rejected) == (3, 5)
        rows = {r[0]: r[1:] for r in store.sql("SELECT region, temp_c, precip_mm FROM weather")}
        assert rows == {"서울": (-7.5, 0.0), "부산": (3.0, 12.5), "강원": (-12.0, None)}
        reasons = dict(store.sql("SELECT line_no, reason FROM quarantine"))
        assert any("day: cannot read" in r for r in reasons.values())
        assert any(r.startswith("temp_c: ") and "not a number" in r for r in reasons.values())
        assert any("precip_mm: cannot be negative" in r for r in reasons.values())
        assert any("region: empty" in r for r in reasons.values())
        assert any("neither temp_c nor precip_mm" in r for r in reasons.values())
        # the same day again replaces the reading
        path.write_text("region,day,temp_c\n서울,2026-01-10,-2\n", encoding="utf-8")
        import_weather(store, path)
        assert store.sql("SELECT temp_c FROM weather WHERE region = '서울'") == [(-2.0,)]
    with pytest.raises(ImportFileError, match="region, day and temp_c"):
        (tmp_path / "w.csv").write_text("town,date,t\n서울,2026-01-01,1\n", encoding="utf-8")
        with Store(":memory:") as store:
            import_weather(store, tmp_path / "w.csv")


def test_cli_imports_weather_and_exits_3_when_rows_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "weather.csv"
    path.write_text(CSV, encoding="utf-8")
    ws = tmp_path / "shop"
    Workspace.init(ws)
    done = shopmind("import", "weather", str(path), "-w", str(ws))
    assert done.returncode == 3, done.stderr
    with Store(ws / "shop.duckdb") as store:
        assert store.scalar("SELECT count(*) FROM weather") == 3
