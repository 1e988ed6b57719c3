"""Order lines are stored once per line key without a primary-key index (schema version 19): a
write leaves out the keys stored before and all but the first copy of a key repeated inside it,
whether the lines come from Arrow (``write_orders``) or from the engine (``write_order_lines_from``,
the file import's path); a store written before version 19 keeps its lines and its keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from shopmind.events import ORDER_LINE_SCHEMA, ORDER_SCHEMA
from shopmind.ingest import import_orders
from shopmind.store import MIGRATIONS, Store

AT = datetime(2026, 3, 1, 10, tzinfo=UTC)


def _lines(*rows: tuple[str, str, str]) -> pa.Table:
    """Lines of order A1 as (line_key, product_id, description)."""
    return pa.table(
        {
            "order_id": ["A1"] * len(rows),
            "line_key": [r[0] for r in rows],
            "line_no": list(range(1, len(rows) + 1)),
            "product_id": [r[1] for r in rows],
            "description": [r[2] for r in rows],
            "quantity": [1] * len(rows),
            "unit_price": [1000.0] * len(rows),
            "is_return": [False] * len(rows),
            "is_product": [True] * len(rows),
        },
        schema=ORDER_LINE_SCHEMA,
    )


def _order() -> pa.Table:
    row = {"order_id": "A1", "ordered_at": AT, "customer_id": "c1", "currency": "KRW", "source": "test"}
    row |= {"is_return": False}
    return pa.Table.from_pylist([row], schema=pa.schema([ORDER_SCHEMA.field(n) for n in row]))


def _stored(store: Store) -> list[tuple[str, str]]:
    return [tuple(r) for r in store.sql("SELECT line_key, description FROM order_lines ORDER BY line_key")]


def test_a_resent_line_is_stored_once(store: Store) -> None:
    _, first = store.write_orders(_order(), _lines(("k1", "P1", "a"), ("k2", "P2", "b")))
    # sent again with one new line: the known keys are skipped, even outside the first transaction
    _, again = store.write_orders(_order(), _lines(("k2", "P2", "changed"), ("k3", "P3", "c")))

    assert (first.inserted, first.duplicates) == (2, 0)
    assert (again.inserted, again.duplicates) == (1, 1)
    assert _stored(store) == [("k1", "a"), ("k2", "b"), ("k3", "c")]


def test_a_key_repeated_inside_one_write_keeps_its_first_copy(store: Store) -> None:
    _, result = store.write_orders(
        _order(),
        _lines(("k9", "P1", "first"), ("k1", "P1", "x"), ("k9", "P1", "second"), ("k9", "P1", "third")),
    )

    assert (result.inserted, result.duplicates) == (2, 2)
    assert _stored(store) == [("k1", "x"), ("k9", "first")]


def test_lines_from_the_engine_skip_stored_keys_and_keep_the_lowest_line(store: Store) -> None:
    store.write_orders(_order(), _lines(("k1", "P1", "stored")))
    rows = _lines(("k2", "P2", "later"), ("k1", "P1", "again"), ("k2", "P2", "earlier"))
    # line numbers, not the order of the rows, say which copy is first
    rows = rows.set_column(2, "line_no", pa.array([7, 8, 3], pa.int32()))

    with store.staged("incoming", rows):
        result = store.write_order_lines_from("incoming")

    assert (result.inserted, result.duplicates) == (1, 2)
    assert _stored(store) == [("k1", "stored"), ("k2", "earlier")]


def test_unique_rows_are_inserted_without_counting_and_still_skip_stored_keys(store: Store) -> None:
    store.write_orders(_order(), _lines(("k1", "P1", "stored")))
    with store.staged("incoming", _lines(("k1", "P1", "again"), ("k2", "P2", "new"))):
        result = store.write_order_lines_from("incoming", unique_rows=2)

    assert (result.inserted, result.duplicates) == (1, 1)
    assert _stored(store) == [("k1", "stored"), ("k2", "new")]


def test_reimporting_a_file_stores_nothing_twice(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,ordered_at,product_id,quantity,unit_price,customer_id\n"
        "A1,2026-03-01 10:00:00,P1,2,1000,c1\n"
        "A1,2026-03-01 10:00:00,P1,2,1000,c1\n"  # a genuine repeat: its own line
        "A2,2026-03-02 10:00:00,P2,1,500,c2\n",
        encoding="utf-8",
    )
    first = import_orders(store, path)
    # an overlapping file: one line already stored, one new
    other = tmp_path / "more.csv"
    other.write_text(
        "order_id,ordered_at,product_id,quantity,unit_price,customer_id\n"
        "A2,2026-03-02 10:00:00,P2,1,500,c2\n"
        "A3,2026-03-03 10:00:00,P3,1,700,c3\n",
        encoding="utf-8",
    )
    again = import_orders(store, path)
    overlap = import_orders(store, other)

    assert (first.stored, first.duplicates) == (3, 0)
    assert (again.stored, again.duplicates) == (0, 3)
    assert (overlap.stored, overlap.duplicates) == (1, 1)
    assert store.scalar("SELECT count(*) FROM order_lines") == 4
    assert store.scalar("SELECT count(DISTINCT line_key) FROM order_lines") == 4


def _store_before_version_19(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)"
    )
    for migration in MIGRATIONS:
        if migration.version >= 19:
            break
        con.execute(migration.sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [migration.version, migration.name])
    con.execute(
        "INSERT INTO orders (order_id, ordered_at, customer_id, currency, source, verified) "
        "VALUES ('A1', ?, 'c1', 'KRW', 'import:generic', true)",
        [AT],
    )
    con.execute(
        "INSERT INTO order_lines (line_key, order_id, line_no, product_id, quantity, unit_price) "
        "VALUES ('k1', 'A1', 2, 'P1', 2, 1000), ('k2', 'A1', 3, 'P2', 1, 500)"
    )
    con.close()


def test_a_store_from_before_version_19_keeps_its_lines_and_their_keys(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    _store_before_version_19(path)

    with Store(path) as store:
        assert store.schema_version() >= 19
        assert store.sql(
            "SELECT line_key, line_no, product_id, quantity, unit_price, is_return, is_product "
            "FROM order_lines ORDER BY line_key"
        ) == [("k1", 2, "P1", 2, 1000.0, False, True), ("k2", 3, "P2", 1, 500.0, False, True)]
        # the view over the rebuilt table still reads it
        assert store.sql("SELECT n_lines, items, revenue FROM order_totals") == [(2, 3, 2500.0)]
        # the keys stored under the old index are still known: a re-sent line is skipped
        _, result = store.write_orders(_order(), _lines(("k1", "P1", None), ("k3", "P3", "new")))
        assert (result.inserted, result.duplicates) == (1, 1)
        assert store.scalar("SELECT count(*) FROM order_lines") == 3
        # no index is left on the key: the one the import paid for
        assert not store.sql(
            "SELECT 1 FROM duckdb_constraints() WHERE table_name = 'order_lines' AND constraint_type = 'PRIMARY KEY'"
        )


def test_customer_ids_read_as_numbers_keep_their_text_and_keys(tmp_path: Path) -> None:
    """Online Retail's CustomerID is a float column (17850.0): the fast path for whole numbers
    must give the text, and so the line keys, of the general one (the ids as strings)."""
    ids = [17850.0, 12.5, -0.0, 1e16, -42.0, float("nan"), None]
    rows = {
        "order_id": [f"A{i}" for i in range(len(ids))],
        "ordered_at": ["2026-03-01 10:00:00"] * len(ids),
        "product_id": ["P1"] * len(ids),
        "quantity": [1] * len(ids),
        "unit_price": [1000.0] * len(ids),
    }
    pq.write_table(
        pa.table(rows | {"customer_id": pa.array(ids, pa.float64())}), tmp_path / "numbers.parquet"
    )
    texts = ["17850.0", "12.5", "-0.0", "1e+16", "-42.0", "nan", None]  # as DuckDB writes them
    pq.write_table(pa.table(rows | {"customer_id": pa.array(texts, pa.string())}), tmp_path / "texts.parquet")

    stored = []
    for name in ("numbers", "texts"):
        with Store(":memory:") as store:
            import_orders(store, tmp_path / f"{name}.parquet")
            stored.append(
                store.sql(
                    "SELECT o.order_id, o.customer_id, l.line_key FROM orders o JOIN order_lines l USING (order_id) "
                    "ORDER BY o.order_id"
                )
            )

    assert stored[0] == stored[1]
    assert [r[1] for r in stored[0]] == ["17850", "12.5", "-0", "1e+16", "-42", None, None]


def test_two_lines_whose_fields_join_alike_are_both_stored_under_different_keys(
    tmp_path: Path, store: Store
) -> None:
    """The key hashes the fields joined by '|': 'P|1' + 'x' and 'P' + '1|x' join alike. Their
    occurrences are counted by the joined text, so each line gets its own key (stored once each,
    and once only on a re-import)."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,ordered_at,product_id,quantity,unit_price,customer_id,description\n"
        "A1,2026-03-01 10:00:00,P|1,2,1000,c1,x\n"
        "A1,2026-03-01 10:00:00,P,2,1000,c1,1|x\n",
        encoding="utf-8",
    )
    first = import_orders(store, path)
    again = import_orders(store, path)

    assert (first.stored, again.stored, again.duplicates) == (2, 0, 2)
    assert store.sql("SELECT count(DISTINCT line_key), count(*) FROM order_lines") == [(2, 2)]


def test_a_new_orders_lines_go_in_without_a_look_and_a_claims_lines_are_replaced(store: Store) -> None:
    """The lines of an order this write stores for the first time cannot be stored yet (a line
    is stored with or after its order), so they go in without a look at the stored keys; a
    verified order replacing a client's claim replaces the claim's lines too, whose keys it
    shares, so nothing is stored twice."""
    claim = (
        _order().set_column(4, "source", pa.array(["client"])).append_column("verified", pa.array([False]))
    )
    store.write_orders(claim, _lines(("k1", "P1", "claimed"), ("k2", "P2", "claimed")))
    other = _order().set_column(0, "order_id", pa.array(["B1"]))
    b_lines = _lines(("b1", "P1", "x"), ("b1", "P1", "repeat")).set_column(
        0, "order_id", pa.array(["B1"] * 2)
    )

    _, new = store.write_orders(other, b_lines)
    _, verified = store.write_orders(_order(), _lines(("k1", "P1", "verified"), ("k2", "P2", "verified")))

    assert (new.inserted, new.duplicates) == (1, 1)  # the repeat inside the write is left out
    assert (verified.inserted, verified.duplicates) == (2, 0)
    assert _stored(store) == [("b1", "x"), ("k1", "verified"), ("k2", "verified")]
    assert store.sql("SELECT order_id, verified FROM orders ORDER BY 1") == [("A1", True), ("B1", True)]
