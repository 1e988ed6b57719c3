"""The taste and recommender-input features give the same rows on DuckDB and on PySpark from the
same Arrow input (floats to 1e-9 relative, dates and instants identical)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shopmind.features import (
    catalogue_price_thirds,
    customer_taste,
    interactions,
    recommender_catalogue,
    taste_scores,
)
from tests import spark_fixtures
from tests.engine_pair import Engines, demo_tables, load, quick_small_queries

spark = spark_fixtures.spark  # the session-scoped Spark fixture, one session per test process

AS_OF = datetime(2026, 4, 12, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engines(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    tables, schemas = demo_tables()
    with quick_small_queries(spark):
        yield load(tables, schemas, spark, tmp_path_factory.mktemp("equivalence"), "teq")


def _taste_inputs(t: dict[str, Any]) -> tuple[Any, Any, Any, Any, Any]:
    return t["events"], t["orders"], t["order_lines"], t["products"], t["profiles"]


def test_taste_scores(engines: Engines) -> None:
    found = engines.assert_same(
        lambda t: taste_scores(*_taste_inputs(t), AS_OF),
        keys=["profile_id", "dimension", "value"],
    )
    assert len(found) > 100


def test_customer_taste(engines: Engines) -> None:
    found = engines.assert_same(
        lambda t: customer_taste(*_taste_inputs(t), t["external_interests"], AS_OF),
        keys=["profile_id"],
    )
    assert any(r["interests"] for r in found) and any(r["top_categories"] for r in found)
    assert any(r["bought_price_p90"] is not None for r in found)


def test_catalogue_price_thirds(engines: Engines) -> None:
    engines.assert_same(lambda t: catalogue_price_thirds(t["products"]))


def test_interactions(engines: Engines) -> None:
    found = engines.assert_same(
        lambda t: interactions(
            t["events"],
            t["orders"],
            t["order_lines"],
            t["profiles"],
            before=AS_OF,
            view_weight=0.2,
            cart_weight=0.5,
        ),
        keys=["user", "item", "time", "kind", "weight"],
    )
    assert {r["kind"] for r in found} == {"purchase", "product_view", "cart_add"}


def test_recommender_catalogue_with_products_it_lacks(engines: Engines) -> None:
    """Sold products missing from the catalogue get their order lines' most frequent description
    and median price (``mode`` had no Spark form; equally frequent names went the engine's way)."""

    def build(t: dict[str, Any]) -> Any:
        products = t["products"]
        listed = products.filter(products.product_id > "P00040")
        return recommender_catalogue(listed, t["order_lines"])

    found = engines.assert_same(build, keys=["item"])
    assert any(r["description"] is None and r["name"] for r in found)
