"""What the recommenders read must not depend on how the import happened to run: a product's name
is its most frequent description, equal counts going to the first in text order (DuckDB's mode()
broke ties by thread, and two imports of Online Retail named 9 products differently)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shopmind.ingest import import_orders
from shopmind.store import Store


def _names(path: Path) -> dict[str, str | None]:
    with Store(":memory:") as store:
        import_orders(store, path)
        return {str(k): v for k, v in store.sql("SELECT product_id, name FROM products")}


def test_a_product_is_named_by_its_most_frequent_description_ties_in_text_order(tmp_path: Path) -> None:
    rows = []
    descriptions = {  # per product: its order lines' descriptions
        "A1": ["thrown away", "WHITE CHERRY LIGHTS", "WHITE CHERRY LIGHTS"],
        "B2": ["damaged", "PINK FLOCK CANDLE HOLDER"] * 20,  # a tie, many times over
        "C3": ["SILVER/BLACK NECKLACE", "SILVER AND BLACK NECKLACE"],
        "D4": [None, None],
    }
    invoice = 536000
    for code, texts in descriptions.items():
        for text in texts:
            invoice += 1
            rows.append(
                {
                    "InvoiceNo": str(invoice),
                    "StockCode": code,
                    "Description": text,
                    "Quantity": 1,
                    "InvoiceDate": f"2011-0{1 + invoice % 9}-01 10:00",
                    "UnitPrice": 1.5,
                    "CustomerID": float(12000 + invoice % 7),
                    "Country": "United Kingdom",
                }
            )
    path = tmp_path / "online_retail.parquet"
    pd.DataFrame(rows).sample(frac=1.0, random_state=3).to_parquet(path)
    names = _names(path)
    assert names["A1"] == "WHITE CHERRY LIGHTS"
    assert names["B2"] == "PINK FLOCK CANDLE HOLDER"  # 'P' sorts before 'd'
    assert names["C3"] == "SILVER AND BLACK NECKLACE"
    assert names["D4"] is None
    pd.DataFrame(rows).to_parquet(path)  # the same lines in another order: the same names
    assert _names(path) == names
