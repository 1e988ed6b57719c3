"""Always-valid inference (the mixture sequential probability ratio test): an interval and a
p-value that stay valid however often, and whenever, one looks — the marketer who checks every
morning and stops on the first good day keeps the error rate at alpha.

With a normal estimate ``Δ`` whose variance is ``σ²/N`` (``N`` = units of both arms), the
asymptotic confidence sequence of Waudby-Smith et al. (2023, eq. 9) is
``Δ ± σ √( 2(Nρ² + 1) / (N²ρ²) · log(√(Nρ² + 1) / α) )``, with the mixture's ``ρ`` tuned so the
boundary is tightest at ``N = n*`` (the expected units, ``analysis.sequential_tuning``):
``ρ = √( (-2 log α + log(-2 log α + 1)) / n* )`` (their eq. 161). The p-value is the reciprocal of
the e-value ``exp(ρ² N Δ²/σ² / (2(Nρ² + 1))) / √(Nρ² + 1)`` (eq. 155), capped at 1; it is below α
exactly when the interval leaves 0 out. These are gbstats' ``SequentialTwoSidedTTest`` formulas."""

from __future__ import annotations

import math

from shopmind.experiments._report import Interval


def mixture_rho(alpha: float, tuning: float) -> float:
    return math.sqrt((-2.0 * math.log(alpha) + math.log(-2.0 * math.log(alpha) + 1.0)) / tuning)


def sequential_interval(
    estimate: float, variance: float, units: int, alpha: float, tuning: float
) -> tuple[Interval, float]:
    """The always-valid interval and p-value of an estimate with ``variance`` (of the estimate,
    not per unit) after ``units`` units in total."""
    n = float(units)
    rho = mixture_rho(alpha, tuning)
    s2 = variance * n
    nr = n * rho * rho + 1.0
    half = math.sqrt(s2) * math.sqrt(2.0 * nr * math.log(math.sqrt(nr) / alpha) / (n * rho) ** 2)
    st2 = estimate * estimate * n / variance
    log_e = rho * rho * st2 / (2.0 * nr) - 0.5 * math.log(nr)
    p = 1.0 if log_e <= 0 else math.exp(-log_e)
    return Interval(estimate, estimate - half, estimate + half), min(p, 1.0)
