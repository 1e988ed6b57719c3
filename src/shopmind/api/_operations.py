"""Running the shop while the server serves it: the jobs (``api._jobs``), the nightly run
(``api._schedule``) and the command line working through the server (``api._admin``), started
and stopped with the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

from fastapi import FastAPI

from shopmind.api._admin import Admin, CommandRunner
from shopmind.api._jobs import Jobs
from shopmind.api._models import LiveRecommender
from shopmind.api._schedule import TICK_S, Scheduler
from shopmind.api._worker import StoreWorker
from shopmind.core import DEFAULT_SHOP_TZ, Clock, SystemClock
from shopmind.store import announce_server, retire_server


@dataclass(frozen=True)
class Operations:
    """``listen``: where the server listens (host, port), written to the workspace's
    ``server.json`` with an admin token so the command line finds the server (None: neither
    written, no admin endpoint); ``run_command``: runs a command the command line sends;
    ``run_at``: the daily run's local time in ``zone`` (None: no daily run); ``clock``: what
    the scheduler and the job history read the time from."""

    listen: tuple[str, int] | None = None
    run_command: CommandRunner | None = None
    run_at: time | None = time(3, 0)
    zone: str = DEFAULT_SHOP_TZ
    clock: Clock = field(default_factory=SystemClock)
    tick: float = TICK_S


async def start_operations(
    app: FastAPI, folder: Path, worker: StoreWorker, recommender: LiveRecommender, ops: Operations
) -> Callable[[], Awaitable[None]]:
    """Start the jobs, the scheduler and the admin endpoint; returns what stops them."""
    jobs = Jobs(worker, recommender, clock=ops.clock, zone=ops.zone)
    await jobs.start()
    scheduler = Scheduler(jobs, ops.run_at, ops.zone, ops.clock, tick=ops.tick)
    scheduler.start()
    app.state.jobs, app.state.scheduler = jobs, scheduler
    if ops.listen is not None and ops.run_command is not None:
        server = announce_server(folder, *ops.listen)
        app.state.admin = Admin(folder, server.token, ops.run_command, recommender)

    async def stop() -> None:
        if app.state.admin is not None:
            retire_server(folder)  # from now on the command line opens the store itself
            app.state.admin = None
        await scheduler.close()
        await jobs.close()

    return stop
