"""The Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987).

References:
    Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting Your Customers: Who Are
    They and What Will They Do Next? Management Science 33(1), 1-24. ("SMC 1987")
    Fader, P. S. & Hardie, B. G. S. (2005). A Note on Deriving the Pareto/NBD Model and Related
    Expressions. http://brucehardie.com/notes/009/ ("FH 2005": section 3 derives the likelihood,
    section 4 the mean, section 5 P(alive), section 6 the conditional expectation)
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln, hyp2f1

from shopmind.models._base import TransactionModel
from shopmind.models._mle import FloatArray

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
        q = larger + tau
        z = gap / q
        return np.asarray(
            (1.0 - c) * np.log1p(-z) + np.log(hyp2f1(1.0, rsx + 1.0 - c, rsx + 1.0, z)) - rsx * np.log(q),
            dtype=np.float64,
        )

    at_recency, at_age = log_f(tx), log_f(T)
    with np.errstate(divide="ignore"):
        # F is decreasing in τ; where t_x == T the integral is empty and A0 = 0
        return np.asarray(
            at_recency + np.log(-np.expm1(np.minimum(at_age - at_recency, 0.0))), dtype=np.float64
        )


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
    log_odds_dead = (
        np.log(s)
        - np.log(r + s + x)
        + (r + x) * np.log(alpha + T)
        + s * np.log(beta + T)
        + _log_a0(r, alpha, s, beta, x, tx, T)
    )
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

    def _start(self, frequency: FloatArray, recency: FloatArray, T: FloatArray) -> FloatArray:
        rate = max(float(frequency.sum()), 1.0) / max(float(T.sum()), 1e-9)
        return np.log(np.array([1.0, 1.0 / rate, 1.0, max(float(T.mean()), 1e-3)]))
