"""Rules both event validators apply (the full one and the fast path for the common shapes):
limits, what a type name means, clock-skew correction and the id of an event sent without one."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from shopmind.core import FieldError, InvalidEventError
from shopmind.events._types import TYPE_ALIASES, EventType

MAX_EVENT_BYTES = 32 * 1024


@dataclass(frozen=True)
class NumberLimits:
    """The largest money and quantity an event may carry: every number a browser sends can be a
    lie (one order of 1e308 won × 100,000 made the dashboard's revenue infinite). Larger values,
    and non-finite ones, are refused naming the field. Shops set their own with
    ``SHOPMIND_MAX_UNIT_PRICE``, ``SHOPMIND_MAX_QUANTITY`` and ``SHOPMIND_MAX_ORDER_VALUE``."""

    max_unit_price: float = 1_000_000_000.0  # 10억: above any single item a shop sells
    max_quantity: int = 100_000
    max_order_value: float = 10_000_000_000.0  # 100억

    def price_error(self, value: float) -> str | None:
        if not math.isfinite(value) or value < 0:
            return f"must be a finite number >= 0, not {value!r}"
        if value > self.max_unit_price:
            return f"{value:,.0f} is above the limit of {self.max_unit_price:,.0f} per unit"
        return None

    def order_value_error(self, value: float) -> str | None:
        if not math.isfinite(value) or value < 0:
            return f"the order's value must be a finite number >= 0, not {value!r}"
        if value > self.max_order_value:
            return f"the order's value {value:,.0f} is above the limit of {self.max_order_value:,.0f}"
        return None


NUMBER_LIMITS = NumberLimits()
FUTURE_TOLERANCE = timedelta(minutes=5)
_ONE_SECOND = timedelta(seconds=1)  # a smaller clock difference is taken as the network's

#: Top-level keys of the common tracking APIs that carry nothing shopmind keeps.
IGNORED_KEYS = frozenset({"integrations", "version", "writeKey", "receivedAt", "originalTimestamp"})


def resolve_type(declared: str, event: str | None, name: str | None) -> tuple[EventType, str | None]:
    """The event type and the event's name from its ``type``, ``event`` and ``name`` (stripped)."""
    raw = declared.strip().lower()
    if raw == "track":
        named = event or name
        if named is None:
            raise InvalidEventError([FieldError("event", "a 'track' call needs the event name")])
        known = TYPE_ALIASES.get(named.strip().lower())
        if known is None:
            try:
                return EventType(named.strip().lower()), None
            except ValueError:
                return EventType.CUSTOM, named
        return known, None
    if raw in TYPE_ALIASES:
        return TYPE_ALIASES[raw], name
    try:
        kind = EventType(raw)
    except ValueError:
        expected = ", ".join(t.value for t in EventType)
        raise InvalidEventError(
            [FieldError("type", f"unknown event type {declared!r}; expected one of: {expected}, track")]
        ) from None
    if kind is EventType.CUSTOM:
        named = event or name
        if not named:
            raise InvalidEventError([FieldError("event", "a custom event needs its name in 'event'")])
        return kind, named
    return kind, name  # e.g. the page's name on a page view


def aware(value: datetime | None) -> datetime | None:
    """``value`` in UTC; a time without an offset is taken as UTC, as the common tracking APIs do."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def correct_event_time(
    timestamp: datetime | None,
    sent_at: datetime | None,
    received_at: datetime,
    tolerance: timedelta = FUTURE_TOLERANCE,
) -> tuple[datetime, str | None]:
    """The event time corrected for the client's clock error, and a flag saying what was done."""
    if timestamp is None:
        return received_at, "server_time"
    flag = None
    corrected = timestamp
    if sent_at is not None:
        skew = received_at - sent_at
        if abs(skew) > _ONE_SECOND:
            try:
                corrected = timestamp + skew
            except OverflowError:  # e.g. a timestamp in year 1105 from a clock 6,000 years ahead
                return received_at, "out_of_range"
            flag = "skew_corrected"
    if corrected > received_at + tolerance:
        return received_at, "future_clamped"
    return corrected, flag


def content_message_id(raw: Mapping[str, Any]) -> str:
    """A stable id for an event that came without one, so a re-sent copy is still stored once."""
    digest = hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
    return "h-" + digest[:32]
