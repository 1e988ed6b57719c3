"""ContentRecommender: the recommender contract, Korean and English product text, new items that
nobody has bought yet, and its inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopmind.core import InvalidInputError
from shopmind.recommend._base import Context
from shopmind.recommend._content import ContentRecommender, tokenize
from tests.test_recommender_contract import _data, check_contract

SHOP = pd.DataFrame(
    [
        ("K01", "신라면 멀티팩 5입", "라면", "농심", 4_900, None),
        ("K02", "진라면 매운맛 멀티팩", "라면", "오뚜기", 3_900, None),
        ("K03", "포기김치 1kg", "김치", "종가", 12_900, None),
        ("K04", "총각김치 1kg", "김치", "비비고", 13_900, None),
        ("K05", "제주 감귤 3kg", "과일", "제주농협", 19_900, None),
        ("K06", "Red wool coat", "아우터", "Northwind", 189_000, "red"),
        ("K07", "Blue wool coat", "아우터", "Contoso", 179_000, "blue"),
        ("K08", "Rain boots", "신발", "Northwind", 129_000, "red"),
        ("K09", "불닭볶음면 멀티팩 5입", "라면", "삼양", 5_900, None),  # new: nobody bought it yet
    ],
    columns=["item", "name", "category", "brand", "price", "colour"],
)
BOUGHT = pd.DataFrame(
    {
        "user": ["a", "a", "b", "b", "c", "d", "d", "e"],
        "item": ["K01", "K02", "K03", "K04", "K05", "K06", "K08", "K01"],
        "weight": [1, 2, 1, 1, 3, 1, 1, 1],
    }
)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    interactions, catalogue = _data()
    i = np.arange(len(catalogue))
    catalogue = catalogue.assign(
        brand=np.where(i % 3 == 0, "농심", np.where(i % 3 == 1, "오뚜기", "종가")),
        name=[
            f"{c} 세트 {b}"
            for c, b in zip(catalogue["category"], ["실속", "프리미엄", "대용량"] * 10, strict=True)
        ],
        price=1_000.0 + 500.0 * i,
    )
    return interactions, catalogue


@pytest.fixture(scope="module")
def shop() -> ContentRecommender:
    return ContentRecommender().fit(BOUGHT, SHOP)


def test_contract(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    model = check_contract(ContentRecommender, *data)
    assert model.similar_items("P01", n=5)  # the catalogue alone makes items similar


def test_kiwi_splits_korean_product_names_into_nouns() -> None:
    assert {"포기", "김치"} <= set(tokenize("포기김치"))
    assert {"신라면", "라면", "멀티"} <= set(tokenize("신라면멀티팩"))
    assert "김치" in tokenize("총각김치 1kg")  # a compound meets its parts through its bigrams
    assert "1" not in tokenize("총각김치 1kg") and "kg" not in tokenize("총각김치 1kg")
    assert tokenize("Red wool coats") == ["red", "wool", "coat"]
    assert tokenize("SET OF 3 CAKE TINS") == ["set", "cake", "tin"]


@pytest.mark.parametrize(("item", "nearest"), [("K01", "K02"), ("K03", "K04"), ("K06", "K07")])
def test_similar_items_follow_the_text_and_attributes(
    shop: ContentRecommender, item: str, nearest: str
) -> None:
    top = shop.similar_items(item, n=3)
    assert top[0].item == nearest
    name = SHOP.set_index("item").loc[item, "name"]
    assert top[0].reason.kind == "similar" and name in top[0].reason.ko and name in top[0].reason.en


def test_new_catalogue_items_are_recommended_and_have_neighbours(shop: ContentRecommender) -> None:
    assert "K09" in shop.items_ and "K09" not in set(BOUGHT["item"])
    # a ramen buyer is offered the new ramen, because of the ramen they bought
    first = shop.recommend("a", n=1)[0]
    assert first.item == "K09" and first.reason.kind == "similar"
    assert {"신라면 멀티팩 5입", "진라면 매운맛 멀티팩"} & {first.reason.en.removeprefix("similar to ")}
    similar = shop.similar_items("K09", n=3)
    assert {r.item for r in similar[:2]} == {"K01", "K02"}
    # and a new visitor looking at it in the session is offered the other ramen, not it again
    session = shop.recommend("someone new", Context(session=("K09",)), n=2)
    assert {r.item for r in session} == {"K01", "K02"}
    assert all("불닭볶음면" in r.reason.ko for r in session)


def test_cold_start_is_popularity_and_seen_items_come_back_when_asked(shop: ContentRecommender) -> None:
    newcomer = shop.recommend("someone new", n=3)
    assert newcomer[0].item == "K01" and all(r.reason.kind == "popular" for r in newcomer)  # 2 buyers
    again = ContentRecommender(exclude_seen=False).fit(BOUGHT, SHOP).recommend("b", n=2)
    assert {r.item for r in again} == {"K03", "K04"}


def test_items_outside_the_catalogue_are_like_nothing() -> None:
    bought = pd.concat([BOUGHT, pd.DataFrame({"user": ["f"], "item": ["X1"], "weight": [1]})])
    model = ContentRecommender().fit(bought, SHOP)
    assert "X1" in model.items_ and model.similar_items("X1") == []
    assert all(r.reason.kind == "popular" for r in model.recommend("f", n=3))


def test_the_catalogue_is_required_and_parameters_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="catalogue"):
        ContentRecommender().fit(BOUGHT)
    with pytest.raises(InvalidInputError, match="catalogue"):
        ContentRecommender().fit(BOUGHT, SHOP.drop(columns="item"))
    with pytest.raises(InvalidInputError, match="catalogue"):
        ContentRecommender().fit(BOUGHT, pd.concat([SHOP, SHOP.head(1)]))
    model = ContentRecommender()
    with pytest.raises(InvalidInputError, match="catalogue"):
        model.fit(BOUGHT, None)
    assert not hasattr(model, "items_")  # nothing half-fitted
    with pytest.raises(InvalidInputError, match="price_bands"):
        ContentRecommender(price_bands=-1).fit(BOUGHT, SHOP)
    with pytest.raises(InvalidInputError, match="text_weight"):
        ContentRecommender(text_weight=-1.0).fit(BOUGHT, SHOP)
    with pytest.raises(InvalidInputError, match="text_weight"):
        ContentRecommender(text_weight=0, attribute_weight=0).fit(BOUGHT, SHOP)


def test_text_only_and_attributes_only_still_work() -> None:
    text_only = ContentRecommender(attribute_weight=0).fit(BOUGHT, SHOP)
    assert text_only.similar_items("K06", n=1)[0].item == "K07"
    plain = ContentRecommender(text_weight=0, price_bands=0).fit(BOUGHT, SHOP[["item", "category"]])
    assert plain.similar_items("K03", n=1)[0].item == "K04"
