"""Checks on the regular expressions a segment definition may carry.

DuckDB runs ``regexp_matches`` with RE2, which matches in time linear in the text and does not
backtrack, so a pattern such as ``(a+)+$`` cannot hang the engine the way it hangs a backtracking
matcher (Python's ``re``, Java, JavaScript). The checks are still made, for three reasons: the same
definition may later run on an engine that backtracks (Spark's Java regex; a live evaluator in
Python), a pattern RE2 refuses (back-references, look-around) should be refused when the segment is
saved rather than fail when it is counted, and a short pattern bounds the work per row.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# the standard library's own parser of patterns (private but stable since 3.11; the public
# sre_parse name warns): the checks walk the tree it builds
sre_parse: Any = importlib.import_module("re._parser")
sre_constants: Any = importlib.import_module("re._constants")

MAX_PATTERN_LENGTH = 200
#: repeats of repeats beyond this bound are treated as unbounded ((a{1,100}){1,100} backtracks too)
_BIG_REPEAT = 10
#: RE2 refuses a counted repeat above this (a{1001})
_MAX_COUNT = 1000
_REPEATS = {
    sre_constants.MAX_REPEAT,
    sre_constants.MIN_REPEAT,
    getattr(sre_constants, "POSSESSIVE_REPEAT", None),
}


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is refused (too long, not a regular expression, a feature RE2 lacks, or a
    quantifier inside a quantifier that makes a backtracking matcher take exponential time), or
    None when it is fine."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"a regular expression may be at most {MAX_PATTERN_LENGTH} characters (this one has {len(pattern)})"
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"not a valid regular expression: {exc}"
    return _walk(parsed, inside_repeat=False)


def _is_big(high: Any) -> bool:
    return high is sre_constants.MAXREPEAT or (isinstance(high, int) and high > _BIG_REPEAT)


def _walk(items: Any, inside_repeat: bool) -> str | None:
    for op, arg in items:
        if op is sre_constants.GROUPREF or op is sre_constants.GROUPREF_EXISTS:
            return "back-references are not supported (the engine's RE2 matcher has none)"
        if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            return "look-ahead and look-behind are not supported (the engine's RE2 matcher has none)"
        if op is getattr(sre_constants, "POSSESSIVE_REPEAT", None):
            return "possessive quantifiers (a*+) are not supported (the engine's RE2 matcher has none)"
        if op is getattr(sre_constants, "ATOMIC_GROUP", None):
            return "atomic groups (?>...) are not supported (the engine's RE2 matcher has none)"
        if op in _REPEATS:
            low, high, body = arg
            if max(low, 0 if high is sre_constants.MAXREPEAT else high) > _MAX_COUNT:
                return f"a repeat count above {_MAX_COUNT} is not supported (the engine's RE2 matcher)"
            big = _is_big(high)
            if big and inside_repeat:
                return (
                    "a repeated group inside a repeated group, such as (a+)+, can take exponential time "
                    "on a backtracking matcher; write it without the nesting"
                )
            found = _walk(body, inside_repeat or big)
            if found:
                return found
            if big and _overlapping_branches(body):
                return (
                    "a repeated choice whose branches can match the same text, such as (a|a)*, "
                    "can take exponential time on a backtracking matcher"
                )
        elif op is sre_constants.SUBPATTERN:
            found = _walk(arg[-1], inside_repeat)
            if found:
                return found
        elif op is sre_constants.BRANCH:
            for branch in arg[1]:
                found = _walk(branch, inside_repeat)
                if found:
                    return found
    return None


def _overlapping_branches(body: Any) -> bool:
    """A choice under a repeat with two branches that can match the same text: an empty branch
    (the parser factors ``(a|a)`` into ``a(|)``), two branches starting with the same literal, or
    a branch starting with anything else (a class, a dot, a group: assumed to overlap). Cheap and
    conservative."""
    for op, arg in body:
        if op is sre_constants.SUBPATTERN and _overlapping_branches(arg[-1]):
            return True
        if op is sre_constants.BRANCH:
            firsts: list[Any] = []
            for branch in arg[1]:
                if not branch:
                    return True
                first_op, first_arg = branch[0]
                if first_op is not sre_constants.LITERAL or first_arg in firsts:
                    return True
                firsts.append(first_arg)
    return False
