"""Events as they arrive over the collection API: validated one by one, then stored in groups (one
write for everything that arrived while the previous write ran), so an acknowledgement can wait
for durability without one disk sync per request.

``store_incoming`` writes a group with everything derived from it (orders and their lines,
identity links, the profiles of the visitors) in one transaction. The server uses ``LiveWriter``,
which keeps each group's transaction to the events alone and writes the derived rows of many groups
later in one: they are a function of the stored events, so ``LiveWriter.recover`` derives again, at
start, whatever a crash lost in between.
"""

from __future__ import annotations

import dataclasses
import operator
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import pyarrow as pa

from shopmind.core import FieldError, IdentifierHasher, InvalidEventError
from shopmind.events import (
    CLIENT_SOURCE,
    EVENT_SCHEMA,
    LINK_COLUMNS,
    NUMBER_LIMITS,
    Event,
    EventType,
    NumberLimits,
    implied_links,
    lines_from_properties,
    orders_from_events,
    stored_properties,
    validate_events,
)
from shopmind.events._validation import MAX_EVENT_BYTES
from shopmind.store import QUARANTINE_SCHEMA, Store, missing_profiles, record_profiles

# how much of a rejected event goes to the quarantine, which redacts personal data and then keeps
# its first 4,096 characters: redacting whole JSON objects misses nothing a cut would split
_RAW_LIMIT = 64 * 1024


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
    source: str = "api",
    limits: NumberLimits = NUMBER_LIMITS,
) -> tuple[list[Event], list[Rejected]]:
    """Validate a request's events: the accepted ones and the rejected ones (with their position).
    ``defaults`` fill keys an event leaves out (e.g. ``type`` from the endpoint). ``source``:
    ``CLIENT_SOURCE`` for what a browser or app sent with the public write key (its orders are
    claims until a server-side source confirms them), ``SERVER_SOURCE`` for the shop's servers."""
    if defaults or any(isinstance(raw, dict) and "type" not in raw for raw in raws):
        raws = [_with_defaults(raw, defaults) for raw in raws]
    accepted: list[Event] = []
    rejected: list[Rejected] = []
    validated = validate_events(
        raws, received_at=received_at, hasher=hasher, max_bytes=max_bytes, source=source, limits=limits
    )
    for index, (raw, event) in enumerate(zip(raws, validated, strict=True)):
        if isinstance(event, InvalidEventError):
            rejected.append(Rejected(index, event.errors, raw_text(raw)))
        else:
            accepted.append(event)
    return accepted, rejected


def raw_text(raw: object) -> str:
    """What the quarantine keeps of a rejected event: its JSON, cut at ``_RAW_LIMIT`` characters
    (an event nested too deeply for JSON keeps its outer levels)."""
    try:
        text = orjson.dumps(raw, default=str)
    except TypeError:  # nested deeper than orjson writes (254 levels): keep what a reader can use
        text = orjson.dumps(_shallow(raw, 8), default=str)
    return text[:_RAW_LIMIT].decode("utf-8", "replace")


def _shallow(value: object, depth: int) -> object:
    if isinstance(value, dict):
        return {k: _shallow(v, depth - 1) for k, v in value.items()} if depth else "{…}"
    if isinstance(value, list):
        return [_shallow(v, depth - 1) for v in value] if depth else "[…]"
    return value


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
    table, quarantined = _tables(events, rejected, rows)
    return store.write_atomically(lambda: _store_group(store, events, table, quarantined))


def _tables(
    events: Sequence[Event], rejected: Sequence[Rejected], rows: pa.Table | None
) -> tuple[pa.Table | None, pa.Table | None]:
    """A group's event rows (``rows`` if built already) and quarantine rows, if any."""
    table = rows if rows is not None else event_rows(events) if events else None
    return table, _quarantine_rows(rejected) if rejected else None


def _store_group(
    store: Store,
    events: Sequence[Event],
    table: pa.Table | None,
    quarantined: pa.Table | None,
    *,
    derive: bool = True,
) -> list[bool]:
    duplicate: list[bool] = []
    if table is not None:
        result = store.write_events(table, link=False)
        if result.duplicates:
            stored, seen = result.stored_before, set()
            for event in events:
                duplicate.append(event.message_id in stored or event.message_id in seen)
                seen.add(event.message_id)
        else:  # the usual case: every event is new
            duplicate = [False] * len(events)
        if derive:
            _write_orders(store, _new_orders(events, duplicate))
            new = [e for e, dup in zip(events, duplicate, strict=True) if not dup]
            _link_and_profile(store, implied_links(map(_LINK_ROW, map(vars, new))), _identifiers(new))
    if quarantined is not None:
        store.quarantine(quarantined, source="api")
    return duplicate


def _identifiers(events: Sequence[Event]) -> set[str]:
    """The profile identifiers of the events' senders (``anon:`` and ``user:``)."""
    anons = {e.anonymous_id for e in events}
    users = {e.user_id for e in events}
    anons.discard(None)
    users.discard(None)
    return {*(f"anon:{a}" for a in anons), *(f"user:{u}" for u in users)}


def _one_per_order(events: Sequence[Event]) -> list[Event]:
    """One event per order id: the first, unless a later one comes from a server-side source and
    the first is a client's claim (the server's order, lines and all, wins)."""
    chosen: dict[str, Event] = {}
    for event in events:
        assert event.order_id is not None
        held = chosen.get(event.order_id)
        if held is None or (held.source == CLIENT_SOURCE and event.source != CLIENT_SOURCE):
            chosen[event.order_id] = event
    return list(chosen.values())


def _new_orders(events: Sequence[Event], duplicate: Sequence[bool]) -> list[Event]:
    """Orders of new events only: a re-sent order event is not a new order."""
    return [e for e, dup in zip(events, duplicate, strict=True) if e.order_id is not None and not dup]


def _write_orders(store: Store, events: Sequence[Event]) -> int:
    if not events:
        return 0
    orders, lines = orders_from_events(_one_per_order(events))
    if orders.num_rows:
        return store.write_orders(orders, lines)[0].inserted
    return 0


#: Events received this long before the newest identity link are searched again by ``recover``
#: (an event waits for its group far less: the server answers 503 when it falls behind).
RECOVER_MARGIN = timedelta(minutes=10)


#: Identifiers the live writer remembers having a profile row (the oldest forgotten first): a
#: returning visitor's events then cost no lookup.
KNOWN_PROFILES = 200_000


class LiveWriter:
    """The server's writer: each group's events (and rejected ones) durable in one short
    transaction; the rows derived from them (orders with their lines, identity links, a profile
    for every new visitor) queued until ``flush`` writes those of many groups in one transaction.

    Between a group's write and the next flush, its orders, links and profiles are not in the
    store yet (the server decides when to flush, and flushes before anything else reads on its
    store thread: see ``api._worker``). Not thread-safe: one thread (the server's store thread)
    calls it."""

    def __init__(self) -> None:
        self._orders: list[Event] = []
        self._links: dict[tuple[str, str, str], None] = {}
        self._seen: dict[str, None] = {}  # identifiers not known to have a profile row
        self._known: dict[str, None] = {}  # identifiers known to have one (at most KNOWN_PROFILES)
        self._since: float | None = None  # monotonic time of the oldest queued row

    @property
    def pending(self) -> int:
        """Derived rows queued (orders, identity links and visitors who may lack a profile)."""
        return len(self._orders) + len(self._links) + len(self._seen)

    def age(self) -> float:
        """Seconds since the oldest queued derived row was queued (0 when none is)."""
        return 0.0 if self._since is None else time.monotonic() - self._since

    def write(
        self,
        store: Store,
        events: Sequence[Event],
        rejected: Sequence[Rejected],
        rows: pa.Table | None = None,
    ) -> list[bool]:
        """Like ``store_incoming``, with the derived rows queued for ``flush``."""
        table, quarantined = _tables(events, rejected, rows)
        if quarantined is None:  # the events alone: one statement (``Store.write_events``)
            duplicate = _store_group(store, events, table, None, derive=False)
        else:
            duplicate = store.write_atomically(
                lambda: _store_group(store, events, table, quarantined, derive=False)
            )
        new = (
            events if not any(duplicate) else [e for e, dup in zip(events, duplicate, strict=True) if not dup]
        )
        before = self.pending
        self._orders += [e for e in new if e.order_id is not None]
        # only an event with a member id or contact data implies a link (see ``implied_links``)
        linking = [
            e for e in new if e.user_id is not None or e.email_hash is not None or e.phone_hash is not None
        ]
        if linking:
            self._links.update(dict.fromkeys(implied_links(map(_LINK_ROW, map(vars, linking)))))
        known = self._known
        self._seen.update(dict.fromkeys(i for i in _identifiers(new) if i not in known))
        if self.pending and not before:
            self._since = time.monotonic()
        return duplicate

    def flush(self, store: Store) -> dict[str, str]:
        """Write the queued orders, identity links and new visitors' profiles in one transaction
        (kept queued if it fails). Returns the customers the links joined: old profile id → the
        joined customer's (every identifier of the old one moved)."""
        if not self.pending:
            return {}
        orders, links, seen = self._orders, list(self._links), set(self._seen)
        graph = store.identity_graph()
        # a link only ever joins whole customers: the customers of its two ends before and after
        before = {ident: graph.profile_of(ident) for a, b, _ in links for ident in (a, b)}

        def write() -> set[str]:
            _write_orders(store, orders)
            return _link_and_profile(store, links, seen)[1]

        profiled = store.write_atomically(write)
        self._orders, self._links, self._seen, self._since = [], {}, {}, None
        self._remember(profiled)
        if not before:
            return {}
        graph = store.identity_graph()
        return {old: new for ident, old in before.items() if (new := graph.profile_of(ident)) != old}

    def forget(self, identifiers: Iterable[str]) -> None:
        """Identifiers whose profile rows were deleted (an erasure): their next events make them
        again."""
        for ident in identifiers:
            self._known.pop(ident, None)

    def _remember(self, identifiers: set[str]) -> None:
        known = self._known
        known.update(dict.fromkeys(identifiers))
        for _ in range(len(known) - KNOWN_PROFILES):
            del known[next(iter(known))]

    def recover(self, store: Store) -> tuple[int, int]:
        """Derive again what the last run stored events for but did not flush: the orders of
        stored order events that have none, and the identity links of the events received since
        shortly before the newest link. Returns (orders, links) written."""
        rows = store.query_arrow(
            f"""SELECT {", ".join(f'e."{c}"' for c in EVENT_SCHEMA.names)} FROM events e
            WHERE e.type = '{EventType.ORDER_COMPLETED.value}' AND e.order_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = e.order_id)
            ORDER BY e.received_at, e.message_id"""
        ).to_pylist()
        lost = [
            Event(**{**row, "type": EventType(row["type"]), "lines": lines})
            for row in rows
            if (lines := lines_from_properties(row["properties"]))
        ]
        newest = store.scalar("SELECT max(created_at) FROM identity_links")
        since = newest - RECOVER_MARGIN if isinstance(newest, datetime) else None
        pairs = implied_links(
            store.sql(
                f"""SELECT {", ".join(LINK_COLUMNS)} FROM events
                WHERE (? IS NULL OR received_at >= ?)
                  AND ((anonymous_id IS NOT NULL AND user_id IS NOT NULL) OR type = 'alias'
                       OR email_hash IS NOT NULL OR phone_hash IS NOT NULL)
                ORDER BY received_at, message_id""",
                [since, since],
            )
        )

        def write() -> tuple[int, int]:
            linked, _ = _link_and_profile(store, pairs, set(missing_profiles(store)))
            return _write_orders(store, lost), linked

        return store.write_atomically(write)


def _link_and_profile(
    store: Store, links: list[tuple[str, str, str]], seen: set[str]
) -> tuple[int, set[str]]:
    """Record ``links``, then a profile for every identifier of ``seen`` or of a new link, and move
    the customers a new link joined to their joined profile; returns the number of new links and
    the identifiers now known to have a profile."""
    new = store.link_identities(links) if links else []
    ends = {ident for link in new for ident in (link.a, link.b)}
    joined = {ident for link in new if link.merged for ident in (link.a, link.b)}
    record_profiles(store, seen | ends, joined)
    return len(new), seen | ends


_FIELDS = [f.name for f in dataclasses.fields(Event)]
_SCHEMA_FIELDS = [_FIELDS.index(name) for name in EVENT_SCHEMA.names]  # each column's field
_LINK_ROW = operator.itemgetter(*LINK_COLUMNS)
_PROPERTIES = EVENT_SCHEMA.names.index("properties")


def event_rows(events: Sequence[Event]) -> pa.Table:
    """The events in the ``EVENT_SCHEMA`` layout (what ``events_to_arrow`` gives, several times
    faster: one pass over the events' fields, then one conversion per column, none for a column
    of one repeated value, such as the receive time or a column no event of the batch uses)."""
    if not events:
        return EVENT_SCHEMA.empty_table()
    n = len(events)
    arrays = []
    # an event's fields are in the order of Event's fields (its __init__ and the fast path both
    # set them so): the values of the dicts, transposed, are the columns in that order
    fields = list(zip(*map(dict.values, map(vars, events)), strict=True))
    columns = [fields[at] for at in _SCHEMA_FIELDS]
    if any(e.lines for e in events):  # orders keep their lines in the stored properties
        columns[_PROPERTIES] = tuple(map(stored_properties, events))
    for values, type_ in zip(columns, EVENT_SCHEMA.types, strict=True):
        first, last = values[0], values[-1]
        if (last is not first and last != first) or values.count(first) != n:
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
