"""The overview: how many customers (members, anonymous), revenue and orders over time, how
concentrated revenue is (the 80/20 Pareto curve and the VIPs' share), and how fresh the data is.

Read from the profiles, the orders and the customer-intelligence run's stored scores: never from
the event table, which holds every click."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from shopmind.insights._counts import counts
from shopmind.insights._runs import Run, latest_run, latest_runs
from shopmind.pipeline import ParetoReport, pareto_report
from shopmind.store import Store

INTELLIGENCE = "customer_intelligence"


@dataclass(frozen=True)
class Overview:
    members: int
    anonymous: int
    buyers: int
    orders: int
    revenue: float
    days: tuple[tuple[date, int, float], ...]  # local day, orders, revenue
    pareto: ParetoReport | None  # among the buyers of the latest customer-intelligence run
    vips: int
    vip_revenue_share: float | None
    runs: tuple[Run, ...]
    last_import: datetime | None
    #: orders browsers reported with the public write key that no server-side source confirmed:
    #: left out of the figures above until confirmed
    unverified_orders: int = 0
    unverified_revenue: float = 0.0


def overview(store: Store, zone: str = "Asia/Seoul", days: int = 180) -> Overview:
    people = counts(store)  # one definition of customers and buyers (guests included) everywhere
    members, anonymous, buyers = people.members, people.anonymous, people.buyers
    orders, revenue = store.sql(
        "SELECT count(*), coalesce(sum(revenue), 0) FROM order_totals WHERE NOT is_return"
    )[0]
    trend = store.sql(
        """WITH daily AS (
            SELECT CAST(timezone(?, ordered_at) AS DATE) AS day, count(*) AS orders, sum(revenue) AS revenue
            FROM order_totals WHERE NOT is_return GROUP BY 1
        )
        SELECT day, orders, revenue FROM daily
        WHERE day > (SELECT max(day) FROM daily) - CAST(? AS INTEGER) ORDER BY day""",
        [zone, days],
    )
    pareto, vips, vip_share = None, 0, None
    run = latest_run(store, INTELLIGENCE)
    if run is not None:
        rows = store.sql(
            """SELECT s.value, m.profile_id IS NOT NULL
            FROM scores s LEFT JOIN segment_members m
              ON m.run_id = s.run_id AND m.profile_id = s.profile_id AND m.segment = 'clv_vip'
            WHERE s.run_id = ? AND s.name = 'revenue'""",
            [run.run_id],
        )
        if rows:
            values = np.array([r[0] for r in rows], dtype=float)
            vip = np.array([r[1] for r in rows], dtype=bool)
            pareto = pareto_report(values)
            vips = int(vip.sum())
            total = values.sum()
            vip_share = float(values[vip].sum() / total) if total > 0 else None
    last_import = store.scalar("SELECT max(finished_at) FROM imports")
    unverified, claimed = store.sql(
        """SELECT count(DISTINCT o.order_id), coalesce(sum(l.quantity * l.unit_price), 0)
        FROM orders o LEFT JOIN order_lines l USING (order_id)
        WHERE NOT o.verified AND NOT o.is_return"""
    )[0]
    return Overview(
        members=int(members),
        anonymous=int(anonymous),
        buyers=int(buyers),
        orders=int(orders),
        revenue=float(revenue),
        days=tuple((d, int(n), float(r)) for d, n, r in trend),
        pareto=pareto,
        vips=vips,
        vip_revenue_share=vip_share,
        runs=tuple(latest_runs(store)),
        last_import=last_import,
        unverified_orders=int(unverified),
        unverified_revenue=float(claimed),
    )
