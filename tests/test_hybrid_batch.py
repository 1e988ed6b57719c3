"""The hybrid learns its ranker and builds its index scoring a block of customers at a time: every
component's batched scores equal its scores one customer at a time, lists break ties by item id,
and the same data (in any row order) gives the same answers run after run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopmind.core import InvalidInputError
from shopmind.recommend import Context, HybridRecommender, ModelState, PopularityRecommender
from shopmind.recommend._hybrid import default_components
from shopmind.recommend._persist import load_model_state, save_model_state
from shopmind.recommend._topk import ranked, top_k_mask

ITEMS = [f"P{i:02d}" for i in range(40)]
REGIONS = ["서울", "부산"]


def _data(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """300 customers with two to four orders each over four months; P01 and P02 bought together,
    P03 bought again every few weeks."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(300):
        start = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 40)))
        for order in range(int(rng.integers(2, 5))):
            time = start + pd.Timedelta(
                days=25 * order + int(rng.integers(0, 5)), hours=int(rng.integers(0, 24))
            )
            basket = set(rng.choice(ITEMS[4:], size=int(rng.integers(1, 4)), replace=False).tolist())
            if rng.random() < 0.3:
                basket |= {"P01", "P02"}
            if u % 3 == 0:
                basket.add("P03")
            rows += [
                {"user": f"u{u}", "item": i, "time": time, "region": REGIONS[u % 2]} for i in sorted(basket)
            ]
    catalogue = pd.DataFrame(
        {
            "item": ITEMS,
            "name": [f"상품 {i}" for i in range(40)],
            "category": ["라면" if i < 15 else "김치" if i < 30 else "과일" for i in range(40)],
            "price": [1000.0 + 100 * i for i in range(40)],
        }
    )
    return pd.DataFrame(rows), catalogue


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _data()


@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize("cells", [None, 700], ids=["one block", "blocks of two customers"])
def test_every_component_scores_a_block_as_one_at_a_time(
    data: tuple[pd.DataFrame, pd.DataFrame],
    exclude_seen: bool,
    cells: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if cells is not None:  # user CF's dense customer rows, bounded (300 customers: two rows at a time)
        monkeypatch.setattr("shopmind.recommend._user_cf._BLOCK_CELLS", cells)
    interactions, catalogue = data
    users = [*sorted(interactions.user.unique())[:120], "nobody"]
    contexts = [Context(region=REGIONS[k % 2]) for k in range(len(users))]
    for name, model in default_components(catalogue, True, exclude_seen):
        model.fit(interactions, catalogue)
        block = model._score_users(users, contexts)
        alone = np.vstack(
            [model._scores(user, context)[0] for user, context in zip(users, contexts, strict=True)]
        )
        assert block.shape == alone.shape, name
        assert np.array_equal(np.isfinite(block), np.isfinite(alone)), name
        finite = np.isfinite(alone)
        np.testing.assert_allclose(block[finite], alone[finite], rtol=1e-12, atol=1e-12, err_msg=name)


def test_the_k_best_break_ties_by_column() -> None:
    scores = np.array(
        [
            [1.0, 3.0, 3.0, 3.0, -np.inf, 0.5],
            [-np.inf, -np.inf, 2.0, -np.inf, -np.inf, -np.inf],
            [2.0, 2.0, 2.0, 2.0, 2.0, 2.0],
        ]
    )
    mask = top_k_mask(scores, 2)
    assert mask.tolist() == [
        [False, True, True, False, False, False],  # the first two of the three tied at 3
        [False, False, True, False, False, False],  # fewer candidates than k: all of them
        [True, True, False, False, False, False],
    ]
    rows, cols, rank = ranked(scores, top_k_mask(scores, 3))
    assert list(zip(rows.tolist(), cols.tolist(), rank.tolist(), strict=True)) == [
        (0, 1, 1),
        (0, 2, 2),
        (0, 3, 3),
        (1, 2, 1),
        (2, 0, 1),
        (2, 1, 2),
        (2, 2, 3),
    ]


def _answers(model: HybridRecommender, users: list[str]) -> list[list[tuple[str, float, str]]]:
    return [[(r.item, r.score, r.reason.en) for r in model.recommend(user, n=10)] for user in users]


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_the_same_answers_run_to_run_in_any_row_order(
    data: tuple[pd.DataFrame, pd.DataFrame], exclude_seen: bool
) -> None:
    """Fitted twice, once on the rows shuffled: the same ranker note, lists, scores and reasons
    for every customer (the index and a live request alike)."""
    interactions, catalogue = data
    users = sorted(interactions.user.unique())
    first = HybridRecommender(n_estimators=40, exclude_seen=exclude_seen).fit(interactions, catalogue)
    shuffled = interactions.sample(frac=1.0, random_state=7).reset_index(drop=True)
    again = HybridRecommender(n_estimators=40, exclude_seen=exclude_seen).fit(shuffled, catalogue)
    assert first.ranker_ is not None and first.ranker_note_ == again.ranker_note_
    assert _answers(first, users) == _answers(again, users)
    cart = Context(session=("P01",), region="부산")
    assert first.recommend("u5", cart) == again.recommend("u5", cart)


def test_fitting_side_by_side_gives_the_model_of_one_after_the_other(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """``n_jobs=2`` fits the final components in a second thread while the ranker learns: the
    same trees, lists, scores and reasons as ``n_jobs=1``; a bad setting is named."""
    interactions, catalogue = data
    users = sorted(interactions.user.unique())
    serial = HybridRecommender(n_estimators=40, n_jobs=1).fit(interactions, catalogue)
    threaded = HybridRecommender(n_estimators=40, n_jobs=2).fit(interactions, catalogue)
    assert serial.ranker_ is not None and threaded.ranker_ is not None
    assert serial.ranker_.model_to_string() == threaded.ranker_.model_to_string()
    assert _answers(serial, users) == _answers(threaded, users)
    with pytest.raises(InvalidInputError, match="n_jobs"):
        HybridRecommender(n_jobs=0).fit(interactions, catalogue)


def test_repurchases_are_learned_when_they_may_be_recommended(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """With exclude_seen=False the repurchase component is a candidate source, its features reach
    the ranker, the labels count repeat purchases, and a customer who buys P03 every order is
    offered it again, as the stored model does too."""
    interactions, catalogue = data
    model = HybridRecommender(n_estimators=40, exclude_seen=False).fit(interactions, catalogue)
    assert "repurchase" in model.component_names_
    assert {"repurchase_days_overdue", "repurchase_decayed_frequency"} <= set(model.feature_names_)
    assert "chose something new" not in model.ranker_note_
    regulars = [f"u{u}" for u in range(0, 300, 3)]
    offered = sum("P03" in {r.item for r in model.recommend(user, n=5)} for user in regulars)
    assert offered >= 0.8 * len(regulars)
    new_only = HybridRecommender(n_estimators=40).fit(interactions, catalogue)
    assert "repurchase" not in new_only.component_names_
    assert not any("P03" in {r.item for r in new_only.recommend(user, n=5)} for user in regulars)
    state = ModelState()
    save_model_state(model, state)
    loaded = load_model_state(state)
    users = sorted(interactions.user.unique())[:60]
    assert _answers(loaded, users) == _answers(model, users)  # type: ignore[arg-type]


def test_a_catalogue_whose_categories_are_all_empty_fits(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """Online Retail's catalogue has a category column with nothing in it: the context lifts then
    group by item, as without the column (this failed the fit once)."""
    interactions, catalogue = data
    empty = catalogue.assign(category=None)
    model = HybridRecommender(n_estimators=20).fit(interactions, empty)
    without = HybridRecommender(n_estimators=20).fit(interactions, catalogue.drop(columns="category"))
    users = sorted(interactions.user.unique())[:40]
    assert _answers(model, users) == _answers(without, users)


def test_the_stored_hybrid_keeps_the_rows_built_and_builds_the_rest_on_request(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Stored after some customers asked: the rows built so far are stored, the loaded model
    builds the others on their first request, and every answer is the fitted model's."""
    interactions, catalogue = data
    users = sorted(interactions.user.unique())
    model = HybridRecommender(n_estimators=40).fit(interactions, catalogue)
    asked = users[:25]
    before = {user: model.recommend(user, n=10) for user in asked}
    assert sorted(model._index) == asked
    state = ModelState()
    save_model_state(model, state)
    loaded = load_model_state(state)
    assert isinstance(loaded, HybridRecommender) and sorted(loaded._index) == asked
    assert all(loaded.recommend(user, n=10) == before[user] for user in asked)
    assert all(loaded.recommend(user, n=10) == model.recommend(user, n=10) for user in users)
    assert sorted(loaded._index) == users


def test_the_state_knows_each_customers_home_region_and_idle_days() -> None:
    from shopmind.recommend._hybrid_state import _Customers, _State

    rng = np.random.default_rng(3)
    n = 2_000
    frame = pd.DataFrame(
        {
            "user": pd.array([f"u{i}" for i in rng.integers(0, 300, n)], dtype="str"),
            "item": pd.array([f"P{i:02d}" for i in rng.integers(0, 40, n)], dtype="str"),
            "weight": 1.0,
            "time": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 90 * 24, n), unit="h"),
            "region": pd.array(rng.choice(["서울", "부산", "대구", None], n).tolist(), dtype="str"),
        }
    )
    state = _State.build(frame, None, [("popularity", PopularityRecommender().fit(frame))], 10)
    # the most frequent region, ties to the first by name; customers seen nowhere have none
    counts = frame.dropna(subset=["region"]).groupby(["user", "region"]).size().reset_index(name="n")
    counts = counts.sort_values(["user", "n", "region"], ascending=[True, False, True]).drop_duplicates(
        "user"
    )
    customers = state.customers
    names = customers.names.tolist()
    assert names == sorted(frame["user"].unique())
    home = {name: customers.home_of(name) for name in names if customers.home_of(name) is not None}
    assert home == dict(zip(counts["user"], counts["region"], strict=True))
    age = (frame["time"].max() - frame["time"]).dt.total_seconds() / 86_400
    idle = age.groupby(frame["user"]).min()
    assert {name: customers.idle_days(name) for name in names} == pytest.approx(
        {str(u): float(v) for u, v in idle.items()}
    )
    chosen = frame.groupby("user")["item"].agg(lambda s: sorted(set(s)))
    assert {n: state.items[customers.history(n)].tolist() for n in names} == chosen.to_dict()
    assert customers.history("nobody") is None and customers.home_of("nobody") is None
    # stored and read back: the same customers (format 1: keys and values as the mappings were)
    stored = ModelState()
    customers.save(stored)
    again = _Customers.load(stored)
    assert again.names.tolist() == names and again.regions == customers.regions
    for array in ("indptr", "chosen", "home"):
        assert np.array_equal(getattr(again, array), getattr(customers, array))
    assert np.array_equal(again.idle, customers.idle, equal_nan=True)
