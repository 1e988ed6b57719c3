"""The one thread that touches the store: DuckDB connections are not shared between threads, and
one writer turns many concurrent requests into few transactions (group commit)."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa

from shopmind.events import Event
from shopmind.ingest import Rejected, event_rows, store_incoming
from shopmind.store import Store

T = TypeVar("T")

#: How long a thread may keep the GIL while another waits for it. The store's thread hands the GIL
#: back at every call into DuckDB (and DuckDB calls back into Python to read Arrow tables): with
#: the default 5 ms each of those waits up to 5 ms for the busy event loop, which made a group's
#: write wait several times longer than the database took.
SWITCH_INTERVAL_S = 0.0001

#: Allocations of container objects between two young collections of the garbage collector
#: (Python's default: 700). A batch parses into some ten dicts per event, alive until the batch is
#: durable: with the default the collector ran every few dozen events, each time walking every
#: event in flight, and full collections walked the whole server, about 30 µs per event in all.
GC_YOUNG_THRESHOLD = 50_000


class StoreWorker:
    """Runs functions of the store on its own thread, one at a time."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopmind-store")
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._gc_thresholds = gc.get_threshold()
        # what the server has loaded so far lives as long as it does: out of the collector's sight
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *self._gc_thresholds[1:])

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, self.store, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()
        sys.setswitchinterval(self._switch_interval)
        gc.set_threshold(*self._gc_thresholds)
        gc.unfreeze()


@dataclass
class _Waiting:
    events: Sequence[Event]
    rejected: Sequence[Rejected]
    rows: pa.Table | None  # the events' rows for the store
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
        # the rows are built here, on the event loop, while the store's thread writes the previous
        # group: the write itself is then mostly the database's work, outside the GIL
        rows = event_rows(events) if events else None
        waiting = _Waiting(events, rejected, rows, asyncio.get_running_loop().create_future())
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
                parts = [w.rows for w in group if w.rows is not None]
                # one chunk: DuckDB reads it with fewer calls back into Python
                rows = pa.concat_tables(parts).combine_chunks() if parts else None
                try:
                    duplicates = await self._worker.run(store_incoming, events, rejected, rows)
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
