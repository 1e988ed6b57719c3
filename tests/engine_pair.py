"""The cross-backend equivalence suite's harness: the same Arrow tables loaded into DuckDB and into
PySpark, an expression built once per engine, and a comparison of the rows (same rows, floats to
1e-9 relative, dates and instants identical).

Both engines get the tables with the store's declared Ibis schema (Spark reads Parquet timestamps
as plain ``timestamp`` and JSON as text; they are cast back), so an expression sees the same types
whichever engine runs it. Both run their sessions in UTC, as the store and ``ibis.pyspark``
connect them.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

# Ibis runs JSON reads on Spark as Python UDFs: Spark's workers must start this interpreter (with
# pandas and pyarrow), not the first ``python3`` on the PATH. Read when a session starts, so set
# on import, before the session fixture runs. (``store.spark_session`` should set it: reported.)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

#: the demo shop the suite reads: its weeks cross Europe/London's change to summer time (2026-03-29)
DEMO_START = date(2026, 3, 10)
DEMO_DAYS = 40
FACT_TABLES = (
    "events",
    "orders",
    "order_lines",
    "products",
    "profiles",
    "external_interests",
    "consent_ledger",
    "order_totals",
)

RELATIVE = 1e-9
#: absolute slack for floats that should be zero (a sum of cancelling terms)
ABSOLUTE = 1e-12


@dataclass
class Engines:
    """One set of tables on two engines: ``duckdb[name]`` and ``spark[name]`` are the same rows."""

    duckdb: dict[str, ir.Table]
    spark: dict[str, ir.Table]

    def both(self, build: Callable[[dict[str, ir.Table]], ir.Expr]) -> tuple[Any, Any]:
        """``build`` run on each engine's tables and executed: (DuckDB rows, Spark rows)."""
        return rows(build(self.duckdb)), rows(build(self.spark))

    def assert_same(
        self, build: Callable[[dict[str, ir.Table]], ir.Expr], *, keys: Iterable[str] | None = ()
    ) -> Any:
        """``build`` gives equal rows on both engines, matched by ``keys`` (every column when
        empty; in the expression's own order when None); returns DuckDB's rows."""
        left, right = self.both(build)
        assert_same_rows(left, right, keys=keys)
        return left


@lru_cache(maxsize=1)
def demo_tables() -> tuple[dict[str, pa.Table], dict[str, ibis.Schema]]:
    """A small demo shop's fact tables, stored in DuckDB and read back as Arrow (once per test
    process), with the store's schemas."""
    from shopmind.pipeline import load_demo_shop
    from shopmind.store import Store

    with Store(":memory:") as store:
        load_demo_shop(store, customers=120, days=DEMO_DAYS, seed=11, start=DEMO_START)
        tables = {name: arrow_of(store.table(name)) for name in FACT_TABLES}
        schemas = {name: store.table(name).schema() for name in FACT_TABLES}
    return tables, schemas


@contextmanager
def quick_small_queries(spark: Any) -> Iterator[None]:
    """Spark settings for many small queries on a busy machine, restored afterwards: adaptive
    execution re-plans each of the test's tiny joins (seconds per query, nothing to gain)."""
    key = "spark.sql.adaptive.enabled"
    before = spark.conf.get(key)
    spark.conf.set(key, "false")
    try:
        yield
    finally:
        spark.conf.set(key, before)


def load(
    tables: Mapping[str, pa.Table],
    schemas: Mapping[str, ibis.Schema],
    spark: Any,
    directory: Path,
    prefix: str,
) -> Engines:
    """``tables`` in a fresh in-memory DuckDB (session zone UTC) and as Parquet read by ``spark``
    (as views ``<prefix>_<name>``), each given ``schemas[name]``."""
    duck = ibis.duckdb.connect()
    duck.raw_sql("SET TimeZone = 'UTC'")
    sp = ibis.pyspark.connect(spark)
    on_duck: dict[str, ir.Table] = {}
    on_spark: dict[str, ir.Table] = {}
    for name, table in tables.items():
        schema = schemas[name]
        duck.create_table(name, table)
        on_duck[name] = _typed(duck.table(name), schema)
        path = directory / f"{prefix}_{name}.parquet"
        pq.write_table(table, path)
        spark.read.parquet(str(path)).createOrReplaceTempView(f"{prefix}_{name}")
        on_spark[name] = _typed(sp.table(f"{prefix}_{name}"), schema)
    return Engines(on_duck, on_spark)


def _typed(table: ir.Table, schema: ibis.Schema) -> ir.Table:
    wanted = {name: schema[name] for name in table.columns if name in schema}
    casts = {
        name: dtype.copy(nullable=True)
        for name, dtype in wanted.items()
        if not dtype.copy(nullable=True).equals(table.schema()[name].copy(nullable=True))
    }
    return table.cast(casts) if casts else table


def arrow_of(table: ir.Table) -> pa.Table:
    """A store table as plain Arrow (JSON columns as text, as a lake file holds them)."""
    out = table.to_pyarrow()
    fields = []
    columns = []
    for field, column in zip(out.schema, out.columns, strict=True):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            fields.append(pa.field(field.name, pa.string()))
            columns.append(column.cast(pa.string()))
        elif isinstance(field.type, pa.ExtensionType):
            fields.append(pa.field(field.name, pa.string()))
            columns.append(pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string()))
        else:
            fields.append(pa.field(field.name, field.type))
            columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def rows(expr: ir.Expr) -> Any:
    """An expression's result as plain Python: a list of row dicts (or a scalar)."""
    if isinstance(expr, ir.Table):
        return [_plain_row(row) for row in expr.to_pyarrow().to_pylist()]
    if isinstance(expr, ir.Column):
        return [_plain(v) for v in expr.to_pyarrow().to_pylist()]
    return _plain(expr.to_pyarrow().as_py())


def _plain_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row.items()}


def _plain(value: Any) -> Any:
    """One value as engines must agree on it: instants in UTC (Spark hands back naive UTC),
    decimals and integral floats as numbers, lists and structs element by element."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _sort_key(row: dict[str, Any], keys: Iterable[str]) -> tuple[Any, ...]:
    return tuple((row[k] is None, repr(row[k]) if not isinstance(row[k], str) else row[k]) for k in keys)


def assert_same_rows(left: Any, right: Any, *, keys: Iterable[str] | None = ()) -> None:
    """Equal results: the same rows (matched by ``keys``, all columns when empty), the same
    columns, floats within 1e-9 relative, everything else identical."""
    if not isinstance(left, list) or not left or not isinstance(left[0], dict):
        assert_same_value(left, right, "value")
        return
    assert len(left) == len(right), f"{len(left)} rows on DuckDB, {len(right)} on Spark"
    assert list(left[0]) == list(right[0]), f"columns differ: {list(left[0])} vs {list(right[0])}"
    if keys is not None:
        key_list = list(keys) or list(left[0])
        left = sorted(left, key=lambda r: _sort_key(r, key_list))
        right = sorted(right, key=lambda r: _sort_key(r, key_list))
    for i, (a, b) in enumerate(zip(left, right, strict=True)):
        for column in a:
            assert_same_value(a[column], b[column], f"row {i} ({_describe(a, keys)}) column {column}")


def _describe(row: dict[str, Any], keys: Iterable[str] | None) -> str:
    shown = list(keys or [])[:3] or list(row)[:2]
    return ", ".join(f"{k}={row[k]!r}" for k in shown)


def assert_same_value(a: Any, b: Any, where: str) -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, f"{where}: {a!r} (DuckDB) vs {b!r} (Spark)"
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            assert math.isnan(fa) and math.isnan(fb), f"{where}: {a!r} (DuckDB) vs {b!r} (Spark)"
            return
        assert math.isclose(fa, fb, rel_tol=RELATIVE, abs_tol=ABSOLUTE), (
            f"{where}: {a!r} (DuckDB) vs {b!r} (Spark)"
        )
        return
    if isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{where}: {a!r} (DuckDB) vs {b!r} (Spark)"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_value(x, y, f"{where}[{i}]")
        return
    if isinstance(a, dict) and isinstance(b, dict):
        assert list(a) == list(b), f"{where}: {a!r} (DuckDB) vs {b!r} (Spark)"
        for k in a:
            assert_same_value(a[k], b[k], f"{where}.{k}")
        return
    if isinstance(a, date | datetime) or isinstance(b, date | datetime):
        assert type(a) is type(b) and a == b, f"{where}: {a!r} (DuckDB) vs {b!r} (Spark)"
        return
    assert a == b and type(a) is type(b), f"{where}: {a!r} (DuckDB) vs {b!r} (Spark)"
