"""A segment definition in words, Korean or English, as a marketer reads it on the segment's page
and under the builder: one line per condition, nested where conditions are grouped.

Every code is shown by its name in the one catalogue (``core.LABELS`` and ``core.GLOSSARY``: event
types, devices, channels, segments, profile fields, event columns), Korean particles follow the
word they attach to (``core.with_particle``) and English counts take their plural by the number.
A name the catalogue does not hold (a shop's own event name, a category, a region) is the shop's
data and is shown as it is, quoted. Pure: no store, no clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from shopmind.core import GLOSSARY, LABELS, label, with_particle
from shopmind.segments._definition import (
    PROFILE_FIELDS,
    AllOf,
    AnyOf,
    Between,
    Condition,
    Consent,
    Count,
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
    Where,
    Window,
)

__all__ = ["Words", "field_name", "field_unit", "in_words", "segment_name", "value_name"]

#: scores kept as a share (0 to 1) and shown as a percentage
PERCENT_SCORES = frozenset({"churn_risk", "purchase_probability_7d", "vip_lookalike", "p_alive"})
#: scores kept in won
MONEY_SCORES = frozenset({"clv_12m", "revenue"})
#: the catalogue that names a text field's values
_VALUE_KINDS = {
    "gender": "gender",
    "age_band": "age_band",
    "price_band": "price_band",
    "device": "device",
    "buy_device": "device",
    "send_channel": "channel",
    "device_type": "device",
    "channel": "channel",
    "type": "event",
}


@dataclass(frozen=True)
class Words:
    """One line of a definition in words, and the lines it groups (``all``, ``any``, ``not`` of a
    group)."""

    text: str
    children: tuple[Words, ...] = ()

    def lines(self, indent: str = "  ", depth: int = 0) -> list[str]:
        """The line and its children as indented plain text."""
        out = [indent * depth + self.text]
        for child in self.children:
            out.extend(child.lines(indent, depth + 1))
        return out


def segment_name(key: str, lang: str) -> str:
    """An RFM or model segment's name (the glossary's); an unknown key as it is."""
    names = GLOSSARY.get(f"segment.{key}") or GLOSSARY.get(f"list.{key}")
    if names is None:
        return key
    return names[1] if lang == "en" else names[0]


def field_name(key: str, lang: str) -> str:
    """A profile field's name (``PROFILE_FIELDS``, which takes it from the catalogue)."""
    found = PROFILE_FIELDS.get(key)
    if found is None:
        return key
    return found.en if lang == "en" else found.ko


def field_unit(key: str) -> str:
    """How a score is written: ``%`` (a share, 0 to 1, shown and typed as a percentage), ``₩``
    (an amount) or nothing."""
    return "%" if key in PERCENT_SCORES else "₩" if key in MONEY_SCORES else ""


def _column_name(key: str, lang: str) -> str:
    """An event column's name; a property the shop sends (``properties.colour``) as it is."""
    plain = key.removeprefix("properties.")
    return label("event_field", plain, lang) if plain in LABELS["event_field"] else f"'{plain}'"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")


def value_name(field: str, value: object, lang: str) -> str:
    """A value of a profile field (or of an event column) as people read it: a percentage, an
    amount in won, an hour, a device's or gender's name; other text quoted as the shop wrote it."""
    if isinstance(value, bool):
        return ("yes" if value else "no") if lang == "en" else ("예" if value else "아니요")
    if isinstance(value, int | float):
        if field in PERCENT_SCORES:
            return f"{_number(round(100 * value, 2))}%"
        if field in MONEY_SCORES or field in ("price", "revenue"):
            return f"₩{_number(value)}"
        found = PROFILE_FIELDS.get(field)
        if found is not None and found.type == "hour":
            return f"{int(value)}:00" if lang == "en" else f"{int(value)}시"
        return _number(value)
    text = str(value)
    kind = _VALUE_KINDS.get(field)
    if kind is not None and text in LABELS[kind]:
        return label(kind, text, lang)
    if field == "signed_up":
        return text
    return f"'{text}'"


def _values(field: str, values: Sequence[object], lang: str) -> str:
    return ", ".join(value_name(field, v, lang) for v in values)


# -- counts and windows ------------------------------------------------------------------------


def _times(n: int, lang: str) -> str:
    if lang == "en":
        return "once" if n == 1 else "twice" if n == 2 else f"{n:,} times"
    return f"{n:,}회"


def _count(count: Count | None, lang: str) -> str:
    low, high = count.bounds() if count is not None else (1, None)
    if lang == "en":
        if high == 0:
            return "never"
        if high is None:
            return f"at least {_times(low, lang)}"
        if low == high:
            return f"exactly {_times(low, lang)}"
        return f"{low:,} to {high:,} times" if low else f"at most {_times(high, lang)}"
    if high == 0:
        return "없음"
    if high is None:
        return f"{_times(low, lang)} 이상"
    if low == high:
        return f"정확히 {_times(low, lang)}"
    return f"{low:,}~{high:,}회" if low else f"{_times(high, lang)} 이하"


def _span(days: int, hours: int, lang: str) -> str:
    if lang == "en":
        parts = [f"{days:,} day{'s' if days != 1 else ''}"] if days else []
        parts += [f"{hours:,} hour{'s' if hours != 1 else ''}"] if hours else []
        return " ".join(parts)
    return " ".join([f"{days:,}일"] * bool(days) + [f"{hours:,}시간"] * bool(hours))


def _moment(text: str) -> str:
    """A window's bound as written: a date as it is, a date-time without its seconds."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M (UTC%z)")
    except ValueError:
        return text


def _window(window: Window | None, lang: str) -> str:
    en = lang == "en"
    if window is None:
        return "ever" if en else "지금까지"
    if isinstance(window, Last):
        span = _span(window.days, window.hours, lang)
        return f"in the last {span}" if en else f"최근 {span} 동안"
    if isinstance(window, Between):
        start, end = _moment(window.start), _moment(window.end)
        return f"from {start} to {end}" if en else f"{start}부터 {end}까지"
    assert isinstance(window, SinceFirstVisit)
    if window.days is None:
        return "since their first visit" if en else "첫 방문 이후"
    span = _span(window.days, 0, lang)
    return f"within {span} of their first visit" if en else f"첫 방문 후 {span} 안에"


# -- events --------------------------------------------------------------------------------------


def _where(where: Where, lang: str) -> str:
    """One comparison of an event's column or property: ``배너가 'bn-autumn'``."""
    column = _column_name(where.property, lang)
    key = where.property.removeprefix("properties.")
    value = where.value
    values = value if isinstance(value, list) else [value]
    return _comparison(column, key, where.op, values, lang)


def _comparison(name: str, key: str, op: str, values: Sequence[object], lang: str) -> str:
    """``name`` compared by ``op`` with ``values``, in words (``key`` names the values' kind)."""
    first = value_name(key, values[0], lang) if values else ""
    en = lang == "en"
    subject = name if en else with_particle(name, "이/가")
    if op == "exists":
        return f"{name} is known" if en else f"{name} 정보 있음"
    if op == "=":
        return f"{name} is {first}" if en else f"{subject} {first}"
    if op == "!=":
        return f"{name} is not {first}" if en else f"{subject} {with_particle(first, '이/가')} 아님"
    if op == "between" and len(values) == 2:
        second = value_name(key, values[1], lang)
        return f"{name} is {first} to {second}" if en else f"{subject} {first}~{second}"
    if op in ("<", ">", "<=", ">="):
        words = {
            "<": ("below", "미만"),
            ">": ("above", "초과"),
            "<=": ("at most", "이하"),
            ">=": ("at least", "이상"),
        }[op]
        if key == "signed_up" or _is_date(values[0]):
            words = {
                "<": ("before", "전"),
                ">": ("after", "후"),
                "<=": ("on or before", "이전"),
                ">=": ("on or after", "이후"),
            }[op]
        return f"{name} is {words[0]} {first}" if en else f"{subject} {first} {words[1]}"
    if op == "in":
        listed = _values(key, values, lang)
        return f"{name} is one of {listed}" if en else f"{subject} {listed} 중 하나"
    if op == "not_in":
        listed = _values(key, values, lang)
        return f"{name} is none of {listed}" if en else f"{subject} {listed} 중 어느 것도 아님"
    if op == "contains":
        return f"{name} contains '{values[0]}'" if en else f"{name}에 '{values[0]}' 포함"
    if op == "regex":
        pattern = f"'{values[0]}'"
        return (
            f"{name} matches the pattern {pattern}"
            if en
            else f"{subject} 패턴 {with_particle(pattern, '과/와')} 일치"
        )
    return f"{name} {op} {first}"


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _step(step: Step, lang: str) -> str:
    """What an event must be, in words: ``'라면' 카테고리의 상품 조회``."""
    en = lang == "en"
    page_view = step.type == "page_view" and step.page is not None
    if page_view:
        what = f"page view of '{step.page}'" if en else f"'{step.page}' 페이지 조회"
    elif step.type is not None and step.type != "custom":
        what = label("event", step.type, lang)
        if what == step.type:  # a type the catalogue does not know: the shop's own
            what = f"'{step.type}' event" if en else f"'{step.type}' 이벤트"
        if step.name is not None:
            what = f"{what} '{step.name}'"
    elif step.name is not None:
        what = f"the '{step.name}' event" if en else f"'{step.name}' 이벤트"
    elif step.type == "custom":
        what = label("event", "custom", lang)
    else:
        what = "any activity" if en else "활동"
    details: list[str] = []
    if step.category is not None:
        details.append(f"in the category '{step.category}'" if en else f"'{step.category}' 카테고리의")
    if step.product is not None:
        details.append(f"of the product {step.product}" if en else f"상품 {step.product}의")
    if step.page is not None and not page_view:
        details.append(f"on pages at '{step.page}'" if en else f"'{step.page}' 페이지에서의")
    where = [_where(w, lang) for w in step.where]
    if en:
        out = " ".join([what, *details])
        return out + (f" where {' and '.join(where)}" if where else "")
    return " ".join([*details, what]) + (f"({', '.join(where)})" if where else "")


def _plural(noun: str) -> str:
    """An English noun's plural, for the catalogue's event columns (category → categories)."""
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def _distinct(count: Count, what: str, window: str, lang: str) -> str:
    """How many different values of a column the matching events carry (``distinct``)."""
    assert count.distinct is not None
    column = _column_name(count.distinct, lang)
    low, high = count.bounds()
    if lang == "en":
        known = count.distinct.removeprefix("properties.") in LABELS["event_field"]
        kinds = _plural(column) if known else f"values of {column}"
        if high is None:
            many = f"at least {low:,}"
        elif low == high:
            many = f"exactly {low:,}"
        else:
            many = f"{low:,} to {high:,}" if low else f"at most {high:,}"
        return f"{what} across {many} different {kinds} {window}"
    if high is None:
        many = f"{low:,}개 이상"
    elif low == high:
        many = f"정확히 {low:,}개"
    else:
        many = f"{low:,}~{high:,}개" if low else f"{high:,}개 이하"
    return f"{window} 서로 다른 {column} {many}에서 {what}"


def _event(node: Event, lang: str) -> str:
    window = _window(node.window, lang)
    what = _step(node, lang)
    if node.count is not None and node.count.distinct is not None:
        return _distinct(node.count, what, window, lang)
    count = _count(node.count, lang)
    if lang == "en":
        if count == "never":
            return f"{what}: never" + ("" if node.window is None else f" {window}")
        return f"{what} {count} {window}"
    return f"{window} {what} {count}"


def _sequence(node: EventSequence, lang: str) -> str:
    steps = [_step(s, lang) for s in node.steps]
    window = _window(node.window, lang)
    minutes = node.within_minutes
    if lang == "en":
        span = f"{minutes:,} minute{'s' if minutes != 1 else ''}"
        start = f", starting {window}" if node.window is not None else ""
        return f"{', then '.join(steps)}, all within {span} of the first{start}"
    return f"{window} {' → '.join(steps)} 순서로, 처음 행동 후 {minutes:,}분 안에"


# -- profiles, consent, segments -----------------------------------------------------------------


def _profile(node: Profile, lang: str) -> str:
    en = lang == "en"
    found = PROFILE_FIELDS.get(node.field)
    if found is not None and found.type == "bool" and node.op in ("=", "!=") and isinstance(node.value, bool):
        yes = node.value == (node.op == "=")
        if node.field == "member":
            return ("is a member" if yes else "is not a member") if en else ("회원" if yes else "비회원")
        if node.field == "buyer":
            return (
                ("has bought" if yes else "has never bought")
                if en
                else ("구매한 적 있음" if yes else "구매한 적 없음")
            )
    name = field_name(node.field, lang)
    value = node.value
    values: list[object] = list(value) if isinstance(value, list) else [value]
    return _comparison(name, node.field, node.op, values, lang)


def _consent(node: Consent, lang: str) -> str:
    channel = label("channel", node.channel, lang)
    purpose = label("consent_purpose", node.purpose, lang)
    # the purpose's name is the glossary's name of the consent itself ("advertising consent")
    if lang == "en":
        return f"{'has' if node.granted else 'has no'} {purpose} on {channel}"
    return f"{channel} {purpose} {'있음' if node.granted else '없음'}"


def _moved(node: Moved, lang: str) -> str:
    before, after = segment_name(node.from_, lang), segment_name(node.to, lang)
    en = lang == "en"
    if node.from_run is not None or node.to_run is not None:
        runs = (
            f" (runs {node.from_run or 'earlier'} and {node.to_run or 'latest'})"
            if en
            else f" (분석 {node.from_run or '직전'}, {node.to_run or '최근'})"
        )
    else:
        runs = " between the last two analysis runs" if en else ""
    if en:
        return f"moved from {before} to {after}{runs}"
    lead = "최근 두 번의 분석 사이에 " if not runs else ""
    target = with_particle(f"'{after}'", "으로/로")
    return f"{lead}'{before}'에서 {target} 이동함{runs}"


def _node(
    node: Condition,
    lang: str,
    saved: Callable[[str], str | None],
    segments: Callable[[str], str | None] = lambda _: None,
) -> Words:
    en = lang == "en"
    if isinstance(node, AllOf | AnyOf):
        text = (
            ("all of these:" if isinstance(node, AllOf) else "at least one of these:")
            if en
            else ("다음을 모두 만족:" if isinstance(node, AllOf) else "다음 중 하나 이상 만족:")
        )
        return Words(text, tuple(_node(c, lang, saved, segments) for c in node.conditions))
    if isinstance(node, Not):
        inner = _node(node.condition, lang, saved, segments)
        lead = "Not: " if en else "제외: "
        return Words(lead + inner.text, inner.children)
    if isinstance(node, Event):
        return Words(_event(node, lang))
    if isinstance(node, EventSequence):
        return Words(_sequence(node, lang))
    if isinstance(node, Profile):
        return Words(_profile(node, lang))
    if isinstance(node, Consent):
        return Words(_consent(node, lang))
    if isinstance(node, InSegment):
        name = segments(node.segment) or segment_name(node.segment, lang)
        return Words(f"in the segment '{name}' now" if en else f"지금 '{name}' 세그먼트에 속함")
    if isinstance(node, Moved):
        return Words(_moved(node, lang))
    assert isinstance(node, InSavedSegment)
    name = saved(node.segment_id) or node.segment_id
    return Words(f"a member of the saved segment '{name}'" if en else f"저장한 세그먼트 '{name}'의 고객")


def _capitalised(words: Words) -> Words:
    return Words(words.text[:1].upper() + words.text[1:], tuple(_capitalised(c) for c in words.children))


def in_words(
    definition: Definition,
    lang: str = "ko",
    saved_names: Mapping[str, str] | None = None,
    segment_names: Mapping[str, str] | None = None,
) -> Words:
    """``definition`` in words: a heading line (all or any of the conditions) and a line per
    condition. ``saved_names``: the names of saved segments a condition refers to, by id;
    ``segment_names``: names of segments the glossary does not know (a run's personas), by key."""
    names = saved_names or {}
    found = segment_names or {}
    lines = tuple(_node(c, lang, names.get, found.get) for c in definition.conditions)
    if lang == "en":  # each line reads as a sentence of its own
        lines = tuple(_capitalised(w) for w in lines)
    one, every = len(lines) == 1, definition.match == "all"
    if lang == "en":
        heading = (
            "Customers who meet this condition:"
            if one
            else "Customers who meet all of these conditions:"
            if every
            else "Customers who meet at least one of these conditions:"
        )
    else:
        heading = (
            "다음 조건을 만족하는 고객:"
            if one
            else "다음 조건을 모두 만족하는 고객:"
            if every
            else "다음 조건 중 하나 이상을 만족하는 고객:"
        )
    return Words(heading, lines)
