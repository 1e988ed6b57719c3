"""A campaign's results: per step what its messages did, and the uplift over the holdout.

The uplift compares the two arms as they were assigned (intention to treat): treated members the
plan could not reach stay in the treated arm, as do their twins in the holdout, so the comparison
stays fair whatever the plan excluded. The estimates are computed from sufficient statistics the
engine sums up (per arm: members, converted members, the sum and the sum of squares of each
member's attributed revenue), never from rows pulled out of it:

* conversion: the difference of the two arms' conversion rates, with Newcombe's hybrid score
  interval (Newcombe 1998, method 10: from the two Wilson score intervals), which keeps its
  coverage for small counts and rates near 0 where the Wald interval does not;
* revenue per customer: the difference of means with Welch's interval (unequal variances,
  Welch-Satterthwaite degrees of freedom);
* incremental conversions and revenue: those differences times the treated members, and the
  incremental revenue minus what the sent messages cost (the cost is known: the interval moves).

Since members who got no message cannot have been moved by one, the effect on those who got one
is the arm difference divided by the share of treated members messaged (Bloom's adjustment):
reported beside, as ``per_messaged``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scipy import stats

from shopmind.activation._campaign import parse_campaign
from shopmind.core import FieldError, InvalidInputError
from shopmind.store import ArmTotals, StepCounts, Store, arm_totals, step_counts

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence interval."""

    estimate: float
    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    def scaled(self, factor: float, shift: float = 0.0) -> Interval:
        ends = sorted((self.low * factor + shift, self.high * factor + shift))
        return Interval(self.estimate * factor + shift, ends[0], ends[1])

    def to_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """The Wilson score interval of the proportion ``successes / n`` (n > 0)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError("a proportion needs 0 <= successes <= n and n > 0")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (successes + z * z / 2) / (n + z * z)
    half = z * math.sqrt(successes * (n - successes) / n + z * z / 4) / (n + z * z)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def proportion_difference(
    x1: int, n1: int, x2: int, n2: int, confidence: float = CONFIDENCE, method: str = "newcombe"
) -> Interval:
    """``x1/n1 - x2/n2`` with its interval: ``newcombe`` (hybrid score, Newcombe 1998 method 10)
    or ``wald`` (the textbook normal approximation, Newcombe's method 1)."""
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    if method == "wald":
        z = float(stats.norm.ppf(0.5 + confidence / 2))
        half = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        return Interval(d, d - half, d + half)
    if method != "newcombe":
        raise ValueError(f"unknown method {method!r}: newcombe or wald")
    a, b = wilson_interval(x1, n1, confidence), wilson_interval(x2, n2, confidence)
    low = d - math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2)
    high = d + math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2)
    return Interval(d, low, high)


@dataclass(frozen=True)
class WelchInterval(Interval):
    """A difference of means with Welch's interval; ``df``: its degrees of freedom."""

    df: float = math.inf


def welch_difference(
    n1: int,
    sum1: float,
    squares1: float,
    n2: int,
    sum2: float,
    squares2: float,
    confidence: float = CONFIDENCE,
) -> WelchInterval:
    """The difference of two means from each sample's size, sum and sum of squares, with Welch's
    interval (each sample needs at least two values)."""
    if n1 < 2 or n2 < 2:
        raise ValueError("Welch's interval needs at least two values in each sample")
    sum1, squares1, sum2, squares2 = float(sum1), float(squares1), float(sum2), float(squares2)
    m1, m2 = sum1 / n1, sum2 / n2
    # the sample variances from the sums; rounding can leave a hair below zero
    v1 = max(0.0, (squares1 - sum1 * sum1 / n1) / (n1 - 1))
    v2 = max(0.0, (squares2 - sum2 * sum2 / n2) / (n2 - 1))
    a, b = v1 / n1, v2 / n2
    d = m1 - m2
    se = math.sqrt(a + b)
    if se == 0.0:
        return WelchInterval(d, d, d, math.inf)
    # Welch-Satterthwaite, (a + b)² / (a²/(n1-1) + b²/(n2-1)), with a and b as shares of their
    # sum: squaring tiny variances would underflow to 0
    ra, rb = a / (a + b), b / (a + b)
    df = 1.0 / (ra * ra / (n1 - 1) + rb * rb / (n2 - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return WelchInterval(d, d - half, d + half, df)


@dataclass(frozen=True)
class Arm:
    """One arm's members and what they did in their attribution windows."""

    n: int
    conversions: int
    revenue: float
    revenue_squares: float

    @property
    def conversion_rate(self) -> float | None:
        return self.conversions / self.n if self.n else None

    @property
    def revenue_per_customer(self) -> float | None:
        return self.revenue / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": self.n,
            "conversions": self.conversions,
            "conversion_rate": self.conversion_rate,
            "revenue": self.revenue,
            "revenue_per_customer": self.revenue_per_customer,
        }


def _arm(totals: ArmTotals | None) -> Arm:
    if totals is None:
        return Arm(0, 0, 0.0, 0.0)
    return Arm(totals.n, totals.conversions, totals.revenue, totals.revenue_squares)


@dataclass(frozen=True)
class Uplift:
    """Treated vs holdout. Intervals are None where an arm is too small to have one."""

    treated: Arm
    holdout: Arm
    messaged: int  # treated members with at least one message sent
    conversion: Interval | None  # difference of conversion rates (0.08 = 8 percentage points)
    revenue_per_customer: WelchInterval | None
    incremental_conversions: Interval | None
    incremental_revenue: Interval | None
    cost: float  # what the campaign's sent messages cost
    net_revenue: Interval | None  # incremental revenue minus the cost
    confidence: float = CONFIDENCE

    @property
    def messaged_share(self) -> float | None:
        return self.messaged / self.treated.n if self.treated.n else None

    def per_messaged(self) -> dict[str, Interval | None]:
        """The effects on the customers who got a message (Bloom: arm difference / messaged share)."""
        share = self.messaged_share
        if not share:
            return {"conversion": None, "revenue_per_customer": None}
        return {
            "conversion": self.conversion.scaled(1 / share) if self.conversion else None,
            "revenue_per_customer": self.revenue_per_customer.scaled(1 / share)
            if self.revenue_per_customer
            else None,
        }

    def to_dict(self) -> dict[str, Any]:
        def d(interval: Interval | None) -> dict[str, float] | None:
            return None if interval is None else interval.to_dict()

        return {
            "confidence": self.confidence,
            "treated": self.treated.to_dict(),
            "holdout": self.holdout.to_dict(),
            "messaged": self.messaged,
            "messaged_share": self.messaged_share,
            "conversion_rate_difference": d(self.conversion),
            "revenue_per_customer_difference": d(self.revenue_per_customer),
            "incremental_conversions": d(self.incremental_conversions),
            "incremental_revenue": d(self.incremental_revenue),
            "message_cost": self.cost,
            "net_incremental_revenue": d(self.net_revenue),
            "per_messaged": {k: d(v) for k, v in self.per_messaged().items()},
        }


def uplift(
    treated: Arm, holdout: Arm, *, messaged: int, cost: float, confidence: float = CONFIDENCE
) -> Uplift:
    """The uplift of ``treated`` over ``holdout`` from their sufficient statistics."""
    conversion = (
        proportion_difference(treated.conversions, treated.n, holdout.conversions, holdout.n, confidence)
        if treated.n and holdout.n
        else None
    )
    revenue = (
        welch_difference(
            treated.n,
            treated.revenue,
            treated.revenue_squares,
            holdout.n,
            holdout.revenue,
            holdout.revenue_squares,
            confidence,
        )
        if treated.n >= 2 and holdout.n >= 2
        else None
    )
    incremental_revenue = revenue.scaled(treated.n) if revenue else None
    return Uplift(
        treated=treated,
        holdout=holdout,
        messaged=messaged,
        conversion=conversion,
        revenue_per_customer=revenue,
        incremental_conversions=conversion.scaled(treated.n) if conversion else None,
        incremental_revenue=incremental_revenue,
        cost=cost,
        net_revenue=incremental_revenue.scaled(1.0, -cost) if incremental_revenue else None,
        confidence=confidence,
    )


@dataclass(frozen=True)
class CampaignResults:
    """A campaign's results as of ``as_of``: per step, and the uplift over the holdout."""

    campaign_id: str
    as_of: datetime
    attribution_days: int
    steps: tuple[StepCounts, ...]
    uplift: Uplift

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "as_of": self.as_of.isoformat(),
            "attribution_days": self.attribution_days,
            "steps": [vars(s) for s in self.steps],
            "uplift": self.uplift.to_dict(),
        }


def campaign_results(
    store: Store,
    campaign_id: str,
    *,
    as_of: datetime,
    attribution_days: int | None = None,
    confidence: float = CONFIDENCE,
) -> CampaignResults:
    """The results of the stored campaign ``campaign_id`` up to ``as_of`` (its attribution window
    and start from its definition unless ``attribution_days`` is given)."""
    found = store.sql("SELECT definition FROM campaigns WHERE campaign_id = ?", [campaign_id])
    if not found:
        raise InvalidInputError([FieldError("campaign_id", f"no campaign {campaign_id!r}")])
    campaign = parse_campaign(found[0][0])
    days = attribution_days if attribution_days is not None else campaign.attribution_days
    if days < 1:
        raise InvalidInputError([FieldError("attribution_days", "at least 1")])
    arms = arm_totals(store, campaign_id, days, as_of, campaign.start_at)
    steps = tuple(step_counts(store, campaign_id, days, as_of))
    result = uplift(
        _arm(arms.get("treated")),
        _arm(arms.get("holdout")),
        messaged=arms["treated"].messaged if "treated" in arms else 0,
        cost=sum(s.cost for s in steps),
        confidence=confidence,
    )
    return CampaignResults(campaign_id, as_of, days, steps, result)
