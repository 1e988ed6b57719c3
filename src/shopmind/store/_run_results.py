"""What jobs derive, kept per run: the run log (``job_runs``), scores, RFM segment members, model
cards and per-profile facts (taste, habits)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from shopmind.store._keyed_writes import KeyedWrites


class RunResults(KeyedWrites):
    def begin_run(self, job: str, as_of: datetime) -> str:
        """Record the start of a job run; its results are written under the returned run id."""
        run_id = uuid.uuid4().hex[:16]
        self._run(
            "INSERT INTO job_runs (run_id, job, as_of, started_at, status) VALUES (?, ?, ?, ?, 'running')",
            [run_id, job, as_of, self._clock.now()],
        )
        return run_id

    def finish_run(self, run_id: str, status: str = "ok") -> None:
        self._run(
            "UPDATE job_runs SET finished_at = ?, status = ? WHERE run_id = ?",
            [self._clock.now(), status, run_id],
        )

    def write_scores(self, run_id: str, as_of: datetime, scores: pa.Table) -> int:
        """Per-profile scores in long form (profile_id, name, value)."""
        return self._write(
            "scores",
            scores,
            "INSERT INTO scores (run_id, profile_id, name, value, as_of) SELECT ?, profile_id, name, value, ? FROM {src}",
            [run_id, as_of],
        ).inserted

    def write_segment_members(self, run_id: str, as_of: datetime, members: pa.Table) -> int:
        """Segment membership (segment, profile_id)."""
        return self._write(
            "segment_members",
            members,
            "INSERT INTO segment_members (run_id, segment, profile_id, as_of) SELECT ?, segment, profile_id, ? FROM {src}",
            [run_id, as_of],
        ).inserted

    def write_model_card(self, run_id: str, as_of: datetime, name: str, card: Mapping[str, Any]) -> None:
        """Keep a model's quality figures (a JSON-able mapping) with the run that produced it."""
        self._run(
            "INSERT INTO model_cards (run_id, name, card, as_of) VALUES (?, ?, ?, ?)",
            [run_id, name, orjson.dumps(card, option=orjson.OPT_SERIALIZE_NUMPY).decode(), as_of],
        )

    def write_profile_facts(self, run_id: str, as_of: datetime, kind: str, rows: pa.Table) -> int:
        """Keep, per profile, what a job found that is not one number (e.g. ``taste``, ``habits``,
        a model's ``drivers``): ``rows`` has ``profile_id`` and any other columns, nested ones
        too; each row is kept as one JSON object under ``kind``."""
        return self._write(
            "profile_facts",
            rows,
            "INSERT INTO profile_facts (run_id, profile_id, kind, facts, as_of) "
            "SELECT ?, profile_id, ?, CAST(to_json(src) AS VARCHAR), ? FROM {src} AS src",
            [run_id, kind, as_of],
        ).inserted

    def write_profile_facts_of(
        self, run_id: str, as_of: datetime, kind: str, rows: Any, *, batch_rows: int = 250_000
    ) -> int:
        """:meth:`write_profile_facts` of ``rows``, an Ibis table the engine computes: on this
        store in one ``INSERT ... SELECT``, so that millions of profiles' facts never come to
        Python; on other facts (Spark, ``use_facts``) brought back in parts of about
        ``batch_rows`` rows (``batches``) and written part by part."""
        if self._facts is not None:
            return sum(
                self.write_profile_facts(run_id, as_of, kind, part) for part in self.batches(rows, batch_rows)
            )
        backend = self.ibis()
        backend._run_pre_execute_hooks(rows)  # registers the expression's in-memory tables, if any
        with self._transaction():
            return int(
                self._run(
                    "INSERT INTO profile_facts (run_id, profile_id, kind, facts, as_of) "
                    "SELECT ?, profile_id, ?, CAST(to_json(src) AS VARCHAR), ? "
                    f"FROM ({backend.compile(rows)}) AS src",
                    [run_id, kind, as_of],
                )[0][0]
            )

    def profile_facts(self, profile_id: str, kind: str, run_id: str | None = None) -> dict[str, Any] | None:
        """The facts of ``kind`` about one profile from ``run_id`` (default: the newest run that
        wrote any), as a dict, or None."""
        rows = self._run(
            """SELECT f.facts FROM profile_facts f JOIN job_runs r USING (run_id)
            WHERE f.profile_id = ? AND f.kind = ? AND (? IS NULL OR f.run_id = ?) AND r.status = 'ok'
            ORDER BY r.as_of DESC, r.finished_at DESC LIMIT 1""",
            [profile_id, kind, run_id, run_id],
        )
        return orjson.loads(rows[0][0]) if rows else None

    def model_card(self, run_id: str, name: str) -> dict[str, Any] | None:
        """A model card written by :meth:`write_model_card`, or None."""
        rows = self._run("SELECT card FROM model_cards WHERE run_id = ? AND name = ?", [run_id, name])
        return orjson.loads(rows[0][0]) if rows else None

    @contextmanager
    def job_run(self, job: str, as_of: datetime) -> Iterator[str]:
        """A run of ``job`` as of ``as_of`` for the block: yields its run id; the run is finished
        'ok' when the block ends, 'failed' if it raises (so readers never see half a result)."""
        run_id = self.begin_run(job, as_of)
        try:
            yield run_id
        except BaseException:
            self.finish_run(run_id, "failed")
            raise
        self.finish_run(run_id)

    def run_at(self, job: str, as_of: datetime) -> str | None:
        """The newest successful run of ``job`` with exactly this ``as_of``, or None."""
        rows = self._run(
            "SELECT run_id FROM job_runs WHERE job = ? AND status = 'ok' AND as_of = ? "
            "ORDER BY finished_at DESC LIMIT 1",
            [job, as_of],
        )
        return rows[0][0] if rows else None

    def latest_run(self, job: str, before: datetime | None = None) -> tuple[str, datetime] | None:
        """The newest successful run of ``job`` (with as_of before ``before``, if given)."""
        rows = self._run(
            """SELECT run_id, as_of FROM job_runs WHERE job = ? AND status = 'ok' AND (? IS NULL OR as_of < ?)
            ORDER BY as_of DESC, finished_at DESC LIMIT 1""",
            [job, before, before],
        )
        return (rows[0][0], rows[0][1]) if rows else None
