"""How the command line writes times, money and numbers for a marketer: times in the shop's zone
with the zone named (the store keeps UTC), money with its symbol and thousands separators, and
no number in scientific notation."""

from __future__ import annotations

import math
import os
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shopmind.core import DEFAULT_SHOP_TZ, shop_day, shop_time

#: symbols of the currencies a Korean shop meets; any other is written with its ISO code
SYMBOLS = {"KRW": "₩", "USD": "$", "JPY": "¥", "EUR": "€", "GBP": "£", "CNY": "CN¥"}
#: currencies without minor units in everyday use
WHOLE = {"KRW", "JPY"}
#: score names (``scores.name``) that are amounts of money
MONEY_SCORES = frozenset({"clv_12m", "revenue", "monetary_value", "expected_average_spend"})


@cache
def shop_zone() -> str:
    """The shop's time zone: ``SHOPMIND_SHOP_TIMEZONE`` (Settings.shop_timezone), else Asia/Seoul.
    Read without building ``Settings`` (pydantic-settings costs a tenth of a second at start-up);
    a name that is no zone falls back to the default rather than failing a read command."""
    name = os.environ.get("SHOPMIND_SHOP_TIMEZONE") or DEFAULT_SHOP_TZ
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_SHOP_TZ
    return name


def local_time(moment: datetime, zone: str | None = None) -> str:
    """``2026-04-01 00:00 KST``: the moment in the shop's zone, the zone named (a naive moment
    is UTC, as the store keeps it, not the zone of the machine)."""
    return shop_time(moment, zone or shop_zone())


def local_date(moment: datetime, zone: str | None = None) -> str:
    """The shop's calendar day of the moment (``--as-of 2026-04-01`` is that day's midnight there)."""
    return shop_day(moment, zone or shop_zone())


def local_moment(value: datetime | date | None, zone: str | None = None) -> str:
    """A stored time or day for a table cell: a time in the shop's zone, a day as it is, else ''."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_time(value, zone)
    return value.isoformat()


def plain_number(value: float, digits: int = 4) -> str:
    """``digits`` significant digits, thousands separated, never in scientific notation."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def money(amount: float | None, currency: str = "KRW") -> str:
    """``₩10,240,000``; ``$12.50``; ``12.50 CHF`` for a currency without a known symbol."""
    if amount is None or not math.isfinite(amount):
        return "-"
    code = currency.upper()
    decimals = 0 if code in WHOLE else 2
    sign = "-" if amount < 0 else ""
    digits = f"{abs(amount):,.{decimals}f}"
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {code}"


def score_value(name: str, value: float | None, currency: str = "KRW") -> str:
    """A stored score as a marketer reads it: money as money, probabilities and risks in percent."""
    if value is None:
        return "-"
    if name in MONEY_SCORES:
        return money(value, currency)
    if name.startswith(("p_", "purchase_probability", "churn_risk", "vip_lookalike")) and 0 <= value <= 1:
        return f"{value:.0%}"
    return plain_number(value)
