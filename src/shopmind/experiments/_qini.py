"""How well a ranking finds the customers a campaign moves: the Qini curve and coefficient, the
uplift curve and its area (AUUC), measured on customers of a randomised campaign (treated and
holdout) that the model did not train on.

Definitions as Radcliffe (2007, "Using control groups to target on predicted lift: building and
assessing uplift models", Direct Marketing Analytics Journal) and scikit-uplift
(``sklift.metrics``) give them, so the numbers can be compared with theirs:

- rank customers by the predicted uplift, best first; for the top ``k`` (cut only between
  distinct scores) count the treated ``n_t(k)`` and holdout ``n_c(k)`` customers and their
  responders ``r_t(k)``, ``r_c(k)``;
- Qini curve: ``Q(k) = r_t(k) − r_c(k) · n_t(k) / n_c(k)`` (0 while no holdout customer is in),
  the extra responders targeting the top ``k`` brings, in treated-group units;
- uplift curve: ``U(k) = (r_t(k)/n_t(k) − r_c(k)/n_c(k)) · k``;
- the coefficients are areas between the curve and the random ranking's diagonal (trapezoids),
  divided by the same area of the perfect ranking: 1 = perfect, 0 = no better than random.
  Perfect Qini ranking (``negative_effect=True``): treated responders first, holdout responders
  last (sklift's ``perfect_qini_curve``); without negative effects: the ramp to the total
  uplift at ``x`` = the uplift, then flat (also sklift's). Perfect uplift ranking: sklift's
  ``perfect_uplift_curve``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shopmind.core import FieldError, InvalidInputError

FloatArray = npt.NDArray[np.float64]


def _check(
    y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    outcome = np.asarray(y, dtype=np.float64)
    score = np.asarray(uplift, dtype=np.float64)
    t = np.asarray(treatment, dtype=np.float64)
    errors: list[FieldError] = []
    if outcome.ndim != 1 or outcome.size == 0:
        raise InvalidInputError([FieldError("y", "must be a non-empty list of 0/1 outcomes")])
    n = outcome.size
    if not np.isin(outcome, (0.0, 1.0)).all():
        errors.append(FieldError("y", "must hold 0 or 1"))
    if score.shape != (n,):
        errors.append(FieldError("uplift", f"must hold one score per row ({n})"))
    elif not np.isfinite(score).all():
        errors.append(FieldError("uplift", "must be finite numbers"))
    if t.shape != (n,):
        errors.append(FieldError("treatment", f"must hold one 0/1 value per row ({n})"))
    elif not np.isin(t, (0.0, 1.0)).all():
        errors.append(FieldError("treatment", "must hold 0 (holdout) or 1 (treated)"))
    elif t.min() == t.max():
        errors.append(FieldError("treatment", "needs both treated (1) and holdout (0) rows"))
    if errors:
        raise InvalidInputError(errors)
    return outcome, score, t


def _cumulative(
    y: FloatArray, uplift: FloatArray, t: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Counts at each cut between distinct scores, best first (ties stay together)."""
    order = np.argsort(uplift, kind="mergesort")[::-1]  # sklift's order: reversed stable sort
    y, uplift, t = y[order], uplift[order], t[order]
    cuts = np.r_[np.nonzero(np.diff(uplift))[0], uplift.size - 1]
    n_t = np.cumsum(t)[cuts]
    r_t = np.cumsum(y * t)[cuts]
    r_c = np.cumsum(y * (1 - t))[cuts]
    n_all = (cuts + 1).astype(np.float64)
    return n_all, n_t, n_all - n_t, r_t, r_c


def _from_origin(x: FloatArray, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    return np.r_[0.0, x], np.r_[0.0, values]


def _ratio(a: FloatArray, b: FloatArray) -> FloatArray:
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def qini_curve(
    y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """The Qini curve: (customers targeted, extra responders), from (0, 0)."""
    outcome, score, t = _check(y, uplift, treatment)
    n_all, n_t, n_c, r_t, r_c = _cumulative(outcome, score, t)
    return _from_origin(n_all, r_t - r_c * _ratio(n_t, n_c))


def uplift_curve(
    y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """The uplift curve: (customers targeted, response-rate difference × customers), from (0, 0)."""
    outcome, score, t = _check(y, uplift, treatment)
    n_all, n_t, n_c, r_t, r_c = _cumulative(outcome, score, t)
    return _from_origin(n_all, (_ratio(r_t, n_t) - _ratio(r_c, n_c)) * n_all)


def _area_above_diagonal(x: FloatArray, values: FloatArray, end_x: float, end_y: float) -> float:
    return float(np.trapezoid(values, x) - end_x * end_y / 2.0)


def _normalised(actual: tuple[FloatArray, FloatArray], perfect: tuple[FloatArray, FloatArray]) -> float:
    end_x, end_y = float(perfect[0][-1]), float(perfect[1][-1])
    best = _area_above_diagonal(*perfect, end_x, end_y)
    if best == 0.0:
        return 0.0  # no responders at all, or a perfect ranking no better than random: nothing to find
    return _area_above_diagonal(*actual, end_x, end_y) / best


def qini_coefficient(
    y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike, *, negative_effect: bool = True
) -> float:
    """The area between the Qini curve and the random diagonal, over the perfect ranking's
    (sklift's ``qini_auc_score``): 1 perfect, 0 random, below 0 worse than random."""
    outcome, score, t = _check(y, uplift, treatment)
    actual = qini_curve(outcome, score, t)
    if negative_effect:
        perfect = qini_curve(outcome, outcome * t - outcome * (1 - t), t)
    else:
        treated, control = outcome[t == 1], outcome[t == 0]
        total = treated.sum() - treated.size * control.sum() / control.size
        perfect = (np.array([0.0, total, float(outcome.size)]), np.array([0.0, total, total]))
    return _normalised(actual, perfect)


def auuc(y: npt.ArrayLike, uplift: npt.ArrayLike, treatment: npt.ArrayLike) -> float:
    """The normalised area under the uplift curve (sklift's ``uplift_auc_score``)."""
    outcome, score, t = _check(y, uplift, treatment)
    actual = uplift_curve(outcome, score, t)
    holdout_responders = np.sum((outcome == 1) & (t == 0))
    treated_non_responders = np.sum((outcome == 0) & (t == 1))
    summand = outcome if holdout_responders > treated_non_responders else t
    perfect = uplift_curve(outcome, 2 * (outcome == t) + summand, t)
    return _normalised(actual, perfect)
