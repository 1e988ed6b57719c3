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
from typing import Any

import numpy as np

from shopmind.experiments._report import Interval


def mixture_rho(alpha: float, tuning: float) -> float:
    return math.sqrt((-2.0 * math.log(alpha) + math.log(-2.0 * math.log(alpha) + 1.0)) / tuning)


def sequential_arrays(
    estimate: Any, variance: Any, units: Any, alpha: float, tuning: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, p) of many estimates at once (numpy arrays; see ``sequential_interval``)."""
    est, var, n = (np.asarray(v, dtype=float) for v in (estimate, variance, units))
    rho = mixture_rho(alpha, tuning)
    nr = n * rho * rho + 1.0
    half = np.sqrt(var * n) * np.sqrt(2.0 * nr * np.log(np.sqrt(nr) / alpha) / (n * rho) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_e = rho * rho * (est * est * n / var) / (2.0 * nr) - 0.5 * np.log(nr)
    p = np.where(log_e > 0, np.exp(-np.maximum(log_e, 0.0)), 1.0)
    return est - half, est + half, p


def sequential_interval(
    estimate: float, variance: float, units: int, alpha: float, tuning: float
) -> tuple[Interval, float]:
    """The always-valid interval and p-value of an estimate with ``variance`` (of the estimate,
    not per unit) after ``units`` units in total."""
    low, high, p = sequential_arrays(estimate, variance, units, alpha, tuning)
    return Interval(estimate, float(low), float(high)), float(p)
