"""Uplift models: who buys *because of* a message or a coupon, not who buys anyway.

Both learners estimate the conditional average treatment effect τ(x) = E[Y | x, treated] −
E[Y | x, not treated] from a randomised campaign (its treated members and its holdout), with
LightGBM trees as the base learners (Künzel, Sekhon, Bickel & Yu 2019, "Metalearners for
estimating heterogeneous treatment effects using machine learning", PNAS 116(10)):

- :class:`TLearner` — two outcome models, μ₁ on the treated and μ₀ on the holdout;
  τ(x) = μ₁(x) − μ₀(x) (Künzel et al. eq. 3).
- :class:`XLearner` — the two outcome models, then each group's imputed effects, D¹ = Y¹ − μ₀(X¹)
  on the treated and D⁰ = μ₁(X⁰) − Y⁰ on the holdout, regressed on x (τ₁, τ₀), combined as
  τ(x) = g(x) τ₀(x) + (1 − g(x)) τ₁(x) (eq. 6-8), g the propensity. A campaign's holdout is drawn
  at random with a known share, so g is that constant share by default (the treated share of
  the training rows), not a fitted model: a model could only add noise to a known number.
  With a small holdout (10 %) g ≈ 0.9, so the estimate leans on τ₀, learnt on the holdout with
  μ₁ fitted on the many treated rows: the X-learner's point.

Binary outcomes (bought or not) use classifiers' probabilities for μ; other outcomes (spend)
regressors. Estimators keep scikit-learn's contract: hyper-parameters in ``__init__``, ``fit``
returns ``self``, fitted state ends in ``_``, ``predict_uplift`` before ``fit`` raises
:class:`UpliftNotFittedError`.
"""

from __future__ import annotations

from typing import Any, Self

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from shopmind.core import FieldError, InvalidInputError, ShopmindError

FloatArray = npt.NDArray[np.float64]


class UpliftNotFittedError(ShopmindError, _SklearnNotFittedError):
    """``predict_uplift`` was asked before ``fit`` (a ShopmindError and scikit-learn's
    ``NotFittedError`` both; the models package has its own for the same reason: the two
    packages are siblings and may not import each other)."""


def check_uplift_data(
    X: npt.ArrayLike, treatment: npt.ArrayLike, y: npt.ArrayLike
) -> tuple[FloatArray, npt.NDArray[np.int64], FloatArray]:
    """Validated arrays: X two-dimensional and finite, treatment 0/1 with both groups, y numeric."""
    features = np.asarray(X, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] == 0:
        raise InvalidInputError([FieldError("X", "must be a non-empty two-dimensional table of numbers")])
    n = features.shape[0]
    t = np.asarray(treatment)
    outcome = np.asarray(y, dtype=np.float64)
    errors: list[FieldError] = []
    if t.shape != (n,):
        errors.append(FieldError("treatment", f"must hold one 0/1 value per row ({n})"))
    elif not np.isin(t, (0, 1)).all():
        errors.append(FieldError("treatment", "must hold 0 (holdout) or 1 (treated)"))
    elif t.min() == t.max():
        errors.append(FieldError("treatment", "needs both treated (1) and holdout (0) rows"))
    if outcome.shape != (n,):
        errors.append(FieldError("y", f"must hold one outcome per row ({n})"))
    elif not np.isfinite(outcome).all():
        errors.append(FieldError("y", "must be finite numbers"))
    if errors:
        raise InvalidInputError(errors)
    return features, t.astype(np.int64), outcome


class _MetaLearner(BaseEstimator):
    """The LightGBM hyper-parameters both learners share (few, small trees: a campaign has a few
    thousand members and a weak signal)."""

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self, seed_offset: int) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "random_state": self.random_state + seed_offset,
            "n_jobs": self.n_jobs,
            "verbose": -1,
        }

    def _outcome_model(self, X: FloatArray, y: FloatArray, binary: bool, seed_offset: int) -> Any:
        if binary:
            if y.min() == y.max():  # all bought or none did: the probability is that constant
                return _Constant(float(y[0]))
            return lgb.LGBMClassifier(**self._params(seed_offset)).fit(X, y.astype(np.int64))
        return lgb.LGBMRegressor(**self._params(seed_offset)).fit(X, y)

    def _check_fitted(self, X: npt.ArrayLike) -> FloatArray:
        if not hasattr(self, "n_features_in_"):
            raise UpliftNotFittedError(f"{type(self).__name__} is not fitted yet: call fit(X, treatment, y)")
        features = np.asarray(X, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.n_features_in_:
            raise InvalidInputError(
                [FieldError("X", f"must have {self.n_features_in_} feature columns, as in fit")]
            )
        return features


class _Constant:
    """An outcome model for a group whose outcomes are all equal."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X: FloatArray) -> FloatArray:
        return np.full(len(X), self.value)

    def predict_proba(self, X: FloatArray) -> FloatArray:
        return np.column_stack([np.full(len(X), 1 - self.value), np.full(len(X), self.value)])


def _mu(model: Any, X: FloatArray, binary: bool) -> FloatArray:
    if binary:
        return np.asarray(model.predict_proba(X)[:, 1], dtype=np.float64)
    return np.asarray(model.predict(X), dtype=np.float64)


def _is_binary(y: FloatArray) -> bool:
    return bool(np.isin(y, (0.0, 1.0)).all())


class TLearner(_MetaLearner):
    """Two-model uplift: τ(x) = μ₁(x) − μ₀(x), each μ a LightGBM model of the outcome in one group.

    Fitted state: ``n_features_in_``, ``binary_`` (classifiers for a 0/1 outcome),
    ``treated_model_``, ``control_model_``.
    """

    def fit(self, X: npt.ArrayLike, treatment: npt.ArrayLike, y: npt.ArrayLike) -> Self:
        features, t, outcome = check_uplift_data(X, treatment, y)
        self.binary_ = _is_binary(outcome)
        self.treated_model_ = self._outcome_model(features[t == 1], outcome[t == 1], self.binary_, 1)
        self.control_model_ = self._outcome_model(features[t == 0], outcome[t == 0], self.binary_, 0)
        self.n_features_in_ = features.shape[1]
        return self

    def predict_uplift(self, X: npt.ArrayLike) -> FloatArray:
        features = self._check_fitted(X)
        return _mu(self.treated_model_, features, self.binary_) - _mu(
            self.control_model_, features, self.binary_
        )


class XLearner(_MetaLearner):
    """Künzel et al.'s X-learner (see the module): outcome models, imputed effects per group,
    effect models τ₁ and τ₀, combined by the propensity g.

    ``propensity``: the chance of treatment, a constant in (0, 1); None (the default) = the
    treated share of the rows given to ``fit`` (a randomised campaign's known split).

    Fitted state: ``n_features_in_``, ``binary_``, ``propensity_``, ``treated_model_``,
    ``control_model_``, ``treated_effect_model_`` (τ₁), ``control_effect_model_`` (τ₀).
    """

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        propensity: float | None = None,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        super().__init__(
            n_estimators=n_estimators,
            learning_rate=learning_rate,
            num_leaves=num_leaves,
            min_child_samples=min_child_samples,
            random_state=random_state,
            n_jobs=n_jobs,
        )
        self.propensity = propensity

    def fit(self, X: npt.ArrayLike, treatment: npt.ArrayLike, y: npt.ArrayLike) -> Self:
        if self.propensity is not None and not 0.0 < self.propensity < 1.0:
            raise InvalidInputError([FieldError("propensity", "must lie strictly between 0 and 1")])
        features, t, outcome = check_uplift_data(X, treatment, y)
        binary = _is_binary(outcome)
        treated, control = features[t == 1], features[t == 0]
        mu1 = self._outcome_model(treated, outcome[t == 1], binary, 1)
        mu0 = self._outcome_model(control, outcome[t == 0], binary, 0)
        imputed_treated = outcome[t == 1] - _mu(mu0, treated, binary)
        imputed_control = _mu(mu1, control, binary) - outcome[t == 0]
        self.treated_effect_model_ = lgb.LGBMRegressor(**self._params(3)).fit(treated, imputed_treated)
        self.control_effect_model_ = lgb.LGBMRegressor(**self._params(2)).fit(control, imputed_control)
        self.treated_model_, self.control_model_, self.binary_ = mu1, mu0, binary
        self.propensity_ = float(t.mean()) if self.propensity is None else float(self.propensity)
        self.n_features_in_ = features.shape[1]
        return self

    def predict_untreated(self, X: npt.ArrayLike) -> FloatArray:
        """μ₀(x): the outcome expected without treatment (the chance to buy anyway, for a 0/1
        outcome)."""
        return _mu(self.control_model_, self._check_fitted(X), self.binary_)

    def predict_uplift(self, X: npt.ArrayLike) -> FloatArray:
        features = self._check_fitted(X)
        tau1 = np.asarray(self.treated_effect_model_.predict(features), dtype=np.float64)
        tau0 = np.asarray(self.control_effect_model_.predict(features), dtype=np.float64)
        g = self.propensity_
        return g * tau0 + (1.0 - g) * tau1
