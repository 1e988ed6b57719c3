"""Association rules: the Groceries golden (R arules' 5,668 rules, rule for rule), the
definitions on small cases, a brute-force property check, and the estimator's contract."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from shopmind.core import InvalidInputError
from shopmind.recommend import AssociationRules, NotFittedError

from .conftest import data_file


def _groceries() -> list[list[str]]:
    path = data_file("groceries", "groceries.csv")
    # not strip(): some item names end in a space ("cream cheese "), also at the end of a line
    return [line.rstrip("\r\n").split(",") for line in path.read_text(encoding="utf-8").splitlines() if line]


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(
        key=[(tuple(sorted(lhs)), rhs) for lhs, rhs in zip(frame.lhs, frame.rhs, strict=True)]
    )


def test_groceries_rules_match_arules_rule_for_rule() -> None:
    baskets = _groceries()
    assert len(baskets) == 9_835 and sum(map(len, baskets)) == 43_367
    model = AssociationRules(min_support=0.001, min_confidence=0.5, max_length=10).fit(baskets)
    assert model.item_counts_["whole milk"] == 2_513 and len(model.item_counts_) == 169
    assert model.frequent_itemsets_.num_rows == 13_492
    ours = _keyed(model.rules_.to_pandas())
    assert len(ours) == 5_668 and ours.key.is_unique
    reference = pd.read_csv(data_file("groceries", "reference_rules_supp0.001_conf0.5.csv"))
    reference["lhs"] = reference.lhs.map(ast.literal_eval)
    both = _keyed(reference).merge(ours, on="key", suffixes=("_ref", ""), validate="one_to_one")
    assert len(both) == 5_668
    for column in ("support", "confidence", "lift"):
        assert np.abs(both[column] - both[f"{column}_ref"]).max() <= 1e-9, column
    assert (both["count"] == both["count_ref"]).all()
    top = ours.iloc[0]
    assert top.lhs.tolist() == ["Instant food products", "soda"] and top.rhs == "hamburger meat"
    assert top.support == pytest.approx(0.001220, abs=1e-6) and top.lift == pytest.approx(18.995654, abs=1e-6)
    assert (np.diff(ours.lift.to_numpy()) <= 0).all()


@pytest.mark.parametrize(("confidence", "rules"), [(0.8, 410), (0.9, 129)])
def test_groceries_rule_counts_at_higher_confidence(confidence: float, rules: int) -> None:
    assert (
        AssociationRules(min_support=0.001, min_confidence=confidence).fit(_groceries()).rules_.num_rows
        == rules
    )


def test_groceries_count_nine_gives_the_classic_off_by_one() -> None:
    """Support 9/9,835 admits itemsets in 9 baskets: the data README's 7,436 / 712 / 270."""
    baskets = _groceries()
    counts = [
        AssociationRules(min_support=9 / 9_835, min_confidence=c).fit(baskets).rules_.num_rows
        for c in (0.5, 0.8, 0.9)
    ]
    assert counts == [7_436, 712, 270]


def _brute_force(baskets: list[set[str]], min_count: int, min_confidence: float, max_length: int) -> dict:
    items = sorted({i for b in baskets for i in b})
    count = {}
    for size in range(1, max_length + 1):
        for combo in itertools.combinations(items, size):
            c = sum(1 for b in baskets if set(combo) <= b)
            if c >= min_count:
                count[combo] = c
    rules = {}
    for combo, c in count.items():
        if len(combo) < 2:
            continue
        for rhs in combo:
            lhs = tuple(i for i in combo if i != rhs)
            if c / count[lhs] >= min_confidence:
                rules[(lhs, rhs)] = (c, c / count[lhs], c / count[lhs] / (count[(rhs,)] / len(baskets)))
    return rules


@settings(max_examples=40, deadline=None)
@given(
    baskets=st.lists(st.sets(st.sampled_from("abcdefg"), max_size=6), min_size=1, max_size=40),
    min_count=st.integers(1, 4),
    min_confidence=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
    max_length=st.integers(2, 5),
)
def test_rules_equal_brute_force(
    baskets: list[set[str]], min_count: int, min_confidence: float, max_length: int
) -> None:
    min_count = min(min_count, len(baskets))  # support is at most 1
    model = AssociationRules(
        min_support=min_count / len(baskets), min_confidence=min_confidence, max_length=max_length
    )
    rules = model.fit(baskets).rules_.to_pandas()
    got = {
        (tuple(lhs), rhs): (count, conf, lift)
        for lhs, rhs, count, conf, lift in zip(
            rules.lhs, rules.rhs, rules["count"], rules.confidence, rules.lift, strict=True
        )
    }
    expected = _brute_force(baskets, min_count, min_confidence, max_length)
    assert got.keys() == expected.keys()
    for key, (count, conf, lift) in expected.items():
        assert (
            got[key][0] == count and got[key][1] == pytest.approx(conf) and got[key][2] == pytest.approx(lift)
        )


def test_definitions_on_a_small_case() -> None:
    baskets = [["라면", "김치"], ["라면", "김치", "계란"], ["라면"], [], ["김치", "라면", "라면"]]
    model = AssociationRules(min_support=0.4, min_confidence=0.6).fit(baskets)
    assert model.n_baskets_ == 5  # the empty basket counts
    rules = {(tuple(r.lhs), r.rhs): r for r in model.rules_.to_pandas().itertuples()}
    ramen_kimchi = rules[(("라면",), "김치")]
    assert ramen_kimchi.count == 3 and ramen_kimchi.support == pytest.approx(
        0.6
    )  # the repeated 라면 counts once
    assert ramen_kimchi.confidence == pytest.approx(3 / 4) and ramen_kimchi.lift == pytest.approx(
        (3 / 4) / (3 / 5)
    )
    assert rules[(("김치",), "라면")].confidence == 1.0
    assert model.consequents(["라면"]) == [("김치", 0.75, ["라면"])]
    assert model.consequents(["라면", "김치"]) == []


def test_contract_errors_and_determinism() -> None:
    model = AssociationRules(min_support=0.2, min_confidence=0.5, max_length=3)
    assert clone(model).get_params() == {"min_support": 0.2, "min_confidence": 0.5, "max_length": 3}
    with pytest.raises(NotFittedError, match="fit"):
        model.consequents(["a"])
    for bad in ({"min_support": 0}, {"min_confidence": 1.5}, {"max_length": 1}):
        with pytest.raises(InvalidInputError) as info:
            AssociationRules(**bad).fit([["a", "b"]])  # type: ignore[arg-type]
        assert next(iter(bad)) in str(info.value)
    with pytest.raises(InvalidInputError, match="basket 0 is a string"):
        AssociationRules().fit(["ab", "bc"])
    with pytest.raises(InvalidInputError, match="no baskets"):
        AssociationRules().fit([])
    rng = np.random.default_rng(3)
    baskets = [
        list(rng.choice(list("abcdefghij"), size=rng.integers(1, 6), replace=False)) for _ in range(300)
    ]
    first = AssociationRules(min_support=0.02, min_confidence=0.3).fit(baskets).rules_
    again = AssociationRules(min_support=0.02, min_confidence=0.3).fit(reversed(baskets)).rules_
    assert first.equals(again)  # the order of the baskets does not matter


def test_items_are_compared_as_text(tmp_path: Path) -> None:
    rules = AssociationRules(min_support=0.5, min_confidence=0.9).fit([[1, "2"], ["1", 2], [1, 2]]).rules_
    assert sorted(map(tuple, rules.column("lhs").to_pylist())) == [("1",), ("2",)]


def test_explosive_settings_stop_with_advice_instead_of_running_out_of_memory() -> None:
    big = [f"item{i}" for i in range(200)]  # two identical 200-item baskets: 2^200 frequent itemsets
    with pytest.raises(InvalidInputError, match="Raise min_support"):
        AssociationRules(min_support=0.5, max_length=10).fit([big, big])
