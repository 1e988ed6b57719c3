"""The sender: takes due messages from the outbox and hands them to their channels, once.

Each round claims a batch of due rows (``sending``, in one transaction), then, at hand-over:

1. re-checks advertising consent in the ledger for the whole batch (one query per channel): an
   opt-out recorded a moment ago suppresses the message (``withdrawn``), as does consent never
   given (``no_consent``); at night (21:00-08:00 in the shop's zone) a message to a customer
   without night-time consent is moved to 08:00 (``night_deferred``; e-mail is exempt);
2. asks the contact book for the address (none: suppressed, ``unreachable``); addresses are held
   only while the message is built. An advertising text message to a number whose 080 opt-out
   is in the ledger (under the number's keyed hash, linked to the customer or not) is suppressed
   (``withdrawn``);
3. builds the :class:`Message` with the outbox's idempotency key and calls the channel;
4. records every outcome of the batch in one transaction: ``sent`` (the provider's id),
   ``failed`` (refused, with a ``failed`` message event), back to ``queued`` for a retry with
   exponential backoff (rate limits, a provider down: ``retry_after_s`` honoured), or ``unknown``
   when the channel cannot tell whether the provider took it (resent with the same key after the
   same backoff). A push subscription the push service says is gone is revoked in the same
   transaction.

A sender killed in the middle leaves its batch in ``sending``; the next one marks those rows
``unknown`` at start (``recover``) and resends them with their keys: only they can repeat, at
most one batch. ``stop()`` (SIGTERM in ``shopmind worker``) ends after the message in flight:
what was handed over is recorded and the rest of the batch goes back to the queue.

Given ``journeys`` (``run_journeys`` bound to the store and the workspace's settings), the sender
also advances the campaigns' journeys every ``journey_interval`` seconds, at its own clock: the
customers a trigger brings in and the later steps that came due are queued, and the next rounds
send them. A journey that fails is logged and counted (``journey_errors``); sending goes on."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from shopmind.activation._compliance import send_window
from shopmind.activation._journey_runner import JourneysTurn
from shopmind.activation._message import (
    FORMATS,
    Channel,
    ChannelError,
    ContactBook,
    HandOverUnknownError,
    Message,
    Receipt,
)
from shopmind.core import DEFAULT_SHOP_TZ, Clock, FieldError, IdentifierHasher, InvalidInputError
from shopmind.store import (
    NIGHT_EXEMPT,
    Claimed,
    Outcome,
    Store,
    advertising_allowed,
    claim_due,
    held_campaigns,
    is_night,
    may_send_advertising,
    record_outcomes,
    recover_sending,
    release,
    retry_at,
    revoke_push_subscriptions,
    withdrawn_identifiers,
)

_log = logging.getLogger("shopmind.activation")

#: rows claimed per round: at most this many can repeat after a kill (they were in flight)
BATCH = 50
#: tries before a message that keeps being refused for now (retry) is given up as failed
MAX_ATTEMPTS = 6
#: how long ``run_forever`` waits when nothing is due before it looks again
IDLE_S = 1.0
#: tries to record a round's outcomes (another connection's write may conflict with it)
SETTLE_TRIES = 5
#: while handing a batch over, the campaigns' states are read again every this many messages: a
#: pause stops the batch within it (one small query on the campaigns table)
STATE_CHECK_EVERY = 10
#: seconds between two turns of the journeys (entrants and due steps queued)
JOURNEY_INTERVAL_S = 60.0


@dataclass
class SenderStats:
    """What a sender has done since it started: messages per outcome and suppressions by reason;
    ``recovered``: rows found in ``sending`` at start (now ``unknown``, resent)."""

    started: float = field(default_factory=time.monotonic)
    rounds: int = 0
    claimed: int = 0
    sent: int = 0
    duplicates: int = 0  # the provider had the key already (a resend it dropped)
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    deferred: int = 0
    released: int = 0
    recovered: int = 0
    revoked: int = 0  # push subscriptions the push service said are gone
    journey_turns: int = 0
    journey_entered: int = 0  # customers a trigger brought into a journey
    journey_queued: int = 0  # messages the journeys queued (later steps, entrants' first)
    journey_errors: int = 0  # campaigns whose journey turn failed (logged)
    suppressed: Counter[str] = field(default_factory=Counter)

    @property
    def per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.sent / elapsed if elapsed > 0 else 0.0

    def facts(self) -> dict[str, object]:
        return {
            "rounds": self.rounds,
            "claimed": self.claimed,
            "sent": self.sent,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "retried": self.retried,
            "unknown": self.unknown,
            "deferred": self.deferred,
            "released": self.released,
            "recovered": self.recovered,
            "revoked": self.revoked,
            "journey_turns": self.journey_turns,
            "journey_entered": self.journey_entered,
            "journey_queued": self.journey_queued,
            "journey_errors": self.journey_errors,
            "suppressed": dict(sorted(self.suppressed.items())),
            "sent_per_second": round(self.per_second, 1),
        }


class OutboxSender:
    """Sends the outbox of ``store`` through ``channels`` (one channel for every format it
    carries, or a mapping from format or consent channel to its channel), asking ``contacts``
    for addresses. ``unsubscribe_url(message_key)``: the one-click unsubscribe link of an
    advertising message (e-mail's List-Unsubscribe; ``MessageLinks.unsubscribe`` on the server's
    public address). ``hasher``: the workspace's, to find 080 opt-outs under the number the
    contact book gives (without it only the customer's own consent is checked). ``progress(stats)`` is
    called after each round. A channel whose ``sent`` means delivered (it sets
    ``confirms_delivery = True``) gets a ``delivered`` message event with each message it takes;
    others' deliveries arrive later by the providers' callbacks."""

    def __init__(
        self,
        store: Store,
        channels: Channel | Mapping[str, Channel],
        contacts: ContactBook,
        *,
        clock: Clock,
        zone: str = DEFAULT_SHOP_TZ,
        batch: int = BATCH,
        max_attempts: int = MAX_ATTEMPTS,
        unsubscribe_url: Callable[[str], str] | None = None,
        hasher: IdentifierHasher | None = None,
        progress: Callable[[SenderStats], None] | None = None,
        journeys: Callable[[datetime], JourneysTurn] | None = None,
        journey_interval: float = JOURNEY_INTERVAL_S,
    ) -> None:
        if batch < 1:
            raise InvalidInputError([FieldError("batch", "send at least one message per round")])
        if max_attempts < 1:
            raise InvalidInputError([FieldError("max_attempts", "allow at least one attempt")])
        if not journey_interval > 0:
            raise InvalidInputError([FieldError("journey_interval", "a positive number of seconds")])
        self.store, self.contacts, self.clock, self.zone = store, contacts, clock, zone
        self.batch, self.max_attempts = batch, max_attempts
        self.unsubscribe_url, self.progress = unsubscribe_url, progress
        self.hasher = hasher
        self.journeys, self.journey_interval = journeys, journey_interval
        self._journeys_at: float | None = None  # monotonic time of the last journey turn
        self._channels = channels
        self.stats = SenderStats()
        self._stop = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def recover(self) -> int:
        """Mark what a stopped sender left in ``sending`` as ``unknown`` (resent with its key).
        Call once before sending, when no other sender works on the store."""
        found = recover_sending(self.store, at=self.clock.now())
        if found:
            _log.warning("%d message(s) were being handed over when the last sender stopped: resent", found)
        self.stats.recovered += found
        return found

    def stop(self) -> None:
        """End after the message in flight (from any thread, or a signal handler)."""
        self._stop.set()

    def close(self) -> None:
        """Close the channels (their connections)."""
        channels = self._channels.values() if isinstance(self._channels, Mapping) else [self._channels]
        for channel in {id(c): c for c in channels}.values():
            try:
                channel.close()
            except Exception:  # closing is best effort: what was sent is recorded
                _log.exception("closing a channel failed")

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_forever(self, idle_s: float = IDLE_S) -> SenderStats:
        """Send rounds until ``stop()``; when nothing is due, wait ``idle_s`` and look again."""
        while not self._stop.is_set():
            self._journeys_if_due()
            try:
                busy = self.run_once()
            except Exception:  # e.g. a write conflict with another connection: the next round tries again
                _log.exception("a round of the outbox sender failed")
                busy = 0
            if not busy:
                self._stop.wait(idle_s)
        return self.stats

    def drain(self) -> SenderStats:
        """Advance the journeys once, then send rounds until nothing is due now (or ``stop()``)."""
        self.advance_journeys()
        while not self._stop.is_set() and self.run_once():
            pass
        return self.stats

    # -- journeys ----------------------------------------------------------------------------
    def _journeys_if_due(self) -> None:
        if self.journeys is None:
            return
        if self._journeys_at is None or time.monotonic() - self._journeys_at >= self.journey_interval:
            self.advance_journeys()

    def advance_journeys(self) -> JourneysTurn | None:
        """One turn of the journeys at the sender's clock (None: the sender has none to run).
        A failure is logged and counted, never raised: the outbox keeps being sent."""
        if self.journeys is None:
            return None
        self._journeys_at = time.monotonic()
        try:
            turn = self.journeys(self.clock.now())
        except Exception:  # e.g. the campaigns table unreadable for a moment: the next turn tries again
            _log.exception("a turn of the journeys failed")
            turn = JourneysTurn(errors=1)
        self.stats.journey_turns += 1
        self.stats.journey_entered += turn.entered
        self.stats.journey_queued += turn.queued
        self.stats.journey_errors += turn.errors
        return turn

    # -- one round ---------------------------------------------------------------------------
    def channel_for(self, format: str) -> Channel | None:
        """The channel that carries ``format`` (None: no channel is configured for it)."""
        found: Channel | None
        if isinstance(self._channels, Mapping):
            found = self._channels.get(format) or self._channels.get(FORMATS.get(format, ""))
        else:
            found = self._channels
        return found if found is not None and format in found.formats else None

    def run_once(self) -> int:
        """Claim one batch of due messages and hand it over; how many were claimed."""
        claimed = claim_due(self.store, self.clock.now(), self.batch)
        if not claimed:
            return 0
        self.stats.rounds += 1
        self.stats.claimed += len(claimed)
        outcomes: list[Outcome] = []
        gone: list[str] = []
        try:
            going = self._check_consent(claimed, outcomes)
            prefetch = getattr(self.contacts, "prefetch", None)
            if prefetch is not None and going:
                prefetch([c.profile_id for c in going])
            addresses: dict[str, str | None] = {}

            def address(row: Claimed) -> str | None:  # asked once per message, when needed
                if row.message_key not in addresses:
                    addresses[row.message_key] = self.contacts.address(row.profile_id, row.channel)
                return addresses[row.message_key]

            going = self._check_opted_out_numbers(going, address, outcomes)
            held: frozenset[str] = frozenset()
            for i, row in enumerate(going):
                if self._stop.is_set():
                    break
                if i and i % STATE_CHECK_EVERY == 0:  # paused meanwhile? the rest waits in the queue
                    held = held_campaigns(self.store, {r.campaign_id for r in going[i:]})
                if row.campaign_id in held:
                    continue
                outcome = self._hand_over(row, address(row))
                outcomes.append(outcome)
                if _subscription_gone(row, outcome):
                    gone.append(_subscription_id(str(addresses[row.message_key])))
        finally:
            # what was settled is recorded; the rest was never given to a channel (the sender is
            # stopping, or failed before the hand-over): back to the queue, not in flight
            settled = {o.key for o in outcomes}
            self._settle(outcomes, [c.message_key for c in claimed if c.message_key not in settled], gone)
        self._count(outcomes)
        if self.progress is not None:
            self.progress(self.stats)
        return len(claimed)

    def _settle(self, outcomes: Sequence[Outcome], left: Sequence[str], gone: Sequence[str] = ()) -> None:
        """Record ``outcomes``, return ``left`` to the queue and revoke the push subscriptions the
        push services said are ``gone``, in one transaction, trying again if another connection's
        write conflicts (e.g. the planner enqueueing): rows left in ``sending`` would wait for the
        next start to be resent."""
        for attempt in range(SETTLE_TRIES):
            try:
                now = self.clock.now()
                with self.store.atomically():
                    record_outcomes(self.store, outcomes, at=now)
                    released = release(self.store, left, at=now)
                    if gone:
                        self.stats.revoked += revoke_push_subscriptions(self.store, gone, at=now)
            except Exception:
                if attempt == SETTLE_TRIES - 1:
                    raise
                _log.warning("recording a round's outcomes failed; trying again", exc_info=True)
                time.sleep(0.05 * 2**attempt)
            else:
                self.stats.released += released
                return

    def _check_consent(self, claimed: Sequence[Claimed], outcomes: list[Outcome]) -> list[Claimed]:
        """The rows that may go now; the others' outcomes (suppressed, deferred) into ``outcomes``.
        Advertising consent is read from the ledger now, set-based per channel."""
        now = self.clock.now()
        ads: dict[str, list[Claimed]] = {}
        for row in claimed:
            if row.kind == "advertising":
                ads.setdefault(row.channel, []).append(row)
        refused: dict[str, Outcome] = {}
        for channel, rows in ads.items():
            ids = sorted({r.profile_id for r in rows})
            allowed = advertising_allowed(self.store, channel, profile_ids=ids)
            night = channel not in NIGHT_EXEMPT and is_night(now, self.zone)
            by_night = (
                advertising_allowed(self.store, channel, at=now, zone=self.zone, profile_ids=ids)
                if night
                else allowed
            )
            for row in rows:
                if row.profile_id not in allowed:
                    decision = may_send_advertising(self.store, row.profile_id, channel, now, self.zone)
                    reason = "withdrawn" if decision.reason == "withdrawn" else "no_consent"
                    refused[row.message_key] = Outcome(row.message_key, "suppressed", reason)
                elif row.profile_id not in by_night:
                    morning = send_window(now, channel, False, self.zone)
                    refused[row.message_key] = Outcome(
                        row.message_key, "queued", "night_deferred", due_at=morning
                    )
        outcomes.extend(refused.values())
        return [row for row in claimed if row.message_key not in refused]

    def _check_opted_out_numbers(
        self, rows: Sequence[Claimed], address: Callable[[Claimed], str | None], outcomes: list[Outcome]
    ) -> list[Claimed]:
        """The rows that may go; advertising text messages to a number whose 080 opt-out is in the
        ledger are suppressed (``withdrawn``) into ``outcomes``. The opt-out is recorded under the
        number's keyed hash: a number shopmind never linked to the customer (the contact file
        gave it, no event did) still stops the message. One query per round."""
        if self.hasher is None:
            return list(rows)
        numbers: dict[str, str] = {}
        for row in rows:
            if row.kind != "advertising" or row.channel != "sms":
                continue
            number = address(row)
            if number:
                hashed = self.hasher.phone(number)
                if hashed is not None:
                    numbers[row.message_key] = f"phone:{hashed}"
        if not numbers:
            return list(rows)
        withdrawn = withdrawn_identifiers(self.store, "sms", numbers.values())
        stopped = {key for key, identifier in numbers.items() if identifier in withdrawn}
        outcomes.extend(Outcome(key, "suppressed", "withdrawn") for key in sorted(stopped))
        return [row for row in rows if row.message_key not in stopped]

    def _hand_over(self, row: Claimed, address: str | None) -> Outcome:
        key = row.message_key
        channel = self.channel_for(row.format)
        if channel is None:
            return Outcome(
                key, "failed", f"no channel is configured for {row.format!r} messages", event="failed"
            )
        if not address:
            return Outcome(key, "suppressed", "unreachable")
        message = Message(
            key=key,
            format=row.format,
            to=address,
            text=row.body_text,
            kind="informational" if row.kind == "informational" else "advertising",
            subject=row.subject,
            html=row.body_html,
            template_code=row.template_code,
            # the one-click unsubscribe withdraws advertising consent: an order notice has none
            unsubscribe_url=self.unsubscribe_url(key)
            if self.unsubscribe_url is not None and row.kind == "advertising"
            else None,
            image_url=row.image_url,
            data={"campaign_id": row.campaign_id, "step": row.step},
        )
        try:
            receipt = channel.send(message)
        except HandOverUnknownError as exc:
            if row.attempts >= self.max_attempts:
                return Outcome(
                    key, "failed", f"hand-over unknown {row.attempts} times (may have arrived): {exc}"
                )
            # resent with its key after a backoff: a connection that breaks once may break again
            when = retry_at(self.clock.now(), row.attempts)
            return Outcome(key, "unknown", str(exc) or "hand-over cut", next_attempt_at=when)
        except ChannelError as exc:  # the channel refused before the hand-over (e.g. its settings)
            _log.warning("sending %s failed before hand-over: %s", key, exc)
            return self._retry(row, f"{exc}", None)
        except Exception as exc:  # anything else: the provider may have it; resent with its key
            _log.exception("sending %s failed; resending it with its key", key)
            if row.attempts >= self.max_attempts:
                return Outcome(key, "failed", f"failed {row.attempts} times (may have arrived): {exc!r}")
            when = retry_at(self.clock.now(), row.attempts)
            return Outcome(key, "unknown", f"{type(exc).__name__}: {exc}", next_attempt_at=when)
        return self._receipt(row, receipt, delivered=bool(getattr(channel, "confirms_delivery", False)))

    def _receipt(self, row: Claimed, receipt: Receipt, *, delivered: bool) -> Outcome:
        key = row.message_key
        if receipt.outcome == "sent":
            return Outcome(
                key,
                "sent",
                "duplicate" if receipt.duplicate else None,
                provider_id=receipt.provider_id,
                event="delivered" if delivered else None,
            )
        if receipt.outcome == "rejected":
            return Outcome(
                key,
                "failed",
                receipt.reason or "rejected by the provider",
                receipt.provider_id,
                event="failed",
            )
        return self._retry(row, receipt.reason or "the provider asked to retry", receipt.retry_after_s)

    def _retry(self, row: Claimed, reason: str, retry_after_s: float | None) -> Outcome:
        if row.attempts >= self.max_attempts:
            return Outcome(
                row.message_key, "failed", f"gave up after {row.attempts} attempts: {reason}", event="failed"
            )
        when = retry_at(self.clock.now(), row.attempts, retry_after_s)
        return Outcome(row.message_key, "queued", reason, next_attempt_at=when)

    def _count(self, outcomes: Sequence[Outcome]) -> None:
        for o in outcomes:
            if o.state == "sent":
                self.stats.sent += 1
                self.stats.duplicates += o.reason == "duplicate"
            elif o.state == "failed":
                self.stats.failed += 1
            elif o.state == "unknown":
                self.stats.unknown += 1
            elif o.state == "suppressed":
                self.stats.suppressed[o.reason or "?"] += 1
            elif o.due_at is not None:
                self.stats.deferred += 1
            else:
                self.stats.retried += 1


def _subscription_gone(row: Claimed, outcome: Outcome) -> bool:
    """Whether the push service refused a push because the subscription or token is gone for good
    (the adapters say so in the reason: web push 404/410, or 403 for a subscription made with
    another VAPID key, "…; revoke it"; app push ``UNREGISTERED``)."""
    if outcome.state != "failed" or not outcome.reason:
        return False
    if row.channel == "web_push":
        return outcome.reason.endswith("revoke it")
    return row.channel == "app_push" and "UNREGISTERED" in outcome.reason


def _subscription_id(address: str) -> str:
    """The stored subscription an address came from: a web push subscription's endpoint (its
    address is the subscription JSON), an app's device token (its address is the token)."""
    try:
        found = orjson.loads(address)
    except orjson.JSONDecodeError:
        return address
    return str(found.get("endpoint", address)) if isinstance(found, dict) else address
