"""English nouns after a count: "1 order", "2 orders", "0 orders". Korean needs no plural (주문 1건,
주문 2건), so only English text goes through here.

In a message, a noun that follows a count is written with its plural ending in parentheses,
``"{n} order(s)"``, ``"{n} unverified order(s)"``, ``"{n} match(es)"``; :func:`resolve_plurals`
then keeps the ending or drops it by the number before the noun, once the count is filled in.
"""

from __future__ import annotations

import re

__all__ = ["counted", "plural", "resolve_plurals"]

# a number ("1", "1,234", "2.5", "-1"), up to two words, then the noun with its "(s)"/"(es)"
_COUNTED = re.compile(
    r"(?P<number>-?\d[\d,]*(?:\.\d+)?)(?P<between>\s+(?:[A-Za-z][\w-]*\s+){0,2})"
    r"(?P<noun>[A-Za-z][\w-]*)\((?P<ending>e?s)\)"
)
_LEFT = re.compile(r"(?P<noun>[A-Za-z][\w-]*)\((?P<ending>e?s)\)")


def _is_one(count: float) -> bool:
    return abs(count) == 1


def plural(count: float, singular: str, plural_form: str | None = None) -> str:
    """The noun for ``count``: ``singular`` for one (or minus one), else ``plural_form`` (default
    ``singular + "s"``); zero takes the plural, as English does ("0 orders")."""
    return singular if _is_one(count) else (plural_form or singular + "s")


def counted(count: float, singular: str, plural_form: str | None = None) -> str:
    """``"1 order"``, ``"1,234 orders"``: the count with thousands separators and its noun."""
    number = f"{int(count):,}" if float(count).is_integer() else f"{count:,.2f}"
    return f"{number} {plural(count, singular, plural_form)}"


def resolve_plurals(text: str) -> str:
    """Every ``noun(s)`` / ``noun(es)`` of ``text`` in the form the count before it takes:
    "1 order(s)" → "1 order", "3 unverified order(s)" → "3 unverified orders". A marked noun
    without a count before it takes the plural."""

    def choose(match: re.Match[str]) -> str:
        count = float(match.group("number").replace(",", ""))
        ending = "" if _is_one(count) else match.group("ending")
        return f"{match.group('number')}{match.group('between')}{match.group('noun')}{ending}"

    text = _COUNTED.sub(choose, text)
    return _LEFT.sub(lambda m: m.group("noun") + m.group("ending"), text)
