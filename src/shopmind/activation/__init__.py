"""Acting on what shopmind knows: campaigns and journeys that send personalised messages by e-mail,
SMS, Kakao and push, at each customer's best hour, within Korean advertising law (정보통신망법 §50),
through a durable outbox that delivers each message once, measured against a holdout."""

from shopmind.activation._links import ACTIONS, BadLinkError, LinkToken, make_token, read_token
from shopmind.activation._message import (
    CHANNELS,
    FORMATS,
    KINDS,
    Channel,
    ChannelError,
    ContactBook,
    HandOverUnknownError,
    Message,
    Receipt,
    Sender,
)
from shopmind.activation._template import Draft, Template, carrier_bytes, format_for, render

__all__ = [
    "ACTIONS",
    "CHANNELS",
    "FORMATS",
    "KINDS",
    "BadLinkError",
    "Channel",
    "ChannelError",
    "ContactBook",
    "Draft",
    "HandOverUnknownError",
    "LinkToken",
    "Message",
    "Receipt",
    "Sender",
    "Template",
    "carrier_bytes",
    "format_for",
    "make_token",
    "read_token",
    "render",
]
