"""A segment definition compiled to one Ibis expression: the profile ids of its members.

Every condition becomes a table of distinct ``profile_id``; ``all`` joins them (a ``not`` inside an
``all`` becomes an anti-join, so "did A and not B" never builds the set of everyone who did not do
B), ``any`` unites them, a ``not`` on its own is taken from every customer. No SQL is written
here: the same expression runs on DuckDB and on any engine Ibis compiles to.

What a definition names and the store cannot serve (a purchase's page, a saved segment that does
not exist, a text compared with ``<``) is refused with an ``InvalidInputError`` naming the field.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from shopmind.core import FieldError, InvalidInputError
from shopmind.features._json import Kind, json_value
from shopmind.segments._definition import (
    EVENT_COLUMNS,
    PROFILE_FIELDS,
    AllOf,
    AnyOf,
    Between,
    Condition,
    Consent,
    Definition,
    Event,
    EventSequence,
    InSavedSegment,
    InSegment,
    Last,
    Moved,
    Not,
    Profile,
    SinceFirstVisit,
    Step,
    Value,
    Where,
    Window,
    nodes,
    window_bounds,
)
from shopmind.segments._sources import PURCHASE, PURCHASE_COLUMNS, RFM_JOB, Sources

_HABITS = {
    "device": "browse_device",
    "hour": "browse_hour",
    "buy_device": "buy_device",
    "buy_hour": "buy_hour",
    "send_channel": "send_channel",
    "send_hour": "send_hour",
}
_TASTES = {"top_category": "favourite_category", "top_brand": "favourite_brand"}
_TRAITS = ("region", "gender", "age_band", "signed_up")


def compile_definition(definition: Definition, sources: Sources) -> ir.Table:
    """The members of ``definition`` as of ``sources.as_of``: one column, ``profile_id``,
    each member once."""
    return _Compiler(sources).members(definition.root, "")


def compile_condition(condition: Condition, sources: Sources, path: str = "condition") -> ir.Table:
    """The profiles meeting one condition (for live membership and tests)."""
    return _Compiler(sources).members(condition, path)


def referenced_segments(definition: Definition) -> list[tuple[str, str]]:
    """(field path, saved segment id) of every ``in_saved_segment`` condition."""
    return [
        (path, node.segment_id) for node, path, _ in nodes(definition) if isinstance(node, InSavedSegment)
    ]


class _Compiler:
    def __init__(self, sources: Sources) -> None:
        self.s = sources
        self._customers: ir.Table | None = None
        self._traits: ir.Table | None = None

    def customers(self) -> ir.Table:
        if self._customers is None:
            self._customers = self.s.customers()
        return self._customers

    # -- combinators ------------------------------------------------------------------------
    def members(self, node: Condition, path: str) -> ir.Table:
        """Profiles meeting ``node`` (``path``: its field path, for errors)."""
        at = path.lstrip(".")
        if isinstance(node, AllOf):
            return self._all(node, at)
        if isinstance(node, AnyOf):
            # one type for every part: a union needs equal schemas, and a column read from the
            # profiles table is non-null where one read from events is not
            parts = [_ids(self.members(c, f"{at}.conditions[{i}]")) for i, c in enumerate(node.conditions)]
            out = parts[0]
            for part in parts[1:]:
                out = out.union(part, distinct=True)
            return out
        if isinstance(node, Not):
            return _without(self.customers(), self.members(node.condition, f"{at}.condition"))
        if isinstance(node, Event):
            return self._event(node, at)
        if isinstance(node, EventSequence):
            return self._sequence(node, at)
        if isinstance(node, Profile):
            return self._profile(node, at)
        if isinstance(node, Consent):
            return self._consent(node)
        if isinstance(node, InSegment):
            m = self.s.segment_members()
            return m.filter(m.segment == node.segment).select("profile_id").distinct()
        if isinstance(node, Moved):
            return self._moved(node)
        if isinstance(node, InSavedSegment):
            return self.s.saved_members(node.segment_id).distinct()
        raise InvalidInputError([FieldError(at or "condition", f"unknown condition {type(node).__name__}")])

    def _all(self, node: AllOf, at: str) -> ir.Table:
        prefix = f"{at}.conditions" if at else "conditions"
        positive = [(i, c) for i, c in enumerate(node.conditions) if not isinstance(c, Not)]
        negative = [(i, c.condition) for i, c in enumerate(node.conditions) if isinstance(c, Not)]
        if positive:
            out = self.members(positive[0][1], f"{prefix}[{positive[0][0]}]")
            for i, c in positive[1:]:
                out = _within(out, self.members(c, f"{prefix}[{i}]"))
        else:
            out = self.customers()
        for i, inner in negative:
            out = _without(out, self.members(inner, f"{prefix}[{i}].condition"))
        return out

    # -- events -------------------------------------------------------------------------------
    def _matching(self, step: Step, window: Window | None, at: str, distinct: str | None = None) -> ir.Table:
        """The events (or purchase lines) matching ``step`` within ``window``, with
        ``profile_id``, ``event_time`` and ``_key``: what counts as one (the event, or the order;
        with ``distinct``, that column's value)."""
        purchase = step.type == PURCHASE
        if purchase:
            if step.page is not None:
                raise InvalidInputError(
                    [FieldError(f"{at}.page", "a purchase has no page; match a page_view")]
                )
            if step.name is not None:
                raise InvalidInputError([FieldError(f"{at}.name", "a purchase has no name")])
            rows = self.s.purchases()
            columns = PURCHASE_COLUMNS
        else:
            rows = self.s.events()
            columns = EVENT_COLUMNS
        keep = []
        if step.type is not None and not purchase:
            keep.append(rows.type == step.type)
        if step.name is not None:
            keep.append(rows.name == step.name)
        if step.page is not None:
            keep.append(rows.page_url.re_search(page_pattern(step.page)))
        if step.product is not None:
            keep.append(rows.product_id == step.product)
        if step.category is not None:
            keep.append(rows.category == step.category)
        for i, where in enumerate(step.where):
            keep.append(self._where(rows, where, columns, f"{at}.where[{i}]", purchase))
        keep.extend(self._window_bounds(rows.event_time, window))
        if distinct is not None and distinct not in columns:
            known = ", ".join(sorted(columns))
            raise InvalidInputError(
                [FieldError(f"{at}.count.distinct", f"not a column of these events; one of {known}")]
            )
        if keep:
            rows = rows.filter(*keep)
        if purchase:
            rows = rows.select("profile_id", "event_time", _key=rows[distinct or "order_id"])
        else:
            rows = rows.select("user_id", "anonymous_id", "event_time", _key=rows[distinct or "message_id"])
            rows = self.s.owned(rows).select("profile_id", "event_time", "_key")
        if isinstance(window, SinceFirstVisit) and window.days is not None:
            first = self.s.first_visits().view()
            rows = rows.view()
            joined = rows.join(first, "profile_id")
            rows = joined.filter(
                joined.event_time < joined.first_at + ibis.interval(days=window.days)
            ).select("profile_id", "event_time", "_key")
        return rows

    def _window_bounds(self, time: ir.TimestampValue, window: Window | None) -> list[ir.BooleanValue]:
        if isinstance(window, Last):
            return [time >= self.s.as_of - timedelta(days=window.days, hours=window.hours)]
        if isinstance(window, Between):
            start, end = window_bounds(window, self.s.zone)
            return [time >= start, time < end]
        return []

    def _event(self, node: Event, at: str) -> ir.Table:
        distinct = node.count.distinct if node.count is not None else None
        rows = self._matching(node, node.window, at, distinct)
        low, high = node.count.bounds() if node.count is not None else (1, None)
        if low == 0 and high is None:  # at least zero times: everyone
            return self.customers()
        if low == 1 and high is None and distinct is None:  # at least once: no counting needed
            return rows.select("profile_id").distinct()
        counted = rows.group_by("profile_id").aggregate(n=rows._key.nunique())
        if low >= 1:
            keep = counted.n >= low
            if high is not None:
                keep = keep & (counted.n <= high)
            return counted.filter(keep).select("profile_id")
        # at most N (zero included): everyone but those with more
        assert high is not None
        return _without(self.customers(), counted.filter(counted.n > high))

    def _sequence(self, node: EventSequence, at: str) -> ir.Table:
        """Did the steps in order, the last within ``within_minutes`` of the first: the first step
        in the window, each next step strictly after the one before."""
        steps = [
            self._matching(step, node.window if i == 0 else None, f"{at}.steps[{i}]")
            for i, step in enumerate(node.steps)
        ]
        within = ibis.interval(minutes=node.within_minutes)
        first = steps[0].select("profile_id", t0=steps[0].event_time)
        chain = first.mutate(t=first.t0)
        for step in steps[1:]:
            nxt = step.select(p_next="profile_id", t_next="event_time").view()
            chain = chain.view()
            joined = chain.join(
                nxt,
                [
                    chain.profile_id == nxt.p_next,
                    nxt.t_next > chain.t,
                    nxt.t_next <= chain.t0 + within,
                ],
            )
            # the earliest next step per start keeps the chain small and loses nothing: a later
            # one can only leave less room for the steps after it
            chain = joined.group_by("profile_id", "t0").aggregate(t=joined.t_next.min())
        return chain.select("profile_id").distinct()

    def _where(
        self, rows: ir.Table, where: Where, columns: dict[str, str], at: str, purchase: bool
    ) -> ir.BooleanValue:
        key = where.property
        if key.startswith("properties."):
            key = key.removeprefix("properties.")
        elif key in columns:
            return compare(rows[key], where.op, where.value, columns[key], at)
        if purchase:
            known = ", ".join(sorted(columns))
            raise InvalidInputError(
                [FieldError(f"{at}.property", f"a purchase has no {key!r}; it has {known}")]
            )
        return compare_json(rows.properties, key.split("."), where.op, where.value, at)

    # -- profiles -----------------------------------------------------------------------------
    def _profile(self, node: Profile, at: str) -> ir.Table:
        field = PROFILE_FIELDS[node.field]
        if node.field == "member":
            found = self.s.members()
            return found if _is_true(node.op, node.value) else _without(self.customers(), found)
        if node.field == "buyer":
            buyers = self.s.purchases().select("profile_id").distinct()
            return buyers if _is_true(node.op, node.value) else _without(self.customers(), buyers)
        if field.group == "score":
            table = self.s.scores(node.field)
        elif node.field in _TASTES:
            taste = self.s.facts("taste")
            table = taste.select("profile_id", value=json_value(taste.facts, [_TASTES[node.field]], "text"))
        elif node.field == "price_band":
            table = self.s.price_bands()
        elif node.field in _HABITS:
            habits = self.s.facts("habits")
            read: Kind = "number" if field.type == "hour" else "text"
            table = habits.select("profile_id", value=json_value(habits.facts, [_HABITS[node.field]], read))
        elif node.field in _TRAITS:
            if self._traits is None:
                self._traits = self.s.traits()
            table = self._traits.select("profile_id", value=self._traits[node.field])
        else:  # a field the registry gained and this compiler does not read yet
            raise InvalidInputError([FieldError(f"{at}.field", f"{node.field} cannot be read yet")])
        kind = "number" if field.type == "hour" else field.type
        condition = compare(table.value, node.op, node.value, kind, at)
        if node.op in ("!=", "not_in"):  # customers without a value differ from it too
            return _without(self.customers(), table.filter(~condition).select("profile_id"))
        return table.filter(condition).select("profile_id").distinct()

    def _consent(self, node: Consent) -> ir.Table:
        c = self.s.consent()
        given = c.filter((c.channel == node.channel) & (c.purpose == node.purpose) & c.granted)
        given = given.select("profile_id").distinct()
        return given if node.granted else _without(self.customers(), given)

    # -- segments -----------------------------------------------------------------------------
    def _moved(self, node: Moved) -> ir.Table:
        before_run, after_run = self._runs_for(node)
        before = self.s.run_members(before_run)
        after = self.s.run_members(after_run)
        b = before.filter(before.segment == node.from_).select("profile_id")
        a = after.filter(after.segment == node.to).select("profile_id")
        return b.join(a, "profile_id").select("profile_id").distinct()

    def _runs_for(self, node: Moved) -> tuple[Any, Any]:
        """The earlier and later run of a movement: the named ones, else the last two runs of the
        job that assigns the target segment (the RFM job for RFM segments)."""
        if node.from_run is not None and node.to_run is not None:
            return node.from_run, node.to_run
        from shopmind.segments._rfm import SEGMENTS

        job: Any = RFM_JOB
        if node.to not in SEGMENTS and node.to != "clv_vip":
            m, r = self.s["segment_members"], self.s["job_runs"]
            holding = m.filter(m.segment == node.to).select("run_id").distinct().join(r, "run_id")
            job = holding.job.argmax(holding.as_of).as_scalar()
        runs = self.s["job_runs"]
        runs = runs.filter((runs.status == "ok") & (runs.as_of <= self.s.as_of) & (runs.job == job))
        ranked = runs.mutate(
            rank=ibis.row_number().over(order_by=[ibis.desc(runs.as_of), ibis.desc(runs.finished_at)])
        )
        latest = ranked.filter(ranked.rank == 0).select("run_id").as_scalar()
        earlier = ranked.filter(ranked.rank == 1).select("run_id").as_scalar()
        after = node.to_run if node.to_run is not None else latest
        before = node.from_run if node.from_run is not None else earlier
        return before, after


def _within(left: ir.Table, right: ir.Table) -> ir.Table:
    """The profiles of ``left`` also in ``right``. Each side is a view of its own: both may be
    built from the same tables (everyone, the events), which a join must tell apart."""
    return left.view().semi_join(right.view(), "profile_id")


def _without(left: ir.Table, right: ir.Table) -> ir.Table:
    """The profiles of ``left`` not in ``right`` (see ``_within``)."""
    return left.view().anti_join(right.view(), "profile_id")


def _ids(table: ir.Table) -> ir.Table:
    return table.select(profile_id=table.profile_id.cast("!string").cast("string"))


def _is_true(op: str, value: Value) -> bool:
    return (op == "=") == bool(value)


def page_pattern(pattern: str) -> str:
    """A page pattern (``*`` for any text) as an RE2 pattern matching a whole URL or its path:
    ``/careers`` matches ``https://demo-shop.kr/careers`` and ``app://demo-shop/careers?ref=x``;
    the query and fragment are ignored unless the pattern has a ``?`` of its own."""
    body = ".*".join(re.escape(part) for part in pattern.split("*"))
    tail = "" if "?" in pattern else r"(?:[?#].*)?"
    return rf"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*://[^/?#]*)?{body}{tail}$"


def _number(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError([FieldError(f"{at}.value", "must be a number: this field is a number")])
    return float(value)


def compare(column: ir.Value, op: str, value: Value, kind: str, at: str) -> ir.BooleanValue:
    """``column op value`` for a typed column (``kind``: text, number, bool, date). ``!=`` and
    ``not_in`` hold where the column is missing too (a customer with no device is not on mobile)."""
    if op == "exists":
        return column.notnull()
    values: list[Any] = list(value) if isinstance(value, list) else [value]
    if kind == "number":
        if op in ("contains", "regex"):
            raise InvalidInputError([FieldError(f"{at}.op", f"{op} compares text; this field is a number")])
        values = [_number(v, at) for v in values]
    elif kind == "date":
        from datetime import date

        values = [date.fromisoformat(str(v)) for v in values]
    elif kind == "text":
        if op in ("<", ">", "<=", ">=", "between"):
            raise InvalidInputError(
                [FieldError(f"{at}.op", f"{op} compares numbers or dates; this field is text")]
            )
        values = [
            v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v) for v in values
        ]
    col: Any = column
    first = values[0]
    if op == "=":
        return col == first
    if op == "!=":
        return col.isnull() | (col != first)
    if op == "<":
        return col < first
    if op == ">":
        return col > first
    if op == "<=":
        return col <= first
    if op == ">=":
        return col >= first
    if op == "between":
        return col.between(values[0], values[1])
    if op == "in":
        return col.isin(values)
    if op == "not_in":
        return col.isnull() | col.notin(values)
    if op == "contains":
        return col.contains(str(first))
    if op == "regex":
        return col.re_search(str(first))
    raise InvalidInputError([FieldError(f"{at}.op", f"unknown operator {op}")])


def compare_json(column: Any, path: list[str], op: str, value: Value, at: str) -> ir.BooleanValue:
    """A comparison on an event property (``path`` inside the JSON ``column``): read as a number
    for numbers, a yes/no for true/false, text otherwise (``features.json_value``: the same on
    every engine; a value of another JSON type is missing)."""
    if op == "exists":
        item: Any = column.cast("json")
        for part in path:
            item = item[part]
        return item.notnull()
    values = value if isinstance(value, list) else [value]
    if all(isinstance(v, bool) for v in values):
        if op not in ("=", "!="):
            return ibis.literal(False)
        return compare(json_value(column, path, "bool"), op, value, "bool_json", at)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return compare(json_value(column, path, "number"), op, value, "number", at)
    return compare(json_value(column, path, "text"), op, value, "text", at)
