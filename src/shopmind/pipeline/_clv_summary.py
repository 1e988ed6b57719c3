"""Per-customer purchase histories as the CLV models count them (one transaction per customer and
day, times in weeks) and the outcomes a backtest compares predictions with."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from shopmind.pipeline._clv_fit import FloatArray

YEAR_DAYS = 365
MIN_HISTORY_DAYS = 90  # of calibration before a backtest cut: less and no model is worth fitting
#: the shortest backtest (or supervised label) window: shorter says more about a week's luck
MIN_WINDOW_DAYS = 28
DAYS_PER_WEEK = 7.0


def customer_summary(purchases: pd.DataFrame, cut: date) -> pd.DataFrame:
    """Per customer who bought on or before ``cut``: frequency, recency and T in weeks (one
    transaction per customer and day, as the CLV models count them), revenue, and the mean spend
    of the repeat transactions (0 without one). ``purchases`` has ``customer``, ``day`` (a date)
    and ``value``, one row per purchase or coarser."""
    number = _day_numbers(purchases["day"])
    cut_number = (cut - _EPOCH).days
    kept = number <= cut_number
    seen = pd.DataFrame(
        {
            "customer": purchases["customer"].to_numpy()[kept],
            "day": number[kept],
            "value": purchases["value"].to_numpy()[kept],
        }
    )
    # days as whole numbers (since 1970-01-01): the same groups in the same order as dates, so
    # the same sums, and min/max/differences of integers instead of dates (0.2 -> 0.02 s a cut)
    daily = seen.groupby(["customer", "day"], sort=True)["value"].sum().reset_index()
    per = daily.groupby("customer", sort=True)
    first, last = per["day"].min(), per["day"].max()
    summary = pd.DataFrame(
        {
            "frequency": (per["day"].count() - 1).astype(float),
            "recency": (last - first) / DAYS_PER_WEEK,
            "T": (cut_number - first) / DAYS_PER_WEEK,
            "revenue": per["value"].sum().astype(float),
        }
    )
    summary.index.name = "customer"
    repeat = daily[daily["day"].to_numpy() > first.to_numpy()[per.ngroup().to_numpy()]]
    summary["monetary_value"] = repeat.groupby("customer")["value"].mean().reindex(summary.index).fillna(0.0)
    return summary


_EPOCH = date(1970, 1, 1)


def _day_numbers(days: pd.Series) -> np.ndarray:
    """The days since 1970-01-01 of a column of dates (Arrow dates or Python ``date`` objects)."""
    if isinstance(days.dtype, pd.ArrowDtype):
        return np.asarray(pa.array(days).cast(pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.asarray(pd.to_datetime(days).to_numpy().astype("datetime64[D]").astype(np.int64))


class Histories:
    """The purchases up to each cut and their :func:`customer_summary`, each computed once: a
    backtest reads them for every candidate it scores (seven by default, the same cut)."""

    def __init__(self, purchases: pd.DataFrame) -> None:
        self.purchases = purchases
        self._seen: dict[date, pd.DataFrame] = {}
        self._summaries: dict[date, pd.DataFrame] = {}

    def seen(self, cut: date) -> pd.DataFrame:
        """The purchases on or before ``cut``."""
        if cut not in self._seen:
            self._seen[cut] = self.purchases[self.purchases["day"] <= cut]
        return self._seen[cut]

    def summary(self, cut: date) -> pd.DataFrame:
        """:func:`customer_summary` of the purchases on or before ``cut`` (do not change it)."""
        if cut not in self._summaries:
            self._summaries[cut] = customer_summary(self.seen(cut), cut)
        return self._summaries[cut]


def spend_between(purchases: pd.DataFrame, start: date, end: date, customers: pd.Index) -> FloatArray:
    """Each customer's spend on days in (start, end]."""
    window = purchases[(purchases["day"] > start) & (purchases["day"] <= end)]
    spend = window.groupby("customer")["value"].sum().reindex(customers).fillna(0.0)
    return np.asarray(spend.to_numpy(dtype=np.float64))


def transactions_between(purchases: pd.DataFrame, start: date, end: date, customers: pd.Index) -> FloatArray:
    """Each customer's transactions on days in (start, end], counted as the CLV models count them
    (one per customer and day)."""
    window = purchases[(purchases["day"] > start) & (purchases["day"] <= end)]
    count = window.groupby("customer")["day"].nunique().reindex(customers).fillna(0.0)
    return np.asarray(count.to_numpy(dtype=np.float64))
