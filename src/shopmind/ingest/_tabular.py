"""Reading CSV, Parquet and XLSX files into Arrow, with each row's input line number.

``_line`` is the line of the file where the row starts (CSV, counting the header as line 1),
the sheet row (XLSX, header row 1) or the 1-based row number (Parquet). Rows that cannot even be
read (invalid UTF-8, wrong number of fields) come back separately, with their reason.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shopmind.core import IdentifierHasher, ImportFileError

LINE = "_line"
SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".xlsx": "xlsx"}


@dataclass(frozen=True)
class UnreadableRow:
    line_no: int
    reason: str
    raw: str


@dataclass(frozen=True)
class TabularFile:
    rows: pa.Table  # source columns plus ``_line``
    unreadable: tuple[UnreadableRow, ...]
    sha256: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ParquetScan:
    """A Parquet file the engine reads itself: its rows never pass through Python (a third of
    the import's reading and checking, measured on Online Retail)."""

    path: Path
    schema: pa.Schema  # the file's columns, typed as Arrow reads them
    num_rows: int
    sha256: str

    def select_sql(self, extra: Mapping[str, str]) -> str:
        """SQL reading the file's rows with ``_line`` (the 1-based row number, as ``read_tabular``
        numbers them) and the ``extra`` columns (name -> SQL expression), in that order."""
        more = "".join(f", {sql} AS {name}" for name, sql in extra.items())
        where = "'" + str(self.path).replace("'", "''") + "'"
        return (
            f"SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS {LINE}{more} "
            f"FROM read_parquet({where}, file_row_number = true)"
        )


def scan_parquet(path: str | Path) -> ParquetScan | None:
    """The file as a ``ParquetScan`` when it is a Parquet file whose column names leave room for
    the row number (None for other files); raises ImportFileError when it cannot be read."""
    path = Path(path)
    if not path.is_file() or SUFFIXES.get(path.suffix.lower()) != "parquet":
        return None
    try:
        meta = pq.ParquetFile(path)
        schema = meta.schema_arrow
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportFileError(f"{path}: not a readable Parquet file ({exc})") from None
    if any(name == "file_row_number" or name.startswith("_") for name in schema.names):
        return None  # read_tabular's columns then, as before
    return ParquetScan(path, schema, meta.metadata.num_rows, file_sha256(path))


def read_tabular(path: str | Path, *, sheet: str | None = None, delimiter: str | None = None) -> TabularFile:
    """Read a whole CSV/Parquet/XLSX file; raises ImportFileError when the file itself is unusable."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ImportFileError(
            f"{path}: unknown file type {path.suffix!r}; expected one of {', '.join(sorted(SUFFIXES))}"
        )
    sha = file_sha256(path)
    if fmt == "parquet":
        try:
            # one file: ParquetFile, not read_table (that imports pyarrow.dataset, 0.4 s)
            table = pq.ParquetFile(path).read()
        except (pa.ArrowInvalid, OSError) as exc:
            raise ImportFileError(f"{path}: not a readable Parquet file ({exc})") from None
        table = table.append_column(LINE, pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64)))
        return TabularFile(table, (), sha)
    if fmt == "xlsx":
        return _read_xlsx(path, sheet, sha)
    return _read_csv(path, delimiter or ("\t" if path.suffix.lower() == ".tsv" else ","), sha)


def _read_csv(path: Path, delimiter: str, sha: str) -> TabularFile:
    bad: list[UnreadableRow] = []
    lines: list[int] = []
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFileError(f"{path}: the file is empty (expected a header line)") from None
        except csv.Error as exc:
            raise ImportFileError(f"{path}: cannot read the header line ({exc})") from None
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            raise ImportFileError(f"{path}: the header repeats a column name: {header}")
        columns: list[list[str | None]] = [[] for _ in header]
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                bad.append(UnreadableRow(start, f"line: malformed CSV ({exc})", ""))
                start = reader.line_num + 1
                continue
            line_no, start = start, reader.line_num + 1
            raw = delimiter.join(row)
            if not row:
                continue
            if any("\udc80" <= ch <= "\udcff" for ch in raw):
                pos = next(i for i, ch in enumerate(raw) if "\udc80" <= ch <= "\udcff")
                bad.append(
                    UnreadableRow(
                        line_no,
                        f"line: not valid UTF-8 (byte 0x{ord(raw[pos]) - 0xDC00:02x} at character {pos + 1}); "
                        "save the file as UTF-8",
                        raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"),
                    )
                )
                continue
            if len(row) != len(header):
                # kept by column name, so the quarantine can redact personal columns; fields past
                # the header cannot be told apart (a comma in an address shifts the rest): counted only
                kept: dict[str, object] = dict(zip(header, row, strict=False))
                if len(row) > len(header):
                    kept["_more_fields"] = len(row) - len(header)
                bad.append(
                    UnreadableRow(
                        line_no,
                        f"line: has {len(row)} fields, the header has {len(header)}",
                        orjson.dumps(kept).decode(),
                    )
                )
                continue
            for col, value in zip(columns, row, strict=True):
                col.append(value if value != "" else None)
            lines.append(line_no)
    arrays = {name: pa.array(col, pa.string()) for name, col in zip(header, columns, strict=True)}
    arrays[LINE] = pa.array(lines, pa.int64())
    return TabularFile(pa.table(arrays), tuple(bad), sha)


def _cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text != "" else None


def _read_xlsx(path: Path, sheet: str | None, sha: str) -> TabularFile:
    import openpyxl  # heavy; only needed for this format

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a bad file
        raise ImportFileError(f"{path}: not a readable XLSX workbook ({exc})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise ImportFileError(f"{path}: no sheet {sheet!r}; the workbook has {book.sheetnames}")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        try:
            header = [str(h).strip() if h is not None else "" for h in next(rows)]
        except StopIteration:
            raise ImportFileError(f"{path}: the sheet is empty (expected a header row)") from None
        columns: list[list[str | None]] = [[] for _ in header]
        lines: list[int] = []
        for i, row in enumerate(rows, start=2):
            values = [_cell(v) for v in row[: len(header)]]
            if all(v is None for v in values):
                continue
            values += [None] * (len(header) - len(values))
            for col, value in zip(columns, values, strict=True):
                col.append(value)
            lines.append(i)
    finally:
        book.close()
    arrays = {name: pa.array(col, pa.string()) for name, col in zip(header, columns, strict=True) if name}
    arrays[LINE] = pa.array(lines, pa.int64())
    return TabularFile(pa.table(arrays), (), sha)


def unreadable_table(rows: tuple[UnreadableRow, ...]) -> pa.Table:
    """Unreadable rows in the store's quarantine layout."""
    return pa.table(
        {
            "line_no": pa.array([r.line_no for r in rows], pa.int64()),
            "field": pa.array(["line"] * len(rows), pa.string()),
            "reason": pa.array([r.reason for r in rows], pa.string()),
            "raw": pa.array([r.raw for r in rows], pa.string()),
        }
    )


def split_checked(checked: pa.Table, unreadable: tuple[UnreadableRow, ...]) -> tuple[pa.Table, pa.Table]:
    """Split rows checked in SQL (an ``errors`` list column, ``line_no`` and ``raw``) into the
    accepted rows and the quarantine rows (unreadable lines first)."""
    # a row without errors may have an empty list or none
    bad = pc.fill_null(pc.greater(pc.list_value_length(checked.column("errors")), 0), False)
    layout = unreadable_table(()).schema
    if not pc.any(bad).as_py():  # the usual case: no copy of the accepted rows
        return checked, unreadable_table(unreadable).cast(layout)
    rejected = checked.filter(bad)
    quarantined = pa.table(
        {
            "line_no": rejected.column("line_no"),
            "field": pc.list_element(
                pc.split_pattern(pc.list_element(rejected.column("errors"), 0), ": ", max_splits=1), 0
            ),
            "reason": pc.binary_join(rejected.column("errors"), "; "),
            "raw": rejected.column("raw").cast(pa.string()),
        }
    ).cast(layout)
    return checked.filter(pc.invert(bad)), pa.concat_tables([unreadable_table(unreadable), quarantined])


def hash_contacts(
    values: pa.ChunkedArray | None, hasher: IdentifierHasher | None, kind: str, n: int
) -> tuple[pa.Array, pa.Array]:
    """Keyed hashes of an e-mail or phone column, and a flag for values that are not valid."""
    if values is None:
        return pa.nulls(n, pa.string()), pa.array([False] * n)
    if hasher is None:
        raise ImportFileError(f"mapping a {kind} column needs the workspace's hashing key")
    cache: dict[str, str | None] = {}
    hashes: list[str | None] = []
    bad: list[bool] = []
    for raw in values.to_pylist():
        if raw is None or str(raw).strip() == "":
            hashes.append(None)
            bad.append(False)
            continue
        if raw not in cache:
            cache[raw] = hasher.email(str(raw)) if kind == "email" else hasher.phone(str(raw))
        hashes.append(cache[raw])
        bad.append(cache[raw] is None)
    return pa.array(hashes, pa.string()), pa.array(bad)
