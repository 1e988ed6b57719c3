"""The test-only Spark session: one per test process (one per xdist worker), ``local[2]``.

Use it from a test module with ``from tests.spark_fixtures import spark`` (pytest then sees the
fixture there). Without Java it FAILS with the message that says what to install: the Spark tests
are part of ``make test`` and must never pass by being skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shopmind.store import SparkUnavailableError, spark_session


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local Spark session (2 cores, 2 shuffle partitions: the test data is small and the
    machine shared), UTC session time zone, Arrow on, set for small tables."""
    try:
        session = spark_session(
            "local[2]",
            spark_sql_shuffle_partitions=2,
            spark_default_parallelism=2,
            spark_driver_memory="1g",
            # the tests' tables are tiny: compiling each stage to Java and re-planning it as it
            # runs cost more than they save (about half of each query's time on a busy machine)
            spark_sql_codegen_wholeStage=False,
            spark_sql_adaptive_enabled=False,
        )
    except SparkUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield session
    session.stop()
