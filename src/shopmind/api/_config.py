"""How the server behaves: limits and back-pressure."""

from __future__ import annotations

from dataclasses import dataclass, field

from shopmind.events import NUMBER_LIMITS, NumberLimits


@dataclass(frozen=True)
class ServerConfig:
    """Limits of the collection API.

    Args:
        max_event_bytes: the largest single event (413 above it; in a batch, that event alone is
            rejected and quarantined).
        max_batch_bytes: the largest request body of ``/v1/batch`` (413 above it; a gzipped body
            is measured inflated).
        max_batch_events: the most events in one ``/v1/batch`` (413 above it): a request's work is
            bounded whatever its events look like.
        max_pending_events: events accepted but not yet durable; beyond it requests get 503 with
            Retry-After instead of piling up in memory.
        requests_per_second: per key, with a burst of twice as many (None: no limit); beyond it
            requests get 429 with Retry-After.
        limits: the largest prices, quantities and order values an event may carry.
        trust_forwarded_proto: believe a reverse proxy's ``X-Forwarded-Proto: https`` (the proxy
            terminates TLS): the dashboard's cookies are then marked ``Secure``.
    """

    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    max_batch_events: int = 2_500
    max_pending_events: int = 200_000
    requests_per_second: float | None = None
    limits: NumberLimits = field(default=NUMBER_LIMITS)
    trust_forwarded_proto: bool = False
