"""Opening the HTTP channels from ``channels.toml``: the openers the channel registry
(``activation/_channel_config.py``) calls by URL scheme, as ``opener(url, context) -> Channel``::

    [channels.sms]                   # SMS/LMS/MMS through a gateway; the 발신번호 is sender.sms_number
    url = "https://${GATEWAY_KEY}:${GATEWAY_SECRET}@api.gateway.example/v1/messages"
    rate = 20                        # messages a second the contract allows

    [channels.kakao]                 # 알림톡 and 브랜드 메시지 through the same kind of gateway
    url = "https://${GATEWAY_KEY}@api.gateway.example/v1/messages"
    sender_key = "${KAKAO_SENDER_KEY}"

    [channels.app_push]
    url = "https://${FCM_TOKEN}@fcm.googleapis.com/v1/projects/my-shop/messages:send"

    [channels.web_push]              # the VAPID key file, relative to the workspace (made if absent)
    url = "webpush:vapid_private_key.pem"
    subject = "mailto:ops@shop.example"   # default: the sender's e-mail address

``https``/``http`` open the adapter of the channel the URL serves (sms and kakao: the gateway;
app_push: app push); ``webpush`` opens web push. A channel table's other keys are the adapter's
options (the names below); an unknown one is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from shopmind.activation._app_push import AppPush, open_app_push
from shopmind.activation._http_gateway import HttpGateway, open_http_gateway
from shopmind.activation._message import Channel, ChannelError, Sender
from shopmind.activation._web_push import WebPush, open_web_push, vapid_key_path
from shopmind.core import Clock

#: channels.toml's option names → the adapters' keyword arguments
_GATEWAY_OPTIONS = {
    "ca_file": "verify",
    "api_key": "api_key",
    "api_secret": "api_secret",
    "auth": "auth",
    "key_header": "key_header",
    "from": "from_number",
    "sender_key": "kakao_sender_key",
    "rate": "rate_per_s",
    "timeout": "timeout_s",
}
_APP_PUSH_OPTIONS = {
    "ca_file": "verify",
    "api_key": "api_key",
    "title": "default_title",
    "rate": "rate_per_s",
    "timeout": "timeout_s",
}
_WEB_PUSH_OPTIONS = {
    "ca_file": "verify",
    "subject": "subject",
    "ttl": "ttl_s",
    "urgency": "urgency",
    "rate": "rate_per_s",
    "timeout": "timeout_s",
}


class OpenContext(Protocol):
    """What the registry hands an opener (``_channel_config.OpenContext``)."""

    @property
    def channel(self) -> str: ...

    @property
    def sender(self) -> Sender: ...

    @property
    def base(self) -> Path | None: ...

    @property
    def options(self) -> Mapping[str, Any]: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def formats(self) -> frozenset[str]: ...


def _options(context: OpenContext, names: Mapping[str, str], what: str) -> dict[str, Any]:
    unknown = sorted(set(context.options) - set(names))
    if unknown:
        raise ChannelError(
            f"channels.{context.channel}: unknown option {', '.join(unknown)} for {what}; "
            f"expected {', '.join(names)}"
        )
    options = {names[k]: v for k, v in context.options.items()}
    ca_file = options.get("verify")
    if isinstance(ca_file, str) and context.base is not None and not Path(ca_file).is_absolute():
        options["verify"] = str(context.base / ca_file)  # beside channels.toml, in the workspace
    return options


def open_https(url: str, context: OpenContext) -> Channel:
    """An ``https://`` (or loopback ``http://``) channel: the messaging gateway for sms and kakao,
    the push API for app_push."""
    if context.channel in ("sms", "kakao"):
        options = _options(context, _GATEWAY_OPTIONS, "a messaging gateway")
        gateway: HttpGateway = open_http_gateway(
            url, sender=context.sender, formats=context.formats, clock=context.clock, **options
        )
        return gateway
    if context.channel == "app_push":
        options = _options(context, _APP_PUSH_OPTIONS, "app push")
        options.setdefault("default_title", context.sender.name)
        push: AppPush = open_app_push(url, clock=context.clock, **options)
        return push
    if context.channel == "web_push":
        raise ChannelError(
            "channels.web_push: web push goes to each browser's own endpoint; "
            'write url = "webpush:vapid_private_key.pem" (the shop\'s VAPID key file)'
        )
    raise ChannelError(f"channels.{context.channel}: no HTTP adapter for {context.channel} (e-mail: smtp://)")


def open_webpush(url: str, context: OpenContext) -> Channel:
    """``webpush:<key file>?subject=mailto:…``: web push signing with that VAPID key (relative to
    the workspace; made there, 0600, if absent)."""
    if context.channel != "web_push":
        raise ChannelError(f"channels.{context.channel}: webpush: URLs serve the web_push channel only")
    parts = urlsplit(url)
    options = _options(context, _WEB_PUSH_OPTIONS, "web push")
    for name, value in parse_qsl(parts.query):
        if name not in _WEB_PUSH_OPTIONS:
            raise ChannelError(f"channels.web_push.url: unknown parameter {name}")
        options.setdefault(_WEB_PUSH_OPTIONS[name], value)
    if "ttl_s" in options:
        options["ttl_s"] = int(options["ttl_s"])
    if "subject" not in options:
        address = parseaddr(context.sender.email_from or "")[1]
        if not address:
            raise ChannelError(
                'channels.web_push: give subject = "mailto:…" (how push services reach the shop), '
                "or sender.email_from"
            )
        options["subject"] = f"mailto:{address}"
    path = Path(unquote(parts.path)) if parts.path else None
    if path is None:
        key_path = vapid_key_path(context.base or Path.cwd())
    elif path.is_absolute() or context.base is None:
        key_path = path
    else:
        key_path = context.base / path
    push: WebPush = open_web_push(key_path, clock=context.clock, **options)
    return push
