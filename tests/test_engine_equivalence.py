"""Every feature expression gives the same rows on DuckDB and on PySpark from the same Arrow input
(floats to 1e-9 relative, dates and instants identical), and shop-local days, hours and weekdays
equal Python's ``zoneinfo`` around midnight and daylight-saving changes on both engines.

The input is a small demo shop whose weeks cross Europe/London's change to summer time
(2026-03-29), stored in DuckDB and read back as Arrow: the tables a lake holds. The other feature
expressions, segments and metrics are in the ``test_engine_equivalence_*`` files (each file one
Spark session's worth of work, under two minutes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.features import (
    daily_visits,
    event_profiles,
    purchase_labels,
    purchase_transactions,
    rfm_summary,
    visit_summary,
)
from shopmind.features._time import local_day, local_hour, local_weekday, offset_changes, utc_seconds
from tests import spark_fixtures
from tests.engine_pair import (
    Engines,
    assert_same_rows,
    demo_tables,
    load,
    quick_small_queries,
    rows,
)

spark = spark_fixtures.spark  # the session-scoped Spark fixture, one session per test process

#: midnight in Seoul, and a time in London just after its change to summer time
AS_OF = datetime(2026, 4, 12, 15, 0, tzinfo=UTC)
ZONES = ("Asia/Seoul", "Europe/London")


@pytest.fixture(scope="module")
def engines(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    tables, schemas = demo_tables()
    with quick_small_queries(spark):
        yield load(tables, schemas, spark, tmp_path_factory.mktemp("equivalence"), "feq")


def _tx(t: dict[str, Any]) -> Any:
    return purchase_transactions(t["orders"], t["order_lines"], t["profiles"])


# -- shop-local time --------------------------------------------------------------------------


def _near_changes(zone: str) -> list[datetime]:
    """Instants a second either side of each offset change of 2024-2027 and of local midnight."""
    _, changes = offset_changes(zone)
    around = [when for when, _ in changes if 2024 <= when.year <= 2027]
    days = [datetime(2026, m, d, tzinfo=ZoneInfo(zone)).astimezone(UTC) for m in (1, 3, 10) for d in (1, 29)]
    return sorted(
        at + timedelta(seconds=s, microseconds=us)
        for at in [*around, *days]
        for s in (-3601, -1, 0, 1, 3599)
        for us in (0, 999_999)
    )


#: a job's ``as_of``: the offset changes of the 20 years before it are applied (``features._time``)
AT = datetime(2040, 1, 1, tzinfo=UTC)
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2039, 12, 31), timezones=st.just(UTC)
)


def _local_times(table: Any, zone: str) -> Any:
    return table.select(
        "i",
        day=local_day(table.ts, zone, AT),
        hour=local_hour(table.ts, zone, AT),
        weekday=local_weekday(table.ts, zone, AT),
        seconds=utc_seconds(table.ts),
    )


def _times_table(times: list[datetime]) -> pa.Table:
    return pa.table({"i": range(len(times)), "ts": pa.array(times, pa.timestamp("us", tz="UTC"))})


def _assert_zoneinfo(found: list[dict[str, Any]], times: list[datetime], zone: str) -> None:
    for row in sorted(found, key=lambda r: r["i"]):
        instant = times[row["i"]]
        local = instant.astimezone(ZoneInfo(zone))
        assert (row["day"], row["hour"], row["weekday"]) == (local.date(), local.hour, local.weekday()), (
            instant
        )
        assert row["seconds"] == (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)


@lru_cache(maxsize=1)
def _hostile_duckdb() -> Any:
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'America/Los_Angeles'")
    return con


@settings(max_examples=20, deadline=None)
@given(times=st.lists(instants, min_size=1, max_size=30), zone=st.sampled_from(ZONES))
def test_local_day_hour_and_weekday_equal_zoneinfo(times: list[datetime], zone: str) -> None:
    """On DuckDB (cheap enough for many generated examples), the per-row offset is Python's, even
    in a session whose own zone is another one with daylight saving time: nothing is left to it."""
    con = _hostile_duckdb()
    table = con.create_table("t", _times_table(times), overwrite=True)
    _assert_zoneinfo(rows(_local_times(table, zone)), times, zone)


@pytest.mark.parametrize("zone", ZONES)
def test_local_time_is_the_same_on_spark_and_duckdb(spark: Any, tmp_path: Path, zone: str) -> None:
    """A second either side of every change and of local midnight, and seeded random instants:
    the same days, hours and weekdays on both engines, and Python's."""
    randoms = [
        datetime(2020, 1, 1, tzinfo=UTC)
        + timedelta(seconds=(i * 7_919_993) % (19 * 365 * 86_400), microseconds=i)
        for i in range(60)
    ]
    times = [*_near_changes(zone), *randoms]
    schema = ibis.schema({"i": "int64", "ts": "timestamp('UTC')"})
    pair = load({"t": _times_table(times)}, {"t": schema}, spark, tmp_path, "tz")
    with quick_small_queries(spark):
        found = pair.assert_same(lambda t: _local_times(t["t"], zone), keys=["i"])
    _assert_zoneinfo(found, times, zone)


# -- purchases and visits ---------------------------------------------------------------------


def test_purchase_transactions_and_labels(engines: Engines) -> None:
    found = engines.assert_same(_tx, keys=["order_id"])
    assert len(found) > 20
    engines.assert_same(lambda t: purchase_labels(_tx(t), AS_OF - timedelta(days=14), 7), keys=["profile_id"])


@pytest.mark.parametrize(
    ("zone", "as_of"), [(ZONES[0], AS_OF), (ZONES[1], AS_OF - timedelta(days=10, hours=3))]
)
def test_rfm_summary(engines: Engines, zone: str, as_of: datetime) -> None:
    found = engines.assert_same(lambda t: rfm_summary(_tx(t), as_of, zone=zone), keys=["profile_id"])
    assert any(r["frequency"] > 0 for r in found)


def test_visit_summary_and_daily_visits(engines: Engines) -> None:
    engines.assert_same(
        lambda t: visit_summary(t["events"], t["profiles"], AS_OF, zone=ZONES[0]), keys=["profile_id"]
    )
    found = engines.assert_same(
        lambda t: daily_visits(t["events"], t["orders"], t["profiles"], AS_OF, zone=ZONES[1]), keys=["day"]
    )
    assert sum(r["converted"] for r in found) > 0


def test_event_profiles(engines: Engines) -> None:
    engines.assert_same(
        lambda t: event_profiles(t["events"], t["profiles"]).select("message_id", "profile_id"),
        keys=["message_id"],
    )


def test_rows_differ_when_they_should(engines: Engines) -> None:
    """The comparison itself can fail: one day more is a difference."""
    left = rows(engines.duckdb["orders"].select("order_id", "ordered_at").order_by("order_id").limit(3))
    right = [dict(r, ordered_at=r["ordered_at"] + timedelta(days=1)) for r in left]
    with pytest.raises(AssertionError, match="ordered_at"):
        assert_same_rows(left, right, keys=["order_id"])
