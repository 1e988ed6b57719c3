"""The shop's time zone. Stored times are UTC; business rules use the shop's zone."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_SHOP_TZ = "Asia/Seoul"


def to_utc(value: datetime, assume: str | tzinfo = DEFAULT_SHOP_TZ) -> datetime:
    """Return ``value`` in UTC; a naive value is taken to be in ``assume``."""
    if value.tzinfo is None:
        zone = ZoneInfo(assume) if isinstance(assume, str) else assume
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)
