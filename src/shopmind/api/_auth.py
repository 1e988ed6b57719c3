"""Who may call: the workspace's write key collects events, a secret key does everything. Keys
come in ``Authorization: Bearer <key>``, as HTTP Basic's user name (what the common tracking
libraries send), or, for browsers' ``sendBeacon`` which cannot set headers, as ``?writeKey=``."""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from shopmind.api._errors import ApiError
from shopmind.store import KeyKind, KeyRing

_HINT = "send 'Authorization: Bearer <key>' with a key from 'shopmind keys create'"


def presented_key(request: Request) -> tuple[str | None, bool]:
    """The key the request presents, and whether it came in the URL (write keys only)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    if scheme.lower() == "basic" and value.strip():
        try:
            user = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None, False
        return user or None, False
    return request.query_params.get("writeKey") or None, True


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per key: ``rate`` requests a second, bursts of twice that."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._buckets: dict[str, _Bucket] = {}

    def wait_seconds(self, key: str) -> float:
        """0 when the request may go ahead, else how long until it may."""
        if self.rate is None:
            return 0.0
        now = time.monotonic()
        burst = 2.0 * self.rate
        bucket = self._buckets.setdefault(key, _Bucket(burst, now))
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


def requires(kind: KeyKind) -> Callable[[Request], Awaitable[KeyKind]]:
    """A dependency admitting a valid key of ``kind`` (a secret key may also collect)."""

    async def check(request: Request) -> KeyKind:
        keys: KeyRing = request.app.state.keys
        key, in_url = presented_key(request)
        found = keys.check(key) if key else None
        if found == "secret" and in_url:  # URLs end up in logs: secret keys go in the header only
            found = None
        if found is None:
            raise ApiError(
                401,
                "unauthorized",
                f"missing or wrong API key: {_HINT}",
                headers={"WWW-Authenticate": 'Bearer realm="shopmind"'},
            )
        if kind == "secret" and found != "secret":
            raise ApiError(403, "forbidden", "a write key can only collect events; use a secret key")
        assert key is not None
        wait = request.app.state.limiter.wait_seconds(key)
        if wait > 0:
            raise ApiError(
                429,
                "rate_limited",
                "too many requests for this key; retry after the time in Retry-After",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return found

    return check
