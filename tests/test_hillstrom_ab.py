"""Kevin Hillstrom's MineThatData e-mail test (64,000 customers randomly split into a men's e-mail,
a women's e-mail and no e-mail; ../shared/data/hillstrom): each e-mail against no e-mail through
``analyse_experiment`` on the sums of the real rows. The per-arm rates equal the published ones,
the intervals equal statsmodels' on the same rows, and CUPED with last year's spend (``history``)
as the pre-exposure value narrows the spend interval."""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats import proportion as smp
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from shopmind.experiments import (
    Analysis,
    Metric,
    VariantStats,
    analyse_experiment,
    analyse_metric,
    parse_experiment,
)
from tests.conftest import data_file

ARMS = {"No E-Mail": "no-email", "Mens E-Mail": "mens", "Womens E-Mail": "womens"}
PUBLISHED = {  # visit / conversion / spend per customer, ../shared/data/README.md
    "mens": (0.18276, 0.01253, 1.42262),
    "womens": (0.15140, 0.00884, 1.07720),
    "no-email": (0.10617, 0.00573, 0.65279),
}
COUNTS = {"mens": 21_307, "womens": 21_387, "no-email": 21_306}


@pytest.fixture(scope="module")
def hillstrom() -> dict[str, dict[str, np.ndarray]]:
    path = data_file("hillstrom", "hillstrom.csv")
    columns: dict[str, dict[str, list[float]]] = {
        a: {"visit": [], "conversion": [], "spend": [], "history": []} for a in ARMS.values()
    }
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            arm = columns[ARMS[row["segment"]]]
            for name in ("visit", "conversion", "spend", "history"):
                arm[name].append(float(row[name]))
    return {a: {k: np.asarray(v) for k, v in cols.items()} for a, cols in columns.items()}


def _stats(arm: str, x: np.ndarray, pre: np.ndarray | None = None) -> VariantStats:
    extra: dict[str, Any] = {}
    if pre is not None:
        extra = {
            "pre_sum": float(pre.sum()),
            "pre_sum_squares": float((pre * pre).sum()),
            "post_pre_sum": float((x * pre).sum()),
        }
    return VariantStats(arm, len(x), float(x.sum()), float((x * x).sum()), **extra)


EXPERIMENT = {
    "id": "hillstrom",
    "name": "MineThatData e-mail test",
    "point": {"kind": "campaign_message", "campaign": "spring"},
    "variants": [
        {"name": "no-email", "text": {"en": "(none)"}},
        {"name": "mens", "text": {"en": "men's"}},
        {"name": "womens", "text": {"en": "women's"}},
    ],
    "metrics": [
        {"name": "visit", "kind": "conversion"},
        {"name": "conversion", "kind": "conversion"},
        {"name": "spend", "kind": "revenue"},
    ],
    "analysis": {"sequential": False, "cuped": False},
}


def test_each_email_against_none_equals_published_rates_and_statsmodels(
    hillstrom: dict[str, dict[str, np.ndarray]],
) -> None:
    experiment = parse_experiment(EXPERIMENT)
    order = ["no-email", "mens", "womens"]
    stats = {m: [_stats(a, hillstrom[a][m]) for a in order] for m in ("visit", "conversion", "spend")}
    srm, results = analyse_experiment(experiment, stats, {a: len(hillstrom[a]["visit"]) for a in order})
    assert srm.observed == COUNTS and not srm.flagged
    visit, conversion, spend = results
    for metric_index, result in enumerate(results):
        for summary in result.variants:
            assert summary.units == COUNTS[summary.variant]
            assert summary.value == pytest.approx(PUBLISHED[summary.variant][metric_index], abs=5e-6)
    control = hillstrom["no-email"]
    print()
    for result in (visit, conversion):
        for comp in result.comparisons:
            arm = hillstrom[comp.variant][result.metric]
            c_b, n_b = int(arm.sum()), len(arm)
            c_a, n_a = int(control[result.metric].sum()), len(control[result.metric])
            low, high = smp.confint_proportions_2indep(c_b, n_b, c_a, n_a, method="wald")
            test = smp.test_proportions_2indep(c_b, n_b, c_a, n_a, method="score", correction=False)
            assert comp.absolute is not None and comp.relative is not None
            assert comp.absolute.low == pytest.approx(low, abs=1e-9)
            assert comp.absolute.high == pytest.approx(high, abs=1e-9)
            assert comp.p_value == pytest.approx(test.pvalue, rel=1e-6, abs=1e-12)
            assert comp.decision == "better"
            print(
                f"{result.metric:10} {comp.variant:6} vs no e-mail: {comp.absolute.estimate:+.5f} "
                f"[{comp.absolute.low:+.5f}, {comp.absolute.high:+.5f}], lift {comp.relative.estimate:+.1%} "
                f"[{comp.relative.low:+.1%}, {comp.relative.high:+.1%}], p {comp.p_value:.2g}"
            )
    for comp in spend.comparisons:
        arm = hillstrom[comp.variant]["spend"]
        cm = CompareMeans(DescrStatsW(arm), DescrStatsW(control["spend"]))
        low, high = cm.tconfint_diff(usevar="unequal")
        assert comp.absolute is not None
        assert comp.absolute.low == pytest.approx(low, rel=1e-9)
        assert comp.absolute.high == pytest.approx(high, rel=1e-9)
        assert comp.p_value == pytest.approx(
            st.ttest_ind(arm, control["spend"], equal_var=False).pvalue, rel=1e-6
        )
        print(
            f"spend      {comp.variant:6} vs no e-mail: {comp.absolute.estimate:+.4f} "
            f"[{comp.absolute.low:+.4f}, {comp.absolute.high:+.4f}] per customer, p {comp.p_value:.2g}"
        )
    # Holm over the goal (visit) alone here: no guardrails; the others corrected within themselves
    for result in results:
        raw = [c.p_value for c in result.comparisons]
        assert [c.adjusted_p_value for c in result.comparisons] == pytest.approx(
            list(multipletests(raw, method="holm")[1]), rel=1e-9
        )


def test_cuped_with_history_narrows_the_spend_interval(hillstrom: dict[str, dict[str, np.ndarray]]) -> None:
    control = hillstrom["no-email"]
    metric = Metric("spend", "revenue")
    print()
    for arm in ("mens", "womens"):
        treated = hillstrom[arm]
        plain = analyse_metric(
            metric,
            [_stats("no-email", control["spend"]), _stats(arm, treated["spend"])],
            Analysis(sequential=False, cuped=False),
            "no-email",
        ).comparisons[0]
        cuped = analyse_metric(
            metric,
            [
                _stats("no-email", control["spend"], control["history"]),
                _stats(arm, treated["spend"], treated["history"]),
            ],
            Analysis(sequential=False, cuped=True),
            "no-email",
        ).comparisons[0]
        assert plain.absolute is not None and cuped.absolute is not None and cuped.cuped
        width, narrowed = plain.absolute.high - plain.absolute.low, cuped.absolute.high - cuped.absolute.low
        spend = np.concatenate([control["spend"], treated["spend"]])
        history = np.concatenate([control["history"], treated["history"]])
        rho = float(np.corrcoef(spend, history)[0, 1])
        print(
            f"spend, {arm} vs no e-mail: interval width {width:.5f} → {narrowed:.5f} with CUPED on history "
            f"(variance removed {cuped.variance_reduction:.3%}; pre-period correlation {rho:.4f}, ρ² {rho * rho:.3%})"
        )
        assert narrowed < width
        assert cuped.variance_reduction is not None and cuped.variance_reduction > 0
        # the variance removed is what the (weak) correlation predicts
        assert cuped.variance_reduction == pytest.approx(rho * rho, rel=0.25)
        # same effect, adjusted for the small chance imbalance of history between the arms
        assert cuped.absolute.estimate == pytest.approx(plain.absolute.estimate, abs=0.02)
