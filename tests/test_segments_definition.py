"""The segment definition schema: read from JSON and YAML, written back unchanged, and every bad
definition refused with the field's path and the reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shopmind.core import InvalidInputError
from shopmind.segments import (
    AllOf,
    Event,
    EventSequence,
    Last,
    Moved,
    Not,
    Profile,
    json_schema,
    parse_definition,
    parse_yaml,
    regex_problem,
    to_dict,
    to_json,
    to_yaml,
)

NAME = {"ko": "배너를 보고 누르지 않은 고객", "en": "Saw the banner, did not click"}
BANNER = [{"property": "banner_id", "value": "bn-winter-sale"}]
GOOD: dict[str, Any] = {
    "name": NAME,
    "description": {
        "ko": "겨울 세일 배너를 보고도 누르지 않은 고객",
        "en": "Saw the winter sale banner only",
    },
    "conditions": [
        {
            "kind": "event",
            "type": "banner_impression",
            "where": BANNER,
            "window": {"kind": "last", "days": 30},
        },
        {"kind": "not", "condition": {"kind": "event", "type": "banner_click", "where": BANNER}},
        {"kind": "profile", "field": "purchase_probability_7d", "op": "between", "value": [0.3, 0.6]},
        {
            "kind": "sequence",
            "steps": [{"type": "product_view"}, {"type": "cart_add"}],
            "within_minutes": 30,
        },
        {"kind": "moved", "from": "vip", "to": "dormant_vip"},
        {
            "kind": "any",
            "conditions": [
                {"kind": "consent", "channel": "sms"},
                {"kind": "in_segment", "segment": "vip"},
                {"kind": "event", "name": "문의하기 클릭", "count": {"at_least": 2}},
            ],
        },
    ],
}


def errors_of(data: Any) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        parse_definition(data if isinstance(data, str) else json.dumps(data))
    return [str(e) for e in caught.value.errors]


def with_conditions(*conditions: Any) -> dict[str, Any]:
    return {"name": NAME, "conditions": list(conditions)}


def test_json_and_yaml_round_trip() -> None:
    definition = parse_definition(json.dumps(GOOD))
    assert isinstance(definition.conditions[0], Event)
    assert definition.conditions[0].window == Last(days=30)
    assert isinstance(definition.conditions[1], Not)
    assert isinstance(definition.conditions[3], EventSequence)
    assert definition.conditions[4] == Moved(from_="vip", to="dormant_vip")
    assert isinstance(definition.root, AllOf)
    assert parse_definition(to_json(definition)) == definition
    assert parse_definition(to_dict(definition)) == definition
    assert parse_yaml(to_yaml(definition)) == definition
    assert to_dict(definition)["conditions"][4]["from"] == "vip"  # the JSON name, not from_
    assert definition.name.text("en") == NAME["en"]


def test_yaml_dates_and_korean() -> None:
    text = """
name: {ko: 1월에 노트북을 본 고객}
conditions:
  - kind: event
    type: product_view
    category: 노트북
    window: {kind: between, start: 2026-01-01, end: 2026-01-31}
"""
    definition = parse_yaml(text)
    condition = definition.conditions[0]
    assert isinstance(condition, Event) and condition.category == "노트북"
    assert condition.window is not None and condition.window.start == "2026-01-01"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (
            [{"kind": "event", "window": {"kind": "last", "days": -3}}],
            "conditions[0].window.days: must not be negative",
        ),
        (
            [{"kind": "event", "window": {"kind": "last", "days": "7"}}],
            "conditions[0].window.days: expected `int`",
        ),
        (
            [
                {"kind": "event"},
                {"kind": "event"},
                {"kind": "event", "window": {"kind": "last", "days": 4000}},
            ],
            "conditions[2].window.days: longer than the",
        ),
        (
            [{"kind": "event", "window": {"kind": "between", "start": "2026-02-01", "end": "2026-01-01"}}],
            "conditions[0].window.end: the end (2026-01-01) is before the start",
        ),
        (
            [
                {
                    "kind": "event",
                    "window": {"kind": "between", "start": "2026-01-01T10:00", "end": "2026-01-02"},
                }
            ],
            "conditions[0].window.start: must be an ISO date",
        ),
        ([{"kind": "event", "colour": "red"}], "conditions[0].colour: unknown field"),
        ([{"kind": "evnt"}], "conditions[0].kind: invalid value 'evnt'"),
        (
            [{"kind": "sequence", "steps": [{"type": "a"}], "within_minutes": 5}],
            "conditions[0].steps: a sequence has 2",
        ),
        (
            [{"kind": "sequence", "steps": [{"type": "a"}, {"type": "b"}], "within_minutes": 0}],
            "conditions[0].within_minutes: must be 1 to",
        ),
        (
            [{"kind": "event", "where": [{"property": "page_url", "op": "regex", "value": "(a+)+$"}]}],
            "conditions[0].where[0].value: a repeated group inside a repeated group",
        ),
        (
            [{"kind": "event", "where": [{"property": "page_url", "op": "regex", "value": "(?<=x)y"}]}],
            "conditions[0].where[0].value: look-ahead and look-behind are not supported",
        ),
        (
            [{"kind": "event", "where": [{"property": "price", "op": "in", "value": 3}]}],
            "conditions[0].where[0].value: in needs a non-empty list",
        ),
        (
            [{"kind": "profile", "field": "churn_rsk", "op": ">", "value": 0.5}],
            "conditions[0].field: unknown profile field (known: churn_risk",
        ),
        (
            [{"kind": "profile", "field": "churn_risk", "op": ">", "value": "high"}],
            "conditions[0].value: must be a number",
        ),
        (
            [{"kind": "profile", "field": "hour", "op": "between", "value": [18, 25]}],
            "conditions[0].value: an hour is 0 to 23",
        ),
        (
            [{"kind": "profile", "field": "device", "value": "phone"}],
            "conditions[0].value: 'phone' is not one of mobile",
        ),
        (
            [{"kind": "profile", "field": "region", "op": ">", "value": "서울"}],
            "conditions[0].op: > compares numbers or dates",
        ),
        (
            [{"kind": "profile", "field": "churn_risk", "op": "between", "value": [0.6, 0.3]}],
            "conditions[0].value: low (0.6) is above high (0.3)",
        ),
        (
            [{"kind": "event", "count": {"at_least": 3, "at_most": 1}}],
            "conditions[0].count.at_most: at_most (1) is below at_least (3)",
        ),
        (
            [{"kind": "event", "count": {"exactly": 2, "at_least": 1}}],
            "conditions[0].count.exactly: exactly cannot be combined",
        ),
        ([{"kind": "consent", "channel": "fax"}], "conditions[0].channel: unknown channel"),
        ([{"kind": "any", "conditions": []}], "conditions[0].conditions: at least one condition is needed"),
        ([{"kind": "not"}], "conditions[0].condition: required"),
        ([], "conditions: at least one condition is needed"),
    ],
)
def test_bad_definitions_name_the_field(conditions: list[Any], expected: str) -> None:
    found = errors_of(with_conditions(*conditions))
    assert any(e.startswith(expected) for e in found), found


def test_limits() -> None:
    assert errors_of(with_conditions(*[{"kind": "event", "type": "page_view"}] * 10_000)) == [
        "definition: larger than 256 KiB"
    ]
    many = errors_of(with_conditions(*[{"kind": "event"}] * 101))
    assert many == ["conditions: more than 100 conditions; split the segment or use saved segments"]
    nested: dict[str, Any] = {"kind": "event"}
    for _ in range(6):
        nested = {"kind": "not", "condition": nested}
    assert errors_of(with_conditions(nested))[0].endswith("nested too deeply (at most 6 levels)")
    deep = (
        '{"name": {"ko": "a"}, "conditions": ['
        + '{"kind":"not","condition":' * 5000
        + "{}"
        + "}" * 5000
        + "]}"
    )
    assert "nested too deeply" in errors_of(deep)[0]


def test_malformed_input() -> None:
    assert errors_of("{")[0].startswith("definition: not valid JSON")
    assert errors_of("[]") == ["definition: expected `object`, got `array`"]
    assert errors_of({"conditions": [{"kind": "event"}]}) == ["name: required"]
    assert errors_of({"name": {}, "conditions": [{"kind": "event"}]}) == [
        "name: a Korean (ko) or English (en) name is needed"
    ]
    with pytest.raises(InvalidInputError, match="YAML aliases"):
        parse_yaml("name: &n {ko: a}\nconditions: [{kind: event}]\nother: *n\n")
    with pytest.raises(InvalidInputError, match="expected a mapping"):
        parse_yaml("- 1\n- 2\n")


def test_regex_checks() -> None:
    for fine in ("^/product/[0-9]+$", "(foo|bar)+", "^(문의|상담)하기$", "a{1,5}b+"):
        assert regex_problem(fine) is None, fine
    for bad in (
        "(a+)+$",
        "(\\w+\\s?)*$",
        "(a|a)*",
        "(a|ab)*",
        "((ab)*)*",
        "(.*a){12}",
        "(a)\\1",
        "(",
        "x" * 201,
    ):
        assert regex_problem(bad) is not None, bad


def test_profile_condition_defaults() -> None:
    definition = parse_definition(with_conditions({"kind": "profile", "field": "member", "value": True}))
    assert definition.conditions[0] == Profile(field="member", op="=", value=True)


def test_json_schema_names_every_kind() -> None:
    schema = json.dumps(json_schema())
    for kind in (
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
    ):
        assert f'"{kind}"' in schema


def test_the_documented_examples_are_valid() -> None:
    """Every JSON and YAML example of docs/segments.md (and of the README's Segments section) is a
    definition."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    docs = (root / "docs" / "segments.md").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    # (other sections' YAML is other things: a campaign)
    readme = readme.split("\n## Segments\n", 1)[1].split("\n## ", 1)[0]
    json_blocks = re.findall(r"```json\n(.*?)```", docs, flags=re.S)
    yaml_blocks = re.findall(r"```yaml\n(.*?)```", docs + readme, flags=re.S)
    assert len(json_blocks) >= 1 and len(yaml_blocks) >= 6
    for block in json_blocks:
        assert parse_definition(block).conditions
    for block in yaml_blocks:
        assert parse_yaml(block).conditions
