"""Golden tests: importing the UCI Online Retail files reproduces the known facts of
../shared/data/README.md."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shopmind.ingest import import_orders
from shopmind.store import Store

from .conftest import data_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def retail() -> Iterator[tuple[Store, object]]:
    path = data_file("online_retail", "online_retail.parquet")
    with Store(":memory:") as store:
        yield store, import_orders(store, path)


def test_online_retail_known_facts(retail: tuple[Store, object]) -> None:
    store, report = retail
    assert report.rows_read == 541_909
    assert report.stored == 541_909 and report.rejected == 0
    assert store.scalar("SELECT count(*) FROM order_lines") == 541_909
    assert store.scalar("SELECT count(*) FROM orders") == 25_900
    assert store.scalar("SELECT count(DISTINCT order_id) FROM order_lines") == 25_900
    assert store.scalar("SELECT count(DISTINCT customer_id) FROM orders") == 4_372
    assert store.scalar("SELECT count(*) FROM order_lines WHERE is_return") == 9_288
    assert store.scalar("SELECT count(DISTINCT product_id) FROM order_lines") == 4_070
    assert store.scalar("SELECT count(*) FROM products") == 4_070
    assert store.scalar("SELECT sum(quantity) FROM order_lines") == 5_176_450
    assert store.scalar("SELECT sum(quantity * unit_price) FROM order_lines") == pytest.approx(
        9_747_747.934, abs=0.01
    )
    assert store.scalar("SELECT count(*) FROM order_lines WHERE quantity < 0") == 10_624
    # guests: lines without a CustomerID belong to orders without a customer
    assert (
        store.scalar(
            "SELECT count(*) FROM order_lines l JOIN orders o USING (order_id) WHERE o.customer_id IS NULL"
        )
        == 135_080
    )
    # non-product codes are flagged, real products are not
    flagged = {r[0] for r in store.sql("SELECT DISTINCT product_id FROM order_lines WHERE NOT is_product")}
    assert {"POST", "BANK CHARGES", "AMAZONFEE", "M", "D", "DOT", "CRUK"} <= flagged
    assert "85123A" not in flagged
    # times are stored in UTC; the shop's clock was London's (GMT in December)
    first = store.scalar("SELECT min(ordered_at) FROM orders")
    assert first.isoformat().startswith("2010-12-01T08:26:00")
    # Ibis reads the same store
    lines = store.table("order_lines")
    assert lines.count().execute() == 541_909


def test_reimport_stores_nothing_twice(retail: tuple[Store, object]) -> None:
    store, _ = retail
    again = import_orders(store, data_file("online_retail", "online_retail.parquet"))
    assert again.stored == 0
    assert again.duplicates == 541_909
    assert store.scalar("SELECT count(*) FROM order_lines") == 541_909
    assert store.scalar("SELECT count(*) FROM orders") == 25_900


def test_online_retail_ii_known_facts_and_overlap(retail: tuple[Store, object]) -> None:
    path = data_file("online_retail_ii", "online_retail_II_year_2009-2010.parquet")
    with Store(":memory:") as alone:
        report = import_orders(alone, path)
        assert report.rows_read == 525_461 and report.rejected == 0
        assert alone.scalar("SELECT count(*) FROM order_lines") == 525_461
        assert alone.scalar("SELECT count(*) FROM orders") == 28_816
        assert alone.scalar("SELECT count(DISTINCT customer_id) FROM orders") == 4_383
        assert alone.scalar("SELECT count(*) FROM order_lines WHERE is_return") == 10_206
        # 4,632 raw stock codes, but '47503J ' (once, trailing space) is the product '47503J'
        assert alone.scalar("SELECT count(*) FROM products") == 4_632 - 1
        assert alone.scalar("SELECT count(*) FROM order_lines WHERE product_id = '47503J'") == 79
        assert alone.scalar("SELECT sum(quantity) FROM order_lines") == 5_432_041
        assert alone.scalar("SELECT sum(quantity * unit_price) FROM order_lines") == pytest.approx(
            9_539_484.63, abs=0.01
        )
        # 'nan' descriptions are missing values, not a product called "nan"
        assert alone.scalar("SELECT count(*) FROM order_lines WHERE description IS NULL") == 2_928

    store, _ = retail
    both = import_orders(store, path)
    assert both.duplicates == 22_523
    assert both.stored == 525_461 - 22_523
    assert store.scalar("SELECT count(*) FROM order_lines") == 541_909 + 525_461 - 22_523
