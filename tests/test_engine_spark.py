"""The Spark engine: its session, the lake's facts read through it, and ``shopmind run --engine
spark`` against ``--engine duckdb`` on the demo shop."""

from __future__ import annotations

from typing import Any

import pytest

from shopmind.store import SparkUnavailableError, java_runtime
from tests.spark_fixtures import spark  # noqa: F401  (the session-scoped fixture)


def test_no_java_fails_with_what_to_install(tmp_path: Any) -> None:
    with pytest.raises(SparkUnavailableError, match="apt-get install default-jre-headless"):
        java_runtime({"PATH": str(tmp_path)})
    with pytest.raises(SparkUnavailableError, match="JAVA_HOME"):
        java_runtime({"JAVA_HOME": str(tmp_path), "PATH": ""})


def test_session_runs_in_utc_with_arrow(spark: Any) -> None:  # noqa: F811
    conf = spark.conf
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    assert int(conf.get("spark.sql.shuffle.partitions")) <= 4
    # 23:30 in Seoul on 1 April is 14:30 UTC the same day: the session zone does not move it
    row = spark.sql(
        "SELECT date_format(TIMESTAMP '2026-04-01 14:30:00', 'yyyy-MM-dd HH:mm') AS utc, "
        "to_date(from_utc_timestamp(TIMESTAMP '2026-04-01 15:30:00', 'Asia/Seoul')) AS seoul_day"
    ).collect()[0]
    assert row.utc == "2026-04-01 14:30"
    assert str(row.seoul_day) == "2026-04-02"
