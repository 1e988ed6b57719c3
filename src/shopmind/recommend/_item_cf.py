"""Item-based collaborative filtering (Sarwar et al. 2001; Linden, Smith & York 2003, "customers who
bought this also bought"): items are similar when the same customers chose both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from shopmind.core import FieldError, InvalidInputError, with_particle
from shopmind.recommend._base import Context, Explain, Reason, Recommender, display_names, positions
from shopmind.recommend._popularity import POPULAR
from shopmind.recommend._sparse import row_positions, take_rows
from shopmind.recommend._state import ModelState


def _together(item: str) -> Reason:
    return Reason(
        "bought_together", f"{with_particle(item, '과/와')} 자주 함께 구매", f"bought together with {item}"
    )


def _also_chose(item: str) -> Reason:
    return Reason(
        "also_chose",
        f"{with_particle(item, '을/를')} 고른 고객이 함께 고른 상품",
        f"customers who chose {item} also chose",
    )


AGAIN = Reason(
    "reorder", "전에 사신 상품 · 다시 사는 분이 많아요", "You bought this before; often bought again"
)


class ItemCFRecommender(Recommender):
    """Cosine similarity of items over customers (who chose each, weights ignored) or over baskets
    (``by="basket"``: the purchases a customer made at one time, i.e. one order: "frequently
    bought together"), shrunk towards 0 for items with few in common:
    sim(i, j) = c_ij / (sqrt(c_i c_j) + shrinkage),
    keeping each item's ``neighbours`` most similar items. A customer's score for an item is the
    sum of its similarities to the items they chose and to the items of the current session
    (``Context.session``: real-time, session-based recommendations); the reason names the item
    that contributes most. Customers with no history and no session get the most popular items.

    With ``exclude_seen=False`` (consumables) an item the customer chose is also its own
    neighbour, with its repeat strength as the similarity: the share of its customers who chose
    it again (on another ``time``, else in another row), shrunk like the similarities,
    r_i = again_i / (c_i + shrinkage). So a customer's usual 라면 scores by itself, not only
    through the items bought with it.

    Args:
        by: ``"user"`` (customers who viewed or bought this also viewed or bought) or
            ``"basket"`` (rows with the same user and ``time``; only ``kind == "purchase"`` rows
            when the interactions have a ``kind`` column).
        neighbours: similar items kept per item.
        shrinkage: added to the cosine's denominator (0 = plain cosine).
        exclude_seen: leave out what the customer already chose.
    """

    def __init__(
        self,
        *,
        by: Literal["user", "basket"] = "user",
        neighbours: int = 100,
        shrinkage: float = 10.0,
        exclude_seen: bool = True,
    ) -> None:
        self.by = by
        self.neighbours = neighbours
        self.shrinkage = shrinkage
        self.exclude_seen = exclude_seen

    def _fit(self, frame: pd.DataFrame, catalogue: pd.DataFrame | None) -> None:
        if not isinstance(self.neighbours, int) or self.neighbours < 1:
            raise InvalidInputError([FieldError("neighbours", "must be a whole number >= 1")])
        if not self.shrinkage >= 0:
            raise InvalidInputError([FieldError("shrinkage", "must be a number >= 0")])
        if self.by not in ("user", "basket"):
            raise InvalidInputError([FieldError("by", "must be 'user' or 'basket'")])
        pairs = frame[["user", "item"]].drop_duplicates()
        rows = positions(pairs["user"], self.users_)
        cols = positions(pairs["item"], self.items_)
        x = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(self.users_.size, self.items_.size))
        self._user_items = x
        self._popularity = np.asarray(x.sum(axis=0)).ravel()
        self._reason = _also_chose
        if self.by == "basket":
            x = self._baskets(frame)
            self._reason = _together
        chosen = np.asarray(x.sum(axis=0)).ravel()
        # CSR times CSR gives CSR: ``x.T @ x`` multiplied in CSC and then converted the far larger
        # co-occurrence matrix (counts of ones: the same sums either way)
        co = x.T.tocsr() @ x
        co.setdiag(0)
        co.eliminate_zeros()
        # sqrt(c_i c_j) + shrinkage in one array, in place: each temporary of this size costs more
        # in page faults than its arithmetic (the same operations in the same order: equal values)
        denominator = chosen[np.repeat(np.arange(co.shape[0], dtype=np.int32), np.diff(co.indptr))]
        denominator *= chosen[co.indices]
        np.sqrt(denominator, out=denominator)
        denominator += self.shrinkage
        co.data /= denominator
        self._similarity = _keep_top(co, self.neighbours)
        self.__dict__.pop("_by_column_cache", None)
        self._names = display_names(self.items_.tolist(), catalogue)
        self._repeat = None if self.exclude_seen else self._repeat_strength(frame)

    def _repeat_strength(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Each item's share of customers who chose it more than once (shrunk)."""
        bought = frame[frame["kind"] == "purchase"] if "kind" in frame.columns else frame
        if "time" in bought.columns:
            bought = bought[["user", "item", "time"]].drop_duplicates()
        times = bought.groupby(["user", "item"], sort=False).size()
        again = times[times >= 2].groupby(level="item").size()
        chosen = times.groupby(level="item").size()
        strength = np.zeros(self.items_.size)
        items = pd.Index(self.items_)
        strength[items.get_indexer(again.index)] = again.to_numpy(np.float64)
        buyers = np.zeros(self.items_.size)
        buyers[items.get_indexer(chosen.index)] = chosen.to_numpy(np.float64)
        return strength / (buyers + self.shrinkage + 1e-12)

    def _save_fitted(self, state: ModelState) -> None:
        state.put_csr("user_items", self._user_items)
        state.put("popularity", self._popularity)
        state.put_csr("similarity", self._similarity)
        state.put_strings("names", self._names)
        if self._repeat is not None:
            state.put("repeat", self._repeat)

    def _load_fitted(self, state: ModelState) -> None:
        self._user_items = state.csr("user_items")
        self._popularity = state.get("popularity")
        self._reason = _together if self.by == "basket" else _also_chose
        self._similarity = state.csr("similarity")
        self.__dict__.pop("_by_column_cache", None)
        self._names = state.strings("names")
        self._repeat = state.get("repeat") if state.prefix + "repeat" in state.arrays else None

    def _baskets(self, frame: pd.DataFrame) -> sparse.csr_matrix:
        if "time" not in frame.columns:
            raise InvalidInputError(
                [FieldError("time", "column is needed for by='basket' (one basket per time)")]
            )
        bought = frame[frame["kind"] == "purchase"] if "kind" in frame.columns else frame
        bought = bought[["user", "time", "item"]].drop_duplicates()
        # one number per (user, time): grouping the columns themselves, not their text (formatting
        # a few hundred thousand times as text took seconds)
        basket = bought.groupby(["user", "time"], sort=True, dropna=False).ngroup().to_numpy(dtype=np.int64)
        cols = positions(bought["item"], self.items_)
        return sparse.csr_matrix(
            (np.ones(cols.size), (basket, cols)),
            shape=(int(basket.max()) + 1 if basket.size else 0, self.items_.size),
        )

    @property
    def _by_column(self) -> sparse.csc_matrix:
        """Who points to an item, for the reasons (built on first use: only answers need it)."""
        columns: sparse.csc_matrix | None = self.__dict__.get("_by_column_cache")
        if columns is None:
            columns = self.__dict__["_by_column_cache"] = self._similarity.tocsc()
        return columns

    def _profile(self, user: str, context: Context) -> npt.NDArray[np.int64]:
        own = np.empty(0, dtype=np.int64)
        index = self._user_index.get(user)
        if index is not None:
            chosen = self._user_items
            own = chosen.indices[chosen.indptr[index] : chosen.indptr[index + 1]].astype(np.int64)
        if not context.session:
            return np.unique(own)
        session = [self._item_index[i] for i in context.session if i in self._item_index]
        return np.union1d(own, np.asarray(session, dtype=np.int64))

    def _scores(self, user: str, context: Context) -> tuple[npt.NDArray[np.float64], Explain]:
        history = self._profile(user, context)
        if history.size == 0:
            return self._popularity.astype(np.float64), lambda index: POPULAR
        sim = self._similarity
        at = row_positions(sim, history)  # the entries of the history's rows
        scores = np.bincount(sim.indices[at], weights=sim.data[at], minlength=self.items_.size).astype(
            np.float64
        )
        if self._repeat is not None:  # each chosen item is its own neighbour
            scores[history] += self._repeat[history]
        scores[scores <= 0] = -np.inf
        return scores, self._explain(history)

    def _score_users(self, users: Sequence[str], contexts: Sequence[Context]) -> npt.NDArray[np.float64]:
        """``_scores`` of many customers at once: their items times the similarities."""
        if any(context.session for context in contexts):
            return super()._score_users(users, contexts)
        index = np.asarray([self._user_index.get(user, -1) for user in users], dtype=np.int64)
        out = np.tile(self._popularity.astype(np.float64), (index.size, 1))
        known = np.flatnonzero(index >= 0)
        if known.size:
            chosen = take_rows(self._user_items, index[known])
            chosen.data[:] = 1.0
            scores = (chosen @ self._similarity).toarray()
            if self._repeat is not None:  # each chosen item is its own neighbour
                scores += chosen.multiply(self._repeat[None, :]).toarray()
            scores[scores <= 0] = -np.inf
            out[known] = scores
        return out

    def _explainer(self, user: str, context: Context) -> Explain:
        history = self._profile(user, context)
        return self._explain(history) if history.size else lambda index: POPULAR

    def _explain(self, history: npt.NDArray[np.int64]) -> Explain:
        names, reason, columns, repeat = self._names, self._reason, self._by_column, self._repeat
        in_history = np.zeros(self.items_.size, dtype=bool)
        in_history[history] = True

        def explain(index: int) -> Reason:  # the history item most similar to the recommended one
            start, end = columns.indptr[index], columns.indptr[index + 1]
            rows, values = columns.indices[start:end], columns.data[start:end]
            mine = in_history[rows]
            rows, values = rows[mine], values[mine]
            again = repeat[index] if repeat is not None and in_history[index] else 0.0
            if again > 0 and (rows.size == 0 or again >= values.max()):
                return AGAIN  # the item itself contributes most
            if rows.size == 0:  # asked about an item no chosen item points to
                return POPULAR
            return reason(names[int(rows[np.lexsort((rows, -values))[0]])])

        return explain

    def _similar(self, item: str) -> tuple[npt.NDArray[np.float64], Explain]:
        row = self._similarity[self._item_index[item]].toarray().ravel()
        row[row <= 0] = -np.inf
        reason = self._reason(self._names[self._item_index[item]])
        return row, lambda index: reason


def _keep_top(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Each row's ``k`` largest entries (ties by column)."""
    rows, cols, vals = [], [], []
    for r in range(matrix.shape[0]):
        start, end = matrix.indptr[r], matrix.indptr[r + 1]
        if end == start:
            continue
        c, v = matrix.indices[start:end], matrix.data[start:end]
        if v.size > k:  # only the entries at or above the row's k-th value need the full sort
            at = v >= np.partition(v, v.size - k)[v.size - k]
            c, v = c[at], v[at]
        keep = np.lexsort((c, -v))[:k]
        rows.append(np.full(keep.size, r))
        cols.append(c[keep])
        vals.append(v[keep])
    if not rows:
        return matrix
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=matrix.shape
    )
