"""gbstats' answers on the aggregates of a JSON file: run with the peers environment's python
(gbstats 0.8 pins pandas < 2 and numpy < 2), ``python gbstats_oracle.py IN.json OUT.json``.

IN is a list of cases, each ``{"stat": "mean"|"proportion"|"ratio"|"cuped", "a": {...},
"b": {...}, "alpha": 0.05, "tuning": 5000}`` with the sums of control ``a`` and variant ``b``
(``n, sum, sum_squares``; ``pre_sum, pre_sum_squares, post_pre_sum`` for cuped; ``d_sum,
d_sum_squares, x_d_sum`` for ratio; ``proportion`` and ``pre_proportion`` for cuped say which
statistic each part is). OUT is the list of gbstats' results per case: the two-sided t-test on the
absolute and relative scales, the sequential test (relative), the Bayesian effect test
(absolute, flat prior), the SRM p-value when ``srm`` is given, the Bayesian test with a proper
prior on the absolute effect when ``prior`` (mean, variance) is given, and the means/variances."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    compute_theta,
)
from gbstats.utils import check_srm


def _statistic(kind: str, s: dict[str, Any], proportion: bool, pre_proportion: bool) -> Any:
    def part(n: int, total: float, squares: float, as_proportion: bool) -> Any:
        if as_proportion:
            return ProportionStatistic(n=n, sum=total)
        return SampleMeanStatistic(n=n, sum=total, sum_squares=squares)

    n = int(s["n"])
    if kind == "proportion":
        return ProportionStatistic(n=n, sum=s["sum"])
    if kind == "mean":
        return SampleMeanStatistic(n=n, sum=s["sum"], sum_squares=s["sum_squares"])
    if kind == "ratio":
        return RatioStatistic(
            n=n,
            m_statistic=SampleMeanStatistic(n=n, sum=s["sum"], sum_squares=s["sum_squares"]),
            d_statistic=SampleMeanStatistic(n=n, sum=s["d_sum"], sum_squares=s["d_sum_squares"]),
            m_d_sum_of_products=s["x_d_sum"],
        )
    if kind == "cuped":
        return RegressionAdjustedStatistic(
            n=n,
            post_statistic=part(n, s["sum"], s["sum_squares"], proportion),
            pre_statistic=part(n, s["pre_sum"], s["pre_sum_squares"], pre_proportion),
            post_pre_sum_of_products=s["post_pre_sum"],
            theta=0,
        )
    raise ValueError(kind)


def _case(case: dict[str, Any]) -> dict[str, Any]:
    kind = case["stat"]
    alpha = float(case.get("alpha", 0.05))
    tuning = float(case.get("tuning", 5000))
    prop, pre_prop = bool(case.get("proportion")), bool(case.get("pre_proportion"))

    def fresh() -> tuple[Any, Any]:
        # the tests set theta on the statistics they are given: a fresh pair for each test
        return (_statistic(kind, case["a"], prop, pre_prop), _statistic(kind, case["b"], prop, pre_prop))

    out: dict[str, Any] = {}
    for scale in ("absolute", "relative"):
        a, b = fresh()
        r = TwoSidedTTest(a, b, FrequentistConfig(alpha=alpha, difference_type=scale)).compute_result()
        out[scale] = {
            "expected": r.expected,
            "ci": list(r.ci),
            "p_value": r.p_value,
            "error": r.error_message,
        }
    a, b = fresh()
    r = SequentialTwoSidedTTest(
        a, b, SequentialConfig(alpha=alpha, difference_type="relative", sequential_tuning_parameter=tuning)
    ).compute_result()
    out["sequential"] = {
        "expected": r.expected,
        "ci": list(r.ci),
        "p_value": r.p_value,
        "error": r.error_message,
    }
    a, b = fresh()
    bayes = EffectBayesianABTest(
        a, b, EffectBayesianConfig(alpha=alpha, difference_type="absolute", inverse=bool(case.get("inverse")))
    )
    r = bayes.compute_result()
    out["bayes"] = {
        "chance_to_win": r.chance_to_win,
        "risk": list(r.risk),
        "expected": r.expected,
        "error": r.error_message,
    }
    if "prior" in case:
        # a proper normal prior on the absolute effect
        a, b = fresh()
        prior = GaussianPrior(mean=case["prior"]["mean"], variance=case["prior"]["variance"], proper=True)
        config = EffectBayesianConfig(
            alpha=alpha,
            difference_type="absolute",
            prior_type="absolute",
            prior_effect=prior,
            inverse=bool(case.get("inverse")),
        )
        r = EffectBayesianABTest(a, b, config).compute_result()
        out["bayes_prior"] = {"chance_to_win": r.chance_to_win, "risk": list(r.risk), "expected": r.expected}
    a, b = fresh()
    if kind == "cuped":
        theta = compute_theta(a, b)
        a.theta = theta
        b.theta = theta
        out["theta"] = theta
    out["mean"] = [a.mean, b.mean]
    out["variance"] = [float(a.variance), float(b.variance)]
    if "srm" in case:
        out["srm_p"] = float(check_srm(case["srm"]["users"], case["srm"]["weights"]))
    return out


def main() -> None:
    cases = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump([_case(c) for c in cases], f)


if __name__ == "__main__":
    main()
