"""The one thread that touches the store: DuckDB connections are not shared between threads, and
one writer turns many concurrent requests into few transactions (group commit)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from shopmind.core import StorageFullError
from shopmind.events import Event
from shopmind.ingest import LiveWriter, Rejected, event_rows
from shopmind.store import Store, free_bytes, out_of_space

if TYPE_CHECKING:
    from shopmind.segments import LiveMembership

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

#: The orders and identity links derived from stored events are written once no group has
#: come for this long, or when the oldest has waited ``DERIVED_MAX_AGE_S`` under load; anything
#: that runs on the store's thread writes them first (so it reads every acknowledged event's).
DERIVED_IDLE_S = 0.05
DERIVED_MAX_AGE_S = 0.5

#: The write-ahead log may grow this large under load before a commit folds it into the database
#: file (DuckDB's default is 16 MB, about 47,000 events: each of those checkpoints held a group's
#: commit for 0.1-0.9 s, longer as the table grew, and cost more in all than fewer, larger ones).
CHECKPOINT_MB = 256
#: Once no group has come for this long, a log above ``CHECKPOINT_IDLE_BYTES`` is folded in then,
#: off the requests' path.
CHECKPOINT_IDLE_S = 1.0
CHECKPOINT_IDLE_BYTES = 16 * 1024 * 1024

#: Free space that makes the server ready again after its disk was full: this much in all, or
#: ``FREED_BYTES_READY`` more than when it filled up.
FREE_BYTES_READY = 64 * 1024 * 1024
FREED_BYTES_READY = 8 * 1024 * 1024

_log = logging.getLogger("shopmind.api")


class StoreWorker:
    """Runs functions of the store on its own thread, one at a time."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopmind-store")
        store.checkpoint_at(CHECKPOINT_MB)
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._gc_thresholds = gc.get_threshold()
        # what the server has loaded so far lives as long as it does: out of the collector's sight
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *self._gc_thresholds[1:])
        #: run on the store's thread before each ``run`` (not before ``write``)
        self.before_run: Callable[[Store], None] | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(store, *args)`` on the store's thread, after ``before_run``."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._with_hook, fn, args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(store, *args)`` on the store's thread, without ``before_run``."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, self.store, *args)

    def _with_hook(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self.before_run is not None:
            try:
                self.before_run(self.store)
            except Exception:  # the hook's own failure is not the caller's
                _log.exception("the store's pending work failed before %s", getattr(fn, "__name__", fn))
        return fn(self.store, *args)

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
    done: asyncio.Future[list[bool]] = field(repr=False)


class GroupCommitter:
    """Collects the events of concurrent requests and stores everything that arrived while the
    previous write ran in one write; each request's future resolves when its events are durable.

    Each write holds the events alone; the orders and identity links derived from them are
    written by a ``LiveWriter`` flush once no group has come for ``DERIVED_IDLE_S``, after
    ``DERIVED_MAX_AGE_S`` under load, and before any ``StoreWorker.run``: a group's transaction
    stays short, and the derived rows of many groups share one."""

    def __init__(self, worker: StoreWorker, max_pending: int, live: LiveMembership | None = None) -> None:
        self._worker = worker
        self.writer = LiveWriter()
        #: live segment membership: counts each group's committed events on the store's thread,
        #: before the group is acknowledged; its changes are written with the derived rows
        self.live = live
        worker.before_run = self.flush_derived
        self._max_pending = max_pending
        self._queue: list[_Waiting] = []
        self.pending = 0
        self.groups = 0
        self.checkpoints = 0  # made while idle
        #: when writes began failing for a full disk (None: the last write was stored)
        self.storage_full_since: float | None = None
        self._free_when_full: int | None = None
        self._checkpoint_above = CHECKPOINT_IDLE_BYTES  # the log size an idle checkpoint waits for
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="shopmind-group-commit")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    def storage_ready(self) -> bool:
        """False while the disk is full: the last write failed for lack of space and no space has
        been freed since (``FREE_BYTES_READY`` more than then, or that much in all; the next write
        then tells)."""
        if self.storage_full_since is None:
            return True
        free = free_bytes(self._worker.store.path)
        if free is None:
            return False
        return free >= FREE_BYTES_READY or free - (self._free_when_full or 0) >= FREED_BYTES_READY

    def would_overflow(self, count: int) -> bool:
        return self.pending + count > self._max_pending

    async def submit(self, events: Sequence[Event], rejected: Sequence[Rejected]) -> list[bool]:
        """Store ``events`` (and quarantine ``rejected``); per event, whether it was a duplicate."""
        waiting = _Waiting(events, rejected, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        self.pending += len(events)
        self._wake.set()
        return await waiting.done

    def _write_group(
        self, store: Store, events: Sequence[Event], rejected: Sequence[Rejected], rows: Any
    ) -> list[bool]:
        duplicates = self.writer.write(store, events, rejected, rows)
        if self.live is not None and events:
            try:  # the events are durable: whatever live membership makes of them, they stay
                self.live.observe(store, events, duplicates)
            except Exception:
                _log.exception("live segment membership could not count a group of events")
        return duplicates

    def flush_derived(self, store: Store) -> None:
        """Write the orders, identity links and profiles derived from stored events, then the
        live membership changes (the customers the links joined included)."""
        live = self.live
        if live is None:
            self.writer.flush(store)
            return
        try:
            live.before_links(store)
        except Exception:
            _log.exception("live segment membership could not take in changed identities")
        moves = self.writer.flush(store)
        try:
            live.after_links(store, moves)
            live.write(store)
        except Exception:
            _log.exception("live segment membership could not write its changes")

    def _derived_pending(self) -> bool:
        return bool(self.writer.pending or (self.live is not None and self.live.pending))

    def _derived_age(self) -> float:
        return max(self.writer.age(), self.live.age() if self.live is not None else 0.0)

    async def _loop(self) -> None:
        while not (self._closing and not self._queue):
            if self._derived_pending() and not self._queue:
                wait = min(DERIVED_IDLE_S, max(0.0, DERIVED_MAX_AGE_S - self._derived_age()))
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:  # idle: write what derives from the stored events
                    await self._flush()
                    continue
            elif not self._queue and self._worker.store.wal_bytes() > self._checkpoint_above:
                try:
                    await asyncio.wait_for(self._wake.wait(), CHECKPOINT_IDLE_S)
                except TimeoutError:  # idle for a while: fold the log in now, not under load
                    await self._checkpoint()
                    continue
            else:
                await self._wake.wait()
            self._wake.clear()
            while self._queue:
                group, self._queue = self._queue, []
                events = [e for w in group for e in w.events]
                rejected = [r for w in group for r in w.rejected]
                # the group's rows in one go (a column is converted once, not once per request),
                # on the event loop: the store's thread then mostly waits for the database,
                # outside the GIL (measured: more events per second than on the store's thread)
                rows = event_rows(events) if events else None
                try:
                    duplicates = await self._worker.write(self._write_group, events, rejected, rows)
                except Exception as exc:  # every waiting request learns that its events are not stored
                    if out_of_space(exc):
                        if self.storage_full_since is None:
                            self.storage_full_since = time.monotonic()
                            self._free_when_full = free_bytes(self._worker.store.path)
                        _log.error(
                            "the disk under the store is full: %d events refused (%s)", len(events), exc
                        )
                        exc = StorageFullError(
                            "the disk under the store is full: nothing of this request was stored; "
                            "free some space (the server takes writes again by itself)"
                        )
                    for w in group:
                        if not w.done.done():
                            w.done.set_exception(exc)
                else:
                    self.storage_full_since = None
                    at = 0
                    for w in group:
                        if not w.done.done():
                            w.done.set_result(duplicates[at : at + len(w.events)])
                        at += len(w.events)
                    self.groups += 1
                finally:
                    self.pending -= len(events)
                if self._derived_age() > DERIVED_MAX_AGE_S:
                    await self._flush()
        await self._flush()

    async def _flush(self) -> None:
        try:
            await self._worker.write(self.flush_derived)
        except Exception:  # the events are stored: their orders and links wait for the next flush
            _log.exception("writing the orders and identity links derived from stored events failed")

    async def _checkpoint(self) -> None:
        try:
            await self._worker.write(Store.checkpoint)
        except Exception as exc:  # e.g. a dashboard read in progress: tried again after more writes
            self._checkpoint_above = max(CHECKPOINT_IDLE_BYTES, self._worker.store.wal_bytes())
            _log.info("the write-ahead log stays for now (%s)", exc)
        else:
            self._checkpoint_above = CHECKPOINT_IDLE_BYTES
            self.checkpoints += 1

    async def close(self) -> None:
        """Store what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
