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


def shop_day(moment: datetime, zone: str | tzinfo = DEFAULT_SHOP_TZ) -> str:
    """``2026-04-01``: the shop's calendar day of ``moment`` (a naive moment is UTC, as stored), for
    messages: ``--as-of 2026-04-01`` is that day's midnight in the shop, 2026-03-31 in UTC."""
    return f"{_in_zone(moment, zone):%Y-%m-%d}"


def shop_time(moment: datetime, zone: str | tzinfo = DEFAULT_SHOP_TZ) -> str:
    """``2026-04-01 00:00 KST``: ``moment`` in the shop's zone, the zone named."""
    here = _in_zone(moment, zone)
    return f"{here:%Y-%m-%d %H:%M} {here.tzname()}"


def _in_zone(moment: datetime, zone: str | tzinfo) -> datetime:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone)
