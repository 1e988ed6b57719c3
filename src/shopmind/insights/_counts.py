"""The counts every surface shows, computed once: customers (profiles: one person however many
identifiers), members, anonymous visitors, identifiers, and buyers (customers with a purchase,
guests included: a guest's order belongs to the profile of its anonymous id, email or phone).

The overview, the runs (RFM, CLV: the purchase summary of the same transactions) and the
predictions page count buyers the same way, so the numbers agree (issue 17: 1,926 buyers in the
run against 1,771 on the overview, where guests were left out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shopmind.insights._buyers_sql import BUYERS_SQL
from shopmind.store import Store


@dataclass(frozen=True)
class Counts:
    customers: int  # profiles
    members: int  # customers with a member id
    anonymous: int  # customers known by anonymous ids (and guest contacts) only
    identifiers: int  # rows of the identity graph: member ids, anonymous ids, hashed emails and phones
    buyers: int  # customers with at least one purchase, guests included


def buyer_expression(store: Store) -> Any:
    """Customers with a purchase as an Ibis expression: the same transactions the RFM and CLV runs
    summarise (verified, product lines, not returned, worth something), counted by profile."""
    from shopmind.features import purchase_transactions  # Ibis: only where the expression is built

    tx = purchase_transactions(store.table("orders"), store.table("order_lines"), store.table("profiles"))
    return tx.profile_id.nunique()


def buyer_count(store: Store) -> int:
    """Customers with a purchase (``buyer_expression``), counted by the SQL Ibis compiles it to,
    kept generated in ``_buyers_sql`` so that counting does not load Ibis (a test keeps them equal)."""
    return int(store.scalar(BUYERS_SQL) or 0)


def counts(store: Store) -> Counts:
    members, anonymous, identifiers = store.sql(
        """SELECT count(*) FILTER (WHERE member), count(*) FILTER (WHERE NOT member), coalesce(sum(n), 0)
        FROM (SELECT profile_id, bool_or(kind = 'user') AS member, count(*) AS n FROM profiles GROUP BY 1)"""
    )[0]
    return Counts(
        customers=int(members) + int(anonymous),
        members=int(members),
        anonymous=int(anonymous),
        identifiers=int(identifiers),
        buyers=buyer_count(store),
    )
