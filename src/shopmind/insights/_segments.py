"""The RFM segment map (sizes and revenue), how customers moved between segments from one run to
another, and the customers of a segment, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shopmind.insights._runs import Run
from shopmind.pipeline import segment_label
from shopmind.segments import BUYER_SEGMENTS, SEGMENTS
from shopmind.store import Store

#: the columns of a customer list, as the latest run of each job left them
LIST_SCORES = ("revenue", "clv_12m", "p_alive", "churn_risk", "purchase_probability_7d", "vip_lookalike")
#: the source of a movement for a profile the earlier run did not segment (not a segment key)
ABSENT = "(absent)"
_SCORE_COLUMNS = ", ".join(f"max(s.value) FILTER (WHERE s.name = '{n}') AS {n}" for n in LIST_SCORES)


@dataclass(frozen=True)
class SegmentSize:
    key: str
    ko: str
    en: str
    rule: str
    customers: int
    revenue: float
    buyers: bool  # a buyer segment (else: visitors who never ordered)


@dataclass(frozen=True)
class Movement:
    source: str  # a segment key, or ABSENT for a profile the earlier run did not have
    target: str
    customers: int


def segment_map(store: Store, run: Run) -> list[SegmentSize]:
    """Every RFM segment of ``run`` (a customer-intelligence run) with its size and revenue."""
    rows = dict(
        (key, (int(n), float(rev)))
        for key, n, rev in store.sql(
            """SELECT m.segment, count(*), coalesce(sum(s.value), 0)
            FROM segment_members m LEFT JOIN scores s
              ON s.run_id = m.run_id AND s.profile_id = m.profile_id AND s.name = 'revenue'
            WHERE m.run_id = ? GROUP BY 1""",
            [run.run_id],
        )
    )
    buyer_keys = {s.key for s in BUYER_SEGMENTS}
    out = []
    for key, seg in SEGMENTS.items():
        n, revenue = rows.get(key, (0, 0.0))
        out.append(SegmentSize(key, seg.ko, seg.en, seg.rule, n, revenue, key in buyer_keys))
    return out


def movement(store: Store, earlier: Run, later: Run) -> list[Movement]:
    """How many profiles went from each RFM segment of ``earlier`` to each of ``later``."""
    keys = list(SEGMENTS)
    rows = store.sql(
        """WITH a AS (SELECT profile_id, segment FROM segment_members
                      WHERE run_id = ? AND segment IN (SELECT unnest(?::VARCHAR[]))),
               b AS (SELECT profile_id, segment FROM segment_members
                      WHERE run_id = ? AND segment IN (SELECT unnest(?::VARCHAR[])))
        SELECT coalesce(a.segment, ?), b.segment, count(*)
        FROM b LEFT JOIN a USING (profile_id) GROUP BY 1, 2 ORDER BY 3 DESC""",
        [earlier.run_id, keys, later.run_id, keys, ABSENT],
    )
    return [Movement(s, t, int(n)) for s, t, n in rows]


def segment_customers(
    store: Store, run: Run, segment: str, *, offset: int = 0, limit: int = 50, order: str = "revenue"
) -> tuple[int, list[dict[str, Any]]]:
    """The profiles of ``segment`` in ``run`` (an RFM segment or a model list such as
    ``vip_at_risk``): how many, and one page of them with their latest scores, by ``order``."""
    if order not in LIST_SCORES:
        order = "revenue"
    total = int(
        store.scalar(
            "SELECT count(*) FROM segment_members WHERE run_id = ? AND segment = ?", [run.run_id, segment]
        )
    )
    rows = store.sql(
        f"""WITH latest AS (
            SELECT arg_max(run_id, as_of) AS run_id FROM job_runs WHERE status = 'ok' GROUP BY job
        ), members AS (
            SELECT profile_id FROM segment_members WHERE run_id = ? AND segment = ?
        )
        SELECT m.profile_id, {_SCORE_COLUMNS},
               (SELECT min(identifier) FROM profiles p WHERE p.profile_id = m.profile_id AND p.kind = 'user')
        FROM members m LEFT JOIN scores s
          ON s.profile_id = m.profile_id AND s.run_id IN (SELECT run_id FROM latest)
        GROUP BY m.profile_id
        ORDER BY {order} DESC NULLS LAST, m.profile_id LIMIT ? OFFSET ?""",
        [run.run_id, segment, limit, offset],
    )
    names = ("profile_id", *LIST_SCORES, "member")
    return total, [dict(zip(names, row, strict=True)) for row in rows]


def label(key: str) -> dict[str, str]:
    """A segment's or list's names in Korean and English."""
    return segment_label(key)
