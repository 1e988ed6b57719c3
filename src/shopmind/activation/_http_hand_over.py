"""Handing one message to an HTTP provider, shared by the gateway, app-push and web-push adapters:
what a provider's URL may be, a rate limit (a configured pace, and the pause a provider asks for
with 429 Retry-After), and the line between "nothing left" (retry later) and "the request left,
the answer did not come" (:class:`HandOverUnknownError`: resend with the same key)."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from ipaddress import ip_address
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import httpx

from shopmind.activation._message import ChannelError, HandOverUnknownError, Receipt
from shopmind.core import Clock, SystemClock

#: hosts that may be spoken to over plain http (a stand-in or a relay on this machine)
_LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_provider_url(url: str, what: str) -> None:
    """``url`` must be https (credentials and customers' messages travel in it); plain http only to
    this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ChannelError(f"{what}: {url!r} is not an https:// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ChannelError(
            f"{what}: {parts.hostname} must be reached over https:// (plain http only to this machine)"
        )


class Pace:
    """At most ``per_second`` requests a second (None: no limit), and no request while a provider's
    Retry-After holds. Thread-safe: senders sharing an adapter share its pace. ``monotonic`` and
    ``sleep`` are injectable so tests count the waits instead of waiting."""

    def __init__(
        self,
        per_second: float | None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second is not None and not per_second > 0:
            raise ChannelError(f"rate: must be a positive number of messages per second, got {per_second}")
        self.per_second = per_second
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0  # the earliest moment the next request may leave
        self._held_until = 0.0
        self._lock = threading.Lock()

    def held_for(self) -> float:
        """Seconds the provider still asked us to wait (0: none)."""
        with self._lock:
            return max(0.0, self._held_until - self._monotonic())

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._held_until = max(self._held_until, self._monotonic() + seconds)

    def wait_turn(self) -> None:
        """Block until this request's slot: slots are spaced 1/per_second apart."""
        if self.per_second is None:
            return
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.per_second
        if slot > now:
            self._sleep(slot - now)


def provider_client(
    timeout_s: float, transport: httpx.BaseTransport | None, verify: bool | str
) -> httpx.Client:
    """The HTTP client of one adapter (its connections are reused across messages). ``verify``: a
    CA bundle file when the provider's certificate is signed by a private CA."""
    if isinstance(verify, str):
        try:
            context = ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise ChannelError(f"verify: cannot read the CA bundle {verify!r} ({exc})") from None
        return httpx.Client(timeout=timeout_s, transport=transport, verify=context)
    return httpx.Client(timeout=timeout_s, transport=transport, verify=verify)


def _certificate_error(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def retry_after_s(response: httpx.Response, clock: Clock) -> float | None:
    """The Retry-After header in seconds: a number of seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when: datetime = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - clock.now()).total_seconds())


def post(
    client: httpx.Client,
    url: str,
    *,
    key: str,
    content: bytes,
    headers: Mapping[str, str],
    what: str,
) -> httpx.Response | Receipt:
    """POST one message. A connection never made (or no free connection) is a ``retry`` receipt: the
    message did not leave. A connection broken once the request was on its way — while writing it,
    or before the answer came — is :class:`HandOverUnknownError`: the provider may have it."""
    try:
        return client.post(url, content=content, headers=dict(headers))
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        tls = _certificate_error(exc)
        if tls is not None:
            # not a passing fault: no message will go until the certificate or the CA is fixed
            raise ChannelError(
                f"{what}: the TLS handshake with {url} failed ({tls}); check the URL, or give the "
                "provider's CA bundle (verify=)"
            ) from exc
        return Receipt(key, "retry", reason=f"{what} unreachable: {exc or type(exc).__name__}")
    except (httpx.TransportError, httpx.TimeoutException) as exc:
        raise HandOverUnknownError(
            f"{what}: the connection broke while handing over message {key!r} "
            f"({type(exc).__name__}: {exc}); resend it with the same key"
        ) from exc


#: 408 Request Timeout, 409 Conflict (the same key is still being handled), 425 Too Early
_TRY_AGAIN = frozenset({408, 409, 425})


def common_outcome(
    response: httpx.Response, *, key: str, pace: Pace, clock: Clock, what: str
) -> Receipt | None:
    """What every provider's status codes mean alike: 429 (wait as told, then retry), 5xx, 408,
    409 and 425 (retry),
    401/403 (the credentials are wrong: no message can go, so it is the channel's error). None for
    the statuses each adapter reads itself."""
    status = response.status_code
    if status == 429:
        wait = retry_after_s(response, clock)
        if wait is not None:
            pace.hold(wait)
        return Receipt(key, "retry", reason=f"{what} rate limit (HTTP 429)", retry_after_s=wait)
    if status in _TRY_AGAIN:
        return Receipt(
            key,
            "retry",
            reason=f"{what} answered HTTP {status}",
            retry_after_s=retry_after_s(response, clock),
        )
    if status >= 500:
        return Receipt(
            key,
            "retry",
            reason=f"{what} error (HTTP {status})",
            retry_after_s=retry_after_s(response, clock),
        )
    if status in (401, 403):
        raise ChannelError(
            f"{what} refused the credentials (HTTP {status}): check the API key or secret "
            f"in channels.toml ({response.text[:200]!r})"
        )
    return None


def held_receipt(key: str, pace: Pace, what: str) -> Receipt | None:
    """While a provider's Retry-After holds, answer ``retry`` without asking it again."""
    wait = pace.held_for()
    if wait > 0:
        return Receipt(key, "retry", reason=f"{what} asked us to wait", retry_after_s=wait)
    return None


class HttpChannel:
    """What the gateway, app-push and web-push adapters share: their HTTP client (connections
    reused across messages), pace and clock, and closing. ``what`` names the provider in errors."""

    what: str

    def _connect(
        self,
        clock: Clock | None,
        pace: Pace | None,
        rate_per_s: float | None,
        timeout_s: float,
        transport: httpx.BaseTransport | None,
        verify: bool | str,
        /,
    ) -> None:
        self._clock = clock or SystemClock()
        self._pace = pace or Pace(rate_per_s)
        self._client = provider_client(timeout_s, transport, verify)
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise ChannelError(f"{self.what}: this channel is closed")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.close()


def split_credentials(url: str) -> tuple[SplitResult, str | None, str | None]:
    """``https://KEY:SECRET@host/path?q`` → (the URL's parts without the user part, KEY, SECRET),
    percent-decoded: a provider URL's user part carries its credentials, never sent as such."""
    parts = urlsplit(url)
    user = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password else None
    return parts._replace(netloc=parts.netloc.rpartition("@")[2], fragment=""), user, secret


def without_credentials(parts: SplitResult, query: str | None = None) -> str:
    """The URL of ``parts`` (from :func:`split_credentials`), with ``query`` if given."""
    return urlunsplit(parts if query is None else parts._replace(query=query))
