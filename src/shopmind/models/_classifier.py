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
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from shopmind.core import FieldError, InvalidInputError
from shopmind.models._errors import NotFittedError

FloatArray = npt.NDArray[np.float64]


class CalibratedBoostingClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM trees whose scores are mapped to honest probabilities.

    The trees learn on one part of the rows; the calibration map (isotonic regression, or Platt's
    logistic curve) learns on rows the trees did not see: the ``calibration`` rows given to
    ``fit`` (e.g. the latest time window, so the probabilities follow the latest base rate), or
    else a seeded ``calibration_share`` of the rows.

    Hyper-parameters: ``n_estimators``, ``learning_rate``, ``num_leaves``, ``min_child_samples``
    (the trees), ``calibration`` ("isotonic" or "sigmoid"), ``calibration_share``,
    ``random_state``, ``n_jobs`` (1 keeps results identical across machines).

    Fitted state: ``feature_names_in_``, ``booster_``, ``calibrator_``, ``classes_``,
    ``feature_importances_`` (total gain per feature, as a pandas Series, largest first).
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 40,
        calibration: Literal["isotonic", "sigmoid"] = "isotonic",
        calibration_share: float = 0.25,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration = calibration
        self.calibration_share = calibration_share
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

    def _check_y(self, y: npt.ArrayLike, n: int, field: str = "y") -> npt.NDArray[np.int64]:
        arr = np.asarray(y)
        if arr.shape != (n,):
            raise InvalidInputError([FieldError(field, f"must hold one outcome per row ({n})")])
        if not np.isin(arr, (0, 1)).all():
            raise InvalidInputError([FieldError(field, "must hold 0 or 1")])
        return arr.astype(np.int64)

    def fit(
        self,
        X: pd.DataFrame | npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        calibration: tuple[pd.DataFrame | npt.ArrayLike, npt.ArrayLike] | None = None,
        groups: npt.ArrayLike | None = None,
        n_folds: int = 3,
    ) -> Self:
        """Fit the trees, then the calibration map; returns ``self``.

        With ``groups`` (e.g. the time window of each row), the calibration map learns on
        out-of-fold scores: the groups are dealt into ``n_folds`` folds, trees trained without a
        fold score it, and the final trees train on every row (cross-fitting, as scikit-learn's
        ``CalibratedClassifierCV(ensemble=False)``): every row calibrates, and no row is scored
        by trees that saw it.

        Raises:
            InvalidInputError: y not 0/1 or of the wrong length, only one class, or an unknown
                calibration method.
        """
        if self.calibration not in ("isotonic", "sigmoid"):
            raise InvalidInputError([FieldError("calibration", "must be 'isotonic' or 'sigmoid'")])
        frame = self._frame(X, fit=True)
        target = self._check_y(y, len(frame))
        if groups is not None:
            return self._fit_cross(frame, target, np.asarray(groups), n_folds)
        if calibration is None:
            rng = np.random.default_rng(self.random_state)
            held = rng.random(len(frame)) < self.calibration_share
            train_x, train_y = frame[~held], target[~held]
            cal_x, cal_y = frame[held], target[held]
        else:
            train_x, train_y = frame, target
            cal_x = self._frame(calibration[0], fit=True)[list(frame.columns)]
            cal_y = self._check_y(calibration[1], len(cal_x), "calibration")
        for part, values in (("y", train_y), ("calibration", cal_y)):
            if np.unique(values).size < 2:
                raise InvalidInputError(
                    [
                        FieldError(
                            part, "needs both outcomes (some 1s and some 0s): widen the window or add data"
                        )
                    ]
                )
        self.booster_ = self._train(train_x, train_y)
        self._calibrate(self._raw(cal_x), cal_y, frame)
        return self

    def _fit_cross(
        self, frame: pd.DataFrame, target: npt.NDArray[np.int64], groups: npt.NDArray[Any], n_folds: int
    ) -> Self:
        if groups.shape != (len(frame),):
            raise InvalidInputError([FieldError("groups", f"must hold one group per row ({len(frame)})")])
        labels = np.unique(groups)
        if labels.size < n_folds or n_folds < 2:
            raise InvalidInputError(
                [FieldError("groups", f"need at least n_folds = {max(n_folds, 2)} distinct groups")]
            )
        if np.unique(target).size < 2:
            raise InvalidInputError(
                [FieldError("y", "needs both outcomes (some 1s and some 0s): widen the window or add data")]
            )
        # groups dealt round-robin, so every fold spans the whole time range (its seasons and
        # trends); with overlapping time windows neighbours then leak into each other's folds,
        # which makes the calibration overconfident: use non-overlapping windows
        fold_of = {g: i % n_folds for i, g in enumerate(labels)}
        fold = np.array([fold_of[g] for g in groups])
        out_of_fold = np.empty(len(frame))
        for f in range(n_folds):
            held = fold == f
            out_of_fold[held] = np.asarray(
                self._train(frame[~held], target[~held]).predict(frame[held], raw_score=True),
                dtype=np.float64,
            )
        self.booster_ = self._train(frame, target)
        self._calibrate(out_of_fold, target, frame)
        return self

    def _train(self, x: pd.DataFrame, y: npt.NDArray[np.int64]) -> lgb.Booster:
        params: dict[str, Any] = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return lgb.train(params, lgb.Dataset(x, label=y, free_raw_data=True), self.n_estimators)

    def _calibrate(self, raw: FloatArray, cal_y: npt.NDArray[np.int64], frame: pd.DataFrame) -> None:
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = len(frame.columns)
        self.classes_ = np.array([0, 1])
        if self.calibration == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            self.calibrator_: IsotonicRegression | LogisticRegression = iso.fit(raw, cal_y)
        else:
            self.calibrator_ = LogisticRegression().fit(raw.reshape(-1, 1), cal_y)
        gain = self.booster_.feature_importance(importance_type="gain")
        self.feature_importances_ = pd.Series(gain, index=list(frame.columns)).sort_values(ascending=False)

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(X, y) before predicting."
            )

    def _raw(self, frame: pd.DataFrame) -> FloatArray:
        """The trees' score (log-odds) per row."""
        return np.asarray(self.booster_.predict(frame, raw_score=True), dtype=np.float64)

    def predict_proba(self, X: pd.DataFrame | npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities, shape (n, 2): columns P(0), P(1)."""
        self._check_fitted()
        raw = self._raw(self._frame(X, fit=False))
        if isinstance(self.calibrator_, IsotonicRegression):
            p = np.asarray(self.calibrator_.predict(raw), dtype=np.float64)
        else:
            p = self.calibrator_.predict_proba(raw.reshape(-1, 1))[:, 1]
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def top_features(self, n: int = 8) -> tuple[tuple[str, float], ...]:
        """The ``n`` features with the largest share of the trees' total gain, largest first."""
        self._check_fitted()
        gain = self.feature_importances_
        share = gain / gain.sum() if gain.sum() > 0 else gain
        return tuple((str(name), float(value)) for name, value in share.head(n).items())

    def predict(self, X: pd.DataFrame | npt.ArrayLike) -> npt.NDArray[np.int64]:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def explain(self, X: pd.DataFrame | npt.ArrayLike, top: int = 3) -> list[list[tuple[str, float]]]:
        """Per row, the ``top`` features that push its score up the most, with their SHAP
        contributions to the log-odds (LightGBM's exact tree SHAP)."""
        self._check_fitted()
        frame = self._frame(X, fit=False)
        contributions = np.asarray(self.booster_.predict(frame, pred_contrib=True))[:, :-1]
        names = list(self.feature_names_in_)
        order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
        return [
            [(names[j], float(contributions[i, j])) for j in row if contributions[i, j] > 0]
            for i, row in enumerate(order)
        ]
