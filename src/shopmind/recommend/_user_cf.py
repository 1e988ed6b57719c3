"""User-based collaborative filtering (Resnick et al. 1994, GroupLens; Herlocker et al. 1999, "An
Algorithmic Framework for Performing Collaborative Filtering"): customers who chose the same items
are alike, and a customer is offered what the customers most like them chose."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from shopmind.core import FieldError, InvalidInputError, with_particle
from shopmind.recommend._base import Context, Explain, Reason, Recommender, positions
from shopmind.recommend._popularity import POPULAR
from shopmind.recommend._sparse import row_positions, take_rows
from shopmind.recommend._state import ModelState
from shopmind.recommend._topk import top_k_mask

Floats = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]
#: cells of the dense customer-by-customer rows scored at once (4M: 32 MB per array of floats)
_BLOCK_CELLS = 4_000_000


def _customers(count: int) -> Reason:
    return Reason(
        "similar_customers", f"비슷한 고객 {count}명이 구매", f"{count} customers like you bought this"
    )


def _together(item: str) -> Reason:
    return Reason(
        "bought_together", f"{with_particle(item, '과/와')} 자주 함께 구매", f"bought together with {item}"
    )


class UserCFRecommender(Recommender):
    """Cosine similarity of customers over the items they chose (weights ignored), shrunk towards 0
    for customers with few items in common: sim(u, v) = c_uv / (sqrt(c_u c_v) + shrinkage), where
    c_uv counts the items both chose. A customer's score for an item is the sum of the similarities
    of their ``neighbours`` most similar customers who chose it; the reason says how many of them
    did. Neighbours are found per request from the item → customers index (one pass over the
    buyers of the customer's items), so nothing quadratic is stored. A visitor unknown at fit is
    matched on the items of ``Context.session`` (a known customer's session adds to their items);
    with neither, the most popular items (distinct customers). ``similar_items``: shrunk cosine of
    items over customers (bought together).

    Args:
        neighbours: most similar customers kept per request.
        shrinkage: added to the cosine's denominator (0 = plain cosine).
        exclude_seen: leave out what the customer already chose and the session's items.
    """

    def __init__(self, *, neighbours: int = 50, shrinkage: float = 10.0, exclude_seen: bool = True) -> None:
        self.neighbours = neighbours
        self.shrinkage = shrinkage
        self.exclude_seen = exclude_seen

    def fit(self, interactions: pd.DataFrame, catalogue: pd.DataFrame | None = None) -> Self:
        # checked before the base sets anything, so a bad model is not left half-fitted
        neighbours, shrinkage = self.neighbours, self.shrinkage
        if isinstance(neighbours, bool) or not isinstance(neighbours, Integral) or int(neighbours) < 1:
            raise InvalidInputError([FieldError("neighbours", "must be a whole number >= 1")])
        if (
            isinstance(shrinkage, bool)
            or not isinstance(shrinkage, Real)
            or not 0 <= float(shrinkage) < np.inf
        ):
            raise InvalidInputError([FieldError("shrinkage", "must be a number >= 0")])
        return super().fit(interactions, catalogue)

    def _fit(self, frame: pd.DataFrame, catalogue: pd.DataFrame | None) -> None:
        pairs = frame[["user", "item"]].drop_duplicates()
        rows = positions(pairs["user"], self.users_)
        cols = positions(pairs["item"], self.items_)
        shape = (self.users_.size, self.items_.size)
        chosen = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=shape)
        chosen.sort_indices()
        self._items_of = chosen  # user → items
        self._users_of = chosen.T.tocsr()  # item → users
        self._users_of.sort_indices()
        self._user_counts = np.diff(chosen.indptr).astype(np.float64)
        self._popularity = np.diff(self._users_of.indptr).astype(np.float64)

    def _save_fitted(self, state: ModelState) -> None:
        state.put_csr("items_of", self._items_of)
        state.put_csr("users_of", self._users_of)

    def _load_fitted(self, state: ModelState) -> None:
        self._items_of = state.csr("items_of")
        self._users_of = state.csr("users_of")
        self._user_counts = np.diff(self._items_of.indptr).astype(np.float64)
        self._popularity = np.diff(self._users_of.indptr).astype(np.float64)

    def _profile(self, user: str, context: Context) -> tuple[int | None, Indices, Indices]:
        """The user's index (None if unknown), their items with the session's, and the session's."""
        index = self._user_index.get(user)
        session = np.asarray(
            sorted({self._item_index[i] for i in context.session if i in self._item_index}), dtype=np.int64
        )
        own = _slice(self._items_of, index) if index is not None else np.empty(0, dtype=np.int64)
        return index, np.union1d(own, session), session

    def _scores(self, user: str, context: Context) -> tuple[Floats, Explain]:
        index, items, session = self._profile(user, context)
        if items.size == 0:
            return self._popularity.copy(), lambda _: POPULAR
        # c_uv for every customer v sharing an item: how often v appears among the buyers of u's items
        common = np.bincount(_gather(self._users_of, items), minlength=self.users_.size).astype(np.float64)
        if index is not None:
            common[index] = 0.0  # not one's own neighbour
        others = np.flatnonzero(common)
        similarity = common[others] / (
            np.sqrt(items.size * self._user_counts[others]) + float(self.shrinkage)
        )
        k = int(self.neighbours)
        if others.size > k:  # the k best and any tied with the k-th, then a tie-stable sort of those
            close = similarity >= -np.partition(-similarity, k - 1)[k - 1]
            others, similarity = others[close], similarity[close]
        keep = np.lexsort((others, -similarity))[:k]  # ties by customer id: reproducible
        neighbours, weights = others[keep], similarity[keep]
        bought = _gather(self._items_of, neighbours)
        per_neighbour = np.diff(self._items_of.indptr)[neighbours]
        shares = np.repeat(weights, per_neighbour)
        scores = np.bincount(bought, weights=shares, minlength=self.items_.size).astype(np.float64)
        counts = np.bincount(bought, minlength=self.items_.size)
        scores[counts == 0] = -np.inf
        if self.exclude_seen:
            scores[session] = -np.inf  # already in the cart or just viewed
        return scores, lambda item: _customers(int(counts[item]))

    def _score_users(self, users: Sequence[str], contexts: Sequence[Context]) -> Floats:
        """``_scores`` of many customers at once: their items in common with every customer in
        one product, the ``neighbours`` closest kept per row (ties by customer id, as one at a
        time), then the neighbours' items weighted by closeness."""
        if any(context.session for context in contexts):
            return super()._score_users(users, contexts)
        index = np.asarray([self._user_index.get(user, -1) for user in users], dtype=np.int64)
        out = np.tile(self._popularity, (index.size, 1))
        known = np.flatnonzero(index >= 0)
        known = known[self._user_counts[index[known]] > 0]
        if known.size == 0:
            return out
        # a row of every customer per scored customer: a few rows at a time, so that the dense
        # rows of millions of customers stay within _BLOCK_CELLS (the rows are independent)
        step = max(1, _BLOCK_CELLS // max(1, self.users_.size))
        for start in range(0, known.size, step):
            at = known[start : start + step]
            out[at] = self._neighbour_scores(index[at])
        return out

    def _neighbour_scores(self, rows: Indices) -> Floats:
        """The item scores of the known customers ``rows`` (see :meth:`_score_users`)."""
        common = (take_rows(self._items_of, rows) @ self._users_of).toarray()
        common[np.arange(rows.size), rows] = 0.0  # not one's own neighbour
        similarity = common / (
            np.sqrt(self._user_counts[rows][:, None] * self._user_counts[None, :]) + float(self.shrinkage)
        )
        similarity[common == 0] = -np.inf
        r, c = np.nonzero(top_k_mask(similarity, int(self.neighbours)))
        weights = sparse.csr_matrix((similarity[r, c], (r, c)), shape=similarity.shape)
        scores = (weights @ self._items_of).toarray()
        # every kept closeness is > 0 (at least one item in common), so a score is 0 exactly
        # where no neighbour chose the item: no second product to count them
        scores[scores == 0] = -np.inf
        return np.asarray(scores, dtype=np.float64)

    def _similar(self, item: str) -> tuple[Floats, Explain]:
        index = self._item_index[item]
        buyers = _slice(self._users_of, index)
        common = np.bincount(_gather(self._items_of, buyers), minlength=self.items_.size).astype(np.float64)
        common[index] = 0.0
        scores = common / (np.sqrt(buyers.size * self._popularity) + float(self.shrinkage))
        scores[common == 0] = -np.inf
        return scores, lambda _: _together(item)


def _slice(matrix: sparse.csr_matrix, row: int) -> Indices:
    return np.asarray(matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]], dtype=np.int64)


def _gather(matrix: sparse.csr_matrix, rows: Indices) -> Indices:
    """The column indices of the given rows, concatenated (rows in the given order)."""
    return np.asarray(matrix.indices[row_positions(matrix, rows)], dtype=np.int64)
