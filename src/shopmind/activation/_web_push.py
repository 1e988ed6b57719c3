"""Web Push (RFC 8030) to a browser's push subscription, the payload encrypted for that browser
(RFC 8291, ``aes128gcm``, RFC 8188) and the request signed with the shop's VAPID key (RFC 8292,
ES256), all with ``cryptography``.

A message's ``to`` is the subscription the browser handed over, as JSON:
``{"endpoint": "https://push.example/...", "keys": {"p256dh": "<base64url>", "auth": "<base64url>"}}``.
The payload the service worker gets is JSON ``{"key", "title", "body", "url", "image", "tag"}``;
``tag`` is the message key, so a browser shows a resent message (after an ``unknown`` hand-over)
once, and the ``Topic`` header (derived from the key) lets the push service replace an undelivered
copy. Push services do not deduplicate delivered messages.

The VAPID key pair is the shop's: made once, kept in the workspace as a PEM file only its owner can
read (0600); its public half (``VapidKey.application_server_key``) is what the shop's pages pass to
``pushManager.subscribe``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shopmind.activation._http_hand_over import (
    HttpChannel,
    Pace,
    check_provider_url,
    common_outcome,
    held_receipt,
    post,
)
from shopmind.activation._message import ChannelError, Message, Receipt
from shopmind.core import Clock

_WHAT = "the web push service"
#: the record size we declare; push services must take bodies of at least 4096 octets (RFC 8030 §7.2)
RECORD_SIZE = 4096
_HEADER = 16 + 4 + 1 + 65  # salt, record size, key id length, the sender's public key
#: the largest plaintext one record of RECORD_SIZE holds (the 0x02 delimiter and the GCM tag added)
MAX_PLAINTEXT = RECORD_SIZE - _HEADER - 1 - 16
_TOKEN_LIFETIME = timedelta(hours=12)  # RFC 8292 §2: at most 24 hours
_TOKEN_RENEW_BEFORE = timedelta(hours=1)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@dataclass(frozen=True)
class Subscription:
    """A browser's push subscription: where to post, and the keys to encrypt for."""

    endpoint: str
    p256dh: bytes  # the browser's P-256 public key, uncompressed (65 bytes)
    auth: bytes  # the browser's authentication secret (16 bytes)

    @classmethod
    def parse(cls, text: str) -> Subscription:
        """The subscription JSON a browser's ``PushSubscription.toJSON()`` gives; ValueError
        saying what is wrong."""
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ValueError("the address is not a push subscription (JSON)") from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            raise ValueError("the subscription needs endpoint and keys {p256dh, auth}")
        endpoint, keys = data.get("endpoint"), data["keys"]
        if not isinstance(endpoint, str) or not endpoint:
            raise ValueError("the subscription has no endpoint")
        try:
            p256dh = b64url_decode(str(keys["p256dh"]))
            auth = b64url_decode(str(keys["auth"]))
        except (KeyError, ValueError):
            raise ValueError("the subscription's keys need p256dh and auth in base64url") from None
        if len(p256dh) != 65 or p256dh[0] != 4:
            raise ValueError("the subscription's p256dh is not an uncompressed P-256 public key")
        if len(auth) != 16:
            raise ValueError("the subscription's auth secret is not 16 bytes")
        return cls(endpoint, p256dh, auth)


def encrypt(
    plaintext: bytes,
    p256dh: bytes,
    auth: bytes,
    *,
    salt: bytes | None = None,
    private_key: ec.EllipticCurvePrivateKey | None = None,
    record_size: int = RECORD_SIZE,
) -> bytes:
    """``plaintext`` encrypted for the browser holding ``p256dh``'s private key and ``auth``
    (RFC 8291 §3, one ``aes128gcm`` record). ``salt`` and ``private_key`` (the sender's ephemeral
    key) are fresh each call unless given: only the RFC's worked example gives them."""
    if len(plaintext) + 1 + 16 > record_size - _HEADER:
        raise ValueError(f"a web push payload holds at most {record_size - _HEADER - 17} bytes")
    salt = salt if salt is not None else os.urandom(16)
    private_key = private_key or ec.generate_private_key(ec.SECP256R1())
    as_public = _public_bytes(private_key.public_key())
    ua_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    ecdh_secret = private_key.exchange(ec.ECDH(), ua_public)
    # RFC 8291 §3.4: HKDF(auth, ecdh) with info "WebPush: info" || ua || as, then RFC 8188's keys
    prk_key = _hmac(auth, ecdh_secret)
    ikm = _hmac(prk_key, b"WebPush: info\x00" + p256dh + as_public + b"\x01")
    prk = _hmac(salt, ikm)
    cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    ciphertext = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)  # \x02: the last record
    header = salt + record_size.to_bytes(4, "big") + bytes([len(as_public)]) + as_public
    return header + ciphertext


class VapidKey:
    """The shop's VAPID key pair (P-256), signing a JWT per push service origin (RFC 8292)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ChannelError("a VAPID key must be a P-256 key")
        self.private_key = private_key

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> VapidKey:
        """The key kept at ``path`` (PEM, PKCS#8), made there first (0600) if absent. A key file
        others may read is refused: whoever holds it can push to every subscriber."""
        path = Path(path)
        if path.exists():
            return cls._load(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # written whole under another name, then linked into place: a crash leaves no half key,
        # and of two processes making it at once one key wins and both use it
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return cls._load(path)
        finally:
            tmp.unlink(missing_ok=True)
        return cls(key)

    @classmethod
    def _load(cls, path: Path) -> VapidKey:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ChannelError(f"{path} may be read by others (mode {mode:o}): run chmod 600 {path}")
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise ChannelError(f"{path} is not a PEM private key: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ChannelError(f"{path} is not an elliptic-curve (P-256) key")
        return cls(key)

    @property
    def public_bytes(self) -> bytes:
        return _public_bytes(self.private_key.public_key())

    @property
    def application_server_key(self) -> str:
        """The public key in base64url: ``pushManager.subscribe({applicationServerKey})``."""
        return b64url(self.public_bytes)

    def token(self, audience: str, subject: str, expires: int) -> str:
        """The signed JWT (ES256: the raw r || s signature, RFC 7518 §3.4)."""
        header = b64url(b'{"typ":"JWT","alg":"ES256"}')
        claims = b64url(orjson.dumps({"aud": audience, "exp": expires, "sub": subject}))
        signing_input = f"{header}.{claims}".encode("ascii")
        der = self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{header}.{claims}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _origin(endpoint: str) -> str:
    """The push service's origin: the VAPID token's audience (RFC 8292 §2)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _topic(key: str) -> str:
    # RFC 8030 §5.4: at most 32 base64url characters; a hash keeps any key within that
    return b64url(hashlib.sha256(key.encode()).digest())[:32]


class WebPush(HttpChannel):
    """A :class:`~shopmind.activation.Channel` for web push. ``subject``: how the push service's
    operator reaches the shop (``mailto:`` or an ``https:`` URL, RFC 8292 §2.1); ``ttl_s``: how long
    the push service keeps a message for a browser that is offline."""

    formats = frozenset({"web_push"})
    what = _WHAT

    def __init__(
        self,
        vapid: VapidKey,
        *,
        subject: str,
        ttl_s: int = 86_400,
        urgency: str = "normal",
        rate_per_s: float | None = None,
        timeout_s: float = 10.0,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        pace: Pace | None = None,
        verify: bool | str = True,
    ) -> None:
        if not subject.startswith(("mailto:", "https:")):
            raise ChannelError(
                f"web push subject must be a mailto: address or an https: URL, got {subject!r}"
            )
        if urgency not in ("very-low", "low", "normal", "high"):
            raise ChannelError(f"web push urgency must be very-low, low, normal or high, got {urgency!r}")
        if ttl_s < 0:
            raise ChannelError(f"web push ttl_s must not be negative, got {ttl_s}")
        self.vapid = vapid
        self.subject = subject
        self.ttl_s = ttl_s
        self.urgency = urgency
        self._connect(clock, pace, rate_per_s, timeout_s, transport, verify)
        self._tokens: dict[str, tuple[str, int]] = {}
        # each push service (FCM, Mozilla's, Apple's) asks for its own pauses (429 Retry-After)
        self._holds: dict[str, Pace] = {}
        self._holds_lock = threading.Lock()

    def send(self, message: Message) -> Receipt:
        self._check_open()
        if message.format not in self.formats:
            raise ChannelError(f"web push carries web_push messages, not {message.format!r}")
        if not message.to.strip():
            return Receipt(message.key, "rejected", reason="no push subscription")
        try:
            subscription = Subscription.parse(message.to)
            check_provider_url(subscription.endpoint, _WHAT)
        except (ValueError, ChannelError) as exc:
            return Receipt(message.key, "rejected", reason=str(exc))
        payload = self._payload(message)
        if len(payload) > MAX_PLAINTEXT:
            return Receipt(
                message.key,
                "rejected",
                reason=f"the push payload is {len(payload)} bytes; web push carries at most {MAX_PLAINTEXT}",
            )
        hold = self._hold(_origin(subscription.endpoint))
        held = held_receipt(message.key, hold, _WHAT)
        if held is not None:
            return held
        body = encrypt(payload, subscription.p256dh, subscription.auth)
        headers = {
            "Authorization": self._authorization(subscription.endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(self.ttl_s),
            "Urgency": self.urgency,
            "Topic": _topic(message.key),
        }
        self._pace.wait_turn()
        answer = post(
            self._client, subscription.endpoint, key=message.key, content=body, headers=headers, what=_WHAT
        )
        if isinstance(answer, Receipt):
            return answer
        if answer.status_code == 403:
            # the subscription was made for another VAPID key (the shop's key changed since):
            # this address is unusable, the channel is not
            return Receipt(
                message.key,
                "rejected",
                reason="the push service refused our VAPID key for this subscription (HTTP 403); "
                "the browser subscribed with another key: revoke it",
            )
        common = common_outcome(answer, key=message.key, pace=hold, clock=self._clock, what=_WHAT)
        if common is not None:
            return common
        if answer.status_code in (200, 201, 202):
            return Receipt(message.key, "sent", provider_id=answer.headers.get("location"))
        if answer.status_code in (404, 410):
            # the browser unsubscribed or the subscription expired: the address is gone for good
            return Receipt(
                message.key,
                "rejected",
                reason=f"the push subscription is gone (HTTP {answer.status_code}); revoke it",
            )
        return Receipt(message.key, "rejected", reason=f"HTTP {answer.status_code}: {answer.text[:200]}")

    def _payload(self, message: Message) -> bytes:
        data: dict[str, Any] = {"key": message.key, "body": message.text, "tag": message.key}
        if message.subject:
            data["title"] = message.subject
        if message.link_url:
            data["url"] = message.link_url
        if message.image_url:
            data["image"] = message.image_url
        if message.data:
            data["data"] = dict(message.data)
        return orjson.dumps(data)

    def _hold(self, origin: str) -> Pace:
        with self._holds_lock:
            return self._holds.setdefault(origin, Pace(None))

    def _authorization(self, endpoint: str) -> str:
        audience = _origin(endpoint)
        now = self._clock.now()
        cached = self._tokens.get(audience)
        if cached is None or cached[1] - now.timestamp() < _TOKEN_RENEW_BEFORE.total_seconds():
            expires = int((now + _TOKEN_LIFETIME).timestamp())
            cached = (self.vapid.token(audience, self.subject, expires), expires)
            self._tokens[audience] = cached
        return f"vapid t={cached[0]}, k={self.vapid.application_server_key}"


def vapid_key_path(workspace: str | os.PathLike[str]) -> Path:
    """Where a workspace keeps its VAPID private key."""
    return Path(workspace) / "vapid_private_key.pem"


def open_web_push(key_path: str | os.PathLike[str], *, subject: str, **options: Any) -> WebPush:
    """A :class:`WebPush` signing with the VAPID key at ``key_path`` (made there, 0600, if absent)."""
    return WebPush(VapidKey.load_or_create(key_path), subject=subject, **options)
