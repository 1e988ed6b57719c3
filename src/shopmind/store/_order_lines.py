"""Storing order lines so that a re-sent line is stored once, without a primary-key index.

``order_lines`` has no index on ``line_key`` (schema version 19): inserting a large file's random
md5 keys under one cost more than the rest of its import. A write instead leaves out, in the same
statement, the lines whose key is stored already (an anti-join: one scan of the stored keys) and
all but the first copy of a key repeated inside the write. Every write to ``order_lines`` that
adds lines goes through here, so the keys stay unique."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.events import ORDER_LINE_SCHEMA
from shopmind.store._keyed_writes import WriteResult, _conform

if TYPE_CHECKING:
    from shopmind.store._keyed_writes import KeyedWrites

_COLUMNS = ", ".join(f'"{c}"' for c in ORDER_LINE_SCHEMA.names)
_POSITION = "_line_position"


def insert_new_lines(store: KeyedWrites, rows: pa.Table, *, new_orders: Collection[str] = ()) -> WriteResult:
    """Insert the lines (``ORDER_LINE_SCHEMA`` layout) whose key is not stored yet, the first
    copy of a key repeated among ``rows`` only, inside the caller's transaction.

    ``new_orders``: ids of orders this write stored for the first time. A line is stored with or
    after its order (``write_orders``, the imports), so the lines of a new order cannot be stored
    yet: when every line is one of theirs (an order sent live, with its lines), no stored key is
    looked for, a look that scans every stored key (0.13 s at 5 million lines, measured)."""
    if rows.num_rows == 0:
        return WriteResult(0, 0)
    rows = _conform(rows, ORDER_LINE_SCHEMA)
    distinct = pc.count_distinct(rows.column("line_key")).as_py() == rows.num_rows
    if not distinct:  # "first" is the order of ``rows``: the engine needs it spelled out
        rows = rows.append_column(_POSITION, pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    fresh = (
        bool(new_orders)
        and pc.all(
            pc.is_in(rows.column("order_id"), value_set=pa.array(list(new_orders), pa.string()))
        ).as_py()
    )
    view = f"_incoming_lines_{uuid.uuid4().hex}"
    store._con.register(view, rows)
    try:
        inserted = _insert(store, view, distinct=distinct, look=not fresh)
    finally:
        store._con.unregister(view)
    return WriteResult(inserted, rows.num_rows - inserted)


def insert_new_lines_from(
    store: KeyedWrites, relation: str, *, unique_rows: int | None = None
) -> WriteResult:
    """``insert_new_lines`` for lines the engine holds already: ``relation`` is a table, a view
    or a parenthesised query with the columns of ``ORDER_LINE_SCHEMA`` (others are ignored), and
    the first copy of a repeated key is the one with the lowest ``line_no``. ``unique_rows``: the
    caller knows ``relation`` holds that many lines and no key twice (e.g. keys that hash each
    line's occurrence), which saves counting them (``relation`` then runs once)."""
    if unique_rows is not None:
        return WriteResult(inserted := _insert(store, relation, distinct=True), unique_rows - inserted)
    total, keys = store._run(f"SELECT count(*), count(DISTINCT line_key) FROM {relation} s")[0]
    if total == 0:
        return WriteResult(0, 0)
    if keys == total:
        inserted = _insert(store, relation, distinct=True)
    else:
        numbered = f"(SELECT *, line_no AS {_POSITION} FROM {relation} s)"
        inserted = _insert(store, numbered, distinct=False)
    return WriteResult(inserted, int(total) - inserted)


def _insert(store: KeyedWrites, source: str, *, distinct: bool, look: bool = True) -> int:
    """One INSERT of the lines of ``source`` whose key is not stored (the first copy of each key
    when ``distinct`` is false: by ``_line_position``); returns how many it added. ``look``:
    leave out the keys stored already (false: none can be)."""
    if not distinct:
        source = (
            f"(SELECT * FROM {source} s QUALIFY row_number() OVER "
            f"(PARTITION BY line_key ORDER BY {_POSITION} NULLS LAST) = 1)"
        )
    statement = f"INSERT INTO order_lines ({_COLUMNS}) SELECT {_COLUMNS} FROM {source} s"
    if look:
        statement += " WHERE NOT EXISTS (SELECT 1 FROM order_lines t WHERE t.line_key = s.line_key)"
    with store._transaction():  # a no-op inside the caller's: the INSERT's count is what it added
        return int(store._run(statement)[0][0])
