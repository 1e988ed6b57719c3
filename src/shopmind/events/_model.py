"""The validated event and order: what the store keeps, whatever the input's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import orjson
import pyarrow as pa

from shopmind.events._types import EventType


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    quantity: int
    unit_price: float
    name: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class Event:
    """One accepted event, flattened to the columns of the ``events`` table.

    ``event_time`` is the client's time corrected for clock skew (see ``validation``);
    ``client_time`` is what the client claimed; ``time_flag`` says what was done to it.
    """

    message_id: str
    type: EventType
    event_time: datetime
    received_at: datetime
    name: str | None = None
    anonymous_id: str | None = None
    user_id: str | None = None
    previous_id: str | None = None
    session_id: str | None = None
    client_time: datetime | None = None
    sent_at: datetime | None = None
    time_flag: str | None = None
    device_type: str | None = None
    os: str | None = None
    channel: str | None = None
    region: str | None = None
    city: str | None = None
    locale: str | None = None
    page_url: str | None = None
    referrer: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    product_id: str | None = None
    category: str | None = None
    query: str | None = None
    quantity: int | None = None
    price: float | None = None
    order_id: str | None = None
    revenue: float | None = None
    currency: str | None = None
    banner_id: str | None = None
    campaign_id: str | None = None
    properties: str | None = None  # JSON text of the remaining properties
    email_hash: str | None = None
    phone_hash: str | None = None
    source: str = "api"
    lines: tuple[OrderLine, ...] = field(default=(), compare=False)

    def row(self) -> dict[str, object]:
        """The event as a row of the ``events`` table."""
        return {name: getattr(self, name) for name in EVENT_SCHEMA.names}


_TS = pa.timestamp("us", tz="UTC")

#: Column types of the ``events`` table, the form every writer hands to the store.
EVENT_SCHEMA = pa.schema(
    [
        ("message_id", pa.string()),
        ("type", pa.string()),
        ("name", pa.string()),
        ("anonymous_id", pa.string()),
        ("user_id", pa.string()),
        ("previous_id", pa.string()),
        ("session_id", pa.string()),
        ("event_time", _TS),
        ("client_time", _TS),
        ("sent_at", _TS),
        ("received_at", _TS),
        ("time_flag", pa.string()),
        ("device_type", pa.string()),
        ("os", pa.string()),
        ("channel", pa.string()),
        ("region", pa.string()),
        ("city", pa.string()),
        ("locale", pa.string()),
        ("page_url", pa.string()),
        ("referrer", pa.string()),
        ("utm_source", pa.string()),
        ("utm_medium", pa.string()),
        ("utm_campaign", pa.string()),
        ("utm_term", pa.string()),
        ("utm_content", pa.string()),
        ("product_id", pa.string()),
        ("category", pa.string()),
        ("query", pa.string()),
        ("quantity", pa.int32()),
        ("price", pa.float64()),
        ("order_id", pa.string()),
        ("revenue", pa.float64()),
        ("currency", pa.string()),
        ("banner_id", pa.string()),
        ("campaign_id", pa.string()),
        ("properties", pa.string()),
        ("email_hash", pa.string()),
        ("phone_hash", pa.string()),
        ("source", pa.string()),
    ]
)

#: Columns of ``order_lines``. ``line_key`` identifies a line across re-imports and overlapping files.
ORDER_LINE_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("line_key", pa.string()),
        ("line_no", pa.int32()),
        ("product_id", pa.string()),
        ("description", pa.string()),
        ("quantity", pa.int64()),
        ("unit_price", pa.float64()),
        ("is_return", pa.bool_()),
        ("is_product", pa.bool_()),
    ]
)

#: ``Event.source`` of what a browser or app sent with the public write key: its orders are claims,
#: kept apart from revenue, CLV, VIPs and model training until a server-side source confirms them.
CLIENT_SOURCE = "client"
#: ``Event.source`` of what the shop's own servers sent with a secret key.
SERVER_SOURCE = "server"

#: Columns of ``orders`` (one header per order; ``verified`` is false for a client's claim).
ORDER_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("ordered_at", _TS),
        ("customer_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("email_hash", pa.string()),
        ("phone_hash", pa.string()),
        ("currency", pa.string()),
        ("country", pa.string()),
        ("region", pa.string()),
        ("channel", pa.string()),
        ("device_type", pa.string()),
        ("is_return", pa.bool_()),
        ("source", pa.string()),
        ("verified", pa.bool_()),
    ]
)

#: Columns of the ``products`` table (the catalogue) as a shop or the demo hands it to the store.
PRODUCT_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("name", pa.string()),
        ("category", pa.string()),
        ("brand", pa.string()),
        ("price", pa.float64()),
        ("currency", pa.string()),
        ("colour", pa.string()),
        ("description", pa.string()),
        ("stock", pa.int64()),
        ("region", pa.string()),
        ("is_product", pa.bool_()),
    ]
)


def stored_properties(event: Event) -> str | None:
    """The ``properties`` column as stored: the event's properties and, for an order, its lines
    under ``products`` (so that the order can be derived again from the stored event)."""
    if not event.lines:
        return event.properties
    kept = orjson.loads(event.properties) if event.properties else {}
    kept["products"] = [
        {
            "product_id": line.product_id,
            "quantity": line.quantity,
            "price": line.unit_price,
            **({"name": line.name} if line.name is not None else {}),
            **({"category": line.category} if line.category is not None else {}),
        }
        for line in event.lines
    ]
    return orjson.dumps(kept).decode()


def lines_from_properties(properties: str | None) -> tuple[OrderLine, ...]:
    """An order's lines from its stored ``properties`` (``stored_properties``); none if absent."""
    if not properties:
        return ()
    products = orjson.loads(properties).get("products")
    if not isinstance(products, list):
        return ()
    return tuple(
        OrderLine(p["product_id"], int(p["quantity"]), float(p["price"]), p.get("name"), p.get("category"))
        for p in products
    )


def events_to_arrow(events: list[Event]) -> pa.Table:
    """Rows for the store, in the ``EVENT_SCHEMA`` layout."""
    columns = {name: [getattr(e, name) for e in events] for name in EVENT_SCHEMA.names}
    columns["properties"] = [stored_properties(e) for e in events]
    return pa.Table.from_pydict(columns, schema=EVENT_SCHEMA)


def orders_from_events(events: list[Event]) -> tuple[pa.Table, pa.Table]:
    """The order headers and lines carried by ``order_completed`` events."""
    headers: list[dict[str, object]] = []
    lines: list[dict[str, object]] = []
    for e in events:
        if e.type is not EventType.ORDER_COMPLETED or e.order_id is None:
            continue
        headers.append(
            {
                "order_id": e.order_id,
                "ordered_at": e.event_time,
                "customer_id": e.user_id,
                "anonymous_id": e.anonymous_id,
                "email_hash": e.email_hash,
                "phone_hash": e.phone_hash,
                "currency": e.currency,
                "country": None,
                "region": e.region,
                "channel": e.channel,
                "device_type": e.device_type,
                "is_return": False,
                "source": e.source,
                "verified": e.source != CLIENT_SOURCE,
            }
        )
        for i, line in enumerate(e.lines, start=1):
            lines.append(
                {
                    "order_id": e.order_id,
                    "line_key": f"{e.order_id}#{i}",
                    "line_no": i,
                    "product_id": line.product_id,
                    "description": line.name,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "is_return": False,
                    "is_product": True,
                }
            )
    return (
        pa.Table.from_pylist(headers, schema=ORDER_SCHEMA),
        pa.Table.from_pylist(lines, schema=ORDER_LINE_SCHEMA),
    )
