"""Events as they arrive over the collection API: validated one by one, then stored in groups (one
write for everything that arrived while the previous write ran), so an acknowledgement can wait
for durability without one disk sync per request."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import pyarrow as pa

from shopmind.core import FieldError, IdentifierHasher, InvalidEventError
from shopmind.events import EVENT_SCHEMA, Event, orders_from_events, validate_events
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
    if defaults or any(isinstance(raw, dict) and "type" not in raw for raw in raws):
        raws = [_with_defaults(raw, defaults) for raw in raws]
    accepted: list[Event] = []
    rejected: list[Rejected] = []
    validated = validate_events(raws, received_at=received_at, hasher=hasher, max_bytes=max_bytes)
    for index, (raw, event) in enumerate(zip(raws, validated, strict=True)):
        if isinstance(event, InvalidEventError):
            text = orjson.dumps(raw, default=str)[:_RAW_LIMIT].decode("utf-8", "replace")
            rejected.append(Rejected(index, event.errors, text))
        else:
            accepted.append(event)
    return accepted, rejected


def _with_defaults(raw: object, defaults: dict[str, object] | None) -> object:
    if isinstance(raw, dict):
        if defaults:
            raw = {**defaults, **raw}
        if "type" not in raw and "event" in raw:  # a named event is a track call
            raw = {**raw, "type": "track"}
    return raw


def store_incoming(
    store: Store, events: Sequence[Event], rejected: Sequence[Rejected], rows: pa.Table | None = None
) -> list[bool]:
    """Store a group of accepted events (re-sent message ids once) with their orders, and keep the
    rejected ones in the quarantine with their reasons, in one transaction (one sync of the log).
    ``rows``: the events as ``event_rows`` gives them, if they were built already.
    Returns, per event, whether it was a duplicate (stored before, or earlier in this group).
    Durable when it returns."""
    table = rows if rows is not None else event_rows(events) if events else None
    quarantined = _quarantine_rows(rejected) if rejected else None
    return store.write_atomically(lambda: _store_group(store, events, table, quarantined))


def _store_group(
    store: Store, events: Sequence[Event], table: pa.Table | None, quarantined: pa.Table | None
) -> list[bool]:
    duplicate: list[bool] = []
    if table is not None:
        stored = store.write_events(table).stored_before
        seen: set[str] = set()
        for event in events:
            duplicate.append(event.message_id in stored or event.message_id in seen)
            seen.add(event.message_id)
        # orders of new events only: a re-sent order event is not a new order
        ordered = [e for e, dup in zip(events, duplicate, strict=True) if e.order_id is not None and not dup]
        if ordered:
            orders, lines = orders_from_events(ordered)
            if orders.num_rows:
                store.write_orders(orders, lines)
    if quarantined is not None:
        store.quarantine(quarantined, source="api")
    return duplicate


_ROW = operator.itemgetter(*EVENT_SCHEMA.names)


def event_rows(events: Sequence[Event]) -> pa.Table:
    """The events in the ``EVENT_SCHEMA`` layout (what ``events_to_arrow`` gives, several times
    faster: one pass over the events' fields, then one conversion per column, none for a column
    of one repeated value, such as the receive time or a column no event of the batch uses)."""
    if not events:
        return EVENT_SCHEMA.empty_table()
    n = len(events)
    arrays = []
    columns = zip(*map(_ROW, map(vars, events)), strict=True)
    for values, type_ in zip(columns, EVENT_SCHEMA.types, strict=True):
        first = values[0]
        if values.count(first) != n:
            arrays.append(pa.array(values, type=type_))
        elif first is None:
            arrays.append(pa.nulls(n, type_))
        else:
            arrays.append(pa.repeat(pa.scalar(first, type=type_), n))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def _quarantine_rows(rejected: Sequence[Rejected]) -> pa.Table:
    rows = [
        {
            "line_no": r.index,
            "field": r.errors[0].field if r.errors else "event",
            "reason": _reason(r),
            "raw": r.raw,
        }
        for r in rejected
    ]
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


def _reason(rejected: Rejected) -> str:
    return "; ".join(str(e) for e in rejected.errors) or "invalid event"
