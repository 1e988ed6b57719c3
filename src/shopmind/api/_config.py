"""How the server behaves: limits and back-pressure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerConfig:
    """Limits of the collection API.

    Args:
        max_event_bytes: the largest single event (413 above it; in a batch, that event alone is
            rejected and quarantined).
        max_batch_bytes: the largest request body of ``/v1/batch`` (413 above it).
        max_pending_events: events accepted but not yet durable; beyond it requests get 503 with
            Retry-After instead of piling up in memory.
        requests_per_second: per key, with a burst of twice as many (None: no limit); beyond it
            requests get 429 with Retry-After.
        trust_forwarded_proto: believe a reverse proxy's ``X-Forwarded-Proto: https`` (the proxy
            terminates TLS): the dashboard's cookies are then marked ``Secure``.
    """

    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    max_pending_events: int = 200_000
    requests_per_second: float | None = None
    trust_forwarded_proto: bool = False
