"""CUPED (Deng, Xu, Kohavi & Walker 2013): subtract from each unit's metric ``x`` the part its own
pre-exposure value ``p`` predicts, ``x - θ p``. Randomisation makes ``p`` independent of the
variant, so the difference of adjusted means estimates the same effect, with less variance.

- ``θ = Cov(x, p) / Var(p)`` over the units of all the variants compared, pooled (one θ for every
  variant, so that the adjusted means can be compared with each other); with one control and one
  variant this is gbstats' ``compute_theta``;
- per variant, the adjusted mean ``x̄ - θ p̄`` and the per-unit variance
  ``Var(x) + θ² Var(p) - 2θ Cov(x, p)`` (gbstats' ``RegressionAdjustedStatistic``);
- at the pooled θ each variant's variance is ``Var(x)(1 - ρ²)`` when the variants share one
  correlation ρ: the variance removed is ρ² of it.

A proportion (conversion) keeps the variance p(1 - p), as gbstats' ``ProportionStatistic``; the
pre-period value is a proportion too when it is 0/1 (Σp² = Σp).
"""

from __future__ import annotations

from collections.abc import Sequence

from shopmind.experiments._frequentist import Moments
from shopmind.experiments._sufficient import VariantStats


def _var(n: int, total: float, squares: float, proportion: bool) -> float:
    if n < 2 and not proportion:
        return 0.0
    if n == 0:
        return 0.0
    if proportion:
        p = total / n
        return p * (1.0 - p)
    return (squares - total * total / n) / (n - 1)


def _is_binary_pre(s: VariantStats) -> bool:
    return (
        s.pre_sum is not None and s.pre_sum_squares is not None and abs(s.pre_sum - s.pre_sum_squares) < 1e-9
    )


def pooled_theta(stats: Sequence[VariantStats], proportion: bool) -> float:
    """θ over all the variants' units; 0 when the pre- or post-period values do not vary (then
    CUPED changes nothing and is left off, as gbstats does)."""
    if not stats or not all(s.has_pre for s in stats):
        return 0.0
    n = sum(s.n for s in stats)
    if n < 2:
        return 0.0
    x_sum = sum(s.sum for s in stats)
    x_sq = sum(s.sum_squares for s in stats)
    p_sum = sum(float(s.pre_sum or 0.0) for s in stats)
    p_sq = sum(float(s.pre_sum_squares or 0.0) for s in stats)
    xp = sum(float(s.post_pre_sum or 0.0) for s in stats)
    pre_binary = proportion and all(_is_binary_pre(s) for s in stats)
    var_x = _var(n, x_sum, x_sq, proportion)
    var_p = _var(n, p_sum, p_sq, pre_binary)
    if var_x <= 0 or var_p <= 0:
        return 0.0
    cov = (xp - x_sum * p_sum / n) / (n - 1)
    return cov / var_p


def adjusted_moments(s: VariantStats, theta: float, proportion: bool, pre_binary: bool) -> Moments:
    """One variant's CUPED-adjusted mean and per-unit variance at ``theta``; the unadjusted mean
    stays the base of the relative lift."""
    n = s.n
    mean_x = s.sum / n if n else 0.0
    mean_p = float(s.pre_sum or 0.0) / n if n else 0.0
    var_x = _var(n, s.sum, s.sum_squares, proportion)
    if n < 2:
        return Moments(n, mean_x - theta * mean_p, 0.0, mean_x)
    var_p = _var(n, float(s.pre_sum or 0.0), float(s.pre_sum_squares or 0.0), pre_binary)
    cov = (float(s.post_pre_sum or 0.0) - s.sum * float(s.pre_sum or 0.0) / n) / (n - 1)
    variance = var_x + theta * theta * var_p - 2.0 * theta * cov
    return Moments(n, mean_x - theta * mean_p, max(variance, 0.0), mean_x)


def cuped_moments(stats: Sequence[VariantStats], proportion: bool) -> tuple[float, list[Moments]] | None:
    """θ and every variant's adjusted moments, or None when CUPED cannot help (no pre-exposure
    sums, or nothing varies)."""
    theta = pooled_theta(stats, proportion)
    if theta == 0.0:
        return None
    pre_binary = proportion and all(_is_binary_pre(s) for s in stats)
    return theta, [adjusted_moments(s, theta, proportion, pre_binary) for s in stats]
