"""Validation of incoming events, with one message per offending field.

The accepted shape follows the common tracking APIs (Segment-style camelCase keys; snake_case
works too)::

    {"messageId": "m-1", "type": "product_view", "anonymousId": "a-1", "userId": "u-1",
     "sessionId": "s-1", "timestamp": "2026-11-01T09:00:00+09:00", "sentAt": "...",
     "context": {"device": {"type": "mobile"}, "os": {"name": "iOS"}, "channel": "app",
                 "locale": "ko-KR", "location": {"region": "서울", "city": "강남구"},
                 "page": {"url": "...", "referrer": "..."},
                 "campaign": {"source": "naver", "medium": "cpc", "name": "fw26"}},
     "properties": {"product_id": "P1", "price": 12900}}

Clock skew: when the client sends ``sentAt``, the event time is moved by the difference between
the server's receive time and ``sentAt`` (the client's clock error). Event times still later than
the receive time plus the tolerance are clamped to the receive time and flagged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from shopmind.core import DEFAULT_PERSONAL_FIELDS, FieldError, IdentifierHasher, InvalidEventError
from shopmind.core._personal import Found
from shopmind.events._fast import fast_event
from shopmind.events._model import Event, OrderLine
from shopmind.events._rules import (
    FUTURE_TOLERANCE,
    IGNORED_KEYS,
    MAX_EVENT_BYTES,
    NUMBER_LIMITS,
    NumberLimits,
    aware,
    content_message_id,
    correct_event_time,
    resolve_type,
)
from shopmind.events._types import CHANNELS, DEVICE_TYPES, EventType

Text = Annotated[str, Field(min_length=1, max_length=512)]


def _alias(snake: str, camel: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(camel, snake))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, frozen=True)


class _Device(_Loose):
    type: Literal["mobile", "desktop", "tablet", "other"] | None = None


class _Os(_Loose):
    name: Text | None = None


class _Location(_Loose):
    region: Text | None = None
    city: Text | None = None


class _Page(_Loose):
    url: Annotated[str, Field(max_length=4096)] | None = None
    referrer: Annotated[str, Field(max_length=4096)] | None = None


class _Campaign(_Loose):
    source: Text | None = None
    medium: Text | None = None
    name: Text | None = None
    term: Text | None = None
    content: Text | None = None


class _Context(_Loose):
    device: _Device | None = None
    os: _Os | None = None
    channel: Literal["web", "app"] | None = None
    locale: Annotated[str, Field(max_length=35)] | None = None
    location: _Location | None = None
    page: _Page | None = None
    campaign: _Campaign | None = None


class _Envelope(_Strict):
    message_id: Text | None = _alias("message_id", "messageId")
    type: Text
    event: Text | None = None
    name: Text | None = None
    anonymous_id: Text | None = _alias("anonymous_id", "anonymousId")
    user_id: Text | None = _alias("user_id", "userId")
    previous_id: Text | None = _alias("previous_id", "previousId")
    session_id: Text | None = _alias("session_id", "sessionId")
    timestamp: datetime | None = None
    sent_at: datetime | None = _alias("sent_at", "sentAt")
    context: _Context = Field(default_factory=_Context)
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)

    @field_validator("user_id", "anonymous_id", "previous_id", "session_id", mode="before")
    @classmethod
    def _ids_may_be_numbers(cls, value: object) -> object:
        # Shops often send numeric member numbers; they are ids, not quantities.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class _ProductProps(_Loose):
    product_id: Text
    category: Text | None = None
    price: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    quantity: Annotated[int, Field(ge=1)] = 1


class _SearchProps(_Loose):
    query: Annotated[str, Field(min_length=1, max_length=1000)]


class _LineProps(_Loose):
    product_id: Text
    quantity: Annotated[int, Field(ge=1)] = 1
    price: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    name: Text | None = None
    category: Text | None = None


class _OrderProps(_Loose):
    order_id: Text
    products: Annotated[list[_LineProps], Field(min_length=1, max_length=1000)]
    revenue: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "KRW"


class _BannerProps(_Loose):
    banner_id: Text


class _MessageProps(_Loose):
    campaign_id: Text


_PROPERTY_MODELS: dict[EventType, type[_Loose]] = {
    EventType.PRODUCT_VIEW: _ProductProps,
    EventType.CART_ADD: _ProductProps,
    EventType.CART_REMOVE: _ProductProps,
    EventType.SEARCH: _SearchProps,
    EventType.ORDER_COMPLETED: _OrderProps,
    EventType.BANNER_IMPRESSION: _BannerProps,
    EventType.BANNER_CLICK: _BannerProps,
    EventType.MESSAGE_OPEN: _MessageProps,
    EventType.MESSAGE_CLICK: _MessageProps,
}


def _depth(found: Found) -> int:
    return found.depth


def _errors_of(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown field (not part of the event format)"
        if err["type"] == "missing":
            reason = "required field is missing"
        out.append(FieldError(f"{prefix}{loc}", reason))
    return out


def validate_event(
    raw: Mapping[str, Any],
    *,
    received_at: datetime,
    hasher: IdentifierHasher | None = None,
    source: str = "api",
    max_bytes: int = MAX_EVENT_BYTES,
    tolerance: timedelta = FUTURE_TOLERANCE,
    limits: NumberLimits = NUMBER_LIMITS,
) -> Event:
    """Check one event and return it flattened, or raise ``InvalidEventError`` naming each field.

    E-mail-like and phone-like traits or properties (any usual key, at any depth: see
    ``shopmind.core.PersonalFields``, the hasher's ``fields``) are replaced by keyed hashes
    (``hasher``); without a hasher they are refused, because the plain values must never reach the
    store. Other personal fields (address, birthday, ...) are dropped, and so are the personal
    query parameters of the page's URL and referrer.

    The common shapes take a fast path (``events._fast``) that returns the same event as the full
    validation below; anything else, and every invalid event, takes the full one, so the errors
    are always its errors.
    """
    if type(raw) is dict:
        event = fast_event(
            raw,
            received_at=received_at,
            source=source,
            max_bytes=max_bytes,
            tolerance=tolerance,
            limits=limits,
            fields=hasher.fields if hasher is not None else DEFAULT_PERSONAL_FIELDS,
        )
        if event is not None:
            return event
    return _validate_fully(
        raw,
        received_at=received_at,
        hasher=hasher,
        source=source,
        max_bytes=max_bytes,
        tolerance=tolerance,
        limits=limits,
    )


def validate_events(
    raws: Iterable[object],
    *,
    received_at: datetime,
    hasher: IdentifierHasher | None = None,
    source: str = "api",
    max_bytes: int = MAX_EVENT_BYTES,
    tolerance: timedelta = FUTURE_TOLERANCE,
    limits: NumberLimits = NUMBER_LIMITS,
) -> list[Event | InvalidEventError]:
    """``validate_event`` of each of ``raws``, in order: the event, or why it is invalid (one call
    for a request's events: the server's hot loop)."""
    out: list[Event | InvalidEventError] = []
    append = out.append
    fields = hasher.fields if hasher is not None else DEFAULT_PERSONAL_FIELDS
    for raw in raws:
        event = (
            fast_event(
                raw,
                received_at=received_at,
                source=source,
                max_bytes=max_bytes,
                tolerance=tolerance,
                limits=limits,
                fields=fields,
            )
            if type(raw) is dict
            else None
        )
        if event is None:
            try:
                event = _validate_fully(
                    raw,  # type: ignore[arg-type]
                    received_at=received_at,
                    hasher=hasher,
                    source=source,
                    max_bytes=max_bytes,
                    tolerance=tolerance,
                    limits=limits,
                )
            except InvalidEventError as exc:
                append(exc)
                continue
        append(event)
    return out


def _number_errors(parsed: object, limits: NumberLimits) -> list[FieldError]:
    """Money and quantities beyond the shop's limits (see ``NumberLimits``)."""
    errors = []
    if isinstance(parsed, _ProductProps):
        if parsed.price is not None and (reason := limits.price_error(parsed.price)):
            errors.append(FieldError("properties.price", reason))
        if parsed.quantity > limits.max_quantity:
            errors.append(FieldError("properties.quantity", f"at most {limits.max_quantity:,}"))
    elif isinstance(parsed, _OrderProps):
        for i, line in enumerate(parsed.products):
            if reason := limits.price_error(line.price):
                errors.append(FieldError(f"properties.products.{i}.price", reason))
            if line.quantity > limits.max_quantity:
                errors.append(
                    FieldError(f"properties.products.{i}.quantity", f"at most {limits.max_quantity:,}")
                )
        value = parsed.revenue
        if value is None:
            value = sum(line.quantity * line.price for line in parsed.products)
        if not errors and (reason := limits.order_value_error(value)):
            errors.append(FieldError("properties.revenue", reason))
    return errors


def _nested_field(payload: Mapping[str, Any]) -> str:
    """The top-level key whose value cannot be written as JSON for its depth."""
    for key, value in payload.items():
        try:
            orjson.dumps(value, default=str)
        except TypeError:
            return str(key)
    return "event"


def _validate_fully(
    raw: Mapping[str, Any],
    *,
    received_at: datetime,
    hasher: IdentifierHasher | None,
    source: str,
    max_bytes: int,
    tolerance: timedelta,
    limits: NumberLimits = NUMBER_LIMITS,
) -> Event:
    if not isinstance(raw, Mapping):
        raise InvalidEventError([FieldError("event", f"expected a JSON object, got {type(raw).__name__}")])
    payload = {k: v for k, v in raw.items() if k not in IGNORED_KEYS}
    try:
        size = len(orjson.dumps(payload, default=str))
    except (TypeError, orjson.JSONEncodeError) as exc:
        if "recursion" in str(exc).lower():
            raise InvalidEventError(
                [FieldError(_nested_field(payload), "nested too deeply (more than 254 levels); flatten it")]
            ) from None
        raise InvalidEventError([FieldError("event", f"cannot be encoded as JSON: {exc}")]) from None
    if size > max_bytes:
        big = "properties" if "properties" in payload else "event"
        raise InvalidEventError([FieldError(big, f"event too large ({size:,} bytes > {max_bytes:,} bytes)")])
    try:
        envelope = _Envelope.model_validate(payload)
    except ValidationError as exc:
        raise InvalidEventError(_errors_of(exc)) from None
    kind, name = resolve_type(envelope.type, envelope.event, envelope.name)

    errors: list[FieldError] = []
    if kind is EventType.ALIAS:
        if not envelope.previous_id or not envelope.user_id:
            errors.append(FieldError("previousId", "an alias call needs both previousId and userId"))
    elif kind is EventType.IDENTIFY and not envelope.user_id and not envelope.anonymous_id:
        errors.append(FieldError("userId", "an identify call needs userId (or anonymousId with traits)"))
    elif not envelope.user_id and not envelope.anonymous_id:
        errors.append(FieldError("anonymousId", "one of anonymousId or userId is required"))

    personal = hasher.fields if hasher is not None else DEFAULT_PERSONAL_FIELDS
    # personal data comes out of both before anything keeps them: contact data only as hashes
    found: list[Found] = []
    traits = personal.scrub(dict(envelope.traits), True, "traits.", found)
    props: dict[str, Any] = personal.scrub(dict(envelope.properties), False, "properties.", found)
    model = _PROPERTY_MODELS.get(kind)
    parsed: Any = None
    if model is not None:
        try:
            parsed = model.model_validate(props)
        except ValidationError as exc:
            errors.extend(_errors_of(exc, prefix="properties."))
        else:
            errors.extend(_number_errors(parsed, limits))

    hashes: dict[str, str | None] = {"email": None, "phone": None}
    first: dict[str, Found] = {}
    for candidate in sorted(found, key=_depth):  # the first found of each kind wins; the others go
        first.setdefault(candidate.kind, candidate)
    for key in ("email", "phone"):
        item = first.get(key)
        if item is None:
            continue
        if not isinstance(item.value, str):
            errors.append(FieldError(item.path, "must be a string"))
            continue
        if hasher is None:
            errors.append(FieldError(item.path, "contact data cannot be accepted without a hashing key"))
            continue
        hashed = hasher.email(item.value) if key == "email" else hasher.phone(item.value)
        if hashed is None:
            errors.append(
                FieldError(
                    item.path, "not a valid e-mail address" if key == "email" else "not a valid phone number"
                )
            )
        hashes[key] = hashed
    email_hash, phone_hash = hashes["email"], hashes["phone"]
    if errors:
        raise InvalidEventError(errors)

    event_time, flag = correct_event_time(
        aware(envelope.timestamp), aware(envelope.sent_at), received_at.astimezone(UTC), tolerance
    )
    ctx = envelope.context
    fields: dict[str, Any] = {}
    lines: tuple[OrderLine, ...] = ()
    if isinstance(parsed, _ProductProps):
        fields = {
            "product_id": parsed.product_id,
            "category": parsed.category,
            "price": parsed.price,
            "quantity": parsed.quantity,
        }
        extra = parsed.model_extra or {}
    elif isinstance(parsed, _SearchProps):
        fields = {"query": parsed.query}
        extra = parsed.model_extra or {}
    elif isinstance(parsed, _OrderProps):
        lines = tuple(
            OrderLine(p.product_id, p.quantity, float(p.price), p.name, p.category) for p in parsed.products
        )
        revenue = parsed.revenue
        if revenue is None:
            revenue = sum(line.quantity * line.unit_price for line in lines)
        fields = {"order_id": parsed.order_id, "revenue": float(revenue), "currency": parsed.currency}
        extra = parsed.model_extra or {}
    elif isinstance(parsed, _BannerProps):
        fields = {"banner_id": parsed.banner_id}
        extra = parsed.model_extra or {}
    elif isinstance(parsed, _MessageProps):
        fields = {"campaign_id": parsed.campaign_id}
        extra = parsed.model_extra or {}
    else:
        extra = props
    if traits:
        extra = {**extra, "traits": traits}
    campaign = ctx.campaign or _Campaign()
    return Event(
        message_id=envelope.message_id or content_message_id(payload),
        type=kind,
        name=name,
        anonymous_id=envelope.anonymous_id,
        user_id=envelope.user_id,
        previous_id=envelope.previous_id,
        session_id=envelope.session_id,
        event_time=event_time,
        client_time=aware(envelope.timestamp),
        sent_at=aware(envelope.sent_at),
        received_at=received_at.astimezone(UTC),
        time_flag=flag,
        device_type=ctx.device.type if ctx.device else None,
        os=ctx.os.name if ctx.os else None,
        channel=ctx.channel,
        region=ctx.location.region if ctx.location else None,
        city=ctx.location.city if ctx.location else None,
        locale=ctx.locale,
        page_url=personal.clean_url(ctx.page.url) if ctx.page and ctx.page.url is not None else None,
        referrer=personal.clean_url(ctx.page.referrer)
        if ctx.page and ctx.page.referrer is not None
        else None,
        utm_source=campaign.source,
        utm_medium=campaign.medium,
        utm_campaign=campaign.name,
        utm_term=campaign.term,
        utm_content=campaign.content,
        properties=orjson.dumps(extra, default=str).decode() if extra else None,
        email_hash=email_hash,
        phone_hash=phone_hash,
        source=source,
        lines=lines,
        **fields,
    )


__all__ = [
    "CHANNELS",
    "DEVICE_TYPES",
    "content_message_id",
    "correct_event_time",
    "validate_event",
    "validate_events",
]
