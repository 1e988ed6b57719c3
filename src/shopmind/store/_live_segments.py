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
    store: Store, since: datetime | None, types: Collection[str] | None, before: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The stored events of ``types`` (None: any) from ``since`` on (None: all history), up to
    ``before``, oldest first, as dicts of ``LIVE_EVENT_COLUMNS``."""
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
    table = store.query_arrow(
        f"SELECT {', '.join(LIVE_EVENT_COLUMNS)} FROM events {clause} ORDER BY event_time, message_id", params
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
_CLOSES = pa.schema([("segment_id", pa.string()), ("profile_id", pa.string()), ("at", _TS)])
_STAYS = pa.schema(
    [("segment_id", pa.string()), ("profile_id", pa.string()), ("entered_at", _TS), ("exited_at", _TS)]
)


def record_stays(store: Store, changes: Sequence[tuple[str, str, bool, datetime]]) -> tuple[int, int]:
    """Add membership changes (segment id, profile id, entered or exited, when; oldest first) to
    the history in one transaction: an exit closes the member's open stay, an entry opens a new
    one. An exit and an entry of the same moment cancel out; a segment deleted meanwhile takes
    nothing. Returns (entries, exits) written."""
    closes: dict[tuple[str, str], datetime] = {}  # the history's open stays to close
    stays: list[list[Any]] = []  # new stays: segment, profile, entered, exited (None: open)
    open_: dict[tuple[str, str], int] = {}  # the new stay still open, per member
    for segment_id, profile_id, entered, at in changes:
        pair = (segment_id, profile_id)
        at_open = open_.get(pair)
        if entered:
            if at_open is not None:  # entered twice without an exit between: keep the first
                continue
            last = next((s for s in reversed(stays) if (s[0], s[1]) == pair), None)
            if last is not None and last[3] == at:  # exited and entered at once: one stay
                last[3] = None
                open_[pair] = stays.index(last)
            elif last is None and closes.get(pair) == at:
                del closes[pair]
            else:
                open_[pair] = len(stays)
                stays.append([segment_id, profile_id, at, None])
        elif at_open is not None:
            stays[at_open][3] = at
            del open_[pair]
        elif not any((s[0], s[1]) == pair for s in stays):
            closes.setdefault(pair, at)
    stays = [s for s in stays if s[3] is None or s[3] > s[2]]  # a stay of no time was none
    if not closes and not stays:
        return 0, 0
    with store.atomically():
        if closes:
            table = pa.table(
                [
                    [p[0] for p in closes],
                    [p[1] for p in closes],
                    list(closes.values()),
                ],
                schema=_CLOSES,
            )
            with store.staged("_live_exits", table) as src:
                store.sql(
                    f"""UPDATE segment_history h SET exited_at = x.at FROM {src} x
                    WHERE h.segment_id = x.segment_id AND h.profile_id = x.profile_id
                      AND h.exited_at IS NULL"""
                )
        if stays:
            table = pa.table([list(column) for column in zip(*stays, strict=True)], schema=_STAYS)
            with store.staged("_live_stays", table) as src:
                store.sql(
                    f"""INSERT INTO segment_history
                    SELECT s.segment_id, s.profile_id, s.entered_at, s.exited_at FROM {src} s
                    WHERE s.segment_id IN (SELECT segment_id FROM segments)
                    ON CONFLICT DO UPDATE SET exited_at = excluded.exited_at"""
                )
    return sum(1 for s in stays), len(closes)


def segments_signature(store: Store) -> str:
    """What changes when a segment is saved, changed or deleted."""
    found = store.scalar(
        "SELECT md5(coalesce(string_agg(segment_id || '@' || CAST(updated_at AS VARCHAR), ',' "
        "ORDER BY segment_id), '')) FROM segments"
    )
    return str(found)


def saved_definitions(store: Store) -> list[tuple[str, str]]:
    """(segment id, definition JSON) of every saved segment, oldest first."""
    return [
        (str(s), str(d))
        for s, d in store.sql("SELECT segment_id, definition FROM segments ORDER BY created_at")
    ]
