"""Which job run a page shows: the latest successful one of a job, or one the marketer picked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shopmind.store import Store


@dataclass(frozen=True)
class Run:
    run_id: str
    job: str
    as_of: datetime
    finished_at: datetime | None


def runs_of(store: Store, job: str) -> list[Run]:
    """The successful runs of ``job``, newest ``as_of`` first."""
    rows = store.sql(
        "SELECT run_id, job, as_of, finished_at FROM job_runs WHERE job = ? AND status = 'ok' "
        "ORDER BY as_of DESC, finished_at DESC",
        [job],
    )
    return [Run(*row) for row in rows]


def latest_run(store: Store, job: str) -> Run | None:
    found = runs_of(store, job)
    return found[0] if found else None


def latest_runs(store: Store) -> list[Run]:
    """The latest successful run of every job (what the pages show unless told otherwise)."""
    rows = store.sql(
        """SELECT arg_max(run_id, as_of), job, max(as_of), arg_max(finished_at, as_of)
        FROM job_runs WHERE status = 'ok' GROUP BY job ORDER BY job"""
    )
    return [Run(*row) for row in rows]
