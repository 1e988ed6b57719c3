"""What the consent ledger says now, and what it allows.

The current state of a customer's consent on a channel, for a purpose, is the ledger's latest
entry among all the customer's identifiers: the one that happened last (``occurred_at``), ties
broken by the order they were stored (``seq``). The view ``consent_current`` holds it for every
customer, so a segment or an export can join it (one query for any number of customers).

The rules (정보통신망법 제50조):

* advertising on a channel needs the customer's consent on that channel, in force now (given, and
  not withdrawn since) (§50①);
* between 21:00 and 08:00 in the shop's zone it also needs their separate night-time consent
  (§50③); e-mail is exempt (the Enforcement Decree names it);
* informational (transactional) messages, an order's confirmation or a delivery notice, are not
  advertising and need no advertising consent;
* every two years from the consent, the customer must be told what they consented to (§50⑧):
  ``notices_due`` lists the customers whose notice is due.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.store._consent import CHANNELS, profile_identifiers
from shopmind.store._store import Store

#: the night-time window of §50③, in the shop's zone: from 21:00 to 08:00 the next day
NIGHT_STARTS, NIGHT_ENDS = time(21, 0), time(8, 0)
#: channels the night-time rule does not cover
NIGHT_EXEMPT = frozenset({"email"})
#: how often the customer must be told of their consent (§50⑧, Enforcement Decree: two years)
NOTICE_EVERY_YEARS = 2
#: why an advertising message may or may not be sent
REASONS = ("allowed", "no_consent", "withdrawn", "night_without_consent", "informational")


@dataclass(frozen=True)
class ConsentFact:
    """The latest ledger entry of one channel and purpose: given or withdrawn, when, how."""

    granted: bool
    occurred_at: datetime
    method: str
    text_version: str | None
    identifier: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "granted": self.granted,
            "occurred_at": self.occurred_at.isoformat(),
            "method": self.method,
            "text_version": self.text_version,
            "identifier": self.identifier,
        }


@dataclass(frozen=True)
class ChannelConsent:
    """A customer's consent on one channel: advertising, and advertising at night (None: nothing
    recorded)."""

    channel: str
    advertising: ConsentFact | None = None
    night: ConsentFact | None = None

    @property
    def advertising_granted(self) -> bool:
        return self.advertising is not None and self.advertising.granted

    @property
    def night_granted(self) -> bool:
        return self.night is not None and self.night.granted

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "advertising": self.advertising.to_dict() if self.advertising else None,
            "night_advertising": self.night.to_dict() if self.night else None,
            "night_rule_applies": self.channel not in NIGHT_EXEMPT,
        }


@dataclass(frozen=True)
class ProfileConsent:
    """A customer's consent on every channel (``CHANNELS`` order), and their §50⑧ notices."""

    profile_id: str
    channels: tuple[ChannelConsent, ...]
    last_notice_at: datetime | None = None
    notice_due_at: datetime | None = None

    def channel(self, name: str) -> ChannelConsent:
        return next(c for c in self.channels if c.channel == name)

    @property
    def recorded(self) -> bool:
        """Whether the ledger holds anything for them."""
        return any(c.advertising or c.night for c in self.channels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "channels": {c.channel: c.to_dict() for c in self.channels},
            "last_notice_at": self.last_notice_at.isoformat() if self.last_notice_at else None,
            "notice_due_at": self.notice_due_at.isoformat() if self.notice_due_at else None,
        }


@dataclass(frozen=True)
class SendDecision:
    """Whether a message may be sent on ``channel`` at ``at``, and why (``REASONS``); ``since``:
    when the entry the answer rests on happened (the consent, or its withdrawal)."""

    allowed: bool
    reason: str
    channel: str
    at: datetime | None
    since: datetime | None = None
    method: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "channel": self.channel,
            "at": self.at.isoformat() if self.at else None,
            "since": self.since.isoformat() if self.since else None,
            "method": self.method,
        }


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise InvalidInputError(
            [FieldError("channel", f"{channel!r}: expected one of {', '.join(CHANNELS)}")]
        )


def is_night(at: datetime, zone: str = DEFAULT_SHOP_TZ) -> bool:
    """Whether ``at`` (timezone-aware) falls between 21:00 and 08:00 in ``zone``."""
    if at.tzinfo is None:
        raise InvalidInputError([FieldError("at", "expected a date and time with its time zone")])
    local = at.astimezone(ZoneInfo(zone)).time()
    return local >= NIGHT_STARTS or local < NIGHT_ENDS


def decide_advertising(state: ChannelConsent, at: datetime, zone: str = DEFAULT_SHOP_TZ) -> SendDecision:
    """May an advertising message go out on ``state``'s channel at ``at`` (the shop's ``zone``
    decides what is night)? Pure: the rules of §50①③ applied to the customer's current state."""
    _check_channel(state.channel)
    ad = state.advertising
    if ad is None:
        return SendDecision(False, "no_consent", state.channel, at)
    if not ad.granted:
        return SendDecision(False, "withdrawn", state.channel, at, ad.occurred_at, ad.method)
    if state.channel not in NIGHT_EXEMPT and is_night(at, zone) and not state.night_granted:
        night = state.night
        return SendDecision(
            False,
            "night_without_consent",
            state.channel,
            at,
            night.occurred_at if night else None,
            night.method if night else None,
        )
    return SendDecision(True, "allowed", state.channel, at, ad.occurred_at, ad.method)


def may_send_informational(channel: str, at: datetime | None = None) -> SendDecision:
    """Informational (transactional) messages are not advertising: consent does not gate them."""
    _check_channel(channel)
    return SendDecision(True, "informational", channel, at)


def _facts(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[str, str], ConsentFact]:
    return {
        (channel, purpose): ConsentFact(
            last["granted"], last["occurred_at"], last["method"], last["text_version"], last["identifier"]
        )
        for channel, purpose, last in rows
    }


_LATEST = (
    "arg_max({'granted': granted, 'occurred_at': occurred_at, 'method': method, "
    "'text_version': text_version, 'identifier': identifier}, (occurred_at, seq))"
)


def consent_state(store: Store, profile_id: str) -> ProfileConsent:
    """The customer ``profile_id``'s consent now, on every channel, from the entries of all their
    identifiers; with their last §50⑧ notice and when the next one is due."""
    identifiers = profile_identifiers(store, profile_id)
    facts = _facts(
        store.sql(
            f"SELECT channel, purpose, {_LATEST} FROM consent_ledger WHERE list_contains(?, identifier) GROUP BY ALL",
            [identifiers],
        )
    )
    channels = tuple(
        ChannelConsent(c, facts.get((c, "advertising")), facts.get((c, "night_advertising")))
        for c in CHANNELS
    )
    last_notice = store.scalar(
        "SELECT max(sent_at) FROM consent_notices WHERE list_contains(?, identifier)", [identifiers]
    )
    in_force = [c.advertising.occurred_at for c in channels if c.advertising and c.advertising.granted]
    due = None
    if in_force:
        anchor = max(min(in_force), last_notice) if last_notice else min(in_force)
        due = _years_later(anchor, NOTICE_EVERY_YEARS)
    return ProfileConsent(profile_id, channels, last_notice, due)


def _years_later(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February: the 28th of a year without one (as the store's interval does)
        return moment.replace(year=moment.year + years, day=28)


def may_send_advertising(
    store: Store, profile_id: str, channel: str, at: datetime, zone: str = DEFAULT_SHOP_TZ
) -> SendDecision:
    """May an advertising message go to the customer ``profile_id`` on ``channel`` at ``at``
    (night judged in the shop's ``zone``)? With the reason: no consent, withdrawn on …, night
    time without night consent, or allowed (given on …)."""
    _check_channel(channel)
    return decide_advertising(consent_state(store, profile_id).channel(channel), at, zone)


def advertising_allowed(
    store: Store,
    channels: str | Sequence[str],
    *,
    at: datetime | None = None,
    zone: str = DEFAULT_SHOP_TZ,
    profile_ids: Iterable[str] | pa.Array | pa.ChunkedArray | None = None,
) -> frozenset[str]:
    """The customers who may receive advertising on any of ``channels`` (a channel or several):
    consent in force; with ``at``, also the night-time consent if ``at`` is night in ``zone``
    (without ``at``, e.g. for an audience that is not a message, the night rule is not applied).
    ``profile_ids`` narrows the answer to those customers (a segment's members). One query,
    whatever the number of customers."""
    wanted = [channels] if isinstance(channels, str) else list(channels)
    if not wanted:
        raise InvalidInputError([FieldError("channels", "name at least one channel")])
    for channel in wanted:
        _check_channel(channel)
    night = at is not None and is_night(at, zone)
    # one pass over the ledger's entries of those channels: the latest per customer, channel and
    # purpose, then the customers whose advertising (and, at night, night-time) consent holds
    query = """WITH latest AS (
            SELECT coalesce(p.profile_id, l.identifier) AS profile_id, l.channel, l.purpose,
                   arg_max(l.granted, (l.occurred_at, l.seq)) AS granted
            FROM consent_ledger l LEFT JOIN profiles p ON p.identifier = l.identifier
            WHERE list_contains(?, l.channel) {within}
            GROUP BY ALL
        )
        SELECT DISTINCT profile_id FROM (
            SELECT profile_id, channel FROM latest GROUP BY ALL
            HAVING bool_or(purpose = 'advertising' AND granted)
               AND (NOT ? OR list_contains(?, channel) OR bool_or(purpose = 'night_advertising' AND granted))
        )"""
    params = [wanted, night, sorted(NIGHT_EXEMPT)]
    if profile_ids is None:
        return frozenset(r[0] for r in store.sql(query.format(within=""), params))
    ids = profile_ids if isinstance(profile_ids, pa.Array | pa.ChunkedArray) else pa.array(list(profile_ids))
    staged = pa.table({"profile_id": ids.cast(pa.string())})
    with store.staged("_consent_wanted", staged) as src:
        within = f"AND coalesce(p.profile_id, l.identifier) IN (SELECT profile_id FROM {src})"
        return frozenset(r[0] for r in store.sql(query.format(within=within), params))


@dataclass(frozen=True)
class NoticeDue:
    """A customer who must be told of their consent (§50⑧): the channels whose advertising
    consent is in force, the oldest of those consents, their last notice, and the day it is due."""

    profile_id: str
    channels: tuple[str, ...]
    consented_at: datetime
    last_notice_at: datetime | None
    due_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "channels": list(self.channels),
            "consented_at": self.consented_at.isoformat(),
            "last_notice_at": self.last_notice_at.isoformat() if self.last_notice_at else None,
            "due_at": self.due_at.isoformat(),
        }


def notices_due(
    store: Store, as_of: datetime, *, within: timedelta = timedelta(0), limit: int | None = None
) -> list[NoticeDue]:
    """The customers whose §50⑧ notice is due by ``as_of + within`` (two years after the oldest
    advertising consent in force, or after their last notice if that is later), earliest first."""
    if as_of.tzinfo is None:
        raise InvalidInputError([FieldError("as_of", "expected a date and time with its time zone")])
    rows = store.sql(
        f"""WITH latest AS (
            SELECT coalesce(p.profile_id, l.identifier) AS profile_id, l.channel,
                   arg_max({{'granted': l.granted, 'occurred_at': l.occurred_at}}, (l.occurred_at, l.seq)) AS last
            FROM consent_ledger l LEFT JOIN profiles p ON p.identifier = l.identifier
            WHERE l.purpose = 'advertising' GROUP BY ALL
        ), notices AS (
            SELECT coalesce(p.profile_id, n.identifier) AS profile_id, max(n.sent_at) AS last_notice
            FROM consent_notices n LEFT JOIN profiles p ON p.identifier = n.identifier GROUP BY 1
        ), per AS (
            SELECT g.profile_id, list(g.channel ORDER BY g.channel) AS channels,
                   min(g.last.occurred_at) AS consented_at, any_value(n.last_notice) AS last_notice
            FROM latest g LEFT JOIN notices n USING (profile_id) WHERE g.last.granted GROUP BY 1
        )
        SELECT profile_id, channels, consented_at, last_notice,
               greatest(consented_at, coalesce(last_notice, consented_at)) + INTERVAL {NOTICE_EVERY_YEARS} YEAR AS due_at
        FROM per WHERE due_at <= ? ORDER BY due_at, profile_id LIMIT ?""",
        [as_of + within, limit],
    )
    order = {c: i for i, c in enumerate(CHANNELS)}
    return [
        NoticeDue(pid, tuple(sorted(channels, key=lambda c: order.get(c, len(order)))), at, last, due)
        for pid, channels, at, last, due in rows
    ]
