"""The event and order model, validation with field-level errors, and the identity graph."""

from shopmind.events._identity import (
    KIND_PRIORITY,
    LINK_COLUMNS,
    IdentityGraph,
    IdentityLink,
    identifier,
    implied_links,
)
from shopmind.events._model import (
    CLIENT_SOURCE,
    EVENT_SCHEMA,
    ORDER_LINE_SCHEMA,
    ORDER_SCHEMA,
    PRODUCT_SCHEMA,
    SERVER_SOURCE,
    Event,
    OrderLine,
    events_to_arrow,
    lines_from_properties,
    orders_from_events,
    stored_properties,
)
from shopmind.events._rules import NUMBER_LIMITS, NumberLimits
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
    "CLIENT_SOURCE",
    "DEVICE_TYPES",
    "EVENT_SCHEMA",
    "KIND_PRIORITY",
    "LINK_COLUMNS",
    "MAX_EVENT_BYTES",
    "NUMBER_LIMITS",
    "ORDER_LINE_SCHEMA",
    "ORDER_SCHEMA",
    "PRODUCT_SCHEMA",
    "SERVER_SOURCE",
    "Event",
    "EventType",
    "IdentityGraph",
    "IdentityLink",
    "NumberLimits",
    "OrderLine",
    "content_message_id",
    "correct_event_time",
    "events_to_arrow",
    "identifier",
    "implied_links",
    "lines_from_properties",
    "orders_from_events",
    "stored_properties",
    "validate_event",
    "validate_events",
]
