"""Choosing the lifetime-value model by backtest: every candidate predicts the spend of a window
whose outcome is known, the best one (Spearman + Pearson) is kept, and its level there corrects
the prediction when the window is as long as the horizon.

The fits, the histories and the candidates live in ``_clv_fit``, ``_clv_summary``,
``_clv_supervised`` and ``_clv_candidates``; their names are re-exported here for the jobs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from shopmind.features import calendar_features
from shopmind.pipeline._clv_candidates import (
    ALL_CANDIDATES,
    BLEND,
    BLENDS,
    CANDIDATES,
    NAIVE_CANDIDATES,
    naive_spend,
    predict_candidates,
    predict_spend,
    predict_transactions,
)
from shopmind.pipeline._clv_fit import (
    PENALTY,
    FloatArray,
    fit_repeat_purchases,
    fit_spend,
    fit_spend_all_orders,
    spend_per_order,
)
from shopmind.pipeline._clv_summary import (
    MIN_HISTORY_DAYS,
    MIN_WINDOW_DAYS,
    YEAR_DAYS,
    Histories,
    customer_summary,
    spend_between,
    transactions_between,
)

__all__ = [  # the jobs' names: the choice here, the rest re-exported from the step modules
    "ALL_CANDIDATES",
    "BLEND",
    "BLENDS",
    "CANDIDATES",
    "MIN_HISTORY_DAYS",
    "MIN_WINDOW_DAYS",
    "NAIVE_CANDIDATES",
    "PENALTY",
    "YEAR_DAYS",
    "CandidateScore",
    "ClvChoice",
    "FloatArray",
    "choose_clv_model",
    "clv_of_choice",
    "customer_summary",
    "fit_repeat_purchases",
    "fit_spend",
    "fit_spend_all_orders",
    "naive_spend",
    "predict_spend",
    "predict_transactions",
    "spend_between",
    "spend_per_order",
    "transactions_between",
]

SAME_SEASON = "same season a year before"
_LEVEL_BOUNDS = (0.5, 2.0)  # a backtest that says "double it" or more says more about itself


@dataclass(frozen=True)
class CandidateScore:
    """How one candidate predicted a backtest window's spend per customer."""

    name: str
    spearman: float
    pearson: float
    predicted_total: float
    actual_total: float
    note: str = ""

    @property
    def total_ratio(self) -> float:
        return self.predicted_total / self.actual_total if self.actual_total > 0 else math.nan


@dataclass(frozen=True)
class ClvChoice:
    """The backtest's verdict: which model predicts spend best, on which window, and the level
    correction (actual / predicted total of the chosen model in that window)."""

    chosen: str
    reason: str
    window_kind: str  # "same season a year before", "newest window", "newest window, shorter", "none"
    backtest_cut: date | None
    backtest_end: date | None
    horizon_days: int
    level: float
    scores: tuple[CandidateScore, ...]
    #: the shop's known peaks (features.calendar_features) in the horizon ahead, and in the
    #: backtest's holdout (None without a backtest): a peak ahead that the backtest did not hold
    #: is one the level correction cannot know
    peak_ahead: bool = False
    peak_in_backtest: bool | None = None
    #: the backtest's holdout in days: ``horizon_days`` unless the history was too short for a
    #: window that long (then the level it measured is of a shorter, other part of the year)
    backtest_days: int | None = None

    @property
    def level_applies(self) -> bool:
        """Whether ``level`` was measured on the horizon's part of the year: a window as long as
        the horizon on the same season a year before, or a whole year. A shorter window, or the
        newest one of a horizon under a year, is another season (e.g. January-June, learnt on
        months that held the autumn peak, before a horizon over the next one): its level is
        recorded, not applied."""
        return _level_applies(self.window_kind, self.backtest_days, self.horizon_days)

    def card(self) -> dict[str, Any]:
        """The model-card entry (JSON-able)."""
        return {
            "chosen": self.chosen,
            "reason": self.reason,
            "backtest": {
                "window": self.window_kind,
                "calibration_end": self.backtest_cut.isoformat() if self.backtest_cut else None,
                "holdout_end": self.backtest_end.isoformat() if self.backtest_end else None,
                "horizon_days": self.horizon_days,
                "holdout_days": self.backtest_days,
            },
            "level": self.level,
            "level_applies": self.level_applies,
            "peak_ahead": self.peak_ahead,
            "peak_in_backtest": self.peak_in_backtest,
            "candidates": [
                {
                    "name": s.name,
                    "spearman": _json_float(s.spearman),
                    "pearson": _json_float(s.pearson),
                    "predicted_total": _json_float(s.predicted_total),
                    "actual_total": _json_float(s.actual_total),
                    "note": s.note,
                }
                for s in self.scores
            ],
        }


def _level_applies(window_kind: str, backtest_days: int | None, horizon_days: int) -> bool:
    """See :attr:`ClvChoice.level_applies`."""
    if backtest_days != horizon_days:
        return False
    return window_kind == SAME_SEASON or horizon_days >= YEAR_DAYS


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _correlations(
    predicted: FloatArray, actual: FloatArray, actual_ranks: FloatArray | None = None
) -> tuple[float, float]:
    """Spearman's and Pearson's correlations (NaN when either side is constant), as
    ``scipy.stats.spearmanr`` and ``pearsonr`` compute them; ``actual_ranks``: ``rankdata(actual)``
    when the backtest has it already (every candidate is compared with the same spend)."""
    from scipy.stats import pearsonr, rankdata

    if len(actual) < 3 or np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        return math.nan, math.nan
    # spearmanr's own steps (the columns' average ranks, then their correlation matrix): the same
    # value, without its per-call checks and p-value (half of a backtest's scoring time)
    ranks = np.column_stack([rankdata(predicted), rankdata(actual) if actual_ranks is None else actual_ranks])
    return float(np.corrcoef(ranks, rowvar=False)[1, 0]), float(pearsonr(predicted, actual)[0])


def choose_clv_model(
    purchases: pd.DataFrame,
    as_of: date,
    horizon_days: int,
    candidates: Sequence[str] = CANDIDATES,
    *,
    country: str = "KR",
    shorter_backtest: bool = False,
    histories: Histories | None = None,
) -> ClvChoice:
    """Backtest every candidate on a window whose outcome is known and choose the one that
    predicts spend per customer best (the sum of the Spearman and Pearson correlations with the
    actual spend: the ranking VIPs come from and the amounts; ties go to the simpler model).

    The window is the same season a year before (cut at ``as_of`` - 365 days, holdout the next
    ``horizon_days``) when the history reaches that far, so a holdout over an autumn peak is
    judged on last year's autumn; otherwise the newest ``horizon_days`` before ``as_of``. The
    chosen model's actual / predicted total there is the level correction (within 0.5..2).
    ``country`` names the shop's calendar of peaks (설날, 추석 in KR; Black Friday, Christmas):
    when a peak falls in the horizon ahead but not in the backtest's, the reason says so.

    ``shorter_backtest``: when no window of ``horizon_days`` fits, backtest on a shorter newest
    window (half of the history after MIN_HISTORY_DAYS, at least MIN_WINDOW_DAYS) instead of
    falling back to BG/NBD. Off by default: on Online Retail alone (seven months, a 162-day
    horizon) the 60-day window chooses BG/NBD with Gamma-Gamma on every order, which ranks better
    than BG/NBD on the holdout (Spearman 0.580 vs 0.545) but matches the amounts worse (Pearson
    0.761 vs 0.789), and beats the naive rate on neither (bench/bench_clv_holdout.py prints it):
    a window of other, fewer weeks is weak evidence for the horizon.

    ``histories``: the per-cut summaries of ``purchases``, to share with :func:`clv_of_choice`
    (the backtest's cut is where the final regression learns)."""
    unknown = [name for name in candidates if name not in ALL_CANDIDATES]
    if unknown:
        raise ValueError(
            f"candidates: unknown {', '.join(map(repr, unknown))} (known: {', '.join(ALL_CANDIDATES)})"
        )
    histories = histories if histories is not None else Histories(purchases)
    choice = _choose(histories, as_of, horizon_days, candidates, shorter_backtest)
    ahead = bool(calendar_features([as_of], horizon_days, country=country)["peak_in_horizon"].iloc[0])
    before = (
        bool(
            calendar_features([choice.backtest_cut], choice.backtest_days or horizon_days, country=country)[
                "peak_in_horizon"
            ].iloc[0]
        )
        if choice.backtest_cut
        else None
    )
    reason = choice.reason
    if ahead and not before:
        reason += (
            "; a shopping peak falls in the horizon ahead but "
            + ("no backtest was possible" if before is None else "not in the backtest's window")
            + ", so the prediction cannot include it (it will likely fall short)"
        )
    return replace(choice, reason=reason, peak_ahead=ahead, peak_in_backtest=before)


def _choose(
    histories: Histories, as_of: date, horizon_days: int, candidates: Sequence[str], shorter: bool
) -> ClvChoice:
    purchases = histories.purchases
    start = purchases["day"].min() if len(purchases) else as_of
    year_cut = as_of - timedelta(days=YEAR_DAYS)
    newest_cut = as_of - timedelta(days=horizon_days)
    # a shorter newest window when the horizon's does not fit: half of what is left after
    # MIN_HISTORY_DAYS, so the supervised candidate can learn on a window as long before it
    short_days = min(horizon_days, ((as_of - start).days - MIN_HISTORY_DAYS) // 2)
    window_days = horizon_days
    if start <= year_cut - timedelta(days=MIN_HISTORY_DAYS):
        kind, cut = SAME_SEASON, year_cut
    elif start <= newest_cut - timedelta(days=MIN_HISTORY_DAYS):
        kind, cut = "newest window", newest_cut
    elif shorter and short_days >= MIN_WINDOW_DAYS:
        kind, cut, window_days = "newest window, shorter", as_of - timedelta(days=short_days), short_days
    else:
        return ClvChoice(
            "bg_nbd",
            f"history from {start} is too short for a backtest of {horizon_days} days (need "
            f"{MIN_HISTORY_DAYS} days before the window): BG/NBD by default, level 1",
            "none",
            None,
            None,
            horizon_days,
            1.0,
            (),
        )
    end = cut + timedelta(days=window_days)
    scores = []
    made = predict_candidates(candidates, cut, window_days, histories)
    from scipy.stats import rankdata

    # every candidate predicts the customers of the cut's summary: their actual spend in the
    # window and its ranks are computed once
    customers = histories.summary(cut).index
    actual = spend_between(purchases, cut, end, customers)
    actual_ranks = np.asarray(rankdata(actual), dtype=np.float64)
    for name in candidates:
        predicted = made[name]
        if isinstance(predicted, Exception):
            scores.append(
                CandidateScore(name, math.nan, math.nan, math.nan, math.nan, f"not scored: {predicted}")
            )
            continue
        assert predicted.index.equals(customers), name
        values = predicted.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            scores.append(
                CandidateScore(
                    name, math.nan, math.nan, math.nan, float(actual.sum()), "predictions not finite"
                )
            )
            continue
        spearman, pearson = _correlations(values, actual, actual_ranks)
        scores.append(CandidateScore(name, spearman, pearson, float(values.sum()), float(actual.sum())))
    usable = [
        s for s in scores if math.isfinite(s.spearman) and math.isfinite(s.pearson) and s.predicted_total > 0
    ]
    if not usable:
        return ClvChoice(
            "bg_nbd",
            "no candidate could be scored on the backtest window: BG/NBD by default, level 1",
            kind,
            cut,
            end,
            horizon_days,
            1.0,
            tuple(scores),
            backtest_days=window_days,
        )
    best = max(usable, key=lambda s: round(s.spearman + s.pearson, 3))
    level = float(np.clip(best.actual_total / best.predicted_total, *_LEVEL_BOUNDS))
    others = ", ".join(f"{s.name} {s.spearman:.3f}/{s.pearson:.3f}" for s in usable if s is not best)
    reason = (
        f"{best.name} predicted the spend of {cut} .. {end} ({kind}) best: Spearman {best.spearman:.3f}, "
        f"Pearson {best.pearson:.3f} (others, Spearman/Pearson: {others or 'none'}); it predicted "
        f"{100 * best.total_ratio:.0f}% of the actual total there, "
        + (
            f"so its predictions are scaled by {level:.3f}"
            if _level_applies(kind, window_days, horizon_days)
            # a level measured on other, fewer weeks says nothing about the horizon's season
            else f"a level ({level:.3f}) of {window_days} days, not of the {horizon_days} ahead: not applied"
            if window_days != horizon_days
            else f"a level ({level:.3f}) of another part of the year than the {horizon_days} days ahead: "
            "not applied"
        )
    )
    return ClvChoice(
        best.name, reason, kind, cut, end, horizon_days, level, tuple(scores), backtest_days=window_days
    )


def clv_of_choice(
    chosen: str,
    probabilistic: FloatArray,
    purchases: pd.DataFrame,
    last_day: date,
    customers: Sequence[str],
    *,
    histories: Histories | None = None,
) -> FloatArray:
    """The next year's value per customer (in ``customers``' order) from the chosen candidate:
    ``probabilistic`` (the count model x Gamma-Gamma's discounted CLV) for the probabilistic
    models; for "bg_nbd_all_orders" the same with Gamma-Gamma on every order (``probabilistic``
    x each customer's E[spend per order] on every order / on the repeat ones); the regression's
    or the naive rate's own prediction of the next year's spend (undiscounted) for those; the
    mean of its parts for a blend (whose count model is BG/NBD). ``histories``: the per-cut
    summaries of ``purchases`` the backtest made (:func:`choose_clv_model`), when at hand."""
    order = list(customers)
    histories = histories if histories is not None else Histories(purchases)

    def part(name: str) -> FloatArray:
        if name in ("supervised", "naive_rate"):
            predicted = predict_spend(name, purchases, last_day, YEAR_DAYS, histories=histories)
            return np.asarray(predicted.reindex(order).fillna(0.0).to_numpy(dtype=np.float64))
        if name.endswith("_all_orders"):
            summary = histories.summary(last_day)
            x, m, revenue = (
                summary[c].to_numpy(dtype=np.float64) for c in ("frequency", "monetary_value", "revenue")
            )
            every = spend_per_order(x, m, revenue, all_orders=True)
            repeat = spend_per_order(x, m, revenue, all_orders=False)
            ratio = pd.Series(
                np.divide(every, repeat, out=np.ones_like(every), where=repeat > 0), index=summary.index
            )
            return np.asarray(probabilistic * ratio.reindex(order).fillna(1.0).to_numpy(dtype=np.float64))
        return probabilistic

    return np.asarray(
        np.mean([part(name) for name in BLENDS.get(chosen, (chosen,))], axis=0), dtype=np.float64
    )
