"""E-mail over SMTP: the channel adapter for ``smtp://`` (STARTTLS) and ``smtps://`` (TLS from the
first byte) URLs.

One connection is opened on the first message, reused for every message after it, and opened
again when the server has dropped it (servers close idle connections; a reconnect before a message
has left is harmless). Each message carries its idempotency key as the Message-ID
(``<key@sender-domain>``), so a message resent after an ``unknown`` hand-over is recognised by the
reader's mail program as the same message. Advertising mail carries ``List-Unsubscribe`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), so the reader's mail program
offers the one-click unsubscribe the law asks for. Korean subjects are encoded by RFC 2047 and
bodies are UTF-8 (base64, so no server needs 8BITMIME).

What the server answers becomes the receipt: 250 → ``sent``; a 5xx (no such user, refused
content) → ``rejected``; a 4xx (greylisting, mailbox busy) or a server that cannot be reached →
``retry``. A connection cut after the message's content began to leave → :class:`HandOverUnknownError`
(the server may have it). A login the server refuses, or TLS that cannot be set up, is a
configuration fault → :class:`ChannelError` saying what to change.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import smtplib
import ssl
import threading
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from shopmind.activation._message import ChannelError, HandOverUnknownError, Message, Receipt
from shopmind.core import Clock, SystemClock

if TYPE_CHECKING:
    from shopmind.activation._channel_config import OpenContext

Security = Literal["starttls", "ssl", "none"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_URL = re.compile(r"^(https?://|mailto:)[^\s<>]+$")
# RFC 5322 atext without "%", which escapes everything else (so the key comes back exactly)
_ATEXT = re.compile(r"[A-Za-z0-9!#$&'*+\-/=?^_`{|}~]")
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "ssl": 465, "none": 25}


def message_id(key: str, domain: str) -> str:
    """The Message-ID that carries ``key``: ``<key@domain>``, with every character a Message-ID
    may not hold (and "%", and the dots that would make it malformed) written as ``%XX``."""
    parts = []
    for i, ch in enumerate(key):
        dot_ok = ch == "." and 0 < i < len(key) - 1 and key[i - 1] != "."
        if _ATEXT.fullmatch(ch) or dot_ok:
            parts.append(ch)
        else:
            parts.extend(f"%{b:02X}" for b in ch.encode())
    return f"<{''.join(parts)}@{domain}>"


def key_from_message_id(value: str) -> str:
    """The idempotency key a Message-ID made by :func:`message_id` carries."""
    local = value.strip().removeprefix("<").removesuffix(">").rsplit("@", 1)[0]
    return unquote(local)


def _smtp_address(address: str) -> str | None:
    """The address as SMTP sends it (an international domain in its ASCII form), or None when it
    is not one plain address."""
    address = address.strip()
    if not _ADDRESS.match(address):
        return None
    local, domain = address.rsplit("@", 1)
    if not local.isascii():
        return None  # needs SMTPUTF8, which few Korean providers offer
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return f"{local}@{domain}"


class _Refused(Exception):
    """A reply before the message's content left: the transaction is reset, nothing was sent."""

    def __init__(self, code: int, reply: str) -> None:
        super().__init__(code, reply)
        self.code = code
        self.reply = reply


class _Stale(Exception):
    """The connection was found closed before anything of this message left."""


class SmtpChannel:
    """Sends ``email`` messages through one SMTP server.

    ``security``: ``starttls`` (connect in clear, then STARTTLS, required: a server that does not
    offer it is refused), ``ssl`` (TLS from the start, port 465) or ``none`` (a local relay only).
    ``from_address``: the From header (``"봄날상점 <news@shop.example>"``); its domain ends every
    Message-ID. ``tls``: the SSL context (default: the system's trusted certificates).
    """

    formats = frozenset({"email"})

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        from_address: str,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if security not in _DEFAULT_PORTS:
            raise ChannelError(f"SMTP security {security!r}: expected starttls, ssl or none")
        display_name, envelope = parseaddr(from_address)
        if not envelope or _smtp_address(envelope) is None:
            raise ChannelError(
                f"the e-mail sender {from_address!r} is not an address: set [sender] email_from in "
                'channels.toml, e.g. email_from = "봄날상점 <news@shop.example>"'
            )
        if username is not None and password is None:
            raise ChannelError(
                f"the SMTP user {username!r} has no password: put it in the URL "
                "(smtp://user:${SMTP_PASSWORD}@host:587, read from the environment variable)"
            )
        self.host = host
        self.port = port or _DEFAULT_PORTS[security]
        self.security: Security = security
        self.from_address = from_address
        self.envelope_from = _smtp_address(envelope) or envelope
        self.domain = self.envelope_from.rsplit("@", 1)[1]
        # a Korean name as an RFC 2047 word, specials quoted
        self._from_header = formataddr((display_name, self.envelope_from), charset="utf-8")
        self.username = username
        self._password = password
        self._tls = tls
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._clock = clock or SystemClock()
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self.connections = 0  # how many times a connection was opened (reuse shows as 1)

    def __repr__(self) -> str:  # never the password
        return f"SmtpChannel({self.security} {self.username or ''}@{self.host}:{self.port})"

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def build(self, message: Message, to: str) -> bytes:
        """The e-mail as it goes on the wire (before the SMTP dot-stuffing): headers with any
        Korean in RFC 2047 words, UTF-8 parts in base64. Written directly rather than through
        ``email.message``, which takes fifteen times as long (bench/bench_smtp.py); the tests read
        it back with ``email``'s parser. ``to``: the address as SMTP sends it."""
        headers = [
            f"From: {self._from_header}",
            f"To: {to}",
            f"Date: {format_datetime(self._clock.now())}",
            f"Message-ID: {message_id(message.key, self.domain)}",
        ]
        if message.subject:
            headers.append(f"Subject: {_header_text(message.subject, 'Subject')}")
        if message.unsubscribe_url:
            headers.append(f"List-Unsubscribe: <{message.unsubscribe_url}>")
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        headers.append("MIME-Version: 1.0")
        text = _text_part(message.text, "plain")
        if not message.html:
            return "\r\n".join(headers).encode() + b"\r\n" + text
        boundary = f"=_shopmind_{hashlib.sha256(message.key.encode()).hexdigest()[:24]}"
        headers.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"')
        mark = f"--{boundary}\r\n".encode()
        return b"".join(
            (
                "\r\n".join(headers).encode(),
                b"\r\n\r\n",
                mark,
                text,
                b"\r\n",
                mark,
                _text_part(message.html, "html"),
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )

    def send(self, message: Message) -> Receipt:
        if message.format not in self.formats:
            raise ChannelError(f"the SMTP channel carries e-mail only, not {message.format!r} messages")
        if not message.to.strip():
            return Receipt(message.key, "rejected", reason="no e-mail address")
        to = _smtp_address(message.to)
        if to is None:
            return Receipt(message.key, "rejected", reason=f"not an e-mail address: {message.to!r}")
        if message.unsubscribe_url and not _URL.match(message.unsubscribe_url):
            return Receipt(message.key, "rejected", reason=f"not a URL: {message.unsubscribe_url!r}")
        payload = _wire_bytes(self.build(message, to))
        mid = message_id(message.key, self.domain)
        with self._lock:
            for attempt in (1, 2):
                reused = self._smtp is not None
                try:
                    smtp = self._connection()
                except _Unreachable as exc:
                    return Receipt(message.key, "retry", reason=str(exc))
                try:
                    code, reply = self._transaction(smtp, to, payload)
                except _Stale:
                    self._drop()
                    if reused and attempt == 1:
                        continue  # the server closed an idle connection: open a new one
                    return Receipt(
                        message.key, "retry", reason=f"{self._where} closed the connection before the message"
                    )
                except _Refused as exc:
                    return self._refused(message.key, exc.code, exc.reply)
                if code == 250:
                    return Receipt(message.key, "sent", provider_id=mid)
                return self._refused(message.key, code, reply)
        raise AssertionError("unreachable")  # pragma: no cover

    def _refused(self, key: str, code: int, reply: str) -> Receipt:
        reason = f"{self._where} answered {code} {reply}".strip()
        if code == 421:  # the server did not take it and is closing the connection
            self._drop()
        if 400 <= code < 500:
            return Receipt(key, "retry", reason=reason)
        return Receipt(key, "rejected", reason=reason)

    def _transaction(self, smtp: smtplib.SMTP, to: str, payload: bytes) -> tuple[int, str]:
        """MAIL, RCPT, DATA on an open connection. Until the server says 354 nothing of the
        message has left (a closed connection is :class:`_Stale`, a refusal :class:`_Refused`);
        after it, a cut is :class:`HandOverUnknownError`."""
        try:
            for command in (f"MAIL FROM:<{self.envelope_from}>", f"RCPT TO:<{to}>", "DATA"):
                smtp.putcmd(command)
                code, raw = smtp.getreply()
                expected = 354 if command == "DATA" else 250
                if code == 421:  # the server is closing this connection (an idle timeout, a restart)
                    raise _Stale()
                if code != expected and not (command.startswith("RCPT") and code == 251):
                    _reset(smtp)
                    said = raw.decode("utf-8", "replace")
                    if command.startswith("MAIL") and code >= 500:
                        raise ChannelError(
                            f"{self._where} refuses the sender {self.envelope_from} ({code} {said}) for "
                            "every message: check [sender] email_from in channels.toml (or ?from= in the "
                            "URL) against the addresses this login may send as"
                        )
                    raise _Refused(code, said)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Stale() from exc
        try:
            smtp.send(payload)
            code, raw = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise HandOverUnknownError(
                f"the connection to {self._where} broke while the message was handed over ({exc}); "
                "the server may have it"
            ) from exc
        return code, raw.decode("utf-8", "replace")

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        smtp: smtplib.SMTP
        try:
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout,
                    local_hostname=self.local_hostname,
                    context=self._tls_context(),
                )
            else:
                smtp = smtplib.SMTP(
                    self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
                )
        except ssl.SSLCertVerificationError as exc:
            raise self._untrusted(exc) from None
        except ssl.SSLError as exc:
            raise ChannelError(
                f"TLS with {self._where} failed ({exc.reason or exc}): smtps:// speaks TLS from the first "
                "byte (usually port 465); for a server that starts in clear and offers STARTTLS (port 587) "
                "use smtp://"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _Unreachable(f"cannot connect to the SMTP server {self._where}: {exc}") from None
        try:
            self._greet(smtp)
        except BaseException:
            _quietly_close(smtp)
            raise
        self._smtp = smtp
        self.connections += 1
        return smtp

    def _greet(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise ChannelError(
                        f"{self._where} does not offer STARTTLS, so the password and the mail would go "
                        "unencrypted: use smtps:// (port 465) if the server speaks TLS from the start, or "
                        "?starttls=false only for a relay on this machine"
                    )
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if self.username is not None:
                _login(smtp, self.username, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
            raise ChannelError(
                f"{self._where} refused the login of {self.username!r} ({exc.smtp_code} {text}): check the "
                "user name and the password in the e-mail URL of channels.toml (or the environment "
                "variable it names, e.g. ${SMTP_PASSWORD})"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise ChannelError(
                f"{self._where} offers no login (AUTH) on this connection: servers offer it only over "
                "TLS, so use smtp:// with STARTTLS or smtps://; or remove the user from the URL if the "
                "server takes mail without a login"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise self._untrusted(exc) from None
        except ssl.SSLError as exc:
            raise ChannelError(f"STARTTLS with {self._where} failed: {exc.reason or exc}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _Unreachable(
                f"the SMTP server {self._where} did not complete the greeting: {exc}"
            ) from None

    def _untrusted(self, exc: ssl.SSLCertVerificationError) -> ChannelError:
        return ChannelError(
            f"the certificate of {self._where} is not trusted ({exc.verify_message}): give the CA that "
            "signed it in the URL (?cafile=/path/ca.pem), and check that the host name matches the certificate"
        )

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            _quietly_close(smtp)

    def close(self) -> None:
        """Says QUIT and closes the connection; harmless when there is none."""
        with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is None:
                return
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                _quietly_close(smtp)


class _Unreachable(Exception):
    """The server could not be reached or did not finish its greeting: try again later."""


def _wire_bytes(mail: bytes) -> bytes:
    if not mail.endswith(b"\r\n"):
        mail += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", mail) + b".\r\n"  # dot-stuffing, then the end of DATA


def _header_text(text: str, name: str = "") -> str:
    """A header value: line breaks (a header injection) made spaces; non-ASCII as RFC 2047
    encoded words, folded. Reads back exactly (a property test checks it)."""
    text = " ".join(text.splitlines())
    # plain ASCII as it is, unless a reader would take it for an encoded word, lose its edge
    # spaces or need it folded
    if text.isascii() and "=?" not in text and text == text.strip() and len(text) < 900:
        return text
    return Header(text, "utf-8", maxlinelen=78, header_name=name).encode(linesep="\r\n")


def _text_part(text: str, subtype: str) -> bytes:
    """A text part's headers and its UTF-8 body in base64, in canonical form (CRLF line ends)."""
    body = _LINE_BREAK.sub("\r\n", text).encode()
    encoded = base64.encodebytes(body).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    ).encode() + encoded


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    if (user + password).isascii():
        smtp.login(user, password)
        return
    # smtplib sends only ASCII credentials; SASL PLAIN carries UTF-8 (RFC 4616), so a Korean
    # password is sent that way
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _reset(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        smtp.rset()


def _quietly_close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()


def open_smtp(url: str, context: OpenContext) -> SmtpChannel:
    """The channel for ``smtp://user:pass@host:587`` (STARTTLS; ``?starttls=false`` for a relay on
    this machine) or ``smtps://user:pass@host:465``; query options ``timeout`` (seconds),
    ``cafile`` (the CA of a server whose certificate is not publicly signed), ``from`` (overrides
    the sender's e-mail address). User and password are percent-decoded."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"starttls", "timeout", "cafile", "from"}
    if unknown:
        raise ChannelError(
            f"the e-mail URL has unknown options {sorted(unknown)}: expected starttls, timeout, cafile, from"
        )
    if parts.scheme == "smtps":
        security: Security = "ssl"
    else:
        flag = query.get("starttls", "true").lower()
        if flag not in ("true", "false"):
            raise ChannelError(f"the e-mail URL's starttls={flag!r}: expected true or false")
        security = "starttls" if flag == "true" else "none"
    if not parts.hostname:
        raise ChannelError(
            f"the e-mail URL {parts.scheme}://… names no host: smtp://user:pass@smtp.example.com:587"
        )
    try:
        port = parts.port
        timeout = float(query.get("timeout", "30"))
    except ValueError as exc:
        raise ChannelError(f"the e-mail URL: {exc}") from None
    tls = None
    if "cafile" in query:
        try:
            tls = ssl.create_default_context(cafile=query["cafile"])
        except (OSError, ssl.SSLError) as exc:
            raise ChannelError(f"the e-mail URL's cafile {query['cafile']!r} cannot be read: {exc}") from None
    from_address = query.get("from") or context.sender.email_from
    if not from_address:
        raise ChannelError(
            'e-mail needs a sender address: set [sender] email_from = "봄날상점 <news@shop.example>" in channels.toml'
        )
    return SmtpChannel(
        parts.hostname,
        port,
        from_address=from_address,
        security=security,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
        timeout=timeout,
        clock=context.clock,
    )
