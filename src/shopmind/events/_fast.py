"""The fast path of event validation: the shapes trackers send most (page views, product views,
cart changes, searches, orders, banner and message events, identify, alias and custom events,
with their context) checked by plain Python instead of pydantic, about ten times faster.

It answers either the very ``Event`` the full validation (``events._validation``) returns, or
None: for anything it is not sure of (an invalid value, an unusual type, snake_case keys, contact
data under any usual key, ...) it gives up and the full validation decides, so errors and their messages
always come from one place. ``tests/test_event_fast_path.py`` checks the equality on generated
events.

Every check mirrors a rule of the full validation's models: strings (and the keys of
``properties`` and ``traits``) are taken only when they have no surrounding white space (the
models strip it) and fit the length limits; numbers only of the exact types the models accept
without conversion (``int`` also for prices, as ``float``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

import orjson

from shopmind.core import DEFAULT_PERSONAL_FIELDS, InvalidEventError, PersonalFields
from shopmind.core._personal import Found
from shopmind.events._model import Event, OrderLine
from shopmind.events._rules import (
    IGNORED_KEYS,
    NUMBER_LIMITS,
    NumberLimits,
    aware,
    content_message_id,
    correct_event_time,
    resolve_type,
)
from shopmind.events._types import CHANNELS, DEVICE_TYPES, EventType

#: Top-level keys the fast path knows (the camelCase ones; snake_case aliases take the full path).
_KEYS = frozenset(
    {
        "messageId",
        "type",
        "event",
        "name",
        "anonymousId",
        "userId",
        "previousId",
        "sessionId",
        "timestamp",
        "sentAt",
        "context",
        "properties",
        "traits",
    }
)
_PRODUCT_FIELDS = frozenset({"product_id", "category", "price", "quantity"})
_ORDER_FIELDS = frozenset({"order_id", "products", "revenue", "currency"})
_CURRENCY = re.compile(r"[A-Z]{3}")
_PRODUCT_TYPES = frozenset({EventType.PRODUCT_VIEW, EventType.CART_ADD, EventType.CART_REMOVE})
_BANNER_TYPES = frozenset({EventType.BANNER_IMPRESSION, EventType.BANNER_CLICK})
_MESSAGE_TYPES = frozenset({EventType.MESSAGE_OPEN, EventType.MESSAGE_CLICK})
_DEVICE_TYPES = frozenset(DEVICE_TYPES)
_CHANNELS = frozenset(CHANNELS)
_FLAT = frozenset({dict, list})  # value types that may nest personal fields
_MAX_EXACT_INT = 2**53  # an int price converts to a float exactly up to here

# What both parsers read alike: date, "T", time to the second, up to 6 decimals, "Z" or ±hh:mm.
_ISO_TIME = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?",
    re.ASCII,
)


class _Unsure(Exception):
    """The fast path cannot vouch for the event: the full validation decides."""


def _is_text(value: object, limit: int = 512) -> TypeGuard[str]:
    """A non-empty string of at most ``limit`` characters without surrounding white space."""
    return type(value) is str and 0 < len(value) <= limit and value.strip() == value


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    if type(value) is datetime:
        return aware(value)
    if type(value) is not str or _ISO_TIME.fullmatch(value) is None:
        raise _Unsure
    try:
        return aware(datetime.fromisoformat(value))
    except ValueError:  # e.g. 31 February
        raise _Unsure from None


def _part(container: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested object of the context (absent or null: empty)."""
    value = container.get(key)
    if value is None:
        return _EMPTY
    if type(value) is not dict:
        raise _Unsure
    return value


def _order_lines(products: object, limits: NumberLimits) -> tuple[OrderLine, ...]:
    if type(products) is not list or not 1 <= len(products) <= 1000:
        raise _Unsure
    lines = []
    for line in products:
        if type(line) is not dict:
            raise _Unsure
        product_id, name, category = line.get("product_id"), line.get("name"), line.get("category")
        quantity, price = line.get("quantity", 1), _price(line.get("price"), limits.max_unit_price)
        if (
            not _is_text(product_id)
            or price is None
            or type(quantity) is not int
            or not 1 <= quantity <= limits.max_quantity
            or (name is not None and not _is_text(name))
            or (category is not None and not _is_text(category))
        ):
            raise _Unsure
        lines.append(OrderLine(product_id, quantity, price, name, category))
    return tuple(lines)


def _price(value: object, limit: float) -> float | None:
    if value is None:
        return None
    if type(value) is int and 0 <= value <= _MAX_EXACT_INT and value <= limit:
        return float(value)
    if type(value) is float and 0 <= value <= limit:  # (NaN fails both comparisons)
        return value
    raise _Unsure


_EMPTY: dict[str, Any] = {}
_UTM_KEYS = ("source", "medium", "name", "term", "content")
_NO_UTM: tuple[object, ...] = (None, None, None, None, None)

#: (type, event, name) → the event type and name (``resolve_type``): few distinct ones arrive.
_TYPES: dict[tuple[object, object, object], tuple[EventType, str | None]] = {}
_TYPES_KEPT = 4096  # beyond this many, custom names are resolved each time
_set_dict = object.__setattr__  # Event is frozen: its own __setattr__ refuses


def fast_event(
    raw: dict[str, Any],
    *,
    received_at: datetime,
    source: str,
    max_bytes: int,
    tolerance: timedelta,
    limits: NumberLimits = NUMBER_LIMITS,
    fields: PersonalFields = DEFAULT_PERSONAL_FIELDS,
) -> Event | None:
    """The validated event, or None when the full validation must decide. ``fields``: which
    fields hold personal data (the hasher's)."""
    try:
        return _fast_event(raw, received_at, source, max_bytes, tolerance, limits, fields)
    except (_Unsure, InvalidEventError):
        return None


def _fast_event(
    raw: dict[str, Any],
    received_at: datetime,
    source: str,
    max_bytes: int,
    tolerance: timedelta,
    limits: NumberLimits,
    fields: PersonalFields,
) -> Event | None:
    # one function, few calls, checks written out: this runs for every event the server receives
    payload = raw if IGNORED_KEYS.isdisjoint(raw) else {k: v for k, v in raw.items() if k not in IGNORED_KEYS}
    if not _KEYS.issuperset(payload):
        return None
    try:  # the size the full validation measures; it also proves every key a string
        if len(orjson.dumps(payload)) > max_bytes:
            return None
    except (TypeError, orjson.JSONEncodeError):
        return None
    get = payload.get
    declared, event, name, message_id = get("type"), get("event"), get("name"), get("messageId")
    anonymous_id, user_id = get("anonymousId"), get("userId")
    previous_id, session_id = get("previousId"), get("sessionId")
    # shops send member numbers as numbers: they are ids (bool is not int here)
    if type(anonymous_id) is int:
        anonymous_id = str(anonymous_id)
    if type(user_id) is int:
        user_id = str(user_id)
    if type(previous_id) is int:
        previous_id = str(previous_id)
    if type(session_id) is int:
        session_id = str(session_id)
    context = get("context", _EMPTY)
    properties = get("properties", _EMPTY)
    traits = get("traits", _EMPTY)
    if type(context) is not dict or type(properties) is not dict or type(traits) is not dict:
        return None
    if context:
        cget = context.get
        device_part, os_part, location = cget("device"), cget("os"), cget("location")
        page, campaign = cget("page"), cget("campaign")
        # an absent or null part is empty; anything else but an object is for the full validation
        if device_part is None:
            device = None
        elif type(device_part) is dict:
            device = device_part.get("type")
        else:
            return None
        if os_part is None:
            os_name = None
        elif type(os_part) is dict:
            os_name = os_part.get("name")
        else:
            return None
        if location is None:
            region = city = None
        elif type(location) is dict:
            region, city = location.get("region"), location.get("city")
        else:
            return None
        if page is None:
            url = referrer = None
        elif type(page) is dict:
            url, referrer = page.get("url"), page.get("referrer")
        else:
            return None
        if campaign is None:
            utm = _NO_UTM
        elif type(campaign) is dict:
            utm = tuple(map(campaign.get, _UTM_KEYS))
        else:
            return None
        channel, locale = cget("channel"), cget("locale")
    else:
        device = os_name = region = city = url = referrer = channel = locale = None
        utm = _NO_UTM
    if type(declared) is not str or not 0 < len(declared) <= 512 or declared.strip() != declared:
        return None
    for value in (
        event,
        name,
        message_id,
        anonymous_id,
        user_id,
        previous_id,
        session_id,
        os_name,
        region,
        city,
    ):
        if value is not None and (
            type(value) is not str or not 0 < len(value) <= 512 or value.strip() != value
        ):
            return None
    if utm is not _NO_UTM:
        for value in utm:
            if value is not None and (
                type(value) is not str or not 0 < len(value) <= 512 or value.strip() != value
            ):
                return None
    for value, limit in ((locale, 35), (url, 4096), (referrer, 4096)):  # may be empty
        if value is not None and (type(value) is not str or len(value) > limit or value.strip() != value):
            return None
    if device is not None and (type(device) is not str or device not in _DEVICE_TYPES):
        return None
    if channel is not None and (type(channel) is not str or channel not in _CHANNELS):
        return None
    found: list[Found] = []
    if properties:
        for key in properties:
            if key.strip() != key:  # the full validation strips these keys
                return None
        # personal fields go (the same function as the full validation's; skipped when every
        # key is known to be plain and nothing is nested); contact data is hashed (or refused)
        # by the full validation
        if not fields.plain[False].issuperset(properties) or not _FLAT.isdisjoint(
            map(type, properties.values())
        ):
            properties = fields.scrub(properties, False, "", found)
    if traits:
        for key in traits:
            if key.strip() != key:
                return None
        traits = fields.scrub(traits, True, "", found)
    if found:
        return None
    if url and ("?" in url or "#" in url):
        url = fields.clean_url(url)
    if referrer and ("?" in referrer or "#" in referrer):
        referrer = fields.clean_url(referrer)

    known = _TYPES.get((declared, event, name))
    if known is None:
        known = resolve_type(declared, event, name)
        if len(_TYPES) < _TYPES_KEPT:
            _TYPES[declared, event, name] = known
    kind, name = known
    if kind is EventType.ALIAS:
        if not previous_id or not user_id:
            return None
    elif not user_id and not anonymous_id:
        return None
    product_id = category = price = quantity = query = banner_id = campaign_id = None
    order_id = revenue = currency = None
    lines: tuple[OrderLine, ...] = ()
    extra: dict[str, Any] = properties
    if kind in _PRODUCT_TYPES:
        product_id, category = properties.get("product_id"), properties.get("category")
        if not _is_text(product_id) or (category is not None and not _is_text(category)):
            return None
        price = _price(properties.get("price"), limits.max_unit_price)
        quantity = properties.get("quantity", 1)
        if type(quantity) is not int or not 1 <= quantity <= limits.max_quantity:
            return None
        extra = {k: v for k, v in properties.items() if k not in _PRODUCT_FIELDS}
    elif kind is EventType.SEARCH:
        query = properties.get("query")
        if not _is_text(query, 1000):
            return None
        extra = {k: v for k, v in properties.items() if k != "query"}
    elif kind in _BANNER_TYPES:
        banner_id = properties.get("banner_id")
        if not _is_text(banner_id):
            return None
        extra = {k: v for k, v in properties.items() if k != "banner_id"}
    elif kind in _MESSAGE_TYPES:
        campaign_id = properties.get("campaign_id")
        if not _is_text(campaign_id):
            return None
        extra = {k: v for k, v in properties.items() if k != "campaign_id"}
    elif kind is EventType.ORDER_COMPLETED:
        order_id, currency = properties.get("order_id"), properties.get("currency", "KRW")
        if not _is_text(order_id) or type(currency) is not str or _CURRENCY.fullmatch(currency) is None:
            return None
        lines = _order_lines(properties.get("products"), limits)
        revenue = _price(properties.get("revenue"), limits.max_order_value)
        if revenue is None:
            revenue = sum(line.quantity * line.unit_price for line in lines)
            if not revenue <= limits.max_order_value:
                return None
        revenue = float(revenue)
        extra = {k: v for k, v in properties.items() if k not in _ORDER_FIELDS}
    if traits:
        extra = {**extra, "traits": traits}

    timestamp, sent_at = get("timestamp"), get("sentAt")
    if timestamp is not None:
        timestamp = _time(timestamp)
    if sent_at is not None:
        sent_at = _time(sent_at)
    received = received_at if received_at.tzinfo is UTC else received_at.astimezone(UTC)
    event_time, flag = correct_event_time(timestamp, sent_at, received, tolerance)
    built: Event = Event.__new__(Event)
    # the frozen dataclass's __init__ sets its 40 fields one by one through object.__setattr__;
    # giving the instance its dict at once makes the same object, several times faster
    _set_dict(
        built,
        "__dict__",
        {  # in the order of Event's fields, as its __init__ would set them
            "message_id": message_id or content_message_id(payload),
            "type": kind,
            "event_time": event_time,
            "received_at": received,
            "name": name,
            "anonymous_id": anonymous_id,
            "user_id": user_id,
            "previous_id": previous_id,
            "session_id": session_id,
            "client_time": timestamp,
            "sent_at": sent_at,
            "time_flag": flag,
            "device_type": device,
            "os": os_name,
            "channel": channel,
            "region": region,
            "city": city,
            "locale": locale,
            "page_url": url,
            "referrer": referrer,
            "utm_source": utm[0],
            "utm_medium": utm[1],
            "utm_campaign": utm[2],
            "utm_term": utm[3],
            "utm_content": utm[4],
            "product_id": product_id,
            "category": category,
            "query": query,
            "quantity": quantity,
            "price": price,
            "order_id": order_id,
            "revenue": revenue,
            "currency": currency,
            "banner_id": banner_id,
            "campaign_id": campaign_id,
            "properties": orjson.dumps(extra).decode() if extra else None,
            "email_hash": None,
            "phone_hash": None,
            "source": source,
            "lines": lines,
        },
    )
    return built
