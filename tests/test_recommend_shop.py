"""Recommendations on the synthetic shop, whose planted truths are the oracle: complementary pairs
(라면 → 김치, 삼겹살 → 쌈장, printer → its ink, tent → chair) come out as top rules, complements
and session recommendations; weather and region move recommendations the planted way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopmind.core import with_particle
from shopmind.demo import PlantedTruths, generate_shop
from shopmind.pipeline import RecommenderData, load_demo_shop, order_baskets, recommender_data
from shopmind.recommend import (
    AssociationRules,
    Context,
    ContextLift,
    HybridRecommender,
    load_recommender,
    save_recommender,
)
from shopmind.store import Store

CUSTOMERS, DAYS, SEED = 2000, 90, 3


@dataclass
class Shop:
    data: RecommenderData
    truths: PlantedTruths
    model: HybridRecommender
    baskets: list[list[str]]

    def category(self, item: str) -> str | None:
        return self.data.catalogue.set_index("item")["category"].get(item)


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    with Store(":memory:") as store:
        load_demo_shop(store, customers=CUSTOMERS, days=DAYS, seed=SEED)
        data = recommender_data(store, view_weight=0.2, cart_weight=0.5)
        baskets = order_baskets(store)
    truths = generate_shop(customers=CUSTOMERS, days=DAYS, seed=SEED).truths
    model = HybridRecommender().fit(data.interactions, data.catalogue, weather=data.weather)
    yield Shop(data, truths, model, baskets)


def test_planted_pairs_are_the_top_rules_complements_and_session_picks(shop: Shop) -> None:
    rules = AssociationRules(min_support=3 / len(shop.baskets), min_confidence=0.05, max_length=2)
    table = rules.fit(shop.baskets).rules_.to_pandas()
    single = table[table["lhs"].map(len) == 1].assign(lhs=lambda t: t["lhs"].map(lambda x: x[0]))
    pairs = shop.truths.complementary_pairs
    top_rule = top_complement = in_session = 0
    for pair in pairs:
        mine = single[single["lhs"] == pair.antecedent].sort_values(
            ["confidence", "rhs"], ascending=[False, True]
        )
        top_rule += not mine.empty and mine["rhs"].iloc[0] == pair.consequent
        first = shop.model.complements(pair.antecedent, n=1)
        top_complement += bool(first) and first[0].item == pair.consequent
        picks = shop.model.recommend("new visitor", Context(session=(pair.antecedent,)), n=3)
        hit = [r for r in picks if r.item == pair.consequent]
        in_session += bool(hit) and hit[0].reason.kind == "bought_together"
    n = len(pairs)
    assert n >= 20
    # each planted antecedent's most confident rule names its planted consequent
    assert top_rule >= 0.9 * n, (top_rule, n)
    assert top_complement >= 0.9 * n, (top_complement, n)
    assert in_session >= 0.9 * n, (in_session, n)
    ramen = next(p for p in pairs if shop.category(p.antecedent) == "라면")
    (first,) = shop.model.complements(ramen.antecedent, n=1)
    assert shop.category(first.item) == "김치" and "함께 구매" in first.reason.ko
    # the reason names the product as the shop does, not by its id
    name = shop.data.catalogue.set_index("item")["name"][ramen.antecedent]
    assert first.reason.ko == f"{with_particle(name, '과/와')} 자주 함께 구매", first.reason
    assert first.reason.en == f"bought together with {name}"


def _count(
    model: HybridRecommender, shop: Shop, users: list[str], context: Context, category: str, n: int
) -> int:
    return sum(
        shop.category(r.item) == category for user in users for r in model.recommend(user, context, n=n)
    )


def test_weather_moves_coats_and_rain_gear_the_planted_way(shop: Shop) -> None:
    users = sorted(shop.data.interactions["user"].unique())[:150]
    cold, mild = Context(temp_c=-6.0, precip_mm=0.0), Context(temp_c=12.0, precip_mm=0.0)
    rainy, dry = Context(temp_c=5.0, precip_mm=25.0), Context(temp_c=5.0, precip_mm=0.0)
    coats_cold = _count(shop.model, shop, users, cold, "아우터", 10)
    coats_mild = _count(shop.model, shop, users, mild, "아우터", 10)
    # at least one customer in ten is offered a coat on a cold day, hardly anyone on a mild one (the
    # demo's restocked consumables take some of the lists' places since the demo plants them)
    assert coats_cold >= 15 and coats_cold >= 3 * coats_mild, (coats_cold, coats_mild)
    rain_wet = _count(shop.model, shop, users, rainy, "레인용품", 10)
    rain_dry = _count(shop.model, shop, users, dry, "레인용품", 10)
    assert rain_wet >= 20 and rain_wet >= 3 * rain_dry, (rain_wet, rain_dry)
    # new visitors get context-aware popular items, and the reason says why
    visitor = shop.model.recommend("new", Context(region="서울", temp_c=-6.0, precip_mm=0.0), n=50)
    coats = [r for r in visitor if shop.category(r.item) == "아우터"]
    assert coats and all(r.reason.kind == "weather" for r in coats)
    mild_visitor = shop.model.recommend("new", Context(region="서울", temp_c=12.0, precip_mm=0.0), n=50)
    assert len(coats) > sum(shop.category(r.item) == "아우터" for r in mild_visitor)
    # the weather table is used when the context names only the region and the day
    weather = shop.data.weather
    coldest = weather.sort_values(["temp_c", "region"]).iloc[0]
    now = pd.Timestamp(coldest["day"]).tz_localize("Asia/Seoul") + pd.Timedelta(hours=12)
    looked_up = shop.model.context_.weather_of(Context(region=coldest["region"], now=now.to_pydatetime()))
    assert looked_up is not None and looked_up[0] == pytest.approx(coldest["temp_c"])


def test_the_rain_lift_is_learned_from_the_days_it_rained(shop: Shop) -> None:
    """Nothing in the context step knows rain gear: its lift on a wet day comes from the purchases
    on wet days. With the same rain moved to other days (each region keeps its days' amounts,
    shuffled by a seeded permutation) the rain gear is no longer lifted."""
    data = shop.data
    rain_gear = data.catalogue.loc[data.catalogue["category"] == "레인용품", "item"].tolist()
    wet, dry = Context(precip_mm=25.0), Context(precip_mm=0.0)

    def lifts(weather: pd.DataFrame) -> tuple[float, float]:
        lift = ContextLift().fit(data.interactions, data.catalogue, weather)
        return float(lift.lift(rain_gear, wet)[0].mean()), float(lift.lift(rain_gear, dry)[0].mean())

    real_wet, real_dry = lifts(data.weather)
    assert real_wet >= 4 and real_dry <= 0.5, (real_wet, real_dry)
    rng = np.random.default_rng(0)
    moved = data.weather.copy()
    for _, rows in moved.groupby("region").groups.items():
        moved.loc[rows, "precip_mm"] = rng.permutation(moved.loc[rows, "precip_mm"].to_numpy())
    moved_wet, moved_dry = lifts(moved)
    assert 0.5 <= moved_dry <= 1.5 and moved_wet <= 2, (moved_wet, moved_dry)


def test_region_lifts_local_specialities(shop: Shop) -> None:
    better, reasons = 0, []
    regional = shop.truths.regional_products
    for item, region in regional.items():
        home = [r for r in shop.model.recommend("new", Context(region=region), n=100)]
        away = [r.item for r in shop.model.recommend("new", Context(region="서울"), n=100)]
        mine = [k for k, r in enumerate(home) if r.item == item]
        rank_home = mine[0] if mine else 100
        rank_away = away.index(item) if item in away else 100
        better += rank_home < rank_away
        if mine:
            reasons.append(home[mine[0]].reason)
    assert better >= 0.6 * len(regional), (better, len(regional))
    assert any(r.kind == "popular_in_region" and r.ko.endswith("에서 인기") for r in reasons)
    # known customers get their own region's lift without naming it
    busan = shop.data.interactions.query("region == '부산'")["user"].iloc[0]
    assert shop.model._state.local(busan, Context()).region == "부산"


def test_alternatives_stay_in_the_category_and_diversity_caps_it(shop: Shop) -> None:
    ramen = next(
        p.antecedent for p in shop.truths.complementary_pairs if shop.category(p.antecedent) == "라면"
    )
    alternatives = shop.model.similar_items(ramen, n=3)
    assert [shop.category(r.item) for r in alternatives] == ["라면"] * 3
    user = shop.data.interactions["user"].value_counts().index[0]
    capped = HybridRecommender(max_per_category=2, n_estimators=50).fit(
        shop.data.interactions, shop.data.catalogue, weather=shop.data.weather
    )
    got = capped.recommend(user, n=10)
    counts = pd.Series([shop.category(r.item) for r in got]).value_counts()
    assert len(got) == 10 and counts.max() <= 2
    assert np.isfinite([r.score for r in got]).all()


def test_a_stored_model_read_back_answers_as_the_fitted_one(shop: Shop, tmp_path: Path) -> None:
    """The hybrid of the demo shop stored (JSON and a numpy .npz, no pickle) and read back, as
    ``shopmind recommend for`` reads the model a run stored: the same items, scores and reasons
    for known customers (from the in-process index and ranked live) and new visitors, with and
    without a region, weather, an hour and a cart; the same complements and alternatives."""
    save_recommender(shop.model, tmp_path)
    loaded = load_recommender(tmp_path).model
    assert isinstance(loaded, HybridRecommender) and loaded.ranker_ is not None
    users = sorted(shop.data.interactions["user"].unique())
    sample = [*users[:: max(1, len(users) // 120)], "new visitor"]
    ramen = shop.truths.complementary_pairs[0].antecedent
    contexts = [
        Context(),  # known customers: the in-process index
        Context(region="부산", temp_c=-5.0),
        Context(region="강원", now=datetime(2026, 2, 10, 7, tzinfo=UTC)),  # the weather table's day
        Context(temp_c=12.0, precip_mm=25.0),
        Context(session=(ramen,), exclude=frozenset({ramen})),
    ]
    compared = 0
    for user in sample:
        for context in contexts:
            assert loaded.recommend(user, context, n=10) == shop.model.recommend(user, context, n=10)
            compared += 1
    assert compared >= 500
    for item in shop.data.catalogue["item"].tolist()[::5]:
        assert loaded.complements(item, n=10) == shop.model.complements(item, n=10)
        assert loaded.similar_items(item, n=10) == shop.model.similar_items(item, n=10)
