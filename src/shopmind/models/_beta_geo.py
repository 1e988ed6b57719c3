"""The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

References:
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers" the Easy Way:
    An Alternative to the Pareto/NBD Model. Marketing Science 24(2), 275-284. ("FHL 2005")
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2008). Computing P(alive) Using the BG/NBD
    Model. http://brucehardie.com/notes/021/
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy.special import betainc, betaincinv, betaln, digamma, expit, gammaln, hyp2f1, roots_legendre, xlogy

from shopmind.core import FieldError, InvalidInputError
from shopmind.models._base import TransactionModel, broadcast_with_time
from shopmind.models._mle import FloatArray
from shopmind.models._validation import check_rfm, check_time


def _log_odds_dead(
    r: float, alpha: float, a: float, b: float, x: FloatArray, tx: FloatArray, T: FloatArray
) -> FloatArray:
    """log of  a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)  for x > 0 (-inf for x = 0)."""
    repeat = x > 0
    xs = np.where(repeat, x, 1.0)
    value = np.log(a) - np.log(b + xs - 1.0) + (r + xs) * (np.log(alpha + T) - np.log(alpha + tx))
    return np.where(repeat, value, -np.inf)


def log_likelihood_terms(
    r: float, alpha: float, a: float, b: float, x: FloatArray, tx: FloatArray, T: FloatArray
) -> FloatArray:
    """Each customer's log-likelihood, FHL 2005 eq. 6."""
    repeat = x > 0
    xs = np.where(repeat, x, 1.0)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    # B(a+1, b+x-1)/B(a, b+x) = a/(b+x-1): a4 reduces to log(a/(b+x-1)) - (r+x) log(alpha+t_x)
    a4 = np.log(a) - np.log(b + xs - 1.0) - (r + x) * np.log(alpha + tx)
    return a1 + a2 + np.logaddexp(a3, np.where(repeat, a4, -np.inf))


def negative_log_likelihood_objective(
    x: FloatArray, tx: FloatArray, T: FloatArray, weights: FloatArray
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """The weighted total negative log-likelihood (eq. 6) and its gradient in the log-parameters
    log(r, α, a, b), computed together.

    The special functions depend on x alone, so they are summed per distinct x (a few hundred
    at most) with the summed weights; per customer only log(α+T), log(α+t_x) and the share
    w4 = expit(A4 - A3) of the drop-out term inside the logaddexp remain. The gradient:

        ∂r = ψ(r+x) - ψ(r) + ln α - w3 ln(α+T) - w4 ln(α+t_x)
        ∂α = r/α - (r+x) [w3/(α+T) + w4/(α+t_x)]
        ∂a = ψ(a+b) - ψ(a+b+x) + w4/a
        ∂b = ψ(b+x) - ψ(b) + ψ(a+b) - ψ(a+b+x) - w4/(b+x-1)

    with w3 = 1 - w4 (w4 = 0 without repeat purchases).
    """
    levels, index = np.unique(x, return_inverse=True)
    level_weight = np.bincount(index, weights, minlength=levels.size)
    total_weight = float(weights.sum())
    repeat_level = levels > 0
    # b + x - 1 is only used where x >= 1; elsewhere a harmless 1
    shift = np.where(repeat_level, levels - 1.0, 0.0)

    def value_and_gradient(log_params: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = (float(v) for v in np.exp(log_params))
        log_T, log_tx = np.log(alpha + T), np.log(alpha + tx)
        rx = r + x
        log_dead = np.where(repeat_level, np.log(a) - np.log(b + shift), -np.inf)
        d = log_dead[index] + rx * (log_T - log_tx)  # A4 - A3
        w4 = expit(d)
        weighted_w4 = weights * w4
        ab = digamma(a + b) - digamma(a + b + levels)
        level_ll = gammaln(r + levels) - gammaln(r) + betaln(a, b + levels) - betaln(a, b)
        ll = (
            float(level_weight @ level_ll)
            + total_weight * r * np.log(alpha)
            + float(weights @ (np.logaddexp(0.0, d) - rx * log_T))
        )
        w4_per_level = np.bincount(index, weighted_w4, minlength=levels.size)
        grad = np.array(
            [
                float(level_weight @ (digamma(r + levels) - digamma(r)))
                + total_weight * np.log(alpha)
                - float(weights @ log_T)
                + float(weighted_w4 @ (log_T - log_tx)),
                total_weight * r / alpha
                - float((weights * rx) @ ((1.0 - w4) / (alpha + T) + w4 / (alpha + tx))),
                float(level_weight @ ab) + float(weighted_w4.sum()) / a,
                float(level_weight @ (digamma(b + levels) - digamma(b) + ab))
                - float(w4_per_level[repeat_level] @ (1.0 / (b + shift[repeat_level]))),
            ]
        )
        return -ll, -grad * np.exp(log_params)  # chain rule: d/du = θ d/dθ for θ = exp(u)

    return value_and_gradient


def probability_alive(
    r: float, alpha: float, a: float, b: float, x: FloatArray, tx: FloatArray, T: FloatArray
) -> FloatArray:
    """P(alive | x, t_x, T) = 1 / (1 + δ(x>0) a/(b+x-1) ((α+T)/(α+t_x))^(r+x)) (FHL 2008 note,
    eq. 2; the denominator of FHL 2005 eq. 10)."""
    return np.asarray(expit(-_log_odds_dead(r, alpha, a, b, x, tx, T)), dtype=np.float64)


# within this of a = 1 the closed forms divide a cancellation (1 - tail) by a - 1: quadrature instead
_NEAR_ONE = 1e-6
_NODES, _WEIGHTS = roots_legendre(64)
# quantile levels u = v^2 for Gauss-Legendre nodes v on (0, 1): nodes gather near u = 0, where
# (1 - (scale / (scale + p t))^r) / p bends sharply when t is long against the purchase scale
_QUANTILES = ((_NODES + 1.0) / 2.0) ** 2
_QUANTILE_WEIGHTS = _WEIGHTS / 2.0 * 2.0 * np.sqrt(_QUANTILES)


def _expected_over_dropout(
    r: float | FloatArray, a: float, b: float | FloatArray, scale: FloatArray, t: FloatArray
) -> FloatArray:
    """E_p[(1 - (scale / (scale + p t))^r) / p] for p ~ Beta(a, b), by Gauss-Legendre quadrature
    over the quantiles of p (relative error about 1e-5 against the closed form).

    This is the expectation of eq. 9 / eq. 10 before the 2F1 closed form: given λ and p an
    active customer makes (1 - exp(-λ p t)) / p purchases in t on average, and the gamma mixture
    over λ gives the power. It stays finite where 2F1 overflows: when the drop-out parameters
    a and b run to very large values (a shop where everyone drops out at the same rate).
    """
    b_arr, scale, t = np.broadcast_arrays(np.asarray(b, dtype=np.float64), scale, t)
    out = np.empty(b_arr.shape, dtype=np.float64)
    flat_b, flat_out = b_arr.ravel(), out.ravel()
    flat_scale, flat_t = scale.ravel(), t.ravel()
    r_arr = np.broadcast_to(np.asarray(r, dtype=np.float64), b_arr.shape).ravel()
    for value in np.unique(flat_b):  # the quantiles depend on b only (b + x: few distinct x)
        rows = flat_b == value
        p = betaincinv(a, value, _QUANTILES)[None, :]
        power = r_arr[rows, None] * (
            np.log(flat_scale[rows, None]) - np.log(flat_scale[rows, None] + p * flat_t[rows, None])
        )
        flat_out[rows] = (-np.expm1(power) / p) @ _QUANTILE_WEIGHTS
    return out


def expected_purchases(r: float, alpha: float, a: float, b: float, t: FloatArray) -> FloatArray:
    """E[X(t)] = (a+b-1)/(a-1) [1 - (α/(α+t))^r 2F1(r, b; a+b-1; t/(α+t))], FHL 2005 eq. 9.

    Evaluated after Euler's transformation 2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z),
    which turns the product into (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b-1; z) with z = t/(α+t):
    no overflow of the 2F1 against an underflow of the power for long horizons.
    """
    z = t / (alpha + t)
    a = np.float64(a)  # a = 1 gives inf * 0 = NaN below (then the quadrature), not ZeroDivisionError
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        tail = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b - 1.0, z)
        value = np.asarray((a + b - 1.0) / (a - 1.0) * (1.0 - tail), dtype=np.float64)
    bad = ~np.isfinite(value) | (abs(a - 1.0) < _NEAR_ONE)
    if bad.any():
        t_bad = np.broadcast_to(t, value.shape)[bad]
        value[bad] = _expected_over_dropout(r, a, np.full(t_bad.shape, b), np.full(t_bad.shape, alpha), t_bad)
    return value


def conditional_expected_purchases(
    r: float,
    alpha: float,
    a: float,
    b: float,
    t: FloatArray,
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
) -> FloatArray:
    """E[Y(t) | x, t_x, T], FHL 2005 eq. 10:

    (a+b+x-1)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))] / (1 + δ(x>0)
    a/(b+x-1) ((α+T)/(α+t_x))^(r+x)), with the same Euler transformation as eq. 9, which here
    becomes (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): stable for customers with many purchases.
    """
    z = t / (alpha + T + t)
    a = np.float64(a)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        tail = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        active = np.asarray((a + b + x - 1.0) / (a - 1.0) * (1.0 - tail), dtype=np.float64)
    bad = ~np.isfinite(active) | (abs(a - 1.0) < _NEAR_ONE)
    if bad.any():
        x_b, T_b, t_b = (np.broadcast_to(v, active.shape)[bad] for v in (x, T, t))
        active[bad] = _expected_over_dropout(r + x_b, a, b + x_b, alpha + T_b, t_b)
    alive = expit(-_log_odds_dead(r, alpha, a, b, x, tx, T))
    return np.asarray(active * alive, dtype=np.float64)


def probability_of_purchases(
    r: float, alpha: float, a: float, b: float, t: FloatArray, n: FloatArray
) -> FloatArray:
    """P(X(t) = n), FHL 2005 eq. 8:

    B(a, b+n)/B(a, b) Γ(r+n)/(Γ(r) n!) (α/(α+t))^r (t/(α+t))^n
    + δ(n>0) B(a+1, b+n-1)/B(a, b) [1 - (α/(α+t))^r Σ_{j<n} Γ(r+j)/(Γ(r) j!) (t/(α+t))^j].

    The finite sum is the negative binomial CDF at n-1, so the bracket is the regularised
    incomplete beta function I_{t/(α+t)}(n, r).
    """
    p_buy = t / (alpha + t)
    log_first = (
        betaln(a, b + n)
        - betaln(a, b)
        + gammaln(r + n)
        - gammaln(r)
        - gammaln(n + 1.0)
        + r * (np.log(alpha) - np.log(alpha + t))
        + xlogy(n, p_buy)
    )
    repeat = n > 0
    ns = np.where(repeat, n, 1.0)
    second = np.exp(betaln(a + 1.0, b + ns - 1.0) - betaln(a, b)) * betainc(ns, r, p_buy)
    return np.asarray(np.exp(log_first) + np.where(repeat, second, 0.0), dtype=np.float64)


class BetaGeoModel(TransactionModel):
    """The BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way").

    While active, a customer buys at Poisson rate λ, λ ~ Gamma(r, α) across customers; after
    each purchase the customer drops out with probability p, p ~ Beta(a, b). Fit on one row per
    customer: ``frequency`` (repeat purchases), ``recency`` (time of the last purchase, from the
    first) and ``T`` (time from the first purchase to the end of the period), all in one time unit;
    ``alpha`` is in that unit. ``params_`` has the keys r, alpha, a, b. P(alive) is 1 for
    customers without repeat purchases: BG/NBD customers drop out only right after a purchase.

    See :class:`~shopmind.models._base.MaximumLikelihoodModel` for the hyper-parameters and the
    fitted attributes (``params_``, ``standard_errors_``, ``log_likelihood_``, ``n_customers_``).

    Example:
        >>> model = BetaGeoModel().fit(frequency, recency, T)  # doctest: +SKIP
        >>> model.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)  # doctest: +SKIP
    """

    _param_names = ("r", "alpha", "a", "b")
    _model_name = "BG/NBD"
    _formula_log_likelihood = staticmethod(log_likelihood_terms)  # eq. 6
    _formula_alive = staticmethod(probability_alive)  # FHL 2008 eq. 2; 1 without repeat purchases
    _formula_expected = staticmethod(expected_purchases)  # eq. 9
    _formula_conditional = staticmethod(conditional_expected_purchases)  # eq. 10

    def _start(
        self, frequency: FloatArray, recency: FloatArray, T: FloatArray, weights: FloatArray
    ) -> FloatArray:
        # r = 1 and alpha matching the observed purchase rate: a start in the right scale for
        # any time unit (days, weeks, months)
        rate = max(float(weights @ frequency), 1.0) / max(float(weights @ T), 1e-9)
        return np.log(np.array([1.0, 1.0 / rate, 1.0, 1.0]))

    def _value_and_gradient(
        self, frequency: FloatArray, recency: FloatArray, T: FloatArray, weights: FloatArray
    ) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        return negative_log_likelihood_objective(frequency, recency, T, weights)

    def probability_of_n_purchases_up_to_time(self, t: npt.ArrayLike, n: npt.ArrayLike) -> FloatArray:
        """P(X(t) = n): the probability that a customer drawn at random makes exactly ``n`` repeat
        purchases in the first ``t`` time units (FHL 2005 eq. 8). ``t`` and ``n`` broadcast."""
        r, alpha, a, b = self._check_fitted()
        t_arr = check_time(t)
        n_arr = check_time(n, "n")
        if (n_arr != np.round(n_arr)).any():
            raise InvalidInputError([FieldError("n", "must be whole numbers of purchases")])
        try:
            t_arr, n_arr = np.broadcast_arrays(t_arr, n_arr)
        except ValueError:
            raise InvalidInputError([FieldError("n", "does not broadcast against t")]) from None
        return probability_of_purchases(r, alpha, a, b, t_arr, n_arr)

    def conditional_probability_no_purchases_up_to_time(
        self, t: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """P(no purchase in (T, T + t] | frequency, recency, T): the churn probability over a horizon.

        A customer who is no longer alive makes no purchase; one who is alive at T cannot drop out
        before the next purchase (BG/NBD dropout follows a purchase), so stays silent with
        probability E[exp(-λt)] under the posterior λ ~ Gamma(r + x, α + T):
        ``1 - P(alive) + P(alive) ((α + T) / (α + T + t))^(r + x)``. ``t`` broadcasts against
        the customers."""
        r, alpha, _, _ = self._check_fitted()
        x, tx, age = check_rfm(frequency, recency, T, fit=False)
        t_arr, x, tx, age = broadcast_with_time(check_time(t), x, tx, age)
        alive = self.conditional_probability_alive(x, tx, age)
        silent = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + t_arr)))
        return np.asarray(1.0 - alive + alive * silent, dtype=np.float64)
