"""Appending chunks of rows to a lake (``LakeWriter``): what the streaming synthetic shop and
any other producer of facts use to write the open layout."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.store._lake import (
    _DAY_OF,
    _DEFAULTS,
    _FILE_SCHEMAS,
    _REQUIRED,
    DAY,
    LAKE_TABLES,
    LakeError,
    LakeReport,
    _atomic_write,
    _known,
    _write_manifest,
    _zone,
    shop_dates,
)

__all__ = ["LakeWriter"]


def _conform(name: str, rows: pa.Table) -> pa.Table:
    """The rows in the table's file schema: columns ordered and cast, absent optional columns
    null, defaults filled; an unknown column, a missing required one or a null in one is an error
    naming the table and the column (a typo must not lose a column silently)."""
    schema = _FILE_SCHEMAS[name]
    # (a day given is recomputed from the time; order lines may bring their order's time for it)
    allowed = {DAY, "ordered_at"} if name == "order_lines" else {DAY} if name in _DAY_OF else set()
    extra = [c for c in rows.column_names if c not in schema.names and c not in allowed]
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
