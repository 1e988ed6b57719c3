"""SMS/LMS/MMS and Kakao 알림톡 / 브랜드 메시지 through an HTTP messaging gateway: the shape of the
large Korean gateways (JSON over HTTPS, an API key or an HMAC-signed Authorization header, the
request's idempotency key, a result per message).

The wire format (one message a request; the body is a list so a gateway's batch endpoint fits)::

    POST <url>
    Authorization: Bearer <api key>                 (auth=key)
    Authorization: HMAC-SHA256 apiKey=<key>, date=<ISO 8601>, salt=<hex>, signature=<hex>
                                                    (auth=hmac: HMAC-SHA256(secret, date + salt))
    Idempotency-Key: <message key>
    {"messages": [{"key": ..., "type": "SMS|LMS|MMS|ALIMTALK|BRAND", "to": "01012345678",
                   "from": "<발신번호>", "text": ..., "subject": ..., "imageUrl": ...,
                   "advertising": true|false,
                   "kakao": {"senderKey": ..., "templateCode": ..., "buttons": [{"type": "WL", "url": ...}]}}]}

    200 {"results": [{"key": ..., "status": "sent|duplicate|rejected|retry",
                      "messageId": ..., "reason": ...}]}

429 (with Retry-After) and 5xx are answered ``retry`` (and a 429 pauses this adapter for the time
the gateway asked); a connection broken after the request left raises HandOverUnknownError, and
the resend carries the same key, which the gateway recognises (``duplicate``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

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
from shopmind.activation._message import ChannelError, Message, Receipt, Sender
from shopmind.activation._template import carrier_bytes
from shopmind.core import Clock

#: the formats an HTTP messaging gateway carries
GATEWAY_FORMATS = frozenset({"sms", "lms", "mms", "alimtalk", "brand"})
_TEXT_FORMATS = frozenset({"sms", "lms", "mms"})
_KAKAO_FORMATS = frozenset({"alimtalk", "brand"})
#: the carriers' limits in EUC-KR bytes, Kakao's in characters
_MAX_BYTES = {"sms": 90, "lms": 2000, "mms": 2000}
_MAX_KAKAO_CHARS = 1000
_PHONE = re.compile(r"0\d{8,10}")
#: a 발신번호 may also be a nationwide representative number (대표번호: 15xx, 16xx, 18xx-xxxx)
_REPRESENTATIVE = re.compile(r"1[568]\d{6}")
_WHAT = "the messaging gateway"

Auth = Literal["key", "hmac"]


def korean_phone(to: str) -> str | None:
    """A Korean phone number as the gateways want it (digits, leading 0), or None."""
    digits = re.sub(r"[\s\-().]", "", to)
    if digits.startswith("+82"):
        digits = "0" + digits[3:].lstrip("0")
    return digits if _PHONE.fullmatch(digits) else None


def sending_number(number: str) -> str | None:
    """A registered 발신번호 as digits (a phone number or a 대표번호 such as 1588-1234), or None."""
    digits = re.sub(r"[\s\-().]", "", number)
    if _REPRESENTATIVE.fullmatch(digits):
        return digits
    return korean_phone(number)


@dataclass(frozen=True)
class _Credentials:
    auth: Auth
    api_key: str = field(repr=False)  # never in a repr: tracebacks that print locals show reprs
    api_secret: str | None = field(repr=False)
    key_header: str

    def headers(self, clock: Clock) -> dict[str, str]:
        if self.auth == "key":
            value = f"Bearer {self.api_key}" if self.key_header.lower() == "authorization" else self.api_key
            return {self.key_header: value}
        assert self.api_secret is not None
        date = clock.now().isoformat(timespec="seconds")
        salt = secrets.token_hex(16)
        signature = hmac.new(self.api_secret.encode(), (date + salt).encode(), hashlib.sha256).hexdigest()
        return {
            "Authorization": (
                f"HMAC-SHA256 apiKey={self.api_key}, date={date}, salt={salt}, signature={signature}"
            )
        }


class HttpGateway(HttpChannel):
    """A :class:`~shopmind.activation.Channel` for text messages and Kakao messages through an HTTP
    gateway. ``from_number`` (or ``sender.sms_number``) is the registered 발신번호 SMS/LMS/MMS go
    out from; ``kakao_sender_key`` the Kakao channel's 발신 프로필 키. The formats it carries are those
    it has what they need for (or ``formats``, checked). ``rate_per_s``: the gateway's allowed pace."""

    what = _WHAT

    def __init__(
        self,
        url: str,
        *,
        api_key: str,
        api_secret: str | None = None,
        auth: Auth = "key",
        key_header: str = "Authorization",
        sender: Sender | None = None,
        from_number: str | None = None,
        kakao_sender_key: str | None = None,
        formats: Iterable[str] | None = None,
        rate_per_s: float | None = None,
        timeout_s: float = 10.0,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        pace: Pace | None = None,
        verify: bool | str = True,
    ) -> None:
        check_provider_url(url, _WHAT)
        if not api_key:
            raise ChannelError(f"{_WHAT}: an API key is needed (api_key, or the URL's user part)")
        if auth not in ("key", "hmac"):
            raise ChannelError(f"{_WHAT}: auth must be 'key' or 'hmac', got {auth!r}")
        if auth == "hmac" and not api_secret:
            raise ChannelError(f"{_WHAT}: auth=hmac needs the API secret (api_secret, or the URL's password)")
        number = from_number or (sender.sms_number if sender else None)
        if number is not None and sending_number(number) is None:
            raise ChannelError(f"{_WHAT}: the sending number {number!r} is not a Korean phone number")
        self.from_number = sending_number(number) if number else None
        self.kakao_sender_key = kakao_sender_key
        usable: set[str] = set()
        if self.from_number:
            usable |= _TEXT_FORMATS
        if kakao_sender_key:
            usable |= _KAKAO_FORMATS
        if formats is None:
            if not usable:
                raise ChannelError(
                    f"{_WHAT}: give the registered sending number (from_number / sender.sms_number) "
                    "for SMS, or the Kakao sender key (kakao_sender_key) for Kakao messages"
                )
            self.formats = frozenset(usable)
        else:
            wanted = frozenset(formats)
            unknown = wanted - GATEWAY_FORMATS
            if unknown:
                raise ChannelError(f"{_WHAT} carries {sorted(GATEWAY_FORMATS)}, not {sorted(unknown)}")
            missing = wanted - usable
            if missing & _TEXT_FORMATS:
                raise ChannelError(f"{_WHAT}: {sorted(missing & _TEXT_FORMATS)} need the sending number")
            if missing & _KAKAO_FORMATS:
                raise ChannelError(f"{_WHAT}: {sorted(missing & _KAKAO_FORMATS)} need the Kakao sender key")
            self.formats = wanted
        self.url = url
        self._credentials = _Credentials(auth, api_key, api_secret, key_header)
        self._connect(clock, pace, rate_per_s, timeout_s, transport, verify)

    # -- one message --------------------------------------------------------------------------

    def send(self, message: Message) -> Receipt:
        self._check_open()
        if message.format not in self.formats:
            raise ChannelError(
                f"{_WHAT} is configured for {sorted(self.formats)}, not {message.format!r} messages"
            )
        if message.format == "alimtalk":
            # Kakao allows only informational messages (orders, deliveries, bookings) as 알림톡;
            # an advertising one here is a planning error, not a bad address: nothing is sent
            if message.kind != "informational":
                raise ChannelError(
                    f"message {message.key!r}: 알림톡 carries informational messages only; "
                    "send advertising as a 브랜드 메시지 (format 'brand')"
                )
            if not message.template_code:
                raise ChannelError(f"message {message.key!r}: 알림톡 needs its registered template code")
        refused = self._refusal(message)
        if refused is not None:
            return Receipt(message.key, "rejected", reason=refused)
        held = held_receipt(message.key, self._pace, _WHAT)
        if held is not None:
            return held
        self._pace.wait_turn()
        body = orjson.dumps({"messages": [self._payload(message)]})
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.key,
            **self._credentials.headers(self._clock),
        }
        answer = post(self._client, self.url, key=message.key, content=body, headers=headers, what=_WHAT)
        if isinstance(answer, Receipt):
            return answer
        return self._receipt(message.key, answer)

    # -- the parts ----------------------------------------------------------------------------

    def _refusal(self, message: Message) -> str | None:
        """Why the gateway would refuse this message, known before asking it."""
        if not message.to.strip():
            return "no phone number"
        if korean_phone(message.to) is None:
            return f"{message.to!r} is not a Korean phone number"
        if message.format in _MAX_BYTES:
            size, limit = carrier_bytes(message.text), _MAX_BYTES[message.format]
            if size > limit:
                return f"the text is {size} bytes; {message.format.upper()} carries at most {limit}"
            if message.format == "mms" and not message.image_url:
                return "an MMS needs its image (image_url)"
        elif len(message.text) > _MAX_KAKAO_CHARS:
            return f"the text is {len(message.text)} characters; Kakao carries at most {_MAX_KAKAO_CHARS}"
        return None

    def _payload(self, message: Message) -> dict[str, Any]:
        phone = korean_phone(message.to)
        payload: dict[str, Any] = {
            "key": message.key,
            "type": message.format.upper(),
            "to": phone,
            "text": message.text,
            "advertising": message.kind == "advertising",
        }
        if message.format in _TEXT_FORMATS:
            payload["from"] = self.from_number
            if message.subject and message.format != "sms":
                payload["subject"] = message.subject
        else:
            kakao: dict[str, Any] = {"senderKey": self.kakao_sender_key}
            if message.template_code:
                kakao["templateCode"] = message.template_code
            if message.link_url:
                kakao["buttons"] = [{"type": "WL", "url": message.link_url}]
            payload["kakao"] = kakao
        if message.image_url and message.format in ("mms", "brand"):
            payload["imageUrl"] = message.image_url
        if message.data:
            payload["data"] = dict(message.data)
        return payload

    def _receipt(self, key: str, response: httpx.Response) -> Receipt:
        common = common_outcome(response, key=key, pace=self._pace, clock=self._clock, what=_WHAT)
        if common is not None:
            return common
        try:
            results = orjson.loads(response.content)["results"]
            mine = next(r for r in results if r.get("key") == key)
        except (orjson.JSONDecodeError, KeyError, TypeError, StopIteration):
            if 400 <= response.status_code < 500:
                return Receipt(key, "rejected", reason=f"HTTP {response.status_code}: {response.text[:200]}")
            raise ChannelError(
                f"{_WHAT} answered HTTP {response.status_code} without a result for {key!r} "
                f"({response.text[:200]!r}): is the URL the gateway's send endpoint?"
            ) from None
        status = mine.get("status")
        provider_id = mine.get("messageId")
        reason = mine.get("reason")
        if status in ("sent", "duplicate"):
            return Receipt(key, "sent", provider_id=provider_id, duplicate=status == "duplicate")
        if status == "rejected":
            return Receipt(key, "rejected", provider_id=provider_id, reason=reason or "rejected")
        if status == "retry":
            return Receipt(key, "retry", reason=reason or "the gateway asked for a retry")
        raise ChannelError(f"{_WHAT} answered an unknown status {status!r} for {key!r}")


def _query_float(params: dict[str, str], name: str) -> float | None:
    if name not in params:
        return None
    try:
        return float(params.pop(name))
    except ValueError:
        raise ChannelError(f"the gateway URL's {name}= must be a number") from None


def open_http_gateway(url: str, **options: Any) -> HttpGateway:
    """An :class:`HttpGateway` from a URL: ``https://KEY:SECRET@host/path?auth=hmac&rate=20``.
    The user part is the API key (and the password part the secret); the query's ``auth``,
    ``rate`` (messages a second), ``timeout`` (seconds), ``key_header``, ``from`` (발신번호) and
    ``sender_key`` (Kakao) configure the adapter and are not sent on. Keyword ``options`` (those of
    :class:`HttpGateway`) win over the URL."""
    parts, key, secret = split_credentials(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    config: dict[str, Any] = {}
    if key:
        config["api_key"] = key
    if secret:
        config["api_secret"] = secret
        config["auth"] = "hmac"
    for name, option in (("auth", "auth"), ("key_header", "key_header"), ("from", "from_number")):
        if name in params:
            config[option] = params.pop(name)
    if "sender_key" in params:
        config["kakao_sender_key"] = params.pop("sender_key")
    rate = _query_float(params, "rate")
    if rate is not None:
        config["rate_per_s"] = rate
    timeout = _query_float(params, "timeout")
    if timeout is not None:
        config["timeout_s"] = timeout
    plain = without_credentials(parts, urlencode(params))
    config.update(options)
    if "api_key" not in config:
        raise ChannelError(f"{_WHAT}: an API key is needed (https://KEY@host/... or api_key=)")
    return HttpGateway(plain, **config)
