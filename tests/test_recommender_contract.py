"""The contract every recommender keeps (fit/recommend shapes, determinism, exclusions, cold start),
run for each algorithm, and what each one must find on small planted data."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from shopmind.core import InvalidInputError
from shopmind.recommend import (
    Context,
    HybridRecommender,
    ItemCFRecommender,
    NotFittedError,
    PopularityRecommender,
    Recommendation,
    Recommender,
    load_recommender,
    save_recommender,
)

ITEMS = [f"P{i:02d}" for i in range(30)]
PAIRS = {"P01": "P02", "P03": "P04"}  # planted complements
REGIONS = ["서울", "부산"]


def _data(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(400):
        region = REGIONS[u % 2]
        start = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 60)))
        chosen = set(rng.choice(ITEMS[5:], size=int(rng.integers(1, 5)), replace=False).tolist())
        for a, b in PAIRS.items():
            if rng.random() < 0.3:
                chosen |= {a, b}
        if region == "부산" and rng.random() < 0.6:
            chosen.add("P29")  # a Busan favourite
        for k, item in enumerate(sorted(chosen)):
            # two orders: the planted pairs always in the first one
            later = k % 2 == 1 and item not in PAIRS and item not in PAIRS.values()
            time = start + pd.Timedelta(days=10 if later else 0)
            rows.append({"user": f"u{u}", "item": item, "region": region, "time": time})
    catalogue = pd.DataFrame(
        {
            "item": ITEMS,
            "category": ["라면" if i < 10 else "김치" if i < 20 else "과일" for i in range(30)],
            "in_stock": [i != 7 for i in range(30)],  # P07 is sold out
            "is_product": [i != 8 for i in range(30)],  # P08 is postage
            "listed_region": [("부산" if i == 27 else None) for i in range(30)],  # P27: a used car in 부산
        }
    )
    return pd.DataFrame(rows), catalogue


ALGORITHMS: dict[str, Callable[[], Recommender]] = {
    "popularity": PopularityRecommender,
    "popularity by region": lambda: PopularityRecommender(by="region"),
    "popularity by category": lambda: PopularityRecommender(by="category"),
    "trending": lambda: PopularityRecommender(trending_days=20),
    "item cf": ItemCFRecommender,
    "bought together": lambda: ItemCFRecommender(by="basket"),
    "hybrid": lambda: HybridRecommender(n_estimators=30),
}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _data()


def check_contract(
    make: Callable[[], Recommender], interactions: pd.DataFrame, catalogue: pd.DataFrame
) -> Recommender:
    """The contract every recommender keeps (other test modules call it for their algorithms);
    returns the model fitted on ``interactions`` and ``catalogue``."""
    model = make()
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.recommend("u1")
    assert model.fit(interactions, catalogue) is model
    user = "u1"
    seen = set(interactions.loc[interactions.user == user, "item"])
    context = Context(exclude=frozenset({"P05", "P06"}), region="서울")
    got = model.recommend(user, context, n=8)
    assert 0 < len(got) <= 8 and all(isinstance(r, Recommendation) for r in got)
    items = [r.item for r in got]
    assert len(set(items)) == len(items) and set(items) <= set(ITEMS)
    assert all(a.score >= b.score for a, b in itertools.pairwise(got))
    assert not set(items) & ({"P05", "P06", "P07", "P08"} | seen)  # excluded, sold out, postage, bought
    # an item listed in one region only is offered there and nowhere else
    everywhere = {
        r.item
        for u in ("u1", "u2", "u3", "someone new")
        for r in model.recommend(u, Context(region="서울"), n=30)
    }
    assert "P27" not in everywhere
    in_busan = {
        r.item for u in ("u1", "u2", "u3", "u4") for r in model.recommend(u, Context(region="부산"), n=30)
    }
    assert "P27" in in_busan
    assert all(r.reason.ko and r.reason.en for r in got)
    # deterministic, whatever the order of the rows (of the interactions and of the catalogue)
    again = make().fit(
        interactions.sample(frac=1.0, random_state=1), catalogue.sample(frac=1.0, random_state=2)
    )
    assert again.recommend(user, context, n=8) == got
    assert again.similar_items("P01", n=8) == model.similar_items("P01", n=8)
    # stored (JSON and a numpy .npz, no pickle) and read back, it answers as it did
    with tempfile.TemporaryDirectory() as folder:
        save_recommender(model, folder)
        loaded = load_recommender(folder).model
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    for someone in (user, "u2", "u3", "someone new"):
        for when in (context, Context(), Context(region="부산"), Context(session=("P01", "P12"))):
            assert loaded.recommend(someone, when, n=8) == model.recommend(someone, when, n=8), (
                someone,
                when,
            )
    for item in ("P01", "P03", "P27", "no such item"):
        assert loaded.similar_items(item, n=8) == model.similar_items(item, n=8)
    # cold start: a new visitor and an unknown item get answers, not errors
    assert model.recommend("someone new", Context(region="부산"), n=5)
    assert model.similar_items("no such item") == []
    similar = model.similar_items("P01", n=5)
    assert "P01" not in {r.item for r in similar} and not {"P07", "P08"} & {r.item for r in similar}
    with pytest.raises(InvalidInputError, match="n"):
        model.recommend(user, n=0)
    # the cheap reasons (used by the hybrid's index) are the reasons of scoring
    for someone, when in [(user, context), ("u2", Context()), ("someone new", Context(session=("P01",)))]:
        _, reasons = model._scores(someone, when)
        explainer = model._explainer(someone, when)
        for r in model.recommend(someone, when, n=5):
            index = model._item_index[r.item]
            assert explainer(index) == reasons(index), (someone, r)
    return model


@pytest.mark.parametrize("name", ALGORITHMS)
def test_contract(name: str, data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    check_contract(ALGORITHMS[name], *data)


def test_hybrid_index_answers_as_live_ranking(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """Known customers are answered from the in-process index (each row built on the customer's
    first request, or all at once by ``prepare_index``): the same items, scores and reasons as
    ranking every component live, including when the index keeps fewer items than asked (then
    the request is ranked live)."""
    interactions, catalogue = data
    live = HybridRecommender(n_estimators=30, index_size=0).fit(interactions, catalogue)
    indexed = HybridRecommender(n_estimators=30).fit(interactions, catalogue)
    eager = HybridRecommender(n_estimators=30).fit(interactions, catalogue)
    short = HybridRecommender(n_estimators=30, index_size=3).fit(interactions, catalogue)
    users = sorted(interactions.user.unique())
    assert not indexed._index and not eager._index  # nothing built at fit
    assert eager.prepare_index() == len(users) and eager.prepare_index() == 0
    assert live.prepare_index() == 0 and not live._index
    for user in users:
        expected = live.recommend(user, n=10)
        assert indexed.recommend(user, n=10) == expected, user
        assert eager.recommend(user, n=10) == expected, user
        assert short.recommend(user, n=10) == expected, user
        assert short.recommend(user, n=2) == expected[:2], user
    assert sorted(indexed._index) == users and not live._index
    for user in users:  # the lazily built rows are the rows built in blocks
        a, b = indexed._index[user], eager._index[user]
        assert np.array_equal(a.items, b.items) and np.array_equal(a.value, b.value), user
        assert np.array_equal(a.best, b.best) and a.complete == b.complete, user
    in_session = Context(session=("P01",))
    assert indexed.recommend("u3", in_session) == live.recommend("u3", in_session)


def test_bad_interactions_name_the_field() -> None:
    with pytest.raises(InvalidInputError, match="item"):
        PopularityRecommender().fit(pd.DataFrame({"user": ["a"]}))
    with pytest.raises(InvalidInputError, match="weight"):
        ItemCFRecommender().fit(pd.DataFrame({"user": ["a"], "item": ["x"], "weight": [-1]}))
    with pytest.raises(InvalidInputError, match="region"):
        PopularityRecommender(by="region").fit(pd.DataFrame({"user": ["a"], "item": ["x"]}))


def test_item_cf_finds_the_planted_complements_and_says_why(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    interactions, catalogue = data
    model = ItemCFRecommender().fit(interactions, catalogue)
    for a, b in PAIRS.items():
        top = model.similar_items(a, n=1)[0]
        assert top.item == b and top.reason.kind == "also_chose" and a in top.reason.en
    # real time: a new visitor with P01 in the session is offered P02, because of P01
    (first,) = model.recommend("new visitor", Context(session=("P01",)), n=1)
    assert first.item == "P02" and "P01" in first.reason.ko
    # the same from baskets: frequently bought together (one basket = one user and time)
    baskets = ItemCFRecommender(by="basket").fit(interactions, catalogue)
    top = baskets.similar_items("P01", n=1)[0]
    assert top.item == "P02" and top.reason.kind == "bought_together"
    # exclude_seen=False keeps a repeat purchase possible (consumables)
    buyer = interactions.loc[interactions.item == "P01", "user"].iloc[0]
    repeat = ItemCFRecommender(exclude_seen=False).fit(interactions, catalogue).recommend(buyer, n=30)
    assert "P01" in {r.item for r in repeat} or "P02" in {r.item for r in repeat}


def test_popularity_follows_region_category_and_time(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    interactions, catalogue = data
    by_region = PopularityRecommender(by="region").fit(interactions, catalogue)
    busan = by_region.recommend("new", Context(region="부산"), n=1)[0]
    assert busan.item == "P29" and busan.reason.kind == "popular_in_region" and "부산" in busan.reason.ko
    assert by_region.recommend("new", Context(region="서울"), n=1)[0].item != "P29"
    by_category = PopularityRecommender(by="category").fit(interactions, catalogue)
    user = interactions.user.iloc[0]
    favourite = by_category.recommend(user, n=3)
    assert len({r.reason.en for r in favourite}) == 1 and favourite[0].reason.kind == "popular_in_category"
    trending = PopularityRecommender(trending_days=10).fit(interactions, catalogue).recommend("new", n=3)
    assert trending[0].reason.kind == "trending"


def test_hybrid_affinity_reranks_by_the_customers_brand_and_price_band() -> None:
    """Purchases at random, so only the re-rank can favour a customer's own brand and price band:
    with ``affinity_weight`` their brand's share of the list rises and the prices come closer to
    what they usually pay."""
    rng = np.random.default_rng(5)
    items = [f"A{i:02d}" for i in range(60)]
    brand = {item: "XYZ"[i % 3] for i, item in enumerate(items)}
    price = {item: [5_000, 20_000, 80_000][(i // 3) % 3] for i, item in enumerate(items)}
    catalogue = pd.DataFrame({"item": items, "brand": list(brand.values()), "price": list(price.values())})
    start = pd.Timestamp("2026-01-01", tz="UTC")
    rows = [
        {"user": f"c{u}", "item": item, "time": start + pd.Timedelta(days=int(rng.integers(0, 90)))}
        for u in range(500)
        for item in rng.choice(items, size=4, replace=False).tolist()
    ]
    interactions = pd.DataFrame(rows)
    plain = HybridRecommender(n_estimators=30).fit(interactions, catalogue)
    personal = HybridRecommender(n_estimators=30, affinity_weight=3.0).fit(interactions, catalogue)
    shares: dict[str, list[float]] = {"plain": [], "personal": []}
    gaps: dict[str, list[float]] = {"plain": [], "personal": []}
    for user, chosen in interactions.groupby("user")["item"]:
        brands = pd.Series([brand[i] for i in chosen]).value_counts()
        if len(brands) > 1 and brands.iloc[0] == brands.iloc[1]:
            continue  # no favourite brand
        usual = np.median(np.log([price[i] for i in chosen]))
        for name, model in (("plain", plain), ("personal", personal)):
            got = [r.item for r in model.recommend(user, n=10)]
            shares[name].append(np.mean([brand[i] == brands.index[0] for i in got]))
            gaps[name].append(np.mean([abs(np.log(price[i]) - usual) for i in got]))
    assert len(shares["plain"]) > 100
    assert np.mean(shares["personal"]) > np.mean(shares["plain"]) + 0.15, shares
    assert np.mean(gaps["personal"]) < 0.8 * np.mean(gaps["plain"])


def test_models_fitted_together_share_one_vocabulary(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from shopmind.recommend._base import check_interactions, shared_vocabulary
    from shopmind.recommend._content import ContentRecommender

    interactions, catalogue = data
    frame = check_interactions(interactions)
    makers = [PopularityRecommender, ItemCFRecommender, ContentRecommender]
    alone = [make().fit(frame, catalogue) for make in makers]
    with shared_vocabulary(frame):
        together = [make().fit(frame, catalogue) for make in makers]
        other = PopularityRecommender().fit(frame.copy(), catalogue)  # another frame: its own
    # one copy of the customer ids and their positions, not one per model
    assert together[0].users_ is together[1].users_ is together[2].users_
    assert together[0]._user_index is together[1]._user_index
    assert other.users_ is not together[0].users_ and alone[0].users_ is not alone[1].users_
    # and one copy of what each customer chose, where the items are the shared ones
    assert together[0]._seen_pairs is together[1]._seen_pairs
    assert not together[0]._seen_pairs[0].flags.writeable  # read-only: no model changes another's
    assert together[2]._seen_pairs is not together[0]._seen_pairs  # over its wider items
    for a, b in zip(alone, together, strict=True):
        for mine, shared in zip(a._seen_pairs, b._seen_pairs, strict=True):
            assert np.array_equal(mine, shared)
    # the content model widens its items to the catalogue's: its own, the shared ones unchanged
    assert together[2].items_.size == len(ITEMS) > together[0].items_.size
    assert together[0].items_.tolist() == alone[0].items_.tolist()
    for a, b in zip(alone, together, strict=True):
        for user in ("u1", "u2", "someone new"):
            assert a.recommend(user, n=8) == b.recommend(user, n=8)


def test_what_each_customer_chose_is_stored_alike_from_the_fit_or_the_mapping(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    from shopmind.recommend import ModelState

    interactions, catalogue = data
    model = ItemCFRecommender().fit(interactions, catalogue)
    direct = ModelState()
    model.save_state(direct)  # from the fitted pairs, no mapping of every customer built
    assert "_seen_map" not in model.__dict__
    assert len(model._seen) == interactions.user.nunique()  # builds the mapping
    mapped = ModelState()
    model.save_state(mapped)
    assert direct.arrays.keys() == mapped.arrays.keys()
    for name, array in direct.arrays.items():
        assert array.dtype == mapped.arrays[name].dtype and np.array_equal(array, mapped.arrays[name]), name
