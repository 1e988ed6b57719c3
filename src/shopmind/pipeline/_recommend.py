"""Recommendation jobs: the data the recommenders learn from (interactions, catalogue, weather,
read from the store), the offline evaluation of every algorithm on a temporal split, and the
next-basket evaluation (each customer's last order held out, repeat purchases included)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from shopmind.core import FieldError, InvalidInputError
from shopmind.features import interactions, recommender_catalogue
from shopmind.recommend import (
    ALSRecommender,
    BPRRecommender,
    ContentRecommender,
    HybridRecommender,
    ItemCFRecommender,
    PersonalTopFrequency,
    PopularityRecommender,
    Recommender,
    RepurchaseRecommender,
    UserCFRecommender,
    evaluate_next_basket,
    evaluate_recommenders,
    next_basket_split,
    temporal_split,
)
from shopmind.store import Store

#: The algorithms of ``shopmind evaluate recommendations``, in the order of its table.
ALGORITHMS: dict[str, Callable[[], Recommender]] = {
    "popularity": PopularityRecommender,
    "trending": lambda: PopularityRecommender(trending_days=30),
    "item_cf": ItemCFRecommender,
    "user_cf": UserCFRecommender,
    "content": ContentRecommender,
    "als": ALSRecommender,
    "bpr": BPRRecommender,
    "hybrid": HybridRecommender,
}


#: The algorithms of ``shopmind evaluate next-basket``, in the order of its table: the two
#: baselines of next-basket recommendation, then shopmind's recommenders that may recommend a
#: repeat purchase.
NEXT_BASKET_ALGORITHMS: dict[str, Callable[[], Recommender]] = {
    "global_top": lambda: PopularityRecommender(exclude_seen=False),
    "personal_top": PersonalTopFrequency,
    "repurchase": RepurchaseRecommender,
    "item_cf": lambda: ItemCFRecommender(exclude_seen=False),
    "hybrid": lambda: HybridRecommender(exclude_seen=False),
}


@dataclass(frozen=True)
class RecommenderData:
    interactions: pd.DataFrame  # user, item, weight, time, region, kind
    catalogue: pd.DataFrame  # item, name, description, category, brand, price, colour, in_stock, is_product
    weather: pd.DataFrame  # region, day, temp_c, precip_mm


def recommender_data(
    store: Store, *, before: datetime | None = None, view_weight: float = 0.0, cart_weight: float = 0.0
) -> RecommenderData:
    """Everything the recommenders need, read from the store (signals before ``before``)."""
    rows = interactions(
        store.table("events"),
        store.table("orders"),
        store.table("order_lines"),
        store.table("profiles"),
        before=before,
        view_weight=view_weight,
        cart_weight=cart_weight,
    ).to_pandas()
    catalogue = recommender_catalogue(store.table("products"), store.table("order_lines")).to_pandas()
    weather = store.table("weather").to_pandas()
    if rows.empty:
        raise InvalidInputError(
            [FieldError("orders", "no purchases to learn from: import orders first (shopmind import orders)")]
        )
    rows = rows.sort_values(["time", "user", "item"], kind="stable").reset_index(drop=True)
    return RecommenderData(rows, catalogue.sort_values("item").reset_index(drop=True), weather)


def order_baskets(store: Store) -> list[list[str]]:
    """One basket per order (its distinct products, sorted), for association rules; returns,
    cancellations, non-product lines and unverified claims left out."""
    rows = store.sql(
        "SELECT list(DISTINCT l.product_id ORDER BY l.product_id) FROM order_lines l JOIN orders o "
        "USING (order_id) WHERE NOT o.is_return AND o.verified AND NOT l.is_return AND l.is_product "
        "GROUP BY l.order_id ORDER BY l.order_id"
    )
    return [row[0] for row in rows]


def evaluate_recommendations(
    store: Store,
    split_at: datetime,
    until: datetime | None = None,
    *,
    k: int = 10,
    algorithms: Sequence[str] | None = None,
    max_users: int | None = None,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Fit each algorithm on the purchases before ``split_at`` and measure its top-``k`` against
    what the customers active before bought, new to them, from ``split_at`` to ``until``. One row
    per algorithm (see :func:`shopmind.recommend.evaluate_recommenders`); ``max_users`` samples
    the test customers (seeded)."""
    names = list(algorithms) if algorithms else list(ALGORITHMS)
    unknown = [n for n in names if n not in ALGORITHMS]
    if unknown:
        raise InvalidInputError(
            [FieldError("algorithms", f"unknown: {', '.join(unknown)}; choose from {', '.join(ALGORITHMS)}")]
        )
    data = recommender_data(store, before=until)
    split = temporal_split(data.interactions, split_at, until)
    users = sorted(split.relevant)
    if max_users is not None and len(users) > max_users:
        users = sorted(pd.Series(users).sample(max_users, random_state=seed).tolist())
    models = {name: ALGORITHMS[name]() for name in names}
    return evaluate_recommenders(
        models, split, data.catalogue, k=k, users=users, on_step=on_step, weather=data.weather
    )


def evaluate_next_baskets(
    store: Store,
    *,
    k: Sequence[int] = (10, 20),
    algorithms: Sequence[str] | None = None,
    max_users: int | None = None,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
    on_user: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Hold out each customer's last order (customers with two orders or more), fit each
    algorithm on everything else and measure its top-K against that order, repeat purchases
    included: one row per algorithm (see :func:`shopmind.recommend.evaluate_next_basket`);
    ``max_users`` samples the tested customers (seeded). ``table.attrs["tested"]``: the
    customers with two orders or more, before sampling."""
    names = list(algorithms) if algorithms else list(NEXT_BASKET_ALGORITHMS)
    unknown = [n for n in names if n not in NEXT_BASKET_ALGORITHMS]
    if unknown:
        choose = ", ".join(NEXT_BASKET_ALGORITHMS)
        raise InvalidInputError(
            [FieldError("algorithms", f"unknown: {', '.join(unknown)}; choose from {choose}")]
        )
    data = recommender_data(store)
    split = next_basket_split(data.interactions)
    models = {name: NEXT_BASKET_ALGORITHMS[name]() for name in names}
    table = evaluate_next_basket(
        models,
        split,
        k,
        catalogue=data.catalogue,
        max_users=max_users,
        seed=seed,
        on_step=on_step,
        on_user=on_user,
        weather=data.weather,
    )
    table.attrs["tested"] = len(split.relevant)
    return table
