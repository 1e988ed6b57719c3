"""Signed links in messages: the open pixel, click redirects and one-click unsubscribes.

A token is ``<action>.<message key>.<target index or ->.<signature>``, base64url, signed with the
workspace's link key (HMAC-SHA256, truncated to 16 bytes): a forged or edited link is refused, so a
stranger cannot unsubscribe someone else or inflate a campaign's clicks. The click's target URLs
stay in the message's row of the outbox; the token carries only their index, so a link cannot be
turned into an open redirect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from shopmind.core import ShopmindError

Action = Literal["open", "click", "unsubscribe"]
ACTIONS: tuple[Action, ...] = ("open", "click", "unsubscribe")
_SIGNATURE_BYTES = 16


class BadLinkError(ShopmindError):
    """A link token that was not made by this workspace (forged, edited or truncated)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class LinkToken:
    action: Action
    message_key: str
    target: int | None = None  # the index of a click's target among the message's links


def _signature(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:_SIGNATURE_BYTES])


def make_token(key: bytes, token: LinkToken) -> str:
    """The signed token for ``token`` (URL-safe)."""
    target = "-" if token.target is None else str(token.target)
    body = f"{token.action}.{_b64(token.message_key.encode())}.{target}"
    return f"{body}.{_signature(key, body)}"


def read_token(key: bytes, text: str) -> LinkToken:
    """The token's contents; :class:`BadLinkError` when its signature does not hold."""
    parts = text.split(".")
    if len(parts) != 4 or parts[0] not in ACTIONS:
        raise BadLinkError("not a shopmind link")
    body = ".".join(parts[:3])
    if not hmac.compare_digest(_signature(key, body), parts[3]):
        raise BadLinkError("the link's signature does not hold")
    try:
        message_key = _unb64(parts[1]).decode()
        target = None if parts[2] == "-" else int(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadLinkError("the link is damaged") from exc
    action: Action = parts[0]
    return LinkToken(action, message_key, target)
