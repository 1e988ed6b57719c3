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
class TestOutcome:
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


def welch_dof(a: Moments, b: Moments) -> float:
    """Welch–Satterthwaite degrees of freedom (inf when neither side varies: a normal)."""
    ea, eb = a.variance / a.n, b.variance / b.n
    den = 0.0
    if a.n > 1:
        den += ea * ea / (a.n - 1)
    if b.n > 1:
        den += eb * eb / (b.n - 1)
    if den <= 0:
        return math.inf
    return (ea + eb) ** 2 / den


def _t_test(estimate: float, variance: float, dof: float, alpha: float) -> TestOutcome:
    se = math.sqrt(variance)
    crit = (
        float(st.t.ppf(1.0 - alpha / 2.0, dof)) if math.isfinite(dof) else float(st.norm.ppf(1 - alpha / 2))
    )
    z = estimate / se
    # t.sf(|z|) rather than 1 - cdf: the same number where both are exact, no underflow to 0 below
    p = 2.0 * float(st.t.sf(abs(z), dof) if math.isfinite(dof) else st.norm.sf(abs(z)))
    return TestOutcome(
        Interval(estimate, estimate - crit * se, estimate + crit * se), min(p, 1.0), variance, dof
    )


def welch_absolute(a: Moments, b: Moments, alpha: float) -> TestOutcome | None:
    """The difference of means (variant - control) by Welch's t-test; None when neither side
    varies or a side has fewer than two units."""
    if a.n < 2 or b.n < 2:
        return None
    variance = b.variance / b.n + a.variance / a.n
    if not variance > 0:
        return None
    return _t_test(b.mean - a.mean, variance, welch_dof(a, b), alpha)


def relative_variance(a: Moments, b: Moments) -> float:
    """The delta method's variance of (m_b - m_a)/m_a, on the unadjusted means (gbstats)."""
    ma, mb = a.unadjusted_mean, b.unadjusted_mean
    return b.variance / (ma * ma * b.n) + a.variance * mb * mb / (ma**4 * a.n)


def welch_relative(a: Moments, b: Moments, alpha: float) -> TestOutcome | None:
    """The relative lift (m_b - m_a)/m_a with its delta-method interval and Welch's degrees of
    freedom; None when the control's mean is 0, a side has fewer than two units or nothing varies."""
    if a.n < 2 or b.n < 2 or a.mean == 0 or a.unadjusted_mean == 0:
        return None
    variance = relative_variance(a, b)
    if not variance > 0 or not math.isfinite(variance):
        return None
    estimate = (b.mean - a.mean) / a.unadjusted_mean
    return _t_test(estimate, variance, welch_dof(a, b), alpha)


def two_proportions(count_a: float, n_a: int, count_b: float, n_b: int, alpha: float) -> TestOutcome | None:
    """p_b - p_a: the pooled z-test's p-value and the unpooled Wald interval; None when a side has
    no units or no unit varies (nobody or everybody converted on both sides)."""
    if n_a < 1 or n_b < 1:
        return None
    pa, pb = count_a / n_a, count_b / n_b
    pooled = (count_a + count_b) / (n_a + n_b)
    null_var = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    wald_var = pa * (1.0 - pa) / n_a + pb * (1.0 - pb) / n_b
    if not null_var > 0:
        return None
    diff = pb - pa
    p = 2.0 * float(st.norm.sf(abs(diff) / math.sqrt(null_var)))
    z = float(st.norm.ppf(1.0 - alpha / 2.0))
    half = z * math.sqrt(max(wald_var, 0.0))
    return TestOutcome(Interval(diff, diff - half, diff + half), min(p, 1.0), wald_var, math.inf)


def mean_interval(m: Moments, alpha: float, *, normal: bool = False) -> Interval | None:
    """One variant's mean with its interval (t with n - 1 degrees of freedom; normal for shares
    and ratios); None below two units."""
    if m.n < 2:
        return None
    se = m.standard_error
    q = st.norm.ppf(1 - alpha / 2) if normal else st.t.ppf(1 - alpha / 2, m.n - 1)
    return Interval(m.mean, m.mean - float(q) * se, m.mean + float(q) * se)
