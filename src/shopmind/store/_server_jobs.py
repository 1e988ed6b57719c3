"""The history of the server's jobs (each full run: who asked for it, when it ran, how it ended),
kept in ``server_jobs`` so the dashboard shows it across restarts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime

from shopmind.store._store import Store

JOB_STATUSES = ("queued", "running", "ok", "failed", "interrupted")


@dataclass(frozen=True)
class ServerJob:
    """One job of the server. ``trigger``: schedule, cli, api or dashboard; ``detail``: what it
    found or why it failed, as JSON."""

    job_id: str
    job: str
    trigger: str
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: str = "queued"
    as_of: datetime | None = None
    detail: str | None = None


_COLUMNS = [f.name for f in fields(ServerJob)]


def record_server_job(store: Store, job: ServerJob) -> None:
    """Keep ``job`` as it is now (a job recorded before is replaced)."""
    values = asdict(job)
    marks = ", ".join("?" * len(_COLUMNS))
    with store.atomically():
        store.sql("DELETE FROM server_jobs WHERE job_id = ?", [job.job_id])
        store.sql(
            f"INSERT INTO server_jobs ({', '.join(_COLUMNS)}) VALUES ({marks})", [values[c] for c in _COLUMNS]
        )


def server_jobs(store: Store, limit: int = 20) -> list[ServerJob]:
    """The newest ``limit`` jobs, newest first."""
    rows = store.sql(
        f"SELECT {', '.join(_COLUMNS)} FROM server_jobs ORDER BY requested_at DESC, job_id LIMIT ?", [limit]
    )
    return [ServerJob(*row) for row in rows]


def interrupt_server_jobs(store: Store, at: datetime) -> int:
    """Mark the jobs a stopped server left queued or running as interrupted; how many."""
    rows = store.sql(
        "UPDATE server_jobs SET status = 'interrupted', finished_at = ?, detail = ? "
        "WHERE status IN ('queued', 'running')",
        [at, '{"error": "the server stopped before it ended"}'],
    )
    return int(rows[0][0]) if rows else 0
