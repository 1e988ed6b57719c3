"""A declared schema's error message (msgspec's ``Expected `int`, got `str` - at `$.steps[2].wait_hours```)
as a field error (``steps[2].wait_hours``: expected `int`, got `str`), so every msgspec-declared input
(segment definitions, campaigns) names the field and the reason the same way."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from shopmind.core._errors import FieldError, InvalidInputError

T = TypeVar("T")

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


def decode_declared(
    data: bytes | str | Mapping[str, Any] | T,
    kind: type[T],
    *,
    root: str,
    max_bytes: int,
    check: Callable[[T], list[FieldError]],
) -> T:
    """A checked ``kind`` (a msgspec struct) from JSON text, a mapping (parsed JSON or YAML) or a
    ``kind`` itself: ``InvalidInputError`` names each bad field and why (the schema's first, else
    every one ``check`` finds); text above ``max_bytes`` is refused before it is parsed."""
    try:
        if isinstance(data, kind):
            value = data
        elif isinstance(data, bytes | str):
            raw = data.encode() if isinstance(data, str) else data
            if len(raw) > max_bytes:
                raise InvalidInputError([FieldError(root, f"larger than {max_bytes // 1024} KiB")])
            value = msgspec.json.decode(raw, type=kind)
        elif isinstance(data, Mapping):
            value = msgspec.convert(dict(data), type=kind)
        else:
            raise InvalidInputError([FieldError(root, "expected a JSON object")])
    except msgspec.ValidationError as exc:
        raise InvalidInputError([schema_field_error(str(exc), root)]) from None
    except msgspec.DecodeError as exc:
        raise InvalidInputError([FieldError(root, f"not valid JSON: {exc}")]) from None
    errors = check(value)
    if errors:
        raise InvalidInputError(errors)
    return value
