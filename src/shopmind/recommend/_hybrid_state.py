"""The hybrid's fitted state: its components over one item universe, the facts the ranker's
features need (item popularity and trend, each customer's history and home region, category,
brand and price codes, the context lifts), and the candidates of a block of customers with
their features. :class:`~shopmind.recommend.HybridRecommender` ranks what it gives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shopmind.recommend._base import Context, Explain, Reason, Recommender, distinct_pairs, positions
from shopmind.recommend._context import ContextLift
from shopmind.recommend._repurchase import FEATURES as REPURCHASE_FEATURES
from shopmind.recommend._repurchase import RepurchaseRecommender
from shopmind.recommend._state import ModelState
from shopmind.recommend._topk import ranked, top_k_mask

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TREND_DAYS = 30
ITEM_FEATURES = ("popularity", "trend", "days_since_sold", "age_days")
USER_FEATURES = ("user_items", "user_days_idle")
AFFINITY_FEATURES = ("category_share", "brand_share", "price_log_ratio")


_FALLBACK = Reason("popular", "인기 상품", "popular")


def _remapped(explain: Explain, back: IntArray) -> Explain:
    """A component's reasons, asked by this state's item index."""
    return lambda index: explain(int(back[index]))


@dataclass(frozen=True)
class _Block:
    """The candidates of a block of customers: customer ``u``'s are rows ``offsets[u]`` to
    ``offsets[u + 1]``."""

    offsets: IntArray
    items: IntArray  # state item indices, sorted within each customer
    features: FloatArray
    best: IntArray  # the source that ranked each best


@dataclass(frozen=True)
class _Customers:
    """The customers a state learned from, by their position among ``names`` (sorted): what
    each chose (``chosen[indptr[k]:indptr[k + 1]]``, sorted state item indices), the days since
    their last choice (``idle``, NaN unknown) and their usual region (``regions[home[k]]``, -1
    none). Arrays, not a mapping per customer: at 2 million customers the three mappings and
    their keys cost over a gigabyte."""

    names: npt.NDArray[Any]
    at: Mapping[str, int]  # name -> position (shared with the models fitted alongside: read-only)
    indptr: IntArray
    chosen: IntArray
    idle: FloatArray
    home: IntArray
    regions: list[str]

    def __contains__(self, user: object) -> bool:
        return user in self.at

    def __len__(self) -> int:
        return int(self.names.size)

    def history(self, user: str) -> IntArray | None:
        """What ``user`` chose (sorted state item indices); None for a customer not known."""
        k = self.at.get(user)
        return None if k is None else self.chosen[self.indptr[k] : self.indptr[k + 1]]

    def idle_days(self, user: str) -> float:
        k = self.at.get(user)
        return float("nan") if k is None else float(self.idle[k])

    def home_of(self, user: str) -> str | None:
        """The customer's usual region (None: not known, or seen in none)."""
        k = self.at.get(user)
        if k is None or self.home[k] < 0:
            return None
        return self.regions[int(self.home[k])]

    def save(self, state: ModelState) -> None:
        """As the mappings were stored (format 1): ``history`` ragged by customer, ``user_idle``
        and ``home`` as keys and values of the customers who have one."""
        names = self.names
        state.put_ragged_arrays("history", names, self.indptr, self.chosen)
        known = ~np.isnan(self.idle)
        state.put_strings("user_idle.keys", names if known.all() else names[known])
        state.put("user_idle.values", self.idle[known])
        placed = self.home >= 0
        state.put_strings("home.keys", names[placed])
        state.put_strings("home.values", np.asarray(self.regions, dtype=object)[self.home[placed]])

    @classmethod
    def load(cls, state: ModelState) -> _Customers:
        """The customers :meth:`save` wrote (their names shared with the model's own)."""
        users, at = state.text_index("history.keys")
        indptr = state.get("history.indptr").astype(np.int64)
        chosen = state.get("history.values").astype(np.int64)
        idle = np.full(users.size, np.nan)
        values = state.get("user_idle.values")
        if state.same_text("user_idle.keys", "history.keys"):
            idle[:] = values
        else:
            idle[[at[user] for user in state.strings("user_idle.keys")]] = values
        placed = [at[user] for user in state.strings("home.keys")]
        region_codes, regions = pd.factorize(pd.Series(state.strings("home.values"), dtype=object), sort=True)
        home = np.full(users.size, -1, dtype=np.int64)
        home[placed] = region_codes
        return cls(users, at, indptr, chosen, idle, home, [str(r) for r in regions])


@dataclass
class _State:
    """The fitted components and the facts the ranker's features need, over one item universe."""

    items: npt.NDArray[Any]
    index: dict[str, int]
    components: list[tuple[str, Recommender, npt.NDArray[np.int64]]]  # name, model, its items here
    inverse: list[npt.NDArray[np.int64]]  # per component: state item -> the component's index
    per_component: int
    item_facts: FloatArray  # [item, ITEM_FEATURES]
    customers: _Customers
    category: npt.NDArray[np.int64]  # -1 unknown
    brand: npt.NDArray[np.int64]
    log_price: FloatArray  # NaN unknown
    category_of: dict[str, str]
    blocked: npt.NDArray[np.int64]  # out of stock or not products
    context: ContextLift
    item_code: IntArray  # the context's codes of each item
    group_code: IntArray

    def local(self, user: str, context: Context) -> Context:
        """``context`` with the customer's usual region when the request names none."""
        if context.region is None:
            home = self.customers.home_of(user)
            if home is not None:
                return replace(context, region=home)
        return context

    def session_complements(self, context: Context) -> tuple[FloatArray | None, Explain]:
        """How strongly each item complements the session's items (0..1, the best 1), and why."""
        rows = []
        for item in context.session:
            if item in self.index:
                scores, explain = self.component_similar(item, prefer=("bought_together", "item_cf"))
                rows.append((np.where(np.isfinite(scores), scores, 0.0), explain))
        if not rows:
            return None, lambda index: _FALLBACK
        stacked = np.vstack([r for r, _ in rows])
        total = stacked.sum(axis=0)
        top = total.max()
        if top <= 0:
            return None, lambda index: _FALLBACK
        return total / top, lambda index: rows[int(np.argmax(stacked[:, index]))][1](index)

    def save(self, state: ModelState) -> None:
        """Write the components (each a child state, with its items' places here) and the facts
        the ranker's features and the context step read into ``state``."""
        from shopmind.recommend._persist import save_model_state

        state.set_fact("per_component", self.per_component)
        state.set_fact("components", [name for name, _, _ in self.components])
        for j, (_, model, mapping) in enumerate(self.components):
            part = state.child(f"component{j}")
            save_model_state(model, part)
            part.put("mapping", mapping)
        state.put("item_facts", self.item_facts)
        self.customers.save(state)
        state.put("category", self.category)
        state.put("brand", self.brand)
        state.put("log_price", self.log_price)
        state.put_text_map("category_of", self.category_of)
        state.put("blocked", self.blocked)
        self.context.save_state(state.child("context"))
        state.put("item_code", self.item_code)
        state.put("group_code", self.group_code)

    @classmethod
    def load(cls, state: ModelState, items: npt.NDArray[Any], index: dict[str, int]) -> _State:
        """The state ``save`` wrote, over the hybrid's ``items``."""
        from shopmind.recommend._persist import load_model_state

        components = []
        inverse = []
        for j, name in enumerate(state.fact("components")):
            part = state.child(f"component{j}")
            model = load_model_state(part)
            mapping = part.get("mapping").astype(np.int64)
            components.append((str(name), model, mapping))
            back = np.full(items.size, -1, dtype=np.int64)
            back[mapping] = np.arange(mapping.size)
            inverse.append(back)
        return cls(
            items,
            index,
            components,
            inverse,
            int(state.fact("per_component")),
            state.get("item_facts"),
            _Customers.load(state),
            state.get("category"),
            state.get("brand"),
            state.get("log_price"),
            state.text_map("category_of"),
            state.get("blocked"),
            ContextLift.from_state(state.child("context")),
            state.get("item_code"),
            state.get("group_code"),
        )

    @property
    def feature_names(self) -> list[str]:
        names = []
        for name in [*(c[0] for c in self.components), "in_context"]:
            names += [f"{name}_rank", f"{name}_score"]
        names += list(ITEM_FEATURES) + list(USER_FEATURES) + list(AFFINITY_FEATURES)
        if self.repurchase is not None:
            names += [f"repurchase_{name}" for name in REPURCHASE_FEATURES]
        return names

    @property
    def repurchase(self) -> RepurchaseRecommender | None:
        """The repurchase component, whose features of each (customer, item) the ranker reads:
        decayed frequency, days since last, days overdue against the cycle..."""
        for _, model, _ in self.components:
            if isinstance(model, RepurchaseRecommender):
                return model
        return None

    @classmethod
    def build(
        cls,
        frame: pd.DataFrame,
        catalogue: pd.DataFrame | None,
        models: list[tuple[str, Recommender]],
        per_component: int,
        weather: pd.DataFrame | None = None,
    ) -> _State:
        items = np.asarray(sorted(set().union(*(m.items_.tolist() for _, m in models))), dtype=object)
        index = {item: i for i, item in enumerate(items.tolist())}
        components = [
            (name, model, np.array([index[i] for i in model.items_.tolist()], dtype=np.int64))
            for name, model in models
        ]
        inverse = []
        for _, _, mapping in components:
            back = np.full(items.size, -1, dtype=np.int64)
            back[mapping] = np.arange(mapping.size)
            inverse.append(back)
        codes = positions(frame["item"], items)
        customers, user_codes, pairs = _customers(frame, models[0][1], codes, items.size)
        facts = np.zeros((items.size, len(ITEM_FEATURES)))
        # the share of customers who chose each item (distinct customer-item pairs)
        pop = np.bincount(pairs[1], minlength=items.size) / max(len(customers), 1)
        del pairs
        facts[:, 0] = pop
        if "time" in frame.columns:
            times = frame["time"]
            end = times.max()
            age = (end - times).dt.total_seconds().to_numpy() / 86_400
            recent = age <= TREND_DAYS
            owner, chosen = distinct_pairs(user_codes[recent], codes[recent], items.size)
            n_recent = max(int(np.count_nonzero(np.diff(owner, prepend=-1))), 1)
            recent_pop = np.bincount(chosen, minlength=items.size) / n_recent
            del owner, chosen
            facts[:, 1] = (recent_pop + 1e-3) / (pop + 1e-3)
            last = np.full(items.size, np.nan)
            first = np.full(items.size, np.nan)
            # newest sale per item = smallest age; oldest = largest age
            ages = pd.Series(age).groupby(codes)
            last_age, first_age = ages.min(), ages.max()
            last[last_age.index.to_numpy()] = last_age.to_numpy()
            first[first_age.index.to_numpy()] = first_age.to_numpy()
            facts[:, 2], facts[:, 3] = last, first
            idle = pd.Series(age).groupby(user_codes).min()
            customers.idle[idle.index.to_numpy()] = idle.to_numpy()
        else:
            facts[:, 1:] = np.nan
        category, brand, log_price, category_of = _catalogue_codes(catalogue, index, items.size)
        context = ContextLift().fit(frame, catalogue, weather)
        if "region" in frame.columns:
            where = frame["region"]
            known = where.notna().to_numpy()
            region_codes, names = pd.factorize(where[known], sort=True)
            regions = (
                pd.DataFrame({"user": user_codes[known], "region": region_codes})
                .groupby(["user", "region"])
                .size()
                .reset_index(name="n")
            )
            # the most frequent region, ties to the first by name (the codes follow the names)
            regions = regions.sort_values(["user", "n", "region"], ascending=[True, False, True])
            regions = regions.drop_duplicates("user")
            customers.home[regions["user"].to_numpy()] = regions["region"].to_numpy()
            customers.regions.extend(str(name) for name in names)
        return cls(
            items,
            index,
            components,
            inverse,
            per_component,
            facts,
            customers,
            category,
            brand,
            log_price,
            category_of,
            np.array(sorted(index[i] for i in models[0][1]._blocked if i in index), dtype=np.int64),
            context,
            *context.codes(items.tolist()),
        )

    def candidates(
        self, user: str, context: Context, exclude_seen: bool
    ) -> tuple[IntArray, FloatArray, IntArray, list[Explain]]:
        """The union of the components' top candidates for ``user`` (state item indices, sorted),
        their features (one row each), the source ranking each best (the first on ties) and the
        sources' reasons (by state item index)."""
        sources = self._sources(user, context)
        banned = self._banned([user], exclude_seen, context.exclude)
        block = self._assemble([user], [full[None, :] for full, _ in sources], banned, context.now)
        return block.items, block.features, block.best, [explain for _, explain in sources]

    def candidate_block(self, users: Sequence[str], exclude_seen: bool) -> _Block:
        """:meth:`candidates` of many known customers in their usual context (their region, no
        session, weather or time), each component scoring them all at once: the same rows as one
        customer at a time."""
        contexts = [self.local(user, Context()) for user in users]
        sources = []
        for _, model, mapping in self.components:
            full = np.full((len(users), self.items.size), -np.inf)
            full[:, mapping] = model._score_users(users, contexts)
            sources.append(full)
        popular = {}
        for region in sorted({c.region for c in contexts}, key=str):
            lift, _ = self.context.lift_codes(self.item_code, self.group_code, Context(region=region))
            values = self.item_facts[:, 0] * lift
            popular[region] = np.where(values > 0, values, -np.inf)
        sources.append(np.vstack([popular[c.region] for c in contexts]))
        return self._assemble(users, sources, self._banned(users, exclude_seen, frozenset()))

    def _banned(
        self, users: Sequence[str], exclude_seen: bool, exclude: frozenset[str]
    ) -> npt.NDArray[np.bool_]:
        banned = np.zeros((len(users), self.items.size), dtype=bool)
        if exclude_seen:
            for row, user in enumerate(users):
                seen = self.customers.history(user)
                if seen is not None:
                    banned[row, seen] = True
        for item in exclude:
            if item in self.index:
                banned[:, self.index[item]] = True
        banned[:, self.blocked] = True
        return banned

    def _assemble(
        self,
        users: Sequence[str],
        sources: list[FloatArray],
        banned: npt.NDArray[np.bool_],
        now: datetime | None = None,
    ) -> _Block:
        """Each source's ``per_component`` best items per customer (ties by item), their ranks and
        scores relative to the source's best, as the ranker's feature rows."""
        k = self.per_component
        n_users = len(users)
        found = []
        wanted = np.zeros(banned.shape, dtype=bool)
        for full in sources:
            # float32 precision: the same list whichever way (one customer or a block, on any
            # machine's BLAS) a component summed its score
            full = full.astype(np.float32)
            full[banned] = -np.inf
            rows, cols, rank = ranked(full, top_k_mask(full, k))
            value = full[rows, cols].astype(np.float64)
            top = np.zeros(n_users)
            first = rank == 1
            top[rows[first]] = value[first]
            best = top[rows]
            relative = np.divide(value, best, out=np.zeros_like(value), where=best > 0)
            found.append((rows, cols, rank, relative))
            wanted[rows, cols] = True
        rows, cols = np.nonzero(wanted)  # by customer, then by item
        slot = np.full(banned.shape, -1, dtype=np.int64)
        slot[rows, cols] = np.arange(rows.size)
        m = len(sources)
        blocks = np.zeros((rows.size, 2 * m))
        blocks[:, 0::2] = k + 1.0
        for j, (r, c, rank, relative) in enumerate(found):
            at = slot[r, c]
            blocks[at, 2 * j] = rank
            blocks[at, 2 * j + 1] = relative
        best = np.argmin(blocks[:, 0::2], axis=1) if rows.size else np.zeros(0, dtype=np.int64)
        none = np.zeros(0, dtype=np.int64)
        histories = [none if (h := self.customers.history(user)) is None else h for user in users]
        n_seen = np.array([h.size for h in histories], dtype=np.float64)
        idle = np.array([self.customers.idle_days(user) for user in users], dtype=np.float64)
        user_part = np.column_stack([np.log1p(n_seen)[rows], idle[rows]])
        parts = [blocks, self.item_facts[cols], user_part, self._affinity(histories, rows, cols)]
        if self.repurchase is not None:
            who = np.asarray(users, dtype=object)[rows].tolist()
            parts.append(self.repurchase.features(who, self.items[cols].tolist(), now))
        features = np.hstack(parts)
        offsets = np.searchsorted(rows, np.arange(n_users + 1))
        return _Block(offsets, cols.astype(np.int64), features, best.astype(np.int64))

    def popular_in(self, context: Context, weight: float) -> tuple[FloatArray, Explain]:
        """New visitors: the items most customers chose, re-weighted by the context's lifts."""
        lift, why = self.context.lift_codes(self.item_code, self.group_code, context)
        popular = self.item_facts[:, 0] * lift**weight
        trend = self.item_facts[:, 1]
        trending = Reason("trending", "요즘 뜨는 상품", "trending now")

        def explain(index: int) -> Reason:
            return why[index] or (trending if trend[index] >= 2 else _FALLBACK)

        return np.where(popular > 0, popular, -np.inf), explain

    def _sources(self, user: str, context: Context) -> list[tuple[FloatArray, Explain]]:
        """Each component's scores over this state's items (and its reason by state index), then
        the popularity of each item in the context (region, weather, hour)."""
        sources: list[tuple[FloatArray, Explain]] = []
        for j, (_, model, mapping) in enumerate(self.components):
            raw, explain = model._scores(user, context)
            full = np.full(self.items.size, -np.inf)
            full[mapping] = raw
            back = self.inverse[j]
            sources.append((full, _remapped(explain, back)))
        lift, why = self.context.lift_codes(self.item_code, self.group_code, context)
        popular = self.item_facts[:, 0] * lift
        sources.append((np.where(popular > 0, popular, -np.inf), lambda index: why[index] or _FALLBACK))
        return sources

    def _affinity(self, histories: list[npt.NDArray[np.int64]], rows: IntArray, cols: IntArray) -> FloatArray:
        """Each candidate's category and brand share among what its customer chose, and its log
        price against the median of theirs (NaN when unknown)."""
        out = np.full((rows.size, len(AFFINITY_FEATURES)), np.nan)
        lengths = np.array([h.size for h in histories], dtype=np.int64)
        if rows.size == 0 or lengths.sum() == 0:
            return out
        chosen = np.concatenate(histories)
        owner = np.repeat(np.arange(len(histories)), lengths)
        for col, codes in ((0, self.category), (1, self.brand)):
            own = codes[chosen]
            ok = own >= 0
            if not ok.any():
                continue
            counts = np.zeros((len(histories), int(codes.max()) + 1))
            np.add.at(counts, (owner[ok], own[ok]), 1.0)
            totals = counts.sum(axis=1)
            code = codes[cols]
            known = (code >= 0) & (totals[rows] > 0)
            out[known, col] = counts[rows[known], code[known]] / totals[rows[known]]
        prices = self.log_price[chosen]
        median = np.full(len(histories), np.nan)
        ends = np.cumsum(lengths)
        for user, (start, end) in enumerate(zip((ends - lengths).tolist(), ends.tolist(), strict=True)):
            mine = prices[start:end]
            mine = mine[~np.isnan(mine)]
            if mine.size:
                median[user] = np.median(mine)
        out[:, 2] = self.log_price[cols] - median[rows]
        return out

    def component_similar(self, item: str, prefer: Sequence[str]) -> tuple[FloatArray, Explain]:
        """``similar_items`` scores of the first preferred component that knows ``item``."""
        by_name = {name: j for j, (name, _, _) in enumerate(self.components)}
        for name in [*prefer, *by_name]:
            if name not in by_name:
                continue
            _, model, mapping = self.components[by_name[name]]
            back = self.inverse[by_name[name]]
            if item not in model._item_index:
                continue
            raw, explain = model._similar(item)
            if not np.isfinite(raw).any():
                continue
            full = np.full(self.items.size, -np.inf)
            full[mapping] = raw
            return full, lambda index, explain=explain, back=back: explain(int(back[index]))
        return np.full(self.items.size, -np.inf), lambda index: _FALLBACK


def _customers(
    frame: pd.DataFrame, model: Recommender, codes: IntArray, n_items: int
) -> tuple[_Customers, IntArray, tuple[IntArray, IntArray]]:
    """The customers of ``frame`` (each row's position among them, and the distinct
    (customer, item) pairs) with what each chose; their idle days and home regions unknown yet.
    They are the sorted users ``model`` was fitted on (shared, not copied) when those are exactly
    the customers of ``frame``."""
    names, at = model.users_, model._user_index
    user_codes = positions(frame["user"], names)
    owner, chosen = distinct_pairs(user_codes, codes, n_items)
    indptr = np.searchsorted(owner, np.arange(names.size + 1))
    if (user_codes.size and user_codes.min() < 0) or np.any(np.diff(indptr) == 0):
        names = np.asarray(sorted(frame["user"].unique()), dtype=object)
        at = {name: k for k, name in enumerate(names.tolist())}
        user_codes = positions(frame["user"], names)
        owner, chosen = distinct_pairs(user_codes, codes, n_items)
        indptr = np.searchsorted(owner, np.arange(names.size + 1))
    size = names.size
    customers = _Customers(
        names, at, indptr, chosen, np.full(size, np.nan), np.full(size, -1, dtype=np.int64), []
    )
    return customers, user_codes, (owner, chosen)


def _catalogue_codes(
    catalogue: pd.DataFrame | None, index: dict[str, int], size: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray, dict[str, str]]:
    category = np.full(size, -1, dtype=np.int64)
    brand = np.full(size, -1, dtype=np.int64)
    log_price = np.full(size, np.nan)
    category_of: dict[str, str] = {}
    if catalogue is None or "item" not in catalogue.columns:
        return category, brand, log_price, category_of
    rows = catalogue.assign(item=catalogue["item"].astype(str)).drop_duplicates("item")
    rows = rows[rows["item"].isin(index.keys())]
    at = rows["item"].map(index).to_numpy()
    for column, target in (("category", category), ("brand", brand)):
        if column in rows.columns:
            codes, _ = pd.factorize(rows[column].astype("string"), sort=True)
            target[at] = codes  # missing values factorise to -1
    if "category" in rows.columns:
        named = rows.dropna(subset=["category"])
        category_of = dict(zip(named["item"], named["category"].astype(str), strict=True))
    if "price" in rows.columns:
        price = pd.to_numeric(rows["price"], errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_price[at] = np.where(price > 0, np.log(price), np.nan)
    return category, brand, log_price, category_of
