"""The embedded DuckDB store of one workspace (one shop).

Writers hand over Arrow tables in the layouts of ``shopmind.events`` (``EVENT_SCHEMA``,
``ORDER_SCHEMA``, ``ORDER_LINE_SCHEMA``); every write is one transaction, so it is durable when
the call returns (DuckDB syncs its write-ahead log at commit), and idempotent: an event whose
message id, an order whose id, or an order line whose line key is already stored is skipped and
counted as a duplicate (keyed rows are first inserted as new, and looked up by the primary-key
index only if one was not: see ``write_atomically``). Readers get Ibis tables, so the same
expressions run on Spark later.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.core import (
    DEFAULT_PERSONAL_FIELDS,
    Clock,
    PersonalFields,
    SchemaVersionError,
    StoreError,
    SystemClock,
    UnknownIdentityLinkError,
    WorkspaceLockedError,
)
from shopmind.events import (
    EVENT_SCHEMA,
    LINK_COLUMNS,
    ORDER_LINE_SCHEMA,
    ORDER_SCHEMA,
    IdentityGraph,
    IdentityLink,
    implied_links,
)
from shopmind.store._claims import replace_claims
from shopmind.store._migrations import LATEST_VERSION, MIGRATIONS
from shopmind.store._private import keep_private, redact_rejected

FACT_TABLES = (
    "events",
    "orders",
    "order_lines",
    "products",
    "profiles",
    "identity_links",
    "consent_ledger",
    "consent_notices",
    "external_interests",
    "weather",
    "quarantine",
    "imports",
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("line_no", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


T = TypeVar("T")

_LOOKUP_CHUNK = 1000  # keys per IN list: each is one lookup of the primary-key index


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows newly stored and rows skipped because they were stored before (or
    repeated in the write); ``stored_before`` names the keys of the first kind."""

    inserted: int
    duplicates: int
    stored_before: frozenset[Any] = field(default=frozenset(), compare=False)

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.stored_before | other.stored_before,
        )


_LINK_SCHEMA = pa.schema(
    [
        ("link_id", pa.int64()),
        ("a", pa.string()),
        ("b", pa.string()),
        ("reason", pa.string()),
        ("merged", pa.bool_()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("undone_at", pa.timestamp("us", tz="UTC")),
    ]
)


class _StoredBefore(StoreError):
    """A key written as new is stored already: the insert failed as a whole (in a transaction,
    the transaction is lost too: DuckDB has no savepoints)."""


@dataclass(frozen=True)
class TableSummary:
    name: str
    rows: int
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class StoreStatus:
    """Counts per table, date ranges and a data-quality summary."""

    path: str
    schema_version: int
    tables: tuple[TableSummary, ...]
    quarantine_by_reason: tuple[tuple[str, int], ...]
    quality: tuple[tuple[str, int], ...]

    def rows(self, table: str) -> int:
        return next(t.rows for t in self.tables if t.name == table)


_TIME_COLUMNS = {
    "events": "event_time",
    "orders": "ordered_at",
    "quarantine": "quarantined_at",
    "imports": "started_at",
    "identity_links": "created_at",
    "consent_ledger": "occurred_at",
    "consent_notices": "sent_at",
    "weather": "day",
    "external_interests": "observed_at",
}


class Store:
    """A workspace's DuckDB file (or an in-memory store for tests with ``path=":memory:"``).

    ``personal``: the fields that hold personal data (the workspace's list), redacted from rejected
    input before the quarantine keeps it. The file and its write-ahead log are readable by their
    owner only (see ``keep_private``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock | None = None,
        read_only: bool = False,
        personal: PersonalFields = DEFAULT_PERSONAL_FIELDS,
    ) -> None:
        self.path = str(path)
        self._clock: Clock = clock or SystemClock()
        self.personal = personal
        if self.path != ":memory:":
            keep_private(self.path)
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WorkspaceLockedError(
                    f"the store {self.path} is in use by another shopmind process; stop that process "
                    f"(e.g. the running 'shopmind serve') or use another workspace. Detail: {exc}"
                ) from None
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        if self.path != ":memory:" and not read_only:
            keep_private(self.path, created=True)
        self._run("SET TimeZone = 'UTC'")
        self._ibis: Any = None
        self._in_transaction = False
        self._assume_new = False  # see write_atomically
        self._table_columns: dict[str, list[str]] = {}
        self._graph: IdentityGraph | None = None  # this process owns the file, so a cache is safe
        #: set on a connection that does not own the identity graph (see ``defer_identity_to``)
        self._owner: Callable[[Callable[[Store], Any]], Any] | None = None
        if not read_only:
            self.migrate()
        elif self.schema_version() != LATEST_VERSION:
            raise SchemaVersionError(
                f"{self.path} has schema version {self.schema_version()}, this shopmind needs "
                f"{LATEST_VERSION}; open it once read-write to migrate it"
            )

    def reader(self) -> Store:
        """Another connection to this store's database, for reading on another thread while
        this one writes (DuckDB connections are not shared between threads). Close it first."""
        other: Store = Store.__new__(Store)
        other.__dict__.update(self.__dict__)
        other._con = self._con.cursor()
        other._ibis = None
        other._in_transaction = False
        other._table_columns = {}
        other._graph = None
        return other

    def defer_identity_to(self, owner: Callable[[Callable[[Store], Any]], Any]) -> None:
        """Let the connection that owns the identity graph make this one's identity and profile
        writes: ``owner(fn)`` runs ``fn(owning store)`` there and returns what it returns. A
        server's long jobs (an import on their own connection) then neither give out link ids
        another connection gives out too nor leave the owner's cached graph behind."""
        self._owner = owner

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._con.close()

    def interrupt(self) -> None:
        """Stop the query this connection is running now (from another thread): it raises there."""
        self._con.interrupt()

    # -- the write-ahead log -------------------------------------------------------------------
    def wal_bytes(self) -> int:
        """The size of the write-ahead log: committed writes not yet folded into the database
        file (0 for an in-memory store). Reads the file's size only: safe from any thread."""
        try:
            return os.path.getsize(f"{self.path}.wal") if self.path != ":memory:" else 0
        except FileNotFoundError:
            return 0

    def checkpoint_at(self, megabytes: int) -> None:
        """Let the write-ahead log grow to ``megabytes`` before a commit folds it into the database
        file (DuckDB's default: 16). A checkpoint's cost grows with the table, not only with the
        log: fewer, larger ones cost less in all; the log is replayed at the next start after a
        crash (about 1 s per 100 MB, measured)."""
        self._run(f"SET checkpoint_threshold = '{int(megabytes)}MB'")

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file now."""
        self._run("CHECKPOINT")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        exists = self._run(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        )
        if not exists[0][0]:
            return 0
        return int(self._run("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0])

    def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction; returns the versions applied."""
        self._run(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)"
        )
        current = self.schema_version()
        if current > LATEST_VERSION:
            raise SchemaVersionError(
                f"{self.path} has schema version {current}, newer than this shopmind ({LATEST_VERSION}); "
                "upgrade shopmind"
            )
        applied = []
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            with self._transaction():
                self._run(migration.sql)
                self._run(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [migration.version, migration.name, self._clock.now()],
                )
            applied.append(migration.version)
        return applied

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._in_transaction:  # inside ``atomically``: one commit for everything
            yield
            return
        self._run("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._run("ROLLBACK")
            self._graph = None  # the cache may hold links that were not stored
            raise
        else:
            self._run("COMMIT")
        finally:
            self._in_transaction = False

    @contextmanager
    def atomically(self) -> Iterator[None]:
        """Every write inside is one transaction: all durable at the end (one sync), or none."""
        with self._transaction():
            yield

    def write_atomically(self, write: Callable[[], T]) -> T:
        """Run ``write`` (writes to this store) as one transaction: all durable when it returns
        (one sync), or none.

        Keyed rows (events, orders, order lines) are first inserted as if none were stored yet,
        with no lookup: the usual case, and the fastest. If one was, the transaction is rolled
        back and ``write`` runs again, this time looking the keys up in the primary-key index
        (whatever the table's size), so ``write`` must not rely on what its first run changed
        outside the store. Inside another transaction, ``write`` runs once, looking keys up."""
        if self._in_transaction:
            return write()
        self._assume_new = True
        try:
            with self._transaction():
                return write()
        except _StoredBefore:
            pass
        finally:
            self._assume_new = False
        with self._transaction():
            return write()

    def _run(self, sql: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        # DuckDB 2 refuses further work on a connection until a result is fully fetched
        return self._con.execute(sql, params or []).fetchall()

    # -- reading ---------------------------------------------------------------------------
    def ibis(self) -> Any:
        """An Ibis backend on this store's connection."""
        if self._ibis is None:
            import ibis  # a third of a second: only the jobs that build expressions pay it

            self._ibis = ibis.duckdb.from_connection(self._con)
        return self._ibis

    def table(self, name: str) -> Any:
        """An Ibis table expression over a stored table or view."""
        return self.ibis().table(name)

    def sql(self, query: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        """Run a read-only query and return its rows (for tests, reports and the CLI)."""
        return self._run(query, params)

    def query_arrow(self, query: str, params: Sequence[object] | None = None) -> pa.Table:
        """Run a query and return an Arrow table (the relational work stays in the engine)."""
        return self._con.sql(query, params=list(params or [])).to_arrow_table()

    @contextmanager
    def staged(self, name: str, rows: pa.Table) -> Iterator[str]:
        """Make an Arrow table queryable as ``name`` for the duration of the block."""
        self._con.register(name, rows)
        try:
            yield name
        finally:
            self._con.unregister(name)

    def scalar(self, query: str, params: Sequence[object] | None = None) -> Any:
        rows = self._run(query, params)
        return rows[0][0] if rows else None

    # -- writing facts ---------------------------------------------------------------------
    def _write(
        self, table: str, rows: pa.Table, statement: str, params: Sequence[object] = ()
    ) -> WriteResult:
        """Run ``statement`` (``{src}`` names the staged rows) in one transaction; rows that did not
        add a new row to ``table`` count as duplicates."""
        view = f"_incoming_{uuid.uuid4().hex}"
        self._con.register(view, rows)
        try:
            with self._transaction():  # an INSERT answers how many rows it added
                inserted = int(self._run(statement.replace("{src}", view), params)[0][0])
        finally:
            self._con.unregister(view)
        return WriteResult(inserted, rows.num_rows - inserted)

    def _insert_new(self, table: str, key: str, rows: pa.Table, schema: pa.Schema) -> WriteResult:
        """Insert the rows whose key is not stored yet (first copy wins inside the batch).

        Plain INSERTs: DuckDB's ON CONFLICT DO NOTHING costs twice as much when nothing conflicts
        and hundreds of milliseconds per batch on a large table when something does. Outside a
        transaction, rows whose keys are all different go in as one statement, its own
        transaction (durable when it returns, no BEGIN and COMMIT to send); if a key is stored,
        that statement fails as a whole and the keys are looked up in one transaction."""
        if rows.num_rows == 0:
            return WriteResult(0, 0)
        keys = rows.column(key).to_pylist()
        distinct = len(set(keys)) == len(keys)
        if not self._in_transaction:
            if not distinct:
                return self.write_atomically(lambda: self._insert_new(table, key, rows, schema))
            self._assume_new = True
            try:
                self._append(table, rows, schema)
                return WriteResult(rows.num_rows, 0)
            except _StoredBefore:
                pass
            finally:
                self._assume_new = False
            with self._transaction():  # some keys are stored: look them up
                return self._insert_new(table, key, rows, schema)
        if self._assume_new and distinct:  # the usual case: nothing to skip
            self._append(table, rows, schema)
            return WriteResult(rows.num_rows, 0)
        first: dict[Any, int] = {}  # key -> its first row (dicts keep insertion order)
        for at, value in enumerate(keys):
            first.setdefault(value, at)
        stored = frozenset() if self._assume_new else self._stored_keys(table, key, list(first))
        keep = [at for value, at in first.items() if value not in stored]
        unique = rows if len(keep) == rows.num_rows else rows.take(pa.array(keep, pa.int64()))
        self._append(table, unique, schema)
        return WriteResult(unique.num_rows, rows.num_rows - unique.num_rows, stored)

    def _stored_keys(self, table: str, key: str, values: list[Any]) -> frozenset[Any]:
        """Which of ``values`` are stored as ``key`` of ``table`` (lookups in its primary-key
        index; a join would scan the whole table)."""
        found: set[Any] = set()
        for start in range(0, len(values), _LOOKUP_CHUNK):
            chunk = values[start : start + _LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found.update(
                row[0] for row in self._run(f'SELECT "{key}" FROM {table} WHERE "{key}" IN ({marks})', chunk)
            )
        return frozenset(found)

    def _append(self, table: str, rows: pa.Table, schema: pa.Schema) -> None:
        """Insert ``rows`` (keys not stored: see ``write_atomically``) in one statement, inside
        the open transaction or as its own."""
        if rows.num_rows == 0:
            return
        rows = _conform(rows, schema)
        columns = self._columns(table)
        try:
            if sorted(columns) == sorted(schema.names):  # every column given: one call, no view
                self._con.from_arrow(rows.select(columns)).insert_into(table)
            else:
                cols = ", ".join(f'"{c}"' for c in schema.names)
                self._con.register("_incoming_rows", rows)
                self._run(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _incoming_rows")
                self._con.unregister("_incoming_rows")
        except duckdb.ConstraintException as exc:
            # (an open transaction is aborted, a view cannot be dropped in it: the next write
            # replaces the view)
            if self._assume_new and "duplicate key" in str(exc).lower():
                raise _StoredBefore(str(exc)) from None
            raise

    def _columns(self, table: str) -> list[str]:
        """The columns of ``table`` in their order (migrations run before any write)."""
        if table not in self._table_columns:
            self._table_columns[table] = [
                row[0]
                for row in self._run(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? "
                    "ORDER BY column_index",
                    [table],
                )
            ]
        return self._table_columns[table]

    def _count(self, table: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table}"))

    def write_events(self, events: pa.Table, *, link: bool = True) -> WriteResult:
        """Store events (``EVENT_SCHEMA`` layout); re-sent message ids are stored once.

        Identity links implied by the new events (anonymous id with user id, alias, hashed
        contact data) are recorded in the same call, unless ``link`` is false (the caller then
        records them itself, e.g. later in a larger transaction); call ``rebuild_profiles`` after
        a load.
        """
        if events.num_rows == 0:
            return WriteResult(0, 0)
        if not self._in_transaction and link:  # the events and their links in one transaction
            return self.write_atomically(lambda: self.write_events(events, link=link))
        result = self._insert_new("events", "message_id", events, EVENT_SCHEMA)
        if result.inserted and link:
            self._link_from_events(events)
        return result

    def write_orders(self, orders: pa.Table, lines: pa.Table) -> tuple[WriteResult, WriteResult]:
        """Store order headers and lines; known order ids and line keys are skipped, except that a
        verified order (from an import or the shop's server) replaces a client's unverified claim
        of the same id, lines and all. Headers without ``verified`` are verified."""
        if "verified" not in orders.column_names:
            orders = orders.append_column("verified", pa.repeat(pa.scalar(True), orders.num_rows))
        if not self._in_transaction:
            return self.write_atomically(lambda: self.write_orders(orders, lines))
        confirmed = pc.filter(orders.column("order_id"), orders.column("verified")).to_pylist()
        if confirmed:
            replace_claims(self, confirmed)
        return (
            self._insert_new("orders", "order_id", orders, ORDER_SCHEMA),
            self._insert_new("order_lines", "line_key", lines, ORDER_LINE_SCHEMA),
        )

    def write_products(self, products: pa.Table, *, overwrite: bool = True) -> WriteResult:
        """Insert new products; update known ones.

        With ``overwrite`` (a catalogue import) the given non-null attributes replace the stored
        ones; without it (products seen in orders) they only fill attributes still missing.
        """
        if products.num_rows == 0:
            return WriteResult(0, 0)
        names = [c for c in products.column_names if c != "product_id"]
        first, second = ("excluded", "products") if overwrite else ("products", "excluded")
        sets = ", ".join(f'"{c}" = coalesce({first}."{c}", {second}."{c}")' for c in names)
        cols = ", ".join(f'"{c}"' for c in ["product_id", *names])
        return self._write(
            "products",
            products,
            f"""INSERT INTO products ({cols}, updated_at)
            SELECT {cols}, ? FROM (
                SELECT *, row_number() OVER (PARTITION BY product_id) AS _copy FROM {{src}}
            ) WHERE _copy = 1
            ON CONFLICT (product_id) DO UPDATE SET {sets}, updated_at = excluded.updated_at""",
            [self._clock.now()],
        )

    def write_weather(self, weather: pa.Table) -> WriteResult:
        """Daily weather per region (region, day, temp_c, precip_mm)."""
        return self._write(
            "weather",
            weather,
            """INSERT OR REPLACE INTO weather (region, day, temp_c, precip_mm)
            SELECT region, day, temp_c, precip_mm FROM {src}""",
        )

    def write_interests(self, interests: pa.Table) -> WriteResult:
        """External interest signals (identifier, keyword, topic, weight, observed_at, source)."""
        return self._write(
            "external_interests",
            interests,
            """INSERT OR IGNORE INTO external_interests (identifier, keyword, topic, weight, observed_at, source)
            SELECT identifier, keyword, topic, weight, observed_at, source FROM {src}""",
        )

    def quarantine(
        self,
        rows: pa.Table,
        *,
        source: str,
        import_id: str | None = None,
        file_sha256: str | None = None,
    ) -> int:
        """Keep rejected input with its reason (``QUARANTINE_SCHEMA`` layout); returns rows kept.

        Personal data is redacted from each row's raw input and reason first (``personal``), so
        the quarantine holds no plain contact data. A line of a file (same content hash) that is
        already in the quarantine is not kept twice.
        """
        if rows.num_rows == 0:
            return 0
        return self._write(
            "quarantine",
            redact_rejected(_conform(rows, QUARANTINE_SCHEMA), self.personal),
            """INSERT INTO quarantine (import_id, source, file_sha256, line_no, field, reason, raw, quarantined_at)
            SELECT ?, ?, ?, line_no, field, reason, raw, ? FROM {src} r
            WHERE ? IS NULL OR NOT EXISTS (
                SELECT 1 FROM quarantine q WHERE q.file_sha256 = ? AND q.line_no IS NOT DISTINCT FROM r.line_no
            )""",
            [import_id, source, file_sha256, self._clock.now(), file_sha256, file_sha256],
        ).inserted

    def begin_import(self, kind: str, source: str, file_sha256: str | None) -> str:
        import_id = uuid.uuid4().hex[:16]
        self._run(
            "INSERT INTO imports (import_id, kind, source, file_sha256, started_at) VALUES (?, ?, ?, ?, ?)",
            [import_id, kind, source, file_sha256, self._clock.now()],
        )
        return import_id

    def finish_import(
        self, import_id: str, *, rows_read: int, accepted: int, duplicates: int, rejected: int
    ) -> None:
        self._run(
            """UPDATE imports SET finished_at = ?, rows_read = ?, accepted = ?, duplicates = ?, rejected = ?
            WHERE import_id = ?""",
            [self._clock.now(), rows_read, accepted, duplicates, rejected, import_id],
        )

    # -- derived results -------------------------------------------------------------------
    def begin_run(self, job: str, as_of: datetime) -> str:
        """Record the start of a job run; its results are written under the returned run id."""
        run_id = uuid.uuid4().hex[:16]
        self._run(
            "INSERT INTO job_runs (run_id, job, as_of, started_at, status) VALUES (?, ?, ?, ?, 'running')",
            [run_id, job, as_of, self._clock.now()],
        )
        return run_id

    def finish_run(self, run_id: str, status: str = "ok") -> None:
        self._run(
            "UPDATE job_runs SET finished_at = ?, status = ? WHERE run_id = ?",
            [self._clock.now(), status, run_id],
        )

    def write_scores(self, run_id: str, as_of: datetime, scores: pa.Table) -> int:
        """Per-profile scores in long form (profile_id, name, value)."""
        return self._write(
            "scores",
            scores,
            "INSERT INTO scores (run_id, profile_id, name, value, as_of) SELECT ?, profile_id, name, value, ? FROM {src}",
            [run_id, as_of],
        ).inserted

    def write_segment_members(self, run_id: str, as_of: datetime, members: pa.Table) -> int:
        """Segment membership (segment, profile_id)."""
        return self._write(
            "segment_members",
            members,
            "INSERT INTO segment_members (run_id, segment, profile_id, as_of) SELECT ?, segment, profile_id, ? FROM {src}",
            [run_id, as_of],
        ).inserted

    def write_model_card(self, run_id: str, as_of: datetime, name: str, card: Mapping[str, Any]) -> None:
        """Keep a model's quality figures (a JSON-able mapping) with the run that produced it."""
        self._run(
            "INSERT INTO model_cards (run_id, name, card, as_of) VALUES (?, ?, ?, ?)",
            [run_id, name, orjson.dumps(card, option=orjson.OPT_SERIALIZE_NUMPY).decode(), as_of],
        )

    def write_profile_facts(self, run_id: str, as_of: datetime, kind: str, rows: pa.Table) -> int:
        """Keep, per profile, what a job found that is not one number (e.g. ``taste``, ``habits``,
        a model's ``drivers``): ``rows`` has ``profile_id`` and any other columns, nested ones
        too; each row is kept as one JSON object under ``kind``."""
        return self._write(
            "profile_facts",
            rows,
            "INSERT INTO profile_facts (run_id, profile_id, kind, facts, as_of) "
            "SELECT ?, profile_id, ?, CAST(to_json(src) AS VARCHAR), ? FROM {src} AS src",
            [run_id, kind, as_of],
        ).inserted

    def profile_facts(self, profile_id: str, kind: str, run_id: str | None = None) -> dict[str, Any] | None:
        """The facts of ``kind`` about one profile from ``run_id`` (default: the newest run that
        wrote any), as a dict, or None."""
        rows = self._run(
            """SELECT f.facts FROM profile_facts f JOIN job_runs r USING (run_id)
            WHERE f.profile_id = ? AND f.kind = ? AND (? IS NULL OR f.run_id = ?) AND r.status = 'ok'
            ORDER BY r.as_of DESC, r.finished_at DESC LIMIT 1""",
            [profile_id, kind, run_id, run_id],
        )
        return orjson.loads(rows[0][0]) if rows else None

    def model_card(self, run_id: str, name: str) -> dict[str, Any] | None:
        """A model card written by :meth:`write_model_card`, or None."""
        rows = self._run("SELECT card FROM model_cards WHERE run_id = ? AND name = ?", [run_id, name])
        return orjson.loads(rows[0][0]) if rows else None

    @contextmanager
    def job_run(self, job: str, as_of: datetime) -> Iterator[str]:
        """A run of ``job`` as of ``as_of`` for the block: yields its run id; the run is finished
        'ok' when the block ends, 'failed' if it raises (so readers never see half a result)."""
        run_id = self.begin_run(job, as_of)
        try:
            yield run_id
        except BaseException:
            self.finish_run(run_id, "failed")
            raise
        self.finish_run(run_id)

    def run_at(self, job: str, as_of: datetime) -> str | None:
        """The newest successful run of ``job`` with exactly this ``as_of``, or None."""
        rows = self._run(
            "SELECT run_id FROM job_runs WHERE job = ? AND status = 'ok' AND as_of = ? "
            "ORDER BY finished_at DESC LIMIT 1",
            [job, as_of],
        )
        return rows[0][0] if rows else None

    def latest_run(self, job: str, before: datetime | None = None) -> tuple[str, datetime] | None:
        """The newest successful run of ``job`` (with as_of before ``before``, if given)."""
        rows = self._run(
            """SELECT run_id, as_of FROM job_runs WHERE job = ? AND status = 'ok' AND (? IS NULL OR as_of < ?)
            ORDER BY as_of DESC, finished_at DESC LIMIT 1""",
            [job, before, before],
        )
        return (rows[0][0], rows[0][1]) if rows else None

    # -- identity --------------------------------------------------------------------------
    def _link_from_events(self, events: pa.Table) -> None:
        """Record the identity links the events imply (``events.implied_links``)."""
        columns = [events.column(name).to_pylist() for name in LINK_COLUMNS]
        pairs = implied_links(zip(*columns, strict=True))
        if pairs:
            self.link_identities(pairs)

    def identity_graph(self) -> IdentityGraph:
        """The identity graph of the active (not undone) links."""
        if self._graph is None:
            rows = self._run(
                "SELECT link_id, a, b, reason, merged FROM identity_links WHERE undone_at IS NULL"
            )
            next_id = int(self.scalar("SELECT coalesce(max(link_id), 0) + 1 FROM identity_links"))
            self._graph = IdentityGraph(
                (IdentityLink(int(r[0]), r[1], r[2], r[3], bool(r[4])) for r in sorted(rows)), next_id=next_id
            )
        return self._graph

    def forget_identity_graph(self) -> None:
        """Drop the cached identity graph (after links were deleted, e.g. by an erasure)."""
        self._graph = None

    def link_identities(self, pairs: Iterable[tuple[str, str, str]]) -> list[IdentityLink]:
        """Record links (a, b, reason) between identifiers; returns the new ones (merges flagged)."""
        if self._owner is not None:
            given = list(pairs)
            found: list[IdentityLink] = self._owner(lambda owner: owner.link_identities(given))
            return found
        graph = self.identity_graph()
        new = [link for a, b, reason in pairs if (link := graph.link(a, b, reason)) is not None]
        if new:
            now = self._clock.now()
            rows = pa.table(
                {
                    "link_id": [lk.link_id for lk in new],
                    "a": [lk.a for lk in new],
                    "b": [lk.b for lk in new],
                    "reason": [lk.reason for lk in new],
                    "merged": [lk.merged for lk in new],
                    "created_at": [now] * len(new),
                    "undone_at": [None] * len(new),
                },
                schema=_LINK_SCHEMA,
            )
            try:
                with self._transaction():
                    self._append("identity_links", rows, _LINK_SCHEMA)
            except BaseException:
                self._graph = None  # the cache holds links that were not stored
                raise
        return new

    def undo_link(self, link_id: int) -> IdentityLink:
        """Undo a merge: the link stays on record, marked undone; call ``rebuild_profiles`` next."""
        if self._owner is not None:
            undone: IdentityLink = self._owner(lambda owner: owner.undo_link(link_id))
            return undone
        rows = self._run(
            "SELECT link_id, a, b, reason, merged FROM identity_links WHERE link_id = ? AND undone_at IS NULL",
            [link_id],
        )
        if not rows:
            raise UnknownIdentityLinkError(f"no active identity link with id {link_id}")
        self._run("UPDATE identity_links SET undone_at = ? WHERE link_id = ?", [self._clock.now(), link_id])
        self._graph = None
        row = rows[0]
        return IdentityLink(int(row[0]), row[1], row[2], row[3], bool(row[4]))

    def rebuild_profiles(self) -> int:
        """Recompute identifier -> profile for every identifier seen; returns the number of profiles."""
        if self._owner is not None:
            count: int = self._owner(Store.rebuild_profiles)
            return count
        graph = self.identity_graph()
        linked = pa.table(
            {
                "identifier": list(graph.assignments().keys()),
                "profile_id": list(graph.assignments().values()),
            },
            schema=pa.schema([("identifier", pa.string()), ("profile_id", pa.string())]),
        )
        self._con.register("_linked_profiles", linked)
        try:
            with self._transaction():
                self._run("DELETE FROM profiles")
                self._run(
                    """INSERT INTO profiles (identifier, profile_id, kind)
                    SELECT ident, coalesce(l.profile_id, ident), split_part(ident, ':', 1) FROM (
                        SELECT 'anon:' || anonymous_id AS ident FROM events WHERE anonymous_id IS NOT NULL
                        UNION SELECT 'user:' || user_id FROM events WHERE user_id IS NOT NULL
                        UNION SELECT 'user:' || customer_id FROM orders WHERE customer_id IS NOT NULL
                        UNION SELECT 'anon:' || anonymous_id FROM orders WHERE anonymous_id IS NOT NULL
                        UNION SELECT 'email:' || email_hash FROM orders WHERE email_hash IS NOT NULL
                        UNION SELECT 'phone:' || phone_hash FROM orders WHERE phone_hash IS NOT NULL
                        UNION SELECT identifier FROM _linked_profiles
                        UNION SELECT identifier FROM consent_ledger
                        UNION SELECT identifier FROM consent_notices
                    ) AS seen LEFT JOIN _linked_profiles l ON l.identifier = seen.ident"""
                )
        finally:
            self._con.unregister("_linked_profiles")
        return int(self.scalar("SELECT count(DISTINCT profile_id) FROM profiles"))

    # -- status ----------------------------------------------------------------------------
    def status(self) -> StoreStatus:
        tables = []
        for name in FACT_TABLES:
            col = _TIME_COLUMNS.get(name)
            if col:
                rows, first, last = self._run(f"SELECT count(*), min({col}), max({col}) FROM {name}")[0]
            else:
                rows, first, last = self._count(name), None, None
            tables.append(TableSummary(name, int(rows), first, last))
        by_reason = self._run(
            "SELECT split_part(reason, ';', 1) AS r, count(*) FROM quarantine GROUP BY r ORDER BY 2 DESC LIMIT 20"
        )
        quality = [
            (
                "events with a corrected clock",
                "SELECT count(*) FROM events WHERE time_flag = 'skew_corrected'",
            ),
            (
                "events clamped from the future",
                "SELECT count(*) FROM events WHERE time_flag = 'future_clamped'",
            ),
            ("anonymous-only events", "SELECT count(*) FROM events WHERE user_id IS NULL"),
            (
                "guest orders (no member id)",
                "SELECT count(*) FROM orders WHERE customer_id IS NULL",
            ),
            ("return / cancellation lines", "SELECT count(*) FROM order_lines WHERE is_return"),
            ("non-product lines (postage, fees...)", "SELECT count(*) FROM order_lines WHERE NOT is_product"),
            ("lines without a description", "SELECT count(*) FROM order_lines WHERE description IS NULL"),
            ("quarantined rows", "SELECT count(*) FROM quarantine"),
        ]
        return StoreStatus(
            path=self.path,
            schema_version=self.schema_version(),
            tables=tuple(tables),
            quarantine_by_reason=tuple((str(r), int(n)) for r, n in by_reason),
            quality=tuple((label, int(self.scalar(q))) for label, q in quality),
        )


def _conform(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """Order, fill and cast columns to ``schema``; missing columns become nulls."""
    if rows.schema.equals(schema):
        return rows
    arrays = []
    for fld in schema:
        if fld.name in rows.column_names:
            arrays.append(rows.column(fld.name).cast(fld.type))
        else:
            arrays.append(pa.nulls(rows.num_rows, fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)
