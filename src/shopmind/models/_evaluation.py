"""How good a probability is: the model card of a binary prediction (AUC, Brier score, expected
calibration error, reliability curve, lift by decile, predicted vs actual per probability band)."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import brier_score_loss, roc_auc_score

from shopmind.core import FieldError, InvalidInputError


@dataclass(frozen=True)
class Band:
    """Profiles whose predicted probability lies in ``[low, high)`` (the last band includes 1)."""

    low: float
    high: float
    profiles: int
    expected_buyers: float  # the sum of the predicted probabilities
    actual_buyers: int  # NaN-free count of positives (in a backtest)


@dataclass(frozen=True)
class ModelCard:
    """Quality of predicted probabilities ``p`` against outcomes ``y`` on data the model did not see.

    - ``auc``: area under the ROC curve (0.5 = chance), NaN when only one class occurs.
    - ``brier``: mean squared error of the probabilities (lower is better).
    - ``ece``: expected calibration error, the count-weighted mean |observed rate - mean p| over
      ten equal-width probability bins.
    - ``reliability``: per non-empty bin (mean predicted, observed rate, count): the calibration curve.
    - ``lift``: per decile of p (1 = highest), (decile, positive rate, lift over the base rate).
    - ``bands``: 10% probability bands with expected vs actual positives (the backtest).
    """

    name: str
    n: int
    positives: int
    base_rate: float
    auc: float
    brier: float
    ece: float
    reliability: tuple[tuple[float, float, int], ...]
    lift: tuple[tuple[int, float, float], ...]
    bands: tuple[Band, ...]
    baseline_auc: float | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    y_arr = np.asarray(y)
    p_arr = np.asarray(p, dtype=np.float64)
    errors = []
    if y_arr.shape != p_arr.shape or y_arr.ndim != 1:
        errors.append(FieldError("p", "must be one probability per outcome (two 1-d arrays of one length)"))
    elif not np.isin(y_arr, (0, 1)).all():
        errors.append(FieldError("y", "must hold 0 or 1"))
    elif not ((p_arr >= 0) & (p_arr <= 1)).all():
        errors.append(FieldError("p", "must be probabilities in [0, 1]"))
    if errors:
        raise InvalidInputError(errors)
    return y_arr.astype(np.int64), p_arr


def probability_bands(
    p: npt.ArrayLike, y: npt.ArrayLike | None = None, edges: npt.ArrayLike | None = None
) -> tuple[Band, ...]:
    """Profiles per probability band (default: 10% bands), with expected and, given ``y``,
    actual positives. ``edges`` may be any increasing cut points in [0, 1], e.g. a marketer's
    own range ``[0.3, 0.55]`` gives one band."""
    p_arr = np.asarray(p, dtype=np.float64)
    y_arr = np.zeros(p_arr.shape, dtype=np.int64) if y is None else np.asarray(y, dtype=np.int64)
    cuts = np.linspace(0.0, 1.0, 11) if edges is None else np.asarray(edges, dtype=np.float64)
    if cuts.ndim != 1 or cuts.size < 2 or (np.diff(cuts) <= 0).any() or cuts[0] < 0 or cuts[-1] > 1:
        raise InvalidInputError([FieldError("edges", "must be at least two increasing numbers in [0, 1]")])
    bands = []
    for i, (low, high) in enumerate(itertools.pairwise(cuts)):
        last = i == cuts.size - 2
        inside = (p_arr >= low) & ((p_arr <= high) if last and high == 1.0 else (p_arr < high))
        bands.append(
            Band(
                float(low),
                float(high),
                int(inside.sum()),
                float(p_arr[inside].sum()),
                int(y_arr[inside].sum()),
            )
        )
    return tuple(bands)


def model_card(
    y: npt.ArrayLike,
    p: npt.ArrayLike,
    *,
    name: str,
    baseline: npt.ArrayLike | None = None,
    notes: tuple[str, ...] = (),
) -> ModelCard:
    """The model card of probabilities ``p`` for outcomes ``y`` (see :class:`ModelCard`).
    ``baseline``: scores of a simpler rule (e.g. minus the days since the last visit) whose AUC
    is reported beside the model's."""
    y_arr, p_arr = _check(y, p)
    n = y_arr.size
    both = 0 < y_arr.sum() < n
    auc = float(roc_auc_score(y_arr, p_arr)) if both else float("nan")
    base_auc = None
    if baseline is not None:
        base_auc = (
            float(roc_auc_score(y_arr, np.asarray(baseline, dtype=np.float64))) if both else float("nan")
        )
    bins = np.minimum((p_arr * 10).astype(np.int64), 9)
    reliability = []
    ece = 0.0
    for b in range(10):
        inside = bins == b
        count = int(inside.sum())
        if count:
            mean_p, rate = float(p_arr[inside].mean()), float(y_arr[inside].mean())
            reliability.append((mean_p, rate, count))
            ece += count / n * abs(rate - mean_p)
    base_rate = float(y_arr.mean()) if n else float("nan")
    order = np.argsort(-p_arr, kind="stable")
    lift = []
    for d, part in enumerate(np.array_split(order, 10), start=1):
        if part.size:
            rate = float(y_arr[part].mean())
            lift.append((d, rate, rate / base_rate if base_rate > 0 else float("nan")))
    return ModelCard(
        name=name,
        n=n,
        positives=int(y_arr.sum()),
        base_rate=base_rate,
        auc=auc,
        brier=float(brier_score_loss(y_arr, p_arr)) if n else float("nan"),
        ece=float(ece),
        reliability=tuple(reliability),
        lift=tuple(lift),
        bands=probability_bands(p_arr, y_arr),
        baseline_auc=base_auc,
        notes=notes,
    )
