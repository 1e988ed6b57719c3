"""The open data layout ("the lake"): a shop's facts and scores as Parquet files in hive-style
folders, readable by DuckDB, Spark, pyarrow, pandas or any warehouse without shopmind.

``DIR/<table>/day=YYYY-MM-DD/part-<uuid>.parquet`` for the time series (events, orders, order
lines, scores), ``DIR/<table>/part-<uuid>.parquet`` for the snapshots (products, profiles). ``day`` is
the shop-local calendar date (the zone is recorded in ``DIR/_lake.json``) of the row's time:
``event_time``, ``ordered_at`` (order lines: their order's), ``as_of`` (scores). As hive readers
expect, ``day`` is in the folder name only, not in the files. Writers only add files, never
rewrite one, so a reader never sees half a file (each file is written under a hidden name and
renamed when complete). ``docs/data-layout.md`` is the reference for users.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError, StoreError
from shopmind.events import EVENT_SCHEMA, ORDER_LINE_SCHEMA, ORDER_SCHEMA

if TYPE_CHECKING:
    from shopmind.store._store import Store

__all__ = [
    "LAKE_TABLES",
    "LakeError",
    "LakeReport",
    "LakeWriter",
    "export_lake",
    "lake_partition",
    "lake_schema",
    "read_manifest",
]

_TS = pa.timestamp("us", tz="UTC")

#: The tables of the open layout, in the order an importer reads them (orders before their lines).
LAKE_TABLES: tuple[str, ...] = ("events", "orders", "order_lines", "products", "profiles", "scores")

#: The partition column of the time series: the shop-local date, ``YYYY-MM-DD``.
DAY = "day"
MANIFEST = "_lake.json"
LAYOUT_NAME = "shopmind-lake"
LAYOUT_VERSION = 1

PRODUCT_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("name", pa.string()),
        ("category", pa.string()),
        ("brand", pa.string()),
        ("price", pa.float64()),
        ("currency", pa.string()),
        ("colour", pa.string()),
        ("description", pa.string()),
        ("stock", pa.int64()),
        ("region", pa.string()),
        ("is_product", pa.bool_()),
        ("updated_at", _TS),
    ]
)
#: identifier (``user:m1``, ``anon:a1``, ``email:<hash>``, ``phone:<hash>``) -> its customer.
PROFILE_SCHEMA = pa.schema([("identifier", pa.string()), ("profile_id", pa.string()), ("kind", pa.string())])
SCORE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("job", pa.string()),
        ("profile_id", pa.string()),
        ("name", pa.string()),
        ("value", pa.float64()),
        ("as_of", _TS),
    ]
)

_FILE_SCHEMAS: dict[str, pa.Schema] = {
    "events": EVENT_SCHEMA,
    "orders": ORDER_SCHEMA,
    "order_lines": ORDER_LINE_SCHEMA,
    "products": PRODUCT_SCHEMA,
    "profiles": PROFILE_SCHEMA,
    "scores": SCORE_SCHEMA,
}
#: the time column whose shop-local date is a row's ``day`` (order lines: their order's
#: ``ordered_at``, given to the writer beside the lines or as ``day``)
_DAY_OF: dict[str, str] = {
    "events": "event_time",
    "orders": "ordered_at",
    "order_lines": "ordered_at",
    "scores": "as_of",
}
#: columns a writer must be given (the store's NOT NULL columns without a default)
_REQUIRED: dict[str, tuple[str, ...]] = {
    "events": ("message_id", "type", "event_time", "received_at", "source"),
    "orders": ("order_id", "ordered_at", "currency", "source"),
    "order_lines": ("line_key", "order_id", "product_id", "quantity", "unit_price"),
    "products": ("product_id",),
    "profiles": ("identifier", "profile_id", "kind"),
    "scores": ("run_id", "profile_id", "name", "as_of"),
}
#: defaults of the store's NOT NULL columns that have one
_DEFAULTS: dict[str, dict[str, bool]] = {
    "orders": {"is_return": False, "verified": True},
    "order_lines": {"is_return": False, "is_product": True},
    "products": {"is_product": True},
}


class LakeError(StoreError):
    """A lake directory cannot be written as asked (not empty, another zone, not a directory)."""


def _known(name: str) -> None:
    if name not in _FILE_SCHEMAS:
        raise InvalidInputError(
            [FieldError("table", f"unknown lake table {name!r}; the tables are {', '.join(LAKE_TABLES)}")]
        )


def lake_partition(name: str) -> str | None:
    """The partition column of a lake table (``day``), or None for the snapshots."""
    _known(name)
    return DAY if name in _DAY_OF else None


def lake_schema(name: str, *, partition: bool = True) -> pa.Schema:
    """The declared Arrow schema of a lake table as a hive reader sees it: the files' columns and,
    for the time series, ``day`` (date32) from the folder names; ``partition=False``: the files'
    columns only."""
    _known(name)
    schema = _FILE_SCHEMAS[name]
    if partition and name in _DAY_OF:
        return schema.append(pa.field(DAY, pa.date32()))
    return schema


def _zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            [FieldError("zone", f"{zone!r} is not an IANA time zone, e.g. Asia/Seoul")]
        ) from None
    return zone


def shop_dates(times: pa.ChunkedArray | pa.Array, zone: str) -> pa.ChunkedArray | pa.Array:
    """``YYYY-MM-DD`` strings: the shop-local dates of UTC moments (naive moments are UTC, as stored).

    Explicit conversion to the zone, independent of any session or machine zone, so every engine
    that follows the same rule files a row under the same day."""
    if not pa.types.is_timestamp(times.type):
        raise InvalidInputError([FieldError("time", f"expected timestamps, got {times.type}")])
    utc = times.cast(_TS) if times.type.tz is None else times
    local = pc.local_timestamp(utc.cast(pa.timestamp("us", tz=zone)))
    return local.cast(pa.date32()).cast(pa.string())


def read_manifest(directory: str | Path) -> dict[str, object] | None:
    """The lake's ``_lake.json`` (layout, version, zone), or None for a directory written by
    another tool."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LakeError(f"{path}: not a readable lake manifest ({exc})") from None
    return found if isinstance(found, dict) else None


def _write_manifest(directory: Path, zone: str) -> None:
    found = read_manifest(directory)
    if found is not None and found.get("zone") not in (None, zone):
        raise LakeError(
            f"{directory} holds days in the zone {found.get('zone')}, not {zone}: a lake has one zone "
            "(write to another directory, or use its zone)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    body = {"layout": LAYOUT_NAME, "version": LAYOUT_VERSION, "zone": zone, "tables": list(LAKE_TABLES)}
    _atomic_write(directory / MANIFEST, lambda tmp: tmp.write_text(json.dumps(body, indent=2) + "\n"))


def _atomic_write(final: Path, write: Callable[[Path], object]) -> None:
    """Write under a hidden name (hive readers skip names starting with '.' or '_'), then rename:
    a reader sees the whole file or none of it."""
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _conform(name: str, rows: pa.Table) -> pa.Table:
    """The rows in the table's file schema: columns ordered and cast, absent optional columns
    null, defaults filled; an unknown column, a missing required one or a null in one is an error
    naming the table and the column (a typo must not lose a column silently)."""
    schema = _FILE_SCHEMAS[name]
    extra = [c for c in rows.column_names if c not in schema.names and c not in (DAY, "ordered_at")]
    if extra:
        raise InvalidInputError(
            [FieldError(f"{name}.{c}", f"not a column of the lake table {name}") for c in extra]
        )
    errors = []
    arrays = []
    defaults = _DEFAULTS.get(name, {})
    for fld in schema:
        if fld.name in rows.column_names:
            try:
                column = rows.column(fld.name).cast(fld.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                errors.append(FieldError(f"{name}.{fld.name}", f"cannot be read as {fld.type} ({exc})"))
                continue
            if fld.name in defaults and column.null_count:
                column = pc.fill_null(column, pa.scalar(defaults[fld.name], fld.type))
        elif fld.name in defaults:
            column = pa.chunked_array([pa.repeat(pa.scalar(defaults[fld.name], fld.type), rows.num_rows)])
        else:
            column = pa.chunked_array([pa.nulls(rows.num_rows, fld.type)])
        if fld.name in _REQUIRED[name] and (fld.name not in rows.column_names or column.null_count):
            errors.append(
                FieldError(
                    f"{name}.{fld.name}",
                    "is required"
                    + (
                        f" ({column.null_count} rows have none)"
                        if fld.name in rows.column_names
                        else ": no such column"
                    ),
                )
            )
        arrays.append(column)
    if errors:
        raise InvalidInputError(errors)
    return pa.Table.from_arrays(arrays, schema=schema)


def _days(name: str, rows: pa.Table, zone: str) -> pa.ChunkedArray:
    """Each row's ``day`` (``YYYY-MM-DD``): from its time column, or, for order lines, from a given
    ``day`` or their order's ``ordered_at``."""
    if name == "order_lines" and DAY in rows.column_names:
        given = rows.column(DAY)
        days = given.cast(pa.date32()).cast(pa.string()) if not pa.types.is_string(given.type) else given
    elif _DAY_OF[name] in rows.column_names:
        days = shop_dates(rows.column(_DAY_OF[name]), zone)
    else:
        raise InvalidInputError(
            [
                FieldError(
                    f"{name}.{DAY}",
                    "order lines need their order's 'ordered_at' or a 'day' column (YYYY-MM-DD)",
                )
            ]
        )
    if days.null_count:
        raise InvalidInputError([FieldError(f"{name}.{DAY}", f"{days.null_count} rows have no day")])
    return days


@dataclass(frozen=True)
class LakeReport:
    """What was written: rows and files per table, the lake's directory and zone."""

    directory: str
    zone: str
    tables: tuple[tuple[str, int, int], ...]  # (table, rows, files)

    def rows(self, table: str) -> int:
        return next((rows for name, rows, _ in self.tables if name == table), 0)

    def files(self, table: str) -> int:
        return next((files for name, _, files in self.tables if name == table), 0)


class LakeWriter:
    """Appends chunks to a lake: ``append("events", arrow_table_or_batches)`` buffers them and
    writes new part files (one per day present) each time ``rows_per_file`` rows of a table
    are buffered, and at ``close``. Old files are never rewritten, so a writer can add a day's
    events to a lake that Spark is reading.

    Memory: at most ``rows_per_file`` rows per table are held (feed day-ordered chunks for
    fewer, larger files)."""

    def __init__(
        self, directory: str | Path, *, zone: str = DEFAULT_SHOP_TZ, rows_per_file: int = 500_000
    ) -> None:
        if rows_per_file < 1:
            raise InvalidInputError([FieldError("rows_per_file", "must be at least 1")])
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise LakeError(f"{self.directory} is a file, not a directory")
        self.zone = _zone(zone)
        self.rows_per_file = rows_per_file
        _write_manifest(self.directory, self.zone)
        self._buffers: dict[str, list[pa.Table]] = {}
        self._buffered: dict[str, int] = {}
        self._rows: dict[str, int] = {}
        self._files: dict[str, int] = {}
        self._closed = False

    def append(self, name: str, data: pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch]) -> int:
        """Add rows to a table (its ``lake_schema`` columns; absent optional ones are null);
        returns the rows taken. Order lines need their order's ``ordered_at`` or a ``day``."""
        if self._closed:
            raise LakeError("this lake writer is closed")
        _known(name)
        if isinstance(data, pa.Table):
            table = data
        elif isinstance(data, pa.RecordBatch):
            table = pa.Table.from_batches([data])
        else:
            batches = list(data)
            if not batches:
                return 0
            table = pa.Table.from_batches(batches)
        if table.num_rows == 0:
            return 0
        rows = _conform(name, table)
        if name in _DAY_OF:
            rows = rows.append_column(DAY, _days(name, table, self.zone))
        self._buffers.setdefault(name, []).append(rows)
        self._buffered[name] = self._buffered.get(name, 0) + rows.num_rows
        if self._buffered[name] >= self.rows_per_file:
            self._flush(name)
        return rows.num_rows

    def _flush(self, name: str) -> None:
        chunks = self._buffers.pop(name, [])
        self._buffered.pop(name, None)
        if not chunks:
            return
        rows = pa.concat_tables(chunks)
        folder = self.directory / name
        if DAY not in rows.column_names:
            self._write_part(name, folder, rows)
            return
        rows = rows.take(pc.sort_indices(rows.column(DAY)))
        days = rows.column(DAY).combine_chunks()
        # the sorted rows fall in runs of one day: one file each
        changes = pc.not_equal(days.slice(1), days.slice(0, len(days) - 1))
        ends = [int(i) + 1 for i in pc.indices_nonzero(changes).to_pylist()]
        starts = [0, *ends]
        stops = [*ends, len(days)]
        body = rows.drop_columns([DAY])
        for start, stop in zip(starts, stops, strict=True):
            day = days[start].as_py()
            self._write_part(name, folder / f"{DAY}={day}", body.slice(start, stop - start))

    def _write_part(self, name: str, folder: Path, rows: pa.Table) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"part-{uuid.uuid4()}.parquet"
        _atomic_write(final, lambda tmp: pq.write_table(rows, tmp, compression="zstd"))
        self._rows[name] = self._rows.get(name, 0) + rows.num_rows
        self._files[name] = self._files.get(name, 0) + 1

    def close(self) -> LakeReport:
        """Write what is buffered; returns rows and files written per table."""
        if not self._closed:
            for name in list(self._buffers):
                self._flush(name)
            self._closed = True
        return LakeReport(
            str(self.directory),
            self.zone,
            tuple((n, self._rows.get(n, 0), self._files.get(n, 0)) for n in LAKE_TABLES if n in self._rows),
        )

    def __enter__(self) -> LakeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
) -> LakeReport:
    """Write the store's tables to ``directory`` in the open layout; returns rows and files per
    table. The engine writes the files (partitioned, streaming: the tables never pass through
    Python). A table folder that already holds files is an error unless ``replace``, which
    deletes those folders first (never anything else in ``directory``)."""
    directory = Path(directory)
    zone = _zone(zone)
    names = list(tables)
    for name in names:
        _known(name)
    if directory.exists() and not directory.is_dir():
        raise LakeError(f"{directory} is a file, not a directory")
    for name in names:
        folder = directory / name
        if folder.exists() and any(folder.iterdir()):
            if not replace:
                raise LakeError(
                    f"{folder} already holds files; export to an empty directory, or replace the "
                    "lake's tables (--replace)"
                )
            shutil.rmtree(folder)
    if replace and read_manifest(directory) is not None:
        (directory / MANIFEST).unlink()
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
    return LakeReport(str(directory), zone, tuple(written))
