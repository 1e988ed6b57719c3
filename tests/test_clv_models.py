"""The lifetime-value models: golden CDNOW results of the papers, the estimator contract, honest
warnings, and properties of the predictions."""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from shopmind.core import InvalidInputError, ShopmindError
from shopmind.features import rfm_summary
from shopmind.models import (
    BetaGeoModel,
    GammaGammaModel,
    NotFittedError,
    ParetoNBDModel,
    UnstableFitWarning,
)
from shopmind.models._beta_geo import (
    _expected_over_dropout,
    conditional_expected_purchases,
    expected_purchases,
    probability_alive,
)
from shopmind.models._pareto_nbd import (
    _log_a0,
    _log_death_integral,
    negative_log_likelihood_objective,
)
from shopmind.models._pareto_nbd import log_likelihood_terms as pareto_log_likelihood

from .test_features_segments import cdnow_transactions

PUBLISHED_BGNBD = {"r": 0.2425945, "alpha": 4.4136019, "a": 0.7929199, "b": 2.4258881}


def sig3(value: float) -> float:
    return float(f"{value:.3g}")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """CDNOW sample: calibration summary (weeks 1-39) with the holdout repeat purchases (40-78)."""
    tx = cdnow_transactions()
    seoul_midnight = timedelta(hours=9)
    calibration = rfm_summary(tx, datetime(1997, 10, 1, tzinfo=UTC) - seoul_midnight, unit_days=7)
    full = rfm_summary(tx, datetime(1998, 7, 1, tzinfo=UTC) - seoul_midnight, unit_days=7)
    frame = calibration.to_pandas().set_index("profile_id")
    frame["holdout"] = full.to_pandas().set_index("profile_id").frequency - frame.frequency
    return frame


def _rfm(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        frame.frequency.to_numpy(float),
        frame.recency.to_numpy(float),
        frame["T"].to_numpy(float),
    )


@pytest.fixture(scope="module")
def bgnbd(cdnow: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(*_rfm(cdnow))


def test_bgnbd_reproduces_fader_hardie_lee_2005(bgnbd: BetaGeoModel) -> None:
    assert list(bgnbd.params_) == ["r", "alpha", "a", "b"]
    for name, published in PUBLISHED_BGNBD.items():
        assert bgnbd.params_[name] == pytest.approx(published, rel=1e-4), name
    assert bgnbd.log_likelihood_ == pytest.approx(-9582.429, abs=0.01)
    assert bgnbd.n_customers_ == 2_357 and bgnbd.converged_
    assert all(0 < se < bgnbd.params_[k] for k, se in bgnbd.standard_errors_.items())
    expected = bgnbd.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
    assert round(float(expected), 3) == 1.226
    curve = bgnbd.expected_number_of_purchases_up_to_time([1, 3, 32, 78])
    assert [sig3(v) for v in curve] == [sig3(v) for v in (0.0532, 0.1506, 1.0437, 1.8576)]
    assert sig3(float(bgnbd.probability_of_n_purchases_up_to_time(39, 0))) == sig3(0.5737864)


def test_bgnbd_holdout_matches_the_paper(cdnow: pd.DataFrame) -> None:
    """With the published parameters: 4,166 cumulative repeat transactions predicted to week 78
    (4,339 actual), and individual predictions correlate 0.626 with the holdout counts."""
    model = BetaGeoModel.from_params(PUBLISHED_BGNBD)
    x, t_x, age = _rfm(cdnow)
    cumulative = model.expected_number_of_purchases_up_to_time(age + 39).sum()
    assert cumulative == pytest.approx(4_166, rel=0.005)
    assert x.sum() + cdnow.holdout.sum() == 4_339
    conditional = model.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, age)
    assert np.corrcoef(conditional, cdnow.holdout)[0, 1] == pytest.approx(0.626, abs=0.002)


def test_pareto_nbd_reproduces_the_published_fit(cdnow: pd.DataFrame) -> None:
    model = ParetoNBDModel().fit(*_rfm(cdnow))
    assert list(model.params_) == ["r", "alpha", "s", "beta"]
    published = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    assert {k: sig3(v) for k, v in model.params_.items()} == {k: sig3(v) for k, v in published.items()}
    assert round(model.log_likelihood_, 1) == -9595.0
    alive = model.conditional_probability_alive(*_rfm(cdnow))
    assert ((alive > 0) & (alive <= 1)).all()
    # Pareto/NBD and BG/NBD agree closely on the holdout (both papers' point)
    bg = BetaGeoModel.from_params(PUBLISHED_BGNBD)
    x, t_x, age = _rfm(cdnow)
    p1 = model.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, age)
    p2 = bg.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, age)
    assert np.corrcoef(p1, p2)[0, 1] > 0.98


def test_gamma_gamma_reproduces_fader_hardie_2013(cdnow: pd.DataFrame, bgnbd: BetaGeoModel) -> None:
    repeaters = cdnow[cdnow.frequency > 0]
    assert len(repeaters) == 946
    model = GammaGammaModel().fit(repeaters.frequency, repeaters.monetary_value)
    assert list(model.params_) == ["p", "q", "gamma"]
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    assert {k: round(v, 2) for k, v in model.params_.items()} == published  # 3-4 significant digits
    assert model.log_likelihood_ == pytest.approx(-4055.92, abs=0.01)
    p, q, gamma = (model.params_[k] for k in ("p", "q", "gamma"))
    population_mean = gamma * p / (q - 1)
    spend = model.conditional_expected_average_profit(repeaters.frequency, repeaters.monetary_value)
    # shrinkage: every estimate lies between the customer's own mean and the population mean
    low = np.minimum(repeaters.monetary_value, population_mean)
    high = np.maximum(repeaters.monetary_value, population_mean)
    assert ((spend >= low - 1e-9) & (spend <= high + 1e-9)).all()
    x, t_x, age = _rfm(repeaters)
    m = repeaters.monetary_value.to_numpy()
    clv = model.customer_lifetime_value(bgnbd, x, t_x, age, m, time_unit_per_month=4.345)
    undiscounted = model.customer_lifetime_value(
        bgnbd, x, t_x, age, m, time_unit_per_month=4.345, discount_rate=0.0
    )
    direct = spend * bgnbd.conditional_expected_number_of_purchases_up_to_time(12 * 4.345, x, t_x, age)
    np.testing.assert_allclose(undiscounted, direct, rtol=1e-9)
    assert ((clv > 0) & (clv < undiscounted)).all()


def test_intervals_are_seeded_and_contain_the_estimate(bgnbd: BetaGeoModel) -> None:
    args = (39, [0, 2, 10], [0, 30.43, 35], [38.86, 38.86, 38.86])
    one = bgnbd.conditional_expected_number_of_purchases_up_to_time_interval(*args, random_state=7)
    two = bgnbd.conditional_expected_number_of_purchases_up_to_time_interval(*args, random_state=7)
    np.testing.assert_array_equal(one.lower, two.lower)
    assert ((one.lower < one.estimate) & (one.estimate < one.upper)).all()
    assert round(float(one.estimate[1]), 3) == 1.226
    assert one.level == 0.9


# --- the estimator contract -------------------------------------------------------------------


@pytest.mark.parametrize("model_class", [BetaGeoModel, ParetoNBDModel, GammaGammaModel])
def test_estimator_contract(model_class: type) -> None:
    model = model_class(penalizer_coef=0.01)
    assert model.get_params() == {"penalizer_coef": 0.01, "method": "L-BFGS-B", "maxiter": 2000, "tol": None}
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(model, "params_")  # learned state appears only with fit
    with pytest.raises(NotFittedError, match="fit"):
        model._check_fitted()
    assert issubclass(NotFittedError, ShopmindError)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 300).astype(float)
    age = rng.uniform(5, 40, 300)
    t_x = np.where(x > 0, age * rng.uniform(0.2, 1.0, 300), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnstableFitWarning)
        if model_class is GammaGammaModel:
            fitted = model.fit(x[x > 0], rng.gamma(4, 10, int((x > 0).sum())))
        else:
            fitted = model.fit(x, t_x, age)
    assert fitted is model
    assert set(model.params_) == set(model._param_names)
    assert all(math.isfinite(v) and v > 0 for v in model.params_.values())


def test_unfitted_predictions_raise() -> None:
    with pytest.raises(NotFittedError, match=r"BetaGeoModel is not fitted yet: call fit"):
        BetaGeoModel().conditional_probability_alive([1], [1], [2])


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "field", "reason"),
    [
        ([1, -1], [1, 0], [2, 2], "frequency", "at least 0"),
        ([1.5, 0], [1, 0], [2, 2], "frequency", "whole"),
        ([1, 0], [3, 0], [2, 2], "recency", "T"),
        ([0, 0], [1, 0], [2, 2], "recency", "frequency"),
        ([1, 0], [1, float("nan")], [2, 2], "recency", "NaN"),
        ([1, 0], [1, 0], [2], "T", "one per customer"),
    ],
)
def test_bad_input_names_the_field(
    frequency: list[float], recency: list[float], T: list[float], field: str, reason: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        BetaGeoModel().fit(frequency, recency, T)
    message = str(caught.value)
    assert field in message and reason.lower() in message.lower(), message


def test_gamma_gamma_rejects_non_positive_spend() -> None:
    with pytest.raises(InvalidInputError, match="monetary_value"):
        GammaGammaModel().fit([1, 2], [10.0, -3.0])


def test_too_few_repeat_buyers_warn_honestly() -> None:
    with pytest.warns(UnstableFitWarning, match="repeat buyers") as record:
        model = BetaGeoModel().fit(
            [0, 0, 1, 2, 0, 0, 0, 1], [0, 0, 3, 5, 0, 0, 0, 2], [9, 8, 9, 9, 7, 6, 9, 5]
        )
    assert model.fit_warnings_ and len(model.fit_warnings_) == len(record)


def test_published_parameters_need_no_data() -> None:
    model = BetaGeoModel.from_params(PUBLISHED_BGNBD)
    assert math.isnan(model.log_likelihood_) and model.n_customers_ == 0
    with pytest.raises(InvalidInputError, match="params"):
        BetaGeoModel.from_params({"r": 1.0, "alpha": 1.0})


# --- properties -----------------------------------------------------------------------------------

positive = st.floats(0.05, 20.0)


@settings(max_examples=60, deadline=None)
@given(positive, st.floats(0.5, 50.0), positive, positive, st.integers(1, 30), st.floats(0.0, 1.0))
def test_bgnbd_predictions_are_coherent(
    r: float, alpha: float, a: float, b: float, x: int, share: float
) -> None:
    model = BetaGeoModel.from_params({"r": r, "alpha": alpha, "a": a, "b": b})
    T = np.array([10.0, 20.0, 40.0])
    t_x = share * T[0]
    alive = model.conditional_probability_alive(x, t_x, T)
    assert ((alive > 0) & (alive <= 1)).all()
    assert (np.diff(alive) <= 1e-12).all()  # the longer the silence, the lower P(alive)
    assert model.conditional_probability_alive(0, 0, 40.0) == 1.0  # BG/NBD: no drop-out before a repeat
    horizon = model.conditional_expected_number_of_purchases_up_to_time([1.0, 10.0, 50.0], x, t_x, 20.0)
    assert np.isfinite(horizon).all() and (horizon >= 0).all() and (np.diff(horizon) >= 0).all()
    n = np.arange(0, 200)
    mass = model.probability_of_n_purchases_up_to_time(5.0, n)
    assert (mass >= 0).all() and mass.sum() <= 1 + 1e-9


@settings(max_examples=40, deadline=None)
@given(positive, st.floats(0.5, 50.0), st.floats(1.0, 60.0), st.floats(1.0, 200.0))
def test_quadrature_agrees_with_the_closed_form(r: float, alpha: float, a: float, b: float) -> None:
    """The quadrature used where 2F1 overflows agrees with eq. 9 and eq. 10 where both work."""
    x = np.array([0.0, 1.0, 4.0, 15.0])
    T = np.array([30.0, 30.0, 25.0, 40.0])
    t_x = np.array([0.0, 12.0, 20.0, 39.0])
    t = np.array([1.0, 13.0, 52.0, 104.0])
    closed = conditional_expected_purchases(r, alpha, a, b, t, x, t_x, T)
    quadrature = _expected_over_dropout(r + x, a, b + x, alpha + T, t) * probability_alive(
        r, alpha, a, b, x, t_x, T
    )
    np.testing.assert_allclose(quadrature, closed, rtol=1e-3)
    np.testing.assert_allclose(
        _expected_over_dropout(r, a, b, np.full(4, alpha), t),
        expected_purchases(r, alpha, a, b, t),
        rtol=1e-3,
    )


@pytest.mark.parametrize("scale", [1e3, 1e5, 1e8])
def test_bgnbd_stays_finite_when_drop_out_parameters_run_off(scale: float) -> None:
    """An unpenalised fit on a shop with constant drop-out sends a and b to the edge of the search
    range: predictions must stay finite and converge to the constant-drop-out limit."""
    model = BetaGeoModel.from_params({"r": 1.0, "alpha": 10.0, "a": scale, "b": 10 * scale})
    got = model.conditional_expected_number_of_purchases_up_to_time([10.0, 90.0], [3, 0], [20, 0], [30, 5])
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, [0.71856, 3.88235], rtol=1e-3)
    assert np.isfinite(model.expected_number_of_purchases_up_to_time([10.0, 90.0])).all()


@settings(max_examples=40, deadline=None)
@given(st.floats(0.1, 5.0), st.floats(1.0, 30.0), st.floats(0.1, 5.0), st.floats(1.0, 30.0))
def test_pareto_nbd_alive_falls_with_silence(r: float, alpha: float, s: float, beta: float) -> None:
    model = ParetoNBDModel.from_params({"r": r, "alpha": alpha, "s": s, "beta": beta})
    T = np.array([10.0, 20.0, 40.0, 80.0])
    for x, t_x in ((0, 0.0), (3, 8.0)):
        alive = model.conditional_probability_alive(x, t_x, T)
        assert ((alive > 0) & (alive <= 1)).all() and (np.diff(alive) <= 1e-12).all()
    many = model.conditional_expected_number_of_purchases_up_to_time(52, 400, 79.0, 80.0)
    assert np.isfinite(many) and many > 0


def test_pareto_nbd_drop_out_quadrature_agrees_with_the_closed_form() -> None:
    """The fit's quadrature of the drop-out integral against FH 2005's 2F1 closed form, on
    customers with 0..300 purchases, α above and below β, and the Online Retail ridge (β far
    above α, where 2F1 is slow)."""
    rng = np.random.default_rng(7)
    cases = [(0.553, 10.578, 0.606, 11.669), (0.83, 9.87, 1e-5, 3e5), (2.0, 300.0, 0.05, 1.0)]
    cases += [tuple(np.exp(rng.uniform([-3, -2, -4, -2], [1.5, 6, 1.5, 6]))) for _ in range(40)]
    x = rng.integers(0, 300, 200).astype(float)
    age = rng.uniform(0.5, 400, 200)
    t_x = np.where(x > 0, age * rng.uniform(0, 1, 200), 0.0)
    for r, alpha, s, beta in cases:
        closed = _log_a0(r, alpha, s, beta, x, t_x, age) - np.log(r + s + x)
        quadrature = _log_death_integral(r, alpha, s, beta, x, t_x, age)[0]
        np.testing.assert_allclose(quadrature, closed, atol=5e-4, rtol=0)


def test_pareto_nbd_closed_form_per_distinct_pair_is_the_row_by_row_value() -> None:
    """2F1 is evaluated once per distinct (frequency, time) pair: shared and unshared rows, one
    customer, and scalars give exactly what each row gives alone."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, 300).astype(float)
    age = rng.choice([10.0, 20.0, 30.5], 300)
    t_x = np.where(x > 0, np.minimum(rng.choice([2.0, 7.5, 10.0], 300), age), 0.0)
    for r, alpha, s, beta in (
        (0.553, 10.578, 0.606, 11.669),
        (0.74, 8.79, 2e-5, 1.18e5),
        (2.0, 300.0, 0.05, 1.0),
    ):
        together = _log_a0(r, alpha, s, beta, x, t_x, age)
        alone = [
            _log_a0(r, alpha, s, beta, x[i : i + 1], t_x[i : i + 1], age[i : i + 1])[0] for i in range(300)
        ]
        assert np.array_equal(together, alone)
        alive = ParetoNBDModel.from_params({"r": r, "alpha": alpha, "s": s, "beta": beta})
        scalar = alive.conditional_probability_alive(float(x[7]), float(t_x[7]), float(age[7]))
        assert float(scalar) == alive.conditional_probability_alive(x, t_x, age)[7]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0.0, 1.5, 2.0, float("nan")])), max_size=40))
def test_distinct_rows_give_the_rows_back(rows: list[tuple[int, float]]) -> None:
    from shopmind.models._mle import distinct_rows

    a = np.array([float(r[0]) for r in rows])
    b = np.array([r[1] for r in rows])
    (da, db), back = distinct_rows(a, b)
    assert np.array_equal(da[back], a) and np.array_equal(db[back], b, equal_nan=True)
    finite = ~np.isnan(b)
    expected = {(x, y) for x, y in zip(a[finite], b[finite], strict=True)}
    assert {(x, y) for x, y in zip(da, db, strict=True) if not np.isnan(y)} == expected
    assert len(da) == len(expected) + int((~finite).sum())  # a NaN row is its own


def test_lifetime_value_of_shared_rows_is_each_customers_own() -> None:
    """The CLV evaluates the purchase model once per distinct (x, t_x, T): customers who share
    a row get what each would get alone."""
    bg = BetaGeoModel.from_params({"r": 0.24, "alpha": 4.41, "a": 0.79, "b": 2.43})
    gg = GammaGammaModel.from_params({"p": 6.25, "q": 3.74, "gamma": 15.44})
    x = np.array([0.0, 2.0, 2.0, 5.0, 2.0, 0.0])
    t_x = np.array([0.0, 10.0, 10.0, 30.0, 12.0, 0.0])
    age = np.array([38.0, 38.0, 38.0, 38.0, 38.0, 20.0])
    m = np.array([0.0, 20.0, 35.0, 50.0, 20.0, 0.0])
    together = gg.customer_lifetime_value(bg, x, t_x, age, m, time_unit_per_month=4.345)
    alone = [
        gg.customer_lifetime_value(
            bg, x[i : i + 1], t_x[i : i + 1], age[i : i + 1], m[i : i + 1], time_unit_per_month=4.345
        )[0]
        for i in range(len(x))
    ]
    np.testing.assert_allclose(together, alone, rtol=1e-14, atol=0)
    assert together[1] != together[2]  # the same row, another spend


def test_pareto_nbd_gradient_is_the_slope_of_the_objective() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 40, 300).astype(float)
    age = rng.uniform(1, 50, 300)
    t_x = np.where(x > 0, age * rng.uniform(0, 1, 300), 0.0)
    objective = negative_log_likelihood_objective(x, t_x, age, np.ones(300))
    for params in ((0.5, 10.0, 0.6, 12.0), (0.8, 5.0, 1e-3, 1e4), (1.2, 20.0, 2.0, 3.0)):
        u = np.log(np.array(params))
        value, slope = objective(u)
        assert value == pytest.approx(-pareto_log_likelihood(*params, x, t_x, age).sum(), rel=1e-6)
        steps = np.eye(4) * 1e-5
        numeric = [(objective(u + h)[0] - objective(u - h)[0]) / 2e-5 for h in steps]
        np.testing.assert_allclose(slope, numeric, rtol=1e-4, atol=1e-2)


def test_pareto_nbd_fit_on_a_vanishing_drop_out_rate() -> None:
    """Customers who never leave (the Online Retail shape: s -> 0, β -> ∞): the fit ends on the
    ridge with the NBD purchase parameters a pure NBD fit would give, instead of crawling."""
    rng = np.random.default_rng(11)
    n = 2_000
    lam = rng.gamma(0.8, 1 / 10.0, n)
    age = rng.uniform(10, 52, n)
    x = rng.poisson(lam * age).astype(float)
    t_x = np.where(x > 0, age * rng.beta(np.maximum(x, 1), 1), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnstableFitWarning)
        model = ParetoNBDModel().fit(x, t_x, age)
    # a mean lifetime of over 1,000 weeks, against 52 weeks of data: hardly anyone drops out
    assert model.params_["s"] / model.params_["beta"] < 1e-3
    assert model.params_["r"] == pytest.approx(0.8, rel=0.15)
    assert model.params_["alpha"] == pytest.approx(10.0, rel=0.2)
