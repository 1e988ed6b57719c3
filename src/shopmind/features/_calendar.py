"""Features that know the calendar: how far the shop's known shopping peaks are from a cut, whether
one falls in the coming horizon, the time of year, and the shop's own momentum (its orders lately
against the same weeks a year before).

A model trained on windows from one season and applied in another sees the same customer behaviour
followed by very different outcomes (a 90-day window that holds Christmas or 추석 brings many buyers
back; one in February does not). These columns let it tell the windows apart. They are pure
functions of the cuts (and, for the momentum, of the shop's order times): no store.

Peaks per country: Korean shops (``"KR"``) have 설날 and 추석 (lunar dates, from the ``holidays``
package, which computes them offline) besides Black Friday and Christmas; other countries have Black
Friday and Christmas. A peak a country does not keep is NaN in its ``days_to_*`` column, so every
country gets the same columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import holidays
import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pandas as pd

from shopmind.core import FieldError, InvalidInputError

FloatArray = npt.NDArray[np.float64]

#: The peaks, in column order: ``days_to_<peak>``.
PEAKS = ("seollal", "chuseok", "black_friday", "christmas")
#: Which peaks each country keeps; countries not listed keep :data:`DEFAULT_PEAKS`.
COUNTRY_PEAKS: dict[str, tuple[str, ...]] = {"KR": PEAKS}
DEFAULT_PEAKS = ("black_friday", "christmas")
#: A year ago, in whole weeks, so that the same weekdays are compared (shops sell by weekday).
YEAR_DAYS = 364
CALENDAR_COLUMNS = (
    *(f"days_to_{peak}" for peak in PEAKS),
    "days_to_next_peak",
    "peak_in_horizon",
    "month_sin",
    "month_cos",
)
MOMENTUM_COLUMNS = (
    "shop_orders_recent",
    "shop_orders_year_before",
    "shop_orders_ahead_year_before",
    "shop_momentum",
    "shop_season_ahead",
    "shop_season_index",
)


def _black_friday(year: int) -> date:
    """The day after the fourth Thursday of November (US Thanksgiving)."""
    first = date(year, 11, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday + timedelta(days=1)


@cache
def _lunar(year: int) -> dict[str, date]:
    """설날 and 추석 (the main day of each) in ``year``, from the Korean lunisolar calendar of the
    ``holidays`` package: its calendar alone where this version has it where we look (the country
    table imports every country's module, 0.07-0.8 s on a first call), else the country table."""
    calendar = _korean_lunisolar()
    if calendar is not None:
        found = {
            peak: day
            for peak, (day, _estimated) in (
                ("seollal", calendar.lunar_new_year_date(year)),
                ("chuseok", calendar.mid_autumn_date(year)),
            )
            if day is not None
        }
        if found:
            return found
    return _lunar_from_country_table(year)


@cache
def _korean_lunisolar() -> Any:
    """The ``holidays`` package's Korean lunisolar calendar, None when this version keeps it
    elsewhere (a private name: the country table stands in)."""
    try:
        from holidays.calendars.chinese import KOREAN_CALENDAR, _ChineseLunisolar
    except ImportError:
        return None
    calendar = _ChineseLunisolar(KOREAN_CALENDAR)
    if not (hasattr(calendar, "lunar_new_year_date") and hasattr(calendar, "mid_autumn_date")):
        return None
    return calendar


def _lunar_from_country_table(year: int) -> dict[str, date]:
    """설날 and 추석 of ``year`` as the Korean public holidays name them (none where the
    holiday was not kept: 설날 before 1989)."""
    kr = holidays.country_holidays("KR", years=year, language="en_US")
    found = {}
    for peak, name in (("seollal", "Korean New Year"), ("chuseok", "Chuseok")):
        days = kr.get_named(name, lookup="exact")
        if days:
            found[peak] = min(days)
    return found


def peak_dates(peak: str, year: int) -> date | None:
    """The day of ``peak`` in ``year`` (None when unknown for that year)."""
    if peak == "black_friday":
        return _black_friday(year)
    if peak == "christmas":
        return date(year, 12, 25)
    return _lunar(year).get(peak)


def _next_peak(peak: str, day: date) -> date | None:
    for year in (day.year, day.year + 1):
        when = peak_dates(peak, year)
        if when is not None and when >= day:
            return when
    return None


def _peaks_of(country: str) -> tuple[str, ...]:
    if not isinstance(country, str) or len(country) != 2 or not country.isalpha():
        raise InvalidInputError(
            [
                FieldError(
                    "country", f"must be a two-letter country code such as 'KR' or 'GB', not {country!r}"
                )
            ]
        )
    return COUNTRY_PEAKS.get(country.upper(), DEFAULT_PEAKS)


def _day(cut: object) -> date:
    if isinstance(cut, datetime):
        return cut.date()
    if isinstance(cut, date):
        return cut
    return pd.Timestamp(cut).date()  # type: ignore[arg-type]


def calendar_features(cuts: Iterable[object], horizon_days: int, country: str = "KR") -> pd.DataFrame:
    """One row per cut (dates, datetimes or anything :class:`pandas.Timestamp` reads), in the given
    order: ``cut`` and :data:`CALENDAR_COLUMNS`.

    - ``days_to_<peak>``: days from the cut's day to the next day of the peak (0 on the day itself),
      NaN for peaks the country does not keep;
    - ``days_to_next_peak``: the nearest of them;
    - ``peak_in_horizon``: 1 when one of the country's peaks falls in ``[cut, cut + horizon_days)``;
    - ``month_sin``, ``month_cos``: the time of year as a point on a circle (December sits next to
      January), from the month and the day within it.
    """
    if not isinstance(horizon_days, int) or isinstance(horizon_days, bool) or horizon_days < 1:
        raise InvalidInputError([FieldError("horizon_days", "must be a whole number of days >= 1")])
    kept = _peaks_of(country)
    days = [_day(cut) for cut in cuts]
    rows = []
    for day in days:
        row: dict[str, float] = {}
        for peak in PEAKS:
            when = _next_peak(peak, day) if peak in kept else None
            row[f"days_to_{peak}"] = float((when - day).days) if when is not None else math.nan
        nearest = min((row[f"days_to_{peak}"] for peak in kept), default=math.nan)
        row["days_to_next_peak"] = nearest
        row["peak_in_horizon"] = float(nearest < horizon_days)
        month_days = (
            date(day.year + day.month // 12, day.month % 12 + 1, 1) - date(day.year, day.month, 1)
        ).days
        angle = 2 * math.pi * (day.month - 1 + (day.day - 1) / month_days) / 12
        row["month_sin"], row["month_cos"] = math.sin(angle), math.cos(angle)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(CALENDAR_COLUMNS), dtype=float)
    frame.insert(0, "cut", pd.to_datetime(pd.Series(days, dtype=object)))
    return frame


def _counts(
    tx: ir.Table | pd.DataFrame, bounds: list[tuple[datetime, datetime]]
) -> tuple[list[int], datetime | None]:
    """Orders with ``ordered_at`` in each ``[start, end)``, and the first order's time."""
    if isinstance(tx, pd.DataFrame):
        at = pd.to_datetime(tx["ordered_at"])
        if at.dt.tz is not None:
            at = at.dt.tz_convert("UTC").dt.tz_localize(None)
        values = at.to_numpy()

        def naive(t: datetime) -> np.datetime64:
            stamp = pd.Timestamp(t)
            if stamp.tzinfo is not None:
                stamp = stamp.tz_convert("UTC").tz_localize(None)
            return stamp.to_datetime64()

        counts = [int(((values >= naive(s)) & (values < naive(e))).sum()) for s, e in bounds]
        first = None if len(values) == 0 else pd.Timestamp(values.min()).to_pydatetime()
        return counts, first
    metrics = {
        f"n{k}": ((tx.ordered_at >= s) & (tx.ordered_at < e)).ifelse(1, 0).sum()
        for k, (s, e) in enumerate(bounds)
    }
    row = tx.aggregate(first=tx.ordered_at.min(), **metrics).to_pandas().iloc[0]
    first_at = row["first"]
    counts = [int(row[f"n{k}"]) if pd.notna(row[f"n{k}"]) else 0 for k in range(len(bounds))]
    return counts, (None if pd.isna(first_at) else pd.Timestamp(first_at).to_pydatetime())


def _on_or_before(first: datetime | None, start: datetime) -> bool:
    """Whether the history (its first order at ``first``) reaches back to ``start``."""
    if first is None:
        return False
    a, b = pd.Timestamp(first), pd.Timestamp(start)
    if a.tzinfo is None and b.tzinfo is not None:
        a = a.tz_localize("UTC")
    elif a.tzinfo is not None and b.tzinfo is None:
        b = b.tz_localize("UTC")
    return bool(a <= b)


def _check_days(**values: int | None) -> None:
    for field, value in values.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise InvalidInputError([FieldError(field, "must be a whole number of days >= 1")])


def _log_rate_ratio(count: int, days: int, base: int, base_days: int) -> float:
    """log of the per-day rate of ``count`` over that of ``base``, each smoothed by one order per
    ``base_days`` (so an empty stretch gives a large finite ratio, not infinity)."""
    return math.log((count / days + 1 / base_days) / (base / base_days + 1 / base_days))


def shop_momentum(
    tx: ir.Table | pd.DataFrame, cut: datetime, days: int = 90, horizon_days: int | None = None
) -> dict[str, float]:
    """The shop's momentum and season at ``cut`` from its orders (a table or frame with
    ``ordered_at``, one row per order, e.g. :func:`~shopmind.features.purchase_transactions`);
    ``horizon_days`` (default ``days``) is the stretch after the cut a model predicts:

    - ``shop_orders_recent``: orders in the ``days`` before the cut;
    - ``shop_orders_year_before``: orders in the same ``days`` a year (52 weeks) earlier;
    - ``shop_orders_ahead_year_before``: orders in the ``horizon_days`` after the cut a year earlier;
    - ``shop_momentum``: log((recent + 1) / (year before + 1)), > 0 when the shop grows;
    - ``shop_season_ahead``: the same period last year: the log ratio of the per-day order rate in
      the ``horizon_days`` after the cut a year earlier to that in the ``days`` before it then, > 0
      when the coming horizon was busier than the weeks before it a year ago. When the history
      reaches the horizon a year ago but not the weeks before it (a shop with one year of orders),
      the weeks before the cut now stand in for them (growth between the years then counts as
      season);
    - ``shop_season_index``: the log ratio of the per-day order rate in the horizon a year ago to
      that over the whole year before the cut (how the coming stretch compares with an average one).

    Figures that need more history than there is are NaN, so a young shop is not read as a
    shrinking one. Every stretch ends before the cut as long as ``horizon_days`` < 364: no peeking.
    """
    _check_days(days=days, horizon_days=horizon_days)
    horizon = days if horizon_days is None else horizon_days
    year_ago = cut - timedelta(days=YEAR_DAYS)
    bounds = [
        (cut - timedelta(days=days), cut),
        (year_ago - timedelta(days=days), year_ago),
        (year_ago, year_ago + timedelta(days=horizon)),
        (year_ago, cut),
    ]
    (recent, before, ahead, year), first = _counts(tx, bounds)
    out = dict.fromkeys(MOMENTUM_COLUMNS, math.nan)
    out["shop_orders_recent"] = float(recent)
    if _on_or_before(first, bounds[1][0]):
        out["shop_orders_year_before"] = float(before)
        out["shop_momentum"] = math.log((recent + 1) / (before + 1))
        out["shop_season_ahead"] = _log_rate_ratio(ahead, horizon, before, days)
    elif _on_or_before(first, year_ago):
        out["shop_season_ahead"] = _log_rate_ratio(ahead, horizon, recent, days)
    if _on_or_before(first, year_ago):
        out["shop_orders_ahead_year_before"] = float(ahead)
        out["shop_season_index"] = _log_rate_ratio(ahead, horizon, year, YEAR_DAYS)
    return out


def shop_activity(
    tx: ir.Table | pd.DataFrame, cuts: Iterable[datetime], horizon_days: int, days: int | None = None
) -> list[float]:
    """Per cut, what :func:`shop_momentum`'s ``shop_season_ahead`` forecasts, as it happened: the
    log ratio of the per-day order rate in ``[cut, cut + horizon_days)`` to that in the ``days``
    (default ``horizon_days``) before the cut. Only for cuts whose horizon has passed (past
    windows); one query for all the cuts."""
    _check_days(horizon_days=horizon_days, days=days)
    before = horizon_days if days is None else days
    cuts = list(cuts)
    bounds = []
    for cut in cuts:
        bounds += [(cut, cut + timedelta(days=horizon_days)), (cut - timedelta(days=before), cut)]
    counts, _ = _counts(tx, bounds)
    return [_log_rate_ratio(counts[2 * k], horizon_days, counts[2 * k + 1], before) for k in range(len(cuts))]


def shop_order_rates(tx: ir.Table | pd.DataFrame, cut: datetime, days: npt.ArrayLike) -> FloatArray:
    """The shop's orders per day in ``[cut - d, cut)`` for each ``d`` of ``days`` (whole days
    counted back from the cut; at least one day), smoothed by one order so that a quiet stretch has
    a small positive rate. One query: the orders are counted per day back from the cut."""
    span = np.maximum(np.floor(np.asarray(days, dtype=np.float64)), 1.0)
    if span.size == 0:
        return np.zeros(0)
    longest = int(span.max())
    start = cut - timedelta(days=longest)
    if isinstance(tx, pd.DataFrame):
        at = pd.to_datetime(tx["ordered_at"])
        stamp = pd.Timestamp(cut)
        if at.dt.tz is not None and stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        elif at.dt.tz is None and stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        back = ((stamp - at) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
        back = np.ceil(back[(back > 0) & (back <= longest)]) - 1
        per_day = np.bincount(back.astype(np.int64), minlength=longest)
    else:
        seen = tx.filter((tx.ordered_at >= start) & (tx.ordered_at < cut))
        ago = ((ibis.literal(cut).epoch_seconds() - seen.ordered_at.epoch_seconds()) / 86_400).ceil() - 1
        counted = seen.group_by(k=ago.cast("int64")).aggregate(n=seen.count()).to_pandas()
        per_day = np.zeros(longest, dtype=np.int64)
        inside = counted[(counted.k >= 0) & (counted.k < longest)]
        per_day[inside.k.to_numpy(dtype=np.int64)] = inside.n.to_numpy(dtype=np.int64)
    within = np.cumsum(per_day)  # within[k]: orders at most k + 1 days before the cut
    counts = within[span.astype(np.int64) - 1]
    return np.asarray((counts + 1) / span, dtype=np.float64)


def calendar_and_momentum(
    tx: ir.Table | pd.DataFrame,
    cuts: Iterable[datetime],
    horizon_days: int,
    country: str = "KR",
    days: int = 90,
) -> pd.DataFrame:
    """:func:`calendar_features` with :func:`shop_momentum` beside it, one row per cut."""
    cuts = list(cuts)
    frame = calendar_features(cuts, horizon_days, country)
    momentum = pd.DataFrame(
        [shop_momentum(tx, cut, days, horizon_days) for cut in cuts], columns=list(MOMENTUM_COLUMNS)
    )
    return pd.concat([frame, momentum], axis=1)
