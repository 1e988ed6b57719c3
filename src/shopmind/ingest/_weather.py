"""Importing daily weather per region (CSV/Parquet/XLSX: ``region``, ``day`` and ``temp_c`` and/or
``precip_mm``), which the recommenders use to follow the weather of the visitor's region. A
re-imported (region, day) replaces the earlier row."""

from __future__ import annotations

from pathlib import Path

from shopmind.core import ImportFileError
from shopmind.ingest._report import ImportReport, Progress, count_by_field, finish_import, no_progress
from shopmind.ingest._tabular import LINE, read_tabular, split_checked
from shopmind.store import Store

REQUIRED = ("region", "day")
MEASURES = ("temp_c", "precip_mm")


def import_weather(store: Store, path: str | Path, *, progress: Progress = no_progress) -> ImportReport:
    """Import the weather file at ``path``; bad rows go to the quarantine with their reason."""
    data = read_tabular(path)
    rows = data.rows
    present = [c for c in rows.column_names if c != LINE]
    missing = [c for c in REQUIRED if c not in present]
    if missing or not any(m in present for m in MEASURES):
        raise ImportFileError(
            f"{path}: a weather file needs the columns region, day and temp_c and/or precip_mm; "
            f"its columns are {present}"
        )

    def text(c: str) -> str:
        return f"nullif(trim(CAST(\"{c}\" AS VARCHAR)), '')" if c in present else "NULL"

    day = f"TRY_CAST({text('day')} AS DATE)"
    temp = f"TRY_CAST({text('temp_c')} AS DOUBLE)"
    rain = f"TRY_CAST({text('precip_mm')} AS DOUBLE)"
    sql = f"""
        SELECT {LINE} AS line_no, to_json(s) AS raw,
            {text("region")} AS region, {day} AS day, {temp} AS temp_c, {rain} AS precip_mm,
            list_filter([
                CASE WHEN {text("region")} IS NULL THEN 'region: empty' END,
                CASE WHEN {day} IS NULL THEN 'day: cannot read ' || coalesce(to_json({text("day")}), 'an empty value') || ' as a date (YYYY-MM-DD)' END,
                CASE WHEN {text("temp_c")} IS NOT NULL AND {temp} IS NULL
                     THEN 'temp_c: ' || to_json({text("temp_c")}) || ' is not a number' END,
                CASE WHEN {temp} IS NOT NULL AND ({temp} < -60 OR {temp} > 60)
                     THEN 'temp_c: ' || {temp} || ' is outside -60..60 (degrees Celsius?)' END,
                CASE WHEN {text("precip_mm")} IS NOT NULL AND {rain} IS NULL
                     THEN 'precip_mm: ' || to_json({text("precip_mm")}) || ' is not a number' END,
                CASE WHEN {rain} < 0 THEN 'precip_mm: cannot be negative' END,
                CASE WHEN {temp} IS NULL AND {rain} IS NULL AND {text("temp_c")} IS NULL AND {text("precip_mm")} IS NULL
                     THEN 'temp_c: neither temp_c nor precip_mm given' END
            ], lambda e: e IS NOT NULL) AS errors
        FROM staged_weather s"""
    import_id = store.begin_import("weather", str(path), data.sha256)
    with store.staged("staged_weather", rows):
        checked = store.query_arrow(sql)
    accepted, quarantined = split_checked(checked, data.unreadable)
    store.quarantine(quarantined, source=str(path), import_id=import_id, file_sha256=data.sha256)
    result = store.write_weather(accepted.select(["region", "day", "temp_c", "precip_mm"]))
    progress("store", 1, 1)
    return finish_import(
        store,
        import_id=import_id,
        kind="weather",
        source=str(path),
        rows_read=data.rows.num_rows + len(data.unreadable),
        written=result,
        rejected=quarantined.num_rows,
        rejected_by_reason=count_by_field(quarantined),
    )
