"""An experiment's results from its sufficient statistics: for each metric, each variant's value
and each variant against the control — fixed-horizon (Welch; two proportions for conversion; the
delta method for relative lifts and ratios), always-valid (mSPRT), Bayesian (beta-binomial for
conversion, normal otherwise), CUPED when the pre-exposure sums are there — then Holm's
correction over the goal's and the guardrails' comparisons, and the SRM check.

Never NaN, never a crash on thin data: what cannot be estimated is None with a note beginning
"not enough data" (no units, a variant without units, no conversions, nothing varies).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from scipy import stats as st

from shopmind.core import FieldError, InvalidInputError
from shopmind.experiments._bayesian import BayesianOutcome, beta_binomial, gaussian_effect
from shopmind.experiments._cuped import cuped_moments
from shopmind.experiments._definition import Analysis, Experiment, Metric
from shopmind.experiments._frequentist import (
    FixedOutcome,
    Moments,
    mean_interval,
    mean_moments,
    proportion_moments,
    ratio_moments,
    two_proportions,
    welch_absolute,
    welch_relative,
)
from shopmind.experiments._multiple import holm
from shopmind.experiments._report import Comparison, Interval, MetricResult, SrmCheck, VariantSummary
from shopmind.experiments._sequential import sequential_interval
from shopmind.experiments._srm import srm_check
from shopmind.experiments._sufficient import VariantStats

NOT_ENOUGH = "not enough data"


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _finite_interval(i: Interval | None) -> Interval | None:
    if i is None or not all(math.isfinite(v) for v in (i.estimate, i.low, i.high)):
        return None
    return i


def wilson_interval(successes: float, n: int, alpha: float = 0.05) -> Interval | None:
    """A rate's own interval: the share ``successes / n`` with Wilson's score interval (Wilson
    1927), which stays within [0, 1] and keeps its coverage on small groups and rare events,
    where the normal (Wald) interval runs below 0 %. The estimate is the plain share; the
    interval is not centred on it. None without units. (Comparisons between variants keep
    their own methods.)"""
    if n <= 0:
        return None
    if not 0 < alpha < 1:
        raise InvalidInputError([FieldError("alpha", "must lie strictly between 0 and 1")])
    p = min(max(successes / n, 0.0), 1.0)
    z = float(st.norm.ppf(1 - alpha / 2))
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    # the bounds are exactly 0 at p = 0 and 1 at p = 1: say so, not the formula's rounding
    low = 0.0 if p == 0.0 else max(0.0, min(p, centre - half))
    high = 1.0 if p == 1.0 else min(1.0, max(p, centre + half))
    return Interval(p, low, high)


def _is_ratio(metric: Metric, stats: Sequence[VariantStats]) -> bool:
    return metric.kind == "order_value" or (bool(stats) and all(s.is_ratio for s in stats))


def _moments(metric: Metric, stats: Sequence[VariantStats], ratio: bool) -> list[Moments]:
    if ratio:
        return [ratio_moments(s) for s in stats]
    if metric.kind == "conversion":
        return [proportion_moments(s) for s in stats]
    return [mean_moments(s) for s in stats]


def _empty_comparison(variant: str, control: str, note: str) -> Comparison:
    return Comparison(
        variant=variant,
        control=control,
        absolute=None,
        relative=None,
        p_value=None,
        adjusted_p_value=None,
        sequential=None,
        sequential_p_value=None,
        chance_to_beat_control=None,
        expected_loss=None,
        cuped=False,
        variance_reduction=None,
        decision="inconclusive",
        note=note,
    )


def _thin_reason(metric: Metric, a: VariantStats, b: VariantStats, ratio: bool) -> str | None:
    """Why a comparison cannot be made, before any arithmetic; None when it can be tried."""
    if a.n == 0 and b.n == 0:
        return f"{NOT_ENOUGH}: no units exposed yet"
    if a.n == 0:
        return f"{NOT_ENOUGH}: no units in the control ({a.variant}) yet"
    if b.n == 0:
        return f"{NOT_ENOUGH}: no units in {b.variant} yet"
    if a.n < 2 or b.n < 2:
        return f"{NOT_ENOUGH}: fewer than 2 units in {a.variant if a.n < 2 else b.variant}"
    if metric.kind == "conversion" and a.sum == 0 and b.sum == 0:
        return f"{NOT_ENOUGH}: no conversions yet"
    if ratio and (not a.d_sum or not b.d_sum):
        return f"{NOT_ENOUGH}: no {metric.name} denominator (e.g. orders) in {a.variant if not a.d_sum else b.variant}"
    return None


def _compare(
    metric: Metric,
    analysis: Analysis,
    a: VariantStats,
    b: VariantStats,
    ma: Moments,
    mb: Moments,
    raw_a: Moments,
    raw_b: Moments,
    cuped: bool,
    ratio: bool,
) -> Comparison:
    reason = _thin_reason(metric, a, b, ratio)
    if reason is not None:
        return _empty_comparison(b.variant, a.variant, reason)
    alpha = analysis.alpha
    proportion = metric.kind == "conversion" and not ratio
    absolute: FixedOutcome | None
    if proportion and not cuped:
        absolute = two_proportions(a.sum, a.n, b.sum, b.n, alpha)
    else:
        absolute = welch_absolute(ma, mb, alpha)
    relative = welch_relative(ma, mb, alpha)
    if absolute is None:
        return _empty_comparison(b.variant, a.variant, f"{NOT_ENOUGH}: no variation in {metric.name} yet")

    sequential: Interval | None = None
    sequential_p: float | None = None
    if analysis.sequential:
        units = a.n + b.n
        if relative is not None:
            seq_i, sequential_p = sequential_interval(
                relative.interval.estimate, relative.variance, units, alpha, analysis.sequential_tuning
            )
            sequential = seq_i
        else:
            # the control's value is 0: no relative lift, but the difference still has a
            # sequential p-value (the same mixture on the absolute scale)
            _, sequential_p = sequential_interval(
                absolute.interval.estimate, absolute.variance, units, alpha, analysis.sequential_tuning
            )

    bayes: BayesianOutcome | None
    if proportion and not cuped:
        bayes = beta_binomial(a.sum, a.n, b.sum, b.n, lower_is_better=metric.lower_is_better)
    else:
        bayes = gaussian_effect(
            absolute.interval.estimate, absolute.variance, lower_is_better=metric.lower_is_better
        )

    reduction: float | None = None
    if cuped:
        raw_var = raw_b.variance / raw_b.n + raw_a.variance / raw_a.n
        if raw_var > 0:
            reduction = 1.0 - absolute.variance / raw_var
    return Comparison(
        variant=b.variant,
        control=a.variant,
        absolute=_finite_interval(absolute.interval),
        relative=_finite_interval(relative.interval) if relative is not None else None,
        p_value=_finite(absolute.p_value),
        adjusted_p_value=None,
        sequential=_finite_interval(sequential),
        sequential_p_value=_finite(sequential_p),
        chance_to_beat_control=_finite(bayes.chance_to_beat_control) if bayes else None,
        expected_loss=_finite(bayes.expected_loss) if bayes else None,
        cuped=cuped,
        variance_reduction=_finite(reduction),
        decision="inconclusive",
    )


def _check_stats(metric: Metric, stats: Sequence[VariantStats]) -> None:
    """Sums that no store can produce are a bug upstream: say which, rather than compute NaN."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, s in enumerate(stats):
        where = f"stats[{i}]"
        if s.variant in seen:
            errors.append(FieldError(f"{where}.variant", f"{s.variant!r} appears twice"))
        seen.add(s.variant)
        if s.n < 0:
            errors.append(FieldError(f"{where}.n", "units must be at least 0"))
        sums = {k: v for k, v in dataclasses.asdict(s).items() if k not in ("variant", "n") and v is not None}
        for name, value in sums.items():
            if not math.isfinite(value):
                errors.append(FieldError(f"{where}.{name}", "must be a finite number"))
        if metric.kind == "conversion" and math.isfinite(s.sum) and not 0 <= s.sum <= s.n:
            errors.append(FieldError(f"{where}.sum", "conversions must be from 0 to the units"))
    if errors:
        raise InvalidInputError(errors)


def _metric_result(
    metric: Metric, stats: Sequence[VariantStats], analysis: Analysis, control: str
) -> MetricResult:
    _check_stats(metric, stats)
    stats = list(stats)
    names = [s.variant for s in stats]
    if control not in names:
        # a control without a single exposure may come without a row at all
        stats.insert(0, VariantStats(control, 0, 0.0, 0.0))
    ratio = _is_ratio(metric, stats)
    raw = _moments(metric, stats, ratio)
    moments = raw
    cuped = False
    theta_moments = None
    if analysis.cuped and not ratio and all(s.has_pre for s in stats):
        theta_moments = cuped_moments(stats, proportion=metric.kind == "conversion")
    if theta_moments is not None:
        cuped = True
        moments = theta_moments[1]

    summaries = []
    for s, m_raw, m in zip(stats, raw, moments, strict=True):
        if metric.kind == "conversion" and not ratio:
            # a variant's own rate: Wilson's interval, never below 0 % on a small group
            interval = wilson_interval(s.sum, s.n, analysis.alpha)
        else:
            interval = mean_interval(m_raw, analysis.alpha, normal=ratio)
        summaries.append(
            VariantSummary(
                variant=s.variant,
                units=s.n,
                value=_finite(m_raw.mean) if s.n > 0 else None,
                interval=_finite_interval(interval),
                adjusted_value=_finite(m.mean) if cuped and s.n > 0 else None,
            )
        )
    ci = next(i for i, s in enumerate(stats) if s.variant == control)
    comparisons = [
        _compare(metric, analysis, stats[ci], s, moments[ci], moments[i], raw[ci], raw[i], cuped, ratio)
        for i, s in enumerate(stats)
        if i != ci
    ]
    note: str | None = None
    if sum(s.n for s in stats) == 0:
        note = f"{NOT_ENOUGH}: no units exposed yet"
    elif metric.kind == "conversion" and all(s.sum == 0 for s in stats):
        note = f"{NOT_ENOUGH}: no conversions yet"
    elif comparisons and all(c.absolute is None for c in comparisons):
        note = comparisons[0].note
    return MetricResult(
        metric=metric.name,
        kind=metric.kind,
        guardrail=metric.guardrail,
        variants=summaries,
        comparisons=comparisons,
        note=note,
    )


def _decide(c: Comparison, adjusted_seq: float | None, analysis: Analysis, lower_is_better: bool) -> str:
    p = adjusted_seq if analysis.sequential else c.adjusted_p_value
    if p is None or p >= analysis.alpha:
        return "inconclusive"
    effect = c.absolute.estimate if c.absolute is not None else 0.0
    if effect == 0:
        return "inconclusive"
    up = effect > 0
    return "better" if up != lower_is_better else "worse"


def _apply_holm(
    results: list[MetricResult], metrics: Sequence[Metric], family: set[str], analysis: Analysis
) -> list[MetricResult]:
    """Holm over the comparisons of the metrics in ``family`` together, and over each other
    metric's comparisons alone; then each comparison's decision."""
    groups: list[list[tuple[int, int]]] = []
    joint = [
        (mi, ci) for mi, r in enumerate(results) if r.metric in family for ci in range(len(r.comparisons))
    ]
    groups.append(joint)
    for mi, r in enumerate(results):
        if r.metric not in family:
            groups.append([(mi, ci) for ci in range(len(r.comparisons))])
    adjusted: dict[tuple[int, int], tuple[float | None, float | None]] = {}
    for group in groups:
        with_p = [k for k in group if results[k[0]].comparisons[k[1]].p_value is not None]
        fixed = holm([results[mi].comparisons[ci].p_value or 0.0 for mi, ci in with_p])
        with_seq = [k for k in group if results[k[0]].comparisons[k[1]].sequential_p_value is not None]
        seq = holm([results[mi].comparisons[ci].sequential_p_value or 0.0 for mi, ci in with_seq])
        for k in group:
            adjusted[k] = (None, None)
        for k, p in zip(with_p, fixed, strict=True):
            adjusted[k] = (p, adjusted[k][1])
        for k, p in zip(with_seq, seq, strict=True):
            adjusted[k] = (adjusted[k][0], p)
    by_name = {m.name: m for m in metrics}
    out = []
    for mi, r in enumerate(results):
        metric = by_name[r.metric]
        comparisons = []
        for ci, c in enumerate(r.comparisons):
            adj, adj_seq = adjusted[(mi, ci)]
            c = dataclasses.replace(c, adjusted_p_value=adj)
            if c.note is None:
                c = dataclasses.replace(c, decision=_decide(c, adj_seq, analysis, metric.lower_is_better))
            comparisons.append(c)
        out.append(dataclasses.replace(r, comparisons=comparisons))
    return out


def analyse_metric(
    metric: Metric, stats: Sequence[VariantStats], analysis: Analysis, control: str
) -> MetricResult:
    """One metric's result: each variant (in the order given) and each against ``control``, with
    Holm's correction over this metric's comparisons (``analyse_experiment`` corrects over the
    goal and the guardrails together). Raises ``InvalidInputError`` naming the sums that cannot
    be (negative units, non-finite sums, more conversions than units, a variant twice)."""
    result = _metric_result(metric, stats, analysis, control)
    return _apply_holm([result], [metric], {metric.name}, analysis)[0]


def analyse_experiment(
    experiment: Experiment,
    stats_by_metric: Mapping[str, Sequence[VariantStats]],
    counts: Mapping[str, int],
) -> tuple[SrmCheck, list[MetricResult]]:
    """The SRM check of the units per variant and every declared metric's result, in the
    experiment's order. Holm's correction runs over all comparisons of the goal (the first metric)
    and the guardrails together; other metrics are corrected over their own variants. A bandit
    moves traffic on purpose: its SRM check is not a test (not flagged)."""
    analysis = experiment.analysis
    shares = dict(zip(experiment.variant_names, experiment.shares(), strict=True))
    if experiment.policy.kind == "fixed":
        srm = srm_check(counts, shares, analysis.srm_p)
    else:
        srm = SrmCheck({v: int(counts.get(v, 0)) for v in shares}, shares, None, None, False)
    control = experiment.control.name
    results = []
    for metric in experiment.metrics:
        stats = stats_by_metric.get(metric.name)
        if stats is None:
            results.append(
                MetricResult(
                    metric.name, metric.kind, metric.guardrail, [], [], note=f"{NOT_ENOUGH}: not measured"
                )
            )
            continue
        results.append(_metric_result(metric, stats, analysis, control))
    family = {experiment.metrics[0].name} | {m.name for m in experiment.metrics if m.guardrail}
    return srm, _apply_holm(results, experiment.metrics, family, analysis)
