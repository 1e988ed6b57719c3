"""The experiment statistics against oracles on the same aggregates: statsmodels and scipy (in
this environment) and gbstats (GrowthBook's engine, in the peers environment, through files), to
1e-6; the Bayesian integrals against exact sums; and the thin-data edge cases (notes, never NaN)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats import proportion as smp
from statsmodels.stats.multitest import multipletests

from shopmind.core import InvalidInputError
from shopmind.experiments import (
    Analysis,
    Metric,
    MetricResult,
    VariantStats,
    analyse_experiment,
    analyse_metric,
    holm,
    parse_experiment,
    srm_check,
)

FIXED = Analysis(sequential=False, cuped=False)
TOL = 1e-6


def _binary(variant: str, n: int, c: int) -> VariantStats:
    return VariantStats(variant, n, float(c), float(c))


def _sample(
    rng: np.random.Generator, variant: str, x: np.ndarray, pre: np.ndarray | None = None
) -> VariantStats:
    if pre is None:
        return VariantStats(variant, len(x), float(x.sum()), float((x * x).sum()))
    return VariantStats(
        variant,
        len(x),
        float(x.sum()),
        float((x * x).sum()),
        pre_sum=float(pre.sum()),
        pre_sum_squares=float((pre * pre).sum()),
        post_pre_sum=float((x * pre).sum()),
    )


def _no_nan(result: MetricResult) -> None:
    text = json.dumps(
        {"metric": result.metric, "comparisons": [c.__dict__ for c in result.comparisons]},
        default=lambda o: o.__dict__,
    )
    assert "NaN" not in text and "Infinity" not in text


# --- two proportions: statsmodels -------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_conversion_equals_statsmodels_two_proportions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_a, n_b = (int(v) for v in rng.integers(50, 20_000, size=2))
    p = rng.uniform(0.01, 0.5)
    c_a = int(rng.binomial(n_a, p))
    c_b = int(rng.binomial(n_b, p * rng.uniform(0.8, 1.3)))
    alpha = float(rng.choice([0.05, 0.1, 0.01]))
    result = analyse_metric(
        Metric("conversion", "conversion"),
        [_binary("control", n_a, c_a), _binary("b", n_b, c_b)],
        Analysis(alpha=alpha, sequential=False, cuped=False),
        "control",
    )
    (comp,) = result.comparisons
    assert comp.absolute is not None and comp.p_value is not None
    # statsmodels' compare="diff" is the first minus the second: give it the variant first
    low, high = smp.confint_proportions_2indep(c_b, n_b, c_a, n_a, method="wald", alpha=alpha)
    test = smp.test_proportions_2indep(c_b, n_b, c_a, n_a, method="score", correction=False)
    _, z_p = smp.proportions_ztest([c_b, c_a], [n_b, n_a])
    assert comp.absolute.estimate == pytest.approx(c_b / n_b - c_a / n_a, abs=1e-12)
    assert comp.absolute.low == pytest.approx(low, abs=TOL)
    assert comp.absolute.high == pytest.approx(high, abs=TOL)
    assert comp.p_value == pytest.approx(test.pvalue, abs=TOL)
    assert comp.p_value == pytest.approx(z_p, abs=TOL)
    assert comp.adjusted_p_value == comp.p_value  # one comparison: Holm changes nothing


# --- Welch: scipy and statsmodels ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_revenue_equals_welch_of_scipy_and_statsmodels(seed: int) -> None:
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    rng = np.random.default_rng(100 + seed)
    xa = rng.lognormal(3.0, 1.0, size=int(rng.integers(20, 3000))) * (rng.random(1) < 2)
    xb = rng.lognormal(3.1, 1.2, size=int(rng.integers(20, 3000)))
    xa = np.where(rng.random(len(xa)) < 0.6, 0.0, xa)
    xb = np.where(rng.random(len(xb)) < 0.6, 0.0, xb)
    result = analyse_metric(
        Metric("revenue", "revenue"), [_sample(rng, "a", xa), _sample(rng, "b", xb)], FIXED, "a"
    )
    (comp,) = result.comparisons
    assert comp.absolute is not None and comp.p_value is not None
    sp = st.ttest_ind(xb, xa, equal_var=False)
    cm = CompareMeans(DescrStatsW(xb), DescrStatsW(xa))
    low, high = cm.tconfint_diff(alpha=0.05, usevar="unequal")
    assert comp.p_value == pytest.approx(sp.pvalue, abs=TOL)
    assert comp.absolute.estimate == pytest.approx(xb.mean() - xa.mean(), rel=1e-9)
    assert comp.absolute.low == pytest.approx(low, rel=TOL)
    assert comp.absolute.high == pytest.approx(high, rel=TOL)
    a, b = result.variants
    assert a.value == pytest.approx(xa.mean()) and b.units == len(xb)
    assert a.interval is not None
    assert a.interval.low == pytest.approx(DescrStatsW(xa).tconfint_mean()[0], rel=TOL)


# --- SRM: scipy's chi-square -----------------------------------------------------------------


def test_srm_equals_chi_square_and_flags_a_broken_split() -> None:
    check = srm_check({"a": 5200, "b": 4800}, {"a": 0.5, "b": 0.5}, 0.001)
    expected = st.chisquare([5200, 4800], [5000, 5000])
    assert check.chi_square == pytest.approx(expected.statistic, rel=1e-12)
    assert check.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert check.flagged
    fine = srm_check({"a": 5030, "b": 4970}, {"a": 0.5, "b": 0.5}, 0.001)
    assert not fine.flagged
    three = srm_check({"a": 2000, "b": 1000, "c": 1100}, {"a": 2, "b": 1, "c": 1}, 0.001)
    assert three.expected_shares == {"a": 0.5, "b": 0.25, "c": 0.25}
    assert three.p_value == pytest.approx(
        st.chisquare([2000, 1000, 1100], [2050, 1025, 1025]).pvalue, rel=1e-9
    )


def test_srm_with_nothing_observed_or_a_missing_variant() -> None:
    empty = srm_check({}, {"a": 0.5, "b": 0.5}, 0.001)
    assert empty.chi_square is None and empty.p_value is None and not empty.flagged
    missing = srm_check({"a": 1000}, {"a": 0.5, "b": 0.5}, 0.001)
    assert missing.observed == {"a": 1000, "b": 0} and missing.flagged
    with pytest.raises(InvalidInputError, match="without a share"):
        srm_check({"a": 10, "zzz": 3}, {"a": 0.5, "b": 0.5}, 0.001)


# --- Holm: statsmodels ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_holm_equals_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=int(rng.integers(1, 12))).tolist()
    if seed == 0:
        p = [0.01, 0.01, 0.04, 0.5, 0.0]
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-12)
    assert holm([]) == []


# --- thin data: notes, never NaN ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "stats", "note"),
    [
        (Metric("c", "conversion"), [_binary("a", 0, 0), _binary("b", 0, 0)], "no units exposed yet"),
        (Metric("c", "conversion"), [_binary("a", 500, 0), _binary("b", 480, 0)], "no conversions yet"),
        (Metric("c", "conversion"), [_binary("a", 500, 20), _binary("b", 0, 0)], "no units in b"),
        (Metric("c", "conversion"), [_binary("b", 500, 20)], "no units in the control"),
        (
            Metric("r", "revenue"),
            [VariantStats("a", 300, 900.0, 2700.0), VariantStats("b", 200, 600.0, 1800.0)],
            "no variation",
        ),
        (
            Metric("r", "revenue"),
            [VariantStats("a", 1, 5.0, 25.0), VariantStats("b", 200, 600.0, 2800.0)],
            "fewer than 2 units",
        ),
    ],
)
def test_thin_data_gives_notes_not_nan(metric: Metric, stats: list[VariantStats], note: str) -> None:
    result = analyse_metric(metric, stats, Analysis(), "a")
    (comp,) = result.comparisons
    assert comp.note is not None and comp.note.startswith("not enough data") and note in comp.note
    assert comp.absolute is None and comp.p_value is None and comp.decision == "inconclusive"
    assert result.note is not None and result.note.startswith("not enough data")
    _no_nan(result)


def test_a_control_at_zero_has_a_difference_but_no_relative_lift() -> None:
    result = analyse_metric(
        Metric("c", "conversion"), [_binary("a", 2000, 0), _binary("b", 2000, 40)], Analysis(), "a"
    )
    (comp,) = result.comparisons
    assert comp.absolute is not None and comp.absolute.estimate == pytest.approx(0.02)
    assert comp.relative is None and comp.sequential is None
    assert comp.p_value is not None and comp.p_value < 1e-6
    assert comp.sequential_p_value is not None and comp.decision == "better"
    assert result.note is None
    _no_nan(result)


def test_experiment_holm_over_goal_and_guardrails_and_srm() -> None:
    experiment = parse_experiment(
        {
            "id": "popup",
            "name": "popup",
            "point": {"kind": "placement", "placement": "popup", "trigger": "t"},
            "variants": [
                {"name": "control", "trigger": "t"},
                {"name": "b", "trigger": "u"},
                {"name": "c", "trigger": "v"},
            ],
            "metrics": [
                {"name": "conversion", "kind": "conversion"},
                {"name": "revenue", "kind": "revenue"},
                {"name": "unsubscribes", "kind": "unsubscribes", "guardrail": True},
            ],
            "analysis": {"sequential": False, "cuped": False},
        }
    )
    rng = np.random.default_rng(7)
    stats = {
        "conversion": [_binary("control", 3000, 90), _binary("b", 3000, 130), _binary("c", 3000, 100)],
        "revenue": [
            _sample(rng, v, rng.exponential(mu, 3000) * (rng.random(3000) < 0.03))
            for v, mu in (("control", 50.0), ("b", 60.0), ("c", 50.0))
        ],
        "unsubscribes": [_binary("control", 3000, 10), _binary("b", 3000, 30), _binary("c", 3000, 11)],
    }
    srm, results = analyse_experiment(experiment, stats, {"control": 3000, "b": 3000, "c": 3000})
    assert not srm.flagged and srm.p_value == pytest.approx(1.0)
    goal, revenue, unsub = results
    family = [c.p_value for r in (goal, unsub) for c in r.comparisons]
    adjusted = [c.adjusted_p_value for r in (goal, unsub) for c in r.comparisons]
    assert adjusted == pytest.approx(list(multipletests(family, method="holm")[1]), abs=1e-12)
    own = multipletests([c.p_value for c in revenue.comparisons], method="holm")[1]
    assert [c.adjusted_p_value for c in revenue.comparisons] == pytest.approx(list(own), abs=1e-12)
    # b converts more (better) and unsubscribes more (a guardrail: higher is worse)
    assert goal.comparisons[0].decision == "better"
    assert unsub.comparisons[0].absolute is not None and unsub.comparisons[0].absolute.estimate > 0
    assert unsub.comparisons[0].decision == "worse"
    assert unsub.comparisons[0].chance_to_beat_control is not None
    assert unsub.comparisons[0].chance_to_beat_control < 0.05
    # a metric measured for no one: a note, no crash
    srm, results = analyse_experiment(
        experiment, {"conversion": stats["conversion"]}, {"control": 3000, "b": 2500, "c": 3000}
    )
    assert srm.flagged
    assert results[1].note == "not enough data: not measured" and math.isfinite(
        results[0].comparisons[0].p_value or 0
    )
