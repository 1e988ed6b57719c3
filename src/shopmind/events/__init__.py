"""The event and order model, validation with field-level errors, and the identity graph."""

from shopmind.events._identity import KIND_PRIORITY, IdentityGraph, IdentityLink, identifier
from shopmind.events._model import (
    EVENT_SCHEMA,
    ORDER_LINE_SCHEMA,
    ORDER_SCHEMA,
    Event,
    OrderLine,
    events_to_arrow,
    orders_from_events,
)
from shopmind.events._types import CHANNELS, DEVICE_TYPES, EventType
from shopmind.events._validation import (
    MAX_EVENT_BYTES,
    content_message_id,
    correct_event_time,
    validate_event,
    validate_events,
)

__all__ = [
    "CHANNELS",
    "DEVICE_TYPES",
    "EVENT_SCHEMA",
    "KIND_PRIORITY",
    "MAX_EVENT_BYTES",
    "ORDER_LINE_SCHEMA",
    "ORDER_SCHEMA",
    "Event",
    "EventType",
    "IdentityGraph",
    "IdentityLink",
    "OrderLine",
    "content_message_id",
    "correct_event_time",
    "events_to_arrow",
    "identifier",
    "orders_from_events",
    "validate_event",
    "validate_events",
]
