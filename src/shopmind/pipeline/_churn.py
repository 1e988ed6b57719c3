"""The churn-risk job: for every buyer, the risk of not buying again within the next N days
(default 90), from two models, the better one chosen by a backtest on the newest complete window:

- **P(alive)**: the BG/NBD probability of no purchase within the horizon, from the purchase
  history alone: 1 - P(alive) + P(alive) x P(silent for N days | alive) (plain 1 - P(alive) is 0
  for every one-time buyer under BG/NBD, which ranks the likeliest churners as the safest);
- **supervised**: calibrated gradient-boosted trees on the behavioural features (visits, views,
  carts, purchases; see :data:`~shopmind.features.FEATURES`) plus the BG/NBD P(alive) and
  expected purchases, trained on past ``as_of`` windows (see :mod:`shopmind.pipeline._windows`).

The label of a window is 1 when a buyer known at the cut makes no purchase in ``[cut, cut + N)``.

**Seasons.** The windows a model learns on lie in other seasons than the horizon it predicts: fitted
in spring and summer on Online Retail, whose customers stock up for Christmas, the risk predicted
on 1 December 40% churn over the winter where 67% happened. Both risks are therefore recalibrated
for the season ahead: a customer's purchases follow the shop's seasonal order rate, so the chance
of no purchase, exp(-rate x horizon) while the customer is alive, becomes p ** s where s is how
much busier the coming horizon is than the horizons the risk was calibrated on: for the supervised
risk, the horizon a year ago (the same period last year, :func:`~shopmind.features.shop_momentum`)
against the horizons of the training windows as they happened (:func:`~shopmind.features.shop_activity`),
each relative to the weeks before it (with a single year of history, the weeks before the cut now
stand in for the weeks before the horizon a year ago); for the P(alive)-based one, whose BG/NBD rate
is learnt from each buyer's own history, the horizon a year ago against the shop's order rate over
that buyer's history (a buyer of the Christmas rush saw a busier shop than the winter ahead). The
supervised map is monotone, so its ranking (AUC) does not change; the P(alive)-based one moves
buyers of busy and quiet stretches apart. Measured on Online Retail (``python -m bench.bench_churn``):
fitted to 2010-12-01 and judged on the winter after, ECE 0.268 -> 0.067 (supervised) and 0.171 ->
0.063 (P(alive)-based), at AUC 0.787 and 0.792. Without a year of history there is no same period
last year and nothing is adjusted (a note says so).

The chosen model's risk is written as ``churn_risk`` (the other's beside it), the backtest as the
model card ``churn_risk``, and the VIPs of the customer-intelligence run of the same ``as_of``
whose risk is at least ``at_risk`` as the segment ``vip_at_risk``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from sklearn.metrics import roc_auc_score

from shopmind.core import DEFAULT_SHOP_TZ, FieldError, InvalidInputError, shop_day
from shopmind.features import (
    FEATURES,
    behaviour_features,
    purchase_labels,
    purchase_transactions,
    rfm_summary,
    shop_activity,
    shop_momentum,
    shop_order_rates,
)
from shopmind.models import CalibratedBoostingClassifier, ModelCard, model_card
from shopmind.pipeline._clv import fit_repeat_purchases
from shopmind.pipeline._clv_statistics import repeat_purchase_counts
from shopmind.pipeline._model_sample import customer_share, model_sample_customers, sampled_customers
from shopmind.pipeline._windows import first_known, window_cuts
from shopmind.store import Store

FloatArray = npt.NDArray[np.float64]

JOB = "churn_risk"
SCORE = "churn_risk"
AT_RISK_SEGMENT = "vip_at_risk"
MIN_WINDOWS = 3
MIN_BUYERS = 20
#: Buyers are followed over their whole history (not the last year only): a buyer who has not
#: been back for two years is the surest churner, and must be scored too.
LOOKBACK_DAYS = 3_650
ALIVE = ("p_alive", "expected_purchases", "p_no_purchase")
COLUMNS = (*FEATURES, *ALIVE)
#: The seasonal exponent is kept within [1/MAX_SEASON, MAX_SEASON]: a shop whose orders a year ago
#: were a handful should not turn every risk into 0 or 1.
MAX_SEASON = 4.0
#: Horizons from 52 weeks on hold every season (and the same period last year would reach past
#: the cut): no seasonal adjustment.
SEASON_MAX_HORIZON = 363
#: The P(alive)-based risk compares the horizon with each buyer's own history, counted as at least
#: this many days (a buyer of yesterday has no season of their own yet).
MIN_TENURE_DAYS = 30


@dataclass(frozen=True)
class ChurnReport:
    run_id: str
    as_of: datetime
    horizon_days: int
    buyers: int
    chosen: str  # "supervised" or "p_alive"
    supervised_auc: float | None  # backtest AUC, None when too few windows to train
    p_alive_auc: float | None  # backtest AUC of the P(alive)-based risk, None without a BG/NBD fit
    card: ModelCard | None  # the chosen model's backtest
    vips_at_risk: int
    top_features: tuple[tuple[str, float], ...]
    notes: tuple[str, ...]
    #: the chosen risk's seasonal exponent (risk = p ** season), 1.0 when not adjusted
    season: float = 1.0


def _alive(
    tx: ir.Table,
    cut: datetime,
    horizon_days: int,
    zone: str,
    notes: list[str],
    *,
    share: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """P(alive), the expected purchases and P(no purchase) within the horizon per buyer at ``cut`` (NaN when the
    shop has too few buyers for a BG/NBD fit).

    ``share`` < 1: BG/NBD is fitted on every buyer's (x, t_x, T) counted by the engine (the same
    fit, a few thousand rows), and only the buyers :func:`sampled_customers` draws come back."""
    summary = rfm_summary(tx, cut, unit_days=7, zone=zone)
    if share < 1.0:
        counted = repeat_purchase_counts(summary).to_pandas()
        fit_on = [counted[c].to_numpy(float) for c in ("frequency", "recency", "T")]
        counts: FloatArray | None = counted.customers.to_numpy(float)
        buyers, repeaters = float(counted.customers.sum()), float(counted.customers[fit_on[0] > 0].sum())
        summary = sampled_customers(summary, share, seed)
    frame = summary.order_by("profile_id").to_pandas()
    x = frame.frequency.to_numpy(float)
    t_x, age = frame.recency.to_numpy(float), frame["T"].to_numpy(float)
    if share >= 1.0:
        fit_on, counts = [x, t_x, age], None
        buyers, repeaters = len(frame), float((x > 0).sum())
    out = pd.DataFrame({"profile_id": frame.profile_id})
    if buyers < MIN_BUYERS or repeaters < 2:
        for column in ALIVE:
            out[column] = np.nan
        return out
    model = fit_repeat_purchases(fit_on[0], fit_on[1], fit_on[2], notes, counts=counts)
    out["p_alive"] = model.conditional_probability_alive(x, t_x, age)
    out["expected_purchases"] = model.conditional_expected_number_of_purchases_up_to_time(
        horizon_days / 7.0, x, t_x, age
    )
    out["p_no_purchase"] = model.conditional_probability_no_purchases_up_to_time(
        horizon_days / 7.0, x, t_x, age
    )
    return out


def churn_features(
    events: ir.Table,
    tx: ir.Table,
    profiles: ir.Table,
    cut: datetime,
    horizon_days: int,
    zone: str,
    notes: list[str] | None = None,
    *,
    share: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per buyer before ``cut``: ``profile_id`` and :data:`COLUMNS` (``share`` < 1: the
    buyers :func:`sampled_customers` draws, the P(alive) fit still on every buyer)."""
    found = behaviour_features(
        events, tx, profiles, cut, zone=zone, lookback_days=LOOKBACK_DAYS, share=share, seed=seed
    ).to_pandas()
    buyers = found[found.orders_all > 0]
    alive = _alive(tx, cut, horizon_days, zone, [] if notes is None else notes, share=share, seed=seed)
    frame = buyers.merge(alive, on="profile_id", how="left")
    # money to a millionth: the engine sums doubles in parallel in no fixed order, and last-bit
    # differences move the trees' bin edges, so the same data gave AUC 0.785 or 0.787 run to run
    money = ["revenue_all", "average_order_value"]
    frame[money] = frame[money].round(6)
    return frame.sort_values("profile_id", kind="stable").reset_index(drop=True)


def _labelled(
    events: ir.Table,
    tx: ir.Table,
    profiles: ir.Table,
    cut: datetime,
    horizon_days: int,
    zone: str,
    *,
    share: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    frame = churn_features(events, tx, profiles, cut, horizon_days, zone, share=share, seed=seed)
    came_back = set(
        sampled_customers(purchase_labels(tx, cut, horizon_days), share, seed).to_pandas().profile_id
    )
    frame["y"] = (~frame.profile_id.isin(came_back)).astype(np.int64)
    return frame


def seasonal_risk(risk: npt.ArrayLike, season: float | npt.ArrayLike) -> FloatArray:
    """Churn risk ``risk`` (the chance of no purchase within the horizon) for a horizon ``season``
    times as busy as the one it was calibrated on: ``risk ** season`` (see the module). Risks of 0
    and 1 stay put, the order of the customers too."""
    p = np.clip(np.asarray(risk, dtype=np.float64), 0.0, 1.0)
    return np.asarray(p ** np.asarray(season, dtype=np.float64), dtype=np.float64)


def _season_exponent(ahead: float, reference: float) -> float:
    """exp(ahead - reference) within the bounds, 1.0 when either is unknown."""
    if not (np.isfinite(ahead) and np.isfinite(reference)):
        return 1.0
    return float(np.clip(np.exp(ahead - reference), 1 / MAX_SEASON, MAX_SEASON))


@dataclass(frozen=True)
class _Seasons:
    """The shop's season at the cuts of the churn job: the realised activity of each window's
    horizon, and the forecast of the horizon after a cut from the same period last year."""

    tx: ir.Table
    horizon_days: int
    cuts: list[datetime]
    activity: list[float]  # per window: log per-day order rate of its horizon vs the weeks before

    @classmethod
    def of(cls, tx: ir.Table, cuts: list[datetime], horizon_days: int) -> _Seasons:
        adjusts = horizon_days <= SEASON_MAX_HORIZON
        activity = shop_activity(tx, cuts, horizon_days) if adjusts else [np.nan] * len(cuts)
        return cls(tx, horizon_days, cuts, activity)

    def reference(self, frames: list[pd.DataFrame], which: list[int]) -> float:
        """The row-weighted mean activity of the training windows ``which``."""
        weights = np.array([len(frames[k]) for k in which], dtype=float)
        values = np.array([self.activity[k] for k in which])
        if not which or weights.sum() == 0 or not np.isfinite(values).all():
            return np.nan
        return float(np.average(values, weights=weights))

    def ahead(self, cut: datetime) -> tuple[float, float]:
        """The same period last year at ``cut``: (the supervised risk's log ratio of its order rate
        to the weeks before it, the horizon's orders a year before), NaN when unknown."""
        if self.horizon_days > SEASON_MAX_HORIZON:
            return np.nan, np.nan
        found = shop_momentum(self.tx, cut, self.horizon_days, self.horizon_days)
        return found["shop_season_ahead"], found["shop_orders_ahead_year_before"]

    def alive_exponents(self, cut: datetime, ahead_orders: float, tenure_days: npt.ArrayLike) -> FloatArray:
        """Per buyer, the season exponent of the P(alive)-based risk: BG/NBD learns each buyer's
        rate from their own history, so the horizon a year ago is compared with the shop's order
        rate over that history (a buyer who came in the Christmas rush saw a busier shop than the
        winter ahead). Ones when the same period last year is unknown."""
        tenure = np.asarray(tenure_days, dtype=np.float64)
        if not np.isfinite(ahead_orders) or tenure.size == 0:
            return np.ones(tenure.size)
        days = np.clip(np.nan_to_num(tenure, nan=MIN_TENURE_DAYS), MIN_TENURE_DAYS, LOOKBACK_DAYS)
        own = shop_order_rates(self.tx, cut, days)
        ahead = (ahead_orders + 1) / self.horizon_days
        return np.asarray(np.clip(ahead / own, 1 / MAX_SEASON, MAX_SEASON), dtype=np.float64)


def _auc(y: pd.Series, score: np.ndarray) -> float | None:
    ok = np.isfinite(score)
    if not ok.all() or y.nunique() < 2:
        return None
    return float(roc_auc_score(y, score))


def run_churn_risk(
    store: Store,
    as_of: datetime,
    *,
    horizon_days: int = 90,
    windows: int = 6,
    stride_days: int | None = None,
    at_risk: float = 0.5,
    zone: str = DEFAULT_SHOP_TZ,
    random_state: int = 0,
    sample_customers: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ChurnReport:
    """Score, backtest and store every buyer's churn risk as of ``as_of`` (see the module).

    ``stride_days`` defaults to a third of the horizon (windows overlap; a 90-day horizon then
    needs ``windows`` >= 6 for a supervised backtest). Without enough past windows the P(alive)
    risk is used, with a note; without enough buyers for either model, InvalidInputError.

    ``sample_customers``: past this many profiles the backtest windows bring a sample of about
    that many, drawn by ``random_state`` (``shopmind.pipeline._model_sample``; default
    ``SHOPMIND_MODEL_SAMPLE_CUSTOMERS``, else 1,000,000); every buyer is still scored.
    """
    errors = []
    if not isinstance(horizon_days, int) or horizon_days < 1:
        errors.append(FieldError("horizon_days", "must be a whole number of days >= 1"))
    if not isinstance(windows, int) or windows < 1:
        errors.append(FieldError("windows", "must be a whole number >= 1"))
    if not 0.0 <= at_risk <= 1.0:
        errors.append(FieldError("at_risk", "must be a risk between 0 and 1, e.g. 0.5"))
    bound = model_sample_customers() if sample_customers is None else sample_customers
    if not isinstance(bound, int) or bound < 1:
        errors.append(FieldError("sample_customers", "must be a whole number of customers >= 1"))
    if errors:
        raise InvalidInputError(errors)
    report = progress or (lambda phase, done, total: None)
    steps = windows + 3
    events, profiles = store.table("events"), store.table("profiles")
    tx = store.shared(purchase_transactions(store.table("orders"), store.table("order_lines"), profiles))
    # a window has at most one row per profile: the profiles bound the rows it brings
    customers = int(profiles.count().execute())
    share = customer_share(customers, bound)
    stride = stride_days or max(1, horizon_days // 3)
    notes: list[str] = []

    cuts = window_cuts(as_of, horizon_days, windows, stride)
    frames = []
    for k, cut in enumerate(cuts):
        frames.append(
            _labelled(events, tx, profiles, cut, horizon_days, zone, share=share, seed=random_state)
        )
        report("windows", k + 1, steps)
    if share < 1.0:
        notes.append(
            f"the backtest windows hold a seeded sample of about {bound:,} of {customers:,} profiles "
            "(SHOPMIND_MODEL_SAMPLE_CUSTOMERS); P(alive) is fitted on every buyer and every buyer is scored"
        )
    latest = frames[0]
    known_from = first_known(horizon_days, stride)
    known_at = [k for k in range(known_from, len(frames)) if frames[k].y.nunique() == 2]
    known = [frames[k] for k in known_at]
    seasons = _Seasons.of(tx, cuts, horizon_days)
    # the backtest's seasons as they were known at the newest window's cut
    ahead_then, orders_then = seasons.ahead(cuts[0])
    alive_then = seasons.alive_exponents(cuts[0], orders_then, latest.days_since_first_seen)
    alive_risk = seasonal_risk(latest.p_no_purchase.to_numpy(), alive_then)
    p_alive_auc = _auc(latest.y, alive_risk)
    supervised_auc = None
    card = None
    columns = list(COLUMNS)

    def model() -> CalibratedBoostingClassifier:
        # small, slow-learning trees: a shop has far fewer buyers than visitors and churn signals
        # are smooth (recency, frequency, spend); on Online Retail they beat the purchase model's
        # larger trees in the backtest (AUC 0.755 vs 0.715 at 2011-09-09) and the P(alive) risk (0.744)
        return CalibratedBoostingClassifier(
            random_state=random_state,
            n_estimators=200,
            learning_rate=0.02,
            num_leaves=7,
            min_child_samples=200,
        )

    if len(known) >= MIN_WINDOWS and latest.y.nunique() == 2:
        older = pd.concat(known, ignore_index=True)
        groups = np.repeat(np.arange(len(known)), [len(f) for f in known])
        raw = model().fit(older[columns], older.y, groups=groups).predict_proba(latest[columns])[:, 1]
        predicted = seasonal_risk(raw, _season_exponent(ahead_then, seasons.reference(frames, known_at)))
        supervised_auc = _auc(latest.y, predicted)
        card = model_card(
            latest.y,
            predicted,
            name=SCORE,
            baseline=alive_risk if p_alive_auc is not None else None,
            notes=(
                f"backtest: trained on {len(known)} windows of {horizon_days} days, scored on the buyers at the "
                f"newest complete window's cut ({shop_day(as_of - pd.Timedelta(days=horizon_days), zone)}); label: no "
                "purchase within the horizon",
                "baseline_auc: the P(alive)-based risk (BG/NBD P(no purchase within the horizon)) at the same cut",
                "both risks recalibrated for the season of the horizon as it was known at the cut (the same period "
                "the year before)",
            ),
        )
    else:
        notes.append(
            f"only {len(known)} past windows of {horizon_days} days with churners and returners before "
            f"{shop_day(as_of, zone)} (need {MIN_WINDOWS}): churn risk is the P(alive)-based one alone. Import more history "
            "or pick a shorter horizon."
        )
    report("backtest", windows + 1, steps)

    supervised_wins = supervised_auc is not None and (p_alive_auc is None or supervised_auc >= p_alive_auc)
    now = churn_features(events, tx, profiles, as_of, horizon_days, zone, notes)
    if now.empty:
        raise InvalidInputError(
            [FieldError("as_of", f"no buyers before {shop_day(as_of, zone)}: nothing to score")]
        )
    ahead_now, orders_now = seasons.ahead(as_of)
    reference = np.nan
    alive_now = seasons.alive_exponents(as_of, orders_now, now.days_since_first_seen)
    # the P(alive)-based exponent differs per buyer: the median stands for it in the report
    exponents = {"p_alive": float(np.median(alive_now)), "supervised": 1.0}
    scores = {"churn_risk_p_alive": seasonal_risk(now.p_no_purchase.to_numpy(), alive_now)}
    top: tuple[tuple[str, float], ...] = ()
    if supervised_wins:
        every_at = [
            k for k, f in enumerate(frames) if f.y.nunique() == 2
        ]  # the newest too: labels known by now
        every = [frames[k] for k in every_at]
        train = pd.concat(every, ignore_index=True)
        window_of = np.repeat(np.arange(len(every)), [len(f) for f in every])
        production = model().fit(train[columns], train.y, groups=window_of)
        reference = seasons.reference(frames, every_at)
        exponents["supervised"] = _season_exponent(ahead_now, reference)
        scores["churn_risk_supervised"] = seasonal_risk(
            production.predict_proba(now[columns])[:, 1], exponents["supervised"]
        )
        top = production.top_features()
    elif not np.isfinite(scores["churn_risk_p_alive"]).all():
        raise InvalidInputError(
            [
                FieldError(
                    "as_of",
                    f"too few buyers before {shop_day(as_of, zone)} for either churn model (need {MIN_BUYERS} with "
                    "repeat buyers among them, and past windows): import more order history",
                )
            ]
        )
    else:
        card = (
            model_card(latest.y, np.clip(alive_risk, 0, 1), name=SCORE) if p_alive_auc is not None else None
        )
    chosen = "supervised" if supervised_wins else "p_alive"
    scores[SCORE] = scores[f"churn_risk_{chosen}"]
    notes.append(_season_note(chosen, exponents[chosen], horizon_days, (ahead_now, reference), orders_now))
    notes.append(
        f"chosen: {chosen} (backtest AUC supervised "
        f"{'n/a' if supervised_auc is None else f'{supervised_auc:.3f}'}, P(alive)-based "
        f"{'n/a' if p_alive_auc is None else f'{p_alive_auc:.3f}'})"
    )
    report("fit", windows + 2, steps)

    at_risk_ids = _vips_at_risk(store, as_of, now.profile_id, scores[SCORE], at_risk)
    with store.job_run(JOB, as_of) as run_id:
        ids = now.profile_id.to_numpy()
        store.write_scores(
            run_id,
            as_of,
            pa.concat_tables(
                pa.table(
                    {"profile_id": ids, "name": [name] * len(ids), "value": np.asarray(values, dtype=float)}
                )
                for name, values in scores.items()
            ),
        )
        store.write_segment_members(
            run_id,
            as_of,
            pa.table({"segment": [AT_RISK_SEGMENT] * len(at_risk_ids), "profile_id": at_risk_ids}),
        )
        if card is not None:
            store.write_model_card(
                run_id,
                as_of,
                SCORE,
                {
                    **card.to_dict(),
                    "chosen": chosen,
                    "p_alive_auc": p_alive_auc,
                    "season": exponents[chosen],
                    "season_p_alive": exponents["p_alive"],
                },
            )
    report("store", steps, steps)
    return ChurnReport(
        run_id=run_id,
        as_of=as_of,
        horizon_days=horizon_days,
        buyers=len(now),
        chosen=chosen,
        supervised_auc=supervised_auc,
        p_alive_auc=p_alive_auc,
        card=card,
        vips_at_risk=len(at_risk_ids),
        top_features=top,
        notes=tuple(dict.fromkeys(notes)),
        season=exponents[chosen],
    )


def _season_note(
    chosen: str, exponent: float, horizon_days: int, ahead: tuple[float, float], ahead_orders: float
) -> str:
    """``ahead``: the log activity of the same period last year and of the training windows."""
    if horizon_days > SEASON_MAX_HORIZON:
        return f"a horizon of {horizon_days} days holds every season: churn risk is not adjusted for one"
    if not np.isfinite(ahead[0] if chosen == "supervised" else ahead_orders):
        return (
            "the order history does not reach the same period last year: churn risk is not adjusted for the "
            "season ahead"
        )
    way = "raised" if exponent < 1 else "lowered" if exponent > 1 else "kept"
    if chosen == "supervised":
        return (
            f"season: the same {horizon_days} days a year ago had {np.exp(ahead[0]):.2f}x the orders per day of the "
            f"weeks before them, the windows the risk was fitted on {np.exp(ahead[1]):.2f}x; churn risk {way} for it "
            f"(risk ** {exponent:.2f})"
        )
    return (
        f"season: the same {horizon_days} days a year ago held {ahead_orders:.0f} orders; each buyer's risk is set "
        f"against the shop's order rate over their own history (risk ** {exponent:.2f} for the median buyer)"
    )


def _vips_at_risk(
    store: Store, as_of: datetime, ids: pd.Series, risk: np.ndarray, at_risk: float
) -> list[str]:
    """The CLV VIPs of the customer-intelligence run of the same ``as_of`` whose risk is at least
    ``at_risk``, riskiest first (none without such a run)."""
    run_id = store.run_at("customer_intelligence", as_of)
    rows = store.sql(
        "SELECT profile_id FROM segment_members WHERE run_id = ? AND segment = 'clv_vip'", [run_id]
    )
    vips = {pid for (pid,) in rows}
    frame = pd.DataFrame({"profile_id": ids.to_numpy(), "risk": risk})
    flagged = frame[frame.profile_id.isin(vips) & (frame.risk >= at_risk)]
    return flagged.sort_values(["risk", "profile_id"], ascending=[False, True]).profile_id.tolist()
