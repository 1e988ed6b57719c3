"""Events as they arrive over the collection API: validated one by one, then stored in groups (one
write for everything that arrived while the previous write ran), so an acknowledgement can wait
for durability without one disk sync per request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import pyarrow as pa

from shopmind.core import FieldError, IdentifierHasher, InvalidEventError
from shopmind.events import Event, events_to_arrow, orders_from_events, validate_event
from shopmind.events._validation import MAX_EVENT_BYTES
from shopmind.store import QUARANTINE_SCHEMA, Store

_RAW_LIMIT = 4096  # how much of a rejected event the quarantine keeps


@dataclass(frozen=True)
class Rejected:
    """An event refused by validation: its position in the request and every reason."""

    index: int
    errors: tuple[FieldError, ...]
    raw: str


def validate_incoming(
    raws: Sequence[object],
    *,
    received_at: datetime,
    hasher: IdentifierHasher | None,
    defaults: dict[str, object] | None = None,
    max_bytes: int = MAX_EVENT_BYTES,
) -> tuple[list[Event], list[Rejected]]:
    """Validate a request's events: the accepted ones and the rejected ones (with their position).
    ``defaults`` fill keys an event leaves out (e.g. ``type`` from the endpoint)."""
    accepted: list[Event] = []
    rejected: list[Rejected] = []
    for index, raw in enumerate(raws):
        if isinstance(raw, dict):
            if defaults:
                raw = {**defaults, **raw}
            if "type" not in raw and "event" in raw:  # a named event is a track call
                raw = {**raw, "type": "track"}
        try:
            accepted.append(validate_event(raw, received_at=received_at, hasher=hasher, max_bytes=max_bytes))  # type: ignore[arg-type]
        except InvalidEventError as exc:
            text = orjson.dumps(raw, default=str)[:_RAW_LIMIT].decode("utf-8", "replace")
            rejected.append(Rejected(index, exc.errors, text))
    return accepted, rejected


def store_incoming(store: Store, events: Sequence[Event], rejected: Sequence[Rejected]) -> list[bool]:
    """Store a group of accepted events (re-sent message ids once) with their orders, and keep the
    rejected ones in the quarantine with their reasons. Returns, per event, whether it was a
    duplicate (stored before, or earlier in this group). Durable when it returns."""
    with store.atomically():  # one commit, one sync of the log, for the whole group
        return _store_group(store, events, rejected)


def _store_group(store: Store, events: Sequence[Event], rejected: Sequence[Rejected]) -> list[bool]:
    duplicate: list[bool] = []
    if events:
        ids = [e.message_id for e in events]
        known = {
            row[0]
            for row in store.sql(
                "SELECT message_id FROM events WHERE message_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
            )
        }
        seen: set[str] = set()
        for message_id in ids:
            duplicate.append(message_id in known or message_id in seen)
            seen.add(message_id)
        batch = list(events)
        store.write_events(events_to_arrow(batch))
        orders, lines = orders_from_events(batch)
        if orders.num_rows:
            store.write_orders(orders, lines)
    if rejected:
        rows = [
            {
                "line_no": r.index,
                "field": r.errors[0].field if r.errors else "event",
                "reason": _reason(r),
                "raw": r.raw,
            }
            for r in rejected
        ]
        store.quarantine(pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA), source="api")
    return duplicate


def _reason(rejected: Rejected) -> str:
    return "; ".join(str(e) for e in rejected.errors) or "invalid event"
