"""The estimator base shared by the CLV models: hyper-parameters, fitted state, honest warnings and
parameter uncertainty."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator

from shopmind.core import FieldError, InvalidInputError, single_threaded_blas
from shopmind.models._errors import NotFittedError
from shopmind.models._mle import LOG_BOUND, FloatArray, MleResult, aggregate_rows, maximise
from shopmind.models._validation import check_counts, check_rfm, check_time
from shopmind.models._warnings import UnstableFitWarning

METHODS = ("L-BFGS-B", "BFGS", "Nelder-Mead")
MIN_REPEAT_BUYERS = 30
MIN_REPEAT_SHARE = 0.10
_MAX_RELATIVE_STANDARD_ERROR = 1.0

RandomState = int | np.random.Generator | None


@dataclass(frozen=True, eq=False)
class PredictionInterval:
    """A point prediction with a parameter-uncertainty interval around it.

    ``estimate`` is the prediction at the maximum-likelihood parameters; ``lower`` and ``upper``
    are the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the prediction over parameter
    draws from the asymptotic normal distribution of the estimates. The interval covers the
    uncertainty about the population parameters only, not the randomness of one customer's
    purchases (a customer's actual count scatters far more widely).
    """

    estimate: FloatArray
    lower: FloatArray
    upper: FloatArray
    level: float


class MaximumLikelihoodModel(BaseEstimator):
    """Hyper-parameters and fitted state common to the models.

    Hyper-parameters (stored as given; checked by ``fit``):
        penalizer_coef: L2 penalty on the parameters added to the mean negative log-likelihood
            (lifetimes' convention); 0 gives the plain maximum-likelihood estimates.
        method: the scipy optimiser, one of "L-BFGS-B", "BFGS", "Nelder-Mead" (the last is always
            followed by BFGS to polish the optimum).
        maxiter: the optimiser's iteration limit.
        tol: the optimiser's tolerance (None: tight defaults per method, e.g. ftol 1e-12 for L-BFGS-B).

    Fitted state (set by ``fit``; the model never keeps the training data):
        params_: the estimates, keyed by the paper's parameter names.
        standard_errors_: asymptotic standard errors, same keys, from the inverse Hessian of the
            negative log-likelihood at the optimum (numerical, in log-parameter space) mapped to
            the parameters by the delta method; NaN when that matrix is not positive definite.
        log_likelihood_: the total log-likelihood at the estimates (without the penalty).
        n_customers_: the number of customers fitted.
        converged_: whether the optimiser met its convergence criteria.
        at_bound_: whether a parameter ran to the edge of the search range (the data cannot pin
            it down; a small ``penalizer_coef`` gives a usable fit).
        log_params_covariance_: the covariance matrix of the log-parameters (in ``params_`` order).
        fit_warnings_: the texts of the :class:`UnstableFitWarning` the fit emitted.
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _model_name: ClassVar[str] = ""

    params_: dict[str, float]
    standard_errors_: dict[str, float]
    log_likelihood_: float
    n_customers_: int
    converged_: bool
    at_bound_: bool
    log_params_covariance_: FloatArray
    fit_warnings_: tuple[str, ...]

    def __init__(
        self,
        *,
        penalizer_coef: float = 0.0,
        method: str = "L-BFGS-B",
        maxiter: int = 2000,
        tol: float | None = None,
    ) -> None:
        self.penalizer_coef = penalizer_coef
        self.method = method
        self.maxiter = maxiter
        self.tol = tol

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, float],
        *,
        log_params_covariance: npt.ArrayLike | None = None,
        **hyper_parameters: Any,
    ) -> Self:
        """A model with known parameters, without fitting: published estimates, or estimates a
        batch job stored (``params_`` and, for intervals, ``log_params_covariance_``).

        ``standard_errors_`` are derived from the covariance when given (NaN otherwise);
        ``log_likelihood_`` is NaN and ``n_customers_`` 0, since no data were seen.
        """
        model = cls(**hyper_parameters)
        names = cls._param_names
        errors: list[FieldError] = []
        if set(params) != set(names):
            errors.append(FieldError("params", f"must have exactly the keys {', '.join(names)}"))
        elif not all(
            isinstance(params[n], int | float) and math.isfinite(params[n]) and params[n] > 0 for n in names
        ):
            errors.append(FieldError("params", "must be finite positive numbers"))
        covariance = np.full((len(names), len(names)), np.nan)
        if log_params_covariance is not None:
            covariance = np.asarray(log_params_covariance, dtype=np.float64)
            if covariance.shape != (len(names), len(names)):
                errors.append(
                    FieldError("log_params_covariance", f"must be a {len(names)}x{len(names)} matrix")
                )
        if errors:
            raise InvalidInputError(errors)
        log_params = np.log(np.array([float(params[n]) for n in names]))
        result = MleResult(log_params, math.nan, covariance, True, False, "parameters given")
        model._store_fit(result, 0, [], quiet=True)
        return model

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")

    def _check_fitted(self) -> tuple[float, ...]:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(...) before predicting."
            )
        return tuple(self.params_[name] for name in self._param_names)

    def _check_hyper_parameters(self) -> None:
        errors: list[FieldError] = []
        penalty = self.penalizer_coef
        if not isinstance(penalty, int | float) or not math.isfinite(penalty) or penalty < 0:
            errors.append(FieldError("penalizer_coef", "must be a finite number >= 0"))
        if self.method not in METHODS:
            errors.append(FieldError("method", f"must be one of {', '.join(METHODS)}"))
        if not isinstance(self.maxiter, int) or self.maxiter < 1:
            errors.append(FieldError("maxiter", "must be a positive whole number"))
        if self.tol is not None and (not isinstance(self.tol, int | float) or not self.tol > 0):
            errors.append(FieldError("tol", "must be a positive number or None"))
        if errors:
            raise InvalidInputError(errors)

    def _maximise(
        self,
        total_negative_log_likelihood: Callable[[FloatArray], float],
        start: FloatArray,
        n_customers: int,
        value_and_gradient: Callable[[FloatArray], tuple[float, FloatArray]] | None = None,
    ) -> MleResult:
        # one BLAS thread for the whole optimisation (set once, not per call: about 10 µs each):
        # its dot products are small, and a thread pool on a busy machine made each objective
        # call wait for a core (shopmind.core._threads)
        with single_threaded_blas():
            return maximise(
                total_negative_log_likelihood,
                start,
                value_and_gradient=value_and_gradient,
                n_customers=float(n_customers),
                penalizer_coef=float(self.penalizer_coef),
                method=self.method,
                maxiter=self.maxiter,
                tol=self.tol,
            )

    def _store_fit(
        self, result: MleResult, n_customers: int, data_problems: Sequence[str], *, quiet: bool = False
    ) -> None:
        """Keep the fitted state and warn about everything that makes it doubtful."""
        names = self._param_names
        params = np.exp(result.log_params)
        log_se = np.sqrt(np.diag(result.log_covariance))
        self.params_ = {name: float(value) for name, value in zip(names, params, strict=True)}
        # delta method: d exp(u) = exp(u) du
        self.standard_errors_ = {
            name: float(value * se) for name, value, se in zip(names, params, log_se, strict=True)
        }
        self.log_likelihood_ = result.log_likelihood
        self.n_customers_ = n_customers
        self.converged_ = result.converged
        self.at_bound_ = result.at_bound
        self.log_params_covariance_ = result.log_covariance

        self.fit_warnings_ = ()
        if quiet:
            return
        problems = list(data_problems)
        model = self._model_name
        remedy = "a longer calibration period, more customers, or penalizer_coef > 0 (e.g. 0.001)"
        if not result.converged:
            problems.append(
                f"The {model} optimiser did not converge ({result.message}); the parameters may not "
                "maximise the likelihood. Try method='Nelder-Mead', a larger maxiter, or "
                "penalizer_coef > 0."
            )
        edge = [name for name, u in zip(names, result.log_params, strict=True) if abs(u) >= LOG_BOUND - 1e-6]
        if edge:
            problems.append(
                f"{model} parameter(s) {', '.join(edge)} ran to the edge of the search range "
                f"(exp(±{LOG_BOUND:g})): the likelihood keeps improving as they grow or shrink, so the "
                f"data cannot pin them down. Use {remedy}."
            )
        if np.isnan(log_se).any():
            problems.append(
                f"The {model} information matrix is not positive definite at the optimum, so standard "
                "errors and intervals are unavailable (NaN) and the optimum may be a ridge or a saddle. "
                f"Use {remedy}."
            )
        else:
            vague = [
                f"{name} (±{100 * se:.0f}%)"
                for name, se in zip(names, log_se, strict=True)
                if se > _MAX_RELATIVE_STANDARD_ERROR
            ]
            if vague and not edge:
                problems.append(
                    f"The {model} standard errors of {', '.join(vague)} exceed the estimates: the data "
                    f"hardly determine them. Treat predictions with caution and use {remedy}."
                )
        self.fit_warnings_ = tuple(problems)
        for message in problems:
            warnings.warn(message, UnstableFitWarning, stacklevel=3)

    def _sample_params(self, n_samples: int, random_state: RandomState) -> FloatArray:
        """Parameter draws, shape ``(n_samples, n_params)``, from the asymptotic normal of the
        log-parameters (so every draw is positive); NaN when the covariance is unavailable."""
        if not isinstance(n_samples, int) or n_samples < 2:
            raise InvalidInputError([FieldError("n_samples", "must be a whole number >= 2")])
        center = np.log(np.array(self._check_fitted()))
        covariance = self.log_params_covariance_
        if np.isnan(covariance).any():
            return np.full((n_samples, len(center)), np.nan)
        rng = np.random.default_rng(random_state)
        return np.exp(rng.multivariate_normal(center, covariance, size=n_samples, method="cholesky"))


def _check_level(level: float) -> float:
    if not isinstance(level, int | float) or not 0 < level < 1:
        raise InvalidInputError([FieldError("level", "must be between 0 and 1 (e.g. 0.9)")])
    return float(level)


def broadcast_with_time(t: FloatArray, *arrays: FloatArray) -> tuple[FloatArray, ...]:
    """Broadcast a horizon ``t`` against the customer arrays, naming ``t`` when they do not fit."""
    try:
        return tuple(np.broadcast_arrays(t, *arrays))
    except ValueError:
        raise InvalidInputError(
            [FieldError("t", f"has shape {t.shape}, which does not broadcast against the customers")]
        ) from None


class TransactionModel(MaximumLikelihoodModel):
    """Base of the purchase-count models fitted on (frequency, recency, T)."""

    def fit(
        self,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,
        counts: npt.ArrayLike | None = None,
    ) -> Self:
        """Fit by maximum likelihood on one row per customer, or on rows that stand for
        ``counts`` customers each; returns ``self``.

        Args:
            frequency: repeat purchases per customer (purchases after the first; several
                purchases on one day usually count as one).
            recency: time from the first to the last purchase (0 when frequency is 0).
            T: time from the first purchase to the end of the calibration period, in the same
                unit as recency (e.g. weeks).
            counts: the customers each row stands for (whole numbers), e.g. the distinct
                (frequency, recency, T) triples with their counts, computed where the data are
                (the likelihood depends on nothing else): the same fit as on the customers' own
                rows. None: one customer per row.

        Raises:
            InvalidInputError: naming the field, for NaN, negative, non-integer frequency,
                recency > T, recency > 0 with frequency 0, mismatched lengths, or counts that
                are not whole numbers >= 0.

        Warns:
            UnstableFitWarning: with fewer than 30 repeat buyers or under 10% of customers
                repeating, when the optimiser did not converge, a parameter ran off to the
                edge of the search range, or standard errors exceed the estimates.
        """
        self._check_hyper_parameters()
        x, tx, age = check_rfm(frequency, recency, T, fit=True)
        given = None if counts is None else check_counts(counts, len(x))
        (ux, utx, uage), weights = aggregate_rows(x, tx, age, weights=given)
        n = len(x) if given is None else int(given.sum())

        def total_nll(log_params: FloatArray) -> float:
            return -float(np.dot(weights, self._log_likelihood_terms(np.exp(log_params), ux, utx, uage)))

        fused = self._value_and_gradient(ux, utx, uage, weights)
        # the start from the distinct rows and their weights: the same whether the customers'
        # rows or their counts were given, so both fits take the same path
        result = self._maximise(total_nll, self._start(ux, utx, uage, weights), n, fused)
        self._store_fit(result, n, self._data_problems(ux, weights))
        return self

    def _data_problems(self, frequency: FloatArray, weights: FloatArray) -> list[str]:
        n = int(weights.sum())
        repeaters = int(weights[frequency > 0].sum())
        model = self._model_name
        problems = []
        if repeaters < MIN_REPEAT_BUYERS:
            problems.append(
                f"{model} fitted on {n} customers of whom only {repeaters} made a repeat purchase "
                f"(frequency > 0); with fewer than {MIN_REPEAT_BUYERS} repeat buyers the purchase and "
                "drop-out rates are poorly determined. Fit on more customers or a longer calibration "
                "period, or use penalizer_coef > 0 to shrink the estimates."
            )
        elif repeaters < MIN_REPEAT_SHARE * n:
            problems.append(
                f"Only {repeaters} of {n} customers ({100 * repeaters / n:.1f}%) made a repeat purchase: "
                f"with under {100 * MIN_REPEAT_SHARE:.0f}% repeaters {model} can hardly tell slow buyers "
                "from lost ones, so P(alive) and the expected purchases are uncertain. Lengthen the "
                "calibration period or check that repeat purchases are not being missed (e.g. guest "
                "orders not linked to the customer)."
            )
        return problems

    # the model's formulas, each f(*params, ...) on float arrays (module functions of the model)
    _formula_log_likelihood: ClassVar[Callable[..., FloatArray]]
    _formula_alive: ClassVar[Callable[..., FloatArray]]
    _formula_expected: ClassVar[Callable[..., FloatArray]]
    _formula_conditional: ClassVar[Callable[..., FloatArray]]

    def _start(
        self, frequency: FloatArray, recency: FloatArray, T: FloatArray, weights: FloatArray
    ) -> FloatArray:
        raise NotImplementedError

    def _log_likelihood_terms(
        self, params: FloatArray, frequency: FloatArray, recency: FloatArray, T: FloatArray
    ) -> FloatArray:
        return type(self)._formula_log_likelihood(*(float(v) for v in params), frequency, recency, T)

    def _value_and_gradient(
        self, frequency: FloatArray, recency: FloatArray, T: FloatArray, weights: FloatArray
    ) -> Callable[[FloatArray], tuple[float, FloatArray]] | None:
        """For models with an analytic gradient: a function of the log-parameters giving the total
        (weighted) negative log-likelihood and its gradient. None: differenced numerically."""
        return None

    def _conditional_expectation(
        self,
        params: Sequence[float],
        t: FloatArray,
        frequency: FloatArray,
        recency: FloatArray,
        T: FloatArray,
    ) -> FloatArray:
        return type(self)._formula_conditional(*params, t, frequency, recency, T)

    def conditional_probability_alive(
        self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """P(alive | frequency, recency, T): the probability that a customer with this history
        is still active at T (the model's class documentation cites the equation)."""
        params = self._check_fitted()
        x, tx, age = check_rfm(frequency, recency, T, fit=False)
        return type(self)._formula_alive(*params, x, tx, age)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """E[Y(t) | frequency, recency, T]: expected repeat purchases in the next ``t`` time units
        of a customer with this history. ``t`` broadcasts against the customers. For a
        parameter-uncertainty interval see
        :meth:`conditional_expected_number_of_purchases_up_to_time_interval`."""
        params = self._check_fitted()
        x, tx, age = check_rfm(frequency, recency, T, fit=False)
        t_arr, x, tx, age = broadcast_with_time(check_time(t), x, tx, age)
        return self._conditional_expectation(params, t_arr, x, tx, age)

    def expected_number_of_purchases_up_to_time(self, t: npt.ArrayLike) -> FloatArray:
        """E[X(t)]: expected repeat purchases in the first ``t`` time units after the first
        purchase, for a customer drawn at random."""
        params = self._check_fitted()
        return type(self)._formula_expected(*params, check_time(t))

    def conditional_expected_number_of_purchases_up_to_time_interval(
        self,
        t: npt.ArrayLike,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,
        *,
        level: float = 0.9,
        n_samples: int = 500,
        random_state: RandomState = 0,
    ) -> PredictionInterval:
        """E[Y(t) | frequency, recency, T] with a parameter-uncertainty interval.

        The parameters are drawn ``n_samples`` times from the asymptotic normal distribution of
        the log-parameter estimates (mean: the estimates; covariance: ``log_params_covariance_``,
        the inverse Hessian of the negative log-likelihood), the conditional expectation is
        computed for each draw, and the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles are
        returned. Seeded by ``random_state`` (an int or a numpy Generator), so the result is
        reproducible. The interval reflects how well the population parameters are known, not
        the Poisson scatter of one customer's purchases. Bounds are NaN when the fit had no
        standard errors.
        """
        params = self._check_fitted()
        level = _check_level(level)
        x, tx, age = check_rfm(frequency, recency, T, fit=False)
        t_arr, x, tx, age = broadcast_with_time(check_time(t), x, tx, age)
        estimate = self._conditional_expectation(params, t_arr, x, tx, age)
        draws = self._sample_params(n_samples, random_state)
        if np.isnan(draws).any():
            nan = np.full_like(estimate, np.nan)
            return PredictionInterval(estimate, nan, nan.copy(), level)
        predictions = np.stack([self._conditional_expectation(tuple(d), t_arr, x, tx, age) for d in draws])
        lower, upper = np.quantile(predictions, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return PredictionInterval(estimate, lower, upper, level)
