"""Offline evaluation: the metrics by hand on small lists, the temporal split's rules, and the
acceptance run on Online Retail (train before 2011-10-01, test on what customers active before
bought, new to them, until 2011-12-09): the hybrid beats popularity by a wide margin and is at
least as good as every single algorithm, `implicit` ALS included."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.core import InvalidInputError
from shopmind.pipeline import evaluate_recommendations
from shopmind.recommend import ranking_metrics, temporal_split
from shopmind.store import Store


def test_metrics_by_hand() -> None:
    popularity = {"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.05, "e": 0.05}
    got = ranking_metrics(
        {"u": ["a", "x", "c"], "v": ["d"]}, {"u": frozenset({"c", "e"}), "v": frozenset({"b"})}, 3, popularity
    )
    # u: one hit at rank 3 of min(3, 2) = 2 possible; v: none
    assert got["recall"] == pytest.approx((1 / 2 + 0) / 2)
    assert got["ndcg"] == pytest.approx(((1 / math.log2(4)) / (1 + 1 / math.log2(3)) + 0) / 2)
    assert got["map"] == pytest.approx(((1 / 3) / 2 + 0) / 2)
    assert got["hit_rate"] == pytest.approx(0.5)
    assert got["coverage"] == pytest.approx(3 / 5)  # a, c, d of five catalogue items ("x" is not one)
    assert got["popularity_bias"] == pytest.approx(((0.5 + 0 + 0.1) / 3 + 0.05) / 2)
    # the short head is "a" alone (it makes up the first 20% of the choices)
    assert got["long_tail"] == pytest.approx((2 / 3 + 1) / 2)
    with pytest.raises(InvalidInputError, match="k"):
        ranking_metrics({}, {"u": frozenset({"a"})}, 0, popularity)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sets(st.sampled_from("abcdefghij"), min_size=1), min_size=1, max_size=8), st.integers(1, 6)
)
def test_a_perfect_list_scores_one_and_metrics_stay_in_range(truths: list[set[str]], k: int) -> None:
    relevant = {f"u{i}": frozenset(t) for i, t in enumerate(truths)}
    perfect = {u: sorted(t)[:k] for u, t in relevant.items()}
    popularity = {c: 0.1 for c in "abcdefghij"}
    best = ranking_metrics(perfect, relevant, k, popularity)
    assert best["recall"] == pytest.approx(1) and best["ndcg"] == pytest.approx(1)
    assert best["map"] == pytest.approx(1) and best["hit_rate"] == 1
    reversed_lists = {u: sorted(set("abcdefghij") - t)[:k] for u, t in relevant.items()}
    worst = ranking_metrics(reversed_lists, relevant, k, popularity)
    assert worst["recall"] == 0 and worst["ndcg"] == 0 and worst["hit_rate"] == 0
    assert all(0 <= v <= 1 for v in worst.values())


def test_temporal_split_keeps_only_new_items_of_known_customers() -> None:
    t = pd.Timestamp("2026-01-01", tz="UTC")
    rows = pd.DataFrame(
        {
            "user": ["a", "a", "a", "b", "c"],
            "item": ["x", "x", "y", "z", "x"],
            "time": [t, t + pd.Timedelta(days=10), t + pd.Timedelta(days=11), t + pd.Timedelta(days=12), t],
        }
    )
    split = temporal_split(rows, "2026-01-05")
    assert dict(split.relevant) == {"a": frozenset({"y"})}  # x was bought before; b is new
    assert len(split.train) == 2
    assert temporal_split(rows, "2026-01-05", new_items_only=False).relevant["a"] == frozenset({"x", "y"})
    with pytest.raises(InvalidInputError, match="split_at"):
        temporal_split(rows, "2025-01-01")
    with pytest.raises(InvalidInputError, match="time"):
        temporal_split(rows.drop(columns="time"), "2026-01-05")


@pytest.mark.slow
def test_online_retail_hybrid_beats_every_algorithm(retail: Store) -> None:
    table = evaluate_recommendations(
        retail, datetime(2011, 10, 1, tzinfo=UTC), datetime(2011, 12, 10, tzinfo=UTC), k=10
    ).set_index("algorithm")
    assert {"popularity", "als", "item_cf", "user_cf", "content", "bpr", "trending", "hybrid"} <= set(
        table.index
    )
    assert table.attrs["users"] > 1500
    hybrid, others = table.loc["hybrid"], table.drop(index="hybrid")
    for metric in ("recall", "ndcg"):
        assert hybrid[metric] >= 2.0 * table.loc["popularity", metric], metric  # a wide margin
        assert hybrid[metric] >= others[metric].max(), (metric, others[metric].idxmax())
        assert hybrid[metric] >= table.loc["als", metric]
    assert (
        0 < hybrid["coverage"] <= 1 and hybrid["popularity_bias"] < table.loc["popularity", "popularity_bias"]
    )
