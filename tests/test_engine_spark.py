"""The Spark engine: its session, a lake's facts read through it into the jobs, and the
``shopmind run --engine`` options.

The jobs' results on Spark are compared with the same jobs on DuckDB, in the same store, from
the same facts (the store's, exported to the open layout): same segments, same scores within
the models' tolerance. One Spark session for the whole test process (tests/spark_fixtures.py);
few Spark queries (a busy 2-core machine runs each in seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from shopmind.features import recommender_catalogue
from shopmind.pipeline import load_demo_shop, run_customer_intelligence
from shopmind.store import (
    FACT_INPUTS,
    SparkFacts,
    SparkUnavailableError,
    Store,
    Workspace,
    export_lake,
    facts_on_spark,
    java_runtime,
)
from tests.spark_fixtures import spark  # noqa: F401  (the session-scoped fixture)

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 60
AS_OF = START + timedelta(days=DAYS)
ZONE = "Asia/Seoul"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    """A small demo shop in a workspace, and its facts exported to the open layout."""
    folder = tmp_path_factory.mktemp("spark-shop")
    ws = Workspace.init(folder / "ws")
    with ws.open_store() as store:
        load_demo_shop(store, customers=300, days=DAYS, seed=3, hasher=ws.hasher())
        lake = folder / "lake"
        export_lake(store, lake, zone=ZONE, tables=FACT_INPUTS)
        yield store, lake


def test_no_java_fails_with_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(SparkUnavailableError, match="apt-get install default-jre-headless"):
        java_runtime({"PATH": str(tmp_path)})
    with pytest.raises(SparkUnavailableError, match="JAVA_HOME"):
        java_runtime({"JAVA_HOME": str(tmp_path), "PATH": ""})


def test_local_spark_heap_is_a_share_of_the_machine_unless_asked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from shopmind.store._spark import _local_driver_memory

    for name in ("SPARK_DRIVER_MEMORY", "PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR", "SPARK_HOME"):
        monkeypatch.delenv(name, raising=False)
    heap = _local_driver_memory()
    assert heap is not None and heap.endswith("g")
    physical_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    # Spark's own 1 GB thrashed at 10M events; never more than a quarter of the machine (above 4 GB)
    assert 1 <= int(heap[:-1]) <= max(1, min(16, physical_gb / 4))
    monkeypatch.setenv("SPARK_DRIVER_MEMORY", "3g")  # Spark's own ways of asking are left to Spark
    assert _local_driver_memory() is None
    monkeypatch.delenv("SPARK_DRIVER_MEMORY")
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--driver-memory 5g pyspark-shell")
    assert _local_driver_memory() is None
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text("spark.ui.enabled false\nspark.driver.memory   3g\n")
    monkeypatch.setenv("SPARK_CONF_DIR", str(conf))
    assert _local_driver_memory() is None


def test_local_spark_heap_stays_within_a_containers_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import shopmind.store._spark as spark_module

    for name in ("SPARK_DRIVER_MEMORY", "PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR", "SPARK_HOME"):
        monkeypatch.delenv(name, raising=False)
    # a container limited to 8 GB on a large host: a quarter of the limit, not of the host
    monkeypatch.setattr(spark_module, "_machine_memory", lambda: 8 * 2**30)
    assert spark_module._local_driver_memory() == "2g"
    monkeypatch.setattr(spark_module, "_machine_memory", lambda: 2 * 2**30)
    assert spark_module._local_driver_memory() == "1g"  # never below Spark's own 1 GB
    monkeypatch.setattr(spark_module, "_machine_memory", lambda: 512 * 2**30)
    assert spark_module._local_driver_memory() == "16g"


def test_session_runs_in_utc_with_arrow(spark: Any) -> None:  # noqa: F811
    conf = spark.conf
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    assert int(conf.get("spark.sql.shuffle.partitions")) <= 4
    # 15:30 UTC is 00:30 the next day in Seoul: the conversion is explicit, the session zone moves nothing
    row = spark.sql(
        "SELECT date_format(TIMESTAMP '2026-04-01 14:30:00', 'yyyy-MM-dd HH:mm') AS utc, "
        "to_date(from_utc_timestamp(TIMESTAMP '2026-04-01 15:30:00', 'Asia/Seoul')) AS seoul_day"
    ).collect()[0]
    assert row.utc == "2026-04-01 14:30"
    assert str(row.seoul_day) == "2026-04-02"


def test_lake_tables_have_the_stores_columns(shop: tuple[Store, Path], spark: Any) -> None:  # noqa: F811
    store, lake = shop
    with SparkFacts(lake, session=spark) as facts:
        assert set(facts.tables()) == set(FACT_INPUTS)
        assert not facts.has("scores")  # results are the serving store's, never the lake's copy
        orders = facts.table("orders")
        # the hive folder's ``day`` is not a column of the store's table, so not of the lake's
        assert orders.columns == store.table("orders").columns
        assert orders.count().execute() == store.scalar("SELECT count(*) FROM orders")
        with pytest.raises(Exception, match="holds no fact table 'weather'"):
            facts.table("weather")


def test_catalogue_same_on_both_engines(shop: tuple[Store, Path], spark: Any) -> None:  # noqa: F811
    """The catalogue (with products only seen in orders): an aggregate DuckDB's Ibis has and
    Spark's lacked (``mode``), now written the same for both."""
    store, lake = shop
    on_duckdb = recommender_catalogue(store.table("products"), store.table("order_lines")).to_pandas()
    with SparkFacts(lake, session=spark) as facts, store.use_facts(facts):
        on_spark = recommender_catalogue(store.table("products"), store.table("order_lines")).to_pandas()
    key = ["item"]
    left = on_duckdb.sort_values(key, ignore_index=True)
    right = on_spark.sort_values(key, ignore_index=True)[left.columns]
    assert len(left) == store.scalar("SELECT count(*) FROM products") > 0
    assert left.astype(object).where(left.notna(), None).to_dict("records") == right.astype(object).where(
        right.notna(), None
    ).to_dict("records")


def _members(store: Store, run_id: str) -> set[tuple[str, str]]:
    return {
        (s, p)
        for s, p in store.sql("SELECT segment, profile_id FROM segment_members WHERE run_id = ?", [run_id])
    }


def _scores(store: Store, run_id: str) -> dict[tuple[str, str], float]:
    rows = store.sql("SELECT profile_id, name, value FROM scores WHERE run_id = ?", [run_id])
    return {(p, n): v for p, n, v in rows}


def test_intelligence_on_spark_writes_what_duckdb_writes(
    shop: tuple[Store, Path],
    spark: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Through ``facts_on_spark``, as ``shopmind run --engine spark`` goes: the store's facts
    exported to a lake, read by Spark, the results stored, the run's scores appended to the lake."""
    store, _ = shop
    on_duckdb = run_customer_intelligence(store, AS_OF, zone=ZONE)
    lake = tmp_path / "lake"
    with facts_on_spark(store, lake, zone=ZONE, export=True, session=spark) as facts:
        assert store.table("orders").count().execute() > 0  # on Spark, from the lake just written
        on_spark = run_customer_intelligence(store, AS_OF, zone=ZONE)
    assert on_spark.run_id != on_duckdb.run_id
    assert on_spark.buyers == on_duckdb.buyers > 20
    assert on_spark.segments == on_duckdb.segments
    assert _members(store, on_spark.run_id) == _members(store, on_duckdb.run_id)
    duck, sparked = _scores(store, on_duckdb.run_id), _scores(store, on_spark.run_id)
    assert sparked.keys() == duck.keys()
    assert {n for _, n in duck} >= {"p_alive", "clv_12m", "recency_weeks", "r_score"}
    for key, value in duck.items():
        if value is None:  # e.g. no P(alive) without a fitted model
            assert sparked[key] is None, key
        else:
            assert sparked[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    # only the new run's scores went back to the lake, as Parquet partitioned by day
    assert facts.scores_written == len(sparked)
    back = ds.dataset(lake / "scores", partitioning="hive").to_table()
    assert back.num_rows == len(sparked)
    assert set(back.column("run_id").to_pylist()) == {on_spark.run_id}
    assert set(back.column("job").to_pylist()) == {"customer_intelligence"}
    assert spark.sparkContext._jsc is not None  # the shared session was not stopped


def test_run_options_need_the_spark_engine(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws")
    done = subprocess.run(
        [sys.executable, "-m", "shopmind", "run", "-w", str(tmp_path / "ws"), "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "--data is for the Spark engine: add --engine spark" in done.stderr
    missing = tmp_path / "no-lake"
    run = [sys.executable, "-m", "shopmind", "run", "-w", str(tmp_path / "ws")]
    done = subprocess.run(
        [*run, "--engine", "spark", "--data", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 5, done.stderr  # refused before Spark starts
    assert f"--data {missing}: no such directory" in " ".join(done.stderr.split())
    other = tmp_path / "london-lake"
    other.mkdir()
    (other / "_lake.json").write_text('{"layout": "shopmind-lake", "version": 1, "zone": "Europe/London"}')
    done = subprocess.run(
        [*run, "--engine", "spark", "--data", str(other), "--zone", ZONE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 5, done.stderr  # refused before the jobs run
    assert "holds days in the zone Europe/London, not Asia/Seoul" in " ".join(done.stderr.split())
