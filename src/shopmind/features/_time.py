"""Shop-local days from stored UTC times, in a form every Ibis backend can run."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from shopmind.core import DEFAULT_SHOP_TZ


def utc_offset_hours(zone: str, at: datetime) -> float:
    """The zone's offset at ``at``; applied to every row, so in zones with daylight saving time a
    purchase within an hour of midnight may be counted on the neighbouring day (Asia/Seoul has none)."""
    offset = at.astimezone(ZoneInfo(zone)).utcoffset()
    return 0.0 if offset is None else offset.total_seconds() / 3600


def local_day(ts: ir.TimestampValue, zone: str = DEFAULT_SHOP_TZ, at: datetime | None = None) -> ir.DateValue:
    """The shop-local calendar day of a UTC timestamp column."""
    hours = utc_offset_hours(zone, at or datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")))
    return (ts + ibis.interval(minutes=round(hours * 60))).date()


def as_of_day(as_of: datetime, zone: str = DEFAULT_SHOP_TZ) -> date:
    """The last shop-local day observed before ``as_of`` (the day of ``as_of`` itself unless it is
    exactly midnight), so that ``as_of = 1997-10-01 00:00`` observes up to and including 1997-09-30,
    the convention of the buy-till-you-die papers' "end of calibration" date."""
    return (as_of.astimezone(ZoneInfo(zone)) - timedelta(microseconds=1)).date()
