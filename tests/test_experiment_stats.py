"""The experiment statistics against oracles on the same aggregates: statsmodels and scipy (in
this environment) and gbstats (GrowthBook's engine, in the peers environment, through files), to
1e-6; the Bayesian integrals against exact sums; and the thin-data edge cases (notes, never NaN)."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as st
from scipy.special import betaln
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


# --- gbstats (GrowthBook's engine) in the peers environment, through files -------------------

REPO = Path(__file__).resolve().parents[1]


def _peers_python() -> Path | None:
    """The peers environment's python: the checkout's own, else the main checkout's (a git
    worktree shares it)."""
    candidates = [REPO / ".venv-peers"]
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        candidates.append(Path(common).parent / ".venv-peers")
    except (OSError, subprocess.CalledProcessError):
        pass
    for venv in candidates:
        python = venv / "bin" / "python"
        if python.exists():
            return python
    return None


def _sums(x: np.ndarray, pre: np.ndarray | None = None, d: np.ndarray | None = None) -> dict[str, float]:
    out = {"n": len(x), "sum": float(x.sum()), "sum_squares": float((x * x).sum())}
    if pre is not None:
        out |= {
            "pre_sum": float(pre.sum()),
            "pre_sum_squares": float((pre * pre).sum()),
            "post_pre_sum": float((x * pre).sum()),
        }
    if d is not None:
        out |= {
            "d_sum": float(d.sum()),
            "d_sum_squares": float((d * d).sum()),
            "x_d_sum": float((x * d).sum()),
        }
    return out


def _oracle_cases() -> list[dict[str, Any]]:
    """Random aggregates of every kind gbstats and we share: means (revenue), proportions
    (conversion), ratios (order value), CUPED on means and on proportions."""
    cases: list[dict[str, Any]] = []
    for seed in range(8):
        rng = np.random.default_rng(1000 + seed)
        alpha = [0.05, 0.1, 0.01, 0.2][seed % 4]
        tuning = [5000, 1000, 20000, 300][seed % 4]
        n_a, n_b = (int(v) for v in rng.integers(200, 6000, size=2))
        common = {"alpha": alpha, "tuning": tuning, "seed": seed}
        # revenue per unit: most units buy nothing
        xa = rng.lognormal(3, 1, n_a) * (rng.random(n_a) < 0.2)
        xb = rng.lognormal(3.1, 1, n_b) * (rng.random(n_b) < 0.2)
        srm = {"users": [n_a, n_b, int(n_a * 0.9)], "weights": [0.4, 0.4, 0.2 + 0.1 * (seed % 2)]}
        cases.append(
            {"stat": "mean", "kind": "revenue", "a": _sums(xa), "b": _sums(xb), "srm": srm, **common}
        )
        cases.append(
            {
                "stat": "mean",
                "kind": "unsubscribes",
                "a": _sums(xa > 60),
                "b": _sums(xb > 55),
                "inverse": True,
                **common,
            }
        )
        # conversion
        ca = (rng.random(n_a) < 0.05).astype(float)
        cb = (rng.random(n_b) < 0.06).astype(float)
        cases.append({"stat": "proportion", "kind": "conversion", "a": _sums(ca), "b": _sums(cb), **common})
        # order value = revenue / orders
        oa, ob = rng.poisson(0.3, n_a).astype(float), rng.poisson(0.35, n_b).astype(float)
        ra, rb = oa * rng.gamma(2, 20, n_a), ob * rng.gamma(2, 21, n_b)
        cases.append(
            {"stat": "ratio", "kind": "order_value", "a": _sums(ra, d=oa), "b": _sums(rb, d=ob), **common}
        )
        # CUPED: a pre-period value correlated with the post-period one
        pa, pb = rng.gamma(1, 30, n_a), rng.gamma(1, 30, n_b)
        ya = 0.8 * pa + rng.normal(0, 20, n_a)
        yb = 0.8 * pb + rng.normal(2, 20, n_b)
        cases.append({"stat": "cuped", "kind": "revenue", "a": _sums(ya, pa), "b": _sums(yb, pb), **common})
        qa, qb = (rng.random(n_a) < 0.3).astype(float), (rng.random(n_b) < 0.3).astype(float)
        za = (rng.random(n_a) < 0.05 + 0.2 * qa).astype(float)
        zb = (rng.random(n_b) < 0.06 + 0.2 * qb).astype(float)
        cases.append(
            {
                "stat": "cuped",
                "kind": "conversion",
                "proportion": True,
                "pre_proportion": True,
                "a": _sums(za, qa),
                "b": _sums(zb, qb),
                **common,
            }
        )
    return cases


@pytest.fixture(scope="module")
def gbstats_results(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    python = _peers_python()
    if python is None:
        message = "the gbstats peers environment (.venv-peers) is absent: `make peers` builds it"
        if os.environ.get("SHOPMIND_REQUIRE_PEERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    cases = _oracle_cases()
    folder = tmp_path_factory.mktemp("gbstats")
    (folder / "in.json").write_text(json.dumps(cases), encoding="utf-8")
    subprocess.run(
        [
            str(python),
            str(REPO / "tests" / "peers" / "gbstats_oracle.py"),
            str(folder / "in.json"),
            str(folder / "out.json"),
        ],
        check=True,
        timeout=300,
    )
    return list(zip(cases, json.loads((folder / "out.json").read_text(encoding="utf-8")), strict=True))


def _stats(variant: str, sums: dict[str, float]) -> VariantStats:
    return VariantStats(variant, **sums)  # type: ignore[arg-type]


def _close(ours: float | None, theirs: float) -> None:
    assert ours is not None
    assert ours == pytest.approx(theirs, abs=TOL, rel=TOL)


@pytest.mark.parametrize("index", range(48))
def test_equals_gbstats_on_the_same_aggregates(
    gbstats_results: list[tuple[dict[str, Any], dict[str, Any]]], index: int
) -> None:
    case, gb = gbstats_results[index]
    kind = case["kind"]
    metric = Metric(kind, kind, guardrail=kind == "unsubscribes")
    analysis = Analysis(alpha=case["alpha"], sequential=True, sequential_tuning=case["tuning"], cuped=True)
    result = analyse_metric(metric, [_stats("a", case["a"]), _stats("b", case["b"])], analysis, "a")
    (comp,) = result.comparisons
    assert comp.note is None
    # the relative lift: point, delta-method interval (Welch's degrees of freedom)
    rel = gb["relative"]
    assert comp.relative is not None
    _close(comp.relative.estimate, rel["expected"])
    _close(comp.relative.low, rel["ci"][0])
    _close(comp.relative.high, rel["ci"][1])
    # the always-valid interval and p-value
    seq = gb["sequential"]
    assert comp.sequential is not None
    _close(comp.sequential.low, seq["ci"][0])
    _close(comp.sequential.high, seq["ci"][1])
    _close(comp.sequential_p_value, seq["p_value"])
    if kind == "conversion" and case["stat"] == "proportion":
        # the absolute difference is the two-proportion test (statsmodels, above): same estimate
        assert comp.absolute is not None
        _close(comp.absolute.estimate, gb["absolute"]["expected"])
        return
    ab = gb["absolute"]
    assert comp.absolute is not None
    _close(comp.absolute.estimate, ab["expected"])
    _close(comp.absolute.low, ab["ci"][0])
    _close(comp.absolute.high, ab["ci"][1])
    _close(comp.p_value, ab["p_value"])
    # Bayesian: a normal effect with a flat prior; the loss of choosing the variant
    bayes = gb["bayes"]
    _close(comp.chance_to_beat_control, bayes["chance_to_win"])
    # gbstats flips the risks for an inverse metric: [1] is always the variant's
    _close(comp.expected_loss, bayes["risk"][1])
    if "prior" in case:
        from shopmind.experiments._bayesian import gaussian_effect

        with_prior = gaussian_effect(
            comp.absolute.estimate,
            sum(_stats(v, case[v]).variance / case[v]["n"] for v in ("a", "b")),
            prior_mean=case["prior"]["mean"],
            prior_variance=case["prior"]["variance"],
        )
        assert with_prior is not None
        _close(with_prior.chance_to_beat_control, gb["bayes_prior"]["chance_to_win"])
        _close(with_prior.expected_loss, gb["bayes_prior"]["risk"][1])
    if "srm" in case:
        users, weights = case["srm"]["users"], case["srm"]["weights"]
        check = srm_check(dict(zip("abc", users, strict=True)), dict(zip("abc", weights, strict=True)), 0.001)
        _close(check.p_value, gb["srm_p"])
    if case["stat"] == "cuped":
        assert comp.cuped
        a, b = result.variants
        _close(a.adjusted_value, gb["mean"][0])
        _close(b.adjusted_value, gb["mean"][1])
        assert comp.variance_reduction is not None and 0 < comp.variance_reduction < 1


# --- beta-binomial: the integral against exact sums -------------------------------------------


def _exact_beta_above(a1: int, b1: int, a2: int, b2: int) -> float:
    """P(X > Y), X ~ Beta(a1, b1), Y ~ Beta(a2, b2), integer a1: Evan Miller's closed form
    Σ_{i<a1} B(a2 + i, b1 + b2) / ((b1 + i) B(1 + i, b1) B(a2, b2))."""
    i = np.arange(a1)
    terms = betaln(a2 + i, b1 + b2) - np.log(b1 + i) - betaln(1 + i, b1) - betaln(a2, b2)
    return float(np.exp(terms).sum())


@pytest.mark.parametrize(
    ("c_a", "n_a", "c_b", "n_b"),
    [
        (3, 40, 7, 45),
        (30, 1000, 45, 1000),
        (200, 5000, 180, 5000),
        (0, 300, 2, 300),
        (1500, 30000, 1600, 30000),
    ],
)
def test_beta_binomial_equals_the_exact_sums(c_a: int, n_a: int, c_b: int, n_b: int) -> None:
    from shopmind.experiments._bayesian import beta_binomial

    out = beta_binomial(c_a, n_a, c_b, n_b)
    aa, ba, ab, bb = 1 + c_a, 1 + n_a - c_a, 1 + c_b, 1 + n_b - c_b
    chance = _exact_beta_above(ab, bb, aa, ba)
    assert out.chance_to_beat_control == pytest.approx(chance, abs=1e-9)
    loss = aa / (aa + ba) * _exact_beta_above(aa + 1, ba, ab, bb) - ab / (ab + bb) * _exact_beta_above(
        aa, ba, ab + 1, bb
    )
    assert out.expected_loss == pytest.approx(loss, abs=1e-10)
    flipped = beta_binomial(c_a, n_a, c_b, n_b, lower_is_better=True)
    assert flipped.chance_to_beat_control == pytest.approx(1 - chance, abs=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        (4, 37, 8, 38),
        (31, 971, 46, 956),
        (201, 4801, 181, 4821),
        (1, 301, 3, 299),
        (30001, 970001, 29501, 970501),
    ],
)
def test_the_closed_form_over_any_side_equals_the_integral(params: tuple[int, int, int, int]) -> None:
    """Each way of summing the closed form (over either side's conversions or non-conversions)
    against the numerical integral, which large counts fall back to."""
    from shopmind.experiments._bayesian import _integrated_above, _sum_above

    a1, b1, a2, b2 = params
    integral = _integrated_above(a1, b1, a2, b2)
    # scipy's log-beta at a million carries about 1e-14 relative error: about 1e-9 in P there
    tol = 1e-9 if max(params) < 100_000 else 1e-8
    assert _sum_above(a1, b1, a2, b2) == pytest.approx(integral, abs=tol)
    assert 1 - _sum_above(a2, b2, a1, b1) == pytest.approx(integral, abs=tol)
    assert _sum_above(b2, a2, b1, a1) == pytest.approx(integral, abs=tol)
    assert 1 - _sum_above(b1, a1, b2, a2) == pytest.approx(integral, abs=tol)


def test_beta_binomial_loss_is_the_posterior_expectation() -> None:
    """The size-biased identity for the loss against draws from the posteriors (seeded)."""
    from shopmind.experiments._bayesian import beta_binomial

    rng = np.random.default_rng(3)
    # rates near 1 take the mirrored formula (on 1 - p)
    for c_a, c_b, n in ((30, 38, 1000), (985, 990, 1000), (49_990, 49_996, 50_000)):
        out = beta_binomial(c_a, n, c_b, n)
        pa = rng.beta(1 + c_a, 1 + n - c_a, 2_000_000)
        pb = rng.beta(1 + c_b, 1 + n - c_b, 2_000_000)
        loss = np.maximum(pa - pb, 0.0)
        assert out.expected_loss == pytest.approx(loss.mean(), abs=4 * loss.std() / math.sqrt(len(loss)))
        assert out.chance_to_beat_control == pytest.approx((pb > pa).mean(), abs=0.002)


def test_impossible_sums_are_named_errors() -> None:
    with pytest.raises(InvalidInputError) as exc:
        analyse_metric(
            Metric("c", "conversion"),
            [_binary("a", 100, 120), VariantStats("b", 100, math.nan, 3.0), _binary("a", 5, 1)],
            Analysis(),
            "a",
        )
    fields = {e.field for e in exc.value.errors}
    assert fields == {"stats[0].sum", "stats[1].sum", "stats[2].variant"}


def test_the_sequential_interval_leaves_zero_out_exactly_when_its_p_value_is_below_alpha() -> None:
    from shopmind.experiments._sequential import sequential_interval

    rng = np.random.default_rng(9)
    for _ in range(2000):
        est, var, n = rng.normal(0, 0.1), rng.uniform(1e-4, 1e-2), int(rng.integers(10, 100_000))
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        interval, p = sequential_interval(est, var, n, alpha, 5000)
        if abs(p - alpha) > 1e-9:
            assert (p < alpha) == (not interval.covers(0.0))


def test_decisions_follow_the_sequential_test_or_the_fixed_one() -> None:
    """A difference a fixed-horizon test calls at p ≈ 0.01 is not yet enough for the always-valid one."""
    stats = [_binary("a", 5000, 250), _binary("b", 5000, 310)]
    fixed = analyse_metric(Metric("c", "conversion"), stats, Analysis(sequential=False), "a").comparisons[0]
    seq = analyse_metric(Metric("c", "conversion"), stats, Analysis(sequential=True), "a").comparisons[0]
    assert fixed.p_value is not None and fixed.p_value < 0.05 and fixed.decision == "better"
    assert (
        seq.sequential_p_value is not None
        and seq.sequential_p_value > 0.05
        and seq.decision == "inconclusive"
    )
    assert seq.sequential is not None and seq.relative is not None
    assert seq.sequential.low < seq.relative.low and seq.sequential.covers(0.0)


def test_a_bandit_moves_traffic_on_purpose_so_its_split_is_not_an_srm() -> None:
    experiment = parse_experiment(
        {
            "id": "popup-ts",
            "name": "popup",
            "point": {"kind": "placement", "placement": "popup", "trigger": "t"},
            "variants": [{"name": "control", "trigger": "t"}, {"name": "b", "trigger": "u"}],
            "policy": {"kind": "thompson"},
        }
    )
    stats = {"conversion": [_binary("control", 1000, 30), _binary("b", 9000, 400)]}
    srm, (conversion,) = analyse_experiment(experiment, stats, {"control": 1000, "b": 9000})
    assert not srm.flagged and srm.p_value is None and srm.observed == {"control": 1000, "b": 9000}
    (comp,) = conversion.comparisons
    assert (
        comp.absolute is not None and comp.sequential is not None and comp.chance_to_beat_control is not None
    )


def test_order_value_is_the_ratio_of_sums_with_the_delta_method() -> None:
    rng = np.random.default_rng(11)
    orders = [rng.poisson(0.4, 3000).astype(float) for _ in range(2)]
    revenue = [o * rng.gamma(2.0, 25.0 + 3 * i, len(o)) for i, o in enumerate(orders)]
    stats = [
        VariantStats(
            v,
            len(o),
            float(r.sum()),
            float((r * r).sum()),
            d_sum=float(o.sum()),
            d_sum_squares=float((o * o).sum()),
            x_d_sum=float((r * o).sum()),
        )
        for v, r, o in zip(("a", "b"), revenue, orders, strict=True)
    ]
    result = analyse_metric(Metric("aov", "order_value"), stats, Analysis(sequential=False), "a")
    a, b = result.variants
    assert a.value == pytest.approx(revenue[0].sum() / orders[0].sum())
    (comp,) = result.comparisons
    assert comp.absolute is not None and not comp.cuped
    assert comp.absolute.estimate == pytest.approx(b.value - a.value)  # type: ignore[operator]
    # the delta method's standard error against a bootstrap over customers (seeded)
    boot = []
    for _ in range(400):
        ia, ib = rng.integers(0, 3000, 3000), rng.integers(0, 3000, 3000)
        boot.append(revenue[1][ib].sum() / orders[1][ib].sum() - revenue[0][ia].sum() / orders[0][ia].sum())
    se = (comp.absolute.high - comp.absolute.low) / (2 * st.t.ppf(0.975, 5000))
    assert se == pytest.approx(np.std(boot), rel=0.15)
