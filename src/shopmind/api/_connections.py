"""Slow clients must not starve the others. uvicorn waits for a request's headers for ever, so a few
hundred connections that send a header byte now and then (slowloris) held every file descriptor
(1,024 by default) and every real request failed. Here each connection gets ``header_timeout``
seconds from its first byte (or from opening) to finish its headers, and the server keeps at most
``max_connections``: beyond that, the connection that has waited longest without a request in
progress (slow headers, or idle between keep-alive requests) is closed to make room. Bodies have
their own deadline where they are read (``api._collect``)."""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

_log = logging.getLogger("shopmind.api")

#: Seconds a client has to send a request's headers.
HEADER_TIMEOUT_S = 10.0
#: File descriptors kept for the store, logs and the server's own files.
RESERVED_FDS = 128


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # not allowed here: keep the soft limit
            pass
    return soft


def connection_cap(open_files: int) -> int:
    """The most client connections to keep with ``open_files`` descriptors."""
    return max(16, min(10_000, open_files - RESERVED_FDS))


def guarded_protocol(header_timeout: float, max_connections: int) -> type[asyncio.Protocol] | str:
    """uvicorn's httptools protocol with a header deadline and a connection cap (``"auto"`` when
    httptools is not installed: uvicorn's own, without them)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
        _log.warning("httptools is not installed: slow clients are not cut off")
        return "auto"

    class GuardedProtocol(HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._deadline: asyncio.TimerHandle | None = None
            self._waiting_since: float | None = None
            self._wait_for_headers()
            if len(self.connections) > max_connections:
                self._make_room()

        def _wait_for_headers(self) -> None:
            if self._deadline is None:
                self._waiting_since = self.loop.time()
                self._deadline = self.loop.call_later(header_timeout, self._too_slow)

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def _make_room(self) -> None:
            waiting: list[Any] = [
                c for c in self.connections if getattr(c, "_waiting_since", None) is not None
            ]
            if waiting:
                min(waiting, key=lambda c: c._waiting_since)._too_slow()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._wait_for_headers()  # a keep-alive connection's next request

        def on_headers_complete(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._waiting_since = None
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._waiting_since is None:  # idle until the next request: may make room
                self._waiting_since = self.loop.time()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            self._waiting_since = None
            super().connection_lost(exc)

    return GuardedProtocol
