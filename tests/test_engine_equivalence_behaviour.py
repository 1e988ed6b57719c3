"""The behaviour and habit features give the same rows on DuckDB and on
PySpark from the same Arrow input (floats to 1e-9 relative, dates and instants identical); the
demo shop's weeks cross Europe/London's change to summer time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shopmind.features import behaviour_features, best_time_and_device, purchase_transactions
from tests import spark_fixtures
from tests.engine_pair import Engines, demo_tables, load, quick_small_queries

spark = spark_fixtures.spark  # the session-scoped Spark fixture, one session per test process

AS_OF = datetime(2026, 4, 12, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engines(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    tables, schemas = demo_tables()
    with quick_small_queries(spark):
        yield load(tables, schemas, spark, tmp_path_factory.mktemp("equivalence"), "beq")


def _tx(t: dict[str, Any]) -> Any:
    return purchase_transactions(t["orders"], t["order_lines"], t["profiles"])


def test_behaviour_features(engines: Engines) -> None:
    zone = "Europe/London"  # each row's own offset: summer time from 2026-03-29
    found = engines.assert_same(
        lambda t: behaviour_features(t["events"], _tx(t), t["profiles"], AS_OF, zone=zone),
        keys=["profile_id"],
    )
    assert any(r["evening_share"] > 0 for r in found)
    assert any(0 < r["days_since_last_visit"] < 1 for r in found)


def test_best_time_and_device(engines: Engines) -> None:
    zone = "Asia/Seoul"  # the per-row offset is tested above; here the peaks' plan, large on Spark

    def build(t: dict[str, Any]) -> Any:
        # a segment per profile read from a table (the RFM segments' own plan is tested elsewhere
        # and would make this one Spark's slowest query)
        profiles = t["profiles"]
        segments = profiles.select("profile_id", segment=profiles.profile_id.substr(5, 1))
        return best_time_and_device(t["events"], profiles, AS_OF, zone=zone, segments=segments)

    found = engines.assert_same(build, keys=["profile_id"])
    assert {r["send_basis"] for r in found} >= {"profile", "segment"}
