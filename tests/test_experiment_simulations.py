"""The statistics behave as they claim, on thousands of simulated experiments (seeded; the data
drawn as whole numpy arrays, the tests run through the same numpy kernels ``analyse_metric``
wraps — checked to agree with it on a sample):

- A/A: the false-positive rate of the fixed-horizon tests and the coverage of their 95% intervals
  lie within the 99% binomial interval of 5% and 95% for the number of experiments run;
- daily looks: stopping at the first look with p < 0.05 finds "winners" in far more than 5% of A/A
  tests, while the sequential (mSPRT) test keeps its rate at or below 5%;
- CUPED removes the share of the variance the pre-period correlation predicts (ρ²);
- SRM flags a 50/50 test served 52/48 at 10k units, and not an honest 50/50 one.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from shopmind.experiments import Analysis, Metric, VariantStats, analyse_metric, srm_check
from shopmind.experiments._frequentist import (
    relative_variance_arrays,
    t_test_arrays,
    two_proportions_arrays,
    welch_dof_arrays,
)
from shopmind.experiments._sequential import sequential_arrays

ALPHA = 0.05


def _binomial_band(trials: int, rate: float) -> tuple[float, float]:
    """The 99% interval of the share of ``trials`` that land on an event of probability ``rate``."""
    low, high = st.binom.interval(0.99, trials, rate)
    return low / trials, high / trials


def _welch(xa_sum, xa_sq, xb_sum, xb_sq, n):  # type: ignore[no-untyped-def]
    mean_a, mean_b = xa_sum / n, xb_sum / n
    var_a = (xa_sq - xa_sum**2 / n) / (n - 1)
    var_b = (xb_sq - xb_sum**2 / n) / (n - 1)
    dof = welch_dof_arrays(var_a, n, var_b, n)
    low, high, p = t_test_arrays(mean_b - mean_a, var_b / n + var_a / n, dof, ALPHA)
    return mean_b - mean_a, low, high, p


def test_aa_false_positives_and_coverage_of_two_proportions() -> None:
    rng = np.random.default_rng(20)
    trials, n, rate = 20_000, 2_000, 0.05
    ca = rng.binomial(n, rate, trials)
    cb = rng.binomial(n, rate, trials)
    _diff, low, high, p, _ = two_proportions_arrays(ca, n, cb, n, ALPHA)
    false_positive = float(np.mean(p < ALPHA))
    covered = float(np.mean((low <= 0) & (high >= 0)))
    print(
        f"\nA/A two proportions, {trials} tests: false positives {false_positive:.2%}, coverage {covered:.2%}"
    )
    lo5, hi5 = _binomial_band(trials, 0.05)
    lo95, hi95 = _binomial_band(trials, 0.95)
    assert lo5 <= false_positive <= hi5
    assert lo95 <= covered <= hi95
    # the kernel is what analyse_metric reports
    for i in range(5):
        result = analyse_metric(
            Metric("c", "conversion"),
            [
                VariantStats("a", n, float(ca[i]), float(ca[i])),
                VariantStats("b", n, float(cb[i]), float(cb[i])),
            ],
            Analysis(sequential=False, cuped=False),
            "a",
        )
        comp = result.comparisons[0]
        assert comp.p_value == pytest.approx(p[i], abs=1e-12)
        assert comp.absolute is not None and comp.absolute.low == pytest.approx(low[i], abs=1e-12)


def test_coverage_of_the_difference_and_the_relative_lift_with_a_real_effect() -> None:
    rng = np.random.default_rng(21)
    trials, n, pa, pb = 20_000, 10_000, 0.05, 0.06
    ca = rng.binomial(n, pa, trials)
    cb = rng.binomial(n, pb, trials)
    _, low, high, _, _ = two_proportions_arrays(ca, n, cb, n, ALPHA)
    covered = float(np.mean((low <= pb - pa) & (pb - pa <= high)))
    # the relative lift (delta method, proportion variances, Welch's degrees of freedom)
    ma, mb = ca / n, cb / n
    va, vb = ma * (1 - ma), mb * (1 - mb)
    var = relative_variance_arrays(ma, va, n, mb, vb, n)
    r_low, r_high, _ = t_test_arrays((mb - ma) / ma, var, welch_dof_arrays(va, n, vb, n), ALPHA)
    true_lift = pb / pa - 1
    rel_covered = float(np.mean((r_low <= true_lift) & (true_lift <= r_high)))
    print(
        f"\n{trials} tests of 5% vs 6%: difference covered {covered:.2%}, relative lift covered {rel_covered:.2%}"
    )
    lo95, hi95 = _binomial_band(trials, 0.95)
    assert lo95 <= covered <= hi95
    assert lo95 <= rel_covered <= hi95


def test_aa_false_positives_and_coverage_of_welch_on_revenue() -> None:
    """Revenue per unit: most units buy nothing, the buyers' amounts skewed (log-normal)."""
    rng = np.random.default_rng(22)
    trials, n = 10_000, 400
    fp = []
    cover_aa = []
    cover_ab = []
    for _ in range(5):  # in chunks: 2 000 tests × 400 units per arm at a time
        chunk = trials // 5
        xa = rng.lognormal(3, 0.8, (chunk, n)) * (rng.random((chunk, n)) < 0.3)
        xb = rng.lognormal(3, 0.8, (chunk, n)) * (rng.random((chunk, n)) < 0.3)
        _, low, high, p = _welch(xa.sum(1), (xa * xa).sum(1), xb.sum(1), (xb * xb).sum(1), n)
        fp.append(p < ALPHA)
        cover_aa.append((low <= 0) & (high >= 0))
        # a variant that adds 5 to every buyer's amount: a known effect 0.3 × 5 = 1.5 per unit
        xc = np.where(xb > 0, xb + 5.0, 0.0)
        _d, low, high, p = _welch(xa.sum(1), (xa * xa).sum(1), xc.sum(1), (xc * xc).sum(1), n)
        cover_ab.append((low <= 1.5) & (high >= 1.5))
    false_positive = float(np.mean(np.concatenate(fp)))
    covered = float(np.mean(np.concatenate(cover_aa)))
    covered_ab = float(np.mean(np.concatenate(cover_ab)))
    print(
        f"\nWelch on revenue, {trials} tests: A/A false positives {false_positive:.2%}, "
        f"coverage {covered:.2%}; with an effect, coverage {covered_ab:.2%}"
    )
    lo5, hi5 = _binomial_band(trials, 0.05)
    lo95, hi95 = _binomial_band(trials, 0.95)
    assert lo5 <= false_positive <= hi5
    assert lo95 <= covered <= hi95
    assert lo95 <= covered_ab <= hi95


def test_daily_looks_sequential_keeps_its_rate_while_peeking_does_not() -> None:
    """4 weeks of daily looks at A/A tests; stop at the first day the test says "significant"."""
    rng = np.random.default_rng(23)
    trials, days, per_day, rate = 4_000, 28, 300, 0.05
    ca = rng.binomial(per_day, rate, (trials, days)).cumsum(axis=1)
    cb = rng.binomial(per_day, rate, (trials, days)).cumsum(axis=1)
    n = per_day * np.arange(1, days + 1)[None, :]
    _, _, _, p_fixed, _ = two_proportions_arrays(ca, n, cb, n, ALPHA)
    ma, mb = ca / n, cb / n
    var = relative_variance_arrays(ma, ma * (1 - ma), n, mb, mb * (1 - mb), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = (mb - ma) / ma
    _, _, p_seq = sequential_arrays(lift, var, 2 * n, ALPHA, Analysis().sequential_tuning)
    p_seq = np.where(np.isfinite(p_seq), p_seq, 1.0)
    peeking = float(np.mean((p_fixed < ALPHA).any(axis=1)))
    sequential = float(np.mean((p_seq < ALPHA).any(axis=1)))
    last_day = float(np.mean(p_fixed[:, -1] < ALPHA))
    print(
        f"\n{trials} A/A tests looked at daily for {days} days: stopping at the first p < 5% "
        f"declares a winner in {peeking:.1%} (fixed-horizon test, peeking); the sequential test "
        f"in {sequential:.1%}; looking once at the end: {last_day:.1%}"
    )
    _, hi5 = _binomial_band(trials, 0.05)
    assert sequential <= 0.05
    assert peeking > 3 * 0.05  # far higher
    assert _binomial_band(trials, 0.05)[0] <= last_day <= hi5


def test_cuped_cuts_the_variance_by_rho_squared() -> None:
    rng = np.random.default_rng(24)
    trials, n, rho = 1_500, 1_000, 0.6
    raw, adjusted, reported = [], [], []
    covered = 0
    for _ in range(3):
        chunk = trials // 3
        pre = rng.normal(100, 30, (chunk, 2, n))
        noise = rng.normal(0, 30, (chunk, 2, n))
        post = 100 + rho * (pre - 100) + np.sqrt(1 - rho**2) * noise
        post[:, 1] += 2.0  # the variant's true effect
        for i in range(chunk):
            stats = [
                VariantStats(
                    v,
                    n,
                    float(post[i, j].sum()),
                    float((post[i, j] ** 2).sum()),
                    pre_sum=float(pre[i, j].sum()),
                    pre_sum_squares=float((pre[i, j] ** 2).sum()),
                    post_pre_sum=float((post[i, j] * pre[i, j]).sum()),
                )
                for j, v in enumerate(("a", "b"))
            ]
            comp = analyse_metric(Metric("r", "revenue"), stats, Analysis(sequential=False), "a").comparisons[
                0
            ]
            assert comp.cuped and comp.absolute is not None and comp.variance_reduction is not None
            adjusted.append(comp.absolute.estimate)
            reported.append(comp.variance_reduction)
            raw.append(post[i, 1].mean() - post[i, 0].mean())
            covered += comp.absolute.covers(2.0)
    cut = 1 - np.var(adjusted) / np.var(raw)
    print(
        f"\nCUPED over {trials} tests, pre-period correlation {rho}: the estimate's variance cut by "
        f"{cut:.1%} (ρ² = {rho**2:.0%}); reported on average {np.mean(reported):.1%}; "
        f"coverage {covered / trials:.1%}"
    )
    # the sampling error of a variance ratio over 1 500 draws is about 4% of it
    assert cut == pytest.approx(rho**2, abs=0.05)
    assert np.mean(reported) == pytest.approx(rho**2, abs=0.01)
    assert abs(np.mean(adjusted) - 2.0) < 0.1  # unbiased
    lo95, hi95 = _binomial_band(trials, 0.95)
    assert lo95 <= covered / trials <= hi95


def test_srm_flags_52_48_at_10k_and_not_an_honest_split() -> None:
    shares = {"control": 0.5, "b": 0.5}
    assert srm_check({"control": 5200, "b": 4800}, shares, 0.001).flagged
    assert not srm_check({"control": 5000, "b": 5000}, shares, 0.001).flagged
    rng = np.random.default_rng(25)
    trials = 3_000
    honest = rng.binomial(10_000, 0.5, trials)
    broken = rng.binomial(10_000, 0.52, trials)
    false_alarms = np.mean(
        [srm_check({"control": int(c), "b": 10_000 - int(c)}, shares, 0.001).flagged for c in honest]
    )
    caught = np.mean(
        [srm_check({"control": int(c), "b": 10_000 - int(c)}, shares, 0.001).flagged for c in broken]
    )
    print(f"\nSRM at 10k units: honest 50/50 flagged {false_alarms:.2%}, served 52/48 flagged {caught:.1%}")
    assert false_alarms <= _binomial_band(trials, 0.001)[1]
    assert caught > 0.7  # about 76% expected: a 52/48 split is 4 standard deviations off on average


def test_the_sequential_interval_keeps_the_true_lift_at_every_daily_look() -> None:
    """With a real effect (5% → 6%), the always-valid interval of the relative lift misses the
    truth on some day in at most 5% of experiments; the fixed interval, looked at daily, far more."""
    rng = np.random.default_rng(26)
    trials, days, per_day, pa, pb = 4_000, 28, 400, 0.05, 0.06
    ca = rng.binomial(per_day, pa, (trials, days)).cumsum(axis=1)
    cb = rng.binomial(per_day, pb, (trials, days)).cumsum(axis=1)
    n = per_day * np.arange(1, days + 1)[None, :]
    ma, mb = ca / n, cb / n
    var = relative_variance_arrays(ma, ma * (1 - ma), n, mb, mb * (1 - mb), n)
    lift = (mb - ma) / ma
    truth = pb / pa - 1
    low, high, _ = sequential_arrays(lift, var, 2 * n, ALPHA, Analysis().sequential_tuning)
    seq_missed = float(np.mean(((low > truth) | (high < truth)).any(axis=1)))
    f_low, f_high, _ = t_test_arrays(lift, var, welch_dof_arrays(ma * (1 - ma), n, mb * (1 - mb), n), ALPHA)
    fixed_missed = float(np.mean(((f_low > truth) | (f_high < truth)).any(axis=1)))
    print(
        f"\n{trials} tests of 5% vs 6%, looked at daily for {days} days: the true lift fell outside the "
        f"sequential interval on some day in {seq_missed:.1%}, outside the fixed interval in {fixed_missed:.1%}"
    )
    assert seq_missed <= 0.05
    assert fixed_missed > 3 * 0.05
