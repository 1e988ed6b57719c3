"""Matrix factorisation on implicit feedback: a customer and an item each become a short vector of
latent "taste" factors, and a customer's score for an item is the dot product of the two.

- :class:`ALSRecommender`: alternating least squares on confidence-weighted preferences (Hu, Koren
  & Volinsky 2008, "Collaborative Filtering for Implicit Feedback Datasets"; conjugate-gradient
  solver of Takács, Pilászy & Tikk 2011).
- :class:`BPRRecommender`: Bayesian personalised ranking, stochastic gradient ascent on "a chosen
  item ranks above an unchosen one" (Rendle et al. 2009, "BPR: Bayesian Personalized Ranking from
  Implicit Feedback").

Both are trained with the ``implicit`` library (its CPU classes, single-threaded BLAS) and then
kept as plain numpy arrays: recommending is one matrix-vector product, with no call into
``implicit``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from scipy import sparse
from threadpoolctl import threadpool_limits

from shopmind.core import FieldError, InvalidInputError, with_particle
from shopmind.recommend._base import Context, Explain, Reason, Recommender, display_names, positions
from shopmind.recommend._popularity import POPULAR
from shopmind.recommend._state import ModelState

Floats = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]


def _taste(item: str) -> Reason:
    return Reason(
        "similar_taste", f"{with_particle(item, '을/를')} 좋아하신 분께 추천", f"for fans of {item}"
    )


def _alike(item: str) -> Reason:
    return Reason("similar", f"{with_particle(item, '과/와')} 비슷한 상품", f"similar to {item}")


class _FactorRecommender(Recommender):
    """What ALS and BPR share: the user × item matrix, the factors as numpy arrays, scoring, the
    session fold-in, the reasons and the popularity fallback."""

    exclude_seen: bool

    def fit(self, interactions: pd.DataFrame, catalogue: pd.DataFrame | None = None) -> Self:
        self._check_params()  # before the base sets anything, so a bad model is not left half-fitted
        return super().fit(interactions, catalogue)

    @abstractmethod
    def _check_params(self) -> None: ...

    @abstractmethod
    def _train(self, matrix: sparse.csr_matrix) -> tuple[Any, Any]:
        """(user factors, item factors) learnt from the user × item matrix of summed weights."""

    @abstractmethod
    def _vector(self, user: int | None, session: Indices) -> Floats:
        """The taste vector of a known user (by index, or None) with the session's items."""

    @property
    def _latent(self) -> Floats:
        """The item factors that describe taste (without a bias column)."""
        return self.item_factors_

    def _fit(self, frame: pd.DataFrame, catalogue: pd.DataFrame | None) -> None:
        # sorted first, so that a pair's weights are summed in the same order whatever the row order
        ordered = frame.sort_values(["user", "item", "weight"], kind="stable")
        pairs = ordered.groupby(["user", "item"], sort=True)["weight"].sum().reset_index()
        rows = positions(pairs["user"], self.users_)
        cols = positions(pairs["item"], self.items_)
        shape = (self.users_.size, self.items_.size)
        self._weights = sparse.csr_matrix((pairs["weight"].to_numpy(dtype=np.float64), (rows, cols)), shape)
        self._popularity = np.bincount(cols, minlength=self.items_.size).astype(np.float64)
        self._names = display_names(self.items_.tolist(), catalogue)
        with threadpool_limits(1, "blas"):  # implicit's advice: BLAS threads only slow its solvers down
            users, items = self._train(self._weights)
        self.user_factors_ = np.ascontiguousarray(users, dtype=np.float64)
        self.item_factors_ = np.ascontiguousarray(items, dtype=np.float64)
        latent = self._latent
        norms = np.linalg.norm(latent, axis=1, keepdims=True)
        self._unit = np.divide(latent, norms, out=np.zeros_like(latent), where=norms > 0)

    def _save_fitted(self, state: ModelState) -> None:
        state.put_csr("weights", self._weights)
        state.put("popularity", self._popularity)
        state.put_strings("names", self._names)
        state.put("user_factors", self.user_factors_)
        state.put("item_factors", self.item_factors_)
        state.put("unit", self._unit)

    def _load_fitted(self, state: ModelState) -> None:
        self._weights = state.csr("weights")
        self._popularity = state.get("popularity")
        self._names = state.strings("names")
        self.user_factors_ = state.get("user_factors")
        self.item_factors_ = state.get("item_factors")
        self._unit = state.get("unit")

    def _scores(self, user: str, context: Context) -> tuple[Floats, Explain]:
        session = self._session(context)
        index = self._user_index.get(user)
        if index is None and session.size == 0:
            return self._popularity.copy(), lambda _: POPULAR
        scores = self.item_factors_ @ self._vector(index, session)
        if self.exclude_seen:
            scores[session] = -np.inf  # already in the cart or just viewed
        return scores, self._explain(index, session)

    def _score_users(self, users: Sequence[str], contexts: Sequence[Context]) -> Floats:
        """``_scores`` of many customers at once: one product with the item factors."""
        if any(context.session for context in contexts):
            return super()._score_users(users, contexts)
        index = np.asarray([self._user_index.get(user, -1) for user in users], dtype=np.int64)
        out = np.tile(self._popularity, (index.size, 1))
        known = np.flatnonzero(index >= 0)
        if known.size:
            empty = np.empty(0, dtype=np.int64)
            vectors = np.vstack([self._vector(int(i), empty) for i in index[known].tolist()])
            out[known] = vectors @ self.item_factors_.T
        return out

    def _session(self, context: Context) -> Indices:
        return np.asarray(
            [self._item_index[i] for i in context.session if i in self._item_index], dtype=np.int64
        )

    def _explainer(self, user: str, context: Context) -> Explain:
        session = self._session(context)
        index = self._user_index.get(user)
        if index is None and session.size == 0:
            return lambda _: POPULAR
        return self._explain(index, session)

    def _explain(self, index: int | None, session: Indices) -> Explain:
        """The reason names the chosen item whose factors are closest to the recommended one's."""
        history = np.union1d(self._row(index)[0], session)
        unit = self._unit[history]

        def explain(item: int) -> Reason:
            return _taste(self._names[history[int((unit @ self._unit[item]).argmax())]])

        return explain

    def _row(self, user: int | None) -> tuple[Indices, Floats]:
        """The items a known user chose and their summed weights (nothing for None)."""
        if user is None:
            return np.empty(0, dtype=np.int64), np.empty(0)
        start, end = self._weights.indptr[user], self._weights.indptr[user + 1]
        return self._weights.indices[start:end].astype(np.int64), self._weights.data[start:end]

    def _similar(self, item: str) -> tuple[Floats, Explain]:
        scores = self._unit @ self._unit[self._item_index[item]]
        scores[scores <= 0] = -np.inf
        reason = _alike(self._names[self._item_index[item]])
        return scores, lambda _: reason


class ALSRecommender(_FactorRecommender):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008): every (customer, item) cell is a
    preference p = 1 if the customer chose the item, else 0, fitted with confidence
    C = 1 + alpha · log(1 + weight) (weight: the summed ``weight`` of the pair, e.g. the quantity
    bought; the logarithm is the paper's damping, so a bulk order of 500 does not count 500 times),
    minimising sum C (p − x_u·y_i)² + regularization (|x_u|² + |y_i|²).

    A customer's score for an item is x_u · y_i. For a visitor unknown at fit, or a customer with
    items in ``Context.session``, x_u is folded in by the exact least-squares step of the paper over
    their items, x_u = (YᵀCY + regularization·I)⁻¹ YᵀC p, so session items count at once; with
    neither history nor session, the most popular items (distinct customers). The reason names the
    customer's item (history or session) whose factors are closest (cosine) to the recommended
    item's; ``similar_items`` ranks items by the cosine of their factors. Fitting runs on implicit's
    threads and is still reproducible (each customer's and item's solve is independent).

    The defaults were chosen on Online Retail (recall of the items new to each customer in the next
    three months, on a validation split): the log damping did as well as ignoring the weights and
    better than raw quantities; alpha 0.25–1 beat 5–40; regularization was flat from 0.05 to 20 but
    fell off from 50 (the penalty is not scaled to the size of the data, so the default stays in the
    middle of the plateau); 64 factors beat 32 and 128, and 30 sweeps did no better than 15.

    Args:
        factors: latent factors per customer and item.
        regularization: L2 penalty on the factors.
        alpha: confidence scaling: C = 1 + alpha · log(1 + weight).
        iterations: ALS sweeps (each solves all customers, then all items).
        random_state: seed of the initial factors (fixed: same data, same recommendations).
        exclude_seen: leave out what the customer already chose and the session's items.
        num_threads: implicit's threads (0: every core). The same factors whatever the number;
            one thread spends the least CPU (Online Retail: 0.67 s against 1.03 s on two cores).
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 1.0,
        alpha: float = 0.5,
        iterations: int = 15,
        random_state: int | None = 0,
        exclude_seen: bool = True,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.exclude_seen = exclude_seen
        self.num_threads = num_threads

    def _check_params(self) -> None:
        errors = [
            *_whole("factors", self.factors),
            *_number("regularization", self.regularization, minimum=0.0),
            *_number("alpha", self.alpha, minimum=0.0, strict=True),
            *_whole("iterations", self.iterations),
            *_seed(self.random_state),
        ]
        if (
            isinstance(self.num_threads, bool)
            or not isinstance(self.num_threads, Integral)
            or self.num_threads < 0
        ):
            errors.append(FieldError("num_threads", "must be a whole number >= 0 (0: every core)"))
        if errors:
            raise InvalidInputError(errors)

    def _confidence(self, weights: Floats) -> Floats:
        return 1.0 + float(self.alpha) * np.log1p(weights)

    def _train(self, matrix: sparse.csr_matrix) -> tuple[Any, Any]:
        confidence = matrix.copy()
        confidence.data = self._confidence(confidence.data).astype(np.float32)
        # implicit takes the matrix as C itself (its own alpha only multiplies it): 1 + alpha·log(1 + w)
        model = AlternatingLeastSquares(
            factors=self.factors,
            regularization=float(self.regularization),
            alpha=1.0,
            iterations=self.iterations,
            random_state=self.random_state,
            num_threads=int(self.num_threads),
        )
        model.fit(confidence, show_progress=False)
        self._gram = np.asarray(model.item_factors, dtype=np.float64)
        self._gram = self._gram.T @ self._gram  # YᵀY, for the fold-in
        return model.user_factors, model.item_factors

    def _save_fitted(self, state: ModelState) -> None:
        super()._save_fitted(state)
        state.put("gram", self._gram)

    def _load_fitted(self, state: ModelState) -> None:
        super()._load_fitted(state)
        self._gram = state.get("gram")

    def _vector(self, user: int | None, session: Indices) -> Floats:
        if session.size == 0 and user is not None:
            return self.user_factors_[user]
        own, summed = self._row(user)
        weights = dict(zip(own.tolist(), summed.tolist(), strict=True))
        for item in session.tolist():
            weights[item] = weights.get(item, 0.0) + 1.0
        items = np.asarray(sorted(weights), dtype=np.int64)
        confidence = self._confidence(np.asarray([weights[i] for i in items.tolist()], dtype=np.float64))
        y = self.item_factors_[items]
        a = self._gram + (y.T * (confidence - 1.0)) @ y + float(self.regularization) * np.eye(y.shape[1])
        return np.asarray(np.linalg.solve(a, y.T @ confidence), dtype=np.float64)


class BPRRecommender(_FactorRecommender):
    """Bayesian personalised ranking (Rendle et al. 2009): factors (with an item bias) learnt by
    stochastic gradient ascent on ln σ(x_u·y_i − x_u·y_j) over sampled triples of a customer, an
    item they chose and one they did not (weights ignored: chosen or not). Trained on one thread
    (implicit's multi-threaded BPR is Hogwild, hence not reproducible).

    A customer's score for an item is x_u · y_i + b_i. A visitor unknown at fit is given the mean
    factors of their ``Context.session`` items; a known customer's session adds that mean to their
    own factors; with neither history nor session, the most popular items (distinct customers).
    Reasons and ``similar_items`` as :class:`ALSRecommender` (cosine of the factors, bias left out).

    The defaults were chosen on Online Retail (as for :class:`ALSRecommender`): what matters is the
    amount of training, learning_rate × iterations: 0.5 to 0.6 (0.005 × 100, 0.01 × 60) was best
    there, 1 and more did worse (0.05 × 100: about a fifth fewer hits), and much less leaves the factors
    of a small shop unlearnt (the planted pairs of the tests are missed at 0.005 × 100).

    Args:
        factors: latent factors per customer and item (plus the item bias).
        learning_rate: step of the stochastic gradient ascent.
        regularization: L2 penalty on the factors.
        iterations: passes over the interactions.
        random_state: seed of the initial factors and of the sampling.
        exclude_seen: leave out what the customer already chose and the session's items.
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 60,
        random_state: int | None = 0,
        exclude_seen: bool = True,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.exclude_seen = exclude_seen

    def _check_params(self) -> None:
        errors = [
            *_whole("factors", self.factors),
            *_number("learning_rate", self.learning_rate, minimum=0.0, strict=True),
            *_number("regularization", self.regularization, minimum=0.0),
            *_whole("iterations", self.iterations),
            *_seed(self.random_state),
        ]
        if errors:
            raise InvalidInputError(errors)

    @property
    def _latent(self) -> Floats:
        return self.item_factors_[:, :-1]  # the last column is the item bias (and 1 for users)

    def _train(self, matrix: sparse.csr_matrix) -> tuple[Any, Any]:
        chosen = matrix.copy()
        chosen.data = np.ones_like(chosen.data, dtype=np.float32)
        model = BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=float(self.learning_rate),
            regularization=float(self.regularization),
            iterations=self.iterations,
            num_threads=1,
            random_state=self.random_state,
        )
        model.fit(chosen, show_progress=False)
        return model.user_factors, model.item_factors

    def _vector(self, user: int | None, session: Indices) -> Floats:
        vector = (
            self.user_factors_[user].copy() if user is not None else np.zeros(self.item_factors_.shape[1])
        )
        vector[-1] = 1.0  # weight of the item bias
        if session.size:
            vector[:-1] += self.item_factors_[session, :-1].mean(axis=0)
        return vector


def _whole(field: str, value: object) -> list[FieldError]:
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < 1:
        return [FieldError(field, "must be a whole number >= 1")]
    return []


def _number(field: str, value: object, *, minimum: float, strict: bool = False) -> list[FieldError]:
    if isinstance(value, Real) and not isinstance(value, bool):
        number = float(value)
        if np.isfinite(number) and (number > minimum if strict else number >= minimum):
            return []
    return [FieldError(field, f"must be a number {'>' if strict else '>='} {minimum:g}")]


def _seed(value: object) -> list[FieldError]:
    if value is None or (isinstance(value, Integral) and not isinstance(value, bool) and int(value) >= 0):
        return []
    return [FieldError("random_state", "must be a whole number >= 0 or None")]
