"""The one thread that touches the store: DuckDB connections are not shared between threads, and
one writer turns many concurrent requests into few transactions (group commit)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shopmind.events import Event
from shopmind.ingest import Rejected, store_incoming
from shopmind.store import Store

T = TypeVar("T")


class StoreWorker:
    """Runs functions of the store on its own thread, one at a time."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopmind-store")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, self.store, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()


@dataclass
class _Waiting:
    events: Sequence[Event]
    rejected: Sequence[Rejected]
    done: asyncio.Future[list[bool]] = field(repr=False)


class GroupCommitter:
    """Collects the events of concurrent requests and stores everything that arrived while the
    previous write ran in one write; each request's future resolves when its events are durable."""

    def __init__(self, worker: StoreWorker, max_pending: int) -> None:
        self._worker = worker
        self._max_pending = max_pending
        self._queue: list[_Waiting] = []
        self.pending = 0
        self.groups = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="shopmind-group-commit")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    def would_overflow(self, count: int) -> bool:
        return self.pending + count > self._max_pending

    async def submit(self, events: Sequence[Event], rejected: Sequence[Rejected]) -> list[bool]:
        """Store ``events`` (and quarantine ``rejected``); per event, whether it was a duplicate."""
        waiting = _Waiting(events, rejected, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self.pending += len(events)
        self._wake.set()
        return await waiting.done

    async def _loop(self) -> None:
        while not (self._closing and not self._queue):
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                group, self._queue = self._queue, []
                events = [e for w in group for e in w.events]
                rejected = [r for w in group for r in w.rejected]
                try:
                    duplicates = await self._worker.run(store_incoming, events, rejected)
                except Exception as exc:  # every waiting request learns that its events are not stored
                    for w in group:
                        if not w.done.done():
                            w.done.set_exception(exc)
                else:
                    at = 0
                    for w in group:
                        if not w.done.done():
                            w.done.set_result(duplicates[at : at + len(w.events)])
                        at += len(w.events)
                    self.groups += 1
                finally:
                    self.pending -= len(events)

    async def close(self) -> None:
        """Store what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
