"""Following messages after they left: the open pixel, click redirects, one-click unsubscribes,
080 opt-out replies and the gateways' delivery reports.

Every link in a message is a signed token (``activation.make_token``) under the workspace's link
key, derived from its hashing key: a forged or edited token is refused, and nothing is recorded
for it. A click's token carries the index of its target among the message's links; the target is
read from the message's outbox row, never from the URL, so a link cannot be made to redirect
anywhere else.

An unsubscribe, and an 080 reply, is a withdrawal of advertising consent in the consent ledger
(정보통신망법 §50): the sender checks the ledger again at hand-over, so every later advertising
message on that channel stops, including those already queued.

Functions here run on the store's thread; they take the moment (``at``) from the caller.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from shopmind.activation._links import BadLinkError, LinkToken, make_token, read_token
from shopmind.core import FieldError, IdentifierHasher, InvalidInputError
from shopmind.store import (
    HASH_KEY_FILE,
    ConsentEntry,
    EventsRecorded,
    MessageEvent,
    Reported,
    Store,
    TrackedMessage,
    Workspace,
    record_consents,
    record_message_events,
    record_profiles,
    record_reported,
    stored_profiles,
    tracked_message,
)

#: what the link key is derived for: a key of its own, so a link token says nothing of the
#: hashing key and the two can never be confused
LINK_KEY_CONTEXT = b"shopmind links v1"


def link_key(hash_key: bytes) -> bytes:
    """The key link tokens are signed with: HMAC-SHA256(the workspace's hashing key, "shopmind links v1")."""
    return hmac.new(hash_key, LINK_KEY_CONTEXT, hashlib.sha256).digest()


def workspace_link_key(workspace: Workspace) -> bytes:
    """The link key of ``workspace``."""
    return link_key(bytes.fromhex((workspace.path / HASH_KEY_FILE).read_text().strip()))


#: where the server answers each kind of link (``api/_messages.py``)
LINK_PATHS = {"open": "/m/o/", "click": "/m/c/", "unsubscribe": "/m/u/"}


@dataclass(frozen=True)
class MessageLinks:
    """The tracked URLs of one message, on the server at ``base_url`` (``https://crm.shop.example``):
    what composing a message puts in it."""

    base_url: str
    key: bytes
    message_key: str

    def _url(self, token: LinkToken) -> str:
        return self.base_url.rstrip("/") + LINK_PATHS[token.action] + make_token(self.key, token)

    def pixel(self) -> str:
        return self._url(LinkToken("open", self.message_key))

    def click(self, index: int) -> str:
        """The link to the message's ``index``-th tracked target (its outbox row's ``links``)."""
        return self._url(LinkToken("click", self.message_key, index))

    def unsubscribe(self) -> str:
        """The unsubscribe page, and the one-click unsubscribe (``List-Unsubscribe``, RFC 8058)."""
        return self._url(LinkToken("unsubscribe", self.message_key))


def _message(store: Store, key: bytes, token: str, action: str) -> tuple[TrackedMessage, int | None]:
    """The message a valid ``action`` token names; BadLinkError for anything else (a forged or
    edited token, another action's token, a message no longer stored), all alike."""
    link = read_token(key, token)
    if link.action != action:
        raise BadLinkError("not a link of this kind")
    message = tracked_message(store, link.message_key)
    if message is None:
        raise BadLinkError("no such message")
    return message, link.target


def record_open(store: Store, key: bytes, token: str, at: datetime) -> None:
    """The open pixel of a message was loaded: its first open is recorded (later ones are the same)."""
    message, _ = _message(store, key, token, "open")
    record_message_events(store, [MessageEvent("opened", at, message_key=message.message_key)])


def follow_click(store: Store, key: bytes, token: str, at: datetime) -> str:
    """A tracked link was followed: the first click on each link is recorded (a click also proves
    the message was opened, images blocked or not) and the stored target returned."""
    message, target = _message(store, key, token, "click")
    if target is None or not 0 <= target < len(message.links):
        raise BadLinkError("no such link in the message")
    url = message.links[target]
    if urlsplit(url).scheme not in ("http", "https"):  # the stored targets are the shop's pages
        raise BadLinkError("the link's target is not a web page")
    record_message_events(
        store,
        [
            MessageEvent("clicked", at, message_key=message.message_key, detail={"link": target}),
            MessageEvent("opened", at, message_key=message.message_key, detail={"via": "click"}),
        ],
    )
    return url


def unsubscribe_target(store: Store, key: bytes, token: str) -> TrackedMessage:
    """The message an unsubscribe link belongs to (for the confirmation page: nothing recorded)."""
    return _message(store, key, token, "unsubscribe")[0]


@dataclass(frozen=True)
class Withdrawal:
    """An advertising consent withdrawn on ``channel`` for the customer known by ``identifier``
    (their profile ``profile_id`` when known); ``recorded``: False when the very same entry was
    stored already."""

    identifier: str
    profile_id: str | None
    channel: str
    recorded: bool


def unsubscribe(store: Store, key: bytes, token: str, at: datetime) -> Withdrawal:
    """The customer used a message's unsubscribe link: advertising on the message's channel is
    withdrawn in the consent ledger (method ``unsubscribe_link``), and the message's
    ``unsubscribed`` event recorded. Using the link again later withdraws again (the customer may
    have consented again in between)."""
    message = unsubscribe_target(store, key, token)
    entry = ConsentEntry(
        identifier=message.profile_id,
        channel=message.channel,
        granted=False,
        occurred_at=at,
        method="unsubscribe_link",
        source=f"message:{message.message_key}",
    )
    written = record_consents(store, [entry])
    record_message_events(store, [MessageEvent("unsubscribed", at, message_key=message.message_key)])
    return Withdrawal(message.profile_id, message.profile_id, message.channel, bool(written.inserted))


def record_opt_out(
    store: Store,
    hasher: IdentifierHasher,
    phone: str,
    at: datetime,
    *,
    entry_id: str | None = None,
    source: str = "080",
) -> Withdrawal:
    """A reply to the free 080 opt-out line from ``phone``: SMS advertising is withdrawn (method
    ``reply_080``) for the phone number's identifier (its keyed hash: the number is not stored),
    which is the customer's whose profile holds it, and a customer of its own until it is linked
    to one. InvalidInputError when ``phone`` is not a phone number."""
    hashed = hasher.phone(phone)
    if hashed is None:
        raise InvalidInputError([FieldError("phone", "not a phone number")])
    identifier = f"phone:{hashed}"
    entry = ConsentEntry(
        identifier=identifier,
        channel="sms",
        granted=False,
        occurred_at=at,
        method="reply_080",
        source=source,
        entry_id=entry_id,
    )
    written = record_consents(store, [entry])
    record_profiles(store, {identifier})
    profile_id = stored_profiles(store, [identifier]).get(identifier)
    return Withdrawal(identifier, profile_id, "sms", bool(written.inserted))


@dataclass(frozen=True)
class DeliveryReport:
    """A gateway's word on a message it took: ``delivered`` to the phone/inbox, or ``failed``
    (``reason``: the provider's). Names the message by our key or by the provider's id for it."""

    status: Literal["delivered", "failed"]
    occurred_at: datetime
    message_key: str | None = None
    provider_id: str | None = None
    event_id: str | None = None  # the provider's id for the report: a report sent again counts once
    reason: str | None = None


def record_deliveries(
    store: Store, reports: list[DeliveryReport], at: datetime | None = None
) -> EventsRecorded:
    """Store the reports as ``delivered``/``failed`` message events, each once, and move their
    outbox rows (``store.record_reported``: a failed one becomes ``failed`` with the provider's
    reason), in one transaction; those naming no known message are listed in ``unknown`` (their
    positions) and not stored. ``at``: when the rows changed (default: the latest report's time)."""
    with store.atomically():
        recorded = record_message_events(
            store,
            [
                MessageEvent(
                    r.status,
                    r.occurred_at,
                    message_key=r.message_key,
                    provider_id=r.provider_id,
                    event_id=r.event_id,
                    detail={"reason": r.reason} if r.reason else {},
                )
                for r in reports
            ],
        )
        if reports:
            record_reported(
                store,
                [Reported(r.status, r.message_key, r.provider_id, r.reason) for r in reports],
                at=at or max(r.occurred_at for r in reports),
            )
    return recorded
