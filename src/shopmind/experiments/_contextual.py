"""Contextual bandits: which variant for this visitor, learnt from the context (device, hour,
region, segment, recent behaviour; :class:`~shopmind.experiments.ContextEncoder`).

Disjoint linear models, one per variant: the reward of variant k in context x is ``x · θ_k`` plus
noise. Each keeps its ridge regression sums, ``A_k = λI + Σ x xᵀ`` and ``b_k = Σ r x`` over the
rewards it got, updated in batches; between batches the models do not move, so each distinct
context's probabilities are computed once per batch and cached (serving is a dictionary look-up
and one uniform draw).

- :class:`LinearThompson` (linear Thompson sampling, Agrawal & Goyal 2013): θ_k ~ N(θ̂_k, v² A_k⁻¹),
  so the score ``x · θ_k`` of each variant is normal with mean ``x · θ̂_k`` and variance
  ``v² xᵀA_k⁻¹x``, independent across variants; P(best | x) is integrated numerically
  (Gauss-Hermite), deterministic, with no sampling noise.
- :class:`LinUCB` (Li et al. 2010, disjoint): the variant with the highest ``x · θ̂_k +
  α √(xᵀA_k⁻¹x)`` (ties split).

Both mix in the floor: ``p = floor + (1 − K·floor) · P(best | x)`` (for LinUCB the chosen variant
gets ``1 − (K−1)·floor``), so every variant keeps at least ``floor`` in every context and the
logged propensity is the probability the decision was made with. A contextual bandit never
switches to a single winner (the best variant depends on the visitor): ``winner`` stays None.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy.special import ndtr

from shopmind.core import FieldError, InvalidInputError
from shopmind.experiments._bandit import check_policy_arguments, new_seed, pick, reward_indices
from shopmind.experiments._context_features import ContextEncoder, Key
from shopmind.experiments._definition import FEATURES

if TYPE_CHECKING:  # the port imports this module to build policies
    from shopmind.experiments._policy import Context, Reward

#: Gauss-Hermite nodes behind linear Thompson sampling's P(best | x)
DEFAULT_NODES = 48
#: contexts whose probabilities are cached between batches (a bound on memory, not on speed)
_CACHE = 50_000
#: the recent contexts the stored ``shares`` average over
_RECENT = 200


class _LinearBandit:
    """What linear Thompson sampling and LinUCB share: the per-variant ridge sums, the batch
    update, the per-context cache, the floor, the state."""

    kind = "contextual"
    algorithm: ClassVar[str]

    def __init__(
        self,
        variants: Sequence[str],
        *,
        features: Sequence[str] = FEATURES,
        floor: float = 0.05,
        ridge: float = 1.0,
        seed: int | None = None,
        encoder: ContextEncoder | None = None,
    ) -> None:
        self.variants = check_policy_arguments(variants, floor)
        if not ridge > 0:
            raise InvalidInputError([FieldError("ridge", "a ridge penalty above 0")])
        self.encoder = encoder if encoder is not None else ContextEncoder(features)
        self.floor = float(floor)
        self.ridge = float(ridge)
        self.seed = new_seed() if seed is None else int(seed)
        k, d = len(self.variants), self.encoder.dimension
        self._index = {v: i for i, v in enumerate(self.variants)}
        self.gram = np.repeat(self.ridge * np.eye(d)[None], k, axis=0)  # A_k
        self.targets = np.zeros((k, d))  # b_k
        self.counts = np.zeros(k)
        self.batches = 0
        self.winner: str | None = None
        self._recent: deque[Key] = deque(maxlen=_RECENT)
        self._refresh()

    # -- the port -------------------------------------------------------------------------------

    def probabilities(self, context: Context | None = None) -> dict[str, float]:
        probs, _ = self._cached(self.encoder.key(context))
        return dict(zip(self.variants, probs, strict=True))

    def choose(self, context: Context | None = None) -> tuple[str, float]:
        probs, cumulative = self._cached(self.encoder.key(context))
        i = pick(self._rng, cumulative)
        return self.variants[i], probs[i]

    def update(self, rewards: Iterable[Reward]) -> None:
        """One batch: each reward joins its variant's regression sums, then the models refit."""
        arms, values, contexts = reward_indices(rewards, self._index)
        if not arms:
            return
        keys = [self.encoder.key(c) for c in contexts]
        x = np.stack([self.encoder.row(key) for key in keys])
        a = np.asarray(arms)
        r = np.asarray(values)
        for k in np.unique(a):
            xk = x[a == k]
            self.gram[k] += xk.T @ xk
            self.targets[k] += r[a == k] @ xk
        self.counts += np.bincount(a, minlength=len(self.variants))
        self._recent.extend(keys)
        self.batches += 1
        self._refresh()

    def state(self) -> dict[str, Any]:
        upper = np.triu_indices(self.encoder.dimension)
        return {
            "kind": self.kind,
            "algorithm": self.algorithm,
            "variants": list(self.variants),
            "shares": self.shares(),
            "winner": None,
            "decisions": int(self.counts.sum()),
            "counts": [int(c) for c in self.counts],
            "batches": self.batches,
            "floor": self.floor,
            "ridge": self.ridge,
            "seed": self.seed,
            "encoder": self.encoder.config(),
            # A_k's upper triangle (symmetric; counts plus the ridge) and b_k
            "gram": [_compact(g[upper]) for g in self.gram],
            "targets": [_compact(t) for t in self.targets],
            "recent": [list(key) for key in self._recent],
            **self._parameters(),
        }

    # -- beyond the port ------------------------------------------------------------------------

    def shares(self) -> dict[str, float]:
        """Each variant's share of traffic now: its probability averaged over the recent
        contexts (the last rewards' visitors), or for an unknown visitor before any."""
        keys = list(self._recent) or [self.encoder.key(None)]
        mean = self._rows(keys).mean(axis=0)
        return dict(zip(self.variants, (float(p) for p in mean), strict=True))

    def probability_matrix(self, contexts: Sequence[Context | None]) -> np.ndarray:
        """``(len(contexts), K)``: each context's probabilities, computed together (the month
        simulation serves a batch's visitors at once with it)."""
        return self._rows([self.encoder.key(c) for c in contexts])

    def expected_rewards(self, contexts: Sequence[Context | None]) -> np.ndarray:
        """``(len(contexts), K)``: the fitted ``x · θ̂_k``."""
        return self.encoder.transform(contexts) @ self._theta.T

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> _LinearBandit:
        try:
            if state["algorithm"] != cls.algorithm:
                raise ValueError(f"algorithm {state['algorithm']!r}")
            encoder = ContextEncoder.from_config(state["encoder"])
            policy = cls(
                list(state["variants"]),
                floor=float(state["floor"]),
                ridge=float(state["ridge"]),
                seed=int(state["seed"]),
                encoder=encoder,
                **cls._parameters_from(state),
            )
            k, d = len(policy.variants), encoder.dimension
            upper = np.triu_indices(d)
            gram = np.zeros((k, d, d))
            for i, values in enumerate(state["gram"]):
                gram[i][upper] = values
                gram[i] = gram[i] + np.triu(gram[i], 1).T
            targets = np.asarray(state["targets"], dtype=float)
            counts = np.asarray(state["counts"], dtype=float)
            recent = [tuple(int(v) for v in key) for key in state.get("recent", [])]
            batches = int(state["batches"])
            if len(state["gram"]) != k or targets.shape != (k, d) or counts.shape != (k,):
                raise ValueError("one model per variant")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidInputError([FieldError("state", f"not a {cls.__name__} state ({exc})")]) from None
        policy.gram, policy.targets, policy.counts, policy.batches = gram, targets, counts, batches
        policy._recent.extend(recent)  # type: ignore[arg-type]
        policy._refresh()
        return policy

    # -- inside ---------------------------------------------------------------------------------

    def _parameters(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _parameters_from(cls, state: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _chances(self, x: np.ndarray, mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
        """P(best | x) per context and variant, ``(m, K)``, from the fitted means and the
        standard deviations ``√(xᵀA_k⁻¹x)``."""
        raise NotImplementedError

    def _refresh(self) -> None:
        self._inverse = np.linalg.inv(self.gram)
        self._theta = np.einsum("kij,kj->ki", self._inverse, self.targets)
        self._cache: dict[Key, tuple[list[float], list[float]]] = {}
        self._rng = random.Random(f"{self.seed}:{self.batches}")

    def _rows(self, keys: Sequence[Key]) -> np.ndarray:
        # the hits first: computing the misses may empty a full cache
        known = {key: self._cache[key] for key in dict.fromkeys(keys) if key in self._cache}
        fresh = self._compute([key for key in dict.fromkeys(keys) if key not in known])
        rows = [(known.get(key) or fresh[key])[0] for key in keys]
        return np.array(rows).reshape(len(keys), len(self.variants))

    def _cached(self, key: Key) -> tuple[list[float], list[float]]:
        hit = self._cache.get(key)
        return hit if hit is not None else self._compute_one(key)

    def _compute_one(self, key: Key) -> tuple[list[float], list[float]]:
        """One new context while serving: its row has a handful of ones, so its means and
        xᵀA_k⁻¹x are sums over those columns (a few small array operations, not matrix products)."""
        columns = np.flatnonzero(self.encoder.row(key))
        mean = self._theta[:, columns].sum(axis=1)
        quadratic = self._inverse[:, columns[:, None], columns].sum(axis=(1, 2))
        spread = np.sqrt(np.maximum(quadratic, 0.0))
        k = len(self.variants)
        chances = self._chances(self.encoder.row(key)[None], mean[None], spread[None])[0]
        values = [float(p) for p in self.floor + (1.0 - k * self.floor) * chances]
        out = (values, list(itertools.accumulate(values)))
        if len(self._cache) >= _CACHE:
            self._cache.clear()  # a bound on memory: what is needed again is computed again
        self._cache[key] = out
        return out

    def _compute(self, keys: Sequence[Key]) -> dict[Key, tuple[list[float], list[float]]]:
        """The probabilities (and their running sums) of each key, computed 256 contexts at a
        time, and cached until the next batch."""
        out: dict[Key, tuple[list[float], list[float]]] = {}
        k = len(self.variants)
        for start in range(0, len(keys), 256):
            chunk = keys[start : start + 256]
            x = np.stack([self.encoder.row(key) for key in chunk])
            mean = x @ self._theta.T
            # xᵀA_k⁻¹x for every context and variant: (K, m, d) by BLAS, then the row sums
            quadratic = ((x[None] @ self._inverse) * x[None]).sum(axis=2).T
            spread = np.sqrt(np.maximum(quadratic, 0.0))
            probs = self.floor + (1.0 - k * self.floor) * self._chances(x, mean, spread)
            for key, row in zip(chunk, probs, strict=True):
                values = [float(p) for p in row]
                out[key] = (values, list(itertools.accumulate(values)))
        if len(self._cache) + len(out) > _CACHE:
            self._cache.clear()  # a bound on memory: what is needed again is computed again
        self._cache.update(out)
        return out


class LinearThompson(_LinearBandit):
    """Linear Thompson sampling over disjoint per-variant models (see the module's notes).
    ``scale`` is v, the posterior's spread: about the rewards' noise (√(p(1−p)) ≈ 0.2 for click
    rates of a few percent); larger explores longer."""

    algorithm = "lints"

    def __init__(
        self,
        variants: Sequence[str],
        *,
        features: Sequence[str] = FEATURES,
        floor: float = 0.05,
        ridge: float = 1.0,
        scale: float = 0.2,
        nodes: int = DEFAULT_NODES,
        seed: int | None = None,
        encoder: ContextEncoder | None = None,
    ) -> None:
        if not scale > 0:
            raise InvalidInputError([FieldError("scale", "a posterior scale above 0")])
        if not 8 <= nodes <= 512:
            raise InvalidInputError([FieldError("nodes", "from 8 to 512 quadrature nodes")])
        self.scale = float(scale)
        self.nodes = int(nodes)
        z, w = np.polynomial.hermite_e.hermegauss(self.nodes)
        self._z, self._w = z, w / w.sum()
        self._own = ndtr(z)
        super().__init__(variants, features=features, floor=floor, ridge=ridge, seed=seed, encoder=encoder)

    def _parameters(self) -> dict[str, Any]:
        return {"scale": self.scale, "nodes": self.nodes}

    @classmethod
    def _parameters_from(cls, state: Mapping[str, Any]) -> dict[str, Any]:
        return {"scale": float(state["scale"]), "nodes": int(state["nodes"])}

    def _chances(self, x: np.ndarray, mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
        """P(best | x) of independent normal scores, integrated (Gauss-Hermite over variant i's
        standardised score z): P_i = E_z[Π_{j≠i} Φ((μ_i + σ_i z − μ_j) / σ_j)]. Deterministic,
        and its small quadrature error only makes the policy a little less than exactly Thompson:
        the propensity logged is still exactly the probability the choice was drawn with."""
        sd = self.scale * np.maximum(spread, 1e-12)  # (m, K)
        # score of i at each node: (m, K_i, nodes)
        score = mean[:, :, None] + sd[:, :, None] * self._z
        # Φ((score_i − μ_j) / σ_j): (m, K_i, nodes, K_j); the j = i factor is Φ(z) at every i,
        # so the product over j ≠ i is the product over all j divided by it
        cdf = ndtr((score[..., None] - mean[:, None, None, :]) / sd[:, None, None, :])
        chances = (cdf.prod(axis=3) / self._own) @ self._w  # (m, K)
        return chances / chances.sum(axis=1, keepdims=True)


class LinUCB(_LinearBandit):
    """LinUCB over disjoint per-variant models: the highest upper confidence bound wins (ties
    split), the others keep the floor. ``alpha`` widens the bound (more exploration)."""

    algorithm = "linucb"

    def __init__(
        self,
        variants: Sequence[str],
        *,
        features: Sequence[str] = FEATURES,
        floor: float = 0.05,
        ridge: float = 1.0,
        alpha: float = 0.2,
        seed: int | None = None,
        encoder: ContextEncoder | None = None,
    ) -> None:
        if not alpha >= 0:
            raise InvalidInputError([FieldError("alpha", "a bound width of at least 0")])
        self.alpha = float(alpha)
        super().__init__(variants, features=features, floor=floor, ridge=ridge, seed=seed, encoder=encoder)

    def _parameters(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    @classmethod
    def _parameters_from(cls, state: Mapping[str, Any]) -> dict[str, Any]:
        return {"alpha": float(state["alpha"])}

    def _chances(self, x: np.ndarray, mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
        bound = mean + self.alpha * spread
        best = bound >= bound.max(axis=1, keepdims=True) - 1e-12
        return best / best.sum(axis=1, keepdims=True)


def _compact(values: np.ndarray) -> list[Any]:
    """Whole numbers as JSON integers (0/1 features and rewards make the sums counts): a stored
    state a fifth smaller, read back the same."""
    if np.array_equal(values, np.round(values)) and np.abs(values).max(initial=0.0) < 2**53:
        return [int(v) for v in values.astype(np.int64)]
    return [float(v) for v in values]
