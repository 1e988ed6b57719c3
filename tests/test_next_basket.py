"""Next-basket evaluation: each customer's last basket held out, every item of it counted (repeat
purchases too), beside the personal top-frequency baseline."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from shopmind.core import InvalidInputError
from shopmind.recommend import (
    Context,
    ModelState,
    PersonalTopFrequency,
    PopularityRecommender,
    Recommendation,
    evaluate_next_basket,
    next_basket_split,
)

T0 = pd.Timestamp("2026-03-01 10:00", tz="UTC")


def _day(n: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=n)


def _small() -> pd.DataFrame:
    """a: three baskets (the last one 라면 + 생수); b: two; c: one basket only (never tested)."""
    rows = [
        ("a", "라면", _day(0)),
        ("a", "김치", _day(0)),
        ("a", "라면", _day(7)),
        ("a", "라면", _day(14)),
        ("a", "생수", _day(14)),
        ("b", "김치", _day(1)),
        ("b", "세제", _day(3)),
        ("b", "김치", _day(3)),
        ("c", "라면", _day(2)),
        ("c", "세제", _day(2)),
    ]
    return pd.DataFrame(rows, columns=["user", "item", "time"]).assign(kind="purchase")


def test_split_holds_out_each_customers_last_basket() -> None:
    frame = pd.concat(
        [_small(), pd.DataFrame({"user": ["a"], "item": ["TV"], "time": [_day(15)], "kind": ["view"]})]
    )
    split = next_basket_split(frame)
    assert split.relevant == {"a": frozenset({"라면", "생수"}), "b": frozenset({"세제", "김치"})}
    assert split.repeats == {"a": frozenset({"라면"}), "b": frozenset({"김치"})}
    assert split.basket_time["a"] == _day(14)
    train = split.train
    # a's last basket and the view after it are gone; c (one basket) stays whole
    assert set(map(tuple, train.loc[train.user == "a", ["item", "time"]].to_numpy().tolist())) == {
        ("라면", _day(0)),
        ("김치", _day(0)),
        ("라면", _day(7)),
    }
    assert len(train[train.user == "c"]) == 2 and len(train[train.user == "b"]) == 1
    # with an order column, an order is a basket even when its lines differ in time
    orders = _small().assign(basket=["o1", "o1", "o2", "o3", "o3", "o4", "o5", "o5", "o6", "o6"])
    orders.loc[4, "time"] = _day(14) + pd.Timedelta(seconds=5)
    assert next_basket_split(orders).relevant["a"] == frozenset({"라면", "생수"})
    # orders without times: the last order by its id
    untimed = next_basket_split(orders.drop(columns="time"))
    assert untimed.relevant == split.relevant and untimed.basket_time == {"a": None, "b": None}
    assert len(untimed.train) == len(train)  # the same rows (no view among these orders)


def test_metrics_count_every_item_of_the_basket_repeats_included() -> None:
    """By hand: trained without the held-out baskets, personal top-frequency lists a [라면 (3
    times), 김치] for the basket {라면, 생수} and b [김치 (b's only item), 라면 (the most popular,
    first by id among the ties)] for {세제, 김치}: one hit at rank 1 each."""
    split = next_basket_split(_small())
    table = evaluate_next_basket(
        {"personal": PersonalTopFrequency(), "popular": PopularityRecommender(exclude_seen=False)},
        split,
        k=(1, 2),
    )
    personal = table.set_index("algorithm").loc["personal"]
    lists = {u: [r.item for r in PersonalTopFrequency().fit(split.train).recommend(u, n=2)] for u in "ab"}
    assert lists == {"a": ["라면", "김치"], "b": ["김치", "라면"]}
    assert personal["recall@1"] == pytest.approx(1.0)  # hits / min(K, |basket|): repeats count
    assert personal["recall@2"] == pytest.approx(0.5)
    assert personal["ndcg@2"] == pytest.approx(1 / (1 + 1 / np.log2(3)))
    assert personal["repeat_share@2"] == pytest.approx(3 / 4)  # b had never bought 라면
    assert personal["repeat_recall@2"] == pytest.approx(1.0)
    assert personal["explore_recall@2"] == pytest.approx(0.0)
    assert table.attrs["users"] == 2 and table.attrs["repeat_share_of_baskets"] == pytest.approx(2 / 4)
    # global popularity lists [김치, 라면] to both: a's hit comes second
    popular = table.set_index("algorithm").loc["popular"]
    assert popular["recall@1"] == pytest.approx(0.5) and popular["recall@2"] == pytest.approx(0.5)
    assert popular["fit_s"] >= 0


def test_personal_top_frequency() -> None:
    frame = _small()
    model = PersonalTopFrequency().fit(frame)
    got = model.recommend("b", n=4)
    assert all(isinstance(r, Recommendation) for r in got)
    # b: 김치 on two days, then 세제 once; then the shop's most frequent: 라면 (4 purchase days)
    assert [r.item for r in got] == ["김치", "세제", "라면", "생수"]
    assert [r.reason.ko for r in got] == ["자주 사신 상품", "전에 사신 상품", "인기 상품", "인기 상품"]
    assert got[0].reason.kind == "reorder" and got[0].reason.en == "One you buy often"
    # score: purchase days + (the last one's number + 1) / (most days of a customer + 2) + the
    # item's share of purchase days (popularity / (most + 1)): b's 김치 2 + 2/5 + 3/5
    assert [r.score for r in got] == pytest.approx([3.0, 1 + 2 / 5 + 2 / 5, 4 / 5, 1 / 5])
    assert model.exclude_seen is False
    # a new customer: the most frequent items of the shop
    assert [r.item for r in model.recommend("someone new", n=3)] == ["라면", "김치", "세제"]
    assert "라면" not in {r.item for r in model.recommend("a", Context(exclude=frozenset({"라면"})))}
    state = ModelState()
    model.save_state(state)
    loaded = PersonalTopFrequency.from_state({}, state)
    for user in ("a", "b", "someone new"):
        assert loaded.recommend(user, n=5) == model.recommend(user, n=5)
        assert PersonalTopFrequency().fit(frame.sample(frac=1.0, random_state=4)).recommend(
            user, n=5
        ) == model.recommend(user, n=5)


def test_bad_input_names_the_field() -> None:
    with pytest.raises(InvalidInputError, match="time"):
        next_basket_split(_small().drop(columns="time"))
    with pytest.raises(InvalidInputError, match="interactions"):
        next_basket_split(_small()[_small().user == "c"])
    with pytest.raises(InvalidInputError, match="min_baskets"):
        next_basket_split(_small(), min_baskets=1)
    with pytest.raises(InvalidInputError, match="k"):
        evaluate_next_basket({"p": PersonalTopFrequency()}, _small(), k=(0,))
    with pytest.raises(InvalidInputError, match="max_users"):
        evaluate_next_basket({"p": PersonalTopFrequency()}, _small(), max_users=0)


def _orders_csv(path: Path) -> None:
    """40 customers, up to 5 orders each a week or more apart: 라면 in most orders, two others."""
    rng = np.random.default_rng(0)
    rows = []
    n = 0
    for c in range(40):
        day = int(rng.integers(0, 10))
        for _ in range(int(rng.integers(1, 6))):
            n += 1
            items = ["라면"] if rng.random() < 0.8 else []
            items += rng.choice(["김치", "생수", "세제", "기저귀", "TV"], size=2, replace=False).tolist()
            for item in items:
                at = pd.Timestamp("2026-01-01") + pd.Timedelta(days=day)
                rows.append((f"o{n}", at.isoformat(), item, 1, 3000, f"c{c}"))
            day += int(rng.integers(7, 20))
    columns = ["order_id", "ordered_at", "product_id", "quantity", "unit_price", "customer_id"]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)


def test_cli_prints_the_next_basket_table(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shopmind.cli import app
    from shopmind.cli._recommend import NEXT_BASKET_NAMES
    from shopmind.pipeline import NEXT_BASKET_ALGORITHMS

    assert tuple(NEXT_BASKET_ALGORITHMS) == NEXT_BASKET_NAMES  # the help names them without imports
    _orders_csv(tmp_path / "orders.csv")
    folder = str(tmp_path / "ws")
    runner = CliRunner()
    assert runner.invoke(app, ["init", "-w", folder]).exit_code == 0
    imported = runner.invoke(app, ["import", "orders", str(tmp_path / "orders.csv"), "-w", folder])
    assert imported.exit_code == 0, imported.output
    done = runner.invoke(app, ["evaluate", "next-basket", "-w", folder, "-o", str(tmp_path / "nb.csv")])
    assert done.exit_code == 0, done.output
    assert "Next basket · 34 customers (their last order held out)" in done.output
    for name in NEXT_BASKET_NAMES:
        assert name in done.output
    table = pd.read_csv(tmp_path / "nb.csv").set_index("algorithm")
    assert list(table.index) == list(NEXT_BASKET_NAMES)
    assert {"recall@10", "ndcg@10", "recall@20", "ndcg@20", "repeat_share@10", "fit_s"} <= set(table.columns)
    assert "repeats: the share of the top 10 the customer had bought before" in done.output
    # six products: every top 10 holds the whole basket; the order of the list is what differs
    assert table.loc["repurchase", "ndcg@10"] > table.loc["personal_top", "ndcg@10"]
    bad = runner.invoke(app, ["evaluate", "next-basket", "-w", folder, "-a", "nope"])
    assert bad.exit_code != 0 and "algorithms" in bad.output and "personal_top" in bad.output


class _Recording(PersonalTopFrequency):
    """Personal top-frequency that notes the moment each list is asked for."""

    asked: ClassVar[dict[str, object]] = {}

    def recommend(self, user, context=None, n=10):  # type: ignore[no-untyped-def]
        type(self).asked[str(user)] = context.now if context is not None else None
        return super().recommend(user, context, n)


def test_lists_are_asked_at_the_moment_the_customer_comes_back() -> None:
    evaluate_next_basket({"p": _Recording()}, _small())
    assert _Recording.asked == {"a": _day(14).to_pydatetime(), "b": _day(3).to_pydatetime()}
    evaluate_next_basket({"p": _Recording()}, _small(), at_basket_time=False)
    assert _Recording.asked == {"a": None, "b": None}
