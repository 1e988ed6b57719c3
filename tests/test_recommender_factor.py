"""ALS, BPR and user-based CF: the recommender contract (as in test_recommender_contract.py) and
what each must find on the same small planted data."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shopmind.core import InvalidInputError
from shopmind.recommend._base import Context, Recommender
from shopmind.recommend._errors import NotFittedError
from shopmind.recommend._factor import ALSRecommender, BPRRecommender
from shopmind.recommend._user_cf import UserCFRecommender
from tests.test_recommender_contract import _data, check_contract

ALGORITHMS: dict[str, Callable[..., Recommender]] = {
    "als": ALSRecommender,
    "bpr": BPRRecommender,
    "user cf": UserCFRecommender,
}
FACTOR = ["als", "bpr"]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _data()


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, Recommender]:
    return {name: make().fit(*data) for name, make in ALGORITHMS.items()}


@pytest.mark.parametrize("name", ALGORITHMS)
def test_contract(name: str, data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    model = check_contract(ALGORITHMS[name], *data)
    cold = model.recommend("someone new", Context(region="부산"), n=5)
    assert all(r.reason.kind == "popular" for r in cold)


@pytest.mark.parametrize("name", FACTOR)
def test_factor_models_find_the_planted_complements(name: str, fitted: dict[str, Recommender]) -> None:
    model = fitted[name]
    for a, b in {"P01": "P02", "P03": "P04"}.items():
        similar = model.similar_items(a, n=3)
        assert b in [r.item for r in similar]
        assert similar[0].reason.kind == "similar" and a in similar[0].reason.en
        # a new visitor with a in the session: b near the top (and not a itself), because of a
        session = model.recommend("new visitor", Context(session=(a,)), n=3)
        assert b in [r.item for r in session] and a not in [r.item for r in session]
        top = next(r for r in session if r.item == b)
        assert top.reason.kind == "similar_taste" and a in top.reason.ko and a in top.reason.en


@pytest.mark.parametrize("name", ALGORITHMS)
def test_a_known_customers_session_counts(
    name: str, data: tuple[pd.DataFrame, pd.DataFrame], fitted: dict[str, Recommender]
) -> None:
    interactions, _ = data
    has = interactions.groupby("user")["item"].agg(set)
    user = next(u for u, items in has.items() if not items & {"P01", "P02", "P03", "P04"})
    got = [r.item for r in fitted[name].recommend(user, Context(session=("P03",)), n=3)]
    assert "P04" in got and "P03" not in got


def test_user_cf_offers_what_similar_customers_bought(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    interactions, catalogue = data
    newcomer = pd.DataFrame({"user": ["newcomer", "newcomer"], "item": ["P01", "P12"]})
    model = UserCFRecommender().fit(pd.concat([interactions, newcomer]), catalogue)
    first = model.recommend("newcomer", n=1)[0]
    assert first.item == "P02" and first.reason.kind == "similar_customers"
    assert any(ch.isdigit() for ch in first.reason.en)  # how many neighbours bought it
    assert model.recommend("visitor", Context(session=("P01",)), n=1)[0].item == "P02"
    assert model.similar_items("P01", n=1)[0].item == "P02"


@pytest.mark.parametrize("name", ALGORITHMS)
def test_exclude_seen_false_allows_a_repeat_purchase(
    name: str, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    interactions, catalogue = data
    buyer = interactions.loc[interactions.item == "P01", "user"].iloc[0]
    seen = set(interactions.loc[interactions.user == buyer, "item"])
    again = ALGORITHMS[name](exclude_seen=False).fit(interactions, catalogue).recommend(buyer, n=30)
    assert seen & {r.item for r in again}


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("als", {"factors": 0}, "factors"),
        ("als", {"regularization": -1.0}, "regularization"),
        ("als", {"alpha": 0.0}, "alpha"),
        ("als", {"iterations": 2.5}, "iterations"),
        ("als", {"random_state": "seed"}, "random_state"),
        ("bpr", {"learning_rate": 0.0}, "learning_rate"),
        ("bpr", {"factors": True}, "factors"),
        ("bpr", {"regularization": float("nan")}, "regularization"),
        ("user cf", {"neighbours": 0}, "neighbours"),
        ("user cf", {"shrinkage": -1.0}, "shrinkage"),
    ],
)
def test_bad_hyper_parameters_name_the_field(
    name: str, params: dict[str, Any], field: str, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    model = ALGORITHMS[name](**params)
    with pytest.raises(InvalidInputError, match=field):
        model.fit(*data)
    with pytest.raises(NotFittedError):  # not left half-fitted
        model.recommend("u1")


@pytest.mark.parametrize("name", ALGORITHMS)
def test_the_same_data_in_any_order_gives_the_same_answers(
    name: str, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    interactions, catalogue = data
    # repeated pairs with unequal weights, so that their sums depend on the order of the rows
    rows = pd.concat([interactions.assign(weight=2.0), interactions.iloc[:50].assign(weight=0.1)])
    a = ALGORITHMS[name]().fit(rows, catalogue)
    b = ALGORITHMS[name]().fit(rows.sample(frac=1.0, random_state=7), catalogue)
    for user, context in [
        ("u5", Context()),
        ("u9", Context(session=("P03",))),
        ("new", Context(session=("P01", "P12"))),
    ]:
        assert a.recommend(user, context, n=10) == b.recommend(user, context, n=10)
    assert a.similar_items("P10", n=10) == b.similar_items("P10", n=10)
    if name in FACTOR:
        assert np.array_equal(a.item_factors_, b.item_factors_)  # type: ignore[attr-defined]


def test_fitting_is_quiet(
    data: tuple[pd.DataFrame, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. implicit's OpenBLAS threads warning
        ALSRecommender(iterations=2).fit(*data)
        BPRRecommender(iterations=2).fit(*data)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # no progress bar
