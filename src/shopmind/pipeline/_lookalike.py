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

At scale the trees learn from a seeded sample of the profiles (past
``SHOPMIND_MODEL_SAMPLE_CUSTOMERS``, as the purchase job does) and every non-VIP is scored and
explained in parts of ``score_batch_rows`` profiles, the drivers kept as arrays (feature index,
contribution) rather than Python objects: a shop of millions of profiles fits a bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError, shop_day, shop_time
from shopmind.features import FEATURES, behaviour_features, purchase_transactions
from shopmind.models import CalibratedBoostingClassifier, ModelCard, model_card
from shopmind.pipeline._model_sample import customer_share, model_sample_customers
from shopmind.pipeline._purchase import SCORE_BATCH_ROWS, settled
from shopmind.store import Store

if TYPE_CHECKING:
    import ibis.expr.types as ir

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


def _lead_days(store: Store, as_of: datetime) -> int:
    """The default lead: 90 days, or half the order history when that is shorter."""
    # through Ibis: on the engine that holds the facts (DuckDB, or Spark over a lake)
    orders = store.table("orders")
    first = orders.filter(orders.ordered_at < as_of).ordered_at.min().to_pyarrow().as_py()
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=UTC)  # both engines keep instants in UTC
    history = (as_of - first).days if first is not None else 0
    return max(1, min(DEFAULT_LEAD_DAYS, history // 2))


def _model(random_state: int) -> CalibratedBoostingClassifier:
    return CalibratedBoostingClassifier(
        random_state=random_state,
        n_estimators=200,
        learning_rate=0.03,
        num_leaves=15,
        min_child_samples=50,
    )


@dataclass(frozen=True)
class _Scored:
    """Every scored non-VIP, sorted by profile id: the probability and the top drivers as arrays."""

    ids: pa.Array
    probability: npt.NDArray[np.float64]
    driver_index: npt.NDArray[np.int64]  # (n, top): into the model's feature names
    driver_value: npt.NDArray[np.float64]  # (n, top): SHAP contributions, NaN where not pushing up


def _score_non_vips(
    store: Store,
    model: CalibratedBoostingClassifier,
    found: ir.Table,
    vips: set[str],
    *,
    customers: int,
    batch_rows: int,
) -> _Scored:
    """Score and explain the non-VIPs of ``found`` (an Ibis table of behaviour features), in parts
    of about ``batch_rows`` profiles past that many (``store.batches``)."""
    columns = list(FEATURES)
    parts = [found.to_pyarrow()] if customers <= batch_rows else store.batches(found, batch_rows)
    ids, probabilities, indices, values = [], [], [], []
    for part in parts:
        frame = settled(part.to_pandas())
        frame = frame[~frame.profile_id.isin(vips)]
        if frame.empty:
            continue
        ids.append(pa.array(frame.profile_id.to_numpy(), pa.string()))
        probabilities.append(model.predict_proba(frame[columns])[:, 1])
        index, value = model.top_contributions(frame[columns], top=3)
        indices.append(index)
        values.append(value)
    if not ids:
        return _Scored(pa.array([], pa.string()), np.zeros(0), np.zeros((0, 3), np.int64), np.zeros((0, 3)))
    every = pa.chunked_array(ids).combine_chunks()
    order = np.asarray(pc.sort_indices(every))
    return _Scored(
        every.take(pa.array(order)),
        np.concatenate(probabilities)[order],
        np.concatenate(indices)[order],
        np.concatenate(values)[order],
    )


def _facts(scored: _Scored, names: list[str], start: int, stop: int) -> pa.Table:
    """Rows ``start:stop`` of ``scored`` as profile facts: profile_id, probability, drivers (a
    list of {feature, contribution}, the features that push the score up, largest first)."""
    index, value = scored.driver_index[start:stop], scored.driver_value[start:stop]
    pushing = ~np.isnan(value)  # a prefix of each row: contributions are sorted, largest first
    offsets = np.concatenate([[0], np.cumsum(pushing.sum(axis=1))]).astype(np.int32)
    drivers = pa.StructArray.from_arrays(
        [pa.array(names, pa.string()).take(pa.array(index[pushing])), pa.array(value[pushing], pa.float64())],
        names=["feature", "contribution"],
    )
    return pa.table(
        {
            "profile_id": scored.ids[start:stop],
            "probability": scored.probability[start:stop],
            "drivers": pa.ListArray.from_arrays(pa.array(offsets), drivers),
        }
    )


def run_vip_lookalike(
    store: Store,
    as_of: datetime,
    *,
    lead_days: int | None = None,
    min_probability: float = 0.5,
    zone: str = DEFAULT_SHOP_TZ,
    random_state: int = 0,
    sample_customers: int | None = None,
    score_batch_rows: int = SCORE_BATCH_ROWS,
    progress: Callable[[str, int, int], None] | None = None,
) -> LookalikeReport:
    """Score every non-VIP's resemblance to today's VIPs' earlier behaviour (see the module);
    stores the score ``vip_lookalike``, each scored profile's top drivers (profile facts of kind
    ``vip_lookalike``), the segment ``could_become_vip`` and the model card.

    ``sample_customers``: past this many profiles the trees learn from a seeded sample of about
    that many (default ``SHOPMIND_MODEL_SAMPLE_CUSTOMERS``, else 1,000,000); every non-VIP is
    still scored, past ``score_batch_rows`` profiles in parts of about that many."""
    if lead_days is None:
        lead_days = _lead_days(store, as_of)
    bound = model_sample_customers() if sample_customers is None else sample_customers
    errors = []
    if not isinstance(lead_days, int) or lead_days < 1:
        errors.append(FieldError("lead_days", "must be a whole number of days >= 1"))
    if not 0.0 <= min_probability <= 1.0:
        errors.append(FieldError("min_probability", "must be a probability between 0 and 1"))
    if not isinstance(bound, int) or bound < 1:
        errors.append(FieldError("sample_customers", "must be a whole number of customers >= 1"))
    if not isinstance(score_batch_rows, int) or score_batch_rows < 1:
        errors.append(FieldError("score_batch_rows", "must be a whole number of profiles >= 1"))
    if errors:
        raise InvalidInputError(errors)
    report = progress or (lambda phase, done, total: None)
    vips = _vips(store, as_of, zone)
    events, profiles = store.table("events"), store.table("profiles")
    tx = store.shared(purchase_transactions(store.table("orders"), store.table("order_lines"), profiles))
    customers = int(profiles.count().execute())
    share = customer_share(customers, bound)
    cut = as_of - timedelta(days=lead_days)
    report("features", 0, 4)
    found_then = behaviour_features(events, tx, profiles, cut, zone=zone, share=share, seed=random_state)
    then = settled(found_then.to_pandas())
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

    report("backtest", 1, 4)
    # profiles are independent rows: the classifier's own seeded, stratified folds cross-fit
    check = _model(random_state).fit(then.loc[~held, columns], y[~held])
    sampled = (
        ()
        if share >= 1.0
        else (
            f"trained and judged on a seeded sample of about {bound:,} of {customers:,} profiles "
            "(SHOPMIND_MODEL_SAMPLE_CUSTOMERS); every non-VIP is scored",
        )
    )
    card = model_card(
        y[held],
        check.predict_proba(then.loc[held, columns])[:, 1],
        name=SCORE,
        baseline=then.loc[held, "revenue_all"].to_numpy(),
        notes=(
            f"trained on the behaviour {lead_days} days before {shop_day(as_of, zone)} of {int((~held).sum()):,} "
            f"profiles, judged on {int(held.sum()):,} held-out ones; positive: a VIP (top 20% by CLV) today",
            "baseline_auc: revenue so far",
            *sampled,
        ),
    )
    report("fit", 2, 4)
    production = _model(random_state).fit(then[columns], y)
    del then, check
    found_now = behaviour_features(events, tx, profiles, as_of, zone=zone)
    scored = _score_non_vips(
        store, production, found_now, vips, customers=customers, batch_rows=score_batch_rows
    )
    candidates = scored.ids.filter(pa.array(scored.probability >= min_probability))
    report("store", 3, 4)

    names = list(production.feature_names_in_)
    with store.job_run(JOB, as_of) as run_id:
        for start in range(0, len(scored.ids), score_batch_rows):
            stop = start + score_batch_rows
            ids = scored.ids[start:stop]
            store.write_scores(
                run_id,
                as_of,
                pa.table(
                    {
                        "profile_id": ids,
                        "name": pa.repeat(pa.scalar(SCORE), len(ids)),
                        "value": scored.probability[start:stop],
                    }
                ),
            )
            store.write_profile_facts(run_id, as_of, SCORE, _facts(scored, names, start, stop))
        store.write_segment_members(
            run_id,
            as_of,
            pa.table({"segment": pa.repeat(pa.scalar(SEGMENT), len(candidates)), "profile_id": candidates}),
        )
        store.write_model_card(run_id, as_of, SCORE, card.to_dict())
    report("store", 4, 4)
    return LookalikeReport(
        run_id=run_id,
        as_of=as_of,
        lead_days=lead_days,
        vips=len(vips),
        scored=len(scored.ids),
        candidates=len(candidates),
        card=card,
        top_features=production.top_features(),
    )
