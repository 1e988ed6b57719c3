"""A campaign written as YAML (the same fields as JSON; see ``_campaign``), read and written back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import msgspec

from shopmind.activation._campaign import MAX_CAMPAIGN_BYTES, Campaign, parse_campaign
from shopmind.core import load_yaml_mapping


def parse_campaign_yaml(text: str) -> Campaign:
    """A checked campaign from YAML; InvalidInputError naming each bad field and why."""
    data = load_yaml_mapping(
        text, root="campaign", max_bytes=MAX_CAMPAIGN_BYTES, expected="name, audience, steps, ..."
    )
    return parse_campaign(msgspec.json.encode(_plain(data)))


def _plain(value: Any) -> Any:
    """YAML reads ``2026-12-06T10:00:00+09:00`` as a datetime: back to the text JSON carries."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def campaign_yaml(campaign: Campaign) -> str:
    """The campaign as YAML (defaults written out: what will happen is all there)."""
    import yaml

    return yaml.safe_dump(_without_nulls(msgspec.to_builtins(campaign)), allow_unicode=True, sort_keys=False)


def _without_nulls(value: Any) -> Any:
    """Fields left unset (a subject on a text message) are not written."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
