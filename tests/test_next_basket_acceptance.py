"""Acceptance (issue 21, point 1): on next-basket recommendation, each customer's last basket held
out (Online Retail: the last invoice; the demo shop: the last order), shopmind's best default for
repeat purchases beats personal top-frequency and TIFU-KNN on Recall@10 and NDCG@10.

The peers are those of ``bench/bench_next_basket.py``, measured in the same run on the same split
and metrics; TIFU-KNN with the hyper-parameters of ``TIFU_*`` below: on the demo shop those its
validation-split tuning chose there; on Online Retail the paper's defaults, which score higher on
this test than the grid's validation choice (3, 1, 0.6, 300, 0.5: Recall@10 0.2754 vs 0.2771), so
the stronger peer is kept. "shopmind's best default" is the better, by NDCG@10, of
the two recommenders shopmind offers for next baskets with their default settings: the
replenishment recommender and the hybrid with ``exclude_seen=False``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bench.bench_next_basket import (
    PersonalTopFrequency,
    TifuKnn,
    basket_metrics,
    demo_shop,
    online_retail,
)

from shopmind.recommend import (
    HybridRecommender,
    RepurchaseRecommender,
    evaluate_next_basket,
    next_basket_split,
)
from tests.conftest import data_file

pytestmark = pytest.mark.slow

#: TIFU-KNN (groups, r_b, r_g, neighbours, alpha); see the module docstring
TIFU_DEMO = (3, 1.0, 0.8, 100, 0.5)
TIFU_ONLINE_RETAIL = (7, 0.9, 0.7, 300, 0.7)


def _table(frame: pd.DataFrame, catalogue: pd.DataFrame | None, tifu: tuple) -> pd.DataFrame:
    split = next_basket_split(frame)
    users = sorted(split.relevant)
    rows = {}
    for name, peer in (
        ("personal top-frequency", PersonalTopFrequency()),
        ("TIFU-KNN", TifuKnn(*tifu)),
    ):
        peer.fit(split.train)
        rows[name] = basket_metrics(peer.lists(users), split)
    ours = evaluate_next_basket(
        {"repurchase": RepurchaseRecommender(), "hybrid": HybridRecommender(exclude_seen=False)},
        split,
        (10, 20),
        catalogue=catalogue,
    )
    for _, row in ours.iterrows():
        rows[row["algorithm"]] = {c: float(row[c]) for c in ours.columns if "@" in c}
    return pd.DataFrame(rows).T


def _assert_best_default_wins(table: pd.DataFrame) -> None:
    ours = table.loc[["repurchase", "hybrid"]]
    best = ours["ndcg@10"].idxmax()
    for peer in ("personal top-frequency", "TIFU-KNN"):
        for metric in ("recall@10", "ndcg@10"):
            assert table.loc[best, metric] > table.loc[peer, metric], (best, peer, metric, table.round(4))
    assert np.isfinite(table[["recall@10", "ndcg@10", "recall@20", "ndcg@20"]].to_numpy(dtype=float)).all()


def test_demo_shop_next_basket() -> None:
    frame, catalogue = demo_shop(customers=5_000, days=90, seed=42)  # the ``make demo`` shop
    _assert_best_default_wins(_table(frame, catalogue, TIFU_DEMO))


def test_online_retail_next_basket() -> None:
    data_file("online_retail", "online_retail.parquet")
    frame, catalogue = online_retail()
    _assert_best_default_wins(_table(frame, catalogue, TIFU_ONLINE_RETAIL))
