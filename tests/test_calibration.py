"""Calibration that keeps the ranking: the strictly increasing maps, the classifier's trees learning
on every row with cross-fitted calibration, ties broken, the tree count chosen out of fold, the
newest rows calibrating, and the look-alike job's probabilities telling its top profiles apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from shopmind.core import InvalidInputError
from shopmind.models import CalibratedBoostingClassifier, model_card
from shopmind.models._calibration import (
    RECENCY,
    STEP,
    InterpolatedIsotonicMap,
    PlattMap,
    TieBreaker,
    choose_recency,
)
from shopmind.pipeline import load_demo_shop, run_customer_intelligence, run_vip_lookalike
from shopmind.store import Store


def _scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds scores and outcomes drawn from them: the true probability is expit(score)."""
    rng = np.random.default_rng(seed)
    s = rng.normal(-1.0, 1.5, n)
    return s, (rng.random(n) < 1 / (1 + np.exp(-s))).astype(int)


def _data(n: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 4, n).astype(float),  # discrete: trees tie on it
            "c": rng.exponential(100.0, n),  # heavy-tailed, like spend
            "noise": rng.normal(size=n),
        }
    )
    z = 1.5 * x.a - 0.5 * x.b + 0.004 * x.c - 1.0 + shift
    return x, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)


# --- the maps -------------------------------------------------------------------------------------


def test_interpolated_isotonic_is_strictly_increasing_and_follows_the_rates() -> None:
    s, y = _scores(5_000, 1)
    fitted = InterpolatedIsotonicMap().fit(s, y)
    assert (np.diff(fitted.knots_) > 0).all() and (np.diff(fitted.rates_) > 0).all()
    grid = np.linspace(-12, 12, 20_001)  # far beyond the scores seen: the tails too
    p = fitted.predict(grid)
    assert (np.diff(p) > 0).all() and (p > 0).all() and (p < 1).all()
    # the step function it replaces collapses the same scores into a few dozen values
    test, _ = _scores(2_000, 2)
    steps = IsotonicRegression(out_of_bounds="clip").fit(s, y).predict(test)
    assert np.unique(steps).size < 100 and np.unique(fitted.predict(test)).size == test.size
    # still calibrated: close to the true probability where the data are
    inside = (test > -3) & (test < 2)
    truth = 1 / (1 + np.exp(-test[inside]))
    assert np.abs(fitted.predict(test[inside]) - truth).mean() < 0.03


def test_maps_never_claim_certainty_and_fall_back_to_platt_without_ranking() -> None:
    s = np.array([0.0, 1.0, 2.0, 3.0])
    certain = InterpolatedIsotonicMap().fit(s, [0, 0, 1, 1])
    assert certain.rates_[0] == pytest.approx(1 / 8) and certain.rates_[-1] == pytest.approx(7 / 8)
    rng = np.random.default_rng(3)
    flat = InterpolatedIsotonicMap().fit(np.zeros(200), (rng.random(200) < 0.3).astype(int))
    assert flat.knots_.size == 1  # one block: Platt's curve, kept increasing
    p = flat.predict(np.array([-1.0, 0.0, 1.0]))
    assert (np.diff(p) > 0).all() and p[1] == pytest.approx(flat.platt_.predict(np.array([0.0]))[0])
    backwards = PlattMap().fit(s, [1, 1, 0, 0])
    assert backwards.slope_ > 0  # a score ranking the wrong way is not turned round


def test_tie_breaker_is_bounded_and_orders_by_a_linear_model() -> None:
    x, y = _data(4_000, 4)
    breaker = TieBreaker().fit(x.to_numpy(), y)
    term = breaker.term(x.to_numpy())
    assert np.abs(term).max() < STEP and np.unique(term).size == len(x)
    assert roc_auc_score(y, term) > 0.75  # it orders by a real signal, not at random


# --- the classifier -------------------------------------------------------------------------------


def test_trees_learn_on_every_row_and_the_ranking_survives_calibration() -> None:
    x, y = _data(6_000, 5)
    model = CalibratedBoostingClassifier(n_estimators=120).fit(x, y)
    # the fitted trees are those LightGBM grows on all rows with the chosen count
    alone = lgb.train(model._params(), lgb.Dataset(x, label=y), model.n_estimators_)
    test_x, test_y = _data(4_000, 6)
    tree_score = alone.predict(test_x, raw_score=True)
    np.testing.assert_allclose(model._tree_score(test_x), tree_score)
    p = model.predict_proba(test_x)[:, 1]
    # strictly increasing map: every pair the trees order stays in that order
    order = np.argsort(tree_score, kind="stable")
    apart = np.diff(tree_score[order]) > 2 * STEP
    assert (np.diff(p[order])[apart] > 0).all()
    assert roc_auc_score(test_y, p) >= roc_auc_score(test_y, tree_score) - 1e-3
    # ties of the trees (the discrete feature, alike leaves) are told apart: every profile its own value
    assert np.unique(tree_score).size < 0.9 * len(test_x) and np.unique(p).size == len(test_x)
    card = model_card(test_y, p, name="synthetic")
    assert card.ece < 0.03 and card.auc > 0.8


def test_cross_fitting_is_seeded_and_deterministic() -> None:
    x, y = _data(3_000, 7)
    first = CalibratedBoostingClassifier(n_estimators=80).fit(x, y).predict_proba(x)
    again = CalibratedBoostingClassifier(n_estimators=80).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(first, again)
    other = CalibratedBoostingClassifier(n_estimators=80, random_state=1).fit(x, y).predict_proba(x)
    assert not np.array_equal(first, other)  # the folds follow the seed
    five = CalibratedBoostingClassifier(n_estimators=80).fit(x, y, n_folds=5)
    assert five.predict_proba(x).shape == (len(x), 2)


def test_tree_count_is_chosen_out_of_fold() -> None:
    rng = np.random.default_rng(8)
    noise = pd.DataFrame(rng.normal(size=(3_000, 4)), columns=list("abcd"))
    coin = (rng.random(3_000) < 0.3).astype(int)
    chosen = CalibratedBoostingClassifier(n_estimators=200).fit(noise, coin)
    assert chosen.n_estimators_ < 40  # nothing to learn: few trees
    x, y = _data(6_000, 9)
    assert CalibratedBoostingClassifier(n_estimators=200).fit(x, y).n_estimators_ > chosen.n_estimators_
    fixed = CalibratedBoostingClassifier(n_estimators=50, choose_trees=False).fit(noise, coin)
    assert fixed.n_estimators_ == 50 and fixed.booster_.num_trees() == 50


def test_the_newest_rows_calibrate() -> None:
    old_x, old_y = _data(6_000, 10, shift=-1.0)  # the past: fewer buyers
    new_x, new_y = _data(3_000, 11)
    x = pd.concat([old_x, new_x], ignore_index=True)
    y = np.r_[old_y, new_y]
    period = np.r_[np.zeros(len(old_x), dtype=int), np.ones(len(new_x), dtype=int)]
    groups = np.r_[np.arange(len(old_x)) % 4, 4 + np.arange(len(new_x)) % 2]
    pooled = CalibratedBoostingClassifier(n_estimators=100).fit(x, y, groups=groups)
    recent = CalibratedBoostingClassifier(n_estimators=100).fit(x, y, groups=groups, calibrate_on=period == 1)
    future_x, future_y = _data(4_000, 12)
    rate = future_y.mean()
    off_recent = abs(recent.predict_proba(future_x)[:, 1].mean() - rate)
    off_pooled = abs(pooled.predict_proba(future_x)[:, 1].mean() - rate)
    # measured: 0.007 vs 0.078 (pooled is pulled towards the past's fewer buyers); 0.021 before
    # the map read scores over the trees' starting point: the fold trees that scored the newest
    # rows learnt on rows of another rate than the final trees, and that offset was carried over
    assert off_recent < 0.012 and off_pooled > 0.06


def test_explicit_calibration_rows_and_sigmoid() -> None:
    x, y = _data(4_000, 13)
    cal_x, cal_y = _data(2_000, 14)
    model = CalibratedBoostingClassifier(n_estimators=150, calibration="sigmoid").fit(
        x, y, calibration=(cal_x, cal_y)
    )
    assert 1 <= model.n_estimators_ <= 150 and isinstance(model.calibrator_, PlattMap)
    test_x, test_y = _data(3_000, 15)
    p = model.predict_proba(test_x)[:, 1]
    assert np.unique(p).size == len(p) and model_card(test_y, p, name="platt").ece < 0.03


def test_weighted_maps_follow_their_weights() -> None:
    s, y = _scores(4_000, 17)
    weight = np.where(np.arange(s.size) < 1_000, 0.0, 1.0)
    for kind in (PlattMap, InterpolatedIsotonicMap):
        weighted = kind().fit(s, y, sample_weight=weight).predict(s)
        dropped = kind().fit(s[1_000:], y[1_000:]).predict(s)
        np.testing.assert_allclose(weighted, dropped, rtol=1e-6, atol=1e-9)  # weight 0: not there
    twice = np.r_[s, s[:500]], np.r_[y, y[:500]]
    doubled = np.r_[np.full(500, 2.0), np.ones(s.size - 500)]
    np.testing.assert_allclose(
        InterpolatedIsotonicMap().fit(s, y, sample_weight=doubled).predict(s),
        InterpolatedIsotonicMap().fit(*twice).predict(s),
        atol=1e-3,  # the same points; only the pull from certainty (1/2n) counts rows differently
    )


def _drifting(windows: int, step: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores and outcomes of time windows (age 0 = the newest) whose base rate moves by
    ``step`` log-odds a window."""
    rng = np.random.default_rng(seed)
    age = np.repeat(np.arange(windows), 3_000)
    s = rng.normal(-1.0, 1.2, age.size)
    truth = 1 / (1 + np.exp(-(s - step * age)))  # older windows: fewer buyers when step > 0
    return s, (rng.random(age.size) < truth).astype(int), age


def test_recency_is_chosen_by_predicting_the_newest_window() -> None:
    s, y, age = _drifting(6, 0.3, 18)
    chosen, weight, losses = choose_recency(s, y, age, "sigmoid")
    assert set(losses) == set(RECENCY) and losses[chosen] == min(losses.values())
    np.testing.assert_array_equal(weight, RECENCY[chosen](age))
    # a drifting rate: the older windows must count less than the newest
    assert chosen != "every window alike" and weight[age == 5].max() < weight[age == 0].min()
    assert losses[chosen] < losses["every window alike"]
    # a steady rate: counting every window is as good as any (measured: 1.4e-5 above the best)
    s, y, age = _drifting(6, 0.0, 19)
    _, _, steady = choose_recency(s, y, age, "isotonic")
    assert steady["every window alike"] - min(steady.values()) < 1e-3
    # no buyer in the newest window: nothing to backtest on, every window counts
    y = np.where(age == 0, 0, y)
    assert choose_recency(s, y, age, "sigmoid")[0] == "every window alike"


def test_classifier_with_window_ages_follows_the_newest_rate() -> None:
    frames = [_data(2_000, 30 + k, shift=-0.3 * k) for k in range(6)]  # k = age: older, fewer buyers
    x = pd.concat([f[0] for f in frames], ignore_index=True)
    y = np.concatenate([f[1] for f in frames])
    age = np.repeat(np.arange(6), 2_000)
    model = CalibratedBoostingClassifier(n_estimators=100).fit(x, y, groups=age, age=age)
    assert model.recency_ in RECENCY and model.recency_ != "every window alike"
    assert model.recency_losses_[model.recency_] == min(model.recency_losses_.values())
    pooled = CalibratedBoostingClassifier(n_estimators=100).fit(x, y, groups=age)
    future_x, future_y = _data(4_000, 40, shift=0.3)  # the drift goes on
    off = abs(model.predict_proba(future_x)[:, 1].mean() - future_y.mean())
    off_pooled = abs(pooled.predict_proba(future_x)[:, 1].mean() - future_y.mean())
    assert off < off_pooled, (off, off_pooled)


def test_bad_input_names_the_field() -> None:
    x, y = _data(500, 16)
    model = CalibratedBoostingClassifier(n_estimators=20)
    cases = [
        ({"calibrate_on": np.ones(3, dtype=bool)}, "calibrate_on"),
        ({"calibrate_on": np.ones(len(x))}, "calibrate_on"),  # numbers, not true/false
        ({"calibrate_on": np.zeros(len(x), dtype=bool)}, "calibrate_on"),  # no outcomes at all
        ({"calibrate_on": np.ones(len(x), dtype=bool), "calibration": (x, y)}, "calibrate_on"),
        ({"age": np.arange(len(x)) % 4, "calibrate_on": np.ones(len(x), dtype=bool)}, "age"),
        ({"age": np.arange(len(x)) % 4, "calibration": (x, y)}, "age"),
        ({"age": np.arange(3)}, "age"),
        ({"age": np.full(len(x), 0.5)}, "age"),  # a fraction of a window
        ({"age": np.full(len(x), -1)}, "age"),
        ({"n_folds": 1}, "n_folds"),
        ({"groups": np.arange(len(x)) % 2}, "groups"),  # 2 groups for 3 folds
        ({"groups": np.arange(3)}, "groups"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidInputError) as raised:
            model.fit(x, y, **kwargs)
        assert raised.value.errors[0].field == field, kwargs
    with pytest.raises(InvalidInputError, match="both outcomes"):
        model.fit(x, np.zeros(len(x), dtype=int))
    with pytest.raises(InvalidInputError, match="'isotonic' or 'sigmoid'"):
        CalibratedBoostingClassifier(calibration="steps").fit(x, y)  # type: ignore[arg-type]


# --- the look-alike job: a marketer can rank inside a band ----------------------------------------


def test_lookalike_probabilities_tell_the_top_profiles_apart() -> None:
    days = 90
    as_of = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=days)
    with Store(":memory:") as store:
        load_demo_shop(store, customers=1500, days=days, seed=7)
        run_customer_intelligence(store, as_of)
        report = run_vip_lookalike(store, as_of)
        values = [
            v
            for (v,) in store.sql(
                "SELECT value FROM scores WHERE run_id = ? ORDER BY value DESC", [report.run_id]
            )
        ]
    assert len(values) == report.scored > 500
    assert len(set(values)) == len(values)  # was: the whole top shared one probability
    top = values[:20]
    assert len(set(top)) == 20 and top[0] > top[-1]
