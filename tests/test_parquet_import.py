"""A Parquet order file is read by the engine inside the checking query (its rows never pass
through Python): it must store, reject and describe exactly what the Arrow path stores, rejects and
describes for the same file, and an unreadable file is still refused by name."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shopmind.ingest._orders as orders_module
from shopmind.core import IdentifierHasher, ImportFileError
from shopmind.ingest import import_orders
from shopmind.store import Store

ROWS = {
    "InvoiceNo": ["536365", "536365", "536365", None, "C536379", "536380", "536381", "536382", "536383"],
    "StockCode": ["85123A", "71053", "85123A", "22633", "D", "POST", "22632", "22632", "84879"],
    "Description": ["라면", "김치", "라면", "x", "Discount", "POSTAGE", None, "hand warmer", "bird"],
    "Quantity": [6.0, 6.0, 6.0, 1.0, -1.0, 3.0, 1.5, 0.0, 32.0],
    "InvoiceDate": [
        "2010-12-01 08:26:00",
        "2010-12-01 08:26:00",
        "2010-12-01 08:26:00",
        "2010-12-01 09:00:00",
        "2010-12-01 09:41:00",
        "yesterday",
        "2010-12-01 10:00:00",
        "2010-12-01 10:00:00",
        "2010-12-01T11:00:00+01:00",
    ],
    "UnitPrice": [2.55, 3.39, 2.55, 1.0, 27.5, 18.0, 1.25, 1.0, 1.69],
    "CustomerID": [17850.0, 17850.0, 17850.0, 13047.0, 14527.0, None, 13047.0, 13047.0, 13748.0],
    "Country": ["United Kingdom"] * 9,
}
TABLES = {
    "order_lines": "SELECT * FROM order_lines ORDER BY line_no",
    "orders": "SELECT * EXCLUDE (source) FROM orders ORDER BY order_id",
    "products": "SELECT * EXCLUDE (updated_at) FROM products ORDER BY product_id",
    "quarantine": "SELECT line_no, field, reason, raw FROM quarantine ORDER BY line_no",
}


def _stored(store: Store) -> dict[str, list[tuple[object, ...]]]:
    return {name: store.sql(sql) for name, sql in TABLES.items()}


def test_parquet_read_by_the_engine_matches_the_arrow_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "online_retail.parquet"
    pq.write_table(pa.table(ROWS), path)

    with Store(":memory:") as engine:
        scanned = import_orders(engine, path)
        by_engine = _stored(engine)
    monkeypatch.setattr(orders_module, "scan_parquet", lambda _path: None)  # the Arrow path, as before
    with Store(":memory:") as arrow:
        read = import_orders(arrow, path)
        by_arrow = _stored(arrow)

    assert (scanned.rows_read, scanned.stored, scanned.rejected) == (9, 5, 4)
    assert scanned.rejected_by_reason == read.rejected_by_reason
    assert [row[:2] for row in by_engine["quarantine"]] == [
        (4, "order_id"),
        (6, "ordered_at"),
        (7, "quantity"),
        (8, "quantity"),
    ]
    assert by_engine == by_arrow
    assert '"InvoiceDate":"yesterday"' in str(by_engine["quarantine"][1][3])  # the raw row, as read


def test_a_parquet_file_with_contact_data_is_hashed(
    tmp_path: Path, store: Store, hasher: IdentifierHasher
) -> None:
    path = tmp_path / "orders.parquet"
    table = pa.table(
        {
            "order_id": ["A1", "A2"],
            "ordered_at": [datetime(2026, 3, 1, 10), datetime(2026, 3, 2, 11)],
            "product_id": ["P1", "P2"],
            "quantity": [1, 2],
            "unit_price": [1000, 500],
            "email": ["guest@example.com", "not-an-address"],
        }
    )
    pq.write_table(table, path)

    report = import_orders(store, path, hasher=hasher)

    assert (report.stored, report.rejected) == (1, 1)
    assert store.sql("SELECT email_hash FROM orders") == [(hasher.email("guest@example.com"),)]
    assert "example.com" not in str(store.sql("SELECT * FROM quarantine"))


def test_an_unreadable_parquet_file_is_refused_by_name(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not a Parquet file PAR1")

    with pytest.raises(ImportFileError, match=r"broken\.parquet: not a readable Parquet file"):
        import_orders(store, path)
    assert store.sql("SELECT count(*) FROM imports") == [(0,)]
