"""Fixed-horizon frequentist comparisons on sufficient statistics.

Every test compares a variant ``b`` with the control ``a`` through each one's ``Moments``: the
units ``n``, the (possibly CUPED-adjusted) mean, the per-unit variance and the unadjusted mean.

- Welch's t-test on the difference of means, ``Δ = m_b - m_a`` with ``Var = v_b/n_b + v_a/n_a``
  and the Welch–Satterthwaite degrees of freedom (as gbstats' ``TwoSidedTTest`` with
  ``difference_type="absolute"``);
- the relative lift ``(m_b - m_a) / m_a`` by the delta method,
  ``Var = v_b/(m_a² n_b) + v_a m_b²/(m_a⁴ n_a)`` with the same degrees of freedom (gbstats'
  ``TwoSidedTTest`` with ``difference_type="relative"``; ``m`` in the variance is unadjusted);
- two independent proportions: the pooled z-test of no difference and the unpooled Wald interval
  (statsmodels' ``test_proportions_2indep(method="score", correction=False)`` — which is the pooled
  z-test at a difference of 0 — and ``confint_proportions_2indep(method="wald")``);
- the per-unit moments of a mean, a proportion (variance p(1-p), as gbstats' ``ProportionStatistic``)
  and a ratio of sums by the delta method (gbstats' ``RatioStatistic``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as st

from shopmind.experiments._report import Interval
from shopmind.experiments._sufficient import VariantStats


@dataclass(frozen=True)
class Moments:
    """What a test needs of one variant: ``n`` units, the mean per unit (CUPED-adjusted when
    adjusted), the per-unit variance of that mean's terms, and the unadjusted mean (the base of a
    relative lift)."""

    n: int
    mean: float
    variance: float
    unadjusted_mean: float

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.variance / self.n) if self.n > 0 and self.variance > 0 else 0.0


@dataclass(frozen=True)
class FixedOutcome:
    """A fixed-horizon comparison: the estimate with its interval, the two-sided p-value of no
    difference, and the variance of the estimate (for the sequential and Bayesian views)."""

    interval: Interval
    p_value: float
    variance: float
    dof: float


def mean_moments(s: VariantStats) -> Moments:
    """A mean per unit: the sample variance (n - 1)."""
    return Moments(s.n, s.mean, s.variance, s.mean)


def proportion_moments(s: VariantStats) -> Moments:
    """A share of units (x is 0/1): variance p(1 - p), as gbstats' ``ProportionStatistic``."""
    p = s.mean
    return Moments(s.n, p, max(p * (1.0 - p), 0.0), p)


def _sample_var(n: int, total: float, squares: float) -> float:
    if n < 2:
        return 0.0
    return (squares - total * total / n) / (n - 1)


def ratio_moments(s: VariantStats) -> Moments:
    """A ratio of sums Σx/Σd (order value = revenue / orders) per unit by the delta method, as
    gbstats' ``RatioStatistic``: with M, D the per-unit means of x and d,
    ``Var = Vx/D² - 2 Cov(x,d) M/D³ + M² Vd/D⁴``."""
    if s.d_sum is None or s.d_sum_squares is None or s.x_d_sum is None:
        raise ValueError("a ratio metric needs d_sum, d_sum_squares and x_d_sum")
    n = s.n
    ratio = s.sum / s.d_sum if s.d_sum != 0 else 0.0
    if n < 2 or s.d_sum == 0:
        return Moments(n, ratio, 0.0, ratio)
    m, d = s.sum / n, s.d_sum / n
    vx = _sample_var(n, s.sum, s.sum_squares)
    vd = _sample_var(n, s.d_sum, s.d_sum_squares)
    cov = (s.x_d_sum - s.sum * s.d_sum / n) / (n - 1)
    var = vx / d**2 - 2.0 * cov * m / d**3 + m**2 * vd / d**4
    return Moments(n, ratio, var, ratio)


# --- kernels: numpy arrays of many comparisons at once (the simulations run thousands of
# experiments through these); the functions below wrap them for one comparison ---------------


def welch_dof_arrays(var_a: Any, n_a: Any, var_b: Any, n_b: Any) -> np.ndarray:
    """Welch–Satterthwaite degrees of freedom (inf when neither side varies: a normal)."""
    var_a, n_a, var_b, n_b = (np.asarray(v, dtype=float) for v in (var_a, n_a, var_b, n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        ea, eb = var_a / n_a, var_b / n_b
        den = np.where(n_a > 1, ea * ea / (n_a - 1), 0.0) + np.where(n_b > 1, eb * eb / (n_b - 1), 0.0)
        return np.where(den > 0, (ea + eb) ** 2 / np.where(den > 0, den, 1.0), np.inf)


def t_test_arrays(estimate: Any, variance: Any, dof: Any, alpha: float) -> tuple[np.ndarray, ...]:
    """Two-sided t-test of 0 and interval: (low, high, p); inf degrees of freedom is a normal."""
    estimate, variance = np.asarray(estimate, dtype=float), np.asarray(variance, dtype=float)
    se = np.sqrt(np.maximum(variance, 0.0))
    crit = st.t.ppf(1.0 - alpha / 2.0, dof)
    with np.errstate(divide="ignore", invalid="ignore"):
        # t.sf(|z|) rather than 1 - cdf: the same where both are exact, no underflow to 0 beyond
        p = np.minimum(2.0 * st.t.sf(np.abs(estimate / se), dof), 1.0)
    return estimate - crit * se, estimate + crit * se, p


def relative_variance_arrays(
    mean_a: Any, var_a: Any, n_a: Any, mean_b: Any, var_b: Any, n_b: Any
) -> np.ndarray:
    """The delta method's variance of (m_b - m_a)/m_a (on the unadjusted means, as gbstats)."""
    ma, mb = np.asarray(mean_a, dtype=float), np.asarray(mean_b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(var_b / (ma * ma * n_b) + var_a * mb * mb / (ma**4 * n_a))


def two_proportions_arrays(
    count_a: Any, n_a: Any, count_b: Any, n_b: Any, alpha: float
) -> tuple[np.ndarray, ...]:
    """p_b - p_a: (difference, Wald low, Wald high, pooled z-test p, Wald variance)."""
    ca, na, cb, nb = (np.asarray(v, dtype=float) for v in (count_a, n_a, count_b, n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        pa, pb = ca / na, cb / nb
        pooled = (ca + cb) / (na + nb)
        null_var = pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)
        wald_var = np.maximum(pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb, 0.0)
        diff = pb - pa
        p = np.minimum(2.0 * st.norm.sf(np.abs(diff) / np.sqrt(null_var)), 1.0)
    half = st.norm.ppf(1.0 - alpha / 2.0) * np.sqrt(wald_var)
    return diff, diff - half, diff + half, p, wald_var


def _outcome(estimate: float, variance: float, dof: float, alpha: float) -> FixedOutcome:
    low, high, p = t_test_arrays(estimate, variance, dof, alpha)
    return FixedOutcome(Interval(estimate, float(low), float(high)), float(p), variance, dof)


def welch_dof(a: Moments, b: Moments) -> float:
    return float(welch_dof_arrays(a.variance, a.n, b.variance, b.n))


def welch_absolute(a: Moments, b: Moments, alpha: float) -> FixedOutcome | None:
    """The difference of means (variant - control) by Welch's t-test; None when neither side
    varies or a side has fewer than two units."""
    if a.n < 2 or b.n < 2:
        return None
    variance = b.variance / b.n + a.variance / a.n
    if not variance > 0:
        return None
    return _outcome(b.mean - a.mean, variance, welch_dof(a, b), alpha)


def relative_variance(a: Moments, b: Moments) -> float:
    return float(
        relative_variance_arrays(a.unadjusted_mean, a.variance, a.n, b.unadjusted_mean, b.variance, b.n)
    )


def welch_relative(a: Moments, b: Moments, alpha: float) -> FixedOutcome | None:
    """The relative lift (m_b - m_a)/m_a with its delta-method interval and Welch's degrees of
    freedom; None when the control's mean is 0, a side has fewer than two units or nothing varies."""
    if a.n < 2 or b.n < 2 or a.mean == 0 or a.unadjusted_mean == 0:
        return None
    variance = relative_variance(a, b)
    if not variance > 0 or not math.isfinite(variance):
        return None
    return _outcome((b.mean - a.mean) / a.unadjusted_mean, variance, welch_dof(a, b), alpha)


def two_proportions(count_a: float, n_a: int, count_b: float, n_b: int, alpha: float) -> FixedOutcome | None:
    """p_b - p_a: the pooled z-test's p-value and the unpooled Wald interval; None when a side has
    no units or no unit varies (nobody or everybody converted on both sides)."""
    if n_a < 1 or n_b < 1:
        return None
    pooled = (count_a + count_b) / (n_a + n_b)
    if not 0.0 < pooled < 1.0:
        return None
    diff, low, high, p, var = two_proportions_arrays(count_a, n_a, count_b, n_b, alpha)
    return FixedOutcome(Interval(float(diff), float(low), float(high)), float(p), float(var), math.inf)


def mean_interval(m: Moments, alpha: float, *, normal: bool = False) -> Interval | None:
    """One variant's mean with its interval (t with n - 1 degrees of freedom; normal for shares
    and ratios); None below two units."""
    if m.n < 2:
        return None
    se = m.standard_error
    q = st.norm.ppf(1 - alpha / 2) if normal else st.t.ppf(1 - alpha / 2, m.n - 1)
    return Interval(m.mean, m.mean - float(q) * se, m.mean + float(q) * se)
