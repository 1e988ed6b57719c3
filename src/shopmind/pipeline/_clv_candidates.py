"""The candidates the CLV job chooses among, each a prediction of every customer's spend over a
horizon from their purchases up to a cut: the probabilistic models (count model x Gamma-Gamma),
the supervised regression, the naive rate, and blends of these."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import pandas as pd

from shopmind.core import ShopmindError
from shopmind.models import BetaGeoModel, ParetoNBDModel
from shopmind.pipeline._clv_fit import PENALTY, FloatArray, fit_repeat_purchases, spend_per_order
from shopmind.pipeline._clv_summary import DAYS_PER_WEEK, Histories, customer_summary
from shopmind.pipeline._clv_supervised import supervised_spend

#: The candidates the job backtests by default, in the order a tie is broken (simpler first).
CANDIDATES = (
    "bg_nbd",
    "pareto_nbd",
    "bg_nbd_penalised",
    "pareto_nbd_penalised",
    "bg_nbd_all_orders",  # BG/NBD x Gamma-Gamma on every order, the first included
    "supervised",
    "blend",
)
#: Candidates a caller may add (``choose_clv_model(..., candidates=ALL_CANDIDATES)``), not backtested
#: by default: the naive rate (spend so far per week of the shop's history) means another thing at
#: a backtest cut a year back, with less history behind it, than at the prediction's cut. On Online
#: Retail II + Online Retail the backtest on 2010's autumn (seven months of history) chose it, and on
#: 2011's holdout (nineteen months) it lost to BG/NBD on Spearman, Pearson and the total
#: (bench/bench_clv_holdout.py prints both).
NAIVE_CANDIDATES = ("naive_rate", "naive_blend")
ALL_CANDIDATES = CANDIDATES + NAIVE_CANDIDATES
#: the blends: the mean of their parts' predictions of spend. "blend": BG/NBD x Gamma-Gamma ranks
#: by the amounts, the regression by the recent rate; each misses what the other sees.
#: "naive_blend": the naive rate ranks by what each customer spent so far (the first order
#: included, which Gamma-Gamma leaves out), BG/NBD x Gamma-Gamma sizes the amounts
BLENDS = {"blend": ("bg_nbd", "supervised"), "naive_blend": ("bg_nbd", "naive_rate")}
BLEND = BLENDS["blend"]


def _history_weeks(purchases: pd.DataFrame, cut: date) -> float:
    """The weeks from the history's first day to ``cut`` (at least one day)."""
    start = purchases["day"].min() if len(purchases) else cut
    return max((cut - start).days, 1) / DAYS_PER_WEEK


def naive_spend(purchases: pd.DataFrame, summary: pd.DataFrame, cut: date, horizon_days: int) -> FloatArray:
    """The naive rate: each customer's spend so far per week of the shop's history (not of their
    own: a newcomer's one order is not a weekly habit) times the horizon's weeks. It needs no fit
    and knows each one-time buyer's order, which the probabilistic models score alike."""
    weeks = _history_weeks(purchases[purchases["day"] <= cut], cut)
    revenue = summary["revenue"].to_numpy(dtype=np.float64)
    return np.asarray(revenue / weeks * horizon_days / DAYS_PER_WEEK, dtype=np.float64)


def predict_transactions(name: str, purchases: pd.DataFrame, cut: date, horizon_days: int) -> pd.Series:
    """The expected transactions per customer (who bought on or before ``cut``) in the
    ``horizon_days`` after ``cut`` of the count model the job fits for the named candidate
    (BG/NBD, with the job's refit when plain maximum likelihood fails, for "bg_nbd" and for the
    candidates that predict spend only: "supervised" and the blends; the naive rate's own count
    for "naive_rate")."""
    summary = customer_summary(purchases[purchases["day"] <= cut], cut)
    x, t_x, age = (summary[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
    if name not in ALL_CANDIDATES:
        raise ValueError(f"unknown candidate {name!r}")
    if name == "naive_rate":
        transactions = summary["frequency"].to_numpy(dtype=np.float64) + 1.0
        weeks = _history_weeks(purchases, cut)
        return pd.Series(transactions / weeks * horizon_days / DAYS_PER_WEEK, index=summary.index, name=name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name in ("bg_nbd", "bg_nbd_all_orders", "supervised", "blend", "naive_blend"):
            counts: BetaGeoModel | ParetoNBDModel = fit_repeat_purchases(x, t_x, age, [])
        else:
            penalty = PENALTY if name.endswith("_penalised") else 0.0
            model_class = ParetoNBDModel if name.startswith("pareto_nbd") else BetaGeoModel
            counts = model_class(penalizer_coef=penalty).fit(x, t_x, age)
        expected = counts.conditional_expected_number_of_purchases_up_to_time(
            horizon_days / DAYS_PER_WEEK, x, t_x, age
        )
    return pd.Series(np.asarray(expected, dtype=np.float64), index=summary.index, name=name)


def _probabilistic_spend(name: str, summary: pd.DataFrame, horizon_days: float) -> FloatArray:
    """E[transactions in the horizon] x E[spend per transaction] of the named count model with
    Gamma-Gamma (on the repeat orders, or on every order for "..._all_orders"), fitted on
    ``summary``."""
    x, t_x, age, m, revenue = (
        summary[c].to_numpy(dtype=np.float64)
        for c in ("frequency", "recency", "T", "monetary_value", "revenue")
    )
    penalty = PENALTY if name.endswith("_penalised") else 0.0
    model_class = ParetoNBDModel if name.startswith("pareto_nbd") else BetaGeoModel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counts = model_class(penalizer_coef=penalty).fit(x, t_x, age)
        expected = counts.conditional_expected_number_of_purchases_up_to_time(
            horizon_days / DAYS_PER_WEEK, x, t_x, age
        )
        per_purchase = spend_per_order(x, m, revenue, all_orders=name.endswith("_all_orders"))
    return np.asarray(expected * per_purchase, dtype=np.float64)


def predict_spend(
    name: str, purchases: pd.DataFrame, cut: date, horizon_days: int, *, histories: Histories | None = None
) -> pd.Series:
    """The named candidate's predicted spend per customer (who bought on or before ``cut``) in
    the ``horizon_days`` after ``cut``, from the purchases up to ``cut`` only. ``histories``:
    the summaries shared with other candidates' predictions (made here when not given); when
    given, its purchases are the ones read (they must hold those of ``purchases`` up to ``cut``)."""
    histories = histories if histories is not None else Histories(purchases)
    seen, summary = histories.seen(cut), histories.summary(cut)
    if name == "supervised":
        values = supervised_spend(seen, cut, horizon_days, histories=histories)
    elif name == "naive_rate":
        values = naive_spend(seen, summary, cut, horizon_days)
    elif name in BLENDS:
        parts = [
            predict_spend(part, seen, cut, horizon_days, histories=histories).to_numpy(dtype=np.float64)
            for part in BLENDS[name]
        ]
        values = np.mean(parts, axis=0)
    elif name in ALL_CANDIDATES:
        values = _probabilistic_spend(name, summary, horizon_days)
    else:
        raise ValueError(f"unknown candidate {name!r}")
    return pd.Series(values, index=summary.index, name=name)


#: the threads a backtest predicts its candidates in: their heavy parts (numpy over the Pareto/NBD
#: quadrature's rows, LightGBM) run outside Python's lock, so two take turns on two cores
BACKTEST_THREADS = 2
#: the candidates by their cost on Online Retail (heaviest first), so two threads end together
_COST_ORDER = ("supervised", "pareto_nbd_penalised", "pareto_nbd")

# the errors a candidate's prediction may end in: it is then not scored, the others are
_CANDIDATE_ERRORS = (ValueError, ShopmindError, np.linalg.LinAlgError)


def predict_candidates(
    names: Sequence[str],
    cut: date,
    horizon_days: int,
    histories: Histories,
    *,
    threads: int = BACKTEST_THREADS,
) -> dict[str, pd.Series | Exception]:
    """Each named candidate's :func:`predict_spend` from ``histories``' purchases up to ``cut``
    (a blend from its parts' predictions when they are among ``names``), or the error it ended
    in. The candidates run in ``threads`` threads; each is computed alone, seeded and with
    single-threaded native code, so the predictions are those of one after the other. Warnings
    of the fits are not shown (a backtest's candidate fits on a past cut; the chosen model's
    own fit reports its problems)."""
    blends = [name for name in names if name in BLENDS and all(part in names for part in BLENDS[name])]
    singles = sorted(
        (name for name in names if name not in blends),
        key=lambda name: _COST_ORDER.index(name) if name in _COST_ORDER else len(_COST_ORDER),
    )
    histories.summary(cut)  # made once, before the threads read it

    def one(name: str) -> pd.Series | Exception:
        try:
            return predict_spend(name, histories.purchases, cut, horizon_days, histories=histories)
        except _CANDIDATE_ERRORS as error:
            return error

    # warnings.catch_warnings is process-wide, not per thread: the candidates' own blocks may
    # interleave inside this one, which restores the filters after all of them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if threads > 1 and len(singles) > 1:
            with ThreadPoolExecutor(min(threads, len(singles)), thread_name_prefix="clv-backtest") as pool:
                made = dict(zip(singles, pool.map(one, singles), strict=True))
        else:
            made = {name: one(name) for name in singles}
    for name in blends:
        parts = [made[part] for part in BLENDS[name]]
        failed = [part for part in parts if isinstance(part, Exception)]
        series = [part for part in parts if isinstance(part, pd.Series)]
        made[name] = (
            failed[0]
            if failed
            else pd.Series(
                np.mean([part.to_numpy() for part in series], axis=0), index=series[0].index, name=name
            )
        )
    return {name: made[name] for name in names}
