"""The reward model behind the doubly robust estimate (:func:`doubly_robust`): each variant's
expected reward in a context, q(x, a), fitted on the logged decisions themselves.

One ridge regression per variant on the context's 0/1 feature rows (the
:class:`ContextEncoder`'s: device, hour band, device × hour band, region, segment, recent
behaviour), as the contextual bandits model rewards, so the planted "works on phones in the
evening" is within its reach. Cross-fitted: the decisions are split into ``folds`` seeded parts
and each part's predictions come from the model fitted on the others, so a decision's own reward
never informs the prediction it is corrected against (Chernozhukov et al. 2018; without it the DR
correction term shrinks towards zero by overfitting, and its interval with it).

The model need not be right: DR stays unbiased with the logged propensities whatever q is; a
better q only narrows the interval.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shopmind.core import FieldError, InvalidInputError


def cross_fitted_rewards(
    features: npt.ArrayLike,
    arms: npt.ArrayLike,
    rewards: npt.ArrayLike,
    variants: int,
    *,
    folds: int = 2,
    ridge: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """``(n, variants)``: each decision's predicted reward for every variant, from per-variant
    ridge regressions fitted on the other folds (clipped to [0, 1]). ``features``: ``(n, d)``
    rows (e.g. ``ContextEncoder.transform``); ``arms``: the variant index each decision logged."""
    x = np.asarray(features, dtype=np.float64)
    a = np.asarray(arms)
    r = np.asarray(rewards, dtype=np.float64)
    n = r.shape[0] if r.ndim == 1 else -1
    if x.ndim != 2 or x.shape[0] != n or a.shape != (n,):
        raise InvalidInputError([FieldError("features", "one feature row, arm and reward per decision")])
    if not 2 <= folds <= max(2, n):
        raise InvalidInputError([FieldError("folds", "from 2 to the number of decisions")])
    if not ridge > 0:
        raise InvalidInputError([FieldError("ridge", "a ridge penalty above 0")])
    if n and (a.min() < 0 or a.max() >= variants):
        raise InvalidInputError([FieldError("arms", f"variant indices from 0 to {variants - 1}")])
    fold = np.random.default_rng(seed).permutation(n) % folds
    out = np.zeros((n, variants))
    eye = ridge * np.eye(x.shape[1])
    for f in range(folds):
        train, test = fold != f, fold == f
        for k in range(variants):
            rows = train & (a == k)
            xk = x[rows]
            # the intercept column is penalised too: a variant with no training decisions
            # predicts 0 rather than failing, and the DR correction carries its rewards
            theta = np.linalg.solve(eye + xk.T @ xk, xk.T @ r[rows])
            out[test, k] = x[test] @ theta
    return np.clip(out, 0.0, 1.0)
