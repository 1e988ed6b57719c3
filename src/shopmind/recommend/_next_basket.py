"""Next-basket evaluation: hold out each customer's last basket and ask what they will buy next,
their repeat purchases included (the protocol of next-basket recommendation, e.g. Hu et al. 2020,
"Modeling personalized item frequency information for next-basket recommendation").

A basket is one order: the rows of one customer with the same ``basket`` value when the
interactions have that column, else the same ``time``; with a ``kind`` column only purchases make
baskets. Customers with at least two baskets are tested; everything else is training data.

Per recommender and K (one user's top-K list ``r`` and their held-out basket ``B``, as a set,
averaged over the tested customers): ``recall@K`` = |r ∩ B| / min(K, |B|), ``ndcg@K`` (Järvelin &
Kekäläinen 2002, the ideal list has min(K, |B|) hits on top), both counting every item of the
basket, those bought before included; ``repeat_share@K``, the share of the recommended items the
customer had bought before; and ``repeat_recall@K`` / ``explore_recall@K``, the recall of the
basket's repeat and new items alone (over the customers whose basket has some).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shopmind.core import FieldError, InvalidInputError
from shopmind.recommend._base import Context, Recommender, check_interactions
from shopmind.recommend._evaluation import fit_timed, ranking_metrics


@dataclass(frozen=True)
class NextBasketSplit:
    """Training interactions (everything but the held-out baskets) and, per tested customer, the
    items of their last basket (``relevant``), the items of it they had bought before
    (``repeats``) and when it was bought (``basket_time``; None without a time column)."""

    train: pd.DataFrame
    relevant: Mapping[str, frozenset[str]]
    repeats: Mapping[str, frozenset[str]]
    basket_time: Mapping[str, pd.Timestamp | None]


def next_basket_split(interactions: pd.DataFrame, *, min_baskets: int = 2) -> NextBasketSplit:
    """Hold out the last basket of each customer with at least ``min_baskets`` baskets (see the
    module docstring); their interactions at or after that basket's time (views too) leave the
    training data with it."""
    if not isinstance(min_baskets, int) or min_baskets < 2:
        raise InvalidInputError([FieldError("min_baskets", "must be a whole number >= 2")])
    frame = check_interactions(interactions).reset_index(drop=True)
    if "basket" not in frame.columns and "time" not in frame.columns:
        raise InvalidInputError(
            [FieldError("time", "a time or basket column is needed to tell one basket from the next")]
        )
    timed = "time" in frame.columns
    if timed:
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
    purchase = frame["kind"] == "purchase" if "kind" in frame.columns else pd.Series(True, index=frame.index)
    bought = frame[purchase]
    key = "basket" if "basket" in bought.columns else "time"
    # each basket's moment (its first row's time) orders the baskets; the key breaks ties
    moment = bought["time"] if timed else pd.Series(0, index=bought.index)
    baskets = (
        bought.assign(_at=moment)
        .groupby(["user", key], sort=True, observed=True)["_at"]
        .min()
        .rename("at")
        .reset_index()
        .sort_values(["user", "at", key], kind="stable")
    )
    counts = baskets.groupby("user", sort=False).size()
    tested = counts.index[counts >= min_baskets]
    last = baskets[baskets["user"].isin(tested)].groupby("user", sort=False).tail(1)
    if last.empty:
        raise InvalidInputError(
            [FieldError("interactions", f"no customer has {min_baskets} baskets: nothing to hold out")]
        )
    held = bought.merge(last[["user", key]], on=["user", key], how="inner")
    if timed:  # the last basket and whatever the customer did from then on
        start = frame["user"].map(dict(zip(last["user"], last["at"], strict=True)))
        train = frame[~(start.notna() & (frame["time"] >= start))]
    else:
        out = bought.reset_index().merge(last[["user", key]], on=["user", key], how="inner")["index"]
        train = frame[~frame.index.isin(out)]
    train = train.reset_index(drop=True)
    had = _bought(train)
    relevant = {str(u): frozenset(items) for u, items in held.groupby("user")["item"]}
    repeats = {u: items & had.get(u, frozenset()) for u, items in relevant.items()}
    moments = dict(zip(last["user"].astype(str), last["at"], strict=True)) if timed else {}
    return NextBasketSplit(train, relevant, repeats, {u: moments.get(u) for u in relevant})


def evaluate_next_basket(
    recommenders: Mapping[str, Recommender],
    interactions: pd.DataFrame | NextBasketSplit,
    k: Sequence[int] = (10, 20),
    *,
    catalogue: pd.DataFrame | None = None,
    max_users: int | None = None,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
    on_user: Callable[[int, int], None] | None = None,
    weather: pd.DataFrame | None = None,
    at_basket_time: bool = True,
) -> pd.DataFrame:
    """Fit each recommender on the training part of :func:`next_basket_split` (or the split
    given), recommend max(``k``) items to every tested customer (``max_users``: a seeded sample)
    and measure (see the module docstring). One row per recommender: ``algorithm``, per K the
    metrics, ``fit_s``. ``on_step(name)`` is called before each fit and ``on_user(done, total)``
    after each customer's list (progress). ``at_basket_time``: each list is asked at the moment of
    the held-out basket (``Context(now=...)``, as a live request when the customer comes back: the
    days since their last purchase are known); False: asked without a time."""
    ks = sorted({int(x) for x in k})
    if not ks or ks[0] < 1:
        raise InvalidInputError([FieldError("k", "must be whole numbers >= 1")])
    split = interactions if isinstance(interactions, NextBasketSplit) else next_basket_split(interactions)
    users = sorted(split.relevant)
    if max_users is not None:
        if not isinstance(max_users, int) or max_users < 1:
            raise InvalidInputError([FieldError("max_users", "must be a whole number >= 1")])
        if len(users) > max_users:
            picked = np.random.default_rng(seed).choice(len(users), size=max_users, replace=False)
            users = [users[i] for i in sorted(picked.tolist())]
    relevant = {u: split.relevant[u] for u in users}
    popularity = _popularity(split.train)
    had = _bought(split.train)
    rows = []
    for name, model in recommenders.items():
        if on_step is not None:
            on_step(name)
        fit_seconds = fit_timed(model, split.train, catalogue, weather)
        lists: dict[str, list[str]] = {}
        for done, user in enumerate(users, start=1):
            moment = split.basket_time.get(user) if at_basket_time else None
            context = Context(now=moment.to_pydatetime()) if moment is not None else Context()
            lists[user] = [r.item for r in model.recommend(user, context, n=ks[-1])]
            if on_user is not None:
                on_user(done, len(users))
        row: dict[str, float | str] = {"algorithm": name}
        for cut in ks:
            metrics = ranking_metrics(lists, relevant, cut, popularity)
            row[f"recall@{cut}"] = metrics["recall"]
            row[f"ndcg@{cut}"] = metrics["ndcg"]
            shown = [(u, item) for u in users for item in lists[u][:cut]]
            row[f"repeat_share@{cut}"] = (
                float(np.mean([item in had.get(u, ()) for u, item in shown])) if shown else 0.0
            )
            for part, wanted in (("repeat", split.repeats), ("explore", None)):
                truth = {
                    u: (split.repeats[u] if wanted is not None else relevant[u] - split.repeats[u])
                    for u in users
                }
                truth = {u: items for u, items in truth.items() if items}
                row[f"{part}_recall@{cut}"] = (
                    ranking_metrics(lists, truth, cut, popularity)["recall"] if truth else float("nan")
                )
        row["fit_s"] = fit_seconds
        rows.append(row)
    table = pd.DataFrame(rows)
    repeat_items = sum(len(split.repeats[u]) for u in users)
    basket_items = sum(len(relevant[u]) for u in users)
    table.attrs.update(
        k=ks,
        users=len(users),
        repeat_share_of_baskets=repeat_items / basket_items if basket_items else 0.0,
    )
    return table


def _bought(train: pd.DataFrame) -> dict[str, frozenset[str]]:
    """What each customer bought in ``train`` (purchases only when there is a ``kind``)."""
    before = train[train["kind"] == "purchase"] if "kind" in train.columns else train
    return {str(u): frozenset(items) for u, items in before.groupby("user")["item"]}


def _popularity(train: pd.DataFrame) -> dict[str, float]:
    users = train.groupby("item")["user"].nunique()
    total = train["user"].nunique()
    return {str(item): float(n) / total for item, n in users.items()}
