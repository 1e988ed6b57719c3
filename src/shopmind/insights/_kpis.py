"""The figures a retention marketer reads first, for a date range against the period of the same
length just before it: repurchase rate, second-purchase conversion, average order value,
conversion rate of visits and revenue per visitor.

Days are shop-local calendar days, both ends included. Purchases are the verified, placed orders
(``order_totals``, returns left out); a customer is the buyer's profile (members by member id,
guests by hashed e-mail or phone, as ``features.customer_key``), and several orders of one customer
on one day are one purchase, as in the buy-till-you-die summaries. Visits come from the per-day
counts the latest customer-intelligence run left (``visit_days``): no figure reads the event table.

- **repurchase rate**: of the customers who bought in the range, the share who had bought on at
  least two days by its end (returning customers);
- **second-purchase conversion within N days**: of the customers whose first purchase was N days
  before a day of the range (their N-day window closed within the range, so every window is
  fully seen and two ranges compare fairly), the share who bought again within N days;
- **average order value**: revenue / orders;
- **conversion rate of visits**: sessions with an order / sessions;
- **revenue per visitor**: revenue / visitors, a visitor counted once per day they came
  (exact distinct visitors over any range would need every visitor's days kept: these are
  aggregates only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError
from shopmind.insights._runs import latest_run
from shopmind.store import Store

INTELLIGENCE = "customer_intelligence"
DEFAULT_DAYS = 30
DEFAULT_WITHIN = 30
MAX_DAYS = 3_660  # ten years: a range longer than any shop's history is a typo
MAX_WITHIN = 365

#: the buyer's profile of each placed, verified order, and its shop-local day (``?`` = the zone)
_PURCHASES = """
    SELECT t.order_id, t.revenue, CAST(timezone(?, t.ordered_at) AS DATE) AS day,
           coalesce(p.profile_id, k.ident) AS customer
    FROM order_totals t JOIN (
        SELECT order_id, coalesce('user:' || customer_id, 'email:' || email_hash,
                                  'phone:' || phone_hash) AS ident
        FROM orders
    ) k USING (order_id)
    LEFT JOIN profiles p ON p.identifier = k.ident
    WHERE NOT t.is_return
"""


def _invalid(field: str, reason: str) -> InvalidInputError:
    return InvalidInputError([FieldError(field, reason)])


@dataclass(frozen=True)
class Kpi:
    """One figure for the range and the period before it; None where it has no denominator."""

    key: str
    value: float | None
    previous: float | None
    numerator: float
    denominator: float
    previous_numerator: float
    previous_denominator: float
    is_rate: bool  # a share (change in percentage points) rather than an amount (change in %)

    @property
    def change(self) -> float | None:
        """Rates: the difference (0.05 = 5 percentage points); amounts: the relative change."""
        if self.value is None or self.previous is None:
            return None
        if self.is_rate:
            return self.value - self.previous
        return (self.value - self.previous) / self.previous if self.previous else None


@dataclass(frozen=True)
class KpiReport:
    start: date
    end: date
    previous_start: date
    previous_end: date
    within: int  # N of the second-purchase conversion
    kpis: tuple[Kpi, ...]
    orders: int
    revenue: float
    visits_as_of: date | None  # the last day the visit counts cover (None: no run counted visits)
    newest_order_day: date | None

    def __getitem__(self, key: str) -> Kpi:
        for kpi in self.kpis:
            if kpi.key == key:
                return kpi
        raise KeyError(key)


def default_range(
    store: Store, zone: str = DEFAULT_SHOP_TZ, days: int = DEFAULT_DAYS, today: date | None = None
) -> tuple[date, date]:
    """The last ``days`` days up to the newest order (without any order: up to the last day with
    counted visits, else ``today``, which only a surface knows: nothing here reads the clock)."""
    end = _newest_order_day(store, zone) or store.scalar("SELECT max(day) FROM visit_days") or today
    if end is None:
        raise _invalid("end", "the store holds no orders and no visits yet: give the range")
    return end - timedelta(days=days - 1), end


def _newest_order_day(store: Store, zone: str) -> date | None:
    found = store.scalar(
        # (the orders alone: order_totals would sum every line first)
        "SELECT CAST(timezone(?, max(ordered_at)) AS DATE) FROM orders WHERE verified AND NOT is_return",
        [zone],
    )
    return found if isinstance(found, date) else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _purchase_figures(
    store: Store, periods: tuple[tuple[date, date], ...], within: int, zone: str
) -> list[tuple[float, ...]]:
    """Per period: orders, revenue, buyers, returning buyers, first-purchase cohort, converted
    within N. One query: the orders are read and each customer's first two purchase days found
    once (materialised), then counted per period."""
    marks = ", ".join("(?::INTEGER, ?::DATE, ?::DATE)" for _ in periods)
    rows = store.sql(
        f"""WITH bought AS MATERIALIZED ({_PURCHASES}),
        days AS MATERIALIZED (SELECT DISTINCT customer, day FROM bought WHERE customer IS NOT NULL),
        firsts AS MATERIALIZED (
            SELECT customer, min(day) FILTER (WHERE n = 1) AS first_day,
                   min(day) FILTER (WHERE n = 2) AS second_day
            FROM (SELECT customer, day, row_number() OVER (PARTITION BY customer ORDER BY day) AS n
                  FROM days) ranked
            WHERE n <= 2 GROUP BY 1
        ),
        periods(k, s, e) AS (VALUES {marks}),
        sales AS (
            SELECT k, count(b.order_id) AS orders, coalesce(sum(b.revenue), 0) AS revenue
            FROM periods LEFT JOIN bought b ON b.day BETWEEN s AND e GROUP BY k
        ),
        buyers AS (
            SELECT k, count(*) AS buyers,
                   count(*) FILTER (WHERE f.second_day <= e) AS returners
            FROM (SELECT DISTINCT k, e, customer FROM periods JOIN days ON day BETWEEN s AND e) b
            JOIN firsts f USING (customer) GROUP BY k
        ),
        cohort AS (
            SELECT k, count(*) AS cohort,
                   count(*) FILTER (WHERE second_day <= first_day + CAST(? AS INTEGER)) AS converted
            FROM periods JOIN firsts
              ON first_day BETWEEN s - CAST(? AS INTEGER) AND e - CAST(? AS INTEGER)
            GROUP BY k
        )
        SELECT k, orders, revenue, coalesce(buyers, 0), coalesce(returners, 0), coalesce(cohort, 0),
               coalesce(converted, 0)
        FROM sales LEFT JOIN buyers USING (k) LEFT JOIN cohort USING (k) ORDER BY k""",
        [zone, *[v for k, (a, b) in enumerate(periods) for v in (k, a, b)], within, within, within],
    )
    return [tuple(float(v or 0) for v in row[1:]) for row in rows]


def _visit_figures(store: Store, start: date, end: date) -> tuple[float, float, float]:
    """sessions, converted sessions, visitor-days in the range, from the latest run's counts."""
    run = latest_run(store, INTELLIGENCE)
    if run is None:
        return 0.0, 0.0, 0.0
    row = store.sql(
        """SELECT coalesce(sum(sessions), 0), coalesce(sum(converted), 0), coalesce(sum(visitors), 0)
        FROM visit_days WHERE run_id = ? AND day BETWEEN ?::DATE AND ?::DATE""",
        [run.run_id, start, end],
    )[0]
    return float(row[0]), float(row[1]), float(row[2])


def kpis(
    store: Store,
    start: date | None = None,
    end: date | None = None,
    *,
    within: int = DEFAULT_WITHIN,
    zone: str = DEFAULT_SHOP_TZ,
    today: date | None = None,
) -> KpiReport:
    """The KPIs for ``start``..``end`` (shop-local days, both included; default: the last 30
    days up to the newest order) against the period of the same length before it."""
    if not 1 <= within <= MAX_WITHIN:
        raise _invalid("within", f"must be a number of days from 1 to {MAX_WITHIN}, not {within}")
    if start is None or end is None:
        default_start, default_end = default_range(store, zone, today=today)
        if end is None:
            end = default_end if start is None else start + (default_end - default_start)
        if start is None:
            start = end - (default_end - default_start)
    if start > end:
        raise _invalid("start", f"{start.isoformat()} is after the end, {end.isoformat()}")
    length = (end - start).days + 1
    if length > MAX_DAYS:
        raise _invalid("end", f"a range of {length} days is longer than {MAX_DAYS}")
    previous_end = start - timedelta(days=1)
    previous_start = previous_end - timedelta(days=length - 1)

    now, before = _purchase_figures(store, ((start, end), (previous_start, previous_end)), within, zone)
    visits_now = _visit_figures(store, start, end)
    visits_before = _visit_figures(store, previous_start, previous_end)

    def kpi(key: str, num: float, den: float, pnum: float, pden: float, *, rate: bool) -> Kpi:
        return Kpi(key, _ratio(num, den), _ratio(pnum, pden), num, den, pnum, pden, rate)

    figures = (
        kpi("repurchase_rate", now[3], now[2], before[3], before[2], rate=True),
        kpi("second_purchase", now[5], now[4], before[5], before[4], rate=True),
        kpi("average_order_value", now[1], now[0], before[1], before[0], rate=False),
        kpi("visit_conversion", visits_now[1], visits_now[0], visits_before[1], visits_before[0], rate=True),
        kpi("revenue_per_visitor", now[1], visits_now[2], before[1], visits_before[2], rate=False),
    )
    run = latest_run(store, INTELLIGENCE)
    visits_as_of = (
        store.scalar("SELECT max(day) FROM visit_days WHERE run_id = ?", [run.run_id]) if run else None
    )
    return KpiReport(
        start=start,
        end=end,
        previous_start=previous_start,
        previous_end=previous_end,
        within=within,
        kpis=figures,
        orders=int(now[0]),
        revenue=now[1],
        visits_as_of=visits_as_of,
        newest_order_day=_newest_order_day(store, zone),
    )
