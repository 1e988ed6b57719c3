"""Saved segments and the history of their members: one row per stay (entered, and exited once a
later count no longer finds them), so "who was in it on 1 March" and "who entered this week" are
plain queries, and the current members are the stays not exited.

The definition is kept as JSON text; reading and checking it is ``shopmind.segments``' work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from shopmind.core import FieldError, InvalidInputError
from shopmind.store._store import Store

#: the latest successful run of each job (what "now" means for the jobs' results)
_LATEST_RUNS = "(SELECT arg_max(run_id, as_of) AS run_id FROM job_runs WHERE status = 'ok' GROUP BY job)"
#: the customer-intelligence run whose RFM segment a member list shows
_RFM_RUN = (
    "(SELECT arg_max(run_id, as_of) FROM job_runs WHERE status = 'ok' AND job = 'customer_intelligence')"
)


@dataclass(frozen=True)
class StoredSegment:
    segment_id: str
    name_ko: str | None
    name_en: str | None
    description_ko: str | None
    description_en: str | None
    definition: str  # JSON
    created_at: datetime
    updated_at: datetime
    materialized_at: datetime | None
    members: int  # current members (stays not exited)


_COLUMNS = (
    "s.segment_id, s.name_ko, s.name_en, s.description_ko, s.description_en, s.definition, "
    "s.created_at, s.updated_at, s.materialized_at, "
    "(SELECT count(*) FROM segment_history h WHERE h.segment_id = s.segment_id AND h.exited_at IS NULL)"
)


def insert_segment(
    store: Store,
    segment_id: str,
    names: tuple[str | None, str | None],
    descriptions: tuple[str | None, str | None],
    definition: str,
    now: datetime,
) -> None:
    store.sql(
        "INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        [segment_id, *names, *descriptions, definition, now, now],
    )


def stored_segments(store: Store) -> list[StoredSegment]:
    """Every saved segment, newest first."""
    rows = store.sql(f"SELECT {_COLUMNS} FROM segments s ORDER BY s.created_at DESC, s.segment_id")
    return [StoredSegment(*row) for row in rows]


def stored_segment(store: Store, segment_id: str) -> StoredSegment | None:
    rows = store.sql(f"SELECT {_COLUMNS} FROM segments s WHERE s.segment_id = ?", [segment_id])
    return StoredSegment(*rows[0]) if rows else None


def delete_segment(store: Store, segment_id: str) -> bool:
    """Delete a saved segment and its members' history; False when there was none."""
    with store.atomically():
        found = store.scalar("SELECT count(*) FROM segments WHERE segment_id = ?", [segment_id])
        store.sql("DELETE FROM segment_history WHERE segment_id = ?", [segment_id])
        store.sql("DELETE FROM segments WHERE segment_id = ?", [segment_id])
    return bool(found)


@dataclass(frozen=True)
class MembershipChange:
    members: int  # members now
    entered: int
    exited: int


def record_members(store: Store, segment_id: str, as_of: datetime, members: pa.Table) -> MembershipChange:
    """Make ``members`` (a ``profile_id`` column) the segment's current members as of ``as_of``,
    in one transaction: new members enter at ``as_of``, members no longer found exit at it.
    ``as_of`` may not be before the last count (the history only moves forward)."""
    ids = pa.table({"profile_id": members.column("profile_id").cast(pa.string())})
    with store.atomically():
        last = store.scalar("SELECT materialized_at FROM segments WHERE segment_id = ?", [segment_id])
        if last is not None and as_of < last:
            raise InvalidInputError(
                [
                    FieldError(
                        "as_of",
                        f"before the segment's last count ({last.isoformat()}): history only moves forward",
                    )
                ]
            )
        with store.staged("_segment_now", ids) as now:
            exited = store.scalar(
                f"""SELECT count(*) FROM segment_history WHERE segment_id = ? AND exited_at IS NULL
                AND profile_id NOT IN (SELECT profile_id FROM {now})""",
                [segment_id],
            )
            store.sql(
                f"""UPDATE segment_history SET exited_at = ?
                WHERE segment_id = ? AND exited_at IS NULL AND profile_id NOT IN (SELECT profile_id FROM {now})""",
                [as_of, segment_id],
            )
            entered = store.scalar(
                f"""SELECT count(DISTINCT profile_id) FROM {now} WHERE profile_id NOT IN
                (SELECT profile_id FROM segment_history WHERE segment_id = ? AND exited_at IS NULL)""",
                [segment_id],
            )
            store.sql(
                f"""INSERT INTO segment_history
                SELECT DISTINCT ?, profile_id, CAST(? AS TIMESTAMPTZ), CAST(NULL AS TIMESTAMPTZ) FROM {now}
                WHERE profile_id NOT IN
                (SELECT profile_id FROM segment_history WHERE segment_id = ? AND exited_at IS NULL)""",
                [segment_id, as_of, segment_id],
            )
        store.sql(
            "UPDATE segments SET materialized_at = ? WHERE segment_id = ?",
            [as_of, segment_id],
        )
        total = store.scalar(
            "SELECT count(*) FROM segment_history WHERE segment_id = ? AND exited_at IS NULL", [segment_id]
        )
    return MembershipChange(int(total), int(entered), int(exited))


#: what a member list shows of each customer, as the customers list does
MEMBER_COLUMNS = ("profile_id", "member", "segment", "revenue", "clv_12m", "entered_at")


def member_rows(
    store: Store,
    segment_id: str,
    *,
    at: datetime | None = None,
    offset: int = 0,
    limit: int | None = 50,
) -> tuple[int, list[dict[str, Any]]]:
    """How many members the segment has (now, or at ``at``), and a page of them, longest members
    first (then by revenue, as the customer list): ``MEMBER_COLUMNS``."""
    when = (
        "h.exited_at IS NULL"
        if at is None
        else "h.entered_at <= ? AND (h.exited_at IS NULL OR h.exited_at > ?)"
    )
    params: list[Any] = [segment_id] if at is None else [segment_id, at, at]
    total = int(
        store.scalar(f"SELECT count(*) FROM segment_history h WHERE h.segment_id = ? AND {when}", params)
    )
    page = "" if limit is None else f"LIMIT {int(limit)} OFFSET {int(offset)}"
    rows = store.sql(
        f"""WITH m AS (
            SELECT h.profile_id, h.entered_at FROM segment_history h WHERE h.segment_id = ? AND {when}
        )
        SELECT {_describe_columns("m")}, m.entered_at
        FROM m {_describe_joins("m")}
        ORDER BY m.entered_at, sc.revenue DESC NULLS LAST, m.profile_id {page}""",
        params,
    )
    return total, [dict(zip(MEMBER_COLUMNS, row, strict=True)) for row in rows]


def describe_profiles(
    store: Store, profile_ids: pa.Table, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """The customers of ``profile_ids`` (a ``profile_id`` column) as a member list shows them
    (``MEMBER_COLUMNS`` but ``entered_at``), highest revenue first, at most ``limit``."""
    if not profile_ids.num_rows:
        return []
    ids = pa.table({"profile_id": profile_ids.column("profile_id").cast(pa.string())})
    page = "" if limit is None else f"LIMIT {int(limit)}"
    with store.staged("_describe", ids) as staged:
        # the page first (by revenue), then what the list shows of those few
        rows = store.sql(
            f"""WITH top AS (
                SELECT t.profile_id FROM {staged} t
                LEFT JOIN (SELECT profile_id, max(value) AS revenue FROM scores
                           WHERE run_id IN {_LATEST_RUNS} AND name = 'revenue' GROUP BY 1) r USING (profile_id)
                ORDER BY r.revenue DESC NULLS LAST, t.profile_id {page}
            )
            SELECT {_describe_columns("top")} FROM top {_describe_joins("top")}
            ORDER BY sc.revenue DESC NULLS LAST, top.profile_id"""
        )
    return [dict(zip(MEMBER_COLUMNS[:-1], row, strict=True)) for row in rows]


def _describe_columns(m: str) -> str:
    return (
        f"{m}.profile_id, "
        f"(SELECT min(p.identifier) FROM profiles p WHERE p.profile_id = {m}.profile_id AND p.kind = 'user'), "
        f"(SELECT any_value(sm.segment) FROM segment_members sm WHERE sm.run_id = {_RFM_RUN} "
        f"AND sm.profile_id = {m}.profile_id AND sm.segment <> 'clv_vip'), "
        "sc.revenue, sc.clv_12m"
    )


def _describe_joins(m: str) -> str:
    return f"""LEFT JOIN (
            SELECT profile_id,
                   max(value) FILTER (WHERE name = 'revenue') AS revenue,
                   max(value) FILTER (WHERE name = 'clv_12m') AS clv_12m
            FROM scores WHERE run_id IN {_LATEST_RUNS} AND name IN ('revenue', 'clv_12m')
            GROUP BY profile_id
        ) sc ON sc.profile_id = {m}.profile_id"""
