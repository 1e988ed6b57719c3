"""The one base every recommender shares: what it is fitted on, what it answers, and the rules that
hold for all of them (excluded, already-bought, out-of-stock and non-product items never come out;
unknown users and items get an answer, not an error).

Interactions are a table with one row per (user, item) event: ``user``, ``item`` and optionally
``weight`` (default 1: a purchase line, a view...), ``time`` and ``region``. The catalogue,
optional, has ``item`` and any of ``category``, ``brand``, ``price``, ``in_stock`` (bool),
``is_product`` (bool: False for postage, gift wrap, fees) and ``listed_region`` (the one region
where the item is offered, like a used car listed in 부산; empty: everywhere). A region-bound item
is only offered to a request in its region (for known customers without one, their usual region).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator

from shopmind.core import FieldError, InvalidInputError
from shopmind.recommend._errors import NotFittedError
from shopmind.recommend._state import ModelState, object_array


@dataclass(frozen=True)
class Reason:
    """Why an item is recommended, in Korean and English (``kind`` for code: ``bought_together``,
    ``similar``, ``popular``, ``popular_in_region``, ``trending``, ``popular_in_category``)."""

    kind: str
    ko: str
    en: str


@dataclass(frozen=True)
class Recommendation:
    item: str
    score: float
    reason: Reason


@dataclass(frozen=True)
class Context:
    """What is known at the moment of recommending: items to leave out, the visitor's region, the
    items of the current session or cart, the time and, when the caller knows it, the weather
    (otherwise looked up for the region and day in the weather table given at fit, if any)."""

    exclude: frozenset[str] = frozenset()
    region: str | None = None
    session: tuple[str, ...] = ()
    now: datetime | None = None
    temp_c: float | None = None
    precip_mm: float | None = None


def request_context(
    now: datetime,
    *,
    region: str | None = None,
    session: Iterable[str] = (),
    temp_c: float | None = None,
    precip_mm: float | None = None,
) -> Context:
    """The context of one live request, as the server builds it for ``/v1/recommendations`` and
    the command line for ``shopmind recommend for`` (one rule, so both answer alike): the
    session's items (the cart, the product on screen) feed the complements and are not offered
    again; with a region and no weather given, the region's weather on the day of ``now`` (from
    the weather table learned at fit) and the hour of ``now`` count too."""
    items = tuple(dict.fromkeys(session))
    return Context(
        exclude=frozenset(items),
        region=region,
        session=items,
        now=now if region and temp_c is None and precip_mm is None else None,
        temp_c=temp_c,
        precip_mm=precip_mm,
    )


def check_interactions(interactions: pd.DataFrame) -> pd.DataFrame:
    """The interactions with ``user`` and ``item`` as text and ``weight`` as float; raises
    InvalidInputError naming a missing column or a bad weight."""
    if not isinstance(interactions, pd.DataFrame):
        raise InvalidInputError(
            [FieldError("interactions", "must be a pandas DataFrame with user and item columns")]
        )
    missing = [c for c in ("user", "item") if c not in interactions.columns]
    if missing:
        raise InvalidInputError([FieldError(c, "column is missing from the interactions") for c in missing])
    frame = interactions.dropna(subset=["user", "item"]).copy()
    frame["user"] = frame["user"].astype(str)
    frame["item"] = frame["item"].astype(str)
    weight = frame["weight"] if "weight" in frame.columns else pd.Series(1.0, index=frame.index)
    frame["weight"] = pd.to_numeric(weight, errors="coerce")
    if frame["weight"].isna().any() or (frame["weight"] < 0).any():
        raise InvalidInputError([FieldError("weight", "must be a number >= 0 on every row")])
    if frame.empty:
        raise InvalidInputError([FieldError("interactions", "no rows with both a user and an item")])
    return frame


@dataclass(frozen=True)
class Vocabulary:
    """The sorted users and items of checked interactions and their positions: what every
    recommender fitted on them starts from. Read-only: models fitted together share one."""

    users: npt.NDArray[Any]
    items: npt.NDArray[Any]
    user_index: dict[str, int]  # not to be changed: shared
    item_index: dict[str, int]
    #: the distinct (user, item) positions of the interactions, once a model has computed them
    chosen: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = field(
        default_factory=list, compare=False, repr=False
    )

    def seen_pairs(self, frame: pd.DataFrame) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """What each user of ``frame`` (the checked interactions of this vocabulary) chose, as
        distinct (user, item) positions sorted by user then item: computed once, then shared
        (read-only) by the models fitted together (each held its own: 150 MB at 10 million
        purchase lines)."""
        if not self.chosen:
            pairs = distinct_pairs(
                positions(frame["user"], self.users), positions(frame["item"], self.items), self.items.size
            )
            for array in pairs:
                array.flags.writeable = False
            self.chosen.append(pairs)
        return self.chosen[0]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Vocabulary:
        """The vocabulary of ``frame`` (interactions as :func:`check_interactions` returns them)."""
        items = np.asarray(sorted(frame["item"].unique()), dtype=object)
        users = np.asarray(sorted(frame["user"].unique()), dtype=object)
        return cls(
            users,
            items,
            {user: i for i, user in enumerate(users.tolist())},
            {item: i for i, item in enumerate(items.tolist())},
        )


#: (interactions, their vocabulary) while :func:`shared_vocabulary` is active in this thread
_SHARED_VOCABULARY: ContextVar[tuple[pd.DataFrame, Vocabulary] | None] = ContextVar(
    "shopmind_shared_vocabulary", default=None
)


@contextmanager
def shared_vocabulary(interactions: pd.DataFrame, vocabulary: Vocabulary | None = None) -> Iterator[None]:
    """Within it, in this thread, every recommender fitted on ``interactions`` (checked, the same
    object) shares one :class:`Vocabulary` of its users and items instead of building its own: a
    hybrid fits a dozen models on one frame, and a copy per model of millions of customer ids
    and their positions cost gigabytes. ``vocabulary``: the one of ``interactions`` already
    built (the hybrid's own), instead of a new one."""
    shared = vocabulary if vocabulary is not None else Vocabulary.of(check_interactions(interactions))
    token = _SHARED_VOCABULARY.set((interactions, shared))
    try:
        yield
    finally:
        _SHARED_VOCABULARY.reset(token)


class Recommender(BaseEstimator):
    """The contract of every algorithm: ``fit(interactions, catalogue=None)`` returns the model;
    ``recommend(user, context, n)`` and ``similar_items(item, n)`` return up to ``n``
    :class:`Recommendation`, best first, each with its reason.

    Shared hyper-parameter: ``exclude_seen`` (default True): leave out what the user already
    interacted with (set False for consumables bought again and again).
    """

    exclude_seen: bool

    def fit(self, interactions: pd.DataFrame, catalogue: pd.DataFrame | None = None) -> Self:
        frame = check_interactions(interactions)
        shared = _SHARED_VOCABULARY.get()
        vocabulary = shared[1] if shared is not None and shared[0] is interactions else Vocabulary.of(frame)
        self.items_, self.users_ = vocabulary.items, vocabulary.users
        self._item_index, self._user_index = vocabulary.item_index, vocabulary.user_index
        self._blocked = _blocked(catalogue)
        self._fit(frame, catalogue)
        # what each user chose and what is never offered, as indices of the fitted items (some
        # algorithms widen ``items_`` in ``_fit``, e.g. to catalogue items without sales)
        if self.items_ is vocabulary.items and self.users_ is vocabulary.users:
            self._seen_pairs = vocabulary.seen_pairs(frame)
        else:
            users = positions(frame["user"], self.users_)
            codes = positions(frame["item"], self.items_)
            self._seen_pairs = distinct_pairs(users, codes, self.items_.size)
        self.__dict__.pop("_seen_map", None)
        self._blocked_codes = self._codes(self._blocked)
        bound = _listed_regions(catalogue)
        known = [item for item in bound if item in self._item_index]
        self._bound_codes = self._codes(known)
        self._bound_regions = np.asarray([bound[item] for item in known], dtype=object)
        return self

    def _chosen_by(self, user: str) -> npt.NDArray[np.int64] | None:
        """What ``user`` chose (sorted item indices); None for a customer not known."""
        k = self._user_index.get(user)
        if k is None:
            return None
        owner, chosen = self._seen_pairs
        start, end = np.searchsorted(owner, (k, k + 1))
        return chosen[start:end]

    @property
    def _seen(self) -> dict[str, npt.NDArray[np.int64]]:
        """What each user chose, as sorted indices of the fitted items (built on first use: a
        hybrid fits a dozen components whose own lists it never reads)."""
        seen: dict[str, npt.NDArray[np.int64]] | None = self.__dict__.get("_seen_map")
        if seen is None:
            owner, chosen = self._seen_pairs
            starts = np.flatnonzero(np.diff(owner, prepend=-1))
            ends = np.append(starts[1:], owner.size)
            names = self.users_[owner[starts]].tolist()
            seen = {
                str(name): chosen[a:b]
                for name, a, b in zip(names, starts.tolist(), ends.tolist(), strict=True)
            }
            self.__dict__["_seen_map"] = seen
        return seen

    def _codes(self, items: Iterable[str]) -> npt.NDArray[np.int64]:
        """The indices of the known ``items`` (unknown ones left out)."""
        index = self._item_index
        return np.asarray([index[i] for i in items if i in index], dtype=np.int64)

    @abstractmethod
    def _fit(self, frame: pd.DataFrame, catalogue: pd.DataFrame | None) -> None: ...

    # -- the learned state as plain arrays (see ``shopmind.recommend.save_recommender``) ---------

    def save_state(self, state: ModelState) -> None:
        """Write what ``fit`` learned into ``state``: what every recommender knows (its items,
        users, what each user chose, what is never offered), then the algorithm's own arrays."""
        self._check_fitted()
        state.put_strings("items", self.items_)
        state.put_strings("users", self.users_)
        owner, chosen = self._seen_pairs
        starts = np.flatnonzero(np.diff(owner, prepend=-1))
        keys = self.users_ if starts.size == self.users_.size else self.users_[owner[starts]]
        state.put_ragged_arrays("seen", keys, np.append(starts, owner.size), chosen)
        state.put_strings("blocked", sorted(self._blocked))
        state.put("bound_codes", self._bound_codes)
        state.put_strings("bound_regions", self._bound_regions.tolist())
        self._save_fitted(state)

    @classmethod
    def from_state(cls, params: dict[str, Any], state: ModelState) -> Self:
        """The fitted model ``save_state`` wrote, with the hyper-parameters ``params``, answering
        as it did (nothing is fitted again)."""
        model = cls(**params)
        # one list and index of the customers for a model and all its parts (stored once)
        model.items_, model._item_index = state.text_index("items")
        model.users_, model._user_index = state.text_index("users")
        model._seen_pairs = _stored_pairs(state, model._user_index)
        model._blocked = frozenset(state.strings("blocked"))
        model._blocked_codes = model._codes(model._blocked)
        model._bound_codes = state.get("bound_codes").astype(np.int64)
        model._bound_regions = object_array(state.strings("bound_regions"))
        model._load_fitted(state)
        return model

    def _save_fitted(self, state: ModelState) -> None:
        """The algorithm's learned arrays (beyond the base's), into ``state``."""
        raise NotImplementedError(f"{type(self).__name__} cannot be stored")

    def _load_fitted(self, state: ModelState) -> None:
        """Set the algorithm's learned attributes from ``state`` (the base's are set)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be stored")

    @abstractmethod
    def _scores(self, user: str, context: Context) -> tuple[npt.NDArray[np.float64], Explain]:
        """A score per item of ``items_`` (-inf: not a candidate) and the reason of an item (by
        index; asked only for the items returned)."""

    def _score_users(self, users: Sequence[str], contexts: Sequence[Context]) -> npt.NDArray[np.float64]:
        """The scores ``_scores`` gives each of ``users`` in its context, one row each (the hybrid
        scores its training customers and its index in blocks; algorithms override this where
        one matrix product does the work of many requests)."""
        if not users:
            return np.zeros((0, self.items_.size))
        return np.vstack(
            [self._scores(user, context)[0] for user, context in zip(users, contexts, strict=True)]
        )

    def _explainer(self, user: str, context: Context) -> Explain:
        """The reasons ``_scores`` gives ``user`` in ``context``, without the scores (algorithms
        override it where that is cheaper than scoring)."""
        return self._scores(user, context)[1]

    def _similar(self, item: str) -> tuple[npt.NDArray[np.float64], Explain]:
        """A score per item of ``items_`` for items like ``item`` (known); default: none."""
        return np.full(self.items_.size, -np.inf), lambda index: _NO_REASON

    def _check_fitted(self) -> None:
        if not hasattr(self, "items_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(interactions) first."
            )

    def recommend(self, user: Hashable, context: Context | None = None, n: int = 10) -> list[Recommendation]:
        """Up to ``n`` items for ``user`` (unknown users get the algorithm's cold-start answer)."""
        self._check_fitted()
        _check_n(n)
        context = context or Context()
        key = str(user)
        scores, reasons = self._scores(key, context)
        return self._top(scores, reasons, self._banned(key, context), n)

    def _banned(self, user: str, context: Context) -> npt.NDArray[np.int64]:
        """The indices never offered to ``user`` now: blocked, excluded and (by default) chosen."""
        banned = [self._blocked_codes, self._codes(context.exclude)]
        chosen = self._chosen_by(user) if getattr(self, "exclude_seen", True) else None
        if chosen is not None:
            banned.append(chosen)
        if self._bound_codes.size:  # listed in one region only: not offered elsewhere
            banned.append(self._bound_codes[self._bound_regions != context.region])
        return np.concatenate(banned)

    def similar_items(self, item: Hashable, n: int = 10) -> list[Recommendation]:
        """Up to ``n`` items like ``item`` (an unknown item gets an empty list)."""
        self._check_fitted()
        _check_n(n)
        key = str(item)
        if key not in self._item_index:
            return []
        scores, reasons = self._similar(key)
        banned = np.append(self._blocked_codes, self._item_index[key])
        return self._top(scores, reasons, banned, n)

    def _top(
        self,
        scores: npt.NDArray[np.float64],
        reasons: Explain,
        banned: npt.NDArray[np.int64],
        n: int,
    ) -> list[Recommendation]:
        """The ``n`` best items by ``scores`` (never the ``banned`` indices), each with its reason."""
        scores = scores.astype(np.float64, copy=True)
        scores[banned] = -np.inf
        candidates = np.flatnonzero(np.isfinite(scores))
        if candidates.size > 4 * n:  # only the best few need a full, tie-stable sort
            cut = np.partition(-scores[candidates], 4 * n)[4 * n]
            candidates = candidates[-scores[candidates] <= cut]
        # best first; ties by item id (ids are sorted, so by index), so answers are reproducible
        order = candidates[np.lexsort((candidates, -scores[candidates]))][:n]
        return [Recommendation(str(self.items_[i]), float(scores[i]), reasons(int(i))) for i in order]


_NO_REASON = Reason("none", "", "")
Explain = Callable[[int], Reason]


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise InvalidInputError([FieldError("n", "must be a whole number >= 1")])


def positions(values: pd.Series, items: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """The index of each of ``values`` in the sorted ``items`` (-1 when absent): the codes of a
    column over a fitted model's users or items (a dictionary ``map`` of a text column costs
    seconds on a few hundred thousand rows)."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow" and items.size:
        # Arrow's hash lookup on the column as stored: turning a few hundred thousand strings
        # into Python objects first cost ~50 ms a call, and a hybrid fit makes dozens of calls
        column = pa.array(values.array)
        # every item text (pandas' C scan; a Python loop over the items cost ~0.2 s a fit)
        if pd.api.types.infer_dtype(items, skipna=False) == "string":
            found = pc.index_in(column, value_set=pa.array(items.tolist(), type=column.type))
            return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.asarray(pd.Index(items).get_indexer(values.to_numpy(dtype=object)), dtype=np.int64)


def _stored_pairs(
    state: ModelState, user_index: Mapping[str, int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """What each customer chose as ``save_state`` stored it (``seen``, ragged by customer), as
    the fitted (customer, item) position pairs, sorted by customer then item."""
    indptr = state.get("seen.indptr").astype(np.int64)
    chosen = state.get("seen.values").astype(np.int64)
    lengths = np.diff(indptr)
    if state.same_text("seen.keys", "users"):  # every customer, in order
        return np.repeat(np.arange(lengths.size, dtype=np.int64), lengths), chosen
    at = np.asarray([user_index[key] for key in state.strings("seen.keys")], dtype=np.int64)
    owner = np.repeat(at, lengths)
    order = np.argsort(owner, kind="stable")
    return owner[order], chosen[order]


def distinct_pairs(
    rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], width: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct (row, col) pairs, by row then col (a sort of the packed keys: quicker than
    ``np.unique``'s hashing on a few hundred thousand rows)."""
    keys = rows * width + cols
    keys.sort()
    keys = keys[np.append(True, keys[1:] != keys[:-1])] if keys.size else keys
    owner, chosen = np.divmod(keys, width)
    return owner, chosen


def display_names(items: Sequence[str], catalogue: pd.DataFrame | None) -> list[str]:
    """How reasons name each of ``items``: its catalogue ``name`` when it has one, else its id."""
    names = list(items)
    if catalogue is None or not {"item", "name"} <= set(catalogue.columns):
        return names
    named = catalogue.dropna(subset=["item", "name"])
    lookup = dict(zip(named["item"].astype(str), named["name"].astype(str).str.strip(), strict=True))
    return [lookup.get(item) or item for item in names]


def _listed_regions(catalogue: pd.DataFrame | None) -> dict[str, str]:
    """The items offered in one region only, with that region."""
    if catalogue is None or not {"item", "listed_region"} <= set(catalogue.columns):
        return {}
    rows = catalogue.dropna(subset=["item", "listed_region"])
    return dict(zip(rows["item"].astype(str), rows["listed_region"].astype(str), strict=True))


def _blocked(catalogue: pd.DataFrame | None) -> frozenset[str]:
    """Items never to recommend: out of stock or not products (per the catalogue)."""
    if catalogue is None or "item" not in catalogue.columns:
        return frozenset()
    bad = pd.Series(False, index=catalogue.index)
    if "in_stock" in catalogue.columns:
        bad |= ~catalogue["in_stock"].fillna(True).astype(bool)
    if "is_product" in catalogue.columns:
        bad |= ~catalogue["is_product"].fillna(True).astype(bool)
    return frozenset(catalogue.loc[bad, "item"].astype(str))


def check_ranges(owner: str, checks: Mapping[str, bool]) -> None:
    """Raise InvalidInputError naming every hyper-parameter whose check failed."""
    bad = [FieldError(name, f"is out of range (see {owner})") for name, ok in checks.items() if not ok]
    if bad:
        raise InvalidInputError(bad)
