"""The outbox: every message a campaign means to send, as a row that moves through
``queued → sending → sent | failed | suppressed | unknown``, so that a sender killed at any moment
loses nothing and sends nothing twice but what the kill itself cut.

* ``enqueue`` adds rows keyed by the idempotency key (campaign × customer × step): planning the
  same step again adds nothing twice.
* ``claim_due`` moves a batch of due rows to ``sending`` (``attempts + 1``) in one transaction; the
  sender then hands them over and ``record_outcomes`` writes what became of each, in one
  transaction per batch: ``sent``, ``failed``, ``suppressed`` (with the reason), ``unknown`` (the
  hand-over was cut), or back to ``queued`` for a retry at ``next_attempt_at`` (exponential
  backoff, ``retry_at``) or, deferred out of the night, at a later ``due_at``.
* ``recover_sending``: the rows a killed sender left in ``sending`` may or may not have reached
  the provider: they become ``unknown`` and are claimed again, sent with the same key (a gateway
  drops the repeat, an e-mail reader recognises the Message-ID) and counted in ``resends``.

No address is kept: the sender asks a contact book at hand-over. All times are UTC; days and
weeks of the frequency caps are the shop's (``zone``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import orjson
import pyarrow as pa

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.store._store import Store

OUTBOX_STATES = ("queued", "sending", "sent", "failed", "suppressed", "unknown")
#: the states that count against a customer's frequency caps: gone, going, or maybe gone
CAPPED_STATES = ("queued", "sending", "sent", "unknown")
#: the overall row of ``cap_counts`` (every channel together)
ALL_CHANNELS = "all"
#: why a sender left a row ``unknown`` when it was found in ``sending`` at the next start
INTERRUPTED = "interrupted during hand-over (the sender stopped); resent with the same key"
#: the first retry waits this long, each further one twice as long, up to ``BACKOFF_CAP_S``
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 3600.0

Settled = Literal["sent", "failed", "suppressed", "unknown", "queued"]


@dataclass(frozen=True)
class OutboxRow:
    """One message a campaign step means to send (``state`` queued), or chose not to (``state``
    suppressed, ``reason`` why: no_consent, opted_out, cap, unreachable)."""

    message_key: str
    campaign_id: str
    step: str
    profile_id: str
    channel: str
    format: str
    kind: str
    due_at: datetime
    body_text: str
    planned_at: datetime | None = None  # default: due_at
    subject: str | None = None
    body_html: str | None = None
    template_code: str | None = None
    image_url: str | None = None
    links: tuple[str, ...] = ()
    cost: float = 0.0
    state: str = "queued"
    reason: str | None = None


@dataclass(frozen=True)
class Claimed:
    """A row claimed for sending: what the sender needs to build the message."""

    message_key: str
    campaign_id: str
    step: str
    profile_id: str
    channel: str
    format: str
    kind: str
    subject: str | None
    body_text: str
    body_html: str | None
    template_code: str | None
    image_url: str | None
    links: tuple[str, ...]
    attempts: int  # this one included
    resends: int  # this one included, if it is a resend after an unknown hand-over
    due_at: datetime


@dataclass(frozen=True)
class Outcome:
    """What became of a claimed row. ``state`` queued: try again at ``next_attempt_at`` (a retry)
    or at ``due_at`` (deferred). ``event``: a message event to record with it (``delivered`` or
    ``failed``, when the provider said so)."""

    key: str
    state: Settled
    reason: str | None = None
    provider_id: str | None = None
    next_attempt_at: datetime | None = None
    due_at: datetime | None = None
    event: Literal["delivered", "failed"] | None = None
    detail: dict[str, object] = field(default_factory=dict)


_ROW_COLUMNS = (
    "message_key",
    "campaign_id",
    "step",
    "profile_id",
    "channel",
    "format",
    "kind",
    "state",
    "due_at",
    "planned_at",
    "subject",
    "body_text",
    "body_html",
    "template_code",
    "image_url",
    "links",
    "cost",
    "reason",
)
_ROW_SCHEMA = pa.schema(
    [
        (
            c,
            pa.timestamp("us", tz="UTC")
            if c in ("due_at", "planned_at")
            else pa.float64()
            if c == "cost"
            else pa.string(),
        )
        for c in _ROW_COLUMNS
    ]
)


def _check_rows(rows: Sequence[OutboxRow]) -> None:
    errors = []
    for i, row in enumerate(rows):
        if row.state not in ("queued", "suppressed"):
            errors.append(FieldError(f"rows[{i}].state", f"{row.state!r}: a new row is queued or suppressed"))
        if row.due_at.tzinfo is None:
            errors.append(FieldError(f"rows[{i}].due_at", "expected a date and time with its time zone"))
        if not row.message_key:
            errors.append(FieldError(f"rows[{i}].message_key", "empty"))
    if errors:
        raise InvalidInputError(errors)


def enqueue(store: Store, rows: Iterable[OutboxRow], *, at: datetime) -> int:
    """Add ``rows`` to the outbox in one transaction; a key already there is left as it is (a
    re-planned step adds nothing twice, and a row sent since keeps its state). How many were added."""
    rows = list(rows)
    if not rows:
        return 0
    _check_rows(rows)
    table = pa.table(
        {
            "message_key": [r.message_key for r in rows],
            "campaign_id": [r.campaign_id for r in rows],
            "step": [r.step for r in rows],
            "profile_id": [r.profile_id for r in rows],
            "channel": [r.channel for r in rows],
            "format": [r.format for r in rows],
            "kind": [r.kind for r in rows],
            "state": [r.state for r in rows],
            "due_at": [r.due_at for r in rows],
            "planned_at": [r.planned_at or r.due_at for r in rows],
            "subject": [r.subject for r in rows],
            "body_text": [r.body_text for r in rows],
            "body_html": [r.body_html for r in rows],
            "template_code": [r.template_code for r in rows],
            "image_url": [r.image_url for r in rows],
            "links": [orjson.dumps(list(r.links)).decode() for r in rows],
            "cost": [float(r.cost) for r in rows],
            "reason": [r.reason for r in rows],
        },
        schema=_ROW_SCHEMA,
    )
    columns = ", ".join(_ROW_COLUMNS)
    with store.staged("_outbox_new", table) as src, store.atomically():
        # the first of a key within ``rows`` wins, as a stored one does
        added = store.sql(
            f"""INSERT INTO outbox ({columns}, attempts, resends, created_at, updated_at)
            SELECT {columns}, 0, 0, ?, ? FROM (
                SELECT *, row_number() OVER (PARTITION BY message_key) AS nth FROM {src}
            ) WHERE nth = 1 ON CONFLICT DO NOTHING""",
            [at, at],
        )
    return int(added[0][0]) if added else 0


_CLAIMED = (
    "message_key, campaign_id, step, profile_id, channel, format, kind, subject, body_text, body_html, "
    "template_code, image_url, links, attempts, resends, due_at"
)


def claim_due(store: Store, at: datetime, limit: int) -> list[Claimed]:
    """Move up to ``limit`` rows due at ``at`` (queued or unknown, their retry time passed, their
    campaign neither paused nor finished nor back to a draft) to ``sending`` in one transaction, ``attempts + 1`` (and ``resends + 1``
    for an unknown one, which is now sent again); earliest due first."""
    if limit < 1:
        raise InvalidInputError([FieldError("limit", "claim at least one row")])
    with store.atomically():
        rows = store.sql(
            f"""UPDATE outbox SET state = 'sending', attempts = attempts + 1,
                   resends = resends + CASE WHEN state = 'unknown' THEN 1 ELSE 0 END, updated_at = ?
            WHERE message_key IN (
                SELECT o.message_key FROM outbox o
                WHERE o.state IN ('queued', 'unknown') AND o.due_at <= ?
                  AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?)
                  AND o.campaign_id NOT IN (
                      SELECT campaign_id FROM campaigns WHERE state IN ('draft', 'paused', 'finished'))
                ORDER BY o.due_at, o.message_key LIMIT ?
            ) RETURNING {_CLAIMED}""",
            [at, at, at, limit],
        )
    claimed = [_claimed(row) for row in rows]
    claimed.sort(key=lambda c: (c.due_at, c.message_key))
    return claimed


#: the campaign states whose messages the sender does not send (claim_due, held_campaigns)
_HELD_STATES = ("draft", "paused", "finished")


def held_campaigns(store: Store, campaign_ids: Iterable[str]) -> frozenset[str]:
    """Which of ``campaign_ids`` are now paused, finished or back to a draft: the sender reads
    this again while handing a claimed batch over, so a pause stops it mid-batch."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return frozenset()
    rows = store.sql(
        "SELECT campaign_id FROM campaigns WHERE list_contains(?, campaign_id) AND list_contains(?, state)",
        [ids, list(_HELD_STATES)],
    )
    return frozenset(r[0] for r in rows)


def _claimed(row: tuple[Any, ...]) -> Claimed:
    key, campaign, step, profile, channel, fmt, kind, subject, text, html, code, image = row[:12]
    links = tuple(orjson.loads(row[12] or "[]"))
    return Claimed(
        key,
        campaign,
        step,
        profile,
        channel,
        fmt,
        kind,
        subject,
        text,
        html,
        code,
        image,
        links,
        int(row[13]),
        int(row[14]),
        row[15],
    )


def retry_at(
    at: datetime,
    attempts: int,
    retry_after_s: float | None = None,
    *,
    base_s: float = BACKOFF_BASE_S,
    cap_s: float = BACKOFF_CAP_S,
) -> datetime:
    """When a message that failed its ``attempts``-th try is tried again: ``base_s`` after the
    first, twice as long after each further one, at most ``cap_s``; never sooner than the
    provider asked (``retry_after_s``)."""
    wait = min(cap_s, base_s * 2.0 ** max(0, attempts - 1))
    if retry_after_s is not None:
        wait = max(wait, retry_after_s)
    return at + timedelta(seconds=wait)


_OUTCOME_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("state", pa.string()),
        ("reason", pa.string()),
        ("provider_id", pa.string()),
        ("next_attempt_at", pa.timestamp("us", tz="UTC")),
        ("due_at", pa.timestamp("us", tz="UTC")),
    ]
)


def record_outcomes(store: Store, outcomes: Sequence[Outcome], *, at: datetime) -> int:
    """Write what became of claimed rows, and their message events, in one transaction. Only
    rows still ``sending`` change (a row is settled once). How many changed."""
    if not outcomes:
        return 0
    bad = [o for o in outcomes if o.state not in ("sent", "failed", "suppressed", "unknown", "queued")]
    if bad:
        raise InvalidInputError([FieldError("state", f"{bad[0].state!r} is not an outcome of a hand-over")])
    table = pa.table(
        {
            "key": [o.key for o in outcomes],
            "state": [o.state for o in outcomes],
            "reason": [o.reason for o in outcomes],
            "provider_id": [o.provider_id for o in outcomes],
            "next_attempt_at": [o.next_attempt_at for o in outcomes],
            "due_at": [o.due_at for o in outcomes],
        },
        schema=_OUTCOME_SCHEMA,
    )
    events = [o for o in outcomes if o.event is not None]
    with store.staged("_outbox_outcomes", table) as src, store.atomically():
        changed = store.sql(
            f"""UPDATE outbox SET state = r.state, reason = r.reason,
                   provider_id = coalesce(r.provider_id, outbox.provider_id),
                   next_attempt_at = r.next_attempt_at, due_at = coalesce(r.due_at, outbox.due_at),
                   sent_at = CASE WHEN r.state = 'sent' THEN ? ELSE outbox.sent_at END, updated_at = ?
            FROM {src} r WHERE outbox.message_key = r.key AND outbox.state = 'sending'""",
            [at, at],
        )
        if events:
            _record_events(store, events, at)
    return int(changed[0][0]) if changed else 0


def _record_events(store: Store, events: Sequence[Outcome], at: datetime) -> None:
    """The provider's word on a message (``delivered``, ``failed``), stored once per message and
    kind (the event id is derived: a resend's answer does not count twice)."""
    table = pa.table(
        {
            "event_id": [f"{o.key}:{o.event}" for o in events],
            "key": [o.key for o in events],
            "kind": [o.event for o in events],
            "detail": [orjson.dumps({"reason": o.reason, **o.detail}).decode() for o in events],
        }
    )
    with store.staged("_outbox_events", table) as src:
        store.sql(
            f"""INSERT INTO message_events
            SELECT e.event_id, o.message_key, o.campaign_id, o.step, o.profile_id, e.kind, ?, ?, e.detail
            FROM {src} e JOIN outbox o ON o.message_key = e.key ON CONFLICT DO NOTHING""",
            [at, at],
        )


def mark_sent(store: Store, key: str, *, at: datetime, provider_id: str | None = None) -> int:
    """The provider took the message."""
    return record_outcomes(store, [Outcome(key, "sent", provider_id=provider_id)], at=at)


def mark_failed(store: Store, key: str, reason: str, *, at: datetime) -> int:
    """The message will never go (the provider refused it, or it ran out of attempts)."""
    return record_outcomes(store, [Outcome(key, "failed", reason, event="failed")], at=at)


def mark_retry(
    store: Store, key: str, reason: str, *, at: datetime, attempts: int, retry_after_s: float | None = None
) -> int:
    """Not now: back to ``queued``, tried again after the backoff (``retry_at``)."""
    when = retry_at(at, attempts, retry_after_s)
    return record_outcomes(store, [Outcome(key, "queued", reason, next_attempt_at=when)], at=at)


def mark_suppressed(store: Store, key: str, reason: str, *, at: datetime) -> int:
    """Not sent, on purpose: ``reason`` says why (unreachable, withdrawn, no_consent)."""
    return record_outcomes(store, [Outcome(key, "suppressed", reason)], at=at)


def mark_unknown(store: Store, key: str, reason: str, *, at: datetime) -> int:
    """The hand-over was cut: the provider may have it. Claimed again and resent with its key."""
    return record_outcomes(store, [Outcome(key, "unknown", reason)], at=at)


@dataclass(frozen=True)
class Reported:
    """A provider's later word on a message it took (a delivery callback): ``delivered`` to the
    phone or inbox, or ``failed`` (``reason``: the provider's words). Names the message by our key
    or by the provider's id for it."""

    status: Literal["delivered", "failed"]
    message_key: str | None = None
    provider_id: str | None = None
    reason: str | None = None


_REPORTED_SCHEMA = pa.schema(
    [
        ("pos", pa.int64()),
        ("status", pa.string()),
        ("message_key", pa.string()),
        ("provider_id", pa.string()),
        ("reason", pa.string()),
    ]
)


def record_reported(store: Store, reports: Sequence[Reported], *, at: datetime) -> int:
    """Move the outbox rows the providers reported on, in one transaction; how many changed.

    * ``failed``: a row ``sent``, ``unknown`` or ``sending`` becomes ``failed`` with the provider's
      reason (``delivery failed: …``): it never reached the customer, and an ``unknown`` one is
      not resent (the provider had it);
    * ``delivered``: a ``sent`` row stays ``sent``; an ``unknown`` one becomes ``sent`` (the
      provider has it: resending it would only repeat it).

    A report naming a provider id that two rows share is ambiguous and moves nothing; a row
    already ``failed`` stays as it is (the first word wins over a contradicting later one)."""
    if not reports:
        return 0
    table = pa.table(
        {
            "pos": list(range(len(reports))),
            "status": [r.status for r in reports],
            "message_key": [r.message_key for r in reports],
            "provider_id": [r.provider_id for r in reports],
            "reason": [r.reason for r in reports],
        },
        schema=_REPORTED_SCHEMA,
    )
    with store.staged("_outbox_reported", table) as src, store.atomically():
        # each report's row: by our key, else by the provider's id when exactly one row has it;
        # of several reports on one row, a failure counts (the last one's reason)
        changed = store.sql(
            f"""WITH found AS (
                SELECT s.pos, s.status, s.reason, o.message_key AS key
                FROM {src} s JOIN outbox o ON o.message_key = s.message_key
                UNION ALL
                SELECT s.pos, s.status, s.reason, any_value(o.message_key)
                FROM {src} s JOIN outbox o ON s.message_key IS NULL AND o.provider_id = s.provider_id
                GROUP BY ALL HAVING count(*) = 1
            ), per_row AS (
                SELECT key, bool_or(status = 'failed') AS failed,
                       arg_max(reason, pos) FILTER (WHERE status = 'failed') AS reason
                FROM found GROUP BY key
            )
            UPDATE outbox SET
                state = CASE WHEN r.failed THEN 'failed' ELSE 'sent' END,
                reason = CASE WHEN r.failed
                    THEN 'delivery failed: ' || coalesce(r.reason, 'the provider gave no reason')
                    ELSE outbox.reason END,
                sent_at = CASE WHEN r.failed THEN outbox.sent_at ELSE coalesce(outbox.sent_at, ?) END,
                next_attempt_at = NULL, updated_at = ?
            FROM per_row r
            WHERE outbox.message_key = r.key
              AND ((r.failed AND outbox.state IN ('sent', 'unknown', 'sending'))
                   OR (NOT r.failed AND outbox.state = 'unknown'))""",
            [at, at],
        )
    return int(changed[0][0]) if changed else 0


def release(store: Store, keys: Sequence[str], *, at: datetime) -> int:
    """Put claimed rows the sender did not hand over (it is stopping) back in the queue, their
    claim not counted as an attempt; how many."""
    if not keys:
        return 0
    rows = store.sql(
        "UPDATE outbox SET state = 'queued', attempts = greatest(attempts - 1, 0), updated_at = ? "
        "WHERE list_contains(?, message_key) AND state = 'sending'",
        [at, list(keys)],
    )
    return int(rows[0][0]) if rows else 0


def recover_sending(store: Store, *, at: datetime) -> int:
    """Mark the rows a stopped sender left in ``sending`` as ``unknown`` (call it before a sender
    starts, when no other sender works on the store); how many."""
    rows = store.sql(
        "UPDATE outbox SET state = 'unknown', reason = ?, updated_at = ? WHERE state = 'sending'",
        [INTERRUPTED, at],
    )
    return int(rows[0][0]) if rows else 0


def outbox_counts(store: Store, campaign_id: str | None = None) -> dict[str, int]:
    """How many rows are in each state (every state named, 0 if none), of one campaign or all;
    ``resent``: how many were sent again after an unknown hand-over."""
    where, params = ("WHERE campaign_id = ?", [campaign_id]) if campaign_id is not None else ("", [])
    found = dict(store.sql(f"SELECT state, count(*) FROM outbox {where} GROUP BY state", params))
    counts = {state: int(found.get(state, 0)) for state in OUTBOX_STATES}
    counts["resent"] = int(
        store.scalar(f"SELECT count(*) FROM outbox {where} {'AND' if where else 'WHERE'} resends > 0", params)
    )
    return counts


def next_due(store: Store) -> datetime | None:
    """When the earliest queued or unknown row may go (None: nothing waits)."""
    found = store.scalar(
        "SELECT min(greatest(due_at, coalesce(next_attempt_at, due_at))) FROM outbox WHERE state IN ('queued', 'unknown')"
    )
    return found if isinstance(found, datetime) else None


def cap_counts(
    store: Store,
    day: date,
    *,
    zone: str = DEFAULT_SHOP_TZ,
    profile_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None = None,
) -> pa.Table:
    """Advertising messages per customer that count against the frequency caps (queued, sending,
    sent or unknown), on the shop's ``day`` and in its week (Monday to Sunday, the shop's
    ``zone``), by when they went or are due to go: ``profile_id``, ``channel`` (``ALL_CHANNELS``
    for every channel together), ``day`` and ``week`` counts. One query, set-based; only the
    customers with a message that week appear."""
    within = ""
    if profile_ids is not None:
        ids = (
            profile_ids
            if isinstance(profile_ids, pa.Array | pa.ChunkedArray)
            else pa.array(list(profile_ids), pa.string())
        )
        staged: pa.Table | None = pa.table({"profile_id": ids.cast(pa.string())})
        within = "AND profile_id IN (SELECT profile_id FROM _cap_wanted)"
    else:
        staged = None
    monday = day - timedelta(days=day.weekday())
    query = f"""WITH counted AS (
            SELECT profile_id, channel,
                   CAST(timezone(?, coalesce(sent_at, due_at)) AS DATE) AS shop_day
            FROM outbox
            WHERE kind = 'advertising' AND list_contains(?, state) {within}
        )
        SELECT profile_id, coalesce(channel, '{ALL_CHANNELS}') AS channel,
               count(*) FILTER (WHERE shop_day = ?) AS day, count(*) AS week
        FROM counted WHERE shop_day BETWEEN ? AND ?
        GROUP BY GROUPING SETS ((profile_id, channel), (profile_id))
        ORDER BY profile_id, channel"""
    params = [zone, list(CAPPED_STATES), day, monday, monday + timedelta(days=6)]
    if staged is None:
        return store.query_arrow(query, params)
    with store.staged("_cap_wanted", staged):
        return store.query_arrow(query, params)
