"""Calibration maps from a classifier's raw score (log-odds) to a probability that keep the ranking:
strictly increasing, so distinct scores stay distinct probabilities and the AUC of the
probabilities is the AUC of the scores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Self

import numpy as np
import numpy.typing as npt
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

FloatArray = npt.NDArray[np.float64]

#: The bound of the tie-breaking term, in log-odds.
STEP = 1e-4


def _logit(p: FloatArray) -> FloatArray:
    return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)


def _expit(z: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


class TieBreaker:
    """A tiny, bounded term that orders the rows a tree ensemble scores alike.

    Trees score in steps: profiles whose features fall in the same leaf of every tree share a
    score, however different they are (a few hundred distinct scores per thousand profiles),
    and no calibration map can tell them apart. A logistic regression of the outcome on the
    features (signed log of each, standardised: spend and counts are heavy-tailed) orders such
    ties; its log-odds enter squashed into (-1, 1) and scaled by ``STEP`` (1e-4 log-odds), so it
    only reorders rows whose tree scores lie within 2e-4 log-odds of each other (alike for any
    purpose) and moves no probability by more than 2.5e-5. Smaller steps drown in rounding: two
    profiles that differ a little get log-odds a hair apart, and the hair is lost in float
    arithmetic (5 of 6,438 demo profiles shared a probability at 1e-6).

    Fitted state: ``center_``, ``scale_``, ``model_`` (the regression).
    """

    def fit(self, x: npt.ArrayLike, y: npt.ArrayLike) -> Self:
        z = self._squash(x)
        self.center_ = z.mean(axis=0)
        spread = z.std(axis=0)
        self.scale_ = np.where(spread > 0, spread, 1.0)
        self.model_ = LogisticRegression(C=1.0).fit((z - self.center_) / self.scale_, np.asarray(y))
        return self

    @staticmethod
    def _squash(x: npt.ArrayLike) -> FloatArray:
        arr = np.nan_to_num(np.asarray(x, dtype=np.float64))  # the trees route NaN; here it counts as 0
        return np.asarray(np.sign(arr) * np.log1p(np.abs(arr)), dtype=np.float64)

    def term(self, x: npt.ArrayLike) -> FloatArray:
        z = (self._squash(x) - self.center_) / self.scale_
        # d / (1 + |d|) rather than tanh: bounded, but it does not flatten (and so tie again)
        # rows whose regression log-odds are far from 0
        d = np.asarray(self.model_.decision_function(z), dtype=np.float64)
        return STEP * d / (1.0 + np.abs(d))


class PlattMap:
    """Platt's logistic curve ``p = 1 / (1 + exp(-(a·s + b)))`` fitted by maximum likelihood; the
    slope is kept positive so the map never turns the ranking round."""

    def fit(self, score: npt.ArrayLike, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> Self:
        s = np.asarray(score, dtype=np.float64)
        # a weak penalty only: the slope and intercept are two numbers fitted on thousands of rows
        fit = LogisticRegression(C=1e4).fit(s.reshape(-1, 1), np.asarray(y), sample_weight=sample_weight)
        # a score that does not rank (slope <= 0 on these rows) still maps strictly increasing,
        # with a slope too small to move a probability noticeably
        self.slope_ = max(float(fit.coef_[0, 0]), 1e-6)
        self.intercept_ = float(fit.intercept_[0])
        return self

    def log_odds(self, score: npt.ArrayLike) -> FloatArray:
        return self.slope_ * np.asarray(score, dtype=np.float64) + self.intercept_

    def predict(self, score: npt.ArrayLike) -> FloatArray:
        return _expit(self.log_odds(score))


class InterpolatedIsotonicMap:
    """Isotonic regression that does not collapse scores into steps.

    Isotonic regression (pool adjacent violators) pools the sorted scores into blocks of one
    observed rate each; a step function would give every row of a block the same probability
    (a few dozen values for thousands of profiles, whose ties cost ranking). Here each block is
    a point (mean score of its rows, observed rate of its rows), rates pulled into
    ``[1/(2n), 1 - 1/(2n)]`` so none is certain, and the points are joined by straight lines: the
    map is strictly increasing and still follows the observed rates. Beyond the outer points the
    log-odds go on with the slope of Platt's curve fitted on the same rows, so scores outside
    the calibration range keep their order without running off to 0 or 1. With a single block
    (a score that does not rank at all) the map is Platt's curve.

    Fitted state: ``knots_`` (block mean scores, increasing), ``rates_`` (their probabilities,
    strictly increasing), ``platt_`` (the :class:`PlattMap` of the tails).
    """

    def fit(self, score: npt.ArrayLike, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None) -> Self:
        s = np.asarray(score, dtype=np.float64)
        target = np.asarray(y, dtype=np.float64)
        weight = np.ones(s.size) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        kept = weight > 0  # rows of no weight are not points of the map
        s, target, weight = s[kept], target[kept], weight[kept]
        n = s.size
        self.platt_ = PlattMap().fit(s, target, sample_weight=weight)
        order = np.argsort(s, kind="stable")
        s, target, weight = s[order], target[order], weight[order]
        fitted = IsotonicRegression(out_of_bounds="clip").fit(s, target, sample_weight=weight).predict(s)
        # a block: a run of rows with one fitted rate (ties in the score share a row's rate)
        starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
        self.knots_ = np.add.reduceat(s * weight, starts) / np.add.reduceat(weight, starts)
        eps = 0.5 / n
        self.rates_ = np.clip(fitted[starts], eps, 1.0 - eps)
        return self

    def predict(self, score: npt.ArrayLike) -> FloatArray:
        s = np.asarray(score, dtype=np.float64)
        if self.knots_.size < 2:
            return self.platt_.predict(s)
        p = np.interp(s, self.knots_, self.rates_)
        slope = self.platt_.slope_
        low, high = s < self.knots_[0], s > self.knots_[-1]
        p[low] = _expit(_logit(self.rates_[:1]) + slope * (s[low] - self.knots_[0]))
        p[high] = _expit(_logit(self.rates_[-1:]) + slope * (s[high] - self.knots_[-1]))
        return p


#: How much the out-of-fold score of a row from an older time window counts when the map
#: learns, by the window's age (0 = the newest): the newest window or two only, a half-life of
#: one or two windows, or every window alike. A shop's base rate drifts, but a single window is
#: few rows: which trade-off suits a shop is chosen by :func:`choose_recency`.
RECENCY: dict[str, Callable[[npt.NDArray[np.int64]], FloatArray]] = {
    "newest window": lambda age: (age < 1).astype(np.float64),
    "newest 2 windows": lambda age: (age < 2).astype(np.float64),
    "half-life 1 window": lambda age: np.asarray(0.5**age, dtype=np.float64),
    "half-life 2 windows": lambda age: np.asarray(0.5 ** (age / 2.0), dtype=np.float64),
    "every window alike": lambda age: np.ones(age.size),
}


def calibration_map(method: Literal["isotonic", "sigmoid"]) -> InterpolatedIsotonicMap | PlattMap:
    """A new, unfitted map of the named kind."""
    return InterpolatedIsotonicMap() if method == "isotonic" else PlattMap()


def choose_recency(
    score: npt.ArrayLike, y: npt.ArrayLike, age: npt.ArrayLike, method: Literal["isotonic", "sigmoid"]
) -> tuple[str, FloatArray, dict[str, float]]:
    """The :data:`RECENCY` weighting whose map best predicts the newest window from the older ones.

    A backtest one window back: each weighting's map learns on the windows of age >= 1 (ages
    counted from the window of age 1) and is scored by log-loss (a proper score: unlike a
    binned calibration error it rewards the right base rate and the right shape, and does not
    depend on bins) on the newest window's rows. Ties go to the earlier entry of
    :data:`RECENCY`; a weighting that leaves one outcome only is not a candidate. Returns the
    chosen name, its weights over all rows (ages as given) and every candidate's log-loss.
    Without two windows, or when no candidate is left, every window counts alike.
    """
    s = np.asarray(score, dtype=np.float64)
    target = np.asarray(y, dtype=np.int64)
    ages = np.asarray(age, dtype=np.int64)
    newest, older = ages == 0, ages >= 1
    losses: dict[str, float] = {}
    if np.unique(target[newest]).size == 2:
        for name, weigh in RECENCY.items():
            weight = weigh(ages[older] - 1)
            if np.unique(target[older][weight > 0]).size < 2:
                continue
            fitted = calibration_map(method).fit(s[older], target[older], sample_weight=weight)
            losses[name] = float(log_loss(target[newest], fitted.predict(s[newest]), labels=[0, 1]))
    candidates = [name for name in losses if np.unique(target[RECENCY[name](ages) > 0]).size == 2]
    chosen = min(candidates, key=losses.__getitem__) if candidates else "every window alike"
    return chosen, RECENCY[chosen](ages), losses
