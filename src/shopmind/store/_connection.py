"""A connection to a workspace's DuckDB file: opening it (owner-only permissions, a clear error
when another process holds it), migrations, transactions and reading. The table families build on
it (``_keyed_writes``, ``_fact_tables``, ``_identity_tables``, ``_run_results``) and ``Store`` is
their sum (``_store``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

import duckdb
import pyarrow as pa

from shopmind.core import (
    DEFAULT_PERSONAL_FIELDS,
    Clock,
    FieldError,
    InvalidInputError,
    PersonalFields,
    SchemaVersionError,
    StoreError,
    SystemClock,
    WorkspaceLockedError,
)
from shopmind.events import IdentityGraph
from shopmind.store._migrations import LATEST_VERSION, MIGRATIONS
from shopmind.store._private import keep_private

T = TypeVar("T")


#: the environment variables of ``Settings.duckdb_memory_limit`` and ``duckdb_temp_directory``
_LIMIT_VARIABLES = ("SHOPMIND_DUCKDB_MEMORY_LIMIT", "SHOPMIND_DUCKDB_TEMP_DIRECTORY")


def engine_limits() -> tuple[str | None, Path | None]:
    """The settings' DuckDB memory limit and temp directory (from the environment). The settings
    are read only when one is set: pydantic-settings takes a tenth of a second to import."""
    if not any(os.environ.get(variable) for variable in _LIMIT_VARIABLES):
        return None, None
    from pydantic import ValidationError

    from shopmind.core import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        raise InvalidInputError(
            [
                FieldError(".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, "))
                for e in exc.errors()
            ]
        ) from None
    return settings.duckdb_memory_limit, settings.duckdb_temp_directory


class _InlinedCTEs:
    """Ibis's DuckDB compiler with every common table expression marked ``NOT MATERIALIZED``.

    Ibis names a part that a query reads twice (the taste's product signals, the habits'
    sessions) as a common table expression, and DuckDB 2 materializes such a part: every reader
    buffers its own copy, which spills badly once the part outgrows the memory limit (the taste
    of 10M events under a 600 MB limit: 11.7 GB of spill and 35 s; inlined, 0.25 GB and 9.6 s; at
    100M events under 6 GB the spill passed 49 GB of disk). Inlined, each reader computes the part
    again from the columnar tables, with its own filters and columns pushed down: memory stays
    bounded by the operators' own spilling, at up to a sixth more time when everything fits."""

    def __init__(self, compiler: Any) -> None:
        self._compiler = compiler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._compiler, name)

    def to_sqlglot(self, *args: Any, **kwargs: Any) -> Any:
        import sqlglot.expressions as sge

        query = self._compiler.to_sqlglot(*args, **kwargs)
        for cte in query.find_all(sge.CTE):
            cte.set("materialized", False)
        return query


class Facts(Protocol):
    """Where a job's Ibis tables come from instead of this store (``use_facts``)."""

    def has(self, name: str) -> bool: ...
    def table(self, name: str) -> Any: ...
    def ship(self, name: str, rows: pa.Table) -> Any: ...


class _StoredBefore(StoreError):
    """A key written as new is stored already: the insert failed as a whole (in a transaction,
    the transaction is lost too: DuckDB has no savepoints)."""


class StoreConnection:
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
        memory_limit: str | None = None,
        temp_directory: str | Path | None = None,
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
        # a library prints nothing: DuckDB would draw its own progress bar on a slow query
        self._run("SET enable_progress_bar = false")
        self._bound_memory(memory_limit, temp_directory)
        self._ibis: Any = None
        self._facts: Facts | None = None  # see use_facts
        self._in_transaction = False
        self._assume_new = False  # see write_atomically
        self._table_columns: dict[str, list[str]] = {}
        self._graph: IdentityGraph | None = None  # this process owns the file, so a cache is safe
        #: set on a connection that does not own the identity graph (see ``defer_identity_to``)
        self._owner: Callable[[Callable[[Any], Any]], Any] | None = None
        if not read_only:
            self.migrate()
        elif self.schema_version() != LATEST_VERSION:
            raise SchemaVersionError(
                f"{self.path} has schema version {self.schema_version()}, this shopmind needs "
                f"{LATEST_VERSION}; open it once read-write to migrate it"
            )

    def _bound_memory(self, memory_limit: str | None, temp_directory: str | Path | None) -> None:
        """DuckDB's memory limit and spill folder: given, else the settings' (``Settings.duckdb_*``),
        else DuckDB's own (80% of the RAM; ``<store>.tmp``)."""
        if memory_limit is None and temp_directory is None:
            memory_limit, temp_directory = engine_limits()
        self._memory_limit = memory_limit  # None: DuckDB's own
        for name, value in (("memory_limit", memory_limit), ("temp_directory", temp_directory)):
            if value is None:
                continue
            if name == "temp_directory" and str(value):
                # DuckDB makes the folder but not its parents; the spilled rows are the shop's data
                Path(value).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            quoted = str(value).replace("'", "''")
            try:
                self._run(f"SET {name} = '{quoted}'")
            except duckdb.Error as exc:
                self._con.close()
                raise InvalidInputError([FieldError(f"duckdb_{name}", str(exc))]) from None

    def release_memory(self) -> None:
        """Hand back the pages DuckDB keeps cached after a query (up to its memory limit), before
        long work in this process that does not read the store, e.g. fitting a model on what a
        query returned: the limit is lowered for a moment, which evicts them, then restored."""
        try:
            self._run("SET memory_limit = '16MB'")
        except duckdb.Error:
            pass  # pages in use stay; nothing is lost but the memory
        finally:
            if self._memory_limit is None:
                self._run("RESET memory_limit")
            else:  # checked when the store opened
                self._run(f"SET memory_limit = '{str(self._memory_limit).replace(chr(39), chr(39) * 2)}'")

    def reader(self) -> Self:
        """Another connection to this store's database, for reading on another thread while
        this one writes (DuckDB connections are not shared between threads). Close it first."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other._con = self._con.cursor()
        other._ibis = None
        other._facts = None
        other._in_transaction = False
        other._table_columns = {}
        other._graph = None
        return other

    def defer_identity_to(self, owner: Callable[[Callable[[Any], Any]], Any]) -> None:
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

    def __enter__(self) -> Self:
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
            self._ibis.compiler = _InlinedCTEs(self._ibis.compiler)
        return self._ibis

    def table(self, name: str) -> Any:
        """An Ibis table expression over a stored table or view; while ``use_facts`` is in force,
        on that engine instead (the facts it holds, the others shipped to it from this store)."""
        if self._facts is not None:
            if self._facts.has(name):
                return self._facts.table(name)
            return self._facts.ship(name, self.query_arrow(f'SELECT * FROM "{name}"'))
        return self.ibis().table(name)

    def small_table(self, name: str, rows: pa.Table) -> Any:
        """``rows`` (a small Arrow table computed by an earlier query, e.g. a few fallback
        values) as an Ibis table the engine's queries can read with its facts: shipped to Spark
        under ``name`` on facts that need it, else an in-memory table of this store."""
        ship = getattr(self._facts, "ship", None)
        if ship is not None:
            return ship(name, rows)
        import ibis  # lazily, as in ``ibis()``

        return ibis.memtable(rows)

    def shared(self, expr: Any) -> Any:
        """``expr``, an Ibis table that several queries of a run read (e.g. the purchases), as
        the engine serves it best: on facts that recompute it in every query that reads it
        (Spark: ``use_facts`` with ``SparkFacts``), computed once and kept until the facts are
        closed; on this store, unchanged (DuckDB plans each query whole and spills, a copy would
        only cost memory)."""
        pin = getattr(self._facts, "pin", None)
        return expr if pin is None else pin(expr)

    def fetched(self, expr: Any, rows: pa.Table) -> Any:
        """``expr`` (an Ibis table) for the queries that read it next, when its ``rows`` were
        fetched already: on this store the rows themselves (DuckDB reads the Arrow table in
        place instead of computing ``expr`` again, and the next query compiles smaller); on
        other facts (Spark) ``shared(expr)``, the rows staying where they were computed."""
        if self._facts is not None:
            return self.shared(expr)
        import ibis

        return ibis.memtable(rows)

    def batches(self, expr: Any, rows: int, *, key: str = "profile_id") -> Iterator[pa.Table]:
        """The rows of ``expr`` (an Ibis table) as Arrow tables of about ``rows`` rows each, so
        that a caller scoring every customer never holds them all: streamed from this store, or
        on facts that can (Spark), computed once and brought back in parts split by ``key``."""
        split = getattr(self._facts, "batches", None)
        if split is not None:
            yield from split(expr, rows, key=key)
            return
        # DuckDB's own reader (Ibis 12's ``to_pyarrow_batches`` calls a method DuckDB 2 dropped)
        backend = self.ibis()
        backend._run_pre_execute_hooks(expr)  # registers the expression's in-memory tables, if any
        reader = self._con.sql(str(backend.compile(expr))).to_arrow_reader(rows)
        for batch in reader:
            if batch.num_rows:
                yield pa.Table.from_batches([batch])

    @contextmanager
    def use_facts(self, facts: Facts) -> Iterator[Facts]:
        """Read the tables through ``facts`` (e.g. ``SparkFacts``: a Parquet lake on Spark) for
        the duration of the block: the jobs' Ibis expressions then run on that engine while
        their results are still written here, the serving store."""
        before, self._facts = self._facts, facts
        try:
            yield facts
        finally:
            self._facts = before

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

    @contextmanager
    def held(self, name: str, query: str) -> Iterator[str]:
        """Keep the rows of ``query`` as the temporary table ``name`` for the duration of the
        block: several statements then read them without running the query again, and without
        the rows leaving the engine (a large one spills to the temp directory)."""
        self._run(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {query}')
        try:
            yield name
        finally:
            self._run(f'DROP TABLE IF EXISTS "{name}"')

    def scalar(self, query: str, params: Sequence[object] | None = None) -> Any:
        rows = self._run(query, params)
        return rows[0][0] if rows else None
