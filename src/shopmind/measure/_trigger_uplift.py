"""What an on-site trigger adds: the conversion rate of the units shown it against that of the units
held out (they qualified and were shown nothing), and the difference with its interval.

A rate without a comparison says little: a trigger that converted its one visitor "converts
100%", and a coupon popup shown to people already at the checkout converts well whether or not it
does anything. The holdout (``Trigger.holdout``, 10% by default) answers what would have happened
without it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shopmind.experiments import Analysis, Metric, MetricResult, VariantStats, analyse_metric
from shopmind.store import ArmCount, Store, trigger_arms

SHOWN, HOLDOUT = "shown", "holdout"
_CONVERSION = Metric(name="conversion", kind="conversion")
# a trigger's report is read whenever the marketer looks: always-valid intervals
_ANALYSIS = Analysis(sequential=True, cuped=False)


@dataclass(frozen=True)
class Arm:
    units: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.units if self.units else None


@dataclass(frozen=True)
class TriggerUplift:
    """One trigger's comparison: its shown and held-out units, their conversion, and the
    statistics of shown against holdout (``result``: None with a ``note`` when there is not
    enough data to compare). ``interval`` is the difference's fixed-horizon interval (two
    proportions); ``decision`` (better, worse, inconclusive) goes by the always-valid sequential
    interval of the relative lift, since a trigger's report is read whenever the marketer looks."""

    trigger_id: str
    shown: Arm
    holdout: Arm
    result: MetricResult | None
    note: str | None

    @property
    def difference(self) -> float | None:
        a, b = self.shown.rate, self.holdout.rate
        return a - b if a is not None and b is not None else None

    def to_dict(self) -> dict[str, Any]:
        comparison = self.result.comparisons[0] if self.result and self.result.comparisons else None
        absolute = comparison.absolute if comparison is not None else None
        relative = comparison.relative if comparison is not None else None
        return {
            "shown": {"units": self.shown.units, "converted": self.shown.converted, "rate": self.shown.rate},
            "holdout": {
                "units": self.holdout.units,
                "converted": self.holdout.converted,
                "rate": self.holdout.rate,
            },
            "difference": self.difference,
            "interval": None if absolute is None else {"low": absolute.low, "high": absolute.high},
            "relative": None
            if relative is None
            else {"estimate": relative.estimate, "low": relative.low, "high": relative.high},
            # always valid however often one looks (mSPRT): what the decision goes by
            "sequential": None
            if comparison is None or comparison.sequential is None
            else {"low": comparison.sequential.low, "high": comparison.sequential.high},
            "p_value": comparison.p_value if comparison is not None else None,
            "decision": comparison.decision if comparison is not None else None,
            "note": self.note or (comparison.note if comparison is not None else None),
        }


def uplift_of(trigger_id: str, arms: Sequence[ArmCount]) -> TriggerUplift:
    """The comparison of one trigger from its arms' counts."""
    by = {a.variant: Arm(a.units, a.converted) for a in arms if a.trigger_id == trigger_id}
    shown, holdout = by.get(SHOWN, Arm(0, 0)), by.get(HOLDOUT, Arm(0, 0))
    note = None
    if not holdout.units:
        note = "not enough data: nobody held out yet"
    elif not shown.units:
        note = "not enough data: nobody shown yet"
    result = None if note else _analyse(shown, holdout)
    if result is not None and result.note:
        note = result.note
    return TriggerUplift(trigger_id, shown, holdout, result, note)


def _analyse(shown: Arm, holdout: Arm) -> MetricResult:
    stats = [
        VariantStats(HOLDOUT, holdout.units, float(holdout.converted), float(holdout.converted)),
        VariantStats(SHOWN, shown.units, float(shown.converted), float(shown.converted)),
    ]
    return analyse_metric(_CONVERSION, stats, _ANALYSIS, HOLDOUT)


def trigger_uplift(store: Store, since: datetime | None = None) -> dict[str, TriggerUplift]:
    """Every trigger's comparison of shown against held-out units (decided since ``since``)."""
    arms = trigger_arms(store, since)
    return {t: uplift_of(t, arms) for t in dict.fromkeys(a.trigger_id for a in arms)}
