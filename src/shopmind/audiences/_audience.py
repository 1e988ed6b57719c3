"""An audience: the profiles an export is about, and a label saying what was asked for (the export
log keeps the label, never the ids). Made from a list of profile ids, a score band of the latest
run that holds the score, an RFM segment of the latest customer-intelligence run, or a saved
segment (its current members): every export (and ``shopmind export --segment``) takes either."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from shopmind.core import FieldError, InvalidInputError
from shopmind.segments import SEGMENTS
from shopmind.store import Store, stored_segment

#: the RFM segments are written by this job
SEGMENT_JOB = "customer_intelligence"
#: the personas (segments ``persona_<n>``) are written by this job
PERSONAS_JOB = "personas"
_BAND = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([0-9.]+)\s*-\s*([0-9.]+)\s*$")


@dataclass(frozen=True, eq=False)
class Audience:
    """``profile_ids``: distinct profile ids (Arrow strings); ``label``: what was asked for, e.g.
    ``purchase_probability_7d 0.3-0.6``; ``score``: the score that chose them, if one did (an
    export then carries it as a column)."""

    label: str
    profile_ids: pa.Array = field(repr=False)
    run_id: str | None = None
    score: str | None = None

    def __len__(self) -> int:
        return len(self.profile_ids)

    def table(self) -> pa.Table:
        """The profile ids as a one-column table (``profile_id``), to stage in a query."""
        return pa.table({"profile_id": self.profile_ids})


def audience_from_ids(
    ids: Iterable[str] | pa.Array | pa.ChunkedArray | pa.Table, label: str = "profile list"
) -> Audience:
    """An audience of the given profile ids (a list, a set, an Arrow array or a table with a
    ``profile_id`` column); duplicates and empty ids are dropped."""
    if isinstance(ids, pa.Table):
        if "profile_id" not in ids.column_names:
            raise InvalidInputError([FieldError("profile_id", "the table has no profile_id column")])
        values: pa.Array | pa.ChunkedArray = ids.column("profile_id")
    elif isinstance(ids, pa.Array | pa.ChunkedArray):
        values = ids
    else:
        values = pa.array([str(i) for i in ids], pa.string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.string())
    values = values.filter(pc.and_(pc.is_valid(values), pc.not_equal(values, "")))
    return Audience(label, pc.unique(values))


def parse_band(text: str) -> tuple[str, float, float]:
    """``purchase_probability_7d:0.3-0.6`` → (score, low, high); errors name ``band``."""
    found = _BAND.match(text)
    if found is None:
        raise InvalidInputError(
            [FieldError("band", f"{text!r} is not SCORE:LOW-HIGH, e.g. purchase_probability_7d:0.3-0.6")]
        )
    try:
        low, high = float(found.group(2)), float(found.group(3))
    except ValueError:
        raise InvalidInputError([FieldError("band", f"{text!r}: LOW and HIGH must be numbers")]) from None
    if low > high:
        raise InvalidInputError([FieldError("band", f"{text!r}: LOW ({low}) is above HIGH ({high})")])
    return found.group(1), low, high


def latest_score_run(store: Store, score: str) -> tuple[str, str] | None:
    """The newest successful run that holds ``score`` and the score's stored name
    (``purchase_probability`` finds the run's ``purchase_probability_<horizon>``)."""
    pattern = "purchase_probability_%" if score == "purchase_probability" else score
    rows = store.sql(
        """SELECT r.run_id, (SELECT min(s.name) FROM scores s WHERE s.run_id = r.run_id AND s.name LIKE ?)
        FROM job_runs r
        WHERE r.status = 'ok' AND EXISTS (SELECT 1 FROM scores s WHERE s.run_id = r.run_id AND s.name LIKE ?)
        ORDER BY r.as_of DESC, r.finished_at DESC LIMIT 1""",
        [pattern, pattern],
    )
    return (rows[0][0], rows[0][1]) if rows else None


def score_band_audience(store: Store, score: str, low: float, high: float) -> Audience:
    """The profiles whose ``score`` in the latest run holding it lies in ``[low, high)`` (the upper
    bound included when it is 1 or more, so the top probability band holds 1.0 — as the
    dashboard's bands count them)."""
    found = latest_score_run(store, score)
    if found is None:
        known = sorted({n for (n,) in store.sql("SELECT DISTINCT name FROM scores")})
        raise InvalidInputError(
            [
                FieldError(
                    "band",
                    f"no run holds the score {score!r} (run 'shopmind run' first)"
                    + (f"; scores there are: {', '.join(known)}" if known else ""),
                )
            ]
        )
    run_id, name = found
    op = "<=" if high >= 1.0 else "<"
    ids = store.query_arrow(
        f"SELECT DISTINCT profile_id FROM scores WHERE run_id = ? AND name = ? AND value >= ? AND value {op} ?",
        [run_id, name, low, high],
    ).column("profile_id")
    return Audience(f"{name} {low:g}-{high:g}", ids.combine_chunks(), run_id, name)


def segment_audience(store: Store, segment: str) -> Audience:
    """The members of ``segment`` now: an RFM segment key (``vip``, ``loyal``, ``about_to_churn``,
    ...) of the latest customer-intelligence run, a persona (``persona_2``) of the latest personas
    run, or a saved segment's id (its current members, as last counted)."""
    if segment.startswith("persona_"):  # a persona of the latest personas run (pipeline.run_personas)
        personas = store.latest_run(PERSONAS_JOB)
        found = (
            None
            if personas is None
            else store.query_arrow(
                "SELECT DISTINCT profile_id FROM segment_members WHERE run_id = ? AND segment = ?",
                [personas[0], segment],
            ).column("profile_id")
        )
        if personas is None or found is None or not len(found):
            raise InvalidInputError(
                [
                    FieldError(
                        "segment",
                        f"no persona {segment!r} in the latest personas run (shopmind personas show)",
                    )
                ]
            )
        return Audience(f"persona {segment}", found.combine_chunks(), personas[0])
    if segment not in SEGMENTS:
        if stored_segment(store, segment) is not None:
            ids = store.query_arrow(
                "SELECT DISTINCT profile_id FROM segment_history WHERE segment_id = ? AND exited_at IS NULL",
                [segment],
            ).column("profile_id")
            return Audience(f"saved segment {segment}", ids.combine_chunks())
        raise InvalidInputError(
            [
                FieldError(
                    "segment",
                    f"unknown segment {segment!r}: a saved segment's id (shopmind segments list) "
                    f"or one of {', '.join(SEGMENTS)}",
                )
            ]
        )
    latest = store.latest_run(SEGMENT_JOB)
    if latest is None:
        raise InvalidInputError(
            [FieldError("segment", "no customer-intelligence run yet (run 'shopmind run' first)")]
        )
    run_id = latest[0]
    ids = store.query_arrow(
        "SELECT DISTINCT profile_id FROM segment_members WHERE run_id = ? AND segment = ?", [run_id, segment]
    ).column("profile_id")
    return Audience(f"segment {segment}", ids.combine_chunks(), run_id)
