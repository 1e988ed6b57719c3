"""Long work beside collection: the full customer-intelligence run (scheduled, or asked for by the
command line, the API or the dashboard) and the commands the command line sends while the server
owns the store.

Each job runs on a daemon thread of its own, at a lower scheduling priority, with its own
connection to the store (never the store worker's, whose thread writes the collected events):
DuckDB lets connections of one process work at once, and a job's reads and its writes (results
of runs, imported files) do not wait for collection, nor collection for them. The identity links
and profiles a job writes are made by the store worker (``Store.defer_identity_to``), which owns
the identity graph. One full run at a time; each is kept in the job history (``server_jobs``);
after a run the recommender is refitted off the request path and swapped in at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from shopmind.api._models import LiveRecommender
from shopmind.api._threads import in_daemon_thread
from shopmind.api._worker import StoreWorker
from shopmind.core import DEFAULT_SHOP_TZ, Clock, ShopmindError
from shopmind.pipeline import FullRunReport, run_everything
from shopmind.store import ServerJob, Store, interrupt_server_jobs, record_server_job, server_jobs

T = TypeVar("T")
_log = logging.getLogger("shopmind.api")

#: how much lower a job's threads are scheduled than the requests' (Linux nice steps)
JOB_NICENESS = 10
#: Seconds a graceful stop waits for a run in progress to end once interrupted.
SHUTDOWN_WAIT_S = 30.0
TRIGGERS = ("schedule", "cli", "api", "dashboard")


class RunInProgressError(ShopmindError):
    """A full run was asked for while another one runs."""

    def __init__(self, running: ServerJob) -> None:
        super().__init__(
            f"a run is in progress (asked for by {running.trigger} at {running.requested_at:%Y-%m-%d %H:%M} UTC); "
            "try again when it has finished"
        )
        self.running = running


class Jobs:
    """The server's jobs: ``call`` runs a function of the store on its own thread and connection;
    ``full_run`` makes a full run (one at a time) and keeps it in the history."""

    def __init__(
        self,
        worker: StoreWorker,
        recommender: LiveRecommender,
        *,
        clock: Clock,
        zone: str = DEFAULT_SHOP_TZ,
    ) -> None:
        self._worker = worker
        self._recommender = recommender
        self.clock = clock
        self.zone = zone
        self.running: ServerJob | None = None
        self.history: list[ServerJob] = []  # newest first
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refit: asyncio.Task[None] | None = None
        self._task: asyncio.Task[ServerJob] | None = None
        self._connections: set[Store] = set()  # the jobs' connections now working
        self._lock = threading.Lock()  # (the set changes on the jobs' threads)
        #: called after each successful full run (e.g. live segments read the new scores)
        self.after_run: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        interrupted = await self.call(interrupt_server_jobs, self.clock.now())
        if interrupted:
            _log.warning("%d job(s) of the last server run had not ended: marked interrupted", interrupted)
        self.history = await self.call(server_jobs)

    async def close(self) -> None:
        """Stop: a run in progress is interrupted (its queries raise) and its thread ends before
        the store closes (a job's connection still working when the database closed aborted the
        server at a graceful stop)."""
        if self._refit is not None:
            self._refit.cancel()
            await asyncio.gather(self._refit, return_exceptions=True)
        deadline = time.monotonic() + SHUTDOWN_WAIT_S
        while self._connections and time.monotonic() < deadline:
            with self._lock:
                working = list(self._connections)
            for connection in working:
                with contextlib.suppress(Exception):
                    connection.interrupt()
            await asyncio.sleep(0.1)
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=max(0.0, deadline - time.monotonic()))

    # -- any work ----------------------------------------------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(store, *args)`` on a thread of its own with a connection of its own. What was
        acknowledged before is in the store first (the derived rows the worker still holds)."""
        await self._worker.run(_nothing)  # the worker writes what it holds before any run
        connection: Store = await self._worker.write(Store.reader)
        connection.defer_identity_to(self._on_worker)
        with self._lock:
            self._connections.add(connection)

        def work() -> T:
            try:
                return fn(connection, *args)
            finally:
                with self._lock:
                    self._connections.discard(connection)
                connection.close()

        return await in_daemon_thread(work, name="shopmind-job", nice=JOB_NICENESS)

    def _on_worker(self, fn: Callable[[Store], T]) -> T:
        """``fn(the worker's store)`` on the worker's thread, called from a job's thread."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(self._worker.run(fn), self._loop).result()

    # -- the full run ------------------------------------------------------------------------
    async def full_run(
        self,
        trigger: str,
        execute: Callable[[Store], tuple[int, Any]] | None = None,
        *,
        as_of: datetime | None = None,
        wait: bool = True,
    ) -> ServerJob:
        """Make a full run as of ``as_of`` (default: now), or ``execute(store)`` (the command
        line's ``run``, which returns its exit code and report), and refit the recommender after
        it. Raises ``RunInProgressError`` if a run is in progress. ``wait=False``: return the job
        as it starts; the run goes on in the background."""
        if self.running is not None:
            raise RunInProgressError(self.running)
        now = self.clock.now()
        job = ServerJob(uuid.uuid4().hex[:16], "run", trigger, now, now, status="running", as_of=as_of)
        self.running = job
        self._remember(job)
        task = asyncio.create_task(self._full_run(job, execute), name="shopmind-full-run")
        self._task = task
        if not wait:
            return job
        return await asyncio.shield(task)  # a caller who goes away does not stop the run

    async def _full_run(
        self, job: ServerJob, execute: Callable[[Store], tuple[int, Any]] | None
    ) -> ServerJob:
        threads = await self.call(_one_engine_thread)
        try:
            await self.call(record_server_job, job)
            if execute is None:
                as_of, zone = job.as_of or job.requested_at, self.zone
                code, report = await self.call(lambda store: (0, run_everything(store, as_of, zone=zone)))
            else:
                code, report = await self.call(execute)
        except Exception as exc:
            _log.exception("the full run failed")
            failed = {"error": str(exc) or repr(exc)}
            done = replace(job, status="failed", finished_at=self.clock.now(), detail=_json(failed))
        else:
            facts = report.facts() if isinstance(report, FullRunReport) else {"exit_code": code}
            done = replace(
                job,
                status="ok" if code in (0, 3) else "failed",
                finished_at=self.clock.now(),
                as_of=report.as_of if isinstance(report, FullRunReport) else None,
                detail=_json(facts),
            )
        await self.call(_engine_threads, threads)
        self.running = None
        self._remember(done)
        try:
            await self.call(record_server_job, done)
        except Exception:  # the history keeps it in memory; the store said why in the log
            _log.exception("keeping the job history failed")
        if done.status == "ok":
            for then in self.after_run:
                try:
                    await then()
                except Exception:  # the run is done and kept; what follows it says why in the log
                    _log.exception("work after the full run failed")
            # the run fitted and stored a recommender on the same data: serve that one rather than
            # fitting the same model a second time (a command line's run, or a backtest that kept
            # a newer model, stored none: then learn again)
            stored = report.recommender if isinstance(report, FullRunReport) else None
            path = stored.stored if stored is not None else None
            self._refit = asyncio.create_task(self.refit(path), name="shopmind-refit")
        return done

    def relearn(self) -> None:
        """Learn the recommender again in the background, after any refit in progress (which may
        have read the store before the change): e.g. after an erasure, since the model in memory
        still holds what the erased customer bought."""
        previous = self._refit

        async def after_previous() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await self.refit()

        self._refit = asyncio.create_task(after_previous(), name="shopmind-refit")

    async def refit(self, stored: Path | None = None) -> None:
        """Swap in the recommender the run stored at ``stored``, else learn it again from the
        store (on a job's connection)."""
        await self._recommender.learn(self.call, refit=True, stored=stored)

    def _remember(self, job: ServerJob) -> None:
        self.history = [job, *(j for j in self.history if j.job_id != job.job_id)][:50]


def _json(facts: dict[str, Any]) -> str:
    return orjson.dumps(facts).decode()


def job_facts(job: ServerJob) -> dict[str, Any]:
    """What a job's ``detail`` holds: a run's numbers (see ``FullRunReport.facts``), or
    ``error``, or the command line's ``exit_code``."""
    try:
        found = orjson.loads(job.detail) if job.detail else {}
    except orjson.JSONDecodeError:
        return {"error": job.detail}
    return found if isinstance(found, dict) else {}


def _one_engine_thread(store: Store) -> int:
    """Let DuckDB work on the calling thread only, while a run works (its threads serve every
    connection of the database, and are not lowered in priority like the job's thread): the run's
    queries then run on the job's thread, the collected events' writes on the store's. Returns
    the threads it had."""
    threads = int(store.scalar("SELECT current_setting('threads')"))
    store.sql("SET threads = 1")
    return threads


def _engine_threads(store: Store, threads: int) -> None:
    store.sql(f"SET threads = {int(threads)}")


def _nothing(store: Store) -> None:
    """Nothing: ``StoreWorker.run`` writes the derived rows it holds before it."""
