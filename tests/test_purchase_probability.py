"""Purchase probability: the model card's metrics, the calibrated classifier's contract, the job on
the synthetic shop, and the Online Retail acceptance (calibrate to 2011-09-08, hold out to
2011-12-09) for both the CLV model and the purchase-probability model."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from bench import bench_purchase
from sklearn.base import clone

from shopmind.core import DEFAULT_SHOP_TZ, InvalidInputError
from shopmind.features import purchase_transactions, rfm_summary
from shopmind.features._behaviour import FEATURES, behaviour_features, purchase_labels
from shopmind.models import (
    BetaGeoModel,
    CalibratedBoostingClassifier,
    NotFittedError,
    model_card,
    probability_bands,
)
from shopmind.models._calibration import RECENCY
from shopmind.pipeline import load_demo_shop, run_purchase_probability
from shopmind.pipeline._purchase import recency_baseline
from shopmind.store import Store

# --- the model card -------------------------------------------------------------------------------


def test_model_card_metrics_on_known_cases() -> None:
    y = np.array([0, 0, 1, 1])
    perfect = model_card(y, np.array([0.0, 0.0, 1.0, 1.0]), name="perfect")
    assert perfect.auc == 1.0 and perfect.brier == 0.0 and perfect.ece == 0.0
    flat = model_card(y, np.full(4, 0.5), name="flat", baseline=np.array([1, 2, 3, 4]))
    assert flat.auc == 0.5 and flat.brier == 0.25 and flat.ece == 0.0 and flat.baseline_auc == 1.0
    wrong = model_card(y, np.array([0.9, 0.9, 0.9, 0.9]), name="over")
    assert wrong.ece == pytest.approx(0.4)
    assert sum(b.profiles for b in wrong.bands) == 4 and wrong.bands[-1].profiles == 4
    assert wrong.lift[0][0] == 1


def test_bands_and_custom_range() -> None:
    p = np.array([0.05, 0.15, 0.35, 0.5, 0.55, 1.0])
    y = np.array([0, 0, 1, 0, 1, 1])
    bands = probability_bands(p, y)
    assert len(bands) == 10 and [b.profiles for b in bands] == [1, 1, 0, 1, 0, 2, 0, 0, 0, 1]
    (mine,) = probability_bands(p, y, edges=[0.3, 0.55])
    assert (mine.profiles, mine.actual_buyers) == (2, 1) and mine.expected_buyers == pytest.approx(0.85)
    with pytest.raises(InvalidInputError, match="edges"):
        probability_bands(p, edges=[0.5, 0.2])
    with pytest.raises(InvalidInputError, match="y"):
        model_card([0, 2], [0.1, 0.2], name="bad")


# --- the classifier -------------------------------------------------------------------------------


def _logistic_data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "noise": rng.normal(size=n)})
    p = 1 / (1 + np.exp(-(2 * x.a - x.b - 1)))
    return x, (rng.random(n) < p).astype(int)


def test_classifier_contract_determinism_and_calibration() -> None:
    model = CalibratedBoostingClassifier(n_estimators=100)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError, match="fit"):
        model.predict_proba([[0.0, 0.0, 0.0]])
    x, y = _logistic_data(20_000, 1)
    assert model.fit(x, y) is model
    again = CalibratedBoostingClassifier(n_estimators=100).fit(x, y)
    test_x, test_y = _logistic_data(10_000, 2)
    p = model.predict_proba(test_x)[:, 1]
    np.testing.assert_array_equal(p, again.predict_proba(test_x)[:, 1])
    card = model_card(test_y, p, name="synthetic")
    assert card.ece < 0.03 and card.auc > 0.8
    assert model.feature_importances_.index[-1] == "noise"
    drivers = model.explain(test_x.iloc[:200], top=2)
    assert all(len(d) <= 2 and all(v > 0 for _, v in d) for d in drivers)
    firsts = Counter(d[0][0] for d in drivers if d)
    assert firsts.most_common(1)[0][0] == "a" and firsts["noise"] < firsts["a"] / 3
    with pytest.raises(InvalidInputError, match="lacks the feature columns"):
        model.predict_proba(test_x[["a"]])
    with pytest.raises(InvalidInputError, match="both outcomes"):
        CalibratedBoostingClassifier().fit(x, np.zeros(len(x), dtype=int))
    grouped = CalibratedBoostingClassifier(n_estimators=100).fit(x, y, groups=np.arange(len(x)) % 5)
    assert model_card(test_y, grouped.predict_proba(test_x)[:, 1], name="cross").ece < 0.03


# --- the job on the synthetic shop ----------------------------------------------------------------

DAYS = 120
END = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=DAYS) - timedelta(hours=9)


@pytest.fixture(scope="module")
def demo() -> Iterator[Store]:
    with Store(":memory:") as store:
        load_demo_shop(store, customers=2500, days=DAYS, seed=21)
        yield store


def test_purchase_probability_on_the_demo_shop(demo: Store) -> None:
    report = run_purchase_probability(demo, END)
    card = report.card
    assert card.auc > card.baseline_auc + 0.05  # type: ignore[operator]
    assert card.ece < 0.05 and card.positives > 50
    # the card says how the windows were weighted in the calibration, as the backtest chose
    (note,) = [n for n in card.notes if n.startswith("calibration:")]
    assert any(f"'{name}'" in note for name in RECENCY), note
    scores = demo.sql(
        "SELECT profile_id, value FROM scores WHERE run_id = ? AND name = 'purchase_probability_7d'",
        [report.run_id],
    )
    assert len(scores) == report.profiles
    ids = [pid for pid, _ in scores]
    assert any(i.startswith("anon:") for i in ids) and any(i.startswith("user:") for i in ids)
    assert all(0 <= v <= 1 for _, v in scores)
    stored = demo.model_card(report.run_id, "purchase_probability_7d")
    assert stored is not None and stored["auc"] == pytest.approx(card.auc)
    assert len(stored["bands"]) == 10
    again = run_purchase_probability(demo, END)
    second = demo.sql(
        "SELECT profile_id, value FROM scores WHERE run_id = ? ORDER BY profile_id", [again.run_id]
    )
    assert sorted(scores) == second  # same data and as_of: identical scores
    with pytest.raises(InvalidInputError, match="as_of"):
        run_purchase_probability(demo, END - timedelta(days=DAYS - 10))


def test_features_see_nothing_after_as_of(demo: Store) -> None:
    tx = purchase_transactions(demo.table("orders"), demo.table("order_lines"), demo.table("profiles"))
    cut = END - timedelta(days=30)
    before = behaviour_features(demo.table("events"), tx, demo.table("profiles"), cut).to_pandas()
    cut_events = demo.table("events").filter(demo.table("events").event_time < cut)
    cut_tx = tx.filter(tx.ordered_at < cut)
    same = behaviour_features(cut_events, cut_tx, demo.table("profiles"), cut).to_pandas()
    key = ["profile_id"]
    pd.testing.assert_frame_equal(
        before.sort_values(key).reset_index(drop=True), same.sort_values(key).reset_index(drop=True)
    )
    assert list(before.columns) == ["profile_id", *FEATURES]
    assert not before[list(FEATURES)].isna().any().any()


# --- Online Retail acceptance ---------------------------------------------------------------------

LONDON = ZoneInfo("Europe/London")
CALIBRATION_END = datetime(2011, 9, 9, tzinfo=LONDON)  # calibrate to 2011-09-08 inclusive
HOLDOUT_END = datetime(2011, 12, 10, tzinfo=LONDON)  # hold out to 2011-12-09 inclusive


def test_online_retail_clv_beats_same_as_last_period(retail: Store) -> None:
    tx = purchase_transactions(retail.table("orders"), retail.table("order_lines"), retail.table("profiles"))
    zone = "Europe/London"
    calibration = rfm_summary(tx, CALIBRATION_END, unit_days=7, zone=zone).to_pandas().set_index("profile_id")
    full = rfm_summary(tx, HOLDOUT_END, unit_days=7, zone=zone).to_pandas().set_index("profile_id")
    actual = (full.frequency.reindex(calibration.index) - calibration.frequency).to_numpy()
    # the baseline: as many purchase days in the holdout as in the period of equal length before it
    frame = tx.to_pandas()
    frame["day"] = frame.ordered_at.dt.tz_convert(LONDON).dt.date
    previous = frame[
        (frame.ordered_at >= CALIBRATION_END - (HOLDOUT_END - CALIBRATION_END))
        & (frame.ordered_at < CALIBRATION_END)
    ]
    last_period = previous.groupby("profile_id").day.nunique().reindex(calibration.index).fillna(0).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BetaGeoModel().fit(calibration.frequency, calibration.recency, calibration["T"])
    weeks = (HOLDOUT_END - CALIBRATION_END).days / 7
    predicted = model.conditional_expected_number_of_purchases_up_to_time(
        weeks, calibration.frequency, calibration.recency, calibration["T"]
    )
    ours = np.corrcoef(predicted, actual)[0, 1]
    baseline = np.corrcoef(last_period, actual)[0, 1]
    assert len(calibration) > 3_000
    assert ours >= baseline, (ours, baseline)  # measured: 0.797 vs 0.767


def test_online_retail_purchase_probability_beats_recency(retail: Store) -> None:
    """Trained on six 30-day windows before 2011-09-09, judged on who bought in the 30 days after."""
    zone = "Europe/London"
    report = run_purchase_probability(retail, CALIBRATION_END, horizon_days=30, windows=6, zone=zone)
    scores = dict(retail.sql("SELECT profile_id, value FROM scores WHERE run_id = ?", [report.run_id]))
    tx = purchase_transactions(retail.table("orders"), retail.table("order_lines"), retail.table("profiles"))
    now = behaviour_features(retail.table("events"), tx, retail.table("profiles"), CALIBRATION_END, zone=zone)
    profiles = now.to_pandas()
    buyers = set(purchase_labels(tx, CALIBRATION_END, 30).to_pandas().profile_id)
    y = profiles.profile_id.isin(buyers).astype(int).to_numpy()
    p = profiles.profile_id.map(scores).to_numpy()
    card = model_card(y, p, name="holdout", baseline=recency_baseline(profiles))
    assert card.auc > card.baseline_auc, (card.auc, card.baseline_auc)  # type: ignore[operator]
    # measured: AUC 0.732 vs 0.657, ECE 0.033 (HistGB on the same rows: 0.032; the step-isotonic
    # classifier before issue 21: AUC 0.723, ECE 0.024 at this date, worse on the mean of five)
    assert card.ece <= 0.036, card.ece


# --- acceptance: beside scikit-learn's HistGradientBoosting (bench/bench_purchase.py) -------------


def test_bench_calibration_errors() -> None:
    rng = np.random.default_rng(5)
    p = rng.beta(1, 4, 5_000)
    y = (rng.random(p.size) < p).astype(np.float64)
    # the bootstrap's vectorised ECE is the model card's
    assert bench_purchase.ece(y, p) == pytest.approx(model_card(y, p, name="x").ece, abs=1e-12)
    # calibrated by construction: small; off by 0.05 everywhere: 0.05 on every bin grid
    assert bench_purchase.robust_ece(y, p) < 0.02
    assert bench_purchase.robust_ece(np.zeros(4_000), np.full(4_000, 0.05)) == pytest.approx(0.05)
    assert bench_purchase.ece_gap(y, p, p) == (0.0, 0.0)
    low, high = bench_purchase.ece_gap(y, p, np.clip(p + 0.05, 0, 1))  # the peer clearly worse
    assert low < high < 0


def _accept(results: list[bench_purchase.Origin]) -> None:
    auc, peer_auc = bench_purchase.mean(results, "ours", "auc"), bench_purchase.mean(results, "peer", "auc")
    ece, peer_ece = bench_purchase.mean(results, "ours", "ece"), bench_purchase.mean(results, "peer", "ece")
    assert auc >= peer_auc, (auc, peer_auc)
    assert ece <= peer_ece, (ece, peer_ece)
    assert all(r.ours.auc >= r.peer.auc for r in results), [(r.ours.auc, r.peer.auc) for r in results]
    # every date: the better proper score (log-loss: the base rate and the shape, no bins), and an
    # ECE that is nowhere higher than HistGB's beyond chance (paired bootstrap, 90%); the ten-bin
    # ECE itself is still higher at some dates by 0.0001-0.0013 (bench/bench_purchase.py prints it)
    assert all(r.ours.log_loss <= r.peer.log_loss for r in results), [
        (r.ours.log_loss, r.peer.log_loss) for r in results
    ]
    assert all(r.ece_gap[0] <= 0.0 for r in results), [r.ece_gap for r in results]
    # every profile its own probability (the trees' ties broken): >= 1,000 distinct per 1,000 profiles
    assert all(r.ours.distinct_per_1000 == 1000.0 for r in results), [
        r.ours.distinct_per_1000 for r in results
    ]


@pytest.mark.slow
def test_online_retail_purchase_probability_acceptance(retail: Store) -> None:
    """30-day horizon, five origins 30 days apart around 2011-09-09 (the bench's protocol);
    measured: mean AUC 0.7454 vs 0.7396 (higher at every date), mean ECE 0.0254 vs 0.0321
    (lower or equal at 3 of 5 dates; +0.0001 at 2011-08-10 and +0.0013 at 2011-09-09, bootstrap
    intervals [-0.013, +0.011] and [-0.006, +0.005]), log-loss lower at every date."""
    results = bench_purchase.compare(retail, bench_purchase.RETAIL_ORIGINS, 30, bench_purchase.RETAIL_ZONE)
    _accept(results)


@pytest.mark.slow
def test_demo_shop_purchase_probability_acceptance() -> None:
    """The demo shop of ``make demo``, 7-day horizon, three weekly origins; measured: mean AUC
    0.8670 vs 0.8610, mean ECE 0.0058 vs 0.0067 (lower at 1 of 3 dates; +0.0007 and +0.0002 at
    the others, bootstrap intervals [-0.004, +0.004] and [-0.003, +0.003]), log-loss lower at
    every date."""
    with bench_purchase.demo_store() as store:
        results = bench_purchase.compare(store, bench_purchase.DEMO_ORIGINS, 7, DEFAULT_SHOP_TZ)
    _accept(results)
