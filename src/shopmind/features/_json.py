"""A value inside a JSON text column (event properties, stored facts) read the same way on DuckDB
and on Spark: as text, a number or a yes/no, and missing when the JSON holds another type there.

Ibis reads JSON on Spark with ``get_json_object``, which returns a JSON string without its
quotes, and then parses that with a Python function, which fails on any text (``상의`` is not
JSON). On Spark the value is therefore read with ``from_json`` and a schema of the one path,
which keeps JSON's types as DuckDB's ``->``/unwrap do: a number where a number is asked, ``true``
or ``false`` where a yes/no is, and text only where the JSON holds text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

Kind = Literal["text", "number", "bool"]
_IBIS: dict[str, dt.DataType] = {"text": dt.string, "number": dt.float64, "bool": dt.boolean}
_SPARK: dict[str, str] = {"text": "string", "number": "double", "bool": "boolean"}


def _engine(column: ir.Value) -> str | None:
    try:
        return str(column._find_backend(use_default=False).name)
    except Exception:  # an unbound expression (a memtable): DuckDB's reading is Ibis's own
        return None


def json_value(column: ir.Value, path: Sequence[str], kind: Kind) -> ir.Value:
    """The value at ``path`` (keys from the top) of the JSON text or JSON ``column`` as ``kind``;
    null where the path is missing or holds another JSON type."""
    if _engine(column) == "pyspark":
        return _spark_value(column, path, kind)
    item: Any = column.cast("json")
    for key in path:
        item = item[key]
    if kind == "text":
        return item.str
    if kind == "number":
        return item.float
    return item.bool


def _spark_value(column: ir.Value, path: Sequence[str], kind: Kind) -> ir.Value:
    if kind != "text":
        return _spark_typed(column, path, kind)
    # a string type takes any JSON scalar as its text: text only where it is neither a number
    # nor a yes/no
    text = _spark_typed(column, path, "text")
    other = _spark_typed(column, path, "number").notnull() | _spark_typed(column, path, "bool").notnull()
    return ibis.ifelse(other, ibis.null("string"), text)


def _spark_typed(column: ir.Value, path: Sequence[str], kind: Kind) -> ir.Value:
    wanted: dt.DataType = _IBIS[kind]
    schema = _SPARK[kind]
    for key in reversed(path):
        wanted = dt.Struct({key: wanted})
        quoted = key.replace("`", "``")
        schema = f"struct<`{quoted}`: {schema}>"

    def from_json(text: str, schema: str) -> Any: ...

    from_json.__annotations__ = {"text": "str", "schema": "str", "return": wanted}
    parse = ibis.udf.scalar.builtin(from_json, name="from_json", signature=((dt.string, dt.string), wanted))
    item: Any = parse(column.cast("string"), ibis.literal(schema))
    for key in path:
        item = item[key]
    return item
