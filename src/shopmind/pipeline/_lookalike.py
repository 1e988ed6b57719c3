"""The look-alike job, "could become VIP": how much each non-VIP's behaviour today resembles the
behaviour today's VIPs showed earlier, with the features that drive it.

Today's VIPs (``clv_vip`` of the customer-intelligence run of the same ``as_of``) are the
positives; everyone seen ``lead_days`` earlier is a row, with the behavioural features of that
time (:data:`~shopmind.features.FEATURES`). Calibrated trees learn "profiles that behaved like
this became (or stayed) VIPs ``lead_days`` later" (on every row, calibrated on out-of-fold
scores, so that the probabilities keep the trees' ranking: no two profiles share one unless the
trees and the tie-breaker see them alike); applied to today's features of the non-VIPs,
they give each one's probability of looking like a VIP ``lead_days`` from now, and SHAP names
the features that push it up. A seeded quarter of the rows is held out for the model card
(AUC against past spend alone as the baseline). The non-VIPs with a probability of at least
``min_probability`` form the segment ``could_become_vip``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError, shop_day, shop_time
from shopmind.features import FEATURES, behaviour_features, purchase_transactions
from shopmind.models import CalibratedBoostingClassifier, ModelCard, model_card
from shopmind.pipeline._purchase import settled
from shopmind.store import Store

JOB = "vip_lookalike"
SCORE = "vip_lookalike"
SEGMENT = "could_become_vip"
MIN_VIPS = 10
#: How far back "earlier behaviour" is; shops with less than twice this much order history use
#: half their history.
DEFAULT_LEAD_DAYS = 90
HELD_OUT = 0.25


@dataclass(frozen=True)
class LookalikeReport:
    run_id: str
    as_of: datetime
    lead_days: int
    vips: int
    scored: int  # non-VIPs scored
    candidates: int  # of which in could_become_vip
    card: ModelCard  # on the held-out rows
    top_features: tuple[tuple[str, float], ...]


def _vips(store: Store, as_of: datetime, zone: str) -> set[str]:
    run_id = store.run_at("customer_intelligence", as_of)
    if run_id is None:
        raise InvalidInputError(
            [
                FieldError(
                    "as_of",
                    f"no customer-intelligence run as of {shop_time(as_of, zone)}: the look-alike learns from its "
                    "VIPs. Run run_customer_intelligence (shopmind run) for the same as_of first",
                )
            ]
        )
    members = store.sql(
        "SELECT profile_id FROM segment_members WHERE run_id = ? AND segment = 'clv_vip'", [run_id]
    )
    return {pid for (pid,) in members}


def run_vip_lookalike(
    store: Store,
    as_of: datetime,
    *,
    lead_days: int | None = None,
    min_probability: float = 0.5,
    zone: str = DEFAULT_SHOP_TZ,
    random_state: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> LookalikeReport:
    """Score every non-VIP's resemblance to today's VIPs' earlier behaviour (see the module);
    stores the score ``vip_lookalike``, each scored profile's top drivers (profile facts of kind
    ``vip_lookalike``), the segment ``could_become_vip`` and the model card."""
    if lead_days is None:
        # through Ibis: on the engine that holds the facts (DuckDB, or Spark over a lake)
        orders = store.table("orders")
        first = orders.filter(orders.ordered_at < as_of).ordered_at.min().to_pyarrow().as_py()
        if first is not None and first.tzinfo is None:
            first = first.replace(tzinfo=UTC)  # both engines keep instants in UTC
        history = (as_of - first).days if first is not None else 0
        lead_days = max(1, min(DEFAULT_LEAD_DAYS, history // 2))
    errors = []
    if not isinstance(lead_days, int) or lead_days < 1:
        errors.append(FieldError("lead_days", "must be a whole number of days >= 1"))
    if not 0.0 <= min_probability <= 1.0:
        errors.append(FieldError("min_probability", "must be a probability between 0 and 1"))
    if errors:
        raise InvalidInputError(errors)
    report = progress or (lambda phase, done, total: None)
    vips = _vips(store, as_of, zone)
    events, profiles = store.table("events"), store.table("profiles")
    tx = store.shared(purchase_transactions(store.table("orders"), store.table("order_lines"), profiles))
    cut = as_of - timedelta(days=lead_days)
    report("features", 0, 4)
    then = settled(behaviour_features(events, tx, profiles, cut, zone=zone).to_pandas())
    then = then.sort_values("profile_id", kind="stable").reset_index(drop=True)
    y = then.profile_id.isin(vips).astype(np.int64).to_numpy()
    if y.sum() < MIN_VIPS or y.sum() == len(y):
        raise InvalidInputError(
            [
                FieldError(
                    "lead_days",
                    f"only {int(y.sum())} of today's VIPs were seen before {shop_day(cut, zone)} (need {MIN_VIPS}): "
                    "pick a shorter lead or a later as_of",
                )
            ]
        )
    columns = list(FEATURES)
    held = np.random.default_rng(random_state).random(len(then)) < HELD_OUT

    def model() -> CalibratedBoostingClassifier:
        return CalibratedBoostingClassifier(
            random_state=random_state,
            n_estimators=200,
            learning_rate=0.03,
            num_leaves=15,
            min_child_samples=50,
        )

    report("backtest", 1, 4)
    # profiles are independent rows: the classifier's own seeded, stratified folds cross-fit
    check = model().fit(then.loc[~held, columns], y[~held])
    card = model_card(
        y[held],
        check.predict_proba(then.loc[held, columns])[:, 1],
        name=SCORE,
        baseline=then.loc[held, "revenue_all"].to_numpy(),
        notes=(
            f"trained on the behaviour {lead_days} days before {shop_day(as_of, zone)} of {int((~held).sum()):,} "
            f"profiles, judged on {int(held.sum()):,} held-out ones; positive: a VIP (top 20% by CLV) today",
            "baseline_auc: revenue so far",
        ),
    )
    report("fit", 2, 4)
    production = model().fit(then[columns], y)
    now = settled(behaviour_features(events, tx, profiles, as_of, zone=zone).to_pandas())
    now = now[~now.profile_id.isin(vips)].sort_values("profile_id", kind="stable").reset_index(drop=True)
    probability = production.predict_proba(now[columns])[:, 1]
    drivers = production.explain(now[columns], top=3)
    candidates = now.profile_id[probability >= min_probability].tolist()
    report("store", 3, 4)

    with store.job_run(JOB, as_of) as run_id:
        ids = now.profile_id.to_numpy()
        store.write_scores(
            run_id, as_of, pa.table({"profile_id": ids, "name": [SCORE] * len(ids), "value": probability})
        )
        store.write_profile_facts(
            run_id,
            as_of,
            SCORE,
            pa.table(
                {
                    "profile_id": ids,
                    "probability": probability,
                    "drivers": [
                        [{"feature": name, "contribution": value} for name, value in row] for row in drivers
                    ],
                }
            ),
        )
        store.write_segment_members(
            run_id, as_of, pa.table({"segment": [SEGMENT] * len(candidates), "profile_id": candidates})
        )
        store.write_model_card(run_id, as_of, SCORE, card.to_dict())
    report("store", 4, 4)
    return LookalikeReport(
        run_id=run_id,
        as_of=as_of,
        lead_days=lead_days,
        vips=len(vips),
        scored=len(now),
        candidates=len(candidates),
        card=card,
        top_features=production.top_features(),
    )
