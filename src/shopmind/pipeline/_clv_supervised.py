"""The supervised spend candidate: a gradient-boosted regression of each customer's spend over the
horizon on their history, trained where the outcome is known (the same season a year before, else
the window just before the cut)."""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import numpy as np
import pandas as pd

from shopmind.pipeline._clv_fit import FloatArray, fit_repeat_purchases
from shopmind.pipeline._clv_summary import (
    DAYS_PER_WEEK,
    MIN_HISTORY_DAYS,
    MIN_WINDOW_DAYS,
    YEAR_DAYS,
    Histories,
    spend_between,
)


def _supervised_features(
    purchases: pd.DataFrame, cut: date, window_days: int, summary: pd.DataFrame
) -> pd.DataFrame:
    """The features of each customer at ``cut``; ``summary``: theirs (``customer_summary``)."""
    # rates and times since, not totals: a history longer at prediction than at training time
    # would otherwise put every customer beyond the trees' training range
    weeks = np.maximum(summary["T"], 1.0 / DAYS_PER_WEEK)
    features = pd.DataFrame(
        {
            "spend_rate": summary["revenue"] / weeks,  # the naive rate
            "purchase_rate": summary["frequency"] / weeks,
            "weeks_since_last": summary["T"] - summary["recency"],
            "monetary_value": summary["monetary_value"],
        },
        index=summary.index,
    )
    customers = summary.index
    features["last_window"] = spend_between(purchases, cut - timedelta(days=window_days), cut, customers)
    # what BG/NBD makes of each customer at this cut (fitted here, on this cut's history only):
    # the trees learn when to trust its dropout and when the plain rate
    x, t_x, age = (summary[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
    if (x > 0).sum() >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            counts = fit_repeat_purchases(x, t_x, age, [])
            features["bg_nbd_expected"] = counts.conditional_expected_number_of_purchases_up_to_time(
                window_days / DAYS_PER_WEEK, x, t_x, age
            )
            features["p_alive"] = counts.conditional_probability_alive(x, t_x, age)
    # the same days a year before, what the season did to this customer (NaN when the history
    # does not reach back so far): the seasons a stationary count model cannot see
    year_ago = cut - timedelta(days=YEAR_DAYS)
    reaches = purchases["day"].min() <= year_ago - timedelta(days=window_days)
    features["same_window_last_year"] = (
        spend_between(purchases, year_ago, year_ago + timedelta(days=window_days), customers)
        if reaches
        else np.nan
    )
    features["last_year_before"] = (
        spend_between(purchases, year_ago - timedelta(days=window_days), year_ago, customers)
        if reaches
        else np.nan
    )
    return features


def supervised_spend(
    purchases: pd.DataFrame, cut: date, horizon_days: int, *, histories: Histories | None = None
) -> FloatArray:
    """A gradient-boosted regression (Poisson loss: spend is non-negative and skewed) of the
    spend in the next ``horizon_days`` on each customer's history, trained where the label is
    known: the same season a year before when the history reaches, else the window just before
    ``cut``. When the history is too short for a label window of ``horizon_days`` after
    MIN_HISTORY_DAYS of features, the label window is what the history allows (at least
    MIN_WINDOW_DAYS) and the predictions are scaled by ``horizon_days`` / that window, as a
    rate. LightGBM, seeded and single-threaded: the same figures on every run. ``histories``:
    the summaries of ``purchases`` (or of more) shared with other candidates."""
    from lightgbm import LGBMRegressor

    histories = histories if histories is not None else Histories(purchases)

    year_back = cut - timedelta(days=YEAR_DAYS)
    start = purchases["day"].min()
    if start <= year_back - timedelta(days=MIN_HISTORY_DAYS):
        train_cut, window = year_back, horizon_days
    else:
        window = min(horizon_days, (cut - start).days - MIN_HISTORY_DAYS)
        if window < MIN_WINDOW_DAYS:
            raise ValueError("the history is too short to train on a window before the cut")
        train_cut = cut - timedelta(days=window)
    known = purchases[purchases["day"] <= train_cut + timedelta(days=window)]
    train = _supervised_features(
        known[known["day"] <= train_cut], train_cut, window, histories.summary(train_cut)
    )
    label = spend_between(known, train_cut, train_cut + timedelta(days=window), train.index)
    now = _supervised_features(purchases[purchases["day"] <= cut], cut, window, histories.summary(cut))
    # a feature the history cannot give at either cut (last year's season) is left out of both
    usable = [
        c for c in train.columns if c in now.columns and train[c].notna().any() and now[c].notna().any()
    ]
    train, now = train[usable], now[usable]
    model = LGBMRegressor(
        objective="poisson",
        n_estimators=200,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=40,
        random_state=0,
        deterministic=True,
        num_threads=1,  # one thread: identical results everywhere, and no pool fighting the other jobs
        verbose=-1,
    )
    if len(train) < 2 or not (np.asarray(label, dtype=np.float64) > 0).any():
        # a Poisson fit needs some spend to learn from (LightGBM stops: "sum of labels is zero")
        raise ValueError("no customer spent anything in the window the regression would learn from")
    from lightgbm.basic import LightGBMError

    try:
        model.fit(train.to_numpy(dtype=np.float64), label)
    except LightGBMError as error:  # the job goes on with the other candidates
        raise ValueError(f"the spend regression could not be fitted: {error}") from error
    predicted = np.asarray(model.predict(now.to_numpy(dtype=np.float64)), dtype=np.float64) * (
        horizon_days / window
    )
    return np.asarray(predicted, dtype=np.float64)
