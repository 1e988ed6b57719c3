"""What an experiment's results are made of, for every surface (CLI tables, the API's JSON, the
dashboard's pages): plain frozen dataclasses, each with ``to_dict`` (JSON-ready, no NaN: an
estimate that cannot be computed is None with a ``note`` saying why)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided interval."""

    estimate: float
    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class VariantSummary:
    """One variant's value of one metric: the mean per unit (a rate for conversion; revenue per
    order for order value), with its interval, and the CUPED-adjusted mean when used."""

    variant: str
    units: int
    value: float | None
    interval: Interval | None
    adjusted_value: float | None = None


@dataclass(frozen=True)
class Comparison:
    """A variant against the control on one metric.

    - ``absolute`` / ``relative``: the difference and the relative lift, with the fixed-horizon
      interval (Welch; two proportions for conversion; delta method for the lift and for ratios);
    - ``p_value`` and ``adjusted_p_value`` (Holm over all comparisons of the experiment's goal and
      guardrail metrics);
    - ``sequential``: the always-valid interval of the relative lift (mSPRT), valid however often
      one looks; ``sequential_p_value`` likewise;
    - Bayesian: ``chance_to_beat_control`` and ``expected_loss`` (of choosing the variant);
    - ``cuped``: whether the pre-exposure value adjusted it, and the variance it removed (share);
    - ``decision``: ``better``, ``worse`` or ``inconclusive`` by the sequential interval when the
      analysis is sequential, else by the adjusted p-value; ``note`` when not enough data.
    """

    variant: str
    control: str
    absolute: Interval | None
    relative: Interval | None
    p_value: float | None
    adjusted_p_value: float | None
    sequential: Interval | None
    sequential_p_value: float | None
    chance_to_beat_control: float | None
    expected_loss: float | None
    cuped: bool
    variance_reduction: float | None
    decision: str
    note: str | None = None


@dataclass(frozen=True)
class MetricResult:
    metric: str
    kind: str
    guardrail: bool
    variants: list[VariantSummary]
    comparisons: list[Comparison]
    note: str | None = None  # e.g. "not enough data: no conversions yet"


@dataclass(frozen=True)
class SrmCheck:
    """Sample-ratio mismatch: the units per variant against the shares the experiment asked for
    (Pearson's chi-square); ``flagged`` when p < the analysis' threshold: the assignment is broken
    and no result should be trusted."""

    observed: dict[str, int]
    expected_shares: dict[str, float]
    chi_square: float | None
    p_value: float | None
    flagged: bool


@dataclass(frozen=True)
class TrafficPoint:
    """How many units (or, for a bandit, decisions) each variant got on one day, and its share."""

    day: str
    variant: str
    count: int
    share: float


@dataclass(frozen=True)
class PolicyValue:
    """A bandit's variant, read per decision (a bandit chooses anew on every decision, so the
    decision, not the unit, is what it randomises): the decisions that showed it, their
    ``rewards`` (the policy's reward: clicked or converted), the plain ``rate`` (rewards per
    decision, Wilson interval: biased as a comparison, since the shares moved while the rates
    may have too), and ``value``: the self-normalised inverse-propensity (SNIPS) estimate of the
    reward rate of always showing this variant, from every logged decision and its propensity,
    with its interval (``ips``: the plain IPS estimate). ``share``: the variant's share of
    traffic by the bandit's latest stored state. None with a ``note`` when it cannot be
    estimated (never shown, no rewards yet)."""

    variant: str
    decisions: int
    rewards: int
    rate: Interval | None
    value: Interval | None
    ips: Interval | None = None
    share: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class ExperimentResult:
    experiment_id: str
    as_of: datetime
    units: int
    srm: SrmCheck | None
    metrics: list[MetricResult]
    traffic: list[TrafficPoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "no exposures yet", "SRM: results hidden"
    crossed_units: int = 0  # units exposed to more than one variant (identities merged later)
    # a bandit's results, per decision (empty for fixed shares): each variant's policy value
    policy_values: list[PolicyValue] = field(default_factory=list)
    decisions: int = 0  # a bandit's logged decisions (0 for fixed shares)
    reward: str | None = None  # what a bandit's reward counts: "clicked" or "converted"
    winner: str | None = None  # the variant a bandit switched to (or the one kept), if any

    @property
    def enough_data(self) -> bool:
        return self.units > 0 and (
            any(m.note is None for m in self.metrics) or any(v.value is not None for v in self.policy_values)
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _clean(asdict(self))
        out["enough_data"] = self.enough_data
        return out
