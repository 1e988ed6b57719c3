"""Importing external interest signals: keywords or topics a customer showed off-site, from a
third-party file (CSV/Parquet/XLSX) with columns user_id / anonymous_id / email / phone (at least
one), keyword, and optionally topic, weight and observed_at."""

from __future__ import annotations

from pathlib import Path

from shopmind.core import IdentifierHasher, ImportFileError
from shopmind.ingest._report import ImportReport, Progress, count_by_field, finish_import, no_progress
from shopmind.ingest._tabular import LINE, hash_contacts, read_tabular, split_checked
from shopmind.store import Store

ID_COLUMNS = ("user_id", "anonymous_id", "email", "phone")


def import_interests(
    store: Store,
    path: str | Path,
    *,
    provider: str,
    hasher: IdentifierHasher | None = None,
    progress: Progress = no_progress,
) -> ImportReport:
    """Import interest keywords; ``provider`` names the third party the file came from."""
    data = read_tabular(path)
    rows = data.rows
    present = [c for c in rows.column_names if c != LINE]
    if "keyword" not in present or not any(c in present for c in ID_COLUMNS):
        raise ImportFileError(
            f"{path}: an interest file needs a 'keyword' column and one of {ID_COLUMNS}; its columns are {present}"
        )
    for kind in ("email", "phone"):
        hashes, bad = hash_contacts(
            rows.column(kind) if kind in present else None, hasher, kind, rows.num_rows
        )
        rows = rows.append_column(f"_{kind}_hash", hashes).append_column(f"_{kind}_bad", bad)
        if kind in present:
            rows = rows.drop_columns([kind])

    def text(c: str) -> str:
        return f"nullif(trim(CAST(\"{c}\" AS VARCHAR)), '')" if c in present else "NULL"

    weight = f"TRY_CAST({text('weight')} AS DOUBLE)"
    observed = f"TRY_CAST({text('observed_at')} AS TIMESTAMPTZ)"
    sql = f"""
        SELECT {LINE} AS line_no, to_json(s) AS raw,
            coalesce('user:' || {text("user_id")}, 'anon:' || {text("anonymous_id")},
                     'email:' || _email_hash, 'phone:' || _phone_hash) AS identifier,
            {text("keyword")} AS keyword, {text("topic")} AS topic, {weight} AS weight,
            {observed} AS observed_at, ? AS source,
            list_filter([
                CASE WHEN coalesce({text("user_id")}, {text("anonymous_id")}, _email_hash, _phone_hash) IS NULL
                     AND NOT (_email_bad OR _phone_bad) THEN 'identifier: no user_id, anonymous_id, email or phone' END,
                CASE WHEN _email_bad THEN 'email: not a valid e-mail address' END,
                CASE WHEN _phone_bad THEN 'phone: not a valid phone number' END,
                CASE WHEN {text("keyword")} IS NULL THEN 'keyword: empty' END,
                CASE WHEN {text("weight")} IS NOT NULL AND {weight} IS NULL
                     THEN 'weight: ' || to_json({text("weight")}) || ' is not a number' END,
                CASE WHEN {text("observed_at")} IS NOT NULL AND {observed} IS NULL
                     THEN 'observed_at: cannot read ' || to_json({text("observed_at")}) || ' as a date and time' END
            ], lambda e: e IS NOT NULL) AS errors
        FROM staged_interests s"""
    import_id = store.begin_import("interests", str(path), data.sha256)
    with store.staged("staged_interests", rows):
        checked = store.query_arrow(sql, [provider])
    accepted, quarantined = split_checked(checked, data.unreadable)
    store.quarantine(quarantined, source=str(path), import_id=import_id, file_sha256=data.sha256)
    result = store.write_interests(accepted)
    progress("store", 1, 1)
    return finish_import(
        store,
        import_id=import_id,
        kind="interests",
        source=str(path),
        rows_read=data.rows.num_rows + len(data.unreadable),
        written=result,
        rejected=quarantined.num_rows,
        rejected_by_reason=count_by_field(quarantined),
    )
