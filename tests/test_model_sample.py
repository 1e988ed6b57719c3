"""The purchase-probability model learns from a seeded sample of customers past a bound
(``SHOPMIND_MODEL_SAMPLE_CUSTOMERS``), drawn by the engine, and still scores every customer.
(The same draw on Spark: tests/test_engine_spark_run.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import ibis
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.core import InvalidInputError, Settings
from shopmind.features import behaviour_features, customers_in_part, purchase_context, purchase_transactions
from shopmind.pipeline import load_demo_shop, run_churn_risk, run_purchase_probability
from shopmind.pipeline._model_sample import (
    DEFAULT_SAMPLE_CUSTOMERS,
    SAMPLE_VARIABLE,
    customer_share,
    model_sample_customers,
    sampled_customers,
)
from shopmind.store import Store

DAYS = 60
END = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=DAYS) - timedelta(hours=9)


@pytest.fixture(scope="module")
def demo() -> Iterator[Store]:
    with Store(":memory:") as store:
        load_demo_shop(store, customers=600, days=DAYS, seed=5)
        yield store


def test_the_draw_keeps_about_the_share_and_is_seeded() -> None:
    ids = ibis.memtable(pd.DataFrame({"profile_id": [f"user:{i}" for i in range(20_000)]}))
    half = set(sampled_customers(ids, 0.5, seed=0).to_pandas().profile_id)
    assert 9_600 < len(half) < 10_400  # binomial: 4 standard deviations
    assert half == set(sampled_customers(ids, 0.5, seed=0).to_pandas().profile_id)  # drawn again: the same
    other = set(sampled_customers(ids, 0.5, seed=1).to_pandas().profile_id)
    assert 0.4 < len(half & other) / len(half) < 0.6  # another seed, another draw
    tenth = set(sampled_customers(ids, 0.1, seed=0).to_pandas().profile_id)
    assert 1_800 < len(tenth) < 2_200
    assert tenth <= half  # a smaller share of the same seed: a subset
    assert sampled_customers(ids, 1.0) is ids


def test_share_and_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert customer_share(10, 100) == 1.0
    assert customer_share(1_000, 100) == pytest.approx(0.1)
    monkeypatch.delenv(SAMPLE_VARIABLE, raising=False)
    assert model_sample_customers() == DEFAULT_SAMPLE_CUSTOMERS == Settings().model_sample_customers
    monkeypatch.setenv(SAMPLE_VARIABLE, "5000")
    assert model_sample_customers() == 5_000 == Settings().model_sample_customers
    for bad in ("0", "many", "-3"):
        monkeypatch.setenv(SAMPLE_VARIABLE, bad)
        with pytest.raises(InvalidInputError) as caught:
            model_sample_customers()
        assert caught.value.field == "model_sample_customers"
        assert SAMPLE_VARIABLE in str(caught.value)


def test_purchase_model_learns_from_a_sample_and_scores_everyone(demo: Store) -> None:
    whole = run_purchase_probability(demo, END)
    sampled = run_purchase_probability(demo, END, sample_customers=300)
    profiles = demo.scalar("SELECT count(*) FROM profiles")
    assert profiles > 600
    # every profile scored either way; the backtest on the sample saw fewer buyers
    assert sampled.profiles == whole.profiles
    count = "SELECT count(*) FROM scores WHERE run_id = ?"
    assert demo.scalar(count, [sampled.run_id]) == demo.scalar(count, [whole.run_id]) == whole.profiles
    assert sampled.card.positives < whole.card.positives
    assert sampled.card.n < whole.card.n * 0.7
    (note,) = [n for n in sampled.card.notes if "seeded sample" in n]
    assert f"about 300 of {profiles:,} profiles" in note
    assert not any("seeded sample" in n for n in whole.card.notes)
    # the same draw again: the same model, the same scores
    again = run_purchase_probability(demo, END, sample_customers=300)
    rows = "SELECT profile_id, value FROM scores WHERE run_id = ? ORDER BY profile_id"
    assert demo.sql(rows, [again.run_id]) == demo.sql(rows, [sampled.run_id])
    with pytest.raises(InvalidInputError, match="sample_customers"):
        run_purchase_probability(demo, END, sample_customers=0)


def test_churn_backtest_on_a_sample_scores_every_buyer(demo: Store) -> None:
    whole = run_churn_risk(demo, END, horizon_days=21)
    sampled = run_churn_risk(demo, END, horizon_days=21, sample_customers=250)
    profiles = demo.scalar("SELECT count(*) FROM profiles")
    count = "SELECT count(*) FROM scores WHERE run_id = ? AND name = 'churn_risk'"
    assert sampled.buyers == whole.buyers > 100
    assert demo.scalar(count, [sampled.run_id]) == demo.scalar(count, [whole.run_id]) == whole.buyers
    (note,) = [n for n in sampled.notes if "seeded sample" in n]
    assert f"about 250 of {profiles:,} profiles" in note
    assert not any("seeded sample" in n for n in whole.notes)
    assert whole.card is not None and sampled.card is not None
    assert sampled.card.n < whole.card.n  # the backtest scored the sampled buyers of its window
    again = run_churn_risk(demo, END, horizon_days=21, sample_customers=250)
    rows = "SELECT profile_id, name, value FROM scores WHERE run_id = ? ORDER BY profile_id, name"
    assert demo.sql(rows, [again.run_id]) == demo.sql(rows, [sampled.run_id])
    with pytest.raises(InvalidInputError, match="sample_customers"):
        run_churn_risk(demo, END, sample_customers=-1)


def test_scoring_in_parts_scores_as_in_one(demo: Store) -> None:
    """Past ``score_batch_rows`` profiles the features come back in parts (``store.batches``),
    scored part by part: the same scores as in one frame."""
    whole = run_purchase_probability(demo, END)
    parts = run_purchase_probability(demo, END, score_batch_rows=100)
    rows = "SELECT profile_id, value FROM scores WHERE run_id = ? ORDER BY profile_id"
    one, split = demo.sql(rows, [whole.run_id]), demo.sql(rows, [parts.run_id])
    assert len(split) == len(one) == parts.profiles > 500
    assert [p for p, _ in split] == [p for p, _ in one]
    for (_, a), (_, b) in zip(one, split, strict=True):
        assert b == pytest.approx(a, rel=1e-12, abs=1e-15)
    assert parts.expected_buyers == pytest.approx(whole.expected_buyers, rel=1e-12)
    # the store's parts: about the size asked, every row once
    found = list(demo.batches(demo.table("profiles"), 100))
    assert sum(t.num_rows for t in found) == demo.scalar("SELECT count(*) FROM profiles")
    assert max(t.num_rows for t in found) <= 100 and len(found) > 5


def test_the_behaviour_features_draw_before_aggregating_what_drawing_after_keeps(demo: Store) -> None:
    """``behaviour_features(share=, seed=)`` draws from the events and purchases: the same rows
    as drawing from the whole result, and the purchase context equals the whole shop's sums."""
    t = demo.table
    tx = purchase_transactions(t("orders"), t("order_lines"), t("profiles"))
    whole = behaviour_features(t("events"), tx, t("profiles"), END)
    after = sampled_customers(whole, 0.3, 5).to_pandas().sort_values("profile_id").reset_index(drop=True)
    before = behaviour_features(t("events"), tx, t("profiles"), END, share=0.3, seed=5).to_pandas()
    before = before.sort_values("profile_id").reset_index(drop=True)
    assert 0 < len(before) < 0.5 * whole.count().execute()
    pd.testing.assert_frame_equal(before, after)
    every = whole.to_pandas()
    context = purchase_context(tx, END).to_pandas().iloc[0]
    assert context.orders_90 == every.orders_90.sum() > 0 and context.orders_30 == every.orders_30.sum()
    assert context.recent_7 == (every.days_since_last_purchase < 7).sum() > 0


@given(parts=st.integers(1, 9), seed=st.integers(0, 5))
@settings(max_examples=15, deadline=None)
def test_parts_hold_every_customer_once(parts: int, seed: int) -> None:
    ids = [f"user:{i}" for i in range(400)]
    table = ibis.memtable({"profile_id": ids})
    found = [
        set(customers_in_part(table, p, parts, seed).to_pyarrow()["profile_id"].to_pylist())
        for p in range(parts)
    ]
    assert sum(len(f) for f in found) == len(ids)
    assert set().union(*found) == set(ids)
    if parts > 1:
        assert min(len(f) for f in found) > 400 / parts / 3  # about equal


def test_a_part_outside_the_parts_is_named() -> None:
    table = ibis.memtable({"profile_id": ["a"]})
    with pytest.raises(InvalidInputError, match="part"):
        customers_in_part(table, 3, 3)
