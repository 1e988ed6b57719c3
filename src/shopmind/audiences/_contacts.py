"""Reading the shop's contact file at export time (e.g. its member export with 아이디, 휴대폰 and
이메일 columns), in Arrow batches, without keeping it: shopmind stores no plain contact data, so
an ad-platform export takes the contacts from the shop each time, matches them to the audience
and lets only SHA-256 hashes out.

Columns are found by name as the importers find them (``아이디``/``member_id``/``user_id``…, the
workspace's e-mail and phone keys: ``이메일``, ``휴대폰``, ``mobile``…), or given as a mapping
``{"member_id": "회원아이디", "email": "메일", "phone": "핸드폰"}``."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shopmind.core import (
    DEFAULT_PERSONAL_FIELDS,
    FieldError,
    ImportFileError,
    InvalidInputError,
    PersonalFields,
    normalise_key,
)

#: names of a member-id column (compared normalised: case, ``_``, ``-``, ``.`` and spaces ignored)
MEMBER_ID_KEYS = (
    "member_id",
    "user_id",
    "customer_id",
    "login_id",
    "id",
    "아이디",
    "회원아이디",
    "회원id",
    "회원번호",
    "로그인아이디",
)
FIELDS = ("member_id", "email", "phone")
CONTACT_SCHEMA = pa.schema([(f, pa.string()) for f in FIELDS])
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class ContactColumns:
    """Which column of the contact file holds each field (None: the file has none)."""

    member_id: str | None
    email: str | None
    phone: str | None

    def mapping(self) -> dict[str, str]:
        return {f: c for f in FIELDS if (c := getattr(self, f)) is not None}


def find_columns(
    header: Sequence[str],
    given: Mapping[str, str] | None = None,
    personal: PersonalFields = DEFAULT_PERSONAL_FIELDS,
) -> ContactColumns:
    """The columns of ``header`` for each field: ``given`` ones (each must exist) or found by name.
    A file needs a member-id column or a contact column, and a contact column."""
    given = dict(given or {})
    errors = [
        FieldError(f"contacts.{field}", f"unknown field; map one of {', '.join(FIELDS)}")
        for field in given
        if field not in FIELDS
    ]
    errors += [
        FieldError(
            f"contacts.{field}",
            f"no column {column!r} in the contact file (its columns: {', '.join(header)})",
        )
        for field, column in given.items()
        if field in FIELDS and column not in header
    ]
    if errors:
        raise InvalidInputError(errors)
    by_key = {normalise_key(h): h for h in header}
    member_keys = {normalise_key(k) for k in MEMBER_ID_KEYS}

    def find(field: str) -> str | None:
        if field in given:
            return given[field]
        for key, column in by_key.items():
            if field == "member_id" and key in member_keys:
                return column
            if field != "member_id" and personal.kind(column, False) == field:
                return column
        return None

    found = ContactColumns(find("member_id"), find("email"), find("phone"))
    if found.email is None and found.phone is None:
        raise InvalidInputError(
            [
                FieldError(
                    "contacts",
                    f"no e-mail or phone column among {', '.join(header)}; map one, e.g. phone=휴대폰",
                )
            ]
        )
    return found


def _header(source: Path | str, encoding: str) -> list[str]:
    try:
        if isinstance(source, Path):
            with source.open(newline="", encoding=encoding) as fh:
                row = next(csv.reader(fh), None)
        else:
            row = next(csv.reader(io.StringIO(source)), None)
    except UnicodeDecodeError:
        raise ImportFileError(
            f"{source if isinstance(source, Path) else 'the contact file'}: not {encoding} text; "
            "give its encoding (e.g. cp949 for a Korean Excel export)"
        ) from None
    if not row:
        raise ImportFileError("the contact file is empty (expected a header line)")
    return [h.strip().lstrip("\ufeff") for h in row]


def contact_batches(
    source: Path | str,
    columns: Mapping[str, str] | None = None,
    *,
    encoding: str = "utf-8",
    batch_rows: int = BATCH_ROWS,
    personal: PersonalFields = DEFAULT_PERSONAL_FIELDS,
) -> tuple[ContactColumns, Iterator[pa.RecordBatch]]:
    """The columns found and the file's rows as batches of ``member_id``, ``email``, ``phone``
    (strings; a field the file lacks is null). ``source``: a CSV, Parquet or XLSX file, or CSV
    text (what the API receives). Nothing is written anywhere."""
    if isinstance(source, Path):
        if not source.is_file():
            raise ImportFileError(f"{source}: no such file")
        suffix = source.suffix.lower()
        if suffix == ".parquet":
            return _parquet(source, columns, batch_rows, personal)
        if suffix == ".xlsx":
            return _xlsx(source, columns, batch_rows, personal)
        if suffix not in (".csv", ".txt", ".tsv"):
            raise ImportFileError(f"{source}: unknown contact file type {suffix!r}; use CSV, Parquet or XLSX")
    header = _header(source, "utf-8-sig" if encoding.lower().replace("-", "") == "utf8" else encoding)
    found = find_columns(header, columns, personal)
    mapping = found.mapping()
    delimiter = "\t" if isinstance(source, Path) and source.suffix.lower() == ".tsv" else ","
    read = pacsv.ReadOptions(block_size=1 << 22, encoding=encoding)
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in header},
        include_columns=list(dict.fromkeys(mapping.values())),
        strings_can_be_null=False,
    )
    data = source if isinstance(source, Path) else pa.BufferReader(source.encode(encoding))
    try:
        reader = pacsv.open_csv(data, read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ImportFileError(f"the contact file cannot be read as CSV ({exc})") from None
    return found, _conform(reader, mapping, batch_rows)


def _conform(
    batches: Iterator[pa.RecordBatch] | pacsv.CSVStreamingReader, mapping: dict[str, str], rows: int
) -> Iterator[pa.RecordBatch]:
    try:
        for batch in batches:
            for start in range(0, batch.num_rows, rows):
                part = batch.slice(start, rows)
                arrays = [
                    part.column(mapping[f]).cast(pa.string())
                    if f in mapping
                    else pa.nulls(part.num_rows, pa.string())
                    for f in FIELDS
                ]
                yield pa.RecordBatch.from_arrays(arrays, schema=CONTACT_SCHEMA)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ImportFileError(f"the contact file cannot be read ({exc})") from None


def _parquet(
    path: Path, columns: Mapping[str, str] | None, rows: int, personal: PersonalFields
) -> tuple[ContactColumns, Iterator[pa.RecordBatch]]:
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportFileError(f"{path}: not a readable Parquet file ({exc})") from None
    found = find_columns(file.schema_arrow.names, columns, personal)
    mapping = found.mapping()
    batches = file.iter_batches(batch_size=rows, columns=list(dict.fromkeys(mapping.values())))
    return found, _conform(batches, mapping, rows)


def _xlsx(
    path: Path, columns: Mapping[str, str] | None, rows: int, personal: PersonalFields
) -> tuple[ContactColumns, Iterator[pa.RecordBatch]]:
    import openpyxl  # read-only mode streams the sheet's rows

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise ImportFileError(f"{path}: not a readable XLSX file ({exc})") from None
    sheet = book.worksheets[0]
    lines = sheet.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(lines, ())]
    if not any(header):
        book.close()
        raise ImportFileError(f"{path}: the first sheet is empty (expected a header row)")
    found = find_columns(header, columns, personal)
    positions = {f: header.index(c) for f, c in found.mapping().items()}

    def cell(value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # a phone number the sheet keeps as a number
        return str(value)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            chunk: list[tuple[object, ...]] = []
            for line in lines:
                chunk.append(line)
                if len(chunk) == rows:
                    yield _rows_batch(chunk, positions, cell)
                    chunk = []
            if chunk:
                yield _rows_batch(chunk, positions, cell)
        finally:
            book.close()

    return found, batches()


def _rows_batch(
    chunk: list[tuple[object, ...]], positions: dict[str, int], cell: Callable[[object], str | None]
) -> pa.RecordBatch:
    arrays = [
        pa.array(
            [
                cell(line[positions[f]]) if f in positions and positions[f] < len(line) else None
                for line in chunk
            ],
            pa.string(),
        )
        for f in FIELDS
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=CONTACT_SCHEMA)
