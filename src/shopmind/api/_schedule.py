"""The nightly run: every customer-intelligence job once a day at a set local time in the shop's
zone (``shopmind serve --run-at 03:00``), and on demand (``POST /v1/jobs/run``; the command
line's ``shopmind run`` and the dashboard's button go the same way); ``GET /v1/jobs`` shows the
run in progress, the next scheduled one and the history. Time comes from a ``Clock``, so a test
drives the nightly run with a clock it moves."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shopmind.api._auth import requires
from shopmind.api._errors import ERROR_SCHEMA, ApiError, error_responses
from shopmind.api._jobs import Jobs, RunInProgressError, job_facts
from shopmind.core import Clock, to_utc
from shopmind.store import ServerJob

_log = logging.getLogger("shopmind.api")
#: how often the scheduler looks at the clock while it waits (a wall clock may jump; a test's moves)
TICK_S = 30.0

_BUSY: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "A run is in progress (the message says since when)",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }
}
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses={**error_responses(401, 403), **_BUSY})


def next_run(after: datetime, at: time, zone: str) -> datetime:
    """The first moment strictly after ``after`` when the shop's clock in ``zone`` reads ``at``."""
    tz = ZoneInfo(zone)
    local = after.astimezone(tz)
    due = datetime.combine(local.date(), at, tz)
    if due <= local:
        due = datetime.combine(local.date() + timedelta(days=1), at, tz)
    return due.astimezone(after.tzinfo)


class Scheduler:
    """Makes a full run every day at ``at`` (shop time in ``zone``); none if ``at`` is None."""

    def __init__(self, jobs: Jobs, at: time | None, zone: str, clock: Clock, *, tick: float = TICK_S) -> None:
        self.jobs, self.at, self.zone, self.clock, self.tick = jobs, at, zone, clock, tick
        self.next_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.at is not None:
            self._task = asyncio.create_task(self._loop(), name="shopmind-scheduler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        assert self.at is not None
        while True:
            due = self.next_at = next_run(self.clock.now(), self.at, self.zone)
            while (now := self.clock.now()) < due:
                await asyncio.sleep(min(self.tick, (due - now).total_seconds()))
            try:
                await self.jobs.full_run("schedule")
            except RunInProgressError as exc:  # one asked for by hand just before: that one counts
                _log.info("the scheduled run was skipped: %s", exc)
            except Exception:
                _log.exception("the scheduled run failed")


def _job(job: ServerJob) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "job": job.job,
        "trigger": job.trigger,
        "status": job.status,
        "requested_at": job.requested_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "as_of": job.as_of,
        "detail": job_facts(job),
    }


@router.get("", summary="The run in progress, the next scheduled run and the latest runs")
async def jobs(request: Request, _: str = Depends(requires("secret"))) -> dict[str, Any]:
    scheduler: Scheduler = request.app.state.scheduler
    jobs: Jobs = scheduler.jobs
    return {
        "running": _job(jobs.running) if jobs.running else None,
        "next_run_at": scheduler.next_at,
        "run_at": scheduler.at.strftime("%H:%M") if scheduler.at else None,
        "zone": scheduler.zone,
        "recommender": {
            "status": request.app.state.recommender.status,
            "fits": request.app.state.recommender.fits,
            # of those, read from the file the run stored (not fitted a second time)
            "loaded_from_run": request.app.state.recommender.loads,
        },
        "history": [_job(j) for j in jobs.history],
    }


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: AwareDatetime | None = Field(
        default=None, description="Compute as of this moment (a backtest); default: now."
    )


@router.post(
    "/run",
    status_code=202,
    summary="Run every customer-intelligence job now, as of now (the recommender is refitted after)",
)
async def run_now(
    request: Request, asked: RunRequest | None = None, _: str = Depends(requires("secret"))
) -> dict[str, Any]:
    scheduler: Scheduler = request.app.state.scheduler
    as_of = to_utc(asked.as_of) if asked is not None and asked.as_of is not None else None
    try:
        job = await scheduler.jobs.full_run("api", as_of=as_of, wait=False)
    except RunInProgressError as exc:
        raise ApiError(409, "run_in_progress", str(exc)) from None
    return {"job": _job(job)}
