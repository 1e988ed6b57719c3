"""The declared experiment and its deterministic assignment: bad definitions are refused naming the
field; a unit's variant is reproducible, follows the shares, and layers keep experiments apart."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from shopmind.core import InvalidInputError
from shopmind.experiments import Assigner, Experiment, experiment_json, parse_experiment, unit_point

BASE = {
    "id": "exit-copy",
    "name": "이탈 팝업 문구",
    "point": {"kind": "placement", "placement": "popup", "trigger": "exit-coupon"},
    "variants": [
        {"name": "control", "trigger": "exit-coupon"},
        {"name": "free-shipping", "trigger": "exit-ship"},
    ],
}


def experiment(**changes: object) -> Experiment:
    return parse_experiment({**BASE, **changes})


def refused(**changes: object) -> dict[str, str]:
    with pytest.raises(InvalidInputError) as caught:
        experiment(**changes)
    return {e.field: e.reason for e in caught.value.errors}


def test_a_definition_round_trips_through_its_json() -> None:
    e = experiment(metrics=[{"name": "revenue", "kind": "revenue", "cap_quantile": 0.99}])
    assert parse_experiment(experiment_json(e)) == e
    assert e.control.name == "control"
    assert e.shares() == [0.5, 0.5]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"traffic": 0.0}, "traffic", "above 0"),
        ({"traffic": 1.5}, "traffic", "at most 1"),
        (
            {"variants": [{"name": "a", "share": 0.7}, {"name": "b", "share": 0.5}]},
            "variants",
            "120%, above 100%",
        ),
        ({"variants": [{"name": "a", "share": 0.3}, {"name": "b", "share": 0.3}]}, "variants", "below 100%"),
        ({"variants": [{"name": "a", "share": 0.5}, {"name": "b"}]}, "variants", "every variant a share"),
        ({"variants": [{"name": "a"}]}, "variants", "at least two"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, "variants[1].name", "more than one"),
        ({"id": "Bad Id"}, "id", "lower-case"),
        ({"metrics": []}, "metrics", "at least one"),
        ({"metrics": [{"name": "m", "kind": "happiness"}]}, "metrics[0].kind", "expected one of"),
        (
            {"metrics": [{"name": "m", "kind": "revenue", "cap_quantile": 1.2}]},
            "metrics[0].cap_quantile",
            "quantile",
        ),
        ({"layer": {"name": "popup", "start": 0.6, "end": 0.4}}, "layer", "start < end"),
        (
            {"policy": {"kind": "contextual"}, "point": {"kind": "send_time", "campaign": "c"}},
            "policy.kind",
            "",
        ),
        ({"analysis": {"alpha": 0.0}}, "analysis.alpha", "above 0"),
    ],
)
def test_a_bad_definition_names_the_field_and_why(changes: dict[str, object], field: str, words: str) -> None:
    errors = refused(**changes)
    assert field in errors, errors
    assert words in errors[field]


def test_unknown_and_missing_fields_are_named() -> None:
    assert refused(colour="blue") == {"colour": "unknown field"}
    with pytest.raises(InvalidInputError) as caught:
        parse_experiment({"id": "x", "name": "x", "variants": []})
    assert caught.value.errors[0].field == "point"


def test_each_decision_point_needs_its_variant_field() -> None:
    rec = {"kind": "recommendations"}
    assert "variants[0].strategy" in refused(
        point=rec, variants=[{"name": "a"}, {"name": "b", "strategy": "popularity"}]
    )
    send = {"kind": "send_time", "campaign": "c"}
    assert "variants[1].send_time" in refused(
        point=send, variants=[{"name": "a", "send_time": "best_hour"}, {"name": "b", "send_time": "25:00"}]
    )


def test_the_assignment_is_reproducible_and_follows_the_shares() -> None:
    e = experiment(
        variants=[{"name": "a", "share": 0.2}, {"name": "b", "share": 0.3}, {"name": "c", "share": 0.5}]
    )
    first, again = Assigner(e, key="k"), Assigner(e, key="k")
    units = [f"p{i}" for i in range(30_000)]
    assigned = [first(u) for u in units]
    assert assigned == [again(u) for u in units]
    counts = Counter(assigned)
    chi2 = stats.chisquare([counts["a"], counts["b"], counts["c"]], [6_000, 9_000, 15_000])
    assert chi2.pvalue > 0.001, counts
    # another key (another workspace) shuffles the units
    other = Assigner(e, key="other")
    assert sum(other(u) != first(u) for u in units[:2000]) > 1000


def test_traffic_admits_its_share_and_a_new_salt_reshuffles() -> None:
    e = experiment(traffic=0.25)
    a = Assigner(e)
    inside = sum(a(f"u{i}") is not None for i in range(20_000))
    assert stats.binomtest(inside, 20_000, 0.25).pvalue > 0.001
    salted = Assigner(experiment(traffic=0.25, salt="second-run"))
    assert sum((a(f"u{i}") is None) != (salted(f"u{i}") is None) for i in range(2000)) > 300


def test_experiments_of_one_layer_never_share_a_unit() -> None:
    left = Assigner(experiment(id="left", layer={"name": "popup", "start": 0.0, "end": 0.5}))
    right = Assigner(experiment(id="right", layer={"name": "popup", "start": 0.5, "end": 1.0}))
    units = [f"u{i}" for i in range(10_000)]
    both = sum(left(u) is not None and right(u) is not None for u in units)
    either = sum(left(u) is not None or right(u) is not None for u in units)
    assert both == 0
    assert either == len(units)  # the two halves cover the layer


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_a_unit_point_lies_in_the_unit_interval(salt: str, unit: str) -> None:
    assert 0.0 <= unit_point("", salt, unit) < 1.0
