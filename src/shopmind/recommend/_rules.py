"""Association rules "A → B" (Agrawal, Imieliński & Swami 1993) with support, confidence and lift,
mined exactly from baskets.

Frequent itemsets are found by Eclat (Zaki 2000) on vertical bitsets: each item is a bitset over
the baskets (64 baskets per machine word); an itemset's baskets are the AND of its items'
bitsets and its count is the population count. Depth first, all extensions of one prefix are
intersected and counted in one vectorised step, so the work per frequent itemset is a few
machine-word operations per 64 baskets. Then every frequent itemset S of two or more items gives
the rules ``S \\ {b} → b`` whose confidence count(S) / count(S \\ {b}) reaches the minimum.

Definitions as in R's arules (``apriori(parameter = list(supp, conf, maxlen))``): support is the
share of all baskets (empty ones included) that hold the itemset and an itemset is frequent when
its support is at least ``min_support``; ``max_length`` counts the items of the whole rule, lhs
and rhs together; rules have one item on the right-hand side and at least one on the left.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from scipy import sparse
from sklearn.base import BaseEstimator

from shopmind.core import FieldError, InvalidInputError, single_threaded_blas
from shopmind.recommend._errors import NotFittedError

WORD = 64
# machine words intersected at once (512 KB): blocks that stay in the cache and whose buffers
# the allocator reuses (32 MB blocks were twice as slow: fresh pages on every block)
_BLOCK_WORDS = 65_536

RULE_SCHEMA = pa.schema(
    [
        ("lhs", pa.list_(pa.string())),
        ("rhs", pa.string()),
        ("support", pa.float64()),
        ("confidence", pa.float64()),
        ("lift", pa.float64()),
        ("count", pa.int64()),
    ]
)
ITEMSET_SCHEMA = pa.schema(
    [("itemset", pa.list_(pa.string())), ("support", pa.float64()), ("count", pa.int64())]
)


def _encode(
    baskets: Iterable[Iterable[Hashable]],
) -> tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Items as ids in the order of their names (the item's ``str``; sorted ids are then sorted
    names), the (basket, item) pairs, each pair once, and the number of baskets (empty ones too)."""
    flat: list[Hashable] = []
    sizes: list[int] = []
    for n, basket in enumerate(baskets):
        if isinstance(basket, str | bytes):
            raise InvalidInputError(
                [FieldError("baskets", f"basket {n} is a string: give each basket as a collection of items")]
            )
        before = len(flat)
        flat.extend(basket)
        sizes.append(len(flat) - before)
    raw_codes, raw = pd.factorize(np.asarray([*flat, None], dtype=object)[:-1])  # [None]: keep 1-d
    # items are their str: merge values that print alike (1 and "1"), then number them by name
    names, merged = np.unique(np.asarray([str(u) for u in raw], dtype=object), return_inverse=True)
    codes = merged[raw_codes] if raw_codes.size else raw_codes.astype(np.int64)
    width = max(len(names), 1)
    rows = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    pairs = np.sort(rows * width + codes)  # (np.unique hashes: 40x slower here)
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if pairs.size else pairs  # an item twice counts once
    return [str(u) for u in names], pairs // width, pairs % width, len(sizes)


#: The most candidate itemsets one level may have before mining stops with advice (each costs a
#: bitset intersection; beyond this the result would not fit in memory anyway).
MAX_CANDIDATES = 50_000_000
MAX_KEPT_WORDS = 500_000_000  # bitset words kept for the next level (4 GB)
_DENSE_CELLS = 50_000_000


def _too_many(what: str, min_count: int, n: int) -> InvalidInputError:
    return InvalidInputError(
        [
            FieldError(
                "min_support",
                f"{what} at a support of {min_count} of {n:,} baskets: far too many to mine in memory. Raise "
                "min_support, lower max_length, or leave out the largest baskets (e.g. wholesale orders)",
            )
        ]
    )  # float32 cells of the dense basket-by-item matrix (200 MB)


def _count_triples(
    dense: npt.NDArray[np.float32],
    baskets_of: list[npt.NDArray[np.int64]],
    prefix: npt.NDArray[np.int64],
    extend: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    min_count: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For nodes whose prefix is one item p (``prefix[node, 0]``, a column of ``dense``): the
    pairs (i, j), i < j, of the node's extension items (columns, ``extend[starts[node]:...]``)
    with count(p, i, j) >= ``min_count``, as positions in ``extend``, from X_p' X_p where X_p
    holds the baskets with p and the columns of the node's items."""
    lefts, rights, counts = [], [], []
    bounds = np.append(starts, extend.size).tolist()
    for node, p in enumerate(prefix[:, 0].tolist()):
        begin, end = bounds[node], bounds[node + 1]
        if end - begin < 2:
            continue
        sub = dense[np.ix_(baskets_of[p], extend[begin:end])]
        product = sub.T @ sub
        i, j = np.nonzero(np.triu(product >= min_count, 1))
        lefts.append(i + begin)
        rights.append(j + begin)
        counts.append(product[i, j].astype(np.int64))
    if not lefts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(lefts), np.concatenate(rights), np.concatenate(counts)


def _sibling_pairs(
    owner: npt.NDArray[np.int64], starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every pair i < j of extension positions of one node (``owner`` maps a position to its
    node, whose positions are ``starts[node]`` onwards, ``sizes[node]`` of them), by i, then j."""
    positions = np.arange(owner.size, dtype=np.int64)
    partners = starts[owner] + sizes[owner] - positions - 1  # the later positions of the node
    left = np.repeat(positions, partners)
    first = np.cumsum(partners) - partners  # where each position's pairs begin
    right = left + 1 + np.arange(left.size, dtype=np.int64) - np.repeat(first, partners)
    return left, right


def _count_pairs(
    sets: npt.NDArray[np.uint64], left: npt.NDArray[np.int64], right: npt.NDArray[np.int64], min_count: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """The pairs (left, right) of rows of ``sets`` whose intersection holds at least ``min_count``
    baskets: their rows, counts and intersections, in the order given."""
    per_block = max(1, _BLOCK_WORDS // max(sets.shape[1], 1))
    keep_left, keep_right, keep_count, keep_sets = [], [], [], []
    for start in range(0, left.size, per_block):
        a, b = left[start : start + per_block], right[start : start + per_block]
        joined = sets[a]
        np.bitwise_and(joined, sets[b], out=joined)
        count = np.bitwise_count(joined).sum(axis=1, dtype=np.int64)
        ok = count >= min_count
        keep_left.append(a[ok])
        keep_right.append(b[ok])
        keep_count.append(count[ok])
        keep_sets.append(joined[ok])
    return (
        np.concatenate(keep_left),
        np.concatenate(keep_right),
        np.concatenate(keep_count),
        np.concatenate(keep_sets) if keep_sets else sets[:0],
    )


def _eclat(
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    n: int,
    min_count: int,
    max_length: int,
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """The frequent itemsets by length: per length L, (an N x L array of item positions among the
    frequent items, their counts).

    Breadth first: a node is a prefix and the items that extend it frequently, with the bitsets
    of prefix + item (one row per extension). Every pair of extensions of every node of a level
    is intersected and counted together, in blocks, so a level costs a few array operations
    whatever the number of itemsets. Pairs come from the sparse co-occurrence matrix X'X, and
    triples, the widest level, from small dense products per prefix item.
    """
    frequent = np.flatnonzero(counts >= min_count)
    frequent = frequent[np.argsort(counts[frequent], kind="stable")]  # rarest first: small nodes
    position = np.full(counts.size, -1, dtype=np.int64)
    position[frequent] = np.arange(frequent.size)
    keep = position[cols] >= 0
    r, c = rows[keep], position[cols[keep]]
    levels = [(frequent[:, None], counts[frequent].astype(np.int64))]
    if frequent.size < 2:
        return levels
    # the (basket, item) pairs come sorted by basket, each once: the CSR arrays directly
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
    x = sparse.csr_matrix((np.ones(r.size, dtype=np.int64), c, indptr), shape=(n, frequent.size))
    pairs = (x.T @ x).toarray()
    heads, tails = np.nonzero(np.triu(pairs >= min_count, 1))
    levels.append((np.column_stack([frequent[heads], frequent[tails]]), pairs[heads, tails].astype(np.int64)))
    if max_length < 3 or heads.size < 2:
        return levels

    words = (n + WORD - 1) // WORD
    bits = np.zeros((frequent.size, words), dtype=np.uint64)
    np.bitwise_or.at(bits, (c, r // WORD), np.left_shift(np.uint64(1), (r % WORD).astype(np.uint64)))
    dense = None
    baskets_of = []
    if n * frequent.size <= _DENSE_CELLS:
        dense = np.zeros((n, frequent.size), dtype=np.float32)
        dense[r, c] = 1.0
        # each item's baskets, ascending: r is sorted, so a stable sort by item keeps that order
        by_item = r[np.argsort(c, kind="stable")]
        baskets_of = np.split(by_item, np.cumsum(np.bincount(c, minlength=frequent.size))[:-1])

    # the nodes of level 3: each frequent item heads the pairs it starts
    alone = np.arange(frequent.size)
    prefix, owner, starts, extend, sets = _grow(
        np.zeros((frequent.size, 0), dtype=np.int64), alone, alone, heads, tails, bits[heads] & bits[tails]
    )
    for length in range(3, max_length + 1):
        if extend.size < 2:
            break
        sizes = np.diff(np.append(starts, extend.size))
        candidates = int((sizes * (sizes - 1) // 2).sum())
        if candidates > MAX_CANDIDATES:
            raise _too_many(f"{candidates:,} candidate itemsets of {length} items", min_count, n)
        if length == 3 and dense is not None:
            left, right, count = _count_triples(dense, baskets_of, prefix, extend, starts, min_count)
            if left.size * words > MAX_KEPT_WORDS:
                raise _too_many(f"{left.size:,} frequent itemsets of {length} items", min_count, n)
            joined = None
        else:
            left, right = _sibling_pairs(owner, starts, sizes)
            if left.size == 0:
                break
            left, right, count, joined = _count_pairs(sets, left, right, min_count)
            if joined.size > MAX_KEPT_WORDS:
                raise _too_many(f"{left.size:,} frequent itemsets of {length} items", min_count, n)
        if left.size == 0:
            break
        found = np.column_stack([prefix[owner[left]], extend[left], extend[right]])
        levels.append((frequent[found], count))
        if length == max_length:
            break
        if joined is None:  # the dense path counted without intersecting: intersect the hits
            joined = sets[left]
            np.bitwise_and(joined, sets[right], out=joined)
        prefix, owner, starts, extend, sets = _grow(prefix, owner, extend, left, right, joined)
    return levels


def _grow(
    prefix: npt.NDArray[np.int64],
    owner: npt.NDArray[np.int64],
    extend: npt.NDArray[np.int64],
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    joined: npt.NDArray[np.uint64],
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.uint64],
]:
    """The next level's nodes from this level's frequent pairs (``left`` < ``right``, positions
    in ``extend``, sorted by ``left``): each ``left`` with two or more partners becomes a node
    whose prefix is its node's prefix plus its item, extended by its partners."""
    first = np.r_[True, left[1:] != left[:-1]]
    group = np.cumsum(first) - 1
    size = np.bincount(group)
    kept = size[group] >= 2
    heads = left[first][size >= 2]
    sizes = size[size >= 2]
    return (
        np.column_stack([prefix[owner[heads]], extend[heads]]),
        np.repeat(np.arange(heads.size), sizes),
        np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
        extend[right[kept]],
        joined[kept],
    )


def _id_bits(n_items: int) -> int:
    return max(1, (n_items - 1).bit_length())


def _keys(ordered: npt.NDArray[np.int32], bits: int) -> npt.NDArray[Any]:
    """One key per itemset row (items ascending) to sort and look up: the ids packed into an
    int64 when they fit, ``bits`` each (searching those is 10x faster than searching bytes),
    else the row's bytes."""
    if bits * ordered.shape[1] <= 63:
        key = np.zeros(len(ordered), dtype=np.int64)
        for k in range(ordered.shape[1]):
            key = (key << bits) | ordered[:, k]
        return key
    return np.ascontiguousarray(ordered).view(np.dtype((np.void, 4 * ordered.shape[1]))).ravel()


def _canonical(rows: npt.NDArray[np.int64], bits: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[Any]]:
    """Itemsets with their items in ascending id order (= name order), and a key per row."""
    ordered = np.ascontiguousarray(np.sort(rows, axis=1).astype(np.int32))
    return ordered, _keys(ordered, bits)


def _rules(
    levels: list[tuple[tuple[npt.NDArray[np.int32], npt.NDArray[Any]], npt.NDArray[np.int64]]],
    names: list[str],
    n: int,
    min_confidence: float,
) -> pa.Table:
    """Every rule S \\ {b} -> b of the frequent itemsets S (two items or more) whose confidence
    reaches the minimum; the count of S \\ {b} is looked up among the itemsets one shorter (it
    is frequent, as a subset of a frequent itemset)."""
    singles = np.zeros(len(names), dtype=np.float64)
    (ones, _), one_counts = levels[0]
    singles[ones[:, 0]] = one_counts
    width = max(1, len(levels) - 1)
    bits = _id_bits(len(names))
    parts = []
    for size in range(2, len(levels) + 1):
        (rows, _), count = levels[size - 1]
        (_, shorter_keys), shorter_count = levels[size - 2]
        order = np.argsort(shorter_keys)
        sorted_keys = shorter_keys[order]
        for j in range(size):
            lhs = np.ascontiguousarray(np.delete(rows, j, axis=1))
            keys = _keys(lhs, bits)
            conf = count / shorter_count[order[np.searchsorted(sorted_keys, keys)]]
            ok = conf >= min_confidence
            padded = np.full((int(ok.sum()), width), -1, dtype=np.int32)
            padded[:, : size - 1] = lhs[ok]
            parts.append((padded, rows[ok, j], count[ok], conf[ok]))
    if parts:
        lhs = np.concatenate([p[0] for p in parts])
        rhs = np.concatenate([p[1] for p in parts]).astype(np.int64)
        both = np.concatenate([p[2] for p in parts]).astype(np.int64)
        confidence = np.concatenate([p[3] for p in parts])
    else:
        lhs, rhs = np.zeros((0, width), np.int32), np.zeros(0, np.int64)
        both, confidence = np.zeros(0, np.int64), np.zeros(0, np.float64)
    support = both / n
    lift = confidence / (singles[rhs] / n)
    # largest lift, confidence, support first; ties by lhs (ids follow the names; -1 pads a
    # shorter lhs, which sorts first) and then rhs
    columns = [rhs, *[lhs[:, k] for k in range(width - 1, -1, -1)], -support, -confidence, -lift]
    keys = np.vstack([np.asarray(c, dtype=np.float64) for c in columns])
    order = np.lexsort(keys) if rhs.size else np.zeros(0, dtype=np.int64)
    # the lists of names by arrow's take on the names (a Python list per rule: 5 ms of 50 on Groceries)
    lhs = lhs[order]
    present = lhs >= 0  # -1 pads the end of a shorter lhs
    offsets = np.zeros(lhs.shape[0] + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    labels = pa.array(names, type=pa.string())
    return pa.table(
        {
            "lhs": pa.ListArray.from_arrays(pa.array(offsets), labels.take(pa.array(lhs[present]))),
            "rhs": labels.take(pa.array(rhs[order])),
            "support": support[order],
            "confidence": confidence[order],
            "lift": lift[order],
            "count": both[order],
        },
        schema=RULE_SCHEMA,
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector: mining creates many small acyclic objects (names, tuples,
    lists), and collections triggered by their allocation would rescan the caller's baskets
    again and again (2-3x the mining time on Groceries)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class AssociationRules(BaseEstimator):
    """Exact association-rule mining (see the module for the algorithm and definitions).

    Args:
        min_support: the smallest share of baskets an itemset must appear in (0 < s <= 1).
        min_confidence: the smallest P(rhs | lhs) of a rule (0 <= c <= 1).
        max_length: the most items in a rule, both sides together (>= 2).

    Fitted state:
        rules_: a ``pyarrow.Table`` (``rules_.to_pandas()`` for pandas) with ``lhs`` (the
            left-hand items, sorted), ``rhs``, ``support``, ``confidence``, ``lift`` and
            ``count`` (baskets holding lhs and rhs), by lift, then confidence, then support
            (largest first), then lhs and rhs.
        frequent_itemsets_: ``itemset`` (sorted), ``support``, ``count``, of every length.
        n_baskets_: the number of baskets; ``item_counts_``: baskets per item (dict).
    """

    def __init__(self, min_support: float = 0.01, min_confidence: float = 0.5, max_length: int = 10) -> None:
        self.min_support = min_support
        self.min_confidence = min_confidence
        self.max_length = max_length

    def _check_params(self) -> None:
        errors = []
        if not (isinstance(self.min_support, int | float) and 0 < self.min_support <= 1):
            errors.append(FieldError("min_support", "must be a share of baskets in (0, 1], e.g. 0.001"))
        if not (isinstance(self.min_confidence, int | float) and 0 <= self.min_confidence <= 1):
            errors.append(FieldError("min_confidence", "must be a probability in [0, 1], e.g. 0.5"))
        if not (isinstance(self.max_length, int) and self.max_length >= 2):
            errors.append(
                FieldError("max_length", "must be a whole number >= 2 (items in a rule, both sides)")
            )
        if errors:
            raise InvalidInputError(errors)

    def fit(self, baskets: Iterable[Iterable[Hashable]]) -> Self:
        """Mine the frequent itemsets and rules of ``baskets`` (an iterable of item collections;
        items are compared by their ``str``; an item twice in a basket counts once)."""
        self._check_params()
        # one BLAS thread: the per-item products of the triple counting are small, and a thread
        # pool is no faster for them on an idle machine and much slower on a busy one
        with _gc_paused(), single_threaded_blas():
            return self._fit(baskets)

    def _fit(self, baskets: Iterable[Iterable[Hashable]]) -> Self:
        names, rows, cols, n = _encode(baskets)
        self.n_baskets_ = n
        if n == 0:
            raise InvalidInputError([FieldError("baskets", "no baskets: nothing to mine")])
        min_count = max(1, math.ceil(self.min_support * n - 1e-9))
        counts = np.bincount(cols, minlength=len(names))
        self.item_counts_ = {names[i]: int(c) for i, c in enumerate(counts)}
        levels = [
            (_canonical(rows_, _id_bits(len(names))), count)
            for rows_, count in _eclat(rows, cols, counts, n, min_count, self.max_length)
        ]
        self._levels = (levels, names)
        self.__dict__.pop("_itemset_table", None)
        self.rules_ = _rules(levels, names, n, self.min_confidence)
        return self

    @property
    def frequent_itemsets_(self) -> pa.Table:
        """The frequent itemsets (built on first use: rule mining does not need the table)."""
        self._check_fitted()
        if "_itemset_table" not in self.__dict__:
            levels, names = self._levels
            itemsets: list[list[str]] = []
            counts: list[npt.NDArray[np.int64]] = []
            for (rows_, _), count in levels:
                itemsets.extend([names[i] for i in row] for row in rows_.tolist())
                counts.append(count)
            every = np.concatenate(counts) if counts else np.zeros(0, np.int64)
            self._itemset_table = pa.table(
                {"itemset": itemsets, "support": every / self.n_baskets_, "count": every},
                schema=ITEMSET_SCHEMA,
            )
        return self._itemset_table

    def _check_fitted(self) -> None:
        if not hasattr(self, "rules_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit(baskets) first.")

    def consequents(self, basket: Iterable[Hashable], n: int = 10) -> list[tuple[str, float, list[str]]]:
        """Items the rules predict for ``basket`` (rules whose lhs it holds, rhs not in it): up to
        ``n`` ``(item, confidence, lhs)``, the most confident rule per item, best first."""
        self._check_fitted()
        have = {str(i) for i in basket}
        best: dict[str, tuple[float, list[str]]] = {}
        table = self.rules_
        for left, right, conf in zip(
            table.column("lhs").to_pylist(),
            table.column("rhs").to_pylist(),
            table.column("confidence").to_pylist(),
            strict=True,
        ):
            if right not in have and set(left) <= have and conf > best.get(right, (-1.0, []))[0]:
                best[right] = (conf, left)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:n]
        return [(item, conf, left) for item, (conf, left) in ranked]
