"""Segments on the store: preview a definition (how many, who, in which RFM segments), save it,
count its members into the history (``materialize``), list, read, export and delete them.

Time is explicit: every function that counts takes ``as_of`` (the surfaces pass their clock's
now); nothing at or after it is seen."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError, NotFoundError, ShopmindError
from shopmind.segments._compile import compile_definition, referenced_segments
from shopmind.segments._definition import (
    Definition,
    DefinitionWarning,
    Event,
    EventSequence,
    Profile,
    Step,
    nodes,
    parse_definition,
    to_dict,
    to_json,
)
from shopmind.segments._export import write_csv
from shopmind.segments._sources import RFM_JOB, Sources
from shopmind.segments._vocabulary import vocabulary_warnings
from shopmind.store import (
    MEMBER_COLUMNS,
    MembershipChange,
    Store,
    StoredSegment,
    delete_segment,
    describe_profiles,
    insert_segment,
    member_rows,
    record_members,
    stored_segment,
    stored_segments,
)

SAMPLE = 10
#: the key of the customers no RFM segment holds (no analysis run yet, or joined since)
NO_SEGMENT = "(none)"


class UnknownSegmentError(NotFoundError):
    """No saved segment has this id."""

    default = "no such segment"


class SegmentInUseError(ShopmindError):
    """A saved segment that another one's definition names (``in_saved_segment``)."""


@dataclass(frozen=True)
class Preview:
    """What a definition holds as of ``as_of``: how many customers, a few of them (as the
    customer list shows them), how many per RFM segment, and warnings about names the store
    has never seen."""

    count: int
    sample: tuple[dict[str, Any], ...]
    by_segment: tuple[tuple[str, int], ...]  # RFM segment key (or NO_SEGMENT), customers
    warnings: tuple[DefinitionWarning, ...]
    as_of: datetime
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "sample": [_plain(row) for row in self.sample],
            "by_segment": [{"segment": key, "customers": n} for key, n in self.by_segment],
            "warnings": [_warning(w) for w in self.warnings],
            "as_of": self.as_of.isoformat(),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class SavedSegment:
    segment_id: str
    definition: Definition
    created_at: datetime
    updated_at: datetime
    materialized_at: datetime | None
    members: int
    warnings: tuple[DefinitionWarning, ...] = field(default=(), compare=False)

    @property
    def name_ko(self) -> str:
        return self.definition.name.text("ko")

    @property
    def name_en(self) -> str:
        return self.definition.name.text("en")

    @property
    def live_problem(self) -> str | None:
        """Why a running server does not keep the members live (None: it does)."""
        from shopmind.segments._live import live_problem

        return live_problem(self.definition)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.segment_id,
            "name": {"ko": self.name_ko, "en": self.name_en},
            "description": to_dict(self.definition).get("description"),
            "definition": to_dict(self.definition),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "materialized_at": self.materialized_at.isoformat() if self.materialized_at else None,
            "members": self.members,
            # kept up to date as events arrive by a running server, or counted at each run (why)
            "live": self.live_problem is None,
            "live_problem": self.live_problem,
        }
        if self.warnings:
            out["warnings"] = [_warning(w) for w in self.warnings]
        return out


def _warning(w: DefinitionWarning) -> dict[str, Any]:
    return {"field": w.field, "reason": w.reason, "suggestions": list(w.suggestions)}


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _definition(data: Definition | Mapping[str, Any] | str | bytes) -> Definition:
    return data if isinstance(data, Definition) else parse_definition(data)


def _check_references(store: Store, definition: Definition) -> None:
    missing = [
        FieldError(f"{path}.segment_id", f"no saved segment {segment_id!r}")
        for path, segment_id in referenced_segments(definition)
        if stored_segment(store, segment_id) is None
    ]
    if missing:
        raise InvalidInputError(missing)


def _regexes(definition: Definition) -> list[tuple[str, str]]:
    """(field path, pattern) of every regular expression in ``definition``."""
    found: list[tuple[str, str]] = []
    for node, path, _ in nodes(definition):
        if isinstance(node, Profile) and node.op == "regex" and isinstance(node.value, str):
            found.append((f"{path}.value", node.value))
        steps: list[tuple[str, Step]] = [(path, node)] if isinstance(node, Event) else []
        if isinstance(node, EventSequence):
            steps = [(f"{path}.steps[{i}]", step) for i, step in enumerate(node.steps)]
        for at, step in steps:
            for i, where in enumerate(step.where):
                if where.op == "regex" and isinstance(where.value, str):
                    found.append((f"{at}.where[{i}].value", where.value))
    return found


def _check_with_engine(store: Store, definition: Definition) -> None:
    """Regular expressions the engine's own matcher (RE2) refuses, named by field: the checks of
    ``regex_problem`` are Python's and cannot know every difference."""
    errors = []
    for field_path, pattern in _regexes(definition):
        try:
            store.sql("SELECT regexp_matches('', ?)", [pattern])
        except duckdb.Error as exc:
            errors.append(FieldError(field_path, f"the engine's RE2 matcher refuses it: {exc}"))
    if errors:
        raise InvalidInputError(errors)


def members(
    store: Store,
    definition: Definition | Mapping[str, Any] | str,
    *,
    as_of: datetime,
    zone: str = DEFAULT_SHOP_TZ,
) -> pa.Table:
    """The members of a definition as of ``as_of``: an Arrow table of ``profile_id``, sorted."""
    checked = _definition(definition)
    _check_references(store, checked)
    _check_with_engine(store, checked)
    expr = compile_definition(checked, Sources.of(store, as_of, zone))
    try:
        found = expr.to_pyarrow()
    except (duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException) as exc:
        # a value the engine cannot compare (a number too large for its type...): the input's fault
        raise InvalidInputError([FieldError("conditions", f"cannot be counted: {exc}")]) from None
    return found.select(["profile_id"]).sort_by("profile_id")


def preview(
    store: Store,
    definition: Definition | Mapping[str, Any] | str,
    *,
    as_of: datetime,
    sample: int = SAMPLE,
    zone: str = DEFAULT_SHOP_TZ,
) -> Preview:
    """How many customers ``definition`` holds as of ``as_of``, ``sample`` of them (highest
    revenue first, as the customer list orders them), and how many per RFM segment."""
    started = time.perf_counter()
    checked = _definition(definition)
    found = members(store, checked, as_of=as_of, zone=zone)
    by_segment = _rfm_counts(store, found, as_of)
    described = describe_profiles(store, found, limit=sample) if sample else []
    warnings = tuple(vocabulary_warnings(store, checked))
    return Preview(
        count=found.num_rows,
        sample=tuple(described),
        by_segment=by_segment,
        warnings=warnings,
        as_of=as_of,
        seconds=time.perf_counter() - started,
    )


def _rfm_counts(store: Store, found: pa.Table, as_of: datetime) -> tuple[tuple[str, int], ...]:
    """Members per RFM segment of the latest customer-intelligence run at ``as_of``."""
    if not found.num_rows:
        return ()
    run = store.scalar(
        "SELECT run_id FROM job_runs WHERE job = ? AND status = 'ok' AND as_of <= ? "
        "ORDER BY as_of DESC, finished_at DESC LIMIT 1",
        [RFM_JOB, as_of],
    )
    with store.staged("_preview_members", found) as m:
        rows = store.sql(
            f"""SELECT coalesce(s.segment, ?), count(*) FROM {m}
            LEFT JOIN (SELECT profile_id, any_value(segment) AS segment FROM segment_members
                       WHERE run_id = ? AND segment <> 'clv_vip' GROUP BY 1) s USING (profile_id)
            GROUP BY 1 ORDER BY 2 DESC, 1""",
            [NO_SEGMENT, run],
        )
    return tuple((str(k), int(n)) for k, n in rows)


def _saved(found: StoredSegment) -> SavedSegment:
    return SavedSegment(
        segment_id=found.segment_id,
        definition=parse_definition(found.definition),
        created_at=found.created_at,
        updated_at=found.updated_at,
        materialized_at=found.materialized_at,
        members=found.members,
    )


def create_segment(
    store: Store,
    definition: Definition | Mapping[str, Any] | str,
    *,
    as_of: datetime,
    materialize: bool = True,
    zone: str = DEFAULT_SHOP_TZ,
) -> SavedSegment:
    """Save a definition as a segment (and count its members as of ``as_of``, unless
    ``materialize`` is false); the saved segment, with warnings about unknown names."""
    checked = _definition(definition)
    _check_references(store, checked)
    warnings = tuple(vocabulary_warnings(store, checked))
    found = members(store, checked, as_of=as_of, zone=zone) if materialize else None
    segment_id = uuid.uuid4().hex[:16]
    description = checked.description
    with store.atomically():
        insert_segment(
            store,
            segment_id,
            (checked.name.ko, checked.name.en),
            (description.ko, description.en) if description else (None, None),
            to_json(checked).decode(),
            as_of,
        )
        if found is not None:
            record_members(store, segment_id, as_of, found)
    saved = saved_segment(store, segment_id)
    return SavedSegment(**{**saved.__dict__, "warnings": warnings})


def saved_segments(store: Store) -> list[SavedSegment]:
    """Every saved segment, newest first."""
    return [_saved(s) for s in stored_segments(store)]


def saved_segment(store: Store, segment_id: str) -> SavedSegment:
    found = stored_segment(store, segment_id)
    if found is None:
        raise UnknownSegmentError(f"no saved segment {segment_id!r} (shopmind segments list shows them)")
    return _saved(found)


def find_segment(store: Store, key: str) -> SavedSegment:
    """A saved segment by its id, or by its name in Korean or English (exactly); raises
    ``UnknownSegmentError`` when none or several have it."""
    found = stored_segment(store, key)
    if found is not None:
        return _saved(found)
    named = [s for s in stored_segments(store) if key.strip() in (s.name_ko, s.name_en)]
    if len(named) == 1:
        return _saved(named[0])
    if named:
        ids = ", ".join(s.segment_id for s in named)
        raise UnknownSegmentError(f"several saved segments are named {key!r} ({ids}): give the id")
    raise UnknownSegmentError(
        f"no saved segment has the id or name {key!r} (shopmind segments list shows them)"
    )


def materialize(
    store: Store, segment_id: str, *, as_of: datetime, zone: str = DEFAULT_SHOP_TZ
) -> MembershipChange:
    """Count a saved segment's members as of ``as_of`` into its history: who entered, who exited."""
    segment = saved_segment(store, segment_id)
    found = members(store, segment.definition, as_of=as_of, zone=zone)
    return record_members(store, segment_id, as_of, found)


def remove_segment(store: Store, segment_id: str) -> None:
    """Delete a saved segment and its history; refused while another segment names it."""
    saved_segment(store, segment_id)
    users = [
        s.segment_id
        for s in saved_segments(store)
        if any(ref == segment_id for _, ref in referenced_segments(s.definition))
    ]
    if users:
        raise SegmentInUseError(
            f"segment {segment_id!r} is used by {', '.join(users)}: delete or change those first"
        )
    delete_segment(store, segment_id)


def member_list(
    store: Store, segment_id: str, *, offset: int = 0, limit: int | None = 50, at: datetime | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """How many members a saved segment has (now, or at ``at``), and a page of them
    (``MEMBER_COLUMNS``), longest-standing first."""
    saved_segment(store, segment_id)
    return member_rows(store, segment_id, offset=offset, limit=limit, at=at)


def export_members(
    store: Store, segment_id: str, path: Path, *, format: Literal["csv", "parquet"] = "csv"
) -> int:
    """Write a saved segment's current members to ``path`` (CSV that spreadsheets open safely, or
    Parquet), readable by its owner only; the number written."""
    import os

    _, rows = member_list(store, segment_id, limit=None)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # exports list customers: a file that was there keeps its mode otherwise
    if format == "parquet":
        import pyarrow.parquet as pq

        table = (
            pa.table({c: [r[c] for r in rows] for c in MEMBER_COLUMNS})
            if rows
            else pa.table({c: pa.array([], pa.string()) for c in MEMBER_COLUMNS})
        )
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(table, fh)
        return len(rows)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        return write_csv(out, MEMBER_COLUMNS, ([r[c] for c in MEMBER_COLUMNS] for r in rows))
