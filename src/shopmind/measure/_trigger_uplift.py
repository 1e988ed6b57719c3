"""What an on-site trigger adds: the conversion rate of the units shown it against that of the units
held out (they qualified and were shown nothing), and the difference with its interval.

A rate without a comparison says little: a trigger that converted its one visitor "converts
100%", and a coupon popup shown to people already at the checkout converts well whether or not it
does anything. The holdout (``Trigger.holdout``, 10% by default) answers what would have happened
without it.

The report is :func:`shopmind.measure.experiment_results` of the trigger's implicit experiment
``trigger:<id>`` (variants ``holdout``, the control, and ``shown``; one metric: conversion, a
verified order within :data:`WINDOW_DAYS` of the unit's first exposure), so ``/v1/triggers``,
the dashboard and ``experiment_results('trigger:<id>')`` say the same: units resolved to
today's profiles (a visitor before and after logging in is one unit), orders the shop's server
or an import confirmed (a browser's ``order_completed`` is a claim anyone can post)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shopmind.experiments import (
    Analysis,
    Experiment,
    ExperimentResult,
    Metric,
    MetricResult,
    PlacementPoint,
    Variant,
    VariantStats,
    analyse_metric,
)
from shopmind.measure._results import experiment_results
from shopmind.onsite import Trigger
from shopmind.store import TRIGGER_EXPERIMENT, ArmCount, Store

SHOWN, HOLDOUT = "shown", "holdout"
#: a trigger's conversion: a verified order within a week of the unit's first exposure
WINDOW_DAYS = 7
DEFAULT_HOLDOUT = 0.1
_CONVERSION = Metric(name="conversion", kind="conversion", window_days=WINDOW_DAYS)
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


def trigger_experiment(trigger_id: str, holdout: float = DEFAULT_HOLDOUT, placement: str = "*") -> Experiment:
    """The implicit experiment of a trigger's default holdout: ``holdout`` (the control) against
    ``shown``, conversion within :data:`WINDOW_DAYS`, always-valid intervals, no CUPED."""
    return Experiment(
        id=f"{TRIGGER_EXPERIMENT}{trigger_id}",
        name=trigger_id,
        point=PlacementPoint(placement=placement, trigger=trigger_id),
        variants=[Variant(HOLDOUT, share=holdout), Variant(SHOWN, share=1.0 - holdout)],
        metrics=[_CONVERSION],
        analysis=_ANALYSIS,
    )


def _from_result(trigger_id: str, result: ExperimentResult) -> TriggerUplift:
    counts = dict(result.srm.observed) if result.srm is not None else {}
    metric = result.metrics[0] if result.metrics else None
    converted = {
        v.variant: round(v.value * v.units)
        for v in (metric.variants if metric else [])
        if v.value is not None
    }
    shown = Arm(int(counts.get(SHOWN, 0)), converted.get(SHOWN, 0))
    holdout = Arm(int(counts.get(HOLDOUT, 0)), converted.get(HOLDOUT, 0))
    note = None
    if not holdout.units:
        note = "not enough data: nobody held out yet"
    elif not shown.units:
        note = "not enough data: nobody shown yet"
    elif metric is None:  # hidden: e.g. the SRM check flagged the split
        note = "; ".join(result.notes) or "not enough data"
    elif metric.note:
        note = metric.note
    return TriggerUplift(trigger_id, shown, holdout, metric, note)


def trigger_uplift(
    store: Store, triggers: Iterable[Trigger] | None = None, *, as_of: datetime | None = None
) -> dict[str, TriggerUplift]:
    """Every trigger's comparison of shown against held-out units, as
    ``experiment_results(store, trigger_experiment(...))`` computes it. ``triggers`` gives each
    its holdout share (for the SRM check) and placement; a trigger not among them (or all, when
    None) is taken with the default 10%."""
    known = {t.id: t for t in triggers or ()}
    ids = [
        str(e)[len(TRIGGER_EXPERIMENT) :]
        for (e,) in store.sql(
            """SELECT DISTINCT experiment_id FROM (
                SELECT experiment_id FROM exposures UNION ALL SELECT experiment_id FROM decisions
            ) WHERE starts_with(experiment_id, ?) ORDER BY 1""",
            [TRIGGER_EXPERIMENT],
        )
    ]
    found: dict[str, TriggerUplift] = {}
    for trigger_id in ids:
        trigger = known.get(trigger_id)
        # a trigger whose holdout was turned off keeps its past comparison at the default share
        share = trigger.holdout if trigger is not None and trigger.holdout > 0 else DEFAULT_HOLDOUT
        placement = trigger.placement if trigger is not None else "*"
        experiment = trigger_experiment(trigger_id, share, placement)
        found[trigger_id] = _from_result(trigger_id, experiment_results(store, experiment, as_of=as_of))
    return found
