"""What a channel is handed and what it answers: the port every channel adapter implements.

A :class:`Message` is one rendered message to one address, carrying the outbox's idempotency key
(campaign × customer × step), which each adapter passes to its provider: the e-mail's Message-ID,
the HTTP gateways' request key. A :class:`Receipt` is the provider's answer. An adapter raises
:class:`HandOverUnknownError` only when it cannot know whether the provider took the message (the
connection broke after the message left); the sender then marks it ``unknown`` and sends it again
with the same key, which a gateway deduplicates and an e-mail reader recognises by its Message-ID.

Addresses are never stored: the outbox keeps the profile id, and a :class:`ContactBook` gives the
address at hand-over (from the shop's contact file, a lookup at the shop, or the store's web-push
subscriptions, which a browser hands over itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from shopmind.core import ShopmindError

#: the consent ledger's channels (``store.CHANNELS``): what the law and the customer's consent name
CHANNELS = ("email", "sms", "kakao", "app_push", "web_push")
#: the forms a message takes on its channel; the format decides the cost and the length rules
FORMATS: dict[str, str] = {
    "email": "email",
    "sms": "sms",  # up to 90 bytes (EUC-KR), no subject
    "lms": "sms",  # up to 2,000 bytes, a subject
    "mms": "sms",  # an LMS with an image
    "alimtalk": "kakao",  # 알림톡: informational only, a registered template code
    "brand": "kakao",  # 브랜드 메시지 / 친구톡: advertising allowed
    "app_push": "app_push",
    "web_push": "web_push",
}
Kind = Literal["advertising", "informational"]
KINDS: tuple[Kind, ...] = ("advertising", "informational")
Outcome = Literal["sent", "rejected", "retry"]


@dataclass(frozen=True)
class Message:
    """One rendered message to one address. ``text`` is the whole body as the customer reads it
    (for advertising already starting with "(광고)" and carrying the opt-out: the compliance step
    adds them before a message reaches a channel)."""

    key: str  # the idempotency key: campaign × customer × step
    format: str  # a key of FORMATS
    to: str  # e-mail address, phone number, push token, or a web-push subscription (JSON)
    text: str
    kind: Kind = "advertising"
    subject: str | None = None
    html: str | None = None
    template_code: str | None = None  # Kakao 알림톡's registered template
    unsubscribe_url: str | None = None  # e-mail: List-Unsubscribe (one-click, RFC 8058)
    image_url: str | None = None  # MMS, push
    link_url: str | None = None  # push: where a tap opens; Kakao: the button's link
    data: Mapping[str, str] = field(default_factory=dict)  # provider-specific extras

    @property
    def channel(self) -> str:
        """The consent channel this message goes out on."""
        return FORMATS[self.format]


@dataclass(frozen=True)
class Receipt:
    """The provider's answer for one message: ``sent`` (taken; ``provider_id`` is its id),
    ``rejected`` (will never go: a bad address, a refused template; ``reason`` says why) or
    ``retry`` (not now: rate limited, provider busy; ``retry_after_s`` when the provider said).
    ``duplicate``: the provider had this key already and did not send it again."""

    key: str
    outcome: Outcome
    provider_id: str | None = None
    reason: str | None = None
    retry_after_s: float | None = None
    duplicate: bool = False


class ChannelError(ShopmindError):
    """A channel cannot be used as configured (a bad URL, missing credentials, a format it does
    not carry); the message says how to fix it."""


class HandOverUnknownError(ChannelError):
    """The connection broke while the message was being handed over: the provider may or may not
    have it. The sender marks it ``unknown`` and resends it with the same key."""


class Channel(Protocol):
    """A way out to customers. ``formats``: the message formats it carries."""

    formats: frozenset[str]

    def send(self, message: Message) -> Receipt: ...

    def close(self) -> None: ...


class ContactBook(Protocol):
    """Where a customer is reached on a channel, asked at hand-over (never stored)."""

    def address(self, profile_id: str, channel: str) -> str | None: ...


@dataclass(frozen=True)
class Sender:
    """Who sends: the law wants the sender's name and contact in every advertising message, and a
    free way to opt out (an 080 number for text messages, a link for e-mail, Kakao's channel block)."""

    name: str
    contact: str  # a phone number or address customers can reach the shop at
    opt_out_phone: str | None = None  # 무료 수신거부 080 number, for SMS/LMS/MMS
    email_from: str | None = None  # "쇼핑몰 <news@shop.example>"
    sms_number: str | None = None  # the registered 발신번호
    kakao_channel: str | None = None  # the Kakao channel's name (for 채널 차단 text)
