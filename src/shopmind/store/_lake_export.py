"""Writing a store's tables as a lake (``export_lake``): the engine writes the files, and the
export log keeps that the shop's data left."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.store._lake import (
    _DAY_OF,
    _FILE_SCHEMAS,
    _TS,
    DAY,
    LAKE_TABLES,
    MANIFEST,
    LakeError,
    LakeReport,
    _atomic_write,
    _known,
    _write_manifest,
    _zone,
    lake_schema,
    read_manifest,
)

if TYPE_CHECKING:
    from shopmind.store._store import Store

__all__ = ["export_lake"]


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _select(name: str, zone: str) -> str:
    """The store query whose columns are the table's file schema (cast to its declared types) and,
    for the time series, ``day``: the shop-local date computed by explicit conversion."""
    types = {
        pa.string(): "VARCHAR",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        _TS: "TIMESTAMPTZ",
    }
    cols = ", ".join(f'CAST(t."{f.name}" AS {types[f.type]}) AS "{f.name}"' for f in _FILE_SCHEMAS[name])
    local = f"CAST(timezone({_sql_str(zone)}, {{}}) AS DATE) AS {DAY}"
    if name == "order_lines":
        return (
            f"SELECT {cols}, {local.format('o.ordered_at')} FROM order_lines t JOIN orders o USING (order_id)"
        )
    if name == "scores":
        cols = cols.replace('t."job"', "r.job")
        return f"SELECT {cols}, {local.format('t.as_of')} FROM scores t LEFT JOIN job_runs r USING (run_id)"
    if name == "consents":  # the ledger, in the order it was recorded
        return f"SELECT {cols} FROM consent_ledger t ORDER BY t.seq"
    if name in _DAY_OF:
        return f"SELECT {cols}, {local.format('t.' + _DAY_OF[name])} FROM {name} t"
    return f"SELECT {cols} FROM {name} t"


def _write_snapshot(store: Store, query: str, folder: Path, schema: pa.Schema) -> int:
    """One part file of a snapshot table, streamed from the store in batches."""
    from shopmind.store._exports import stream_query

    rows = 0
    final = folder / f"part-{uuid.uuid4()}.parquet"

    def write(tmp: Path) -> None:
        nonlocal rows
        with pq.ParquetWriter(tmp, schema, compression="zstd") as out:
            for batch in stream_query(store, query, rows=100_000):
                out.write_batch(batch.cast(schema))
                rows += batch.num_rows

    _atomic_write(final, write)
    return rows


def export_lake(
    store: Store,
    directory: str | Path,
    *,
    zone: str = DEFAULT_SHOP_TZ,
    tables: Iterable[str] = LAKE_TABLES,
    replace: bool = False,
    actor: str = "library",
) -> LakeReport:
    """Write the store's tables to ``directory`` in the open layout; returns rows and files per
    table. The engine writes the files (partitioned, streaming: the tables never pass through
    Python). A table folder that already holds files is an error unless ``replace``, which
    deletes those folders first (never anything else in ``directory``).

    The export log keeps that the shop's data left (format ``lake``, where to, how many
    customers, rows per table, who: ``actor``), as it keeps every audience export."""
    directory = Path(directory)
    zone = _zone(zone)
    names = list(tables)
    for name in names:
        _known(name)
    if directory.exists() and not directory.is_dir():
        raise LakeError(f"{directory} is a file, not a directory")
    held = [n for n in LAKE_TABLES if (directory / n).is_dir() and any((directory / n).iterdir())]
    for name in names:
        if name in held and not replace:
            raise LakeError(
                f"{directory / name} already holds files; export to an empty directory, or replace the "
                "lake's tables (--replace)"
            )
    recorded = (read_manifest(directory) or {}).get("zone")
    kept = [n for n in held if n not in names]
    if kept and recorded not in (None, zone):  # checked before anything is deleted
        raise LakeError(
            f"{directory} holds days in the zone {recorded}, not {zone}, in {', '.join(kept)}: a lake has one "
            "zone (export every table, or use its zone)"
        )
    export_id = uuid.uuid4().hex[:16]
    started = store._clock.now()
    # logged before anything is deleted or written (a store that cannot log exports nothing)
    try:
        _log_export(store, export_id, started, directory, zone, (), actor, "running")
    except duckdb.Error as exc:
        raise LakeError(f"a lake export is logged, and this store cannot log it: {exc}") from None
    try:
        written = _write_tables(store, directory, zone, names, held, kept, recorded)
    except BaseException as exc:
        _log_export(store, export_id, started, directory, zone, (), actor, "failed", str(exc))
        raise
    _log_export(store, export_id, started, directory, zone, written, actor, "ok")
    return LakeReport(str(directory), zone, written)


def _write_tables(
    store: Store,
    directory: Path,
    zone: str,
    names: list[str],
    held: list[str],
    kept: list[str],
    recorded: object,
) -> tuple[tuple[str, int, int], ...]:
    for name in names:
        if name in held:
            shutil.rmtree(directory / name)
    if not kept and recorded is not None:
        (directory / MANIFEST).unlink()  # no table keeps its days: the zone may change
    _write_manifest(directory, zone)
    written = []
    for name in names:
        folder = directory / name
        folder.mkdir(parents=True, exist_ok=True)
        query = _select(name, zone)
        if name in _DAY_OF:
            target = _sql_str(str(folder))
            options = (
                f"FORMAT PARQUET, COMPRESSION ZSTD, PARTITION_BY ({DAY}), "
                "FILENAME_PATTERN 'part-{uuid}', OVERWRITE_OR_IGNORE"
            )
            rows = int(store.scalar(f"COPY ({query}) TO {target} ({options})") or 0)
        else:  # (DuckDB's own writer marks a column without nulls as required: the declared schema is nullable)
            rows = _write_snapshot(store, query, folder, lake_schema(name))
        files = sum(1 for p in folder.rglob("*.parquet") if not p.name.startswith((".", "_")))
        written.append((name, rows, files))
    return tuple(written)


def _log_export(
    store: Store,
    export_id: str,
    started: datetime,
    directory: Path,
    zone: str,
    written: tuple[tuple[str, int, int], ...],
    actor: str,
    status: str,
    error: str | None = None,
) -> None:
    from shopmind.store._exports import ExportRecord, record_export

    customers = int(store.scalar("SELECT count(DISTINCT profile_id) FROM profiles") or 0) if written else 0
    detail: dict[str, object] = {"zone": zone, "rows": {name: rows for name, rows, _ in written}}
    if error is not None:
        detail["error"] = error
    record_export(
        store,
        ExportRecord(
            export_id=export_id,
            started_at=started,
            finished_at=None if status == "running" else store._clock.now(),
            format="lake",
            destination=str(directory.resolve()),
            audience="the whole shop",
            members=customers,
            rows_out=sum(rows for _, rows, _ in written),
            members_digest=None,
            columns=json.dumps([name for name, _, _ in written]),
            detail=json.dumps(detail),
            actor=actor,
            status=status,
        ),
    )
