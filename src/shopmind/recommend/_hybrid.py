"""The hybrid: the candidates of several recommenders, ranked by a learned ranker (the two-stage
"candidate generation, then ranking" design of Covington et al. 2016, with LambdaMART, Burges 2010).

Fitting learns from the shop's own past: the latest ``label_days`` of the interactions are held
back, the components are fitted on what came before, and LightGBM's LambdaRank learns which
candidates the customers then chose, from each component's rank and score of the candidate, the
item's popularity and trend, and the customer's affinity for its category, brand and price band.
The components are then refitted on everything, and serve the candidates the ranker orders.
Without a ``time`` column (or with too little history) the candidates are blended by reciprocal
rank fusion (Cormack et al. 2009) instead.

After ranking come the context and the shop's rules: :class:`ContextLift` (region, weather, time
of day), the customer's brand and price-band affinity, and at most ``max_per_category`` items of
one category in a list. ``similar_items`` gives alternatives (like the item, same category);
``complements`` gives cross-sell (bought with the item, another category).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import clone

from shopmind.core import FieldError, InvalidInputError, shop_day
from shopmind.recommend._base import (
    Context,
    Explain,
    Reason,
    Recommendation,
    Recommender,
    Vocabulary,
    _check_n,
    check_ranges,
    shared_vocabulary,
)
from shopmind.recommend._evaluation import held_back
from shopmind.recommend._hybrid_state import _FALLBACK, TREND_DAYS, _remapped, _State
from shopmind.recommend._item_cf import ItemCFRecommender
from shopmind.recommend._popularity import PopularityRecommender
from shopmind.recommend._repurchase import RepurchaseRecommender
from shopmind.recommend._state import ModelState

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
RRF_K = 60.0
BLOCK = 256  # customers scored together while learning the ranker and building the index


def default_components(
    catalogue: pd.DataFrame | None, has_time: bool, exclude_seen: bool = True
) -> list[tuple[str, Recommender]]:
    """Item CF, user CF, ALS, popularity, trending (with times) and content (with a catalogue that
    describes the items); with ``exclude_seen=False`` also the customer's own items due again
    (:class:`~shopmind.recommend.RepurchaseRecommender`), and item CF scores an item by itself."""
    from shopmind.recommend._factor import ALSRecommender
    from shopmind.recommend._user_cf import UserCFRecommender

    seen = exclude_seen
    components: list[tuple[str, Recommender]] = [
        ("item_cf", ItemCFRecommender(exclude_seen=seen)),
        ("user_cf", UserCFRecommender(exclude_seen=seen)),
        # one thread: the same factors for the least CPU (the hybrid fits ALS twice)
        ("als", ALSRecommender(exclude_seen=seen, num_threads=1)),
        ("popularity", PopularityRecommender(exclude_seen=seen)),
    ]
    if has_time:
        components.append(
            ("bought_together", ItemCFRecommender(by="basket", shrinkage=2.0, exclude_seen=seen))
        )
        components.append(("trending", PopularityRecommender(trending_days=TREND_DAYS, exclude_seen=seen)))
    described = {"name", "description", "category", "brand"}
    if catalogue is not None and described & set(catalogue.columns):
        from shopmind.recommend._content import ContentRecommender

        components.append(("content", ContentRecommender(exclude_seen=seen)))
    if not exclude_seen:  # only the customer's own items: the others come from the rest
        components.append(("repurchase", RepurchaseRecommender(fill_popular=False)))
    return components


class HybridRecommender(Recommender):
    """Candidates from ``components`` (default :func:`default_components`), ranked by LambdaRank
    trees learned on the shop's past.

    Args:
        components: ``(name, recommender)`` pairs (cloned before fitting).
        candidates: items taken from each component per request (default: 20, or 50 with
            ``exclude_seen=False``, where a customer's own items compete for the places too).
        label_days: days held back to learn the ranker (default: a quarter of the history,
            between 7 and 90 days).
        max_training_users: customers sampled (seeded) to learn the ranker.
        n_estimators, learning_rate, num_leaves: the ranker's trees (default: 60 trees at a
            rate of 0.12; with ``exclude_seen=False`` 150 at 0.05, which learn repurchases better:
            on the demo shop's next baskets Recall@10 0.3905 with the former, 0.4028 with the
            latter, TIFU-KNN 0.3908).
        context_weight: how strongly region, weather and time of day re-rank (0: not at all).
        session_weight: how strongly the complements of the items in the current session or cart
            come first (0: the session only feeds the components).
        affinity_weight: how strongly the customer's brand and price band re-rank.
        max_per_category: at most this many items of one category in a list (None: no limit).
        index_size: items kept per known customer in the in-process index (0: no index; every
            request is ranked live). A customer's row is built on their first request and kept
            (:meth:`prepare_index` builds many at once, a block at a time).
        random_state: seeds the user sample and the trees.
        exclude_seen: leave out what the customer already chose.
        n_jobs: threads that fit: with 2 (the default) the components are fitted on all the
            interactions while the ranker learns from the held-back days, side by side (their
            heavy parts run outside Python's lock); 1: one after the other. The same model either
            way: the two share nothing but the read-only interactions.

    Fitted: ``ranker_`` (the LambdaRank trees, a LightGBM ``Booster``; None with rank fusion),
    ``ranker_note_`` (how the candidates are ranked, in words), ``component_names_``,
    ``context_``. :func:`shopmind.recommend.save_recommender` stores it (components, trees,
    context and the index rows built so far) and :func:`~shopmind.recommend.load_recommender` reads it back, answering
    as it did.
    """

    def __init__(
        self,
        *,
        components: Sequence[tuple[str, Recommender]] | None = None,
        candidates: int | None = None,
        label_days: int | None = None,
        max_training_users: int = 3000,
        n_estimators: int | None = None,
        learning_rate: float | None = None,
        num_leaves: int = 15,
        context_weight: float = 1.0,
        session_weight: float = 1.0,
        affinity_weight: float = 0.0,
        max_per_category: int | None = None,
        index_size: int = 50,
        random_state: int = 0,
        exclude_seen: bool = True,
        n_jobs: int = 2,
    ) -> None:
        self.components = components
        self.candidates = candidates
        self.label_days = label_days
        self.max_training_users = max_training_users
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.context_weight = context_weight
        self.session_weight = session_weight
        self.affinity_weight = affinity_weight
        self.max_per_category = max_per_category
        self.index_size = index_size
        self.random_state = random_state
        self.exclude_seen = exclude_seen
        self.n_jobs = n_jobs

    # -- fitting ---------------------------------------------------------------------------------

    def fit(
        self,
        interactions: pd.DataFrame,
        catalogue: pd.DataFrame | None = None,
        *,
        weather: pd.DataFrame | None = None,
    ) -> HybridRecommender:
        """Fit on ``interactions`` (see :class:`Recommender`); ``weather`` (region, day, temp_c,
        precip_mm) lets the context step follow the weather of the visitor's region."""
        self._weather = weather
        super().fit(interactions, catalogue)
        return self

    def _check_params(self) -> None:
        checks = {
            "candidates": self.candidates is None
            or (isinstance(self.candidates, int) and self.candidates >= 1),
            "max_training_users": isinstance(self.max_training_users, int) and self.max_training_users >= 1,
            "label_days": self.label_days is None
            or (isinstance(self.label_days, int) and self.label_days >= 1),
            "max_per_category": self.max_per_category is None
            or (isinstance(self.max_per_category, int) and self.max_per_category >= 1),
            "index_size": isinstance(self.index_size, int) and self.index_size >= 0,
            "n_estimators": self.n_estimators is None
            or (isinstance(self.n_estimators, int) and self.n_estimators >= 1),
            "learning_rate": self.learning_rate is None or self.learning_rate > 0,
            "context_weight": self.context_weight >= 0,
            "session_weight": self.session_weight >= 0,
            "affinity_weight": self.affinity_weight >= 0,
            "n_jobs": isinstance(self.n_jobs, int) and self.n_jobs >= 1,
        }
        check_ranges("HybridRecommender", checks)

    @property
    def _per_component(self) -> int:
        if self.candidates is not None:
            return self.candidates
        return 20 if self.exclude_seen else 50

    @property
    def _trees(self) -> tuple[int, float]:
        """The number of trees and their rate: few, fast ones when only new items are offered
        (every tree costs again for each candidate of the index)."""
        n = self.n_estimators if self.n_estimators is not None else (60 if self.exclude_seen else 150)
        rate = self.learning_rate if self.learning_rate is not None else (0.12 if self.exclude_seen else 0.05)
        return n, rate

    def _fit(self, frame: pd.DataFrame, catalogue: pd.DataFrame | None) -> None:
        self._check_params()
        has_time = "time" in frame.columns
        if has_time:
            frame = frame.assign(time=pd.to_datetime(frame["time"], utc=True))
        chosen = (
            self.components
            if self.components is not None
            else default_components(catalogue, has_time, self.exclude_seen)
        )
        if not chosen:
            raise InvalidInputError([FieldError("components", "needs at least one recommender")])
        self.component_names_ = [name for name, _ in chosen]
        self.ranker_: lgb.Booster | None = None  # the LambdaRank trees
        self.ranker_note_ = "no time column: candidates blended by reciprocal rank fusion"
        # the customers and items as fitted (the components fitted on all the rows share them)
        own = Vocabulary(self.users_, self.items_, self._user_index, self._item_index)
        models = self._fit_components(frame, catalogue, chosen, has_time, own)
        self._state = _State.build(frame, catalogue, models, self._per_component, self._weather)
        # the union of the components' items (content-based models also know new catalogue items)
        self.items_ = self._state.items
        self._item_index = self._state.index
        self.context_ = self._state.context
        # built lazily: a customer's row on their first request (or by ``prepare_index``), kept
        # after; the rows are the ones an index built at fit would hold (blocks score as one)
        self._index: dict[str, _Indexed] = {}

    def _fit_components(
        self,
        frame: pd.DataFrame,
        catalogue: pd.DataFrame | None,
        chosen: Sequence[tuple[str, Recommender]],
        has_time: bool,
        vocabulary: Vocabulary,
    ) -> list[tuple[str, Recommender]]:
        """The components fitted on all of ``frame`` (with its ``vocabulary``), and (with times)
        the ranker learned from the held-back days: in a second thread with ``n_jobs >= 2``."""

        def fit_all(rows: pd.DataFrame) -> list[tuple[str, Recommender]]:
            with shared_vocabulary(rows, vocabulary):
                return [(name, clone(model).fit(rows, catalogue)) for name, model in chosen]

        if not has_time:
            return fit_all(frame)
        if self.n_jobs == 1:
            self._learn_ranker(frame, catalogue, chosen)
            return fit_all(frame)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopmind-hybrid-fit") as pool:
            # its own copy of the frame: pandas fills per-frame caches while reading
            final = pool.submit(fit_all, frame.copy())
            self._learn_ranker(frame, catalogue, chosen)  # on an error, leaving waits for the thread
            return final.result()

    def _learn_ranker(
        self, frame: pd.DataFrame, catalogue: pd.DataFrame | None, chosen: Sequence[tuple[str, Recommender]]
    ) -> None:
        times = frame["time"]
        span_days = (times.max() - times.min()).total_seconds() / 86_400
        days = self.label_days or int(np.clip(span_days / 4, 7, 90))
        cut = times.max() - pd.Timedelta(days=days)
        # what the customers known before the cut chose afterwards (new to them, unless
        # repurchases may be recommended: then a repurchase is a choice to learn from too)
        before, labels = held_back(frame, cut, new_items_only=self.exclude_seen)
        if len(labels) < 20 or before["item"].nunique() < 2:
            self.ranker_note_ = (
                f"too little history before the last {days} days to learn a ranker "
                f"({len(labels)} customers chose something{' new' if self.exclude_seen else ''}): "
                "reciprocal rank fusion"
            )
            return
        rng = np.random.default_rng(self.random_state)
        users = sorted(labels)
        if len(users) > self.max_training_users:
            users = sorted(rng.choice(users, size=self.max_training_users, replace=False).tolist())
            labels = {user: labels[user] for user in users}  # the others' choices are not read
        with shared_vocabulary(before):
            models = [(name, clone(model).fit(before, catalogue)) for name, model in chosen]
        state = _State.build(before, catalogue, models, self._per_component, self._weather)
        blocks, targets, groups = [], [], []
        for start in range(0, len(users), BLOCK):
            some = users[start : start + BLOCK]
            block = state.candidate_block(some, self.exclude_seen)
            for row, user in enumerate(some):
                at = slice(block.offsets[row], block.offsets[row + 1])
                cand = block.items[at]
                if cand.size == 0:
                    continue
                picked = [state.index[item] for item in labels[user] if item in state.index]
                y = np.isin(cand, picked).astype(np.int32)
                if y.sum() == 0:
                    continue  # LambdaRank learns nothing from a list without a positive
                blocks.append(block.features[at])
                targets.append(y)
                groups.append(cand.size)
        if not groups:
            self.ranker_note_ = "no candidate was ever chosen in the held-back days: reciprocal rank fusion"
            return
        self.ranker_ = self._train_ranker(blocks, targets, groups)
        self.feature_names_ = state.feature_names
        self.ranker_note_ = (
            f"LambdaRank learned on {len(groups)} customers' choices in the {days} days "
            f"from {shop_day(cut)} (components fitted on what came before; "
            f"{self.ranker_.num_trees()} trees)"
        )

    def _train_ranker(
        self, blocks: list[FloatArray], targets: list[npt.NDArray[np.int32]], groups: list[int]
    ) -> lgb.Booster:
        """LambdaRank trees on the customers' candidate lists (every tree costs at fit and again
        for every candidate of the index: few trees, a faster rate)."""
        n_trees, rate = self._trees
        params = {
            "objective": "lambdarank",
            "learning_rate": rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": 20,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "feature_fraction": 0.8,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbose": -1,
        }
        data = lgb.Dataset(np.vstack(blocks), np.concatenate(targets), group=groups, free_raw_data=True)
        return lgb.train(params, data, num_boost_round=n_trees)

    # -- storing ---------------------------------------------------------------------------------

    def _save_fitted(self, state: ModelState) -> None:
        state.set_fact("component_names", self.component_names_)
        state.set_fact("ranker_note", self.ranker_note_)
        if self.ranker_ is not None:  # LightGBM's own text format of the trees
            state.set_fact("feature_names", self.feature_names_)
            text = self.ranker_.model_to_string()
            state.put("ranker", np.frombuffer(text.encode("utf-8"), dtype=np.uint8))
        self._state.save(state.child("state"))
        built = self._index.copy()  # one step: requests may add rows while this runs
        users = sorted(built)
        rows = [built[user] for user in users]
        index = state.child("index")
        index.put_strings("users", users)
        index.put("indptr", np.concatenate(([0], np.cumsum([r.items.size for r in rows]))).astype(np.int64))
        index.put("items", np.concatenate([r.items for r in rows]) if rows else np.zeros(0, np.int64))
        index.put("value", np.concatenate([r.value for r in rows]) if rows else np.zeros(0))
        index.put("best", np.concatenate([r.best for r in rows]) if rows else np.zeros(0, np.int8))
        index.put("complete", np.asarray([r.complete for r in rows], dtype=bool))

    def _load_fitted(self, state: ModelState) -> None:
        self._weather = None  # only fitting reads it
        self.component_names_ = list(state.fact("component_names"))
        self.ranker_note_ = str(state.fact("ranker_note"))
        self.ranker_ = None
        if "feature_names" in state.facts:
            self.feature_names_ = list(state.fact("feature_names"))
            self.ranker_ = lgb.Booster(model_str=bytes(state.get("ranker")).decode("utf-8"))
        self._state = _State.load(state.child("state"), self.items_, self._item_index)
        self.context_ = self._state.context
        index = state.child("index")
        indptr = index.get("indptr")
        items, value, best = index.get("items"), index.get("value"), index.get("best")
        complete = index.get("complete").tolist()
        self._index = {
            user: _Indexed(
                items[indptr[k] : indptr[k + 1]],
                value[indptr[k] : indptr[k + 1]],
                best[indptr[k] : indptr[k + 1]],
                complete=bool(complete[k]),
            )
            for k, user in enumerate(index.strings("users"))
        }

    # -- answering -------------------------------------------------------------------------------

    def _ranked(self, user: str, context: Context) -> tuple[IntArray, FloatArray, IntArray, list[Explain]]:
        """The candidates for ``user`` (state item indices), the ranker's value of each (with the
        brand and price affinity, before the context), the source ranking each best, and the
        sources' reasons."""
        cand, features, best, explains = self._state.candidates(user, context, self.exclude_seen)
        return cand, self._value(features), best, explains

    def _value(self, features: FloatArray) -> FloatArray:
        """The ranker's value of candidates from their features (with the brand and price
        affinity, before the context)."""
        state = self._state
        if features.shape[0] == 0:
            return np.zeros(0)
        if self.ranker_ is not None:
            value = np.asarray(self.ranker_.predict(features, num_threads=1), dtype=np.float64)
        else:
            ranks = features[:, : 2 * (len(state.components) + 1) : 2]
            value = (1.0 / (RRF_K + ranks)).sum(axis=1) * 100.0
        if self.affinity_weight > 0:
            names = state.feature_names
            share = np.nan_to_num(features[:, names.index("brand_share")])
            price = np.nan_to_num(features[:, names.index("price_log_ratio")], nan=2.0)
            value = value + self.affinity_weight * (share - 0.25 * np.abs(price))
        return value

    def _in_context(
        self, cand: IntArray, value: FloatArray, context: Context, reason_of: Explain
    ) -> tuple[FloatArray, Explain]:
        """The candidates' final scores in ``context`` (region, weather and hour lifts, then the
        session's complements first) and their reasons."""
        state = self._state
        scores = np.full(state.items.size, -np.inf)
        if cand.size == 0:
            return scores, reason_of
        lift, context_reason = state.context.lift_codes(
            state.item_code[cand], state.group_code[cand], context
        )
        if self.context_weight > 0:
            value = value + self.context_weight * np.log(lift)
        strong = {int(i): context_reason[k] for k, i in enumerate(cand) if context_reason[k] is not None}
        together, why = state.session_complements(context)
        if self.session_weight > 0 and together is not None:
            boost = together[cand]
            value = value + self.session_weight * (np.ptp(value) + 1.0) * boost
            strong.update({int(i): why(int(i)) for i in cand[boost >= 0.5].tolist()})
        scores[cand] = value

        def explain(index: int) -> Reason:
            return strong.get(index) or reason_of(index)

        return scores, explain

    def _scores(self, user: str, context: Context) -> tuple[FloatArray, Explain]:
        """Ranked live: every component scores, the ranker orders the union of their candidates."""
        state = self._state
        context = state.local(user, context)
        if user not in state.customers and not context.session:
            return state.popular_in(context, self.context_weight)
        cand, value, best, explains = self._ranked(user, context)
        by_item = dict(zip(cand.tolist(), best.tolist(), strict=True))

        def reason_of(index: int) -> Reason:
            j = by_item.get(index)
            return _FALLBACK if j is None else explains[j](index)

        return self._in_context(cand, value, context, reason_of)

    def _build_index(self, users: list[str]) -> dict[str, _Indexed]:
        """The in-process index of ``users``: each one's ``index_size`` best candidates in their
        usual context (their region, no session), with the value before the context lifts, which
        each request adds. Scored a block of customers at a time (one call of each component and
        of the ranker per block), the same as ranking each one live."""
        state = self._state
        lifts: dict[str | None, FloatArray] = {}
        index: dict[str, _Indexed] = {}
        for start in range(0, len(users), BLOCK):
            some = users[start : start + BLOCK]
            block = state.candidate_block(some, self.exclude_seen)
            values = self._value(block.features)
            for row, user in enumerate(some):
                at = slice(block.offsets[row], block.offsets[row + 1])
                cand, value, best = block.items[at], values[at], block.best[at]
                if cand.size > self.index_size:
                    final = value
                    if self.context_weight > 0:
                        region = state.customers.home_of(user)
                        if region not in lifts:
                            usual = Context(region=region)
                            lifts[region] = np.log(
                                state.context.lift_codes(state.item_code, state.group_code, usual)[0]
                            )
                        final = value + self.context_weight * lifts[region][cand]
                    keep = np.lexsort((cand, -final))[: self.index_size]
                    keep.sort()
                    cand, value, best = cand[keep], value[keep], best[keep]
                index[user] = _Indexed(
                    cand, value, best.astype(np.int8), complete=cand.size < self.index_size
                )
        return index

    def _from_index(
        self, user: str, context: Context, want: int, banned: IntArray
    ) -> tuple[FloatArray, Explain] | None:
        """The answer from the in-process index: the same as ranking live for a request in the
        customer's usual region without a session, weather or time (excluded items leave the kept
        candidates); None when the request needs live ranking (a session, another region, a
        weather or a time, whose in-context popular items are candidates too; an unknown customer;
        more items than the index keeps)."""
        state = self._state
        if (
            context.session
            or context.temp_c is not None
            or context.precip_mm is not None
            or context.now is not None
            or (context.region is not None and context.region != state.customers.home_of(user))
        ):
            return None  # another context brings its own candidates (in-context popular items)
        row = self._index.get(user)
        if row is None:
            if self.index_size == 0 or user not in state.customers:
                return None
            row = self._build_index([user])[user]
            self._index[user] = row  # one assignment: a concurrent request builds the same row
        cand = row.items
        if not row.complete:
            excluded = np.isin(cand, banned).sum()
            if cand.size - excluded < want:
                return None
        context = state.local(user, context)
        components = state.components
        explainers: dict[int, Explain] = {}

        def reason_of(index: int) -> Reason:
            j = int(row.best[int(np.searchsorted(cand, index))])
            if j >= len(components):  # the in-context popularity: its reason is the context's
                return _FALLBACK
            if j not in explainers:
                _, model, _ = components[j]
                explainers[j] = _remapped(model._explainer(user, context), state.inverse[j])
            return explainers[j](index)

        return self._in_context(cand, row.value, context, reason_of)

    def prepare_index(self, users: Sequence[Hashable] | None = None) -> int:
        """Build the in-process index rows of ``users`` (default: every known customer) now, a
        block of customers at a time, instead of on their first requests; the rows already built
        are kept. Returns how many rows were built."""
        self._check_fitted()
        if self.index_size == 0:
            return 0
        known = self._state.customers
        wanted = known.names.tolist() if users is None else sorted({str(u) for u in users})
        todo = [user for user in wanted if user in known and user not in self._index]
        self._index.update(self._build_index(todo))
        return len(todo)

    def recommend(self, user: Hashable, context: Context | None = None, n: int = 10) -> list[Recommendation]:
        """Up to ``n`` items for ``user``: known customers in their usual context (no session,
        their region, no weather or time given) are answered from the in-process index (see
        ``index_size``; a customer's row is built on their first such request); every other
        request is ranked live."""
        self._check_fitted()
        _check_n(n)
        context = context or Context()
        key = str(user)
        want = n if self.max_per_category is None else max(n * 5, n + 20)
        banned = self._banned(key, self._state.local(key, context))
        answer = self._from_index(key, context, want, banned) or self._scores(key, context)
        pool = self._top(*answer, banned, want)
        if self.max_per_category is None:
            return pool
        return _diversified(pool, self._state.category_of, self.max_per_category, n)

    def _similar(self, item: str) -> tuple[FloatArray, Explain]:
        """Alternatives: items like ``item`` in its category (content first, then bought-together)."""
        state = self._state
        scores, explain = state.component_similar(item, prefer=("content", "als", "item_cf"))
        category = state.category[state.index[item]]
        if category >= 0:
            other = state.category != category
            scores[other & np.isfinite(scores)] -= 1e6  # other categories only after the same one
        return scores, explain

    def complements(self, item: Hashable, n: int = 10) -> list[Recommendation]:
        """Cross-sell: the items bought in the same orders as ``item`` (McAuley et al. 2015:
        complements are bought together, substitutes viewed together), whatever their category."""
        self._check_fitted()
        key = str(item)
        state = self._state
        if key not in state.index:
            return []
        scores, explain = state.component_similar(
            key, prefer=("bought_together", "item_cf", "user_cf", "als")
        )
        return self._top(scores, explain, np.append(self._blocked_codes, state.index[key]), n)


def _diversified(
    pool: list[Recommendation], category_of: dict[str, str], limit: int, n: int
) -> list[Recommendation]:
    kept: list[Recommendation] = []
    rest: list[Recommendation] = []
    counts: dict[str, int] = {}
    for rec in pool:
        category = category_of.get(rec.item)
        if category is not None and counts.get(category, 0) >= limit:
            rest.append(rec)
            continue
        if category is not None:
            counts[category] = counts.get(category, 0) + 1
        kept.append(rec)
        if len(kept) == n:
            break
    return kept if len(kept) == n else kept + rest[: n - len(kept)]


@dataclass(frozen=True)
class _Indexed:
    """One known customer's row of the in-process index."""

    items: IntArray  # state item indices, sorted
    value: FloatArray  # the ranker's value (with the affinity), before the context
    best: npt.NDArray[np.int8]  # the source that ranked each item best: its reason
    complete: bool  # every candidate is kept (fewer than index_size)
