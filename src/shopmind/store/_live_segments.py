"""What live segment membership reads and writes: the stored events it is rebuilt from at start,
each identifier's first event, the history's current members, and the entries and exits it adds
to that history (``segment_history``, one row per stay) as they happen."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from shopmind.store._store import Store

#: the events table's columns a live condition may test (the personal hashes are not for targeting)
LIVE_EVENT_COLUMNS = (
    "message_id",
    "type",
    "name",
    "anonymous_id",
    "user_id",
    "session_id",
    "event_time",
    "device_type",
    "os",
    "channel",
    "region",
    "city",
    "locale",
    "page_url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "product_id",
    "category",
    "query",
    "quantity",
    "price",
    "order_id",
    "revenue",
    "currency",
    "banner_id",
    "campaign_id",
    "properties",
)
_BATCH = 50_000  # rows converted to Python at a time while rebuilding


def live_event_rows(
    store: Store,
    since: datetime | None,
    types: Collection[str] | None,
    before: datetime | None = None,
    columns: Collection[str] = LIVE_EVENT_COLUMNS,
) -> Iterator[dict[str, Any]]:
    """The stored events of ``types`` (None: any) from ``since`` on (None: all history), up to
    ``before``, oldest first, as dicts of ``columns`` (of ``LIVE_EVENT_COLUMNS``)."""
    where: list[str] = []
    params: list[object] = []
    if since is not None:
        where.append("event_time >= ?")
        params.append(since)
    if before is not None:
        where.append("event_time < ?")
        params.append(before)
    if types is not None:
        if not types:
            return
        where.append(f"type IN ({', '.join('?' * len(types))})")
        params.extend(sorted(types))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    wanted = [c for c in LIVE_EVENT_COLUMNS if c in columns]
    table = store.query_arrow(
        f"SELECT {', '.join(wanted)} FROM events {clause} ORDER BY event_time, message_id", params
    )
    for batch in table.to_batches(_BATCH):
        yield from batch.to_pylist()


def first_event_times(store: Store) -> list[tuple[str, datetime]]:
    """Each identifier's first event time (``user:…`` for events with a member id, else
    ``anon:…``, as events are assigned to customers)."""
    rows = store.sql(
        """SELECT ident, min(event_time) FROM (
            SELECT coalesce('user:' || user_id, 'anon:' || anonymous_id) AS ident, event_time FROM events
        ) WHERE ident IS NOT NULL GROUP BY ident"""
    )
    return [(str(ident), at) for ident, at in rows]


def open_stays(store: Store, segment_ids: Collection[str]) -> dict[str, dict[str, datetime]]:
    """The current members of ``segment_ids`` as the history holds them: segment → profile →
    entered at."""
    found: dict[str, dict[str, datetime]] = {segment_id: {} for segment_id in segment_ids}
    if not segment_ids:
        return found
    ids = pa.table({"segment_id": pa.array(sorted(segment_ids), pa.string())})
    with store.staged("_live_segment_ids", ids) as wanted:
        rows = store.sql(
            f"""SELECT h.segment_id, h.profile_id, h.entered_at FROM segment_history h
            JOIN {wanted} w USING (segment_id) WHERE h.exited_at IS NULL"""
        )
    for segment_id, profile_id, entered_at in rows:
        found[segment_id][profile_id] = entered_at
    return found


_TS = pa.timestamp("us", tz="UTC")
_STAYS = pa.schema(
    [("segment_id", pa.string()), ("profile_id", pa.string()), ("entered_at", _TS), ("exited_at", _TS)]
)


def record_stays(store: Store, stays: Sequence[tuple[str, str, datetime, datetime | None]]) -> int:
    """Write stays (segment id, profile id, entered at, exited at or None while it lasts) into
    the history in one statement: a new stay is added, a known one (the same entry) gets its exit.
    A segment deleted meanwhile takes nothing. Returns the stays written."""
    if not stays:
        return 0
    table = pa.table([list(column) for column in zip(*stays, strict=True)], schema=_STAYS)
    with store.staged("_live_stays", table) as src:
        # one upsert by the primary key (an index lookup per stay, whatever the history's size)
        store.sql(
            f"""INSERT INTO segment_history
            SELECT s.segment_id, s.profile_id, s.entered_at, s.exited_at FROM {src} s
            WHERE s.segment_id IN (SELECT segment_id FROM segments)
            ON CONFLICT DO UPDATE SET exited_at = excluded.exited_at"""
        )
    return len(stays)


def segments_signature(store: Store) -> str:
    """What changes when a segment is saved, changed, deleted or counted again."""
    found = store.scalar(
        "SELECT md5(coalesce(string_agg(segment_id || '@' || CAST(updated_at AS VARCHAR) || '@' "
        "|| coalesce(CAST(materialized_at AS VARCHAR), ''), ',' ORDER BY segment_id), '')) FROM segments"
    )
    return str(found)


def saved_definitions(store: Store) -> list[tuple[str, str, datetime | None]]:
    """(segment id, definition JSON, last counted into the history) of every saved segment,
    oldest first."""
    rows = store.sql("SELECT segment_id, definition, materialized_at FROM segments ORDER BY created_at")
    return [(str(s), str(d), at) for s, d, at in rows]
