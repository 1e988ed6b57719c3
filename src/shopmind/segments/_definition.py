"""The segment definition language: a declared schema (msgspec structs), read from JSON, YAML or
plain Python data, and checked with errors that name the field and the reason.

A definition names the segment in Korean and English and lists its conditions, all of which
(``"match": "all"``, the default) or any of which (``"match": "any"``) must hold. A condition is
one of these nodes, told apart by ``kind``:

============================  ====================================================================
kind                          holds for a customer who...
============================  ====================================================================
``all`` / ``any`` / ``not``   ...meets all / any of ``conditions``, or not ``condition``
``event``                     ...did a matching event a number of times (``count``, default at
                              least once) in a time ``window`` (default: all the history kept)
``sequence``                  ...did the ``steps`` in this order, the last within
                              ``within_minutes`` of the first
``profile``                   ...has a trait, score, taste or habit (``field``) that compares
                              with ``value`` by ``op``
``consent``                   ...has (``granted: true``) or has not given consent on a channel
``in_segment``                ...is in an RFM or model segment in the latest run (``vip``...)
``moved``                     ...was in segment ``from`` in one run and is in ``to`` in a later one
``in_saved_segment``          ...is a current member of a saved segment
============================  ====================================================================

Events match on their ``type`` (``banner_click``), ``name`` (a ``track`` call's name), ``page``
(a URL pattern, ``*`` for any text), ``product``, ``category`` and ``where``: any column or
property compared by ``op``. "Did A and not B" is ``all`` of an A condition and a ``not`` of a B
condition (or a B condition with ``count: {at_most: 0}``).

Everything here is pure: the compiler (:mod:`shopmind.segments._compile`) turns a definition into an
Ibis expression, and :func:`shopmind.segments.vocabulary_warnings` compares its names with what the
store has seen. The types are shared by every user of definitions (preview, saved segments, live
membership, exports, the dashboard's builder); add fields with defaults, never change one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeAlias
from zoneinfo import ZoneInfo

import msgspec

from shopmind.core import (
    DEFAULT_SHOP_TZ,
    LABELS,
    FieldError,
    InvalidInputError,
    load_yaml_mapping,
    schema_field_error,
)
from shopmind.segments._regex import regex_problem

SCHEMA_VERSION = 1
MAX_DEPTH = 6  # combinators inside combinators: deeper is never needed and hard to read
MAX_CONDITIONS = 100  # condition nodes in a whole definition (a 10,000-condition one is refused)
MAX_STEPS = 4  # steps of a sequence
MAX_VALUES = 1_000  # values of an ``in`` list
MAX_TEXT = 500  # characters of a value, a name or a pattern
MAX_DESCRIPTION = 2_000
MAX_DEFINITION_BYTES = 256 * 1024  # a definition larger than this is refused before it is parsed
#: the longest history a window may reach: order records are kept five years (전자상거래법 시행령 §6)
MAX_WINDOW_DAYS = 5 * 366
MAX_SEQUENCE_MINUTES = 7 * 24 * 60
MAX_COUNT = 1_000_000

#: event columns a condition may compare (the personal hashes and raw ids are not for targeting)
EVENT_COLUMNS: dict[str, str] = {
    "type": "text",
    "name": "text",
    "session_id": "text",
    "device_type": "text",
    "os": "text",
    "channel": "text",
    "region": "text",
    "city": "text",
    "locale": "text",
    "page_url": "text",
    "referrer": "text",
    "utm_source": "text",
    "utm_medium": "text",
    "utm_campaign": "text",
    "utm_term": "text",
    "utm_content": "text",
    "product_id": "text",
    "category": "text",
    "query": "text",
    "quantity": "number",
    "price": "number",
    "order_id": "text",
    "revenue": "number",
    "currency": "text",
    "banner_id": "text",
    "campaign_id": "text",
}

Op: TypeAlias = Literal[
    "=", "!=", "<", ">", "<=", ">=", "between", "in", "not_in", "contains", "regex", "exists"
]
Scalar: TypeAlias = str | int | float | bool
Value: TypeAlias = Scalar | list[Scalar] | None

_ORDERED_OPS = frozenset({"<", ">", "<=", ">=", "between"})
_TEXT_OPS = frozenset({"contains", "regex"})

_STRUCT = {"forbid_unknown_fields": True, "frozen": True, "omit_defaults": True, "kw_only": True}


class Names(msgspec.Struct, **_STRUCT):
    """A name or a description in Korean and English (at least one of the two)."""

    ko: str | None = None
    en: str | None = None

    def text(self, lang: str = "ko") -> str:
        """The text in ``lang``, else in the other language."""
        first, second = (self.ko, self.en) if lang == "ko" else (self.en, self.ko)
        return first or second or ""


class Where(msgspec.Struct, **_STRUCT):
    """One comparison of an event's column (``page_url``, ``banner_id``, ``price``...) or of a
    property it carries (``properties.colour`` or just ``colour``) with ``value``."""

    property: str
    op: Op = "="
    value: Value = None


class Count(msgspec.Struct, **_STRUCT):
    """How many matching events: ``exactly`` N, or ``at_least`` and/or ``at_most`` N; or, with
    ``distinct``, how many different values of that event column (``category``: viewed products
    of 8 different categories) - purchases count orders, not lines."""

    at_least: int | None = None
    at_most: int | None = None
    exactly: int | None = None
    distinct: str | None = None

    def bounds(self) -> tuple[int, int | None]:
        """(lowest, highest or None for no limit) number of events."""
        if self.exactly is not None:
            return self.exactly, self.exactly
        return (
            self.at_least if self.at_least is not None else 0 if self.at_most is not None else 1
        ), self.at_most


class Last(msgspec.Struct, tag="last", tag_field="kind", **_STRUCT):
    """The last ``days`` (and/or ``hours``) before the moment the segment is counted."""

    days: int = 0
    hours: int = 0

    def span(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours)


class Between(msgspec.Struct, tag="between", tag_field="kind", **_STRUCT):
    """From ``start`` up to ``end``: ISO dates (shop-local days, both included) or ISO date-times
    with a UTC offset (``end`` excluded)."""

    start: str
    end: str


class SinceFirstVisit(msgspec.Struct, tag="since_first_visit", tag_field="kind", **_STRUCT):
    """From the customer's first visit on: within ``days`` of it (all the time since, without)."""

    days: int | None = None


Window: TypeAlias = Last | Between | SinceFirstVisit


class Step(msgspec.Struct, **_STRUCT):
    """What an event must be to match (every given field must hold; none given: any event)."""

    type: str | None = None  # an event type: page_view, product_view, banner_click, custom...
    name: str | None = None  # the name of a ``track`` call, e.g. "문의하기 클릭"
    page: str | None = None  # a page URL pattern; * stands for any text
    product: str | None = None  # a product id
    category: str | None = None  # a category name as the events carry it
    where: list[Where] = msgspec.field(default_factory=list)


class Event(Step, tag="event", tag_field="kind", **_STRUCT):
    """Did a matching event ``count`` times (default: at least once) within ``window``."""

    count: Count | None = None
    window: Window | None = None


class EventSequence(msgspec.Struct, tag="sequence", tag_field="kind", **_STRUCT):
    """Did the ``steps`` in this order, each after the one before, the last within
    ``within_minutes`` of the first, starting within ``window``."""

    steps: list[Step]
    within_minutes: int
    window: Window | None = None


class Profile(msgspec.Struct, tag="profile", tag_field="kind", **_STRUCT):
    """A trait, score, taste or habit of the customer (``field``, see ``PROFILE_FIELDS``)."""

    field: str
    op: Op = "="
    value: Value = None


class Consent(msgspec.Struct, tag="consent", tag_field="kind", **_STRUCT):
    """The customer's current consent on ``channel`` for ``purpose``: given (``granted``) or
    not (withdrawn, or never asked)."""

    channel: str
    purpose: str = "advertising"
    granted: bool = True


class InSegment(msgspec.Struct, tag="in_segment", tag_field="kind", **_STRUCT):
    """In an RFM or model segment (``vip``, ``dormant_vip``, ``vip_at_risk``...) in the latest run
    of the job that assigns it."""

    segment: str


class Moved(msgspec.Struct, tag="moved", tag_field="kind", **_STRUCT):
    """In segment ``from`` in the earlier run and in ``to`` in the later one: by default the last
    two runs of the job that assigns them; or the runs named by id."""

    from_: str = msgspec.field(name="from")
    to: str
    from_run: str | None = None
    to_run: str | None = None


class InSavedSegment(msgspec.Struct, tag="in_saved_segment", tag_field="kind", **_STRUCT):
    """A current member of the saved segment ``segment_id``."""

    segment_id: str


class AllOf(msgspec.Struct, tag="all", tag_field="kind", **_STRUCT):
    conditions: list[Condition]


class AnyOf(msgspec.Struct, tag="any", tag_field="kind", **_STRUCT):
    conditions: list[Condition]


class Not(msgspec.Struct, tag="not", tag_field="kind", **_STRUCT):
    condition: Condition


Condition: TypeAlias = (
    AllOf | AnyOf | Not | Event | EventSequence | Profile | Consent | InSegment | Moved | InSavedSegment
)


class Definition(msgspec.Struct, **_STRUCT):
    """A segment: its names, and the conditions that all (or any) must hold."""

    name: Names
    conditions: list[Condition]
    match: Literal["all", "any"] = "all"
    description: Names | None = None
    version: int = SCHEMA_VERSION

    @property
    def root(self) -> Condition:
        """The conditions as one node."""
        return AllOf(conditions=self.conditions) if self.match == "all" else AnyOf(conditions=self.conditions)


@dataclass(frozen=True)
class ProfileField:
    """A profile fact a ``profile`` condition may test."""

    key: str
    group: Literal["trait", "score", "taste", "habit"]
    type: Literal["bool", "number", "text", "date", "hour"]
    ko: str
    en: str
    values: tuple[str, ...] = ()  # the known values of a text field (empty: any text)


AGE_BANDS = ("10s", "20s", "30s", "40s", "50s", "60s+")
DEVICES = ("mobile", "desktop", "tablet", "other")
SEND_CHANNELS = ("push", "sms", "email")
PRICE_BANDS = ("low", "mid", "high")


def _field(
    key: str,
    group: Literal["trait", "score", "taste", "habit"],
    type: Literal["bool", "number", "text", "date", "hour"],
    values: tuple[str, ...] = (),
) -> ProfileField:
    """A profile field named as everywhere else: scores by the catalogue's score names, the other
    facts by its profile-field names (one name per concept, ``core.LABELS``)."""
    ko, en = LABELS["score" if group == "score" else "profile_field"][key]
    return ProfileField(key, group, type, ko, en[:1].upper() + en[1:], values)


PROFILE_FIELDS: dict[str, ProfileField] = {
    f.key: f
    for f in (
        _field("member", "trait", "bool"),
        _field("buyer", "trait", "bool"),
        _field("gender", "trait", "text", ("female", "male", "other")),
        _field("age_band", "trait", "text", AGE_BANDS),
        _field("region", "trait", "text"),
        _field("signed_up", "trait", "date"),
        _field("churn_risk", "score", "number"),
        _field("purchase_probability_7d", "score", "number"),
        _field("clv_12m", "score", "number"),
        _field("vip_lookalike", "score", "number"),
        _field("p_alive", "score", "number"),
        _field("revenue", "score", "number"),
        _field("r_score", "score", "number"),
        _field("f_score", "score", "number"),
        _field("m_score", "score", "number"),
        _field("top_category", "taste", "text"),
        _field("top_brand", "taste", "text"),
        _field("price_band", "taste", "text", PRICE_BANDS),
        _field("device", "habit", "text", DEVICES),
        _field("hour", "habit", "hour"),
        _field("buy_device", "habit", "text", DEVICES),
        _field("buy_hour", "habit", "hour"),
        _field("send_channel", "habit", "text", SEND_CHANNELS),
        _field("send_hour", "habit", "hour"),
    )
}

#: the consent channels of 정보통신망법 §50 (the consent ledger's names)
CONSENT_CHANNELS = ("email", "sms", "kakao", "app_push", "web_push")
CONSENT_PURPOSES = ("advertising", "night_advertising", "informational")


@dataclass(frozen=True)
class DefinitionWarning:
    """Something in a definition that is allowed but probably not meant (an event name the store
    has never seen), with the closest known names."""

    field: str
    reason: str
    suggestions: tuple[str, ...] = ()

    def __str__(self) -> str:
        hint = f" (did you mean {', '.join(self.suggestions)}?)" if self.suggestions else ""
        return f"{self.field}: {self.reason}{hint}"


# --- reading ------------------------------------------------------------------------------------


def _msgspec_error(exc: Exception) -> InvalidInputError:
    """A msgspec error as a field error, with the condition kinds listed when a kind is wrong."""
    error = schema_field_error(str(exc), "definition")
    if error.reason.startswith("invalid value") and error.field.endswith("kind"):
        error = FieldError(error.field, f"{error.reason}; kind is one of {', '.join(sorted(_KINDS))}")
    return InvalidInputError([error])


_KINDS = (
    "all",
    "any",
    "not",
    "event",
    "sequence",
    "profile",
    "consent",
    "in_segment",
    "moved",
    "in_saved_segment",
)


def parse_definition(data: bytes | str | Mapping[str, Any] | Definition) -> Definition:
    """A checked definition from JSON (bytes or text), a mapping (already parsed JSON or YAML) or
    a definition; raises ``InvalidInputError`` naming each bad field and why."""
    if isinstance(data, Definition):
        definition = data
    elif isinstance(data, bytes | str):
        raw = data.encode() if isinstance(data, str) else data
        if len(raw) > MAX_DEFINITION_BYTES:
            raise InvalidInputError(
                [FieldError("definition", f"larger than {MAX_DEFINITION_BYTES // 1024} KiB")]
            )
        try:
            definition = msgspec.json.decode(raw, type=Definition)
        except msgspec.ValidationError as exc:
            raise _msgspec_error(exc) from None
        except msgspec.DecodeError as exc:
            raise InvalidInputError([FieldError("definition", f"not valid JSON: {exc}")]) from None
        except RecursionError:
            raise _too_deep() from None
    elif isinstance(data, Mapping):
        try:
            definition = msgspec.convert(dict(data), type=Definition)
        except msgspec.ValidationError as exc:
            raise _msgspec_error(exc) from None
        except RecursionError:
            raise _too_deep() from None
    else:
        raise InvalidInputError([FieldError("definition", "expected a JSON object")])
    errors = check_definition(definition)
    if errors:
        raise InvalidInputError(errors)
    return definition


def _too_deep() -> InvalidInputError:
    return InvalidInputError([FieldError("conditions", f"nested too deeply (at most {MAX_DEPTH} levels)")])


def parse_yaml(text: str) -> Definition:
    """A checked definition from its YAML form (the same fields as JSON)."""
    try:
        data = load_yaml_mapping(
            text, root="definition", max_bytes=MAX_DEFINITION_BYTES, expected="name, conditions..."
        )
    except RecursionError:
        raise _too_deep() from None
    return parse_definition(_plain(data))


def _plain(value: Any) -> Any:
    """YAML reads ``2026-01-05`` as a date: give it back as the text the schema expects."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def to_json(definition: Definition) -> bytes:
    return msgspec.json.encode(definition)


def to_dict(definition: Definition) -> dict[str, Any]:
    """The definition as plain JSON-ready data (defaults left out)."""
    out: dict[str, Any] = msgspec.to_builtins(definition)
    return out


def to_yaml(definition: Definition) -> str:
    import yaml

    return yaml.safe_dump(to_dict(definition), allow_unicode=True, sort_keys=False)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a definition (for the API's documentation and editors)."""
    schema: dict[str, Any] = msgspec.json.schema(Definition)
    return schema


# --- checking -----------------------------------------------------------------------------------


def walk(condition: Condition, path: str, depth: int = 1) -> Iterator[tuple[Condition, str, int]]:
    """Every node under (and including) ``condition`` with its field path and depth."""
    yield condition, path, depth
    if isinstance(condition, AllOf | AnyOf):
        for i, child in enumerate(condition.conditions):
            yield from walk(child, f"{path}.conditions[{i}]", depth + 1)
    elif isinstance(condition, Not):
        yield from walk(condition.condition, f"{path}.condition", depth + 1)


def nodes(definition: Definition) -> Iterator[tuple[Condition, str, int]]:
    """Every condition node of ``definition`` with its field path (``conditions[2].condition``)."""
    for i, condition in enumerate(definition.conditions):
        yield from walk(condition, f"conditions[{i}]")


def check_definition(definition: Definition) -> list[FieldError]:
    """Every problem of a parsed definition that the types alone do not catch (limits, windows,
    regular expressions, operators against values), each with its field path."""
    errors: list[FieldError] = []
    add = lambda field, reason: errors.append(FieldError(field, reason))  # noqa: E731
    if definition.version != SCHEMA_VERSION:
        add("version", f"this shopmind reads version {SCHEMA_VERSION} definitions")
    _check_names(definition.name, "name", MAX_TEXT, add, required=True)
    if definition.description is not None:
        _check_names(definition.description, "description", MAX_DESCRIPTION, add, required=False)
    if not definition.conditions:
        add("conditions", "at least one condition is needed")
    for total, (node, path, depth) in enumerate(nodes(definition), 1):
        if total > MAX_CONDITIONS:
            add(
                "conditions",
                f"more than {MAX_CONDITIONS} conditions; split the segment or use saved segments",
            )
            return errors
        if depth > MAX_DEPTH:
            add(path, f"nested too deeply (at most {MAX_DEPTH} levels)")
            return errors
        _check_node(node, path, add)
    return errors


def _check_names(names: Names, field: str, limit: int, add: Any, *, required: bool) -> None:
    for lang in ("ko", "en"):
        text = getattr(names, lang)
        if text is not None and len(text) > limit:
            add(f"{field}.{lang}", f"at most {limit} characters")
    if required and not ((names.ko or "").strip() or (names.en or "").strip()):
        add(field, "a Korean (ko) or English (en) name is needed")


def _check_node(node: Condition, path: str, add: Any) -> None:
    if isinstance(node, AllOf | AnyOf):
        if not node.conditions:
            add(f"{path}.conditions", "at least one condition is needed")
    elif isinstance(node, Event):
        _check_step(node, path, add)
        if node.count is not None:
            _check_count(node.count, f"{path}.count", add)
        if node.window is not None:
            _check_window(node.window, f"{path}.window", add)
    elif isinstance(node, EventSequence):
        if not 2 <= len(node.steps) <= MAX_STEPS:
            add(f"{path}.steps", f"a sequence has 2 to {MAX_STEPS} steps")
        for i, step in enumerate(node.steps[:MAX_STEPS]):
            _check_step(step, f"{path}.steps[{i}]", add)
        if not 1 <= node.within_minutes <= MAX_SEQUENCE_MINUTES:
            add(f"{path}.within_minutes", f"must be 1 to {MAX_SEQUENCE_MINUTES} minutes (a week)")
        if node.window is not None:
            _check_window(node.window, f"{path}.window", add)
    elif isinstance(node, Profile):
        found = PROFILE_FIELDS.get(node.field)
        if found is None:
            add(f"{path}.field", f"unknown profile field{_closest(node.field, PROFILE_FIELDS)}")
            return
        _check_comparison(node.op, node.value, f"{path}", add, kind=found.type)
        if found.values and node.op in ("=", "!=", "in", "not_in"):
            values = node.value if isinstance(node.value, list) else [node.value]
            for value in values:
                if isinstance(value, str) and value not in found.values:
                    add(f"{path}.value", f"{value!r} is not one of {', '.join(found.values)}")
    elif isinstance(node, Consent):
        if node.channel not in CONSENT_CHANNELS:
            add(f"{path}.channel", f"unknown channel{_closest(node.channel, CONSENT_CHANNELS)}")
        if node.purpose not in CONSENT_PURPOSES:
            add(f"{path}.purpose", f"unknown purpose{_closest(node.purpose, CONSENT_PURPOSES)}")
    elif isinstance(node, InSegment):
        _check_text(node.segment, f"{path}.segment", add, required=True)
    elif isinstance(node, Moved):
        _check_text(node.from_, f"{path}.from", add, required=True)
        _check_text(node.to, f"{path}.to", add, required=True)
        if node.from_run is not None and node.from_run == node.to_run:
            add(f"{path}.to_run", "the two runs must differ")
    elif isinstance(node, InSavedSegment):
        _check_text(node.segment_id, f"{path}.segment_id", add, required=True)


def _closest(word: str, known: Any) -> str:
    import difflib

    near = difflib.get_close_matches(word, list(known), n=3, cutoff=0.5)
    return f" (known: {', '.join(near)}...)" if near else f"; one of {', '.join(known)}"


def _check_text(text: str | None, field: str, add: Any, *, required: bool = False) -> None:
    if text is None:
        return
    if required and not text.strip():
        add(field, "must not be empty")
    elif len(text) > MAX_TEXT:
        add(field, f"at most {MAX_TEXT} characters")


def _check_step(step: Step, path: str, add: Any) -> None:
    for name in ("type", "name", "page", "product", "category"):
        _check_text(getattr(step, name), f"{path}.{name}", add, required=True)
    if len(step.where) > MAX_CONDITIONS:
        add(f"{path}.where", f"at most {MAX_CONDITIONS} comparisons")
        return
    for i, where in enumerate(step.where):
        field = f"{path}.where[{i}]"
        _check_text(where.property, f"{field}.property", add, required=True)
        if not re.fullmatch(r"[A-Za-z0-9_가-힣][\w가-힣.\-]*", where.property):
            add(f"{field}.property", "letters, digits, _ - and . only (dots go into nested properties)")
        _check_comparison(where.op, where.value, field, add, kind=None)


def _check_comparison(op: str, value: Value, path: str, add: Any, *, kind: str | None) -> None:
    """``op`` against ``value`` (and the field's type, when known)."""
    field = f"{path}.value"
    if op == "exists":
        if value is not None:
            add(field, "exists takes no value")
        return
    if value is None:
        add(field, f"{op} needs a value")
        return
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            add(field, f"{op} needs a non-empty list")
            return
        if len(value) > MAX_VALUES:
            add(field, f"at most {MAX_VALUES} values")
            return
    elif op == "between":
        if not isinstance(value, list) or len(value) != 2:
            add(field, "between needs [low, high]")
            return
        low, high = value
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        dates = all(isinstance(v, str) and _date(v) is not None for v in value)
        if not (numbers or dates):
            add(field, "between needs two numbers or two dates")
            return
        if low > high:  # type: ignore[operator]
            add(field, f"low ({low}) is above high ({high})")
            return
    elif isinstance(value, list):
        add(field, f"{op} takes one value, not a list")
        return
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, str) and len(v) > MAX_TEXT:
            add(field, f"at most {MAX_TEXT} characters")
            return
    if op in _TEXT_OPS:
        if not isinstance(value, str) or not value:
            add(field, f"{op} needs a non-empty text")
            return
        if op == "regex":
            problem = regex_problem(value)
            if problem:
                add(field, problem)
        if kind in ("number", "bool", "hour"):
            add(f"{path}.op", f"{op} compares text; this field is a {kind}")
        return
    if kind in ("number", "hour") and any(
        isinstance(v, bool) or not isinstance(v, int | float) for v in values
    ):
        add(field, "must be a number" if len(values) == 1 else "must be numbers")
    elif kind == "hour" and any(not 0 <= float(v) <= 23 for v in values):
        add(field, "an hour is 0 to 23 (shop-local)")
    elif kind == "bool":
        if op not in ("=", "!="):
            add(f"{path}.op", "a yes/no field is compared with = or !=")
        elif not isinstance(value, bool):
            add(field, "must be true or false")
    elif kind == "date":
        for v in values:
            if not isinstance(v, str) or _date(v) is None:
                add(field, "must be an ISO date (2026-01-31)")
                return
    elif kind == "text" and op in _ORDERED_OPS:
        add(f"{path}.op", f"{op} compares numbers or dates; use =, !=, in, not_in, contains or regex")


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _instant(text: str, zone: str, *, end: bool) -> datetime | None:
    """A window bound as a UTC instant: an ISO date is the start of that shop-local day (of the
    next one for an end, so the end day is included); a date-time needs its UTC offset."""
    day = _date(text)
    if day is not None:
        start = datetime.combine(day + timedelta(days=1) if end else day, time(), ZoneInfo(zone))
        return start.astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def window_bounds(window: Between, zone: str = DEFAULT_SHOP_TZ) -> tuple[datetime, datetime]:
    """The [start, end) instants of a checked ``between`` window."""
    start, end = _instant(window.start, zone, end=False), _instant(window.end, zone, end=True)
    assert start is not None and end is not None, "checked by check_definition"
    return start, end


def _check_count(count: Count, path: str, add: Any) -> None:
    _check_text(count.distinct, f"{path}.distinct", add, required=True)
    for name in ("at_least", "at_most", "exactly"):
        n = getattr(count, name)
        if n is not None and not 0 <= n <= MAX_COUNT:
            add(f"{path}.{name}", f"must be 0 to {MAX_COUNT:,}")
            return
    if count.exactly is not None and (count.at_least is not None or count.at_most is not None):
        add(f"{path}.exactly", "exactly cannot be combined with at_least or at_most")
    elif count.at_least is not None and count.at_most is not None and count.at_least > count.at_most:
        add(f"{path}.at_most", f"at_most ({count.at_most}) is below at_least ({count.at_least})")


def _check_window(window: Window, path: str, add: Any) -> None:
    if isinstance(window, Last):
        if window.days < 0:
            add(f"{path}.days", "must not be negative")
        elif window.hours < 0:
            add(f"{path}.hours", "must not be negative")
        elif window.days > MAX_WINDOW_DAYS or window.hours > MAX_WINDOW_DAYS * 24:
            field = "days" if window.days > MAX_WINDOW_DAYS else "hours"
            add(f"{path}.{field}", f"longer than the {MAX_WINDOW_DAYS} days of history kept")
        elif window.days == 0 and window.hours == 0:
            add(f"{path}.days", "a window of the last 0 days holds nothing; give days (or hours) above 0")
        elif window.span() > timedelta(days=MAX_WINDOW_DAYS):
            add(f"{path}.days", f"longer than the {MAX_WINDOW_DAYS} days of history kept")
    elif isinstance(window, Between):
        start = _instant(window.start, DEFAULT_SHOP_TZ, end=False)
        end = _instant(window.end, DEFAULT_SHOP_TZ, end=True)
        bad = (
            "must be an ISO date (2026-01-31) or a date-time with its UTC offset (2026-01-31T09:00:00+09:00)"
        )
        if start is None:
            add(f"{path}.start", bad)
        if end is None:
            add(f"{path}.end", bad)
        if start is None or end is None:
            return
        if end <= start:
            add(f"{path}.end", f"the end ({window.end}) is before the start ({window.start})")
        elif end - start > timedelta(days=MAX_WINDOW_DAYS):
            add(f"{path}.end", f"the window is longer than the {MAX_WINDOW_DAYS} days of history kept")
    elif isinstance(window, SinceFirstVisit) and window.days is not None:
        if window.days < 1:
            add(f"{path}.days", "must be at least 1")
        elif window.days > MAX_WINDOW_DAYS:
            add(f"{path}.days", f"longer than the {MAX_WINDOW_DAYS} days of history kept")
