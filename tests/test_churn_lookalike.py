"""Churn risk and look-alikes: the BG/NBD churn probability against an independent formula, the
CLV fitting helpers on awkward data, and the Online Retail acceptance (as of 2011-09-09, judged
on what customers did by 2011-12-09)."""

from __future__ import annotations

import warnings
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from shopmind.core import InvalidInputError
from shopmind.features import purchase_labels, purchase_transactions
from shopmind.models import BetaGeoModel
from shopmind.pipeline import run_churn_risk, run_customer_intelligence, run_vip_lookalike
from shopmind.pipeline._clv import fit_spend
from shopmind.store import Store

PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # CDNOW's BG/NBD


def _model() -> BetaGeoModel:
    return BetaGeoModel.from_params(PARAMS)


def test_no_purchase_probability_of_a_new_customer_is_eq_8_at_zero() -> None:
    """A customer just acquired (x = t_x = T = 0) stays silent for t with P(X(t) = 0) of FHL eq. 8,
    which the model computes by another route."""
    model = _model()
    t = np.array([1.0, 10.0, 39.0, 78.0])
    ours = model.conditional_probability_no_purchases_up_to_time(t, 0, 0, 0)
    assert np.allclose(ours, model.probability_of_n_purchases_up_to_time(t, 0), rtol=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(0, 30),
    share=st.floats(0.0, 1.0),
    age=st.floats(1.0, 80.0),
    t=st.floats(0.1, 60.0),
)
def test_no_purchase_probability_is_a_probability_falling_with_the_horizon(
    x: int, share: float, age: float, t: float
) -> None:
    model = _model()
    t_x = share * age if x > 0 else 0.0
    p = model.conditional_probability_no_purchases_up_to_time(np.array([t, 2 * t]), x, t_x, age)
    alive = model.conditional_probability_alive(x, t_x, age)
    assert np.all((p >= 1 - alive - 1e-12) & (p <= 1 + 1e-12))  # at least the chance of being gone
    assert p[1] <= p[0] + 1e-12


def test_spend_fit_leaves_out_zero_spend_repeaters_with_a_note() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(1, 6, 300).astype(float)
    m = rng.gamma(4.0, 10.0, 300)
    m[:3] = 0.0  # free samples: CDNOW's master file has such customers
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_spend(x, m, notes)
    assert model is not None and model.n_customers_ == 297
    assert any("3 repeat buyer(s)" in n for n in notes)


LONDON = ZoneInfo("Europe/London")
ZONE = "Europe/London"
CALIBRATION_END = datetime(2011, 9, 9, tzinfo=LONDON)
HOLDOUT_END = datetime(2011, 12, 10, tzinfo=LONDON)


def test_online_retail_churn_risk_beats_recency_on_the_holdout(retail: Store) -> None:
    """Churn = no purchase in the 90 days after 2011-09-09; the chosen model, trained on windows
    before then, ranks the buyers better than days since the last purchase."""
    report = run_churn_risk(retail, CALIBRATION_END, horizon_days=90, windows=6, zone=ZONE)
    assert report.supervised_auc is not None and report.p_alive_auc is not None
    assert report.chosen == ("supervised" if report.supervised_auc >= report.p_alive_auc else "p_alive")
    risk = dict(
        retail.sql(
            "SELECT profile_id, value FROM scores WHERE run_id = ? AND name = 'churn_risk'", [report.run_id]
        )
    )
    tx = purchase_transactions(retail.table("orders"), retail.table("order_lines"), retail.table("profiles"))
    came_back = set(purchase_labels(tx, CALIBRATION_END, 90).to_pandas().profile_id)
    last = (
        tx.filter(tx.ordered_at < CALIBRATION_END).group_by("profile_id").aggregate(last=tx.ordered_at.max())
    )
    last_seen = dict(last.to_pyarrow().to_pandas().itertuples(index=False))
    ids = sorted(risk)
    assert len(ids) == report.buyers > 3_000
    churned = np.array([p not in came_back for p in ids])
    ours = roc_auc_score(churned, [risk[p] for p in ids])
    recency = roc_auc_score(churned, [-last_seen[p].timestamp() for p in ids])
    assert ours > recency + 0.02, (ours, recency)  # measured: 0.734 vs 0.69
    assert abs(np.mean([risk[p] for p in ids]) - churned.mean()) < 0.1  # calibrated to the base rate


def test_online_retail_lookalikes_find_future_vips(retail: Store) -> None:
    """Non-VIPs as of 2011-09-09 who are VIPs (top 20% by CLV) by 2011-12-09: the look-alike score
    finds them better than their revenue so far does."""
    with pytest.raises(InvalidInputError, match="customer-intelligence run"):
        run_vip_lookalike(retail, datetime(2011, 9, 1, tzinfo=LONDON), zone=ZONE)
    now = run_customer_intelligence(retail, CALIBRATION_END, zone=ZONE)
    later = run_customer_intelligence(retail, HOLDOUT_END, zone=ZONE)
    report = run_vip_lookalike(retail, CALIBRATION_END, lead_days=90, zone=ZONE)
    assert report.vips == now.vips and report.card.auc > report.card.baseline_auc  # type: ignore[operator]
    scores = dict(
        retail.sql(
            "SELECT profile_id, value FROM scores WHERE run_id = ? AND name = 'vip_lookalike'",
            [report.run_id],
        )
    )
    vips_later = {
        p
        for (p,) in retail.sql(
            "SELECT profile_id FROM segment_members WHERE run_id = ? AND segment = 'clv_vip'", [later.run_id]
        )
    }
    revenue = dict(
        retail.sql("SELECT profile_id, value FROM scores WHERE run_id = ? AND name = 'revenue'", [now.run_id])
    )
    ids = sorted(scores)
    became = np.array([p in vips_later for p in ids])
    assert became.sum() > 100
    ours = roc_auc_score(became, [scores[p] for p in ids])
    spent = roc_auc_score(became, [revenue.get(p, 0.0) for p in ids])
    assert ours > spent + 0.02, (ours, spent)  # measured: 0.799 vs 0.756
    # every scored profile carries the features that drive its score
    best = max(ids, key=scores.__getitem__)
    facts = retail.profile_facts(best, "vip_lookalike", report.run_id)
    assert facts is not None and facts["drivers"] and all(d["contribution"] > 0 for d in facts["drivers"])
