"""Popularity, the baseline to beat: the items most customers chose, overall, in the visitor's
region, in the customer's favourite category, or trending (most customers in the latest days);
and, for repeat purchases, each customer's own most frequent items (:class:`PersonalTopFrequency`)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from shopmind.core import FieldError, InvalidInputError
from shopmind.recommend._base import Context, Explain, Reason, Recommender
from shopmind.recommend._state import ModelState

POPULAR = Reason("popular", "인기 상품", "popular")


class PopularityRecommender(Recommender):
    """Items ranked by the number of distinct customers who chose them (a bulk buyer counts once).

    Args:
        by: ``"overall"``; ``"region"`` (what customers of the visitor's region chose, from the
            ``region`` column of the interactions and ``Context.region``; overall elsewhere);
            ``"category"`` (the most popular items of the customer's most chosen category, from
            the catalogue's ``category``; overall for new customers).
        trending_days: count only the customers of the last ``trending_days`` before the latest
            interaction (needs a ``time`` column): what is popular *now*.
        exclude_seen: leave out what the customer already chose.
    """

    def __init__(
        self,
        *,
        by: Literal["overall", "region", "category"] = "overall",
        trending_days: int | None = None,
        exclude_seen: bool = True,
    ) -> None:
        self.by = by
        self.trending_days = trending_days
        self.exclude_seen = exclude_seen

    def _fit(self, frame: pd.DataFrame, catalogue: pd.DataFrame | None) -> None:
        if self.by not in ("overall", "region", "category"):
            raise InvalidInputError([FieldError("by", "must be 'overall', 'region' or 'category'")])
        needs = {"region": "region", "trending": "time"}
        if self.by == "region" and "region" not in frame.columns:
            raise InvalidInputError([FieldError(needs["region"], "column is needed for by='region'")])
        if self.trending_days is not None:
            if "time" not in frame.columns:
                raise InvalidInputError([FieldError("time", "column is needed for trending_days")])
            if not isinstance(self.trending_days, int) or self.trending_days < 1:
                raise InvalidInputError([FieldError("trending_days", "must be a whole number of days >= 1")])
            times = pd.to_datetime(frame["time"], utc=True)
            frame = frame[times >= times.max() - pd.Timedelta(days=self.trending_days)]
        self._base = self._counts(frame)
        self._by_region: dict[str, npt.NDArray[np.float64]] = {}
        if self.by == "region":
            for region, part in frame.groupby("region"):
                self._by_region[str(region)] = self._counts(part)
        self._category_of: dict[str, str] = {}
        self._favourite: dict[str, str] = {}
        if self.by == "category":
            if catalogue is None or "category" not in catalogue.columns:
                raise InvalidInputError(
                    [FieldError("catalogue", "needs a category column for by='category'")]
                )
            self._category_of = dict(
                zip(catalogue["item"].astype(str), catalogue["category"].astype(str), strict=False)
            )
            chosen = frame.assign(category=frame["item"].map(self._category_of)).dropna(subset=["category"])
            counts = chosen.groupby(["user", "category"]).size().reset_index(name="n")
            best = counts.sort_values(
                ["user", "n", "category"], ascending=[True, False, True]
            ).drop_duplicates("user")
            self._favourite = dict(zip(best.user, best.category, strict=True))
        self._reason = self._reason_of_list()

    def _reason_of_list(self) -> Reason:
        return Reason("trending", "요즘 뜨는 상품", "trending now") if self.trending_days else POPULAR

    def _save_fitted(self, state: ModelState) -> None:
        state.put("base", self._base)
        state.put_strings("regions", self._by_region)
        state.put(
            "by_region", np.vstack(list(self._by_region.values())) if self._by_region else np.zeros((0, 0))
        )
        state.put_text_map("category_of", self._category_of)
        state.put_text_map("favourite", self._favourite)

    def _load_fitted(self, state: ModelState) -> None:
        self._base = state.get("base")
        counts = state.get("by_region")
        self._by_region = {region: counts[k] for k, region in enumerate(state.strings("regions"))}
        self._category_of = state.text_map("category_of")
        self._favourite = state.text_map("favourite")
        self._reason = self._reason_of_list()

    def _counts(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        users = frame.groupby("item")["user"].nunique()
        scores = np.zeros(self.items_.size)
        scores[[self._item_index[i] for i in users.index]] = users.to_numpy(dtype=np.float64)
        return scores

    def _scores(self, user: str, context: Context) -> tuple[npt.NDArray[np.float64], Explain]:
        if self.by == "region" and context.region in self._by_region:
            region = str(context.region)
            reason = Reason("popular_in_region", f"{region}에서 인기", f"popular in {region}")
            return self._by_region[region] + self._base * 1e-9, lambda index: reason
        if self.by == "category" and user in self._favourite:
            category = self._favourite[user]
            inside = np.array([self._category_of.get(i) == category for i in self.items_.tolist()])
            reason = Reason("popular_in_category", f"{category} 인기 상품", f"popular in {category}")
            scores = np.where(inside, self._base, -np.inf)
            return scores, lambda index: reason
        return self._base.copy(), lambda index: self._reason


class PersonalTopFrequency(Recommender):
    """Each customer's own most frequent items, then the shop's most popular ones: the ten-line
    baseline of next-basket recommendation (it recommends repeat purchases, so ``exclude_seen``
    is always False).

    A customer's frequency of an item is the number of their purchase occasions with it (distinct
    ``time`` values; without a ``time`` column, rows; with a ``kind`` column only purchases).
    Between equal frequencies the item bought more recently and the more popular one come first
    (each adds a fraction below one occasion, as in the next-basket literature's baseline); the
    popularity is the number of purchase occasions of the item over all customers.
    """

    exclude_seen = False  # by nature: it recommends what was bought

    def __init__(self) -> None:
        pass

    def _fit(self, frame: pd.DataFrame, catalogue: pd.DataFrame | None) -> None:
        items = pd.Index(self.items_)
        bought = frame
        if "kind" in frame.columns and (frame["kind"] == "purchase").any():
            bought = frame[frame["kind"] == "purchase"]
        key = pd.DataFrame(
            {
                "u": pd.Index(self.users_).get_indexer(bought["user"]),
                "i": items.get_indexer(bought["item"]),
                "t": pd.to_datetime(bought["time"], utc=True)
                if "time" in bought.columns
                else np.arange(len(bought)),
            }
        )
        if "time" in bought.columns:
            key = key.drop_duplicates()
        self._base = np.bincount(key["i"].to_numpy(), minlength=items.size).astype(np.float64)
        # each customer's occasions numbered from their first (0) to their last
        key["r"] = key.groupby("u")["t"].rank(method="dense").to_numpy() - 1
        order = key.groupby(["u", "i"], sort=True)
        counts = order.size()
        latest = order["r"].max()
        occasions = key.groupby("u")["r"].max().max() + 1
        # the frequency, then (a fraction below one occasion) how recent the last one was
        value = counts.to_numpy(np.float64) + (latest.to_numpy(np.float64) + 1.0) / (float(occasions) + 2.0)
        self._own = sparse.csr_matrix(
            (value, (counts.index.get_level_values("u"), counts.index.get_level_values("i"))),
            shape=(self.users_.size, items.size),
        )

    def _save_fitted(self, state: ModelState) -> None:
        state.put("base", self._base)
        state.put_csr("own", self._own)

    def _load_fitted(self, state: ModelState) -> None:
        self._base = state.get("base")
        self._own = state.csr("own")

    def _scores(self, user: str, context: Context) -> tuple[npt.NDArray[np.float64], Explain]:
        # popular items in [0, 1), own items above 1, their popularity breaking ties
        scores = self._base / (float(self._base.max(initial=0.0)) + 1.0)
        own, value = self._mine(user)
        scores[own] += value
        return scores, self._explain(own, value)

    def _explainer(self, user: str, context: Context) -> Explain:
        return self._explain(*self._mine(user))

    def _mine(self, user: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
        index = self._user_index.get(user)
        if index is None:
            return np.empty(0, dtype=np.int32), np.empty(0)
        start, end = self._own.indptr[index], self._own.indptr[index + 1]
        return self._own.indices[start:end], self._own.data[start:end]

    def _explain(self, own: npt.NDArray[np.int32], value: npt.NDArray[np.float64]) -> Explain:
        times = dict(zip(own.tolist(), np.floor(value).tolist(), strict=True))

        def explain(index: int) -> Reason:
            n = times.get(index)
            return POPULAR if n is None else OFTEN if n >= 2 else BEFORE

        return explain


OFTEN = Reason("reorder", "자주 사신 상품", "One you buy often")
BEFORE = Reason("reorder", "전에 사신 상품", "You bought this before")
