"""What an event must be to match a step of a segment definition, decided in Python for one event
at a time: the live membership's twin of the compiler's filters (``_compile._matching``), with the
same meaning for every field, operator and missing value (the property tests hold the two equal).

A matcher takes an event as a mapping of the ``events`` table's columns (``vars(event)`` of a
validated event, or a row read from the store) and a memo, an empty dict per event that the
matchers of one event share (its properties are parsed once), and answers whether it matches; the
event's type is tested by whoever indexes the matchers (``Step.type``), not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from shopmind.core import FieldError, InvalidInputError
from shopmind.segments._definition import EVENT_COLUMNS, Step, Value, Where

Row = Mapping[str, Any]
Test = Callable[[Row, dict[str, Any]], bool]

_MISSING = object()  # a property the event does not carry (JSON null is a value: ``exists`` holds)


def step_matcher(step: Step, at: str) -> Test | None:
    """A test of everything ``step`` asks but its type (None: any event of the type matches)."""
    tests: list[Test] = []
    if step.name is not None:
        name = step.name
        tests.append(lambda row, _: row["name"] == name)
    if step.page is not None:
        from shopmind.segments._compile import page_pattern  # (with Ibis: only when a page is named)

        search = re.compile(page_pattern(step.page)).search
        tests.append(lambda row, _: (url := row["page_url"]) is not None and search(url) is not None)
    if step.product is not None:
        product = step.product
        tests.append(lambda row, _: row["product_id"] == product)
    if step.category is not None:
        category = step.category
        tests.append(lambda row, _: row["category"] == category)
    for i, where in enumerate(step.where):
        tests.append(_where(where, f"{at}.where[{i}]"))
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda row, memo: all(test(row, memo) for test in tests)


def _where(where: Where, at: str) -> Test:
    key = where.property
    if key.startswith("properties."):
        key = key.removeprefix("properties.")
    elif key in EVENT_COLUMNS:
        column, kind = key, EVENT_COLUMNS[key]
        compare = comparison(where.op, where.value, kind, at)
        return lambda row, _: compare(row[column])
    path = tuple(key.split("."))
    compare = json_comparison(where.op, where.value, at)

    def test(row: Row, memo: dict[str, Any]) -> bool:
        return compare(_property(row, memo, path))

    return test


def _property(row: Row, memo: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The JSON value at ``path`` in the event's properties (``_MISSING`` when absent)."""
    parsed = memo.get("properties", _MISSING)
    if parsed is _MISSING:
        text = row["properties"]
        parsed = memo["properties"] = None if text is None else orjson.loads(text)
    value: Any = parsed
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _number(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError([FieldError(f"{at}.value", "must be a number: this field is a number")])
    return float(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def comparison(op: str, value: Value, kind: str, at: str) -> Callable[[Any], bool]:
    """``column op value`` on a column's value (None: missing), as ``_compile.compare`` means it:
    ``!=`` and ``not_in`` hold for a missing value, every other comparison fails on it."""
    if op == "exists":
        return lambda v: v is not None
    values: list[Any] = list(value) if isinstance(value, list) else [value]
    if kind == "number":
        if op in ("contains", "regex"):
            raise InvalidInputError([FieldError(f"{at}.op", f"{op} compares text; this field is a number")])
        values = [_number(v, at) for v in values]
    elif kind == "text":
        if op in ("<", ">", "<=", ">=", "between"):
            raise InvalidInputError(
                [FieldError(f"{at}.op", f"{op} compares numbers or dates; this field is text")]
            )
        values = [_text(v) for v in values]
    first = values[0]
    if op == "=":
        return lambda v: v is not None and v == first
    if op == "!=":
        return lambda v: v is None or v != first
    if op == "<":
        return lambda v: v is not None and v < first
    if op == ">":
        return lambda v: v is not None and v > first
    if op == "<=":
        return lambda v: v is not None and v <= first
    if op == ">=":
        return lambda v: v is not None and v >= first
    if op == "between":
        low, high = values[0], values[1]
        return lambda v: v is not None and low <= v <= high
    if op == "in":
        among = frozenset(values)
        return lambda v: v is not None and v in among
    if op == "not_in":
        among = frozenset(values)
        return lambda v: v is None or v not in among
    if op == "contains":
        part = str(first)
        return lambda v: v is not None and part in v
    if op == "regex":
        search = re.compile(str(first)).search
        return lambda v: v is not None and search(v) is not None
    raise InvalidInputError([FieldError(f"{at}.op", f"unknown operator {op}")])


def json_comparison(op: str, value: Value, at: str) -> Callable[[Any], bool]:
    """A comparison on a property's JSON value, as ``_compile.compare_json`` means it: a number
    for numbers, a yes/no for true/false, text otherwise; a value of another JSON type is missing."""
    if op == "exists":
        return lambda v: v is not _MISSING
    values = value if isinstance(value, list) else [value]
    if all(isinstance(v, bool) for v in values):
        if op not in ("=", "!="):
            return lambda v: False
        inner = comparison(op, value, "bool_json", at)
        return lambda v: inner(v if isinstance(v, bool) else None)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        inner = comparison(op, value, "number", at)
        return lambda v: inner(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None)
    inner = comparison(op, value, "text", at)
    return lambda v: inner(v if isinstance(v, str) else None)
