"""A declared schema's error message (msgspec's ``Expected `int`, got `str` - at `$.steps[2].wait_hours```)
as a field error (``steps[2].wait_hours``: expected `int`, got `str`), so every msgspec-declared input
(segment definitions, campaigns) names the field and the reason the same way."""

from __future__ import annotations

import re

from shopmind.core._errors import FieldError

_AT = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def schema_field_error(text: str, root: str) -> FieldError:
    """The field error a schema's message names; ``root`` when it names no field."""
    found = _AT.match(text)
    reason, path = (found.group("reason"), found.group("path") or "") if found else (text, "")
    path = path.lstrip(".")
    # a missing or unknown field is reported at its parent: name the field itself
    for pattern, said in (
        (r"Object missing required field `([^`]+)`", "required"),
        (r"Object contains unknown field `([^`]+)`", "unknown field"),
    ):
        named = re.match(pattern, reason)
        if named:
            path = f"{path}.{named.group(1)}" if path else named.group(1)
            reason = said
    if reason:
        reason = reason[0].lower() + reason[1:]
    return FieldError(path or root, reason)
