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
from shopmind.events import CHANNELS, DEVICE_TYPES, KIND_PRIORITY, EventType
from shopmind.ingest._report import ImportReport, Progress, finish_import, no_progress
from shopmind.ingest._tabular import LINE, file_sha256
from shopmind.store import (
    CHANNELS as CONSENT_CHANNELS,
)
from shopmind.store import (
    LAKE_TABLES,
    QUARANTINE_SCHEMA,
    Store,
    WriteResult,
    lake_schema,
    read_manifest,
    record_consent_rows,
)
from shopmind.store import (
    METHODS as CONSENT_METHODS,
)
from shopmind.store import (
    PURPOSES as CONSENT_PURPOSES,
)

BATCH_ROWS = 200_000
_FILE = "_file"  # which of the gathered files a row is from
_POS = "_pos"  # a row's position in the gathered rows
#: a row's own values in a reason (quoted text, numbers), left out when rows are counted by reason
_VALUES = re.compile(r"\"[^\"]*\"|(?<![\w.-])-?\d+(?:\.\d+)?(?![\w.:-])")
#: what the importer reads; scores are a run's results (see the module's note)
IMPORTED_TABLES = ("events", "orders", "order_lines", "products", "consents", "profiles")

#: columns whose absence (or null) rejects a row; the others are optional or have a default
_REQUIRED = {
    "events": ("type", "event_time"),
    "orders": ("order_id", "ordered_at"),
    "order_lines": ("order_id", "product_id", "quantity", "unit_price"),
    "products": ("product_id",),
    "profiles": ("identifier", "profile_id"),
    "consents": ("identifier", "channel", "purpose", "granted", "occurred_at"),
}
_SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_list(values: tuple[str, ...] | list[str]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _typed(field: pa.Field, source: pa.DataType | None, zone: str, utc_naive: bool) -> str:
    """SQL reading a file column into the lake type (NULL when it cannot be read)."""
    col = _q(field.name)
    if source is None:
        return f"CAST(NULL AS {_SQL_TYPES.get(field.type, 'TIMESTAMPTZ')})"
    if pa.types.is_timestamp(field.type):
        if pa.types.is_timestamp(source):
            if source.tz:
                return f"CAST({col} AS TIMESTAMPTZ)"
            # a time without a zone is the shop's, except Spark's INT96 times: UTC instants
            return f"timezone({_lit('UTC' if utc_naive else zone)}, CAST({col} AS TIMESTAMP))"
        if pa.types.is_date(source):
            return f"timezone({_lit(zone)}, CAST({col} AS TIMESTAMP))"
        if pa.types.is_string(source) or pa.types.is_large_string(source):
            s = f"trim({col})"
            return (
                f"CASE WHEN regexp_matches({s}, '(Z|[+-][0-9]{{2}}:?[0-9]{{2}})$') "
                f"THEN TRY_CAST({s} AS TIMESTAMPTZ) ELSE timezone({_lit(zone)}, TRY_CAST({s} AS TIMESTAMP)) END"
            )
        return "CAST(NULL AS TIMESTAMPTZ)"  # a number is no time: the check below names it
    target = _SQL_TYPES[field.type]
    if target == "VARCHAR":
        return f"CAST({col} AS VARCHAR)"
    if pa.types.is_string(source) or pa.types.is_large_string(source):
        return f"TRY_CAST(trim({col}) AS {target})"
    return f"TRY_CAST({col} AS {target})"


def _what(field: pa.Field) -> str:
    if pa.types.is_timestamp(field.type):
        return "a date and time (ISO 8601, e.g. 2026-03-01 14:30:00+09:00)"
    if pa.types.is_boolean(field.type):
        return "true or false"
    if pa.types.is_integer(field.type):
        return "a whole number"
    return "a number"


def _checked_select(
    name: str,
    schema: pa.Schema,
    zone: str,
    utc_naive: frozenset[str],
    now: datetime,
    currency: str,
    complete: frozenset[str] = frozenset(),
) -> str:
    """SQL over ``staged_lake`` (one batch of a file, with ``_line``): the lake columns typed (and
    defaulted), the ``errors`` list ('field: reason') and ``_file_row`` (the row's number in its
    file). ``complete``: the columns of the batch without nulls (they need no default: a lake
    shopmind wrote has every key, so no row is hashed)."""
    lake = lake_schema(name, partition=False)
    present = {f.name: f.type for f in schema if f.name != LINE}
    row = "struct_pack(" + ", ".join(f"{_q(c)} := {_q(c)}" for c in present) + ")"
    # a key for rows that come without one: their content and their occurrence among identical rows
    content = f"'h-' || left(sha256(to_json({row}) || (row_number() OVER (PARTITION BY {row}))::VARCHAR), 32)"
    defaults = _defaults(name, now, currency, content)
    typed = []
    errors = []
    for field in lake:
        source = present.get(field.name)
        expr = _typed(field, source, zone, field.name in utc_naive)
        if source is not None and field.type != pa.string():
            errors.append(
                f"CASE WHEN {_q(field.name)} IS NOT NULL AND {expr} IS NULL THEN "
                f"'{field.name}: cannot read ' || to_json(CAST({_q(field.name)} AS VARCHAR)) || ' as {_what(field)}' END"
            )
        if field.name in defaults and field.name not in complete:
            expr = f"coalesce({expr}, {defaults[field.name]})"
        typed.append(f"{expr} AS {_q(field.name)}")
    for required in _REQUIRED[name]:
        if required not in present:
            errors.append(f"'{required}: the file has no column {required}'")
        else:
            blank = f"trim(CAST({_q(required)} AS VARCHAR)) = ''"
            errors.append(f"CASE WHEN {_q(required)} IS NULL OR {blank} THEN '{required}: is empty' END")
    return f"""
    WITH typed AS (
        SELECT {LINE} AS _file_row, {_FILE}, {_POS}, {", ".join(typed)}, [{", ".join(errors)}] AS _read_errors
        FROM staged_lake
    )
    SELECT * EXCLUDE (_read_errors),
        list_filter(list_concat(_read_errors, [{", ".join(_rules(name)) or "NULL"}]), lambda e: e IS NOT NULL) AS errors
    FROM typed t
    """


def _rules(name: str) -> list[str]:
    """The checks of a table's values beyond their types ('field: reason' or NULL per row)."""
    finite = "(isfinite({c}) AND {c} >= 0)"
    if name == "events":
        types = tuple(t.value for t in EventType)
        return [
            f"CASE WHEN t.type IS NOT NULL AND t.type NOT IN {_in_list(types)} THEN 'type: ' || to_json(t.type) "
            f"|| ' is not an event type (one of {', '.join(types)})' END",
            "CASE WHEN t.anonymous_id IS NULL AND t.user_id IS NULL "
            "THEN 'anonymous_id: an event needs an anonymous_id or a user_id' END",
            f"CASE WHEN t.device_type NOT IN {_in_list(DEVICE_TYPES)} THEN 'device_type: ' || to_json(t.device_type) "
            f"|| ' is not one of {', '.join(DEVICE_TYPES)}' END",
            f"CASE WHEN t.channel NOT IN {_in_list(CHANNELS)} THEN 'channel: ' || to_json(t.channel) "
            f"|| ' is not one of {', '.join(CHANNELS)}' END",
            f"CASE WHEN NOT {finite.format(c='t.price')} THEN 'price: must be a finite number >= 0, not ' "
            "|| CAST(t.price AS VARCHAR) END",
            f"CASE WHEN NOT {finite.format(c='t.revenue')} THEN 'revenue: must be a finite number >= 0, not ' "
            "|| CAST(t.revenue AS VARCHAR) END",
            "CASE WHEN t.quantity < 0 THEN 'quantity: must be >= 0, not ' || CAST(t.quantity AS VARCHAR) END",
            "CASE WHEN NOT regexp_full_match(t.currency, '[A-Z]{3}') "
            "THEN 'currency: ' || to_json(t.currency) || ' is not a 3-letter ISO 4217 code' END",
            "CASE WHEN NOT json_valid(t.properties) THEN 'properties: not valid JSON' END",
        ]
    if name == "orders":
        return [
            "CASE WHEN NOT regexp_full_match(t.currency, '[A-Z]{3}') "
            "THEN 'currency: ' || to_json(t.currency) || ' is not a 3-letter ISO 4217 code' END",
        ]
    if name == "order_lines":
        return [
            "CASE WHEN t.quantity = 0 THEN 'quantity: zero items on an order line' END",
            "CASE WHEN NOT isfinite(t.unit_price) OR (t.unit_price < 0 AND t.is_product) "
            "THEN 'unit_price: a product line needs a finite price >= 0, not ' || CAST(t.unit_price AS VARCHAR) END",
            "CASE WHEN t.order_id IS NOT NULL AND t.order_id NOT IN (SELECT order_id FROM orders) "
            "THEN 'order_id: no order ' || to_json(t.order_id) || ' (a line needs its order in orders/ or the store)' END",
        ]
    if name == "products":
        return [
            f"CASE WHEN NOT {finite.format(c='t.price')} THEN 'price: must be a finite number >= 0, not ' "
            "|| CAST(t.price AS VARCHAR) END",
        ]
    kinds = "(" + "|".join(KIND_PRIORITY) + ")"
    identifier = (
        "CASE WHEN NOT regexp_full_match(t.{col}, '" + kinds + ":.+') THEN '{col}: ' || to_json(t.{col}) "
        f"|| ' is not an identifier (kind:value, kind one of {', '.join(KIND_PRIORITY)})' END"
    )
    if name == "profiles":
        return [identifier.format(col="identifier"), identifier.format(col="profile_id")]
    if name == "consents":
        return [
            identifier.format(col="identifier"),
            *(
                f"CASE WHEN t.{col} NOT IN {_in_list(values)} THEN '{col}: ' || to_json(t.{col}) "
                f"|| ' is not one of {', '.join(values)}' END"
                for col, values in (
                    ("channel", CONSENT_CHANNELS),
                    ("purpose", CONSENT_PURPOSES),
                    ("method", CONSENT_METHODS),
                )
            ),
        ]
    return []


def _defaults(name: str, now: datetime, currency: str, content: str) -> dict[str, str]:
    """SQL defaults of the columns a shop's own files may lack (the store needs a value)."""
    if name == "events":
        return {
            "message_id": content,
            "received_at": f"TIMESTAMPTZ '{now.isoformat()}'",
            "source": "'lake'",
        }
    if name == "orders":
        return {"currency": _lit(currency), "is_return": "false", "source": "'lake'", "verified": "true"}
    if name == "order_lines":
        return {"line_key": content, "is_return": "false", "is_product": "true"}
    if name == "products":
        return {"is_product": "true"}
    if name == "profiles":
        return {"kind": "split_part(identifier, ':', 1)"}
    if name == "consents":
        return {"entry_id": content, "method": "'import'", "source": "'lake'"}
    return {}


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
                _FILE, pa.array(np.full(batch.num_rows, len(self._files) - 1, dtype=np.int32))
            )
            self._pending.append(tagged)
            self._pending_rows += batch.num_rows
            if self._pending_rows >= BATCH_ROWS:
                self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        rows = pa.concat_tables(self._pending)
        rows = rows.append_column(_POS, pa.array(np.arange(rows.num_rows, dtype=np.int64)))
        files = self._files
        self._pending, self._pending_rows, self._files = [], 0, []
        source = rows.drop_columns([_FILE, _POS, LINE])
        complete = frozenset(c for c in source.column_names if source.column(c).null_count == 0)
        with self.store.staged("staged_lake", rows):
            checked = self.store.query_arrow(
                _checked_select(
                    self.name, source.schema, self.zone, self._utc_naive, self.now, self.currency, complete
                )
            )
        bad = pc.greater(pc.list_value_length(checked.column("errors")), 0)
        if pc.any(bad).as_py():
            self._quarantine(checked.filter(bad), source, files)
            checked = checked.filter(pc.invert(bad))
        result, not_kept = _store(
            self.store, self.name, checked.select(lake_schema(self.name, partition=False).names)
        )
        self.written += result
        self.lone += not_kept

    def _quarantine(self, rejected: pa.Table, source: pa.Table, files: list[tuple[Path, str]]) -> None:
        """Rejected rows in the quarantine's layout, per file: their row number in the file, the
        first field at fault, every reason with the file named, and the row as read (JSON, made
        for the rejected rows only)."""
        for index, (path, sha) in enumerate(files):
            mine = rejected.filter(pc.equal(rejected.column(_FILE), index))
            if mine.num_rows == 0:
                continue
            errors = mine.column("errors").to_pylist()
            raw = [orjson.dumps(r, default=str).decode() for r in source.take(mine.column(_POS)).to_pylist()]
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
    return _VALUES.sub("…", error)


def _store(store: Store, name: str, rows: pa.Table) -> tuple[WriteResult, int]:
    """Store accepted rows; returns what was written and the rows not kept (lone profiles)."""
    if rows.num_rows == 0:
        return WriteResult(0, 0), 0
    if name == "profiles":
        return _link_profiles(store, rows)
    return _write(store, name, rows), 0


#: the key of each keyed table, and which stored rows it is matched against (a client's unverified
#: claim of an order is replaced by the verified order, so it does not count as stored)
_KEYS = {
    "events": ("message_id", "true"),
    "orders": ("order_id", "t.verified"),
    "order_lines": ("line_key", "true"),
}


def _not_stored(store: Store, name: str, rows: pa.Table) -> tuple[pa.Table, int]:
    """The rows whose key is not stored yet, and how many were. One semi-join per batch: a
    re-imported lake would otherwise have every key of the batch looked up in the index a thousand
    at a time (about 30 times slower for 200,000 events)."""
    key, stored_if = _KEYS[name]
    with store.staged("_lake_keys", rows.select([key])):
        stored = store.query_arrow(
            f"SELECT DISTINCT k.{key} FROM _lake_keys k SEMI JOIN {name} t ON t.{key} = k.{key} AND {stored_if}"
        )
    if stored.num_rows == 0:
        return rows, 0
    fresh = rows.filter(pc.invert(pc.is_in(rows.column(key), value_set=stored.column(key))))
    return fresh, rows.num_rows - fresh.num_rows


def _write(store: Store, name: str, rows: pa.Table) -> WriteResult:
    if name in _KEYS:
        rows, seen = _not_stored(store, name, rows)
        if rows.num_rows == 0:
            return WriteResult(0, seen)
        if name == "events":
            written = store.write_events(rows)
        elif name == "orders":
            written = store.write_orders(rows, _no_lines())[0]
        else:
            written = store.write_orders(_no_orders(), rows)[1]
        return written + WriteResult(0, seen)
    if name == "products":
        with store.staged("_lake_products", rows):
            new = int(
                store.scalar(
                    "SELECT count(DISTINCT product_id) FROM _lake_products WHERE product_id NOT IN (SELECT product_id FROM products)"
                )
            )
        store.write_products(rows.drop_columns(["updated_at"]), overwrite=True)
        return WriteResult(new, rows.num_rows - new)
    return record_consent_rows(store, rows)  # consents


def _no_lines() -> pa.Table:
    return lake_schema("order_lines", partition=False).empty_table()


def _no_orders() -> pa.Table:
    return lake_schema("orders", partition=False).empty_table()


def _link_profiles(store: Store, rows: pa.Table) -> tuple[WriteResult, int]:
    """Join each profile's identifiers by identity links where the store does not join them
    already (so a re-import adds none); the profiles are rebuilt after the import. Returns the
    links added (as stored) and the rows of a lone identifier the store knows nothing of: a
    profile is kept with its facts (events, orders, consents), never alone."""
    with store.staged("_lake_profiles", rows.select(["identifier"])):
        known = dict(
            store.sql(
                "SELECT p.identifier, p.profile_id FROM profiles p JOIN _lake_profiles USING (identifier)"
            )
        )
    graph = store.identity_graph()
    pairs = []
    same = lone = 0
    for ident, profile in zip(
        rows.column("identifier").to_pylist(), rows.column("profile_id").to_pylist(), strict=True
    ):
        linked = graph.profile_of(ident)
        current = linked if linked != ident or ident in known else None
        if current == profile:
            same += 1
        elif ident == profile:
            lone += 1
        else:
            pairs.append((ident, profile, "lake"))
    new = store.link_identities(pairs)
    return WriteResult(len(new), same + len(pairs) - len(new)), lone
