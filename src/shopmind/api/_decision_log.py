"""The on-site decision log, durable before anything is answered: a decision is answered, and an
outcome acknowledged, only once it is in the store. Everything that arrives while the previous
write runs goes into the next write (one INSERT for the decisions, one for the outcomes, each its
own transaction: one sync of DuckDB's log), on a thread and a connection of the log's own: decisions never wait behind the collected events' writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shopmind.api._worker import StoreWorker
from shopmind.store import Store, append_decisions, append_outcomes, record_exposures

_log = logging.getLogger("shopmind.api")
_Waiting = tuple[dict[str, Any], "asyncio.Future[None] | None"]


class DecisionLog:
    """Group commit of decisions and outcomes (see the module)."""

    def __init__(self) -> None:
        self._decisions: list[_Waiting] = []
        self._outcomes: list[_Waiting] = []
        self._exposures: list[dict[str, Any]] = []  # first exposures, written with their decisions
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._store: Store | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.writes = 0

    async def start(self, worker: StoreWorker) -> None:
        self._store = await worker.write(Store.reader)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopmind-decisions")
        self._task = asyncio.create_task(self._loop(), name="shopmind-decision-log")

    async def decision(self, row: dict[str, Any], exposure: dict[str, Any] | None = None) -> None:
        """Store a decision (``store.DECISION_SCHEMA`` keys), and the first exposure of a unit to an
        experiment it made (``store.EXPOSURE_SCHEMA`` keys); returns once both are durable."""
        if exposure is not None:
            self._exposures.append(exposure)
        await self._submit(self._decisions, row)

    async def outcome(self, row: dict[str, Any]) -> None:
        """Store an outcome (``store.OUTCOME_SCHEMA`` keys); returns once it is durable."""
        await self._submit(self._outcomes, row)

    def exposure_soon(self, row: dict[str, Any]) -> None:
        """Store a unit's first exposure with the next write, nobody waiting for it (a list of
        recommendations served without a decision)."""
        self._exposures.append(row)
        self._idle.clear()
        self._wake.set()

    def outcome_soon(self, row: dict[str, Any]) -> None:
        """Store an outcome with the next write, nobody waiting for it (a conversion)."""
        self._outcomes.append((row, None))
        self._idle.clear()
        self._wake.set()

    async def _submit(self, queue: list[_Waiting], row: dict[str, Any]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append((row, done))
        self._idle.clear()
        self._wake.set()
        await done

    async def known(self, decision_id: str) -> bool:
        """Whether the decision is stored (written by this server or an earlier one)."""
        await self.drain()
        rows = await self._on_thread(
            lambda store: store.sql("SELECT 1 FROM decisions WHERE decision_id = ?", [decision_id])
        )
        return bool(rows)

    async def drain(self) -> None:
        """Wait until everything submitted so far is written."""
        await self._idle.wait()

    async def _on_thread(self, fn: Any) -> Any:
        assert self._pool is not None and self._store is not None
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, self._store)

    async def _loop(self) -> None:
        while not (self._closing and not (self._decisions or self._outcomes or self._exposures)):
            await self._wake.wait()
            self._wake.clear()
            while self._decisions or self._outcomes or self._exposures:
                decisions, self._decisions = self._decisions, []
                outcomes, self._outcomes = self._outcomes, []
                exposures, self._exposures = self._exposures, []
                try:
                    await self._on_thread(
                        lambda store, d=decisions, o=outcomes, x=exposures: _write(store, d, o, x)
                    )
                except Exception as exc:  # every waiting request learns that its row is not stored
                    _log.exception("writing the decision log failed")
                    for _, done in (*decisions, *outcomes):
                        if done is not None and not done.done():
                            done.set_exception(exc)
                else:
                    self.writes += 1
                    for _, done in (*decisions, *outcomes):
                        if done is not None and not done.done():
                            done.set_result(None)
            self._idle.set()

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._store is not None:
            self._store.close()


def _write(
    store: Store,
    decisions: Sequence[_Waiting],
    outcomes: Sequence[_Waiting],
    exposures: Sequence[dict[str, Any]] = (),
) -> None:
    # one statement each, its own transaction (about a millisecond, a third of an Arrow view in a
    # transaction); the decisions first: the log never has an outcome without its decision
    append_decisions(store, [row for row, _ in decisions])
    append_outcomes(store, [row for row, _ in outcomes])
    record_exposures(store, exposures)  # each unit's first, kept once
