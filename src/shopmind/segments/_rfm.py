"""RFM scores and named customer segments, with the rules in one table so that marketers, the
docs and the tests read the same thing.

Scores are quintiles 1-5 of the buyers (5 = best): R by days since the last purchase (fewer is
better), F by ``frequency`` (repeat purchase days), M by mean spend per purchase day. Ties share a
score (a percent rank), so every score is a monotone function of its value. A buyer gets the first
segment whose rule holds; profiles that never bought (members and anonymous visitors alike) get a
visitor segment from their visits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # ibis is imported by the functions that build expressions: SEGMENTS is read without it
    import ibis.expr.types as ir

from shopmind.core import GLOSSARY


@dataclass(frozen=True)
class Segment:
    key: str
    ko: str  # the names are core.GLOSSARY's "segment.<key>": one name per concept everywhere
    en: str
    rule: str  # the rule, as people read it
    test: Callable[[Any], Any]  # the same rule over columns (Ibis columns or a plain row)


BUYER_SEGMENTS: tuple[Segment, ...] = (
    Segment(
        "vip",
        *GLOSSARY["segment.vip"],
        "R ≥ 4, F ≥ 4, M ≥ 4",
        lambda c: (c.r_score >= 4) & (c.f_score >= 4) & (c.m_score >= 4),
    ),
    Segment(
        "dormant_vip",
        *GLOSSARY["segment.dormant_vip"],
        "R ≤ 2, F ≥ 4, M ≥ 4",
        lambda c: (c.r_score <= 2) & (c.f_score >= 4) & (c.m_score >= 4),
    ),
    Segment(
        "loyal", *GLOSSARY["segment.loyal"], "R ≥ 3, F ≥ 4", lambda c: (c.r_score >= 3) & (c.f_score >= 4)
    ),
    Segment(
        "about_to_churn",
        *GLOSSARY["segment.about_to_churn"],
        "R ≤ 2, F ≥ 3",
        lambda c: (c.r_score <= 2) & (c.f_score >= 3),
    ),
    Segment(
        "potential_vip",
        *GLOSSARY["segment.potential_vip"],
        "R ≥ 4, F ≥ 2, M ≥ 3",
        lambda c: (c.r_score >= 4) & (c.f_score >= 2) & (c.m_score >= 3),
    ),
    Segment(
        "new",
        *GLOSSARY["segment.new"],
        "R ≥ 4, one purchase day so far",
        lambda c: (c.r_score >= 4) & (c.frequency == 0),
    ),
    Segment("promising", *GLOSSARY["segment.promising"], "R ≥ 4 (other)", lambda c: c.r_score >= 4),
    Segment(
        "needs_attention", *GLOSSARY["segment.needs_attention"], "R = 3 (other)", lambda c: c.r_score == 3
    ),
    Segment("hibernating", *GLOSSARY["segment.hibernating"], "R = 2 (other)", lambda c: c.r_score == 2),
    Segment("lost", *GLOSSARY["segment.lost"], "R = 1 (other)", lambda c: c.r_score <= 1),
)

VISITOR_SEGMENTS: tuple[Segment, ...] = (
    Segment(
        "engaged_visitor",
        *GLOSSARY["segment.engaged_visitor"],
        "no purchase; visits on ≥ 3 days, last ≤ 14 days ago",
        lambda c: (c.visit_days >= 3) & (c.days_since_last_visit <= 14),
    ),
    Segment(
        "new_visitor",
        *GLOSSARY["segment.new_visitor"],
        "no purchase; first visit ≤ 7 days ago",
        lambda c: c.days_since_first_visit <= 7,
    ),
    Segment(
        "passing_visitor",
        *GLOSSARY["segment.passing_visitor"],
        "no purchase (other)",
        lambda c: c.visit_days >= 0,
    ),
)

SEGMENTS = {s.key: s for s in BUYER_SEGMENTS + VISITOR_SEGMENTS}


def _quintile(pr: ir.FloatingValue) -> ir.IntegerValue:
    import ibis

    return ibis.least(5, (pr * 5).floor().cast("int64") + 1)


def rfm_scores(summary: ir.Table) -> ir.Table:
    """Add r_score, f_score and m_score (1-5) to a purchase summary (``features.rfm_summary``)."""
    import ibis

    return summary.mutate(
        r_score=_quintile(ibis.percent_rank().over(order_by=ibis.desc(summary.days_since_last_purchase))),
        f_score=_quintile(ibis.percent_rank().over(order_by=summary.frequency)),
        m_score=_quintile(ibis.percent_rank().over(order_by=summary.revenue / (summary.frequency + 1))),
    )


def _first_match(columns: Any, segments: tuple[Segment, ...]) -> ir.StringValue:
    import ibis

    return ibis.cases(*[(s.test(columns), s.key) for s in segments[:-1]], else_=segments[-1].key)


def rfm_segments(summary: ir.Table) -> ir.Table:
    """Buyers with their scores and segment key."""
    scored = rfm_scores(summary)
    return scored.mutate(segment=_first_match(scored, BUYER_SEGMENTS))


def customer_segments(summary: ir.Table, visits: ir.Table) -> ir.Table:
    """Every profile (buyers and visitors) with its segment: profile_id, segment, is_buyer, scores."""
    import ibis

    buyers = rfm_segments(summary).select(
        "profile_id", "segment", "r_score", "f_score", "m_score", is_buyer=ibis.literal(True)
    )
    others = visits.anti_join(summary, "profile_id")
    visitors = others.select(
        "profile_id",
        segment=_first_match(others, VISITOR_SEGMENTS),
        r_score=ibis.null("int64"),
        f_score=ibis.null("int64"),
        m_score=ibis.null("int64"),
        is_buyer=ibis.literal(False),
    )
    return buyers.union(visitors)


def segment_transitions(before: ir.Table, after: ir.Table) -> ir.Table:
    """How many profiles moved from each segment to each other between two runs
    (``segment_from`` / ``segment_to``; a side is null for profiles present in one run only)."""
    import ibis

    left = before.select("profile_id", segment_from="segment")
    right = after.select(profile_id_after="profile_id", segment_to="segment")
    joined = left.outer_join(right, left.profile_id == right.profile_id_after)
    return (
        joined.group_by("segment_from", "segment_to")
        .aggregate(profiles=ibis._.count())
        .order_by([ibis.desc("profiles")])
    )


def moved(before: ir.Table, after: ir.Table, segment_from: str, segment_to: str) -> ir.Table:
    """The profiles that were in ``segment_from`` and are now in ``segment_to``
    (e.g. VIPs who became dormant this month)."""
    b = before.filter(before.segment == segment_from).select("profile_id")
    a = after.filter(after.segment == segment_to).select("profile_id")
    return b.join(a, "profile_id")
