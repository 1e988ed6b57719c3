"""Gradient-boosted trees with calibrated probabilities: the supervised model behind purchase
probability, churn and look-alike scores."""

from __future__ import annotations

import warnings
from typing import Any, Literal, Self

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold

from shopmind.core import FieldError, InvalidInputError
from shopmind.models._calibration import (
    InterpolatedIsotonicMap,
    PlattMap,
    TieBreaker,
    calibration_map,
    choose_recency,
)
from shopmind.models._errors import NotFittedError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _prior(y: IntArray) -> float:
    """The log-odds LightGBM's trees start from (``boost_from_average``): that of the rate of
    the rows they learn on."""
    rate = float(np.mean(y))
    return float(np.log(rate) - np.log1p(-rate))


_BOTH = "needs both outcomes (some 1s and some 0s): widen the window or add data"


class CalibratedBoostingClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM trees whose scores are mapped to honest probabilities, keeping their ranking.

    The trees learn on every row. The calibration map learns on scores of rows the scoring trees
    did not see: by default out-of-fold scores (cross-fitting, as scikit-learn's
    ``CalibratedClassifierCV(ensemble=False)``): the rows are dealt into ``n_folds`` seeded,
    stratified folds (or, given ``groups`` such as time windows, whole groups are dealt), trees
    trained without a fold score it, and the map learns on those scores; or on the
    ``calibration`` rows given to ``fit`` (e.g. the latest time window, so the probabilities
    follow the latest base rate). The map reads a score over the trees' starting point (the
    log-odds of the rate of the rows they learnt on), so fold trees and the final trees, which
    learn on rows of different rates, feed it alike. Given each row's time-window ``age``, how
    much older windows count in the map is chosen by a backtest on the newest window.

    The map is strictly increasing, so distinct scores give distinct probabilities and the
    ranking (AUC) is the trees' own: "isotonic" (default) is isotonic regression with its blocks
    joined by straight lines (:class:`~shopmind.models._calibration.InterpolatedIsotonicMap`),
    "sigmoid" is Platt's logistic curve.

    With ``choose_trees`` the number of trees (at most ``n_estimators``) is the one with the
    lowest out-of-fold log-loss (or log-loss on the ``calibration`` rows), so small or noisy data
    get fewer trees instead of trees that learnt their noise.

    Hyper-parameters: ``n_estimators``, ``learning_rate``, ``num_leaves``, ``min_child_samples``
    (the trees), ``calibration`` ("isotonic" or "sigmoid"), ``choose_trees``, ``random_state``,
    ``n_jobs`` (1 keeps results identical across machines).

    Fitted state: ``feature_names_in_``, ``booster_``, ``calibrator_``, ``classes_``,
    ``n_estimators_`` (trees used), ``prior_`` (the trees' starting log-odds),
    ``feature_importances_`` (total gain per feature, as a pandas Series, largest first); after
    a fit with ``age``: ``recency_`` (the chosen weighting of the windows, a key of
    :data:`~shopmind.models._calibration.RECENCY`) and ``recency_losses_`` (each candidate's
    log-loss on the newest window).
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 40,
        calibration: Literal["isotonic", "sigmoid"] = "isotonic",
        choose_trees: bool = True,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration = calibration
        self.choose_trees = choose_trees
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _frame(self, X: pd.DataFrame | npt.ArrayLike, *, fit: bool) -> pd.DataFrame:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=np.float64))
        frame = frame.astype(np.float64)
        if fit:
            return frame
        missing = [c for c in self.feature_names_in_ if c not in frame.columns]
        if missing:
            raise InvalidInputError(
                [FieldError("X", f"lacks the feature columns {', '.join(map(str, missing))}")]
            )
        return frame[list(self.feature_names_in_)]

    def _check_y(self, y: npt.ArrayLike, n: int, field: str = "y") -> IntArray:
        arr = np.asarray(y)
        if arr.shape != (n,):
            raise InvalidInputError([FieldError(field, f"must hold one outcome per row ({n})")])
        if not np.isin(arr, (0, 1)).all():
            raise InvalidInputError([FieldError(field, "must hold 0 or 1")])
        if np.unique(arr).size < 2:
            raise InvalidInputError([FieldError(field, _BOTH)])
        return arr.astype(np.int64)

    def fit(
        self,
        X: pd.DataFrame | npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        calibration: tuple[pd.DataFrame | npt.ArrayLike, npt.ArrayLike] | None = None,
        groups: npt.ArrayLike | None = None,
        n_folds: int = 3,
        calibrate_on: npt.ArrayLike | None = None,
        age: npt.ArrayLike | None = None,
    ) -> Self:
        """Fit the trees on every row, then the calibration map; returns ``self``.

        Without ``calibration`` rows the map learns on out-of-fold scores: the rows are dealt
        into ``n_folds`` seeded folds stratified by outcome or, with ``groups`` (e.g. the time
        window of each row), the groups are dealt round-robin into the folds. With
        ``calibration=(X_cal, y_cal)`` the map learns on those rows. ``calibrate_on`` (a
        boolean per row) restricts the out-of-fold scores the map learns on, e.g. to the newest
        time windows, so the probabilities follow the latest base rate while the trees still
        learn on every row. ``age`` (per row, the age of its time window: 0 = the newest, 1 the
        one before...) lets the classifier choose how much older windows count in the map
        (:func:`~shopmind.models._calibration.choose_recency`: a backtest that predicts the
        newest window from the older ones); the choice is kept in ``recency_``.

        Raises:
            InvalidInputError: y not 0/1 or of the wrong length, only one class, an unknown
                calibration method, too few folds or groups.
        """
        if self.calibration not in ("isotonic", "sigmoid"):
            raise InvalidInputError([FieldError("calibration", "must be 'isotonic' or 'sigmoid'")])
        frame = self._frame(X, fit=True)
        target = self._check_y(y, len(frame))
        if calibrate_on is not None and age is not None:
            raise InvalidInputError(
                [FieldError("age", "chooses the calibration rows itself: give it or calibrate_on, not both")]
            )
        if calibration is not None:
            for field, given in (("calibrate_on", calibrate_on), ("age", age)):
                if given is not None:
                    raise InvalidInputError(
                        [FieldError(field, "applies to out-of-fold scores: give it or calibration, not both")]
                    )
            cal_x = self._frame(calibration[0], fit=True)[list(frame.columns)]
            cal_y = self._check_y(calibration[1], len(cal_x), "calibration")
            booster, trees = self._train(frame, target, valid=(cal_x, cal_y))
            self.booster_, self.n_estimators_ = booster, trees
            self.prior_ = _prior(target)
            self._calibrate(self._tree_score(cal_x) - self.prior_, cal_y, frame, target)
            return self
        fold = self._folds(target, groups, n_folds)
        mask = np.ones(len(frame), dtype=bool)
        if calibrate_on is not None:
            mask = np.asarray(calibrate_on)
            if mask.shape != (len(frame),) or mask.dtype != np.bool_:
                raise InvalidInputError(
                    [FieldError("calibrate_on", f"must hold one true/false per row ({len(frame)})")]
                )
            if np.unique(target[mask]).size < 2:
                raise InvalidInputError([FieldError("calibrate_on", f"rows {_BOTH}")])
        ages = None
        if age is not None:
            ages = np.asarray(age)
            if ages.shape != (len(frame),) or ages.dtype.kind not in "iu" or (ages < 0).any():
                raise InvalidInputError(
                    [FieldError("age", f"must hold one whole number >= 0 per row ({len(frame)})")]
                )
        return self._fit_cross(frame, target, fold, mask.astype(np.float64), ages)

    def _folds(self, target: IntArray, groups: npt.ArrayLike | None, n_folds: int) -> IntArray:
        """The fold of each row."""
        if not isinstance(n_folds, int | np.integer) or n_folds < 2:
            raise InvalidInputError([FieldError("n_folds", "must be a whole number >= 2")])
        n = target.size
        if groups is None:
            if np.bincount(target).min() < n_folds:
                raise InvalidInputError(
                    [FieldError("y", f"needs at least n_folds = {n_folds} rows of each outcome")]
                )
            fold = np.empty(n, dtype=np.int64)
            split = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state)
            for f, (_, held) in enumerate(split.split(np.zeros(n), target)):
                fold[held] = f
            return fold
        group = np.asarray(groups)
        if group.shape != (n,):
            raise InvalidInputError([FieldError("groups", f"must hold one group per row ({n})")])
        labels, index = np.unique(group, return_inverse=True)
        if labels.size < n_folds:
            raise InvalidInputError(
                [FieldError("groups", f"need at least n_folds = {n_folds} distinct groups")]
            )
        # groups dealt round-robin, so every fold spans the whole time range (its seasons and
        # trends); with overlapping time windows neighbours then leak into each other's folds,
        # which makes the calibration overconfident: use non-overlapping windows
        fold = (np.arange(labels.size) % n_folds)[index].astype(np.int64)
        for f in range(n_folds):
            if np.unique(target[fold != f]).size < 2:
                raise InvalidInputError(
                    [
                        FieldError(
                            "groups",
                            f"leave the trees of fold {f} one outcome only: use other groups or add data",
                        )
                    ]
                )
        return fold

    def _fit_cross(
        self,
        frame: pd.DataFrame,
        target: IntArray,
        fold: IntArray,
        weight: FloatArray,
        age: npt.NDArray[np.int64] | None,
    ) -> Self:
        n_folds = int(fold.max()) + 1
        boosters, losses = [], np.zeros(self.n_estimators)
        for f in range(n_folds):
            held = fold == f
            booster, curve = self._train_curve(frame[~held], target[~held], frame[held], target[held])
            boosters.append(booster)
            losses += curve * held.sum()
        trees = int(np.argmin(losses)) + 1 if self.choose_trees else self.n_estimators
        out_of_fold = np.empty(len(frame))
        for f, booster in enumerate(boosters):
            held = fold == f
            # over the trees' own starting point: trees of a fold whose windows bought more
            # start higher, and the final trees start from the rate of every row; unshifted, the
            # map would carry the folds' offset into the final trees (a drifting shop's newest
            # windows, calibrated on, were under-predicted by 0.02 this way)
            out_of_fold[held] = np.asarray(
                booster.predict(frame[held], raw_score=True, num_iteration=trees), dtype=np.float64
            ) - _prior(target[~held])
        self.booster_ = self._train(frame, target, trees=trees)[0]
        self.prior_ = _prior(target)
        self.n_estimators_ = trees
        if age is not None:
            self.recency_, weight, self.recency_losses_ = choose_recency(
                out_of_fold, target, age, self.calibration
            )
        kept = weight > 0
        self._calibrate(out_of_fold[kept], target[kept], frame, target, weight[kept])
        return self

    def _params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }

    def _train_curve(
        self, x: pd.DataFrame, y: IntArray, valid_x: pd.DataFrame, valid_y: IntArray
    ) -> tuple[lgb.Booster, FloatArray]:
        """Trees on ``x`` and their log-loss on the valid rows after each tree."""
        train = lgb.Dataset(x, label=y, free_raw_data=True)
        valid = lgb.Dataset(valid_x, label=valid_y, reference=train, free_raw_data=True)
        record: dict[str, dict[str, list[float]]] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            booster = lgb.train(
                self._params(),
                train,
                self.n_estimators,
                valid_sets=[valid],
                valid_names=["valid"],
                callbacks=[lgb.record_evaluation(record)],
            )
        return booster, np.asarray(record["valid"]["binary_logloss"], dtype=np.float64)

    def _train(
        self,
        x: pd.DataFrame,
        y: IntArray,
        *,
        trees: int | None = None,
        valid: tuple[pd.DataFrame, IntArray] | None = None,
    ) -> tuple[lgb.Booster, int]:
        """Trees on ``x``: ``trees`` of them, or as many as suit the ``valid`` rows best."""
        if valid is not None and self.choose_trees:
            booster, curve = self._train_curve(x, y, *valid)
            best = int(np.argmin(curve)) + 1
            # boosting is sequential: the first ``best`` trees are the model of ``best`` trees
            return lgb.Booster(model_str=booster.model_to_string(num_iteration=best)), best
        count = trees or self.n_estimators
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return lgb.train(self._params(), lgb.Dataset(x, label=y, free_raw_data=True), count), count

    def _calibrate(
        self,
        raw: FloatArray,
        cal_y: IntArray,
        frame: pd.DataFrame,
        target: IntArray,
        weight: FloatArray | None = None,
    ) -> None:
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = len(frame.columns)
        self.classes_ = np.array([0, 1])
        self.calibrator_: InterpolatedIsotonicMap | PlattMap = calibration_map(self.calibration).fit(
            raw, cal_y, sample_weight=weight
        )
        self.tie_breaker_ = TieBreaker().fit(frame, target)
        gain = self.booster_.feature_importance(importance_type="gain")
        self.feature_importances_ = pd.Series(gain, index=list(frame.columns)).sort_values(ascending=False)

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(X, y) before predicting."
            )

    def _tree_score(self, frame: pd.DataFrame) -> FloatArray:
        """The trees' score (log-odds) per row."""
        return np.asarray(self.booster_.predict(frame, raw_score=True), dtype=np.float64)

    def _raw(self, frame: pd.DataFrame) -> FloatArray:
        """The trees' score over their prior, with the tie-breaker (once fitted) added: what the
        calibration map reads."""
        score = self._tree_score(frame) - self.prior_
        if hasattr(self, "tie_breaker_"):
            score = score + self.tie_breaker_.term(frame.to_numpy())
        return score

    def predict_proba(self, X: pd.DataFrame | npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities, shape (n, 2): columns P(0), P(1)."""
        self._check_fitted()
        p = self.calibrator_.predict(self._raw(self._frame(X, fit=False)))
        return np.column_stack([1.0 - p, p])

    def top_features(self, n: int = 8) -> tuple[tuple[str, float], ...]:
        """The ``n`` features with the largest share of the trees' total gain, largest first."""
        self._check_fitted()
        gain = self.feature_importances_
        share = gain / gain.sum() if gain.sum() > 0 else gain
        return tuple((str(name), float(value)) for name, value in share.head(n).items())

    def predict(self, X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.int64]:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def top_contributions(
        self, X: pd.DataFrame | npt.ArrayLike, top: int = 3
    ) -> tuple[npt.NDArray[np.int64], FloatArray]:
        """Per row, the column indices (into ``feature_names_in_``) of the ``top`` features that
        push its score up the most, and their SHAP contributions to the log-odds (LightGBM's exact
        tree SHAP), largest first; a contribution that does not push up (<= 0) is NaN. Arrays of
        shape (n, top): compact enough for millions of rows, unlike :meth:`explain`'s lists."""
        self._check_fitted()
        frame = self._frame(X, fit=False)
        contributions = np.asarray(self.booster_.predict(frame, pred_contrib=True))[:, :-1]
        order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
        values = np.take_along_axis(contributions, order, axis=1)
        return order.astype(np.int64), np.where(values > 0, values, np.nan)

    def explain(self, X: pd.DataFrame | npt.ArrayLike, top: int = 3) -> list[list[tuple[str, float]]]:
        """Per row, the ``top`` features that push its score up the most, with their SHAP
        contributions to the log-odds (:meth:`top_contributions` as names and numbers)."""
        order, values = self.top_contributions(X, top)
        names = list(self.feature_names_in_)
        return [
            [(names[j], float(v)) for j, v in zip(row, row_values, strict=True) if v > 0]
            for row, row_values in zip(order, values, strict=True)
        ]
