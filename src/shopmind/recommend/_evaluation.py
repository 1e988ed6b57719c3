"""Offline evaluation of recommenders on a temporal split: fit on what happened before a date,
recommend, and compare with what each customer chose afterwards.

Definitions (one user's top-K list ``r`` and the set ``T`` of items they chose in the test period,
averaged over the test users):

- ``recall@K`` = |r ∩ T| / min(K, |T|) (Liang et al. 2018, "Variational autoencoders for
  collaborative filtering"): 1 when the list is as good as it can be, however many items the
  customer bought;
- ``ndcg@K``: discounted cumulative gain Σ rel_i / log2(i + 1) over the list, divided by that of
  the best possible list (min(K, |T|) hits on top; Järvelin & Kekäläinen 2002);
- ``map@K``: average precision, Σ precision@i · rel_i / min(K, |T|);
- ``hit_rate@K``: the share of users with at least one hit;
- ``coverage``: the share of the catalogue (the items of the training period) recommended to at
  least one user;
- ``popularity_bias``: the average recommendation popularity (ARP, Abdollahpouri et al. 2019), the
  mean share of training customers who chose a recommended item; ``long_tail``: the share of
  recommended items outside the short head (the most popular items that make up 20% of the
  choices).

By default ``T`` holds only items the customer had not chosen before the split ("new to the
customer"), since recommenders leave out what was already bought: the question is whether the
recommender finds what the customer will want next.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from shopmind.core import FieldError, InvalidInputError
from shopmind.recommend._base import Context, Recommender, check_interactions

METRICS = ("recall", "ndcg", "map", "hit_rate", "coverage", "popularity_bias", "long_tail")


@dataclass(frozen=True)
class TemporalSplit:
    """Training interactions (before ``split_at``) and, for each user active before it, the items
    they chose from ``split_at`` to ``until``."""

    train: pd.DataFrame
    relevant: Mapping[str, frozenset[str]]
    split_at: pd.Timestamp
    until: pd.Timestamp


def temporal_split(
    interactions: pd.DataFrame,
    split_at: datetime | str,
    until: datetime | str | None = None,
    *,
    new_items_only: bool = True,
) -> TemporalSplit:
    """Split ``interactions`` (with a ``time`` column) at ``split_at``; the test users are those with
    an interaction before the split and a relevant one in ``[split_at, until)``."""
    frame = check_interactions(interactions)
    if "time" not in frame.columns:
        raise InvalidInputError([FieldError("time", "column is needed for a temporal split")])
    times = pd.to_datetime(frame["time"], utc=True)
    start = _timestamp(split_at, "split_at")
    end = _timestamp(until, "until") if until is not None else times.max() + pd.Timedelta(microseconds=1)
    if end <= start:
        raise InvalidInputError([FieldError("until", "must be after split_at")])
    train = frame[times < start]
    if train.empty:
        raise InvalidInputError([FieldError("split_at", "no interactions before it: choose a later date")])
    test = frame[(times >= start) & (times < end)]
    test = test[test["user"].isin(set(train["user"]))]
    if new_items_only:
        seen = train[["user", "item"]].drop_duplicates()
        test = test.merge(seen, on=["user", "item"], how="left", indicator=True)
        test = test[test["_merge"] == "left_only"]
    relevant = {str(u): frozenset(items) for u, items in test.groupby("user")["item"]}
    if not relevant:
        raise InvalidInputError(
            [FieldError("until", "no customer active before the split chose anything in the test period")]
        )
    return TemporalSplit(train.reset_index(drop=True), relevant, start, end)


def held_back(
    frame: pd.DataFrame, split_at: pd.Timestamp, *, new_items_only: bool = True
) -> tuple[pd.DataFrame, dict[str, frozenset[str]]]:
    """:func:`temporal_split` of interactions a recommender's ``fit`` already checked (text
    ``user`` and ``item``, a UTC ``time``) until the end of the data: the rows before ``split_at``
    and what each customer known before it chose from then on (new to them with
    ``new_items_only``), possibly none. The same rows and choices, without checking the frame
    again or merging on text (the hybrid splits Online Retail on every fit)."""
    before = (frame["time"] < split_at).to_numpy()
    train = frame[before].reset_index(drop=True)
    if not before.any() or before.all():
        return train, {}
    user_codes, people = pd.factorize(frame["user"])
    item_codes, goods = pd.factorize(frame["item"])
    users = user_codes.astype(np.int64)
    keys = users * len(goods) + item_codes.astype(np.int64)
    known = np.zeros(len(people), dtype=bool)
    known[users[before]] = True
    after = ~before & known[users]
    if new_items_only:
        after &= ~np.isin(keys, keys[before])
    if not after.any():  # nobody known before chose anything (new) after: np.split would give one empty group
        return train, {}
    owner, chosen = np.divmod(np.unique(keys[after]), len(goods))
    starts = np.flatnonzero(np.diff(owner, prepend=-1))
    groups = np.split(chosen, starts[1:])
    labels = np.asarray(goods, dtype=object)
    names = np.asarray(people, dtype=object)[owner[starts]].tolist()
    return train, {str(u): frozenset(labels[g].tolist()) for u, g in zip(names, groups, strict=True)}


def _timestamp(value: datetime | str, field: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError([FieldError(field, f"is not a date or time: {value!r}")]) from exc
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def ranking_metrics(
    recommended: Mapping[str, Sequence[str]],
    relevant: Mapping[str, frozenset[str]],
    k: int,
    popularity: Mapping[str, float],
) -> dict[str, float]:
    """The metrics of the module docstring for the users of ``relevant`` (a user missing from
    ``recommended`` got an empty list). ``popularity``: each catalogue item's share of training
    customers who chose it (its keys are the catalogue for coverage)."""
    if k < 1:
        raise InvalidInputError([FieldError("k", "must be a whole number >= 1")])
    if not relevant:
        raise InvalidInputError([FieldError("relevant", "no test users")])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)
    head = _short_head(popularity)
    recall, ndcg, ap, hits = [], [], [], []
    shown: set[str] = set()
    arp, tail = [], []
    for user, truth in relevant.items():
        top = list(recommended.get(user, ()))[:k]
        shown.update(top)
        rel = np.array([item in truth for item in top], dtype=np.float64)
        best = min(k, len(truth))
        found = rel.sum()
        recall.append(found / best)
        ndcg.append(float(rel @ discounts[: rel.size]) / ideal[best - 1])
        precision_at = np.cumsum(rel) / np.arange(1, rel.size + 1) if rel.size else rel
        ap.append(float(precision_at @ rel) / best)
        hits.append(found > 0)
        if top:
            arp.append(np.mean([popularity.get(item, 0.0) for item in top]))
            tail.append(np.mean([item not in head for item in top]))
    return {
        "recall": float(np.mean(recall)),
        "ndcg": float(np.mean(ndcg)),
        "map": float(np.mean(ap)),
        "hit_rate": float(np.mean(hits)),
        "coverage": len(shown & popularity.keys()) / max(len(popularity), 1),
        "popularity_bias": float(np.mean(arp)) if arp else 0.0,
        "long_tail": float(np.mean(tail)) if tail else 0.0,
    }


def _short_head(popularity: Mapping[str, float]) -> frozenset[str]:
    """The most popular items that together make up 20% of the choices."""
    ranked = sorted(popularity.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(v for _, v in ranked) or 1.0
    head, running = [], 0.0
    for item, value in ranked:
        if running >= 0.2 * total:
            break
        head.append(item)
        running += value
    return frozenset(head)


def evaluate_recommenders(
    recommenders: Mapping[str, Recommender],
    split: TemporalSplit,
    catalogue: pd.DataFrame | None = None,
    *,
    k: int = 10,
    users: Sequence[str] | None = None,
    on_step: Callable[[str], None] | None = None,
    weather: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Fit each recommender on ``split.train``, recommend ``k`` items to every test user (or to
    ``users``) and measure: one row per recommender with the metrics, the fit time in seconds and
    the median and 99th-percentile time of one ``recommend`` call in milliseconds. ``weather`` goes
    to the recommenders whose ``fit`` takes it."""
    popularity = _popularity(split.train)
    test_users = list(users) if users is not None else sorted(split.relevant)
    relevant = {u: split.relevant[u] for u in test_users if u in split.relevant}
    rows = []
    for name, model in recommenders.items():
        if on_step is not None:
            on_step(name)
        fit_seconds = fit_timed(model, split.train, catalogue, weather)
        lists: dict[str, list[str]] = {}
        latencies = np.empty(len(relevant))
        for i, user in enumerate(relevant):
            tick = time.perf_counter()
            got = model.recommend(user, Context(), n=k)
            latencies[i] = time.perf_counter() - tick
            lists[user] = [r.item for r in got]
        metrics = ranking_metrics(lists, relevant, k, popularity)
        rows.append(
            {
                "algorithm": name,
                **metrics,
                "fit_s": fit_seconds,
                "latency_ms_p50": float(np.median(latencies) * 1e3),
                "latency_ms_p99": float(np.quantile(latencies, 0.99) * 1e3),
            }
        )
    table = pd.DataFrame(rows)
    table.attrs.update(k=k, users=len(relevant), split_at=str(split.split_at), until=str(split.until))
    return table


def fit_timed(
    model: Recommender, train: pd.DataFrame, catalogue: pd.DataFrame | None, weather: pd.DataFrame | None
) -> float:
    """Fit ``model`` (with ``weather`` when its ``fit`` takes it); the seconds it took."""
    started = time.perf_counter()
    if weather is not None and "weather" in inspect.signature(model.fit).parameters:
        model.fit(train, catalogue, weather=weather)  # type: ignore[call-arg]
    else:
        model.fit(train, catalogue)
    return time.perf_counter() - started


def _popularity(train: pd.DataFrame) -> dict[str, float]:
    users = train.groupby("item")["user"].nunique()
    total = train["user"].nunique()
    return {str(item): float(n) / total for item, n in users.items()}
