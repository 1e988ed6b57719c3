"""Importing a directory in the open data layout (``shopmind.store`` lake): one written by
``export_lake`` or ``LakeWriter``, or a shop's own lake or warehouse export written by Spark,
pyarrow, pandas or DuckDB in the same folders.

Every file is read in batches and checked in the engine like the other importers: each row's
values are typed (text, numbers and times written as text are read; a time without a zone is the
shop's, except Spark's INT96 times, which are UTC), required fields must be there and values must
make sense; a rejected row goes to the quarantine with its file, its row number in that file, the
field and the reason, and the rest is stored. An unreadable file is quarantined as one entry naming
it. Keys make a re-import store nothing twice: ``message_id`` (events without one get a hash of
their content), ``order_id``, ``line_key`` (lines without one: a hash of their order, line number
and content), the product id, ``entry_id`` (consent entries without one: a hash), and the identity
links of the profiles. The small files of a lake (a day each) are gathered into batches of
``BATCH_ROWS`` rows, so a batch is checked and stored in one go whatever the files' sizes.

Scores are not imported: they are a run's results, and ``shopmind run`` computes them again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shopmind.core import DEFAULT_SHOP_TZ, Clock, FieldError, ImportFileError, InvalidInputError, SystemClock
from shopmind.ingest._lake_checks import FILE, POS, checked_select
from shopmind.ingest._lake_writes import store_rows
from shopmind.ingest._report import ImportReport, Progress, finish_import, no_progress
from shopmind.ingest._tabular import LINE, file_sha256
from shopmind.store import (
    LAKE_TABLES,
    QUARANTINE_SCHEMA,
    Store,
    WriteResult,
    lake_schema,
    read_manifest,
)

BATCH_ROWS = 200_000
#: what the importer reads; scores are a run's results (see the module's note)
#: a row's own values in a reason (quoted, or a number after "not"), left out when rows are
#: counted by reason
_ROW_VALUES = re.compile(r'"(?:[^"\\]|\\.)*"|(?<=not )-?[0-9][0-9.e+-]*|(?<=not )(?:nan|inf|-inf)')
IMPORTED_TABLES = ("events", "orders", "order_lines", "products", "consents", "profiles")


def _files(folder: Path) -> list[Path]:
    """The data files of a table folder in name order, skipping what hive readers skip (names
    starting with '.' or '_': Spark's _SUCCESS and .crc files, temporary files)."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).parts
        if path.is_file() and not any(part.startswith((".", "_")) for part in relative):
            found.append(path)
    return found


def _batches(file: pq.ParquetFile) -> Iterator[pa.Table]:
    """The file's rows in batches, each row with its number in the file (``_line``, from 1)."""
    start = 1
    for batch in file.iter_batches(batch_size=BATCH_ROWS):
        table = pa.Table.from_batches([batch])
        lines = pa.array(np.arange(start, start + table.num_rows, dtype=np.int64))
        start += table.num_rows
        yield table.append_column(LINE, lines)


def import_lake(
    store: Store,
    directory: str | Path,
    *,
    tables: tuple[str, ...] | list[str] | None = None,
    zone: str | None = None,
    currency: str = "KRW",
    clock: Clock | None = None,
    progress: Progress = no_progress,
) -> tuple[ImportReport, ...]:
    """Import the lake tables found in ``directory`` (events, orders, order lines, products,
    consents, profiles, in that order); one report per table. ``zone``: the zone of times written without
    one (default: the lake's recorded zone, else Asia/Seoul); ``currency``: orders without one."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ImportFileError(f"{directory}: no such directory")
    wanted = tuple(tables) if tables is not None else IMPORTED_TABLES
    for name in wanted:
        if name not in IMPORTED_TABLES:
            why = " (scores are a run's results: 'shopmind run' computes them)" if name in LAKE_TABLES else ""
            raise ImportFileError(
                f"cannot import the lake table {name!r}{why}; the tables are {', '.join(IMPORTED_TABLES)}"
            )
    found = [name for name in wanted if (directory / name).is_dir()]
    if not found:
        raise ImportFileError(
            f"{directory} holds none of the lake's table folders ({', '.join(f'{n}/' for n in wanted)}); "
            "see docs/data-layout.md"
        )
    manifest = read_manifest(directory) or {}
    zone = zone or str(manifest.get("zone") or DEFAULT_SHOP_TZ)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            [FieldError("zone", f"{zone!r} is not an IANA time zone, e.g. Asia/Seoul")]
        ) from None
    if not re.fullmatch("[A-Z]{3}", currency):
        raise InvalidInputError([FieldError("currency", f"{currency!r} is not a 3-letter ISO 4217 code")])
    clock = clock or SystemClock()
    reports = [
        _import_table(store, directory / name, name, zone, currency, clock, progress) for name in found
    ]
    store.rebuild_profiles()
    return tuple(reports)


def _import_table(
    store: Store, folder: Path, name: str, zone: str, currency: str, clock: Clock, progress: Progress
) -> ImportReport:
    files = _files(folder)
    job = _TableImport(
        store, name, zone, currency, clock.now(), store.begin_import(f"lake:{name}", str(folder), None)
    )
    if name == "profiles":  # the profiles the facts imported so far imply, to compare with
        store.rebuild_profiles()
    for at, path in enumerate(files):
        job.read_file(path)
        progress(name, at + 1, len(files))
    job.flush()
    extra: tuple[tuple[str, int], ...] = (("files", len(files)),)
    if name == "profiles":
        extra += (("lone identifiers without facts (not kept)", job.lone),)
    return finish_import(
        store,
        import_id=job.import_id,
        kind=f"lake:{name}",
        source=str(folder),
        rows_read=job.read,
        written=job.written,
        rejected=job.rejected,
        rejected_by_reason=tuple(sorted(job.reasons.items(), key=lambda kv: -kv[1])),
        extra=extra,
    )


class _TableImport:
    """One table's import: batches of its files gathered up to ``BATCH_ROWS`` rows (a lake holds
    many small files, a day each: one check and one transaction per file would cost more than the
    rows), checked, the rejected rows quarantined per file, the rest stored."""

    def __init__(
        self, store: Store, name: str, zone: str, currency: str, now: datetime, import_id: str
    ) -> None:
        self.store, self.name, self.zone, self.currency, self.now = store, name, zone, currency, now
        self.import_id = import_id
        self.read = self.rejected = self.lone = 0
        self.written = WriteResult(0, 0)
        self.reasons: dict[str, int] = {}
        self._files: list[tuple[Path, str]] = []  # (path, sha256) of the gathered batches
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._schema: pa.Schema | None = None
        self._utc_naive: frozenset[str] = frozenset()

    def read_file(self, path: Path) -> None:
        sha = file_sha256(path)
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            entry = {
                "line_no": [None],
                "field": ["file"],
                "reason": [f"{path}: not a readable Parquet file ({exc})"],
                "raw": [None],
            }
            self.store.quarantine(
                pa.table(entry, schema=QUARANTINE_SCHEMA),
                source=str(path),
                import_id=self.import_id,
                file_sha256=sha,
            )
            self._count("file: not a readable Parquet file")
            return
        utc_naive = frozenset(c.name for c in parquet.schema if c.physical_type == "INT96")
        for batch in _batches(parquet):
            self.read += batch.num_rows
            if self._pending and (batch.schema != self._schema or utc_naive != self._utc_naive):
                self.flush()  # a file of another layout: checked on its own
            if not self._files or self._files[-1][0] != path:
                self._files.append((path, sha))
            self._schema, self._utc_naive = batch.schema, utc_naive
            tagged = batch.append_column(
                FILE, pa.array(np.full(batch.num_rows, len(self._files) - 1, dtype=np.int32))
            )
            self._pending.append(tagged)
            self._pending_rows += batch.num_rows
            if self._pending_rows >= BATCH_ROWS:
                self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        rows = pa.concat_tables(self._pending)
        rows = rows.append_column(POS, pa.array(np.arange(rows.num_rows, dtype=np.int64)))
        files = self._files
        self._pending, self._pending_rows, self._files = [], 0, []
        source = rows.drop_columns([FILE, POS, LINE])
        complete = frozenset(c for c in source.column_names if source.column(c).null_count == 0)
        with self.store.staged("staged_lake", rows):
            checked = self.store.query_arrow(
                checked_select(
                    self.name, source.schema, self.zone, self._utc_naive, self.now, self.currency, complete
                )
            )
        bad = pc.greater(pc.list_value_length(checked.column("errors")), 0)
        if pc.any(bad).as_py():
            self._quarantine(checked.filter(bad), source, files)
            checked = checked.filter(pc.invert(bad))
        result, not_kept = store_rows(
            self.store, self.name, checked.select(lake_schema(self.name, partition=False).names)
        )
        self.written += result
        self.lone += not_kept

    def _quarantine(self, rejected: pa.Table, source: pa.Table, files: list[tuple[Path, str]]) -> None:
        """Rejected rows in the quarantine's layout, per file: their row number in the file, the
        first field at fault, every reason with the file named, and the row as read (JSON, made
        for the rejected rows only)."""
        for index, (path, sha) in enumerate(files):
            mine = rejected.filter(pc.equal(rejected.column(FILE), index))
            if mine.num_rows == 0:
                continue
            errors = mine.column("errors").to_pylist()
            raw = [orjson.dumps(r, default=str).decode() for r in source.take(mine.column(POS)).to_pylist()]
            for e in errors:
                self._count(_short(e[0]))
            table = pa.table(
                {
                    "line_no": mine.column("_file_row"),
                    "field": pa.array([e[0].split(": ")[0] for e in errors], pa.string()),
                    "reason": pa.array([f"{'; '.join(e)} (file {path})" for e in errors], pa.string()),
                    "raw": pa.array(raw, pa.string()),
                },
                schema=QUARANTINE_SCHEMA,
            )
            self.store.quarantine(table, source=str(path), import_id=self.import_id, file_sha256=sha)

    def _count(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def _short(error: str) -> str:
    """'field: reason' without the row's own values, for counting rows by reason."""
    return _ROW_VALUES.sub("…", error)
