"""The Gamma-Gamma model of spend per transaction, and the discounted CLV built on it.

References:
    Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma Model of Monetary Value.
    http://brucehardie.com/notes/025/ ("FH 2013"; equation numbers as lifetimes cites them)
    Colombo, R. & Jiang, W. (1999). A Stochastic RFM Model. Journal of Interactive Marketing
    13(3), 2-12.
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: Using Iso-Value Curves for
    Customer Base Analysis. Journal of Marketing Research 42(4), 415-430.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, Self

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from shopmind.core import FieldError, InvalidInputError
from shopmind.models._base import MIN_REPEAT_BUYERS, MaximumLikelihoodModel
from shopmind.models._mle import FloatArray, aggregate_rows, distinct_rows
from shopmind.models._validation import check_counts, check_rfm, check_spend


class PurchaseCountModel(Protocol):
    """What the CLV needs of a transaction model: a fitted BG/NBD or Pareto/NBD model."""

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray: ...


def log_likelihood_terms(p: float, q: float, gamma: float, x: FloatArray, m: FloatArray) -> FloatArray:
    """Each customer's log-density of the mean spend m of x transactions, FH 2013 eq. 1a:

    Γ(px+q) / (Γ(px) Γ(q)) · γ^q m^(px-1) x^(px) / (γ + m x)^(px+q).
    """
    px = p * x
    return np.asarray(
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(gamma + m * x),
        dtype=np.float64,
    )


def negative_log_likelihood_objective(
    x: FloatArray, m: FloatArray, weights: FloatArray
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """The weighted total negative log-likelihood (eq. 1a) and its gradient in log(p, q, γ).

    Γ and ψ terms depend on x alone and are summed per distinct x; log m and x log x are fixed.
    The gradient:

        ∂p = x [ψ(px+q) - ψ(px) + ln m + ln x - ln(γ+mx)]
        ∂q = ψ(px+q) - ψ(q) + ln γ - ln(γ+mx)
        ∂γ = q/γ - (px+q)/(γ+mx)
    """
    levels, index = np.unique(x, return_inverse=True)
    level_weight = np.bincount(index, weights, minlength=levels.size)
    total_weight = float(weights.sum())
    log_m, log_x = np.log(m), np.log(x)
    spend = m * x
    wx = weights * x
    fixed_p = float(wx @ (log_m + log_x))
    sum_log_m = float(weights @ log_m)

    def value_and_gradient(log_params: FloatArray) -> tuple[float, FloatArray]:
        p, q, gamma = (float(v) for v in np.exp(log_params))
        plev = p * levels
        log_total = np.log(gamma + spend)
        ll = (
            float(level_weight @ (gammaln(plev + q) - gammaln(plev)))
            - total_weight * (gammaln(q) - q * np.log(gamma))
            + p * fixed_p
            - sum_log_m
            - float(weights @ ((p * x + q) * log_total))
        )
        both = digamma(plev + q)
        grad = np.array(
            [
                float((level_weight * levels) @ (both - digamma(plev))) + fixed_p - float(wx @ log_total),
                float(level_weight @ both)
                - total_weight * (digamma(q) - np.log(gamma))
                - float(weights @ log_total),
                total_weight * q / gamma - float(weights @ ((p * x + q) / (gamma + spend))),
            ]
        )
        return -ll, -grad * np.exp(log_params)

    return value_and_gradient


def conditional_expected_average_profit(
    p: float, q: float, gamma: float, x: FloatArray, m: FloatArray
) -> FloatArray:
    """E[M | p, q, γ, m, x] = (q-1)/(px+q-1) · γp/(q-1) + px/(px+q-1) · m, FH 2013 eq. 5: a
    weighted average of the population mean γp/(q-1) and the customer's own mean m."""
    weight = p * x / (p * x + q - 1.0)
    return np.asarray((1.0 - weight) * gamma * p / (q - 1.0) + weight * m, dtype=np.float64)


class GammaGammaModel(MaximumLikelihoodModel):
    """The Gamma-Gamma spend model (Colombo & Jiang 1999; Fader & Hardie 2013 note).

    Each transaction's value is Gamma(p, ν) for a customer; ν ~ Gamma(q, γ) across customers, so
    a customer's mean spend is p/ν and the population mean is γp/(q-1) (finite for q > 1). The
    model assumes spend per transaction is independent of purchase frequency. Fit on repeat
    buyers only: ``frequency`` = number of repeat transactions (> 0) and ``monetary_value`` = the
    mean value of those repeat transactions. ``params_`` has the keys p, q, gamma.

    See :class:`~shopmind.models._base.MaximumLikelihoodModel` for the hyper-parameters and the
    fitted attributes (``params_``, ``standard_errors_``, ``log_likelihood_``, ``n_customers_``).
    """

    _param_names = ("p", "q", "gamma")
    _model_name = "Gamma-Gamma"

    def fit(
        self, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike, counts: npt.ArrayLike | None = None
    ) -> Self:
        """Fit by maximum likelihood on repeat buyers (one row each, or rows that stand for
        ``counts`` buyers each: the distinct (frequency, mean spend) pairs with their counts give
        the same fit); returns ``self``.

        Raises:
            InvalidInputError: naming the field, for NaN, frequency < 1 or not whole,
                monetary_value <= 0, mismatched lengths, or counts that are not whole numbers >= 0.

        Warns:
            UnstableFitWarning: with fewer than 30 customers, when q <= 1 (the mean spend is then
                undefined), or when the optimiser or the standard errors signal trouble.
        """
        self._check_hyper_parameters()
        x, m = check_spend(frequency, monetary_value, fit=True)
        given = None if counts is None else check_counts(counts, len(x))
        (ux, um), weights = aggregate_rows(x, m, weights=given)
        n = len(x) if given is None else int(given.sum())

        def total_nll(log_params: FloatArray) -> float:
            p, q, gamma = (float(v) for v in np.exp(log_params))
            return -float(np.dot(weights, log_likelihood_terms(p, q, gamma, ux, um)))

        # the start from the distinct rows and their weights: the same for rows and counts
        start = np.log(np.array([1.0, 2.0, float(weights @ um) / float(weights.sum())]))
        fused = negative_log_likelihood_objective(ux, um, weights)
        result = self._maximise(total_nll, start, n, fused)
        problems = []
        if n < MIN_REPEAT_BUYERS:
            problems.append(
                f"Gamma-Gamma fitted on only {n} repeat buyers; with fewer than "
                f"{MIN_REPEAT_BUYERS} the spend distribution is poorly determined. Fit on more "
                "customers or use penalizer_coef > 0."
            )
        q = float(np.exp(result.log_params[1]))
        if q <= 1.0:
            problems.append(
                f"Gamma-Gamma q = {q:.3g} <= 1: the population mean spend γp/(q-1) is undefined, so "
                "expected profits of customers with few purchases are meaningless. Check monetary_value "
                "for outliers (e.g. wholesale orders) or use penalizer_coef > 0."
            )
        self._store_fit(result, n, problems)
        return self

    def conditional_expected_average_profit(
        self, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
    ) -> FloatArray:
        """E[M | frequency, monetary_value]: the expected spend per future transaction of a
        customer with ``frequency`` repeat transactions of mean value ``monetary_value``
        (FH 2013 eq. 5). A customer with frequency 0 gets the population mean γp/(q-1)."""
        p, q, gamma = self._check_fitted()
        x, m = check_spend(frequency, monetary_value, fit=False)
        return conditional_expected_average_profit(p, q, gamma, x, m)

    def customer_lifetime_value(
        self,
        transaction_model: PurchaseCountModel,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,
        monetary_value: npt.ArrayLike,
        *,
        time_unit_per_month: float,
        time: int = 12,
        discount_rate: float = 0.01,
    ) -> FloatArray:
        """Discounted CLV over the next ``time`` months (as lifetimes' ``customer_lifetime_value``):

            sum over months k = 1..time of  ΔE_k · E[M] / (1 + discount_rate)^k,

        where ΔE_k is the transaction model's expected purchases in month k (the difference of
        its conditional expectations at k and k-1 months) and E[M] the expected average profit.

        Args:
            transaction_model: a fitted BetaGeoModel or ParetoNBDModel, fitted in the same time
                unit as ``recency`` and ``T``.
            time_unit_per_month: how many of that time unit make a month: 4.345 for weeks,
                30 (or 30.44) for days, 1 for months. Required, because a wrong unit silently
                scales the CLV.
            time: the horizon in months.
            discount_rate: the monthly discount rate (0.01 = 1% per month).
        """
        errors = []
        if not isinstance(time, int) or time < 1:
            errors.append(FieldError("time", "must be a whole number of months >= 1"))
        if (
            not isinstance(discount_rate, int | float)
            or not math.isfinite(discount_rate)
            or discount_rate <= -1
        ):
            errors.append(FieldError("discount_rate", "must be a finite monthly rate > -1 (e.g. 0.01)"))
        if (
            not isinstance(time_unit_per_month, int | float)
            or not math.isfinite(time_unit_per_month)
            or time_unit_per_month <= 0
        ):
            errors.append(FieldError("time_unit_per_month", "must be a positive number (4.345 for weeks)"))
        if errors:
            raise InvalidInputError(errors)
        x, tx, age = check_rfm(frequency, recency, T, fit=False)
        _, m = check_spend(frequency, monetary_value, fit=False)
        try:
            x, tx, age, m = np.broadcast_arrays(x, tx, age, m)
        except ValueError:
            raise InvalidInputError(
                [FieldError("monetary_value", "does not match frequency, recency and T: one per customer")]
            ) from None
        profit = self.conditional_expected_average_profit(x, m)
        months = np.arange(time + 1, dtype=np.float64)
        # the expected purchases once per distinct (x, t_x, T) row (customers share theirs: the
        # same values, 13 evaluations of the transaction model over far fewer rows)
        (dx, dtx, dage), back = distinct_rows(np.ravel(x), np.ravel(tx), np.ravel(age))
        cumulative = np.stack(
            [
                np.broadcast_to(
                    transaction_model.conditional_expected_number_of_purchases_up_to_time(
                        k * time_unit_per_month, dx, dtx, dage
                    ),
                    dx.shape,
                )
                for k in months
            ]
        )
        per_month = np.diff(cumulative, axis=0)
        discount = (1.0 + discount_rate) ** -months[1:]
        per_row = np.tensordot(discount, per_month, axes=1)[back].reshape(x.shape)
        return np.asarray(profit * per_row, dtype=np.float64)
