"""A real SMTP server on loopback for the e-mail channel's tests: aiosmtpd in a thread, recording
every message it takes, with STARTTLS or TLS from the start (a certificate authority and a server
certificate for 127.0.0.1 made at test time with ``cryptography``) and AUTH (one user).

It can also misbehave on request, as real servers do: refuse recipients (``refuse``: address →
reply), answer the next MAIL or DATA with a given reply (``mail_replies``, ``data_replies``; a 421
to MAIL also closes the connection), cut the connection right after
taking a message's content (``cut_next_data``: the message arrived, the client never hears so),
go quiet after taking it (``stall_next_data_s``),
and drop every open connection (``drop_connections``, as a server closing idle connections does).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import socket
import ssl
import threading
import warnings
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shopmind.activation import key_from_message_id
from tests.channel_contract import Received

_MESSAGE_ID = re.compile(rb"^Message-ID: *(<[^>\r\n]*>)", re.M | re.I)


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA (``ca``: what a client trusts) and the server's certificate and key."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_certificates(folder: Path, host: str = "127.0.0.1") -> Certificates:
    """A CA and a server certificate for ``host`` (and localhost), valid for a day."""
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("shopmind test CA"))
        .issuer_name(name("shopmind test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(host))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@dataclass(frozen=True)
class Mail:
    """One message as the server took it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def parsed(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.server.lock:
            reply = self.server.mail_replies.pop(0) if self.server.mail_replies else None
        if reply is not None:
            if reply.startswith("421") and smtp.transport is not None:
                smtp.transport.close()  # as a server closing an idle connection says 421 and goes
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self.server.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        with self.server.lock:
            reply = self.server.data_replies.pop(0) if self.server.data_replies else "250 2.0.0 OK"
            cut, self.server.cut_next_data = self.server.cut_next_data, False
            stall, self.server.stall_next_data_s = self.server.stall_next_data_s, 0.0
            if reply.startswith("250"):
                raw = envelope.original_content or b""
                self.server.mails.append(Mail(envelope.mail_from or "", tuple(envelope.rcpt_tos), raw))
        if stall:
            await asyncio.sleep(stall)  # a server that takes the content and then goes quiet
        if cut and smtp.transport is not None:
            smtp.transport.abort()  # the message is in; the client never hears "250"
        return reply


class _RecordingSMTP(SMTP):
    """aiosmtpd's SMTP, keeping each connection so the test can drop it."""

    def __init__(self, owner: SmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner

    def connection_made(self, transport: Any) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            with self._owner.lock:
                self._owner.connections += 1
                self._owner._open.append(self)

    def connection_lost(self, error: Exception | None) -> None:
        with self._owner.lock:
            if self in self._owner._open:
                self._owner._open.remove(self)
        super().connection_lost(error)


class _Controller(Controller):
    def __init__(self, owner: SmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            # "AUTH without requiring TLS": over smtps the whole connection is TLS already
            warnings.simplefilter("ignore", UserWarning)
            return _RecordingSMTP(self._owner, self.handler, **self.SMTP_kwargs)


class SmtpServer:
    """``tls``: None (clear), "starttls" (offered and required) or "ssl" (TLS from the start);
    ``login``: (user, password) to require AUTH."""

    def __init__(
        self,
        *,
        tls: Literal["starttls", "ssl"] | None = None,
        certificates: Certificates | None = None,
        login: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if tls is not None and certificates is None:
            raise ValueError("TLS needs certificates (make_certificates)")
        self.host = host
        self.port = free_port()
        self.tls = tls
        self.login = login
        self.lock = threading.Lock()
        self.mails: list[Mail] = []
        self.refuse: dict[str, str] = {}
        self.data_replies: list[str] = []
        self.mail_replies: list[str] = []
        self.cut_next_data = False
        self.stall_next_data_s = 0.0
        self.connections = 0
        self.logins: list[str] = []
        self._open: list[_RecordingSMTP] = []
        kwargs: dict[str, Any] = {}
        server_context = certificates.server_context() if certificates else None
        if tls == "starttls":
            kwargs.update(tls_context=server_context, require_starttls=True)
        if login is not None:
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=tls == "starttls"
            )
        self._controller = _Controller(
            self,
            _Handler(self),
            hostname=host,
            port=self.port,
            ssl_context=server_context if tls == "ssl" else None,
            server_hostname=host,
            **kwargs,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.login is not None
            and (auth_data.login.decode(), auth_data.password.decode()) == self.login
        )
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # aiosmtpd then answers 535 itself

    def start(self) -> SmtpServer:
        self._controller.start()
        with self.lock:
            self.connections = 0  # not the controller's own "are you up" connection
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_connections(self) -> int:
        """Close every open connection from the server's side; how many there were."""
        with self.lock:  # the clients' (those that said EHLO), not a probe of the controller
            sessions = [s for s in self._open if s.session is not None and s.session.host_name]
        loop = self._controller.loop
        done = threading.Event()

        def close() -> None:
            for session in sessions:
                if session.transport is not None:
                    session.transport.close()
            done.set()

        loop.call_soon_threadsafe(close)
        done.wait(5)
        return len(sessions)

    def keys(self) -> list[str]:
        """The idempotency key of every message taken, in order (read from the Message-ID header
        without parsing the whole message: quick for a 10,000-message campaign)."""
        with self.lock:
            raws = [mail.raw for mail in self.mails]
        found = (_MESSAGE_ID.search(raw) for raw in raws)
        return [key_from_message_id(m.group(1).decode()) if m else "" for m in found]

    def received(self) -> list[Received]:
        """The contract's view: each message's key (from its Message-ID), recipient, text, subject."""
        out = []
        with self.lock:
            mails = list(self.mails)
        for mail in mails:
            parsed = mail.parsed
            body = parsed.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            out.append(
                Received(
                    key_from_message_id(str(parsed["Message-ID"])),
                    mail.rcpt_tos[0],
                    text,
                    str(parsed["Subject"]) if parsed["Subject"] is not None else None,
                )
            )
        return out
