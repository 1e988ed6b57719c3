"""The Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987).

References:
    Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting Your Customers: Who Are
    They and What Will They Do Next? Management Science 33(1), 1-24. ("SMC 1987")
    Fader, P. S. & Hardie, B. G. S. (2005). A Note on Deriving the Pareto/NBD Model and Related
    Expressions. http://brucehardie.com/notes/009/ ("FH 2005": section 3 derives the likelihood,
    section 4 the mean, section 5 P(alive), section 6 the conditional expectation)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from scipy.special import digamma, expit, gammaln, hyp2f1, roots_legendre

from shopmind.models._base import TransactionModel
from shopmind.models._mle import FloatArray, distinct_rows

# below this |s - 1| the factor [1 - (β/(β+t))^(s-1)] / (s-1) is replaced by its limit log(1 + t/β)
_S_NEAR_ONE = 1e-10


def _log_a0(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, tx: FloatArray, T: FloatArray
) -> FloatArray:
    """log A0 of FH 2005 section 3 (the integral over the unobserved drop-out time).

    A0 = F(t_x) - F(T) with F(τ) = 2F1(r+s+x, c; r+s+x+1; |α-β|/(m+τ)) / (m+τ)^(r+s+x), where
    m = max(α, β) and c = s+1 when α >= β, c = r+x otherwise: ordering α and β this way keeps the
    argument of 2F1 in [0, 1). Each 2F1 goes through Euler's transformation,
    2F1(A, c; A+1; z) = (1-z)^(1-c) 2F1(1, A+1-c; A+1; z), whose series has terms bounded by z^k,
    so a customer with hundreds of purchases overflows neither the 2F1 nor its power.
    The difference is then taken in log space.
    """
    rsx = r + s + x
    if alpha >= beta:
        larger, c = alpha, s + 1.0 + np.zeros_like(x)
    else:
        larger, c = beta, r + x
    gap = abs(alpha - beta)

    def log_f(tau: FloatArray) -> FloatArray:
        # 2F1 once per distinct (x, τ): near its argument 1 (β far above α, as on Online Retail)
        # each costs some 30 µs, and customers share their (frequency, recency) pairs (2,798
        # buyers of Online Retail have 673 pairs and 623 (frequency, T) pairs); the values
        # are the same as row by row
        first, second, third, q = np.broadcast_arrays(rsx + 1.0 - c, rsx + 1.0, 1.0 - c, larger + tau)
        (b, c_, q_distinct), back = distinct_rows(first.ravel(), second.ravel(), q.ravel())
        series = np.log(hyp2f1(1.0, b, c_, gap / q_distinct))[back].reshape(q.shape)
        return np.asarray(third * np.log1p(-gap / q) + series - rsx * np.log(q), dtype=np.float64)

    at_recency, at_age = log_f(tx), log_f(T)
    with np.errstate(divide="ignore"):
        # F is decreasing in τ; where t_x == T the integral is empty and A0 = 0
        return np.asarray(
            at_recency + np.log(-np.expm1(np.minimum(at_age - at_recency, 0.0))), dtype=np.float64
        )


# Gauss-Legendre nodes per panel of the drop-out integral (up to four panels per customer)
_PANEL_NODES, _PANEL_WEIGHTS = roots_legendre(20)
_PANEL_V = (_PANEL_NODES + 1.0) / 2.0
_PANEL_LOG_W = np.log(_PANEL_WEIGHTS / 2.0)
# the panels' edges around the bend of the slower factor, in log time
_PANEL_SPREAD = 1.5


def _death_panel(
    ka: FloatArray, kb: float, da: float, db: float, lo: FloatArray, hi: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """One panel [lo, hi] (in L = log(m + τ), m = min(α, β), every width > 0) of the drop-out
    integral: per customer the log of the panel's integral and the integrals of log(α+τ),
    1/(α+τ), log(β+τ), 1/(β+τ) against it, relative to it.

    The integrand exp(h(L)) is tilted by an exponential with the slope of h at its heavier end
    (the secant where the tangent points out of the panel) and that exponential is integrated
    exactly by the change of variable v = (1 - e^{-λu}) / (1 - e^{-λw}): Gauss-Legendre then
    sees only the gentle remainder, even for a customer with hundreds of purchases whose
    integrand falls by e^{-100} across the panel.
    """

    def h(L: FloatArray) -> FloatArray:
        e = np.exp(L)
        return np.asarray(-ka * np.log(e + da) - kb * np.log(e + db) + L, dtype=np.float64)

    def slope(L: FloatArray) -> FloatArray:
        e = np.exp(L)
        return np.asarray(-ka * e / (e + da) - kb * e / (e + db) + 1.0, dtype=np.float64)

    w = hi - lo
    h_lo, h_hi = h(lo), h(hi)
    secant = (h_hi - h_lo) / w
    down = secant > 0  # heavier at the top: walk down from hi
    tangent = np.where(down, slope(hi), slope(lo))
    rate = np.abs(
        np.where(down, np.where(tangent > 0, tangent, secant), np.where(tangent < 0, tangent, secant))
    )
    base, h_base = np.where(down, hi, lo), np.where(down, h_hi, h_lo)
    a = np.maximum(rate * w, 1e-12)
    shrink = np.expm1(-a)
    u = w[:, None] * (-np.log1p(_PANEL_V[None, :] * shrink[:, None]) / a[:, None])
    L = base[:, None] + np.where(down[:, None], -u, u)
    e = np.exp(L)
    # one of da, db is 0: that log is L itself
    log_a = L if da == 0 else np.log(e + da)
    log_b = L if db == 0 else np.log(e + db)
    terms = (
        -ka[:, None] * log_a - kb * log_b + L + (rate[:, None] * u - h_base[:, None]) + _PANEL_LOG_W[None, :]
    )
    top = terms.max(axis=1)
    share = np.exp(terms - top[:, None])
    total = share.sum(axis=1)
    share /= total[:, None]
    log_integral = h_base + np.log(w) + np.log(-shrink / a) + top + np.log(total)
    return (
        log_integral,
        (share * log_a).sum(axis=1),
        (share / (e + da)).sum(axis=1),
        (share * log_b).sum(axis=1),
        (share / (e + db)).sum(axis=1),
    )


def _log_death_integral(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, tx: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """log I with I = ∫_{t_x}^{T} (α+τ)^{-(r+x)} (β+τ)^{-(s+1)} dτ, by quadrature, with the
    expectations of log(α+τ), 1/(α+τ), log(β+τ), 1/(β+τ) under the normalised integrand (the
    gradient of log I in r, α, s, β, up to their factors). -inf where t_x = T.

    This is the drop-out term of the likelihood before the 2F1 closed form (FH 2005 section 3:
    s I = s/(r+s+x) A0): a customer alive until τ in (t_x, T] who drops out then. It is
    evaluated in L = log(min(α, β) + τ), in up to four panels split around where the other
    factor bends (τ ≈ |α - β|), so the integrand stays smooth in every panel. Unlike scipy's
    2F1 it costs the same everywhere: 2F1 near its argument 1 (β far above α, the drop-out rate
    running to 0 as on Online Retail) took 100x longer than elsewhere.
    """
    m = min(alpha, beta)
    da, db = alpha - m, beta - m
    lo, hi = np.log(m + tx), np.log(m + T)
    d = max(da, db)
    bend = np.clip(np.log(m + d), lo, hi) if d > 0 else lo
    edges = [lo, np.clip(bend - _PANEL_SPREAD, lo, hi), bend, np.clip(bend + _PANEL_SPREAD, lo, hi), hi]
    ka = np.asarray(np.broadcast_to(r + x, np.shape(x)), dtype=np.float64)
    n = len(ka)
    log_integral = np.full(n, -np.inf)
    moments = np.zeros((4, n))
    for left, right in itertools.pairwise(edges):
        rows = np.flatnonzero(right > left)
        if rows.size == 0:
            continue
        part, *means = _death_panel(ka[rows], s + 1.0, da, db, left[rows], right[rows])
        combined = np.logaddexp(log_integral[rows], part)
        # the panels' means, weighted by their shares of the integral
        keep = np.exp(log_integral[rows] - combined)
        moments[:, rows] = moments[:, rows] * keep + np.array(means) * (1.0 - keep)
        log_integral[rows] = combined
    return log_integral, moments[0], moments[1], moments[2], moments[3]


def negative_log_likelihood_objective(
    x: FloatArray, tx: FloatArray, T: FloatArray, weights: FloatArray
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """The weighted total negative log-likelihood (FH 2005 section 3) and its gradient in the
    log-parameters log(r, α, s, β), computed together from the quadrature of the drop-out
    integral (:func:`_log_death_integral`): the optimiser needs one evaluation per step instead
    of nine, and never meets the slow corner of 2F1. With D = log s + log I and
    A = -(r+x) log(α+T) - s log(β+T), ll = A1 + logaddexp(A, D), w = expit(D - A):

        ∂r = ψ(r+x) - ψ(r) + ln α - (1-w) ln(α+T) - w E[ln(α+τ)]
        ∂α = r/α - (r+x) [(1-w)/(α+T) + w E[1/(α+τ)]]
        ∂s = ln β - (1-w) ln(β+T) + w (1/s - E[ln(β+τ)])
        ∂β = s/β - (1-w) s/(β+T) - w (s+1) E[1/(β+τ)]
    """
    levels, index = np.unique(x, return_inverse=True)
    level_weight = np.bincount(index, weights, minlength=levels.size)
    total_weight = float(weights.sum())

    def value_and_gradient(log_params: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, s, beta = (float(v) for v in np.exp(log_params))
        log_i, e_log_a, e_inv_a, e_log_b, e_inv_b = _log_death_integral(r, alpha, s, beta, x, tx, T)
        log_a_T, log_b_T = np.log(alpha + T), np.log(beta + T)
        alive = -(r + x) * log_a_T - s * log_b_T
        died = np.log(s) + log_i
        w = expit(died - alive)
        ll = (
            float(level_weight @ (gammaln(r + levels) - gammaln(r)))
            + total_weight * (r * np.log(alpha) + s * np.log(beta))
            + float(weights @ np.logaddexp(alive, died))
        )
        wa, wd = weights * (1.0 - w), weights * w
        grad = np.array(
            [
                float(level_weight @ (digamma(r + levels) - digamma(r)))
                + total_weight * np.log(alpha)
                - float(wa @ log_a_T)
                - float(wd @ e_log_a),
                total_weight * r / alpha
                - float(wa @ ((r + x) / (alpha + T)))
                - float(wd @ ((r + x) * e_inv_a)),
                total_weight * np.log(beta) - float(wa @ log_b_T) + float(wd.sum()) / s - float(wd @ e_log_b),
                total_weight * s / beta - float(wa @ (s / (beta + T))) - (s + 1.0) * float(wd @ e_inv_b),
            ]
        )
        return -ll, -grad * np.exp(log_params)  # chain rule: d/du = θ d/dθ for θ = exp(u)

    return value_and_gradient


def log_likelihood_terms(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, tx: FloatArray, T: FloatArray
) -> FloatArray:
    """Each customer's log-likelihood, FH 2005 section 3:

    L = Γ(r+x) α^r β^s / Γ(r) [ 1 / ((α+T)^(r+x) (β+T)^s) + s/(r+s+x) A0 ].
    """
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive_to_end = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    died_between = np.log(s) - np.log(r + s + x) + _log_a0(r, alpha, s, beta, x, tx, T)
    return np.asarray(a1 + np.logaddexp(alive_to_end, died_between), dtype=np.float64)


def probability_alive(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, tx: FloatArray, T: FloatArray
) -> FloatArray:
    """P(alive | x, t_x, T) = 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0), FH 2005 section 5."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        log_a0 = _log_a0(r, alpha, s, beta, x, tx, T) - np.log(r + s + x)
    x, tx, T, log_a0 = np.broadcast_arrays(x, tx, T, log_a0)
    # 2F1 overflows when the drop-out parameters run far out (s and β both huge, as a fit on a
    # shop where nobody leaves can end): there the quadrature of the same integral stands in
    bad = np.isnan(log_a0) | (np.isinf(log_a0) & (tx < T))
    if bad.any():
        log_a0 = np.array(log_a0, dtype=np.float64)
        log_a0[bad] = _log_death_integral(
            r, alpha, s, beta, *(np.ravel(np.asarray(v, dtype=np.float64)[bad]) for v in (x, tx, T))
        )[0]
    log_odds_dead = np.log(s) + (r + x) * np.log(alpha + T) + s * np.log(beta + T) + log_a0
    return np.asarray(expit(-log_odds_dead), dtype=np.float64)


def _survival_integral(s: float, scale: FloatArray, t: FloatArray) -> FloatArray:
    """[1 - (scale/(scale+t))^(s-1)] / (s-1), continuous at s = 1 (where it is log(1 + t/scale))."""
    log_ratio = np.log1p(t / scale)
    if abs(s - 1.0) < _S_NEAR_ONE:
        return np.asarray(log_ratio, dtype=np.float64)
    return np.asarray(-np.expm1(-(s - 1.0) * log_ratio) / (s - 1.0), dtype=np.float64)


def expected_purchases(r: float, alpha: float, s: float, beta: float, t: FloatArray) -> FloatArray:
    """E[X(t)] = rβ/(α(s-1)) [1 - (β/(β+t))^(s-1)], FH 2005 section 4."""
    return np.asarray(r * beta / alpha * _survival_integral(s, np.asarray(beta), t), dtype=np.float64)


def conditional_expected_purchases(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    t: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
) -> FloatArray:
    """E[Y(t) | x, t_x, T] = (r+x)(β+T)/((α+T)(s-1)) [1 - ((β+T)/(β+T+t))^(s-1)] P(alive),
    FH 2005 section 6."""
    rate_while_alive = (r + x) / (alpha + T) * (beta + T) * _survival_integral(s, beta + T, t)
    return np.asarray(rate_while_alive * probability_alive(r, alpha, s, beta, x, tx, T), dtype=np.float64)


class ParetoNBDModel(TransactionModel):
    """The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    While active, a customer buys at Poisson rate λ, λ ~ Gamma(r, α); the unobserved lifetime is
    exponential with rate μ, μ ~ Gamma(s, β), independent of λ. Fit on one row per customer:
    ``frequency`` (repeat purchases), ``recency`` (time of the last purchase, from the first) and
    ``T`` (time from the first purchase to the end of the period), all in one time unit; ``alpha``
    and ``beta`` are in that unit. ``params_`` has the keys r, alpha, s, beta.

    The log-likelihood follows Fader & Hardie's (2005) note, with the Gaussian hypergeometric
    terms ordered by max(α, β) and evaluated in log space after Euler's transformation, so it
    stays finite for customers with many purchases and for α close to β.

    See :class:`~shopmind.models._base.MaximumLikelihoodModel` for the hyper-parameters and the
    fitted attributes (``params_``, ``standard_errors_``, ``log_likelihood_``, ``n_customers_``).
    """

    _param_names = ("r", "alpha", "s", "beta")
    _model_name = "Pareto/NBD"
    _formula_log_likelihood = staticmethod(log_likelihood_terms)  # FH 2005 section 3
    _formula_alive = staticmethod(probability_alive)  # section 5
    _formula_expected = staticmethod(expected_purchases)  # section 4
    _formula_conditional = staticmethod(conditional_expected_purchases)  # section 6

    def _start(
        self, frequency: FloatArray, recency: FloatArray, T: FloatArray, weights: FloatArray
    ) -> FloatArray:
        rate = max(float(weights @ frequency), 1.0) / max(float(weights @ T), 1e-9)
        return np.log(np.array([1.0, 1.0 / rate, 1.0, max(float(weights @ T) / float(weights.sum()), 1e-3)]))

    def _value_and_gradient(
        self, frequency: FloatArray, recency: FloatArray, T: FloatArray, weights: FloatArray
    ) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        return negative_log_likelihood_objective(frequency, recency, T, weights)
