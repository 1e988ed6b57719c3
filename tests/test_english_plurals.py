"""English nouns after a count take the plural unless the count is one ("1 order", "2 orders",
"0 orders"); Korean text is left alone (주문 1건). Used by the dashboard's English messages and by
the CLI's counts."""

from __future__ import annotations

import pytest

from shopmind.core import counted, plural, resolve_plurals
from shopmind.web._i18n import MESSAGES


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "1 order"),
        (0, "0 orders"),
        (2, "2 orders"),
        (1234, "1,234 orders"),
        (1.0, "1 order"),
        (-1, "-1 order"),
    ],
)
def test_counted_chooses_by_the_count(count: float, expected: str) -> None:
    assert counted(count, "order") == expected


def test_irregular_plurals_are_given() -> None:
    assert plural(1, "match", "matches") == "match"
    assert plural(3, "match", "matches") == "matches"
    assert counted(1, "VIP") == "1 VIP" and counted(60, "VIP") == "60 VIPs"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 order(s) · revenue ₩12,900", "1 order · revenue ₩12,900"),
        ("1,204 order(s) · revenue ₩12,900", "1,204 orders · revenue ₩12,900"),
        ("0 buyer(s)", "0 buyers"),
        ("1 unverified order(s)", "1 unverified order"),
        ("5 CLV VIP(s)", "5 CLV VIPs"),
        ("within 1 day(s)", "within 1 day"),
        ("2 match(es), 1 box(es)", "2 matches, 1 box"),
        ("1 customer(s) · 3 buyer(s) · 1 CLV VIP(s)", "1 customer · 3 buyers · 1 CLV VIP"),
        ("order(s)", "orders"),  # no count: the plural
        ("주문 1건 · 매출 ₩12,900", "주문 1건 · 매출 ₩12,900"),
    ],
)
def test_marked_nouns_follow_the_count_before_them(text: str, expected: str) -> None:
    assert resolve_plurals(text) == expected


def test_no_english_message_puts_a_bare_plural_after_a_count() -> None:
    """Every English message with a count before a noun marks the noun: "{n} orders" would read
    "1 orders" for one order (the customer page said so)."""
    import re

    bare = re.compile(
        r"\{\w+\} (?:(?!of )[A-Za-z-]+ )?(?:order|customer|buyer|day|VIP|visitor|item|product)s\b"
    )
    offenders = {key: en for key, (_, en) in MESSAGES.items() if bare.search(en)}
    assert not offenders, offenders
    filled = MESSAGES["c3.orders"][1].format(n="1", revenue="₩12,900")
    assert resolve_plurals(filled) == "1 order · revenue ₩12,900"
