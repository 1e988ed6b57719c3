"""Webhook delivery: an audience POSTed in JSON batches, each signed with HMAC-SHA256 under the
destination's secret and retried with exponential backoff and jitter while the receiver answers
5xx, 408 or 429 or does not answer in time.

The signature header works like Stripe's: ``Shopmind-Signature: t=<unix seconds>,v1=<hex>`` where
``hex = HMAC_SHA256(secret, f"{t}.{body}")``. The receiver recomputes it over the raw body, compares
in constant time and refuses a ``t`` older than its tolerance (a replayed request).
``Idempotency-Key`` is the same on every retry of a batch (``<export id>-<batch number>``), so a
receiver that stored a batch whose answer was lost can tell the retry apart."""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx
import orjson

from shopmind.audiences._errors import DeliveryError

SIGNATURE_HEADER = "Shopmind-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: answers worth trying again: the receiver is failing, overloaded or timed out
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Up to ``attempts`` tries per batch; before try n+1 a random wait in
    ``[0, min(cap, base * 2**n)]`` seconds ("full jitter"), so many senders do not retry in step."""

    attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 30.0
    timeout_seconds: float = 10.0

    def wait(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap_seconds, self.base_seconds * 2**attempt))


DEFAULT_RETRY = RetryPolicy()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """Whether ``header`` (``t=…,v1=…``) signs ``body`` under ``secret`` and is recent enough: what
    a receiver checks (docs/exports.md has the same check as a snippet to copy)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, body, timestamp).partition(",v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class DeliveryReport:
    batches: int
    members: int
    attempts: int  # requests sent, retries included


def deliver(
    url: str,
    secret: str,
    batches: Iterable[dict[str, object]],
    *,
    export_id: str,
    policy: RetryPolicy = DEFAULT_RETRY,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.time,
) -> DeliveryReport:
    """POST each batch (a JSON object with a ``members`` list) to ``url``, signed, in order; a
    batch goes only after the one before it was accepted (2xx). Raises ``DeliveryError`` on a
    4xx answer other than 408/429 (retrying would not help) or when the last try failed."""
    rng = rng or random.Random()
    own = client is None
    http = client or httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False)
    sent = members = attempts = 0
    try:
        for number, batch in enumerate(batches, start=1):
            body = orjson.dumps(batch)
            key = f"{export_id}-{number}"
            for attempt in range(policy.attempts):
                if attempt:
                    sleep(policy.wait(attempt - 1, rng))
                attempts += 1
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(secret, body, int(clock())),  # signed anew: a fresh t
                    IDEMPOTENCY_HEADER: key,
                    "User-Agent": "shopmind-export/1",
                }
                status: int | None
                try:
                    answer = http.post(url, content=body, headers=headers)
                    status = answer.status_code
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    status, reason = None, f"no answer ({type(exc).__name__})"
                else:
                    reason = f"HTTP {status}"
                if status is not None and 200 <= status < 300:
                    break
                if status is not None and status not in RETRY_STATUSES:
                    raise DeliveryError(
                        f"the receiver refused batch {number} ({reason}); not retried",
                        batch=number,
                        attempts=attempt + 1,
                        status=status,
                    )
            else:
                raise DeliveryError(
                    f"batch {number} failed after {policy.attempts} tries (last: {reason})",
                    batch=number,
                    attempts=policy.attempts,
                    status=status,
                )
            sent += 1
            members += len(batch.get("members", ()))  # type: ignore[arg-type]
    finally:
        if own:
            http.close()
    return DeliveryReport(sent, members, attempts)
