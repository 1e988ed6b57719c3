"""Reading a declared input (a segment definition, a campaign) written as YAML: bounded in size,
without aliases (``*a`` repeats a node by reference, and a few lines of nested aliases — the
"billion laughs" — expand to billions of nodes once converted), and a mapping at the top."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shopmind.core._errors import FieldError, InvalidInputError


def load_yaml_mapping(text: str, *, root: str, max_bytes: int, expected: str) -> Mapping[str, Any]:
    """The mapping ``text`` holds; an InvalidInputError under ``root`` when it is too large, uses
    aliases, is not YAML or is not a mapping (``expected`` names its fields). A RecursionError
    (nesting too deep) is the caller's to name."""
    import yaml  # only the commands that read YAML pay for it

    if len(text.encode()) > max_bytes:
        raise InvalidInputError([FieldError(root, f"larger than {max_bytes // 1024} KiB")])
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise InvalidInputError([FieldError(root, "YAML aliases (*name) are not allowed")])
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError([FieldError(root, f"not valid YAML: {exc}")]) from None
    if not isinstance(data, Mapping):
        raise InvalidInputError([FieldError(root, f"expected a mapping ({expected})")])
    return data
