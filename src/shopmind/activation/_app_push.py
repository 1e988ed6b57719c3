"""App push through an FCM-like HTTP API (Firebase Cloud Messaging's HTTP v1 shape): one JSON
request per device token, answered with the message's name.

    POST <url>                                  e.g. https://fcm.googleapis.com/v1/projects/<p>/messages:send
    Authorization: Bearer <access token or server key>
    Idempotency-Key: <message key>
    {"message": {"token": <device token>,
                 "notification": {"title": ..., "body": ..., "image": ...},
                 "data": {"key": <message key>, "link": ..., ...},
                 "android": {"collapse_key": <key>}, "apns": {"headers": {"apns-collapse-id": <key>}}}}

    200 {"name": "projects/<p>/messages/<id>"}
    404 / 400 {"error": {"status": "NOT_FOUND" | "INVALID_ARGUMENT", "message": ...,
                         "details": [{"errorCode": "UNREGISTERED"}]}}      → rejected (the token is gone)

Push services deliver a resent message again; the collapse key (the message key) makes the device
show it once. 429 and 5xx are ``retry``; a connection broken after the request left raises
HandOverUnknownError.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from shopmind.activation._http_hand_over import (
    HttpChannel,
    Pace,
    check_provider_url,
    common_outcome,
    held_receipt,
    post,
    split_credentials,
    without_credentials,
)
from shopmind.activation._message import ChannelError, Message, Receipt
from shopmind.core import Clock

_WHAT = "the app push service"
_APNS_COLLAPSE_MAX = 64  # apns-collapse-id: at most 64 bytes


class AppPush(HttpChannel):
    """A :class:`~shopmind.activation.Channel` for app push. ``default_title``: the notification's
    title when a message has no subject (the shop's name)."""

    formats = frozenset({"app_push"})
    what = _WHAT

    def __init__(
        self,
        url: str,
        *,
        api_key: str,
        default_title: str | None = None,
        rate_per_s: float | None = None,
        timeout_s: float = 10.0,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        pace: Pace | None = None,
        verify: bool | str = True,
    ) -> None:
        check_provider_url(url, _WHAT)
        if not api_key:
            raise ChannelError(f"{_WHAT}: an API key (or access token) is needed")
        self.url = url
        self.default_title = default_title
        self._api_key = api_key
        self._connect(clock, pace, rate_per_s, timeout_s, transport, verify)

    def send(self, message: Message) -> Receipt:
        self._check_open()
        if message.format not in self.formats:
            raise ChannelError(f"app push carries app_push messages, not {message.format!r}")
        token = message.to.strip()
        if not token:
            return Receipt(message.key, "rejected", reason="no device token")
        held = held_receipt(message.key, self._pace, _WHAT)
        if held is not None:
            return held
        self._pace.wait_turn()
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.key,
        }
        body = orjson.dumps({"message": self._payload(message, token)})
        answer = post(self._client, self.url, key=message.key, content=body, headers=headers, what=_WHAT)
        if isinstance(answer, Receipt):
            return answer
        common = common_outcome(answer, key=message.key, pace=self._pace, clock=self._clock, what=_WHAT)
        if common is not None:
            return common
        if answer.status_code == 200:
            try:
                name = orjson.loads(answer.content).get("name")
            except (orjson.JSONDecodeError, AttributeError):
                name = None
            return Receipt(message.key, "sent", provider_id=name)
        return Receipt(message.key, "rejected", reason=_error_reason(answer))

    def _payload(self, message: Message, token: str) -> dict[str, Any]:
        notification: dict[str, str] = {"body": message.text}
        title = message.subject or self.default_title
        if title:
            notification["title"] = title
        if message.image_url:
            notification["image"] = message.image_url
        # FCM's data values are strings; the key lets the app recognise a resent message
        data = {**message.data, "key": message.key}
        if message.link_url:
            data["link"] = message.link_url
        collapse = message.key.encode()[:_APNS_COLLAPSE_MAX].decode(errors="ignore")
        return {
            "token": token,
            "notification": notification,
            "data": data,
            "android": {"collapse_key": message.key},
            "apns": {"headers": {"apns-collapse-id": collapse}},
        }


def _error_reason(response: httpx.Response) -> str:
    try:
        error = orjson.loads(response.content)["error"]
        codes = [d.get("errorCode") for d in error.get("details", []) if isinstance(d, dict)]
        code = next((c for c in codes if c), None) or error.get("status")
        return f"HTTP {response.status_code} {code}: {error.get('message', '')}".strip()
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


def open_app_push(url: str, **options: Any) -> AppPush:
    """An :class:`AppPush` from ``https://KEY@host/path`` (the user part is the API key or access
    token; ``api_key=`` wins)."""
    parts, key, _ = split_credentials(url)
    config: dict[str, Any] = {}
    if key:
        config["api_key"] = key
    plain = without_credentials(parts)
    config.update(options)
    if "api_key" not in config:
        raise ChannelError(f"{_WHAT}: an API key is needed (https://KEY@host/... or api_key=)")
    return AppPush(plain, **config)
