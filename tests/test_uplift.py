"""Uplift models, their measures and what they decide (issue 20, part 5), and off-policy
evaluation (part 4): the T- and X-learner keep scikit-learn's estimator contract and find a
planted effect; the Qini curve, Qini coefficient and AUUC equal scikit-uplift's on the same
scores; the target list takes the persuadables within the budget; IPS, SNIPS and doubly robust
estimates cover a simulated policy's true value."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from shopmind.core import InvalidInputError, ShopmindError
from shopmind.experiments import (
    TLearner,
    XLearner,
    auuc,
    doubly_robust,
    ips,
    qini_coefficient,
    qini_curve,
    snips,
    target_list,
    uplift_curve,
)

SMALL = {"n_estimators": 30, "num_leaves": 7, "n_jobs": 1}


def planted(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customers with 3 features; the treatment adds 25 points of buying only where x0 > 0
    (persuadables), while x1 > 0 raises buying by 40 points whatever happens (sure things)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = (rng.random(n) < 0.7).astype(int)
    p = 0.05 + 0.4 * (X[:, 1] > 0) + 0.25 * (X[:, 0] > 0) * t
    return X, t, (rng.random(n) < p).astype(int)


# --- the learners ---------------------------------------------------------------------------


@pytest.mark.parametrize("learner", [TLearner, XLearner])
def test_learners_keep_the_estimator_contract(learner: type) -> None:
    X, t, y = planted(800)
    model = learner(**SMALL, random_state=3)
    assert set(SMALL) <= set(model.get_params())
    with pytest.raises(NotFittedError):
        model.predict_uplift(X)
    with pytest.raises(ShopmindError):
        model.predict_uplift(X)
    assert model.fit(X, t, y) is model
    assert not hasattr(clone(model), "n_features_in_")  # clone keeps parameters, not the fit
    first = model.predict_uplift(X)
    again = learner(**SMALL, random_state=3).fit(X, t, y).predict_uplift(X)
    np.testing.assert_array_equal(first, again)  # seeded: the same fit twice
    assert first.shape == (800,) and np.isfinite(first).all()
    with pytest.raises(InvalidInputError) as bad:
        model.predict_uplift(X[:, :2])
    assert bad.value.field == "X"


@pytest.mark.parametrize("learner", [TLearner, XLearner])
def test_learners_find_the_persuadables(learner: type) -> None:
    X, t, y = planted()
    uplift = learner(**SMALL).fit(X, t, y).predict_uplift(X)
    persuadable = X[:, 0] > 0
    assert uplift[persuadable].mean() == pytest.approx(0.25, abs=0.08)
    assert uplift[~persuadable].mean() == pytest.approx(0.0, abs=0.06)
    # ranked by uplift, the persuadables come first; ranked by P(buy | treated), the sure things do
    X_test, t_test, y_test = planted(seed=1)
    found = learner(**SMALL).fit(X, t, y).predict_uplift(X_test)
    response = XLearner(**SMALL).fit(X, t, y).treated_model_.predict_proba(X_test)[:, 1]
    assert qini_coefficient(y_test, found, t_test) > qini_coefficient(y_test, response, t_test) + 0.05


def test_a_continuous_outcome_uses_regressors() -> None:
    X, t, _ = planted(1500)
    spend = 10.0 * (X[:, 0] > 0) * t + np.random.default_rng(2).normal(size=1500)
    uplift = XLearner(**SMALL, learning_rate=0.2).fit(X, t, spend).predict_uplift(X)
    assert uplift[X[:, 0] > 0].mean() == pytest.approx(10.0, abs=1.5)


def test_the_x_learner_weighs_by_the_known_treatment_share() -> None:
    X, t, y = planted(800)
    assert XLearner(**SMALL).fit(X, t, y).propensity_ == pytest.approx(t.mean())
    model = XLearner(**SMALL, propensity=0.5).fit(X, t, y)
    tau0 = model.control_effect_model_.predict(X)
    tau1 = model.treated_effect_model_.predict(X)
    np.testing.assert_allclose(model.predict_uplift(X), 0.5 * tau0 + 0.5 * tau1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"t": "one group"}, "treatment"),
        ({"t": "not binary"}, "treatment"),
        ({"y": "short"}, "y"),
        ({"y": "nan"}, "y"),
        ({"propensity": 1.0}, "propensity"),
    ],
)
def test_learners_name_the_bad_field(change: dict[str, object], field: str) -> None:
    X, t, y = planted(200)
    ft, fy = t.copy(), y.astype(float)
    if change.get("t") == "one group":
        ft[:] = 1
    if change.get("t") == "not binary":
        ft[0] = 2
    if change.get("y") == "short":
        fy = fy[:-1]
    if change.get("y") == "nan":
        fy[3] = np.nan
    params = {"propensity": change["propensity"]} if "propensity" in change else {}
    with pytest.raises(InvalidInputError) as bad:
        XLearner(**SMALL, **params).fit(X, ft, fy)
    assert bad.value.field == field


# --- Qini and AUUC against scikit-uplift ------------------------------------------------------


def sklift_metrics():  # type: ignore[no-untyped-def]
    metrics = pytest.importorskip("sklift.metrics")
    return metrics


@pytest.mark.parametrize("seed", range(6))
def test_qini_and_auuc_equal_scikit_uplift(seed: int) -> None:
    m = sklift_metrics()
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 2000))
    t = (rng.random(n) < rng.uniform(0.2, 0.9)).astype(int)
    y = (rng.random(n) < 0.1 + 0.1 * t * (rng.random(n) < 0.5)).astype(int)
    # rounded scores: ties, which both must keep together
    scores = np.round(rng.normal(size=n), int(rng.integers(0, 3)))
    with warnings.catch_warnings():  # sklift calls a scikit-learn helper deprecated in 1.8
        warnings.simplefilter("ignore", FutureWarning)
        ours_x, ours_y = qini_curve(y, scores, t)
        their_x, their_y = m.qini_curve(y, scores, t)
        np.testing.assert_array_equal(ours_x, their_x)
        np.testing.assert_allclose(ours_y, their_y, rtol=0, atol=1e-9)
        ux, uy = uplift_curve(y, scores, t)
        tx, ty = m.uplift_curve(y, scores, t)
        np.testing.assert_array_equal(ux, tx)
        np.testing.assert_allclose(uy, ty, rtol=0, atol=1e-9)
        assert qini_coefficient(y, scores, t) == pytest.approx(m.qini_auc_score(y, scores, t), abs=1e-12)
        assert auuc(y, scores, t) == pytest.approx(m.uplift_auc_score(y, scores, t), abs=1e-12)
        if y[t == 1].mean() > y[t == 0].mean():  # sklift's curve without negative effects needs a gain
            assert qini_coefficient(y, scores, t, negative_effect=False) == pytest.approx(
                m.qini_auc_score(y, scores, t, negative_effect=False), abs=1e-12
            )


def test_qini_is_one_for_the_perfect_ranking_and_near_zero_for_random() -> None:
    rng = np.random.default_rng(5)
    n = 20000
    t = rng.integers(0, 2, n)
    y = rng.integers(0, 2, n)
    perfect = y * t - y * (1 - t)
    assert qini_coefficient(y, perfect, t) == pytest.approx(1.0)
    assert abs(qini_coefficient(y, rng.random(n), t)) < 0.05


def test_qini_names_bad_input() -> None:
    with pytest.raises(InvalidInputError) as bad:
        qini_coefficient([0, 1, 1], [0.1, 0.2, 0.3], [1, 1, 1])
    assert bad.value.field == "treatment"
    with pytest.raises(InvalidInputError) as bad:
        auuc([0, 1, 1], [0.1, 0.2], [1, 0, 1])
    assert bad.value.field == "uplift"
    with pytest.raises(InvalidInputError) as bad:
        qini_curve([0, 2, 1], [0.1, 0.2, 0.3], [1, 0, 1])
    assert bad.value.field == "y"
    # nobody responded: no ranking can be better than another; 0, not NaN
    assert qini_coefficient([0, 0, 0, 0], [0.4, 0.3, 0.2, 0.1], [1, 0, 1, 0]) == 0.0


# --- the target list --------------------------------------------------------------------------


def test_the_target_list_takes_the_best_gains_within_the_budget() -> None:
    customers = ["a", "b", "c", "d", "e"]
    uplift = [0.02, 0.30, 0.10, -0.05, 0.10]
    chosen = target_list(customers, uplift, margin=100.0, coupon_cost=5.0, budget=10.0)
    # gains: a −3, b 25, c 5, d −10, e 5: b first, then c (ties keep the given order); budget = 2 coupons
    assert chosen.customers == ["b", "c"]
    assert chosen.spent == 10.0 and chosen.worth_it == 3 and chosen.candidates == 5
    assert chosen.expected_orders == pytest.approx(0.40)
    assert chosen.expected_gain == pytest.approx(30.0)
    # a big budget still stops where the coupon stops paying
    assert target_list(customers, uplift, margin=100.0, coupon_cost=5.0, budget=1e6).customers == [
        "b",
        "c",
        "e",
    ]
    # per-customer margins change the order
    rich = target_list(customers, uplift, margin=[1000, 10, 100, 100, 100], coupon_cost=5.0, budget=5.0)
    assert rich.customers == ["a"] and rich.targets[0].expected_gain == pytest.approx(15.0)
    assert target_list(customers, uplift, margin=100.0, coupon_cost=5.0, budget=4.0).targets == ()


def test_a_sure_thing_costs_the_discount_it_would_take_anyway() -> None:
    """Two customers moved alike by the coupon: the one who buys anyway (μ₀ 0.9) takes the
    discount on an order she would have placed, so she costs; the other is worth the coupon."""
    customers = ["sure", "persuadable"]
    uplift = [0.10, 0.10]
    plain = target_list(customers, uplift, margin=100.0, coupon_cost=1.0, budget=10.0)
    assert plain.customers == ["sure", "persuadable"]  # without the discount both look worth it
    honest = target_list(
        customers, uplift, margin=100.0, coupon_cost=1.0, budget=10.0, discount=10.0, buy_anyway=[0.9, 0.05]
    )
    # gains: sure 10 − 1 − 9 = 0 (not positive), persuadable 10 − 1 − 0.5 = 8.5
    assert honest.customers == ["persuadable"]
    assert honest.targets[0].expected_gain == pytest.approx(8.5)
    with pytest.raises(InvalidInputError) as missing:
        target_list(customers, uplift, margin=100.0, coupon_cost=1.0, budget=10.0, discount=10.0)
    assert missing.value.field == "buy_anyway"


def test_the_x_learner_predicts_the_chance_to_buy_anyway() -> None:
    rng = np.random.default_rng(3)
    X = rng.random((4000, 2))
    t = rng.integers(0, 2, 4000)
    base = np.where(X[:, 0] > 0.5, 0.6, 0.1)  # half buy anyway at 60%, half at 10%
    y = (rng.random(4000) < base + 0.05 * t).astype(float)
    learner = XLearner(n_estimators=200, random_state=0).fit(X, t, y)
    anyway = learner.predict_untreated(np.array([[0.9, 0.5], [0.1, 0.5]]))
    assert anyway[0] == pytest.approx(0.6, abs=0.08) and anyway[1] == pytest.approx(0.1, abs=0.05)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"budget": -1.0}, "budget"),
        ({"discount": -1.0}, "discount"),
        ({"buy_anyway": [0.1, 2.0, 0.3]}, "buy_anyway"),
        ({"coupon_cost": float("nan")}, "coupon_cost"),
        ({"margin": [1.0, 2.0]}, "margin"),
        ({"margin": -3.0}, "margin"),
    ],
)
def test_the_target_list_names_bad_input(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"margin": 10.0, "coupon_cost": 1.0, "budget": 5.0, **kwargs}
    with pytest.raises(InvalidInputError) as bad:
        target_list(["a", "b", "c"], [0.1, 0.2, 0.3], **args)  # type: ignore[arg-type]
    assert bad.value.field == field


# --- off-policy evaluation --------------------------------------------------------------------


def logged_bandit(n: int, seed: int) -> dict[str, np.ndarray]:
    """A uniform logging policy over 5 arms in 2 contexts; the target policy prefers arm 2 in
    context 0 and arm 4 in context 1. Returns the log and the true value of the target policy."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.02, 0.03, 0.10, 0.02, 0.01], [0.01, 0.02, 0.02, 0.03, 0.12]])
    target = np.array([[0.1, 0.1, 0.6, 0.1, 0.1], [0.05, 0.05, 0.1, 0.1, 0.7]])
    context = rng.integers(0, 2, n)
    action = rng.integers(0, 5, n)
    reward = (rng.random(n) < means[context, action]).astype(float)
    model = means + rng.normal(0, 0.01, means.shape)  # a good but imperfect reward model
    return {
        "reward": reward,
        "mu": np.full(n, 0.2),
        "pi": target[context, action],
        "q_logged": model[context, action],
        "q_target": (target * model).sum(axis=1)[context],
        "truth": np.array([(target * means).sum(axis=1).mean()]),
    }


def test_off_policy_estimates_cover_the_target_policys_value() -> None:
    covered = {"ips": 0, "snips": 0, "dr": 0}
    widths = {"ips": 0.0, "dr": 0.0}
    for seed in range(40):
        log = logged_bandit(4000, seed)
        truth = float(log["truth"][0])
        estimates = {
            "ips": ips(log["reward"], log["mu"], log["pi"]),
            "snips": snips(log["reward"], log["mu"], log["pi"]),
            "dr": doubly_robust(log["reward"], log["mu"], log["pi"], log["q_logged"], log["q_target"]),
        }
        for name, interval in estimates.items():
            covered[name] += interval.covers(truth)
        widths["ips"] += estimates["ips"].high - estimates["ips"].low
        widths["dr"] += estimates["dr"].high - estimates["dr"].low
    # 95% intervals: 40 runs, at least 34 cover (P(fewer) < 1% at the nominal rate)
    assert min(covered.values()) >= 34, covered
    assert widths["dr"] < widths["ips"]  # a good reward model narrows the interval


def test_off_policy_formulas() -> None:
    r = np.array([1.0, 0.0, 1.0, 0.0])
    mu = np.array([0.5, 0.5, 0.25, 0.25])
    pi = np.array([1.0, 0.0, 0.5, 1.0])
    w = pi / mu  # 2, 0, 2, 4
    assert ips(r, mu, pi).estimate == pytest.approx((2 + 2) / 4)
    assert snips(r, mu, pi).estimate == pytest.approx(4 / 8)
    # a reward model of zeros makes doubly robust IPS
    zeros = np.zeros(4)
    assert doubly_robust(r, mu, pi, zeros, zeros) == ips(r, mu, pi)
    se = np.std(w * r, ddof=1) / 2
    interval = ips(r, mu, pi, alpha=0.1)
    assert interval.high - interval.estimate == pytest.approx(1.6448536269514722 * se)
    with pytest.raises(InvalidInputError) as bad:
        ips(r, [0.5, 0.0, 0.2, 0.2], pi)
    assert bad.value.field == "propensities"
    with pytest.raises(InvalidInputError) as bad:
        ips(r, mu, [0.5, 1.5, 0.2, 0.2])
    assert bad.value.field == "target_probabilities"
    with pytest.raises(InvalidInputError) as bad:
        doubly_robust(r, mu, pi, zeros[:3], zeros)
    assert bad.value.field == "logged_reward_predictions"
