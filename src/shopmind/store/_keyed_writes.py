"""Writing rows keyed by an id so that a re-sent row is stored once (events, orders, order lines,
identity links), and staged writes that count what they added."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from shopmind.store._connection import StoreConnection, _StoredBefore

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


class KeyedWrites(StoreConnection):
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
