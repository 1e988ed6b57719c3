"""The segment builder's form, read into a segment definition: what the page's condition rows hold
(plain text, as a browser sends it) becomes the definition language's data, and every problem is
named by its row and field with a message key of the dashboard's words, so the page shows it next
to the field in the page's language.

The form's state (what the page's script sends, and what a failed save gives back to the page):

``{"name_ko", "name_en", "description_ko", "description_en", "match": "all" | "any",
"conditions": [row, ...]}``, a row being ``{"kind": "event" | "profile" | "segment" | "moved" |
"consent", "not": bool, ...}`` with the fields of its kind (see ``_event``, ``_profile``...)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from shopmind.segments import (
    CONSENT_CHANNELS,
    MAX_CONDITIONS,
    MAX_WINDOW_DAYS,
    PROFILE_FIELDS,
    SEGMENTS,
    field_unit,
)

#: the kinds of rows the builder adds
ROW_KINDS = ("event", "profile", "segment", "moved", "consent")
COUNT_OPS = ("at_least", "at_most", "exactly")
#: a purchase is an event of this type (read from the orders)
PURCHASE = "order_completed"
#: the segments a "segment" row may name: the RFM segments, then the model lists
MODEL_LISTS = ("clv_vip", "vip_at_risk", "could_become_vip")
SEGMENT_CHOICES = (*SEGMENTS, *MODEL_LISTS)
#: a persona's segment key (``pipeline.run_personas``): the personas change with each run, so any
#: number is accepted (a persona no run made counts no one, and the preview warns)
PERSONA_KEY = re.compile(r"persona_[1-9][0-9]{0,3}")
#: the consent purposes a marketer targets (informational messages need no consent)
CONSENT_CHOICES = ("advertising", "night_advertising")
MAX_TEXT = 500
MAX_COUNT = 1_000_000
#: the R, F and M scores are quintiles
SCORE_RANGES = {"r_score": (1.0, 5.0), "f_score": (1.0, 5.0), "m_score": (1.0, 5.0)}


@dataclass(frozen=True)
class Problem:
    """What is wrong, where: ``row`` (a condition's index, None for the names), ``field`` (the
    form field), ``key`` (a message of ``web._i18n``) and the values it names."""

    row: int | None
    field: str
    key: str
    values: dict[str, Any] = dataclasses.field(default_factory=dict)


class _Row:
    """One condition row's fields as text, and the problems found in them."""

    def __init__(self, index: int | None, data: Mapping[str, Any], problems: list[Problem]) -> None:
        self.index, self.data, self.problems = index, data, problems

    def text(self, name: str) -> str:
        value = self.data.get(name)
        if isinstance(value, bool) or value is None:
            return ""
        text = str(value).strip()
        if len(text) > MAX_TEXT:
            self.problem(name, "sg.err.too_long", n=MAX_TEXT)
        return text

    def problem(self, name: str, key: str, **values: Any) -> None:
        self.problems.append(Problem(self.index, name, key, values))

    def number(self, name: str, low: float, high: float, *, whole: bool = False) -> float | None:
        """The field as a number in [low, high] (None when empty or wrong: wrong is named)."""
        text = self.text(name).replace(",", "")
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isnan(value) or (whole and not value.is_integer()):
            self.problem(name, "sg.err.whole" if whole else "sg.err.number")
            return None
        if not low <= value <= high:
            self.problem(name, "sg.err.range", low=_plain(low), high=_plain(high))
            return None
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if not value:
            self.problem(name, "sg.err.choose")
            return None
        if value not in allowed:
            self.problem(name, "sg.err.choose")
            return None
        return value


def _plain(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def definition_data(state: Any, *, require_name: bool) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The definition (plain data for ``parse_definition``) the form's ``state`` describes, or None
    and the problems; ``require_name``: a name is needed (saving, not previewing)."""
    problems: list[Problem] = []
    if not isinstance(state, Mapping):
        return None, [Problem(None, "conditions", "sg.err.no_conditions")]
    names = _Row(None, state, problems)
    name_ko, name_en = names.text("name_ko"), names.text("name_en")
    described = names.text("description_ko"), names.text("description_en")
    if require_name and not (name_ko or name_en):
        problems.append(Problem(None, "name_ko", "sg.err.name"))
    rows = state.get("conditions")
    if not isinstance(rows, list) or not rows:
        problems.append(Problem(None, "conditions", "sg.err.no_conditions"))
        return None, problems
    if len(rows) > MAX_CONDITIONS:
        problems.append(Problem(None, "conditions", "sg.err.too_many", {"n": MAX_CONDITIONS}))
        return None, problems
    conditions = []
    for index, data in enumerate(rows):
        row = _Row(index, data if isinstance(data, Mapping) else {}, problems)
        condition = _condition(row)
        if condition is not None:
            negated = row.data.get("not") is True
            conditions.append({"kind": "not", "condition": condition} if negated else condition)
    if problems:
        return None, problems
    out: dict[str, Any] = {
        # a preview without a name yet: the definition language needs one
        "name": {k: v for k, v in (("ko", name_ko), ("en", name_en)) if v} or {"ko": "미리보기"},
        "conditions": conditions,
        "match": "any" if state.get("match") == "any" else "all",
    }
    if any(described):
        out["description"] = {k: v for k, v in zip(("ko", "en"), described, strict=True) if v}
    return out, problems


def _condition(row: _Row) -> dict[str, Any] | None:
    kind = row.text("kind")
    if kind == "event":
        return _event(row)
    if kind == "profile":
        return _profile(row)
    if kind == "segment":
        if PERSONA_KEY.fullmatch(row.text("segment")):  # a persona of a personas run
            return {"kind": "in_segment", "segment": row.text("segment")}
        segment = row.choice("segment", SEGMENT_CHOICES)
        return {"kind": "in_segment", "segment": segment} if segment else None
    if kind == "moved":
        return _moved(row)
    if kind == "consent":
        return _consent(row)
    row.problem("kind", "sg.err.choose")
    return None


def _event(row: _Row) -> dict[str, Any] | None:
    """type (an event type, empty: any), name (a ``track`` name), page (a URL pattern), product,
    category; count_op (at_least, at_most, exactly) and count; days (empty: all the history)."""
    out: dict[str, Any] = {"kind": "event"}
    for name in ("type", "name", "page", "product", "category"):
        value = row.text(name)
        if value:
            out[name] = value
    if out.get("type") == PURCHASE:
        for name in ("page", "name"):
            if name in out:
                row.problem(name, f"sg.err.purchase_{name}")
    op = row.text("count_op") or "at_least"
    if op not in COUNT_OPS:
        row.problem("count_op", "sg.err.choose")
        op = "at_least"
    low = 1.0 if op == "at_least" else 0.0
    count = row.number("count", low, MAX_COUNT, whole=True)
    if count is None and not row.text("count"):
        count = 1.0
    if count is not None and (op != "at_least" or count != 1):
        out["count"] = {op: int(count)}
    days = row.number("days", 1, MAX_WINDOW_DAYS, whole=True)
    if days is not None:
        out["window"] = {"kind": "last", "days": int(days)}
    return out


def _profile(row: _Row) -> dict[str, Any] | None:
    """field (a ``PROFILE_FIELDS`` key) and, by its type: value (yes/no, one of its values, or a
    text), or low and/or high (a number: percent for probabilities, won for amounts; an hour; an
    ISO date)."""
    key = row.choice("field", tuple(PROFILE_FIELDS))
    if key is None:
        return None
    found = PROFILE_FIELDS[key]
    if found.type == "bool":
        value = row.choice("value", ("true", "false"))
        return None if value is None else {"kind": "profile", "field": key, "value": value == "true"}
    if found.type == "text":
        if found.values:
            value = row.choice("value", found.values)
        else:
            value = row.text("value") or None
            if value is None:
                row.problem("value", "sg.err.required")
        return None if value is None else {"kind": "profile", "field": key, "value": value}
    if found.type == "date":
        low_d, high_d = _date(row, "low"), _date(row, "high")
        return _range(row, key, low_d, high_d)
    if found.type == "hour":
        low_n, high_n = row.number("low", 0, 23, whole=True), row.number("high", 0, 23, whole=True)
        return _range(row, key, _int(low_n), _int(high_n))
    unit = field_unit(key)
    if unit == "%":
        low_p, high_p = row.number("low", 0, 100), row.number("high", 0, 100)
        return _range(row, key, _share(low_p), _share(high_p))
    bounds = SCORE_RANGES.get(key, (0.0, 1e15) if unit == "₩" else (-1e15, 1e15))
    return _range(row, key, row.number("low", *bounds), row.number("high", *bounds))


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _share(percent: float | None) -> float | None:
    return None if percent is None else round(percent / 100, 6)


def _date(row: _Row, name: str) -> str | None:
    text = row.text(name)
    if not text:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        row.problem(name, "sg.err.date")
        return None


def _range(row: _Row, key: str, low: Any, high: Any) -> dict[str, Any] | None:
    """low and high → between; one of them → at least / at most."""
    named = any(p.row == row.index and p.field in ("low", "high") for p in row.problems)
    if named:
        return None
    if low is None and high is None:
        row.problem("low", "sg.err.range_needed")
        return None
    if low is not None and high is not None:
        if low > high:
            row.problem("high", "sg.err.low_above_high")
            return None
        return {"kind": "profile", "field": key, "op": "between", "value": [low, high]}
    if low is not None:
        return {"kind": "profile", "field": key, "op": ">=", "value": low}
    return {"kind": "profile", "field": key, "op": "<=", "value": high}


def _moved(row: _Row) -> dict[str, Any] | None:
    before = row.choice("from", tuple(SEGMENTS))
    after = row.choice("to", tuple(SEGMENTS))
    if before is None or after is None:
        return None
    if before == after:
        row.problem("to", "sg.err.same_segment")
        return None
    return {"kind": "moved", "from": before, "to": after}


def _consent(row: _Row) -> dict[str, Any] | None:
    channel = row.choice("channel", CONSENT_CHANNELS)
    purpose = row.choice("purpose", CONSENT_CHOICES)
    granted = row.choice("granted", ("yes", "no"))
    if channel is None or purpose is None or granted is None:
        return None
    return {"kind": "consent", "channel": channel, "purpose": purpose, "granted": granted == "yes"}


def locate(path: str) -> tuple[int | None, str]:
    """A definition's field path (``conditions[2].condition.window.days``) as the builder's row
    and field (2, ``days``)."""
    found = re.match(r"^conditions\[(\d+)\](?:\.condition)?(?:\.([A-Za-z_]+))?", path)
    if found is None:
        first = path.split(".")[0]
        if first in ("name", "description"):
            return None, f"{first}_ko"
        return None, "conditions"
    row, name = int(found.group(1)), found.group(2) or "kind"
    fields = {
        "window": "days",
        "count": "count",
        "segment": "segment",
        "from": "from",
        "to": "to",
        "op": "value",
        "where": "type",
    }
    return row, fields.get(name, name)
