"""A real local HTTP server standing in for the providers the HTTP channels talk to:

- ``/v1/messages``: the SMS/Kakao gateway (checks the API key or the HMAC signature, the
  Idempotency-Key header against the body's key, and takes each key once: a repeat is answered
  ``duplicate``);
- ``/fcm/v1/projects/shop/messages:send``: an FCM-like app push service;
- ``/push/<id>``: a web push service holding the subscriptions it issued, with the browser's side
  of the keys: it verifies the VAPID JWT (ES256, audience, expiry, subject) and DECRYPTS the
  payload with the subscription's private key and auth secret (RFC 8291), written here
  independently of the adapter.

Each service can be told to answer the next requests with a status (429 with Retry-After, 500, …)
or to cut the connection after reading a request (having taken the message, or not).
``service.received()`` is what it took (each gateway key once), ``service.carried()`` how many
requests carried each key (a resend after an ``unknown`` hand-over shows as 2). With ``tls_dir``
it serves https with a certificate from a CA made there (``ca_file``, for ``verify=``).

It runs in a thread of the test process; a worker in a subprocess reaches it by URL, e.g.
``http://test-api-key@127.0.0.1:<port>/v1/messages`` as the sms channel's url in channels.toml.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.channel_contract import Received
from tests.smtp_server import make_certificates


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Fault:
    """What the next request meets instead of a normal answer."""

    status: int | None = None  # answer this status
    retry_after: str | None = None
    cut: bool = False  # read the request, then close the connection without an answer
    taken: bool = True  # when cut: whether the message was taken before the cut


@dataclass
class Service:
    """One provider's record: what it took, every request it saw, and the faults queued for it."""

    name: str
    taken: list[Received] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.taken)

    def carried(self) -> dict[str, int]:
        """How many requests carried each key (a key carried twice was sent twice)."""
        counts: dict[str, int] = {}
        with self.lock:
            for request in self.requests:
                for key in request["keys"]:
                    counts[key] = counts.get(key, 0) + 1
        return counts

    def answer_next(self, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        with self.lock:
            self.faults.extend(Fault(status=status, retry_after=retry_after) for _ in range(times))

    def cut_next(self, *, taken: bool = True, times: int = 1) -> None:
        with self.lock:
            self.faults.extend(Fault(cut=True, taken=taken) for _ in range(times))

    def next_fault(self) -> Fault | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None


@dataclass
class _Subscriber:
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    subscription: str  # the JSON handed to the shop
    application_server_key: bytes | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client killed mid-request (the outbox's SIGKILL tests) breaks its connection: expected
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body


class Standin:
    """The stand-in server on 127.0.0.1 (a free port), serving in a thread until :meth:`close`."""

    def __init__(
        self,
        *,
        api_key: str = "test-api-key",
        api_secret: str | None = None,
        push_token: str = "test-push-token",
        now: Callable[[], float] = time.time,
        tls_dir: Path | None = None,
    ) -> None:
        self.api_key, self.api_secret, self.push_token = api_key, api_secret, push_token
        self.now = now
        self.gateway = Service("gateway")
        self.app_push = Service("app_push")
        self.web_push = Service("web_push")
        self._message_ids: dict[str, str] = {}
        self._subscribers: dict[str, _Subscriber] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.ca_file: Path | None = None
        if tls_dir is not None:  # serve https with a certificate from a CA made for this test
            certificates = make_certificates(tls_dir)
            self.ca_file = certificates.ca
            self.server.socket = certificates.server_context().wrap_socket(
                self.server.socket, server_side=True
            )
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{'https' if self.ca_file else 'http'}://{host}:{port}"

    @property
    def gateway_url(self) -> str:
        return f"{self.base_url}/v1/messages"

    @property
    def app_push_url(self) -> str:
        return f"{self.base_url}/fcm/v1/projects/shop/messages:send"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- web push subscriptions ---------------------------------------------------------------

    def subscribe(self, application_server_key: str | None = None) -> str:
        """A new browser subscription (JSON, as ``PushSubscription.toJSON()`` gives it); with
        ``application_server_key`` the service takes pushes signed by that VAPID key only."""
        key = ec.generate_private_key(ec.SECP256R1())
        auth = hashlib.sha256(str(next(self._ids)).encode()).digest()[:16]
        sub_id = f"s{next(self._ids)}"
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        text = orjson.dumps(
            {
                "endpoint": f"{self.base_url}/push/{sub_id}",
                "expirationTime": None,
                "keys": {"p256dh": _b64e(public), "auth": _b64e(auth)},
            }
        ).decode()
        server_key = _b64d(application_server_key) if application_server_key else None
        with self._lock:
            self._subscribers[sub_id] = _Subscriber(key, auth, text, server_key)
        return text

    def unsubscribe(self, subscription: str) -> None:
        endpoint = orjson.loads(subscription)["endpoint"]
        with self._lock:
            self._subscribers.pop(endpoint.rsplit("/", 1)[1], None)

    # -- the services -------------------------------------------------------------------------

    def gateway_request(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        self._check_gateway_auth(headers.get("authorization", ""))
        try:
            messages = orjson.loads(body)["messages"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise _Refused(400, {"error": "the body needs messages: [...]"}) from None
        if len(messages) == 1 and headers.get("idempotency-key") != messages[0].get("key"):
            raise _Refused(400, {"error": "Idempotency-Key differs from the message's key"})
        results = []
        for m in messages:
            key = m.get("key")
            missing = [f for f in ("key", "type", "to", "text") if not m.get(f)]
            if m.get("type") in ("SMS", "LMS", "MMS") and not m.get("from"):
                missing.append("from")
            if m.get("type") in ("ALIMTALK", "BRAND") and not (m.get("kakao") or {}).get("senderKey"):
                missing.append("kakao.senderKey")
            if m.get("type") == "ALIMTALK" and not m["kakao"].get("templateCode"):
                missing.append("kakao.templateCode")
            if missing:
                results.append({"key": key, "status": "rejected", "reason": f"missing {missing}"})
                continue
            if m["to"] == "01000000000":
                results.append({"key": key, "status": "rejected", "reason": "no such subscriber"})
                continue
            with self._lock:
                seen = self._message_ids.get(key)
                if seen is None:
                    message_id = self._message_ids[key] = f"M{next(self._ids):06d}"
                    with self.gateway.lock:
                        self.gateway.taken.append(Received(key, m["to"], m["text"], m.get("subject")))
            if seen is None:
                results.append({"key": key, "status": "sent", "messageId": message_id})
            else:
                results.append({"key": key, "status": "duplicate", "messageId": seen})
        return 200, {"results": results}

    def _check_gateway_auth(self, value: str) -> None:
        if self.api_secret is None:
            if value != f"Bearer {self.api_key}":
                raise _Refused(401, {"error": "bad API key"})
            return
        scheme, _, rest = value.partition(" ")
        fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
        expected = hmac.new(
            self.api_secret.encode(),
            (fields.get("date", "") + fields.get("salt", "")).encode(),
            hashlib.sha256,
        ).hexdigest()
        if (
            scheme != "HMAC-SHA256"
            or fields.get("apiKey") != self.api_key
            or not hmac.compare_digest(fields.get("signature", ""), expected)
        ):
            raise _Refused(401, {"error": "bad signature"})

    def app_push_request(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("authorization") != f"Bearer {self.push_token}":
            raise _Refused(401, {"error": {"status": "UNAUTHENTICATED", "message": "bad token"}})
        message = orjson.loads(body)["message"]
        token = message["token"]
        if token.startswith("unregistered"):
            raise _Refused(
                404,
                {
                    "error": {
                        "status": "NOT_FOUND",
                        "message": "Requested entity was not found.",
                        "details": [{"errorCode": "UNREGISTERED"}],
                    }
                },
            )
        notification = message.get("notification", {})
        with self.app_push.lock:
            self.app_push.taken.append(
                Received(message["data"]["key"], token, notification["body"], notification.get("title"))
            )
        return 200, {"name": f"projects/shop/messages/{next(self._ids)}"}

    def web_push_request(
        self, sub_id: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            subscriber = self._subscribers.get(sub_id)
        if subscriber is None:
            raise _Refused(410, {"error": "the subscription is gone"})
        self._check_vapid(headers.get("authorization", ""), subscriber)
        if headers.get("content-encoding") != "aes128gcm":
            raise _Refused(415, {"error": "Content-Encoding must be aes128gcm"})
        if not headers.get("ttl", "").isdigit():
            raise _Refused(400, {"error": "TTL header missing"})
        if len(body) > 4096:
            raise _Refused(413, {"error": "payload too large"})
        payload = orjson.loads(_decrypt(body, subscriber.private_key, subscriber.auth))
        with self.web_push.lock:
            self.web_push.taken.append(
                Received(payload["key"], subscriber.subscription, payload["body"], payload.get("title"))
            )
            self.web_push.requests[-1]["payload"] = payload
        return 201, {}

    def _check_vapid(self, value: str, subscriber: _Subscriber) -> None:
        """RFC 8292: ``vapid t=<JWT>, k=<public key>``; the JWT signed with k (ES256), its audience
        this origin, its expiry within 24 hours, a contact subject."""
        scheme, _, rest = value.partition(" ")
        params = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
        if scheme.lower() != "vapid" or "t" not in params or "k" not in params:
            raise _Refused(401, {"error": "vapid authorization missing"})
        public = _b64d(params["k"])
        if subscriber.application_server_key not in (None, public):
            raise _Refused(403, {"error": "signed by another application server key"})
        header_b64, claims_b64, signature_b64 = params["t"].split(".")
        header = orjson.loads(_b64d(header_b64))
        claims = orjson.loads(_b64d(claims_b64))
        signature = _b64d(signature_b64)
        if header.get("alg") != "ES256" or len(signature) != 64:
            raise _Refused(401, {"error": "the JWT must be ES256"})
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise _Refused(401, {"error": "bad VAPID signature"}) from None
        if claims.get("aud") != self.base_url:
            raise _Refused(401, {"error": f"audience {claims.get('aud')!r} is not {self.base_url}"})
        now = self.now()
        if not now < claims.get("exp", 0) <= now + 86_400:
            raise _Refused(401, {"error": "expired, or expiring more than 24 hours ahead"})
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise _Refused(401, {"error": "no contact subject"})


def _decrypt(body: bytes, private_key: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """The browser's side of RFC 8291: read the aes128gcm header, agree the secret with the
    sender's key in it, derive the key and nonce, open the one record, strip the padding."""
    salt, record_size, id_len = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    sender_public = body[21 : 21 + id_len]
    ciphertext = body[21 + id_len :]
    assert len(ciphertext) <= record_size, "one record expected"
    ua_public = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    shared = private_key.exchange(
        ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_public)
    )

    def hkdf(salt_: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
        prk = hmac.new(salt_, ikm, hashlib.sha256).digest()
        return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]

    ikm = hkdf(auth, shared, b"WebPush: info\x00" + ua_public + sender_public, 32)
    cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    plain = padded.rstrip(b"\x00")
    if not plain.endswith(b"\x02"):
        raise ValueError("the last record must end with the 0x02 delimiter")
    return plain[:-1]


def _handler(standin: Standin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave as separate writes

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return None

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path
            if path == "/v1/messages":
                service, run = standin.gateway, lambda: standin.gateway_request(headers, body)
            elif path == "/fcm/v1/projects/shop/messages:send":
                service, run = standin.app_push, lambda: standin.app_push_request(headers, body)
            elif path.startswith("/push/"):
                sub_id = path.rsplit("/", 1)[1]
                service, run = (
                    standin.web_push,
                    lambda: standin.web_push_request(sub_id, headers, body),
                )
            else:
                self._answer(404, {"error": "no such path"})
                return
            keys = _keys(service.name, body)
            with service.lock:
                service.requests.append({"headers": headers, "keys": keys, "body": body})
            fault = service.next_fault()
            if fault is not None and fault.status is not None:
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._answer(fault.status, {"error": f"told to answer {fault.status}"}, extra)
                return
            if fault is not None and fault.cut and not fault.taken:
                self._cut()
                return
            try:
                status, answer = run()
            except _Refused as refused:
                status, answer = refused.status, refused.body
            if fault is not None and fault.cut:
                self._cut()
                return
            extra = {"Location": f"{standin.base_url}/m/{next(standin._ids)}"} if status == 201 else {}
            self._answer(status, answer, extra)

        def _cut(self) -> None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def _answer(self, status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _keys(service: str, body: bytes) -> list[str]:
    if service == "web_push":
        return []  # encrypted: known once decrypted
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    if service == "gateway":
        return [m.get("key") for m in data.get("messages", []) if isinstance(m, dict)]
    return [data.get("message", {}).get("data", {}).get("key")]
