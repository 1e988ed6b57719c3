"""What happened to a campaign's messages after they left, and what their customers bought.

Message events (delivered, failed, opened, clicked, unsubscribed, converted) are stored once by
their ``event_id``: a provider's callback id, or one derived from what the event says (the first
open of a message, the first click on each of its links), so a pixel loaded twice or a callback
sent again counts once. Each event is tied to its outbox row by the message key (or the
provider's id for it); an event naming no known message is not stored.

A **conversion** is a placed, verified order (``order_totals``, returns left out) by the same
customer within the campaign's attribution window: from the moment their first message was sent
(treated) or, for customers who got none (the holdout, and treated customers the plan could not
reach), from when they entered the campaign (or its start, if later). Everything here is one
query per call, whatever the number of members (set-based, in the engine).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from shopmind.core import FieldError, InvalidInputError
from shopmind.store._store import Store

#: what can happen to a message after it left
MESSAGE_EVENT_KINDS = ("delivered", "failed", "opened", "clicked", "unsubscribed", "converted")
_TEXT_LIMIT = 256

#: the customer (profile) behind each placed, verified order (returns left out), as the KPIs see
#: it: order_id, ordered_at, revenue, profile_id. One definition for what campaigns call a purchase:
#: conversions and results here, journeys' purchase exits and "bought" branches
PLACED_ORDERS_SQL = """
    SELECT t.order_id, t.ordered_at, t.revenue, coalesce(p.profile_id, k.ident) AS profile_id
    FROM order_totals t JOIN (
        SELECT order_id, coalesce('user:' || customer_id, 'email:' || email_hash,
                                  'phone:' || phone_hash, 'anon:' || anonymous_id) AS ident
        FROM orders
    ) k USING (order_id)
    LEFT JOIN profiles p ON p.identifier = k.ident
    WHERE NOT t.is_return
"""
#: the same, placed by ``?`` (as of)
_PURCHASES = f"SELECT * FROM ({PLACED_ORDERS_SQL}) WHERE ordered_at <= ?"


@dataclass(frozen=True)
class MessageEvent:
    """Something that happened to the message ``message_key`` (or, for a gateway's delivery
    report, the message the provider knows as ``provider_id``) at ``occurred_at``.

    ``event_id`` makes it idempotent; without one it is derived: ``kind:message_key`` (one
    delivery, one first open, one unsubscribe per message), ``clicked:key:link`` for the first
    click on each link (``detail["link"]``)."""

    kind: str
    occurred_at: datetime
    message_key: str | None = None
    provider_id: str | None = None
    event_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        if self.event_id:
            return self.event_id
        reference = self.message_key or f"provider:{self.provider_id}"
        if self.kind == "clicked" and "link" in self.detail:
            return f"clicked:{reference}:{self.detail['link']}"
        return f"{self.kind}:{reference}"

    def problems(self, where: str = "") -> list[FieldError]:
        errors = []
        if self.kind not in MESSAGE_EVENT_KINDS:
            errors.append(
                FieldError(f"{where}kind", f"{self.kind!r}: expected one of {', '.join(MESSAGE_EVENT_KINDS)}")
            )
        if not self.message_key and not self.provider_id:
            errors.append(FieldError(f"{where}message_key", "give the message key or the provider's id"))
        if not isinstance(self.occurred_at, datetime) or self.occurred_at.tzinfo is None:
            errors.append(FieldError(f"{where}occurred_at", "expected a date and time with its time zone"))
        for name in ("message_key", "provider_id", "event_id"):
            value = getattr(self, name)
            if value is not None and len(value) > _TEXT_LIMIT:
                errors.append(FieldError(f"{where}{name}", f"longer than {_TEXT_LIMIT} characters"))
        return errors


@dataclass(frozen=True)
class EventsRecorded:
    """What ``record_message_events`` did: events stored, events stored before (or repeated in the
    call), and the positions of events naming no known message (not stored)."""

    inserted: int
    duplicates: int
    unknown: tuple[int, ...] = ()


_EVENT_SCHEMA = pa.schema(
    [
        ("pos", pa.int64()),
        ("event_id", pa.string()),
        ("message_key", pa.string()),
        ("provider_id", pa.string()),
        ("kind", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("detail", pa.string()),
    ]
)


def record_message_events(store: Store, events: Sequence[MessageEvent]) -> EventsRecorded:
    """Store ``events`` once each (one transaction), each tied to its outbox row by message key or,
    without one, by the provider's id. InvalidInputError names every bad field
    (``events.2.kind: …``) and stores nothing."""
    errors = [e for at, event in enumerate(events) for e in event.problems(f"events.{at}.")]
    if errors:
        raise InvalidInputError(errors)
    if not events:
        return EventsRecorded(0, 0)
    rows = pa.table(
        {
            "pos": list(range(len(events))),
            "event_id": [e.key() for e in events],
            "message_key": [e.message_key for e in events],
            "provider_id": [e.provider_id for e in events],
            "kind": [e.kind for e in events],
            "occurred_at": [e.occurred_at for e in events],
            "detail": [json.dumps(dict(e.detail), ensure_ascii=False) if e.detail else None for e in events],
        },
        schema=_EVENT_SCHEMA,
    )
    with store.atomically(), store.staged("_message_events_in", rows) as src:
        # the provider's id is unique to a message only together with what the provider is; a
        # report naming an id two messages share is ambiguous and is not stored
        store.sql(
            f"""CREATE OR REPLACE TEMP TABLE _message_events_found AS
            SELECT s.*, o.message_key AS found_key, o.campaign_id, o.step, o.profile_id
            FROM {src} s JOIN outbox o ON o.message_key = s.message_key
            UNION ALL
            SELECT s.*, any_value(o.message_key), any_value(o.campaign_id), any_value(o.step), any_value(o.profile_id)
            FROM {src} s JOIN outbox o ON s.message_key IS NULL AND o.provider_id = s.provider_id
            GROUP BY ALL HAVING count(*) = 1"""
        )
        try:
            found = {int(r[0]) for r in store.sql("SELECT pos FROM _message_events_found")}
            inserted = int(
                store.sql(
                    """INSERT INTO message_events (event_id, message_key, campaign_id, step, profile_id, kind,
                        occurred_at, recorded_at, detail)
                    SELECT event_id, found_key, campaign_id, step, profile_id, kind, occurred_at, ?, detail
                    FROM _message_events_found f
                    WHERE NOT EXISTS (SELECT 1 FROM message_events e WHERE e.event_id = f.event_id)
                    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY pos) = 1""",
                    [store._clock.now()],
                )[0][0]
            )
        finally:
            store.sql("DROP TABLE IF EXISTS _message_events_found")
    unknown = tuple(sorted(set(range(len(events))) - found))
    return EventsRecorded(inserted, len(found) - inserted, unknown)


@dataclass(frozen=True)
class TrackedMessage:
    """A message as the tracking links need it: whose, on which channel, its links' targets."""

    message_key: str
    campaign_id: str
    step: str
    profile_id: str
    channel: str
    kind: str
    links: tuple[str, ...]
    sent_at: datetime | None


def tracked_message(store: Store, message_key: str) -> TrackedMessage | None:
    """The outbox row of ``message_key`` (None: no such message, e.g. erased)."""
    rows = store.sql(
        """SELECT message_key, campaign_id, step, profile_id, channel, kind, links, sent_at
        FROM outbox WHERE message_key = ?""",
        [message_key],
    )
    if not rows:
        return None
    key, campaign_id, step, profile_id, channel, kind, links, sent_at = rows[0]
    try:
        targets = json.loads(links) if links else []
    except ValueError:
        targets = []
    if not isinstance(targets, list):
        targets = []
    return TrackedMessage(
        key, campaign_id, step, profile_id, channel, kind, tuple(str(t) for t in targets), sent_at
    )


def _window(days: int) -> str:
    return f"INTERVAL {int(days)} DAY"


def record_conversions(store: Store, campaign_id: str, attribution_days: int, as_of: datetime) -> int:
    """Store a ``converted`` event for each order a messaged customer placed within
    ``attribution_days`` after a message of the campaign was sent (up to ``as_of``), on that
    message (``detail``: order id and revenue); each once. The number newly stored."""
    with store.atomically():
        return int(
            store.sql(
                f"""INSERT INTO message_events (event_id, message_key, campaign_id, step, profile_id, kind,
                    occurred_at, recorded_at, detail)
                SELECT 'converted:' || m.message_key || ':' || o.order_id, m.message_key, m.campaign_id, m.step,
                       m.profile_id, 'converted', o.ordered_at, ?,
                       json_object('order_id', o.order_id, 'revenue', o.revenue)::VARCHAR
                FROM (SELECT * FROM outbox WHERE campaign_id = ? AND sent_at <= ?) m
                JOIN ({_PURCHASES}) o ON o.profile_id = m.profile_id
                     AND o.ordered_at >= m.sent_at AND o.ordered_at < m.sent_at + {_window(attribution_days)}
                WHERE NOT EXISTS (
                    SELECT 1 FROM message_events e
                    WHERE e.event_id = 'converted:' || m.message_key || ':' || o.order_id)""",
                [store._clock.now(), campaign_id, as_of, as_of],
            )[0][0]
        )


@dataclass(frozen=True)
class ArmTotals:
    """The sufficient statistics of one arm: members, converted members, and the sum and sum of
    squares of each member's attributed revenue (0 for those who bought nothing); and how many of
    them were sent a message of the campaign."""

    arm: str
    n: int
    conversions: int
    revenue: float
    revenue_squares: float
    messaged: int = 0


def arm_totals(
    store: Store,
    campaign_id: str,
    attribution_days: int,
    as_of: datetime,
    start_at: datetime | None = None,
    only: Sequence[str] | None = None,
) -> dict[str, ArmTotals]:
    """Per arm (``treated``, ``holdout``) of the campaign: ``ArmTotals`` over its members (or
    those of them in ``only``: a subgroup), each member's window starting at their first sent
    message, or (no message) when they entered the campaign or at ``start_at`` if later. Arms
    without members are absent."""
    only_ids = None if only is None else list(only)
    rows = store.sql(
        f"""WITH first_sent AS (
                SELECT profile_id, min(sent_at) AS sent_at FROM outbox
                WHERE campaign_id = ? AND sent_at <= ? GROUP BY ALL
            ), members AS (
                SELECT m.profile_id, m.arm, f.sent_at IS NOT NULL AS messaged,
                       CASE WHEN m.arm = 'treated' AND f.sent_at IS NOT NULL THEN f.sent_at
                            ELSE greatest(m.entered_at, coalesce(?::TIMESTAMPTZ, m.entered_at)) END AS since
                FROM campaign_members m LEFT JOIN first_sent f USING (profile_id)
                WHERE m.campaign_id = ? AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], m.profile_id))
            ), per_member AS (
                SELECT m.arm, m.profile_id, m.messaged, count(o.order_id) > 0 AS converted,
                       coalesce(sum(o.revenue), 0) AS revenue
                FROM members m LEFT JOIN ({_PURCHASES}) o ON o.profile_id = m.profile_id
                     AND o.ordered_at >= m.since AND o.ordered_at < m.since + {_window(attribution_days)}
                GROUP BY ALL
            )
            SELECT arm, count(*), count(*) FILTER (WHERE converted), sum(revenue), sum(revenue * revenue),
                   count(*) FILTER (WHERE messaged)
            FROM per_member GROUP BY arm""",
        [campaign_id, as_of, start_at, campaign_id, only_ids, only_ids, as_of],
    )
    return {
        arm: ArmTotals(arm, int(n), int(conv), float(revenue or 0.0), float(squares or 0.0), int(messaged))
        for arm, n, conv, revenue, squares, messaged in rows
    }


@dataclass(frozen=True)
class StepCounts:
    """One step's messages: planned (outbox rows), suppressed, sent, and of those sent how many
    were delivered, failed, opened, clicked, unsubscribed and converted (an order within the
    window after that message), the converted orders' revenue, and what the sent messages cost."""

    step: str
    planned: int
    suppressed: int
    sent: int
    delivered: int
    failed: int
    opened: int
    clicked: int
    unsubscribed: int
    converted: int
    revenue: float
    cost: float


def step_counts(store: Store, campaign_id: str, attribution_days: int, as_of: datetime) -> list[StepCounts]:
    """``StepCounts`` for each step of the campaign that has outbox rows, in the order its first
    message was planned."""
    rows = store.sql(
        f"""WITH messages AS (
                -- a message sent after ``as_of`` was not sent yet then
                SELECT * REPLACE (CASE WHEN sent_at <= ? THEN sent_at END AS sent_at)
                FROM outbox WHERE campaign_id = ?
            ), events AS (
                SELECT message_key, bool_or(kind = 'delivered') AS delivered, bool_or(kind = 'failed') AS failed,
                       bool_or(kind IN ('opened', 'clicked')) AS opened, bool_or(kind = 'clicked') AS clicked,
                       bool_or(kind = 'unsubscribed') AS unsubscribed
                FROM message_events WHERE campaign_id = ? AND occurred_at <= ? GROUP BY ALL
            ), bought AS (
                SELECT m.message_key, count(*) AS orders, sum(o.revenue) AS revenue
                FROM messages m JOIN ({_PURCHASES}) o ON o.profile_id = m.profile_id
                     AND o.ordered_at >= m.sent_at AND o.ordered_at < m.sent_at + {_window(attribution_days)}
                WHERE m.sent_at IS NOT NULL GROUP BY ALL
            )
            SELECT m.step, count(*), count(*) FILTER (WHERE m.state = 'suppressed'),
                   count(*) FILTER (WHERE m.sent_at IS NOT NULL),
                   count(*) FILTER (WHERE m.sent_at IS NOT NULL AND e.delivered),
                   count(*) FILTER (WHERE m.state = 'failed' OR (m.sent_at IS NOT NULL AND e.failed)),
                   count(*) FILTER (WHERE m.sent_at IS NOT NULL AND e.opened),
                   count(*) FILTER (WHERE m.sent_at IS NOT NULL AND e.clicked),
                   count(*) FILTER (WHERE m.sent_at IS NOT NULL AND e.unsubscribed),
                   count(b.message_key), coalesce(sum(b.revenue), 0),
                   coalesce(sum(m.cost) FILTER (WHERE m.sent_at IS NOT NULL), 0)
            FROM messages m LEFT JOIN events e USING (message_key) LEFT JOIN bought b USING (message_key)
            GROUP BY m.step ORDER BY min(m.planned_at), m.step""",
        [as_of, campaign_id, campaign_id, as_of, as_of],
    )
    found = []
    for step, *counts, revenue, cost in rows:
        planned, suppressed, sent, delivered, failed, opened, clicked, unsubscribed, converted = map(
            int, counts
        )
        found.append(
            StepCounts(
                str(step),
                planned,
                suppressed,
                sent,
                delivered,
                failed,
                opened,
                clicked,
                unsubscribed,
                converted,
                float(revenue),
                float(cost),
            )
        )
    return found
