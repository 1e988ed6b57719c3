"""Off-policy evaluation: what a new policy's reward (click or conversion rate) would have been,
estimated from the decisions another policy logged with its propensities — so a marketer can
compare policies without running a new test.

For logged decision ``i`` (action ``a_i`` shown with the logging policy's probability
``μ_i = μ(a_i | x_i)``, reward ``r_i``) and the target policy's probability ``π_i = π(a_i | x_i)``
of the same action, the importance weight is ``w_i = π_i / μ_i``:

- IPS (Horvitz & Thompson 1952): ``V = mean(w_i r_i)``; unbiased when μ > 0 wherever π > 0.
- Self-normalised IPS (Swaminathan & Joachims 2015): ``V = Σ w_i r_i / Σ w_i``; slightly biased,
  far less variable when the weights are large.
- Doubly robust (Dudík, Langford & Li 2011): with a reward model ``q(x, a)``,
  ``V = mean(Σ_a π(a | x_i) q(x_i, a) + w_i (r_i − q(x_i, a_i)))``; unbiased if either the
  propensities or the reward model are right, and less variable than IPS when the model is good.

Each returns an :class:`Interval`: the estimate ± z · the standard error of its per-decision terms
(the sample standard deviation over √n; for SNIPS the delta method's linearised terms
``w_i (r_i − V) / mean(w)``). A normal interval: with few rewards (tens of clicks) it is wide, as
it should be.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats

from shopmind.core import FieldError, InvalidInputError
from shopmind.experiments._report import Interval

FloatArray = npt.NDArray[np.float64]


def _array(name: str, values: npt.ArrayLike, n: int | None) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or (n is not None and arr.shape != (n,)):
        raise InvalidInputError([FieldError(name, f"must hold one number per decision ({n})")])
    if not np.isfinite(arr).all():
        raise InvalidInputError([FieldError(name, "must be finite numbers")])
    return arr


def _weights(
    rewards: npt.ArrayLike, propensities: npt.ArrayLike, target_probabilities: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    r = _array("rewards", rewards, None)
    n = r.size
    if n < 2:
        raise InvalidInputError([FieldError("rewards", "needs at least two logged decisions")])
    mu = _array("propensities", propensities, n)
    pi = _array("target_probabilities", target_probabilities, n)
    if (mu <= 0).any() or (mu > 1).any():
        raise InvalidInputError(
            [
                FieldError(
                    "propensities", "must lie in (0, 1]: the logging policy's chance of the logged action"
                )
            ]
        )
    if (pi < 0).any() or (pi > 1).any():
        raise InvalidInputError([FieldError("target_probabilities", "must lie in [0, 1]")])
    return r, pi / mu


def _interval(estimate: float, terms: FloatArray, alpha: float) -> Interval:
    if not 0 < alpha < 1:
        raise InvalidInputError([FieldError("alpha", "must lie strictly between 0 and 1")])
    se = float(np.std(terms, ddof=1) / math.sqrt(terms.size))
    z = float(stats.norm.ppf(1 - alpha / 2))
    return Interval(estimate, estimate - z * se, estimate + z * se)


def ips(
    rewards: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target_probabilities: npt.ArrayLike,
    *,
    alpha: float = 0.05,
) -> Interval:
    """Inverse propensity scoring: the target policy's mean reward (see the module)."""
    r, w = _weights(rewards, propensities, target_probabilities)
    terms = w * r
    return _interval(float(terms.mean()), terms, alpha)


def snips(
    rewards: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target_probabilities: npt.ArrayLike,
    *,
    alpha: float = 0.05,
) -> Interval:
    """Self-normalised IPS (see the module)."""
    r, w = _weights(rewards, propensities, target_probabilities)
    if w.sum() <= 0:
        raise InvalidInputError(
            [FieldError("target_probabilities", "the target policy never takes a logged action")]
        )
    value = float((w * r).sum() / w.sum())
    return _interval(value, w * (r - value) / w.mean(), alpha)


def doubly_robust(
    rewards: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target_probabilities: npt.ArrayLike,
    logged_reward_predictions: npt.ArrayLike,
    target_reward_predictions: npt.ArrayLike,
    *,
    alpha: float = 0.05,
) -> Interval:
    """Doubly robust: ``logged_reward_predictions`` = q(x_i, a_i), the reward model's prediction
    for the logged action; ``target_reward_predictions`` = Σ_a π(a | x_i) q(x_i, a), its expected
    reward under the target policy. Fit the reward model on other decisions than those it
    predicts (cross-fitting), or its errors correlate with the residuals it corrects."""
    r, w = _weights(rewards, propensities, target_probabilities)
    q_logged = _array("logged_reward_predictions", logged_reward_predictions, r.size)
    q_target = _array("target_reward_predictions", target_reward_predictions, r.size)
    terms = q_target + w * (r - q_logged)
    return _interval(float(terms.mean()), terms, alpha)
