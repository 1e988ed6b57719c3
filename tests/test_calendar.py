"""Calendar features: days to the known peaks, per country, and the shop's momentum."""

import math
from datetime import date, datetime

import ibis
import pandas as pd
import pytest

from shopmind.core import InvalidInputError
from shopmind.features import (
    CALENDAR_COLUMNS,
    calendar_and_momentum,
    calendar_features,
    shop_activity,
    shop_momentum,
    shop_order_rates,
)


def test_korean_peaks_come_from_the_lunar_calendar() -> None:
    # 설날 2026 is 17 February, 추석 2026 is 25 September (lunar 1/1 and 8/15)
    row = calendar_features([date(2026, 2, 10)], 30).iloc[0]
    assert row.days_to_seollal == 7
    assert row.days_to_chuseok == (date(2026, 9, 25) - date(2026, 2, 10)).days
    assert row.days_to_black_friday == (date(2026, 11, 27) - date(2026, 2, 10)).days
    assert row.days_to_christmas == (date(2026, 12, 25) - date(2026, 2, 10)).days
    assert row.days_to_next_peak == 7
    assert row.peak_in_horizon == 1


def test_the_lunisolar_calendar_gives_the_holiday_tables_days() -> None:
    """설날 and 추석 are read from the holidays package's lunisolar calendar (quick) and agree
    with its table of Korean public holidays in every year both know (설날 is a holiday from 1989)."""
    from shopmind.features._calendar import _korean_lunisolar, _lunar, _lunar_from_country_table

    assert _korean_lunisolar() is not None, "this holidays version keeps its lunisolar calendar elsewhere"
    for year in range(1989, 2051):
        assert _lunar(year) == _lunar_from_country_table(year), year


def test_after_a_peak_the_next_one_is_next_years() -> None:
    # 추석 2025 was 6 October; on 7 October the next is 25 September 2026
    row = calendar_features([datetime(2025, 10, 7, 15, 30)], 90).iloc[0]
    assert row.days_to_chuseok == (date(2026, 9, 25) - date(2025, 10, 7)).days
    # on the day itself the distance is 0
    assert calendar_features(["2025-12-25"], 1).iloc[0].days_to_christmas == 0


def test_black_friday_is_the_day_after_the_fourth_thursday() -> None:
    for year, day in ((2010, 26), (2011, 25), (2025, 28), (2026, 27)):
        row = calendar_features([date(year, 11, 1)], 10, country="GB").iloc[0]
        assert row.days_to_black_friday == day - 1


def test_a_british_shop_keeps_no_lunar_peaks_and_same_columns() -> None:
    gb = calendar_features([date(2011, 9, 10)], 60, country="gb")
    kr = calendar_features([date(2011, 9, 10)], 60, country="KR")
    assert list(gb.columns) == list(kr.columns) == ["cut", *CALENDAR_COLUMNS]
    assert math.isnan(gb.days_to_seollal[0]) and math.isnan(gb.days_to_chuseok[0])
    # 추석 2011 was 12 September: within 60 days in Korea, and no British peak is
    assert kr.days_to_chuseok[0] == 2 and kr.peak_in_horizon[0] == 1
    assert gb.days_to_next_peak[0] == (date(2011, 11, 25) - date(2011, 9, 10)).days
    assert gb.peak_in_horizon[0] == 0


def test_month_is_a_point_on_a_circle() -> None:
    frame = calendar_features([date(2026, 1, 1), date(2026, 7, 1), date(2026, 12, 31)], 30)
    assert frame.month_sin[0] == pytest.approx(0) and frame.month_cos[0] == pytest.approx(1)
    assert frame.month_cos[1] == pytest.approx(-1)
    # the last day of December is next to the first of January
    assert math.dist((frame.month_sin[2], frame.month_cos[2]), (0, 1)) < 0.02
    assert list(frame.cut) == [pd.Timestamp(2026, 1, 1), pd.Timestamp(2026, 7, 1), pd.Timestamp(2026, 12, 31)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"horizon_days": 0}, "horizon_days"), ({"horizon_days": 30, "country": "Korea"}, "country")],
)
def test_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        calendar_features([date(2026, 1, 1)], **kwargs)  # type: ignore[arg-type]
    assert field in str(caught.value)


def _orders() -> pd.DataFrame:
    # one order a day in 2024, two a day from 2025 (the shop doubled)
    days = pd.date_range("2024-01-01", "2025-12-31", freq="D")
    times = [d + pd.Timedelta(hours=10) for d in days] + [
        d + pd.Timedelta(hours=15) for d in days if d.year == 2025
    ]
    return pd.DataFrame({"profile_id": "p", "ordered_at": times, "value": 1.0})


def test_momentum_compares_with_the_same_weeks_a_year_before() -> None:
    got = shop_momentum(_orders(), datetime(2025, 9, 1), days=30, horizon_days=30)
    assert got["shop_orders_recent"] == 60
    assert got["shop_orders_year_before"] == 30
    assert got["shop_momentum"] == pytest.approx(math.log(61 / 31))
    # a year ago the 30 days after the cut were as busy as the 30 before: no season ahead
    assert got["shop_season_ahead"] == pytest.approx(0)


def test_momentum_of_a_young_shop_is_unknown_not_shrinking() -> None:
    got = shop_momentum(_orders(), datetime(2024, 9, 1), days=30)
    assert got["shop_orders_recent"] == 30
    assert math.isnan(got["shop_momentum"]) and math.isnan(got["shop_orders_year_before"])


def test_momentum_reads_an_ibis_table_like_a_frame() -> None:
    frame = _orders()
    table = ibis.memtable(frame)
    cut = datetime(2025, 12, 1)
    assert shop_momentum(table, cut, 45, 60) == pytest.approx(shop_momentum(frame, cut, 45, 60))
    both = calendar_and_momentum(table, [cut, datetime(2024, 3, 1)], 60, country="KR", days=45)
    assert both.shape[0] == 2 and both.shop_orders_recent[0] == 90
    assert math.isnan(both.shop_momentum[1])


def _seasonal_orders() -> pd.DataFrame:
    # two orders a day, four a day in December and January: the shop's winter peak (two years)
    days = pd.date_range("2024-01-01", "2025-12-31", freq="D")
    per_day = [4 if d.month in (12, 1) else 2 for d in days]
    times = [d + pd.Timedelta(hours=h) for d, n in zip(days, per_day, strict=True) for h in range(n)]
    return pd.DataFrame({"ordered_at": times})


def test_the_season_ahead_is_last_years_same_period() -> None:
    orders = _seasonal_orders()
    # on 1 November 2025, a year ago the 61 days from 2 November 2024 held 30 peak days of 4 orders
    got = shop_momentum(orders, datetime(2025, 11, 1), days=61, horizon_days=61)
    ahead = (29 * 2 + 32 * 4) / 61  # 2024-11-02 .. 2025-01-01, 364 days before 2025-11-01 .. 2026-01-01
    assert got["shop_season_ahead"] == pytest.approx(math.log((ahead + 1 / 61) / (2 + 1 / 61)))
    assert got["shop_season_ahead"] > 0.3
    assert got["shop_season_index"] > 0.2  # busier than the average day of the year
    # and in spring the coming stretch was an ordinary one
    spring = shop_momentum(orders, datetime(2025, 4, 1), days=30)
    assert spring["shop_season_ahead"] == pytest.approx(0, abs=0.02)
    assert spring["shop_season_index"] < 0


def test_with_one_year_of_history_the_recent_weeks_stand_in() -> None:
    orders = _seasonal_orders()
    orders = orders[orders.ordered_at >= "2024-10-15"]
    got = shop_momentum(orders, datetime(2025, 10, 31), days=30, horizon_days=30)
    # the 30 days before 2024-11-01 are partly before the history: the weeks before the cut now
    # (2 orders a day) are the base instead
    assert math.isnan(got["shop_momentum"])
    assert got["shop_season_ahead"] == pytest.approx(math.log((2 + 1 / 30) / (2 + 1 / 30)))
    winter = shop_momentum(orders, datetime(2025, 11, 30), days=30, horizon_days=30)
    assert winter["shop_season_ahead"] == pytest.approx(math.log((4 + 1 / 30) / (2 + 1 / 30)))


def test_shop_activity_is_what_the_season_ahead_forecasts_as_it_happened() -> None:
    orders = _seasonal_orders()
    cuts = [datetime(2024, 11, 1), datetime(2024, 4, 1), datetime(2025, 10, 31)]  # the last: 52 weeks on
    realised = shop_activity(orders, cuts, 61)
    assert realised[0] == pytest.approx(shop_momentum(orders, cuts[2], days=61)["shop_season_ahead"])
    assert realised[1] == pytest.approx(0, abs=0.02)
    assert shop_activity(ibis.memtable(orders), cuts, 61) == pytest.approx(realised)


def test_order_rates_count_back_from_the_cut() -> None:
    orders = _seasonal_orders()  # 2 a day, 4 in December and January
    cut = datetime(2025, 3, 1)
    rates = shop_order_rates(orders, cut, [1, 28, 31 + 28, 59.7, 0])
    # February 2025 has 28 days of 2 orders; with January 31 days of 4; the smoothing adds one order
    assert list(rates) == pytest.approx([3 / 1, 57 / 28, (56 + 124 + 1) / 59, (56 + 124 + 1) / 59, 3 / 1])
    assert shop_order_rates(ibis.memtable(orders), cut, [1, 28, 59, 400]) == pytest.approx(
        shop_order_rates(orders, cut, [1, 28, 59, 400])
    )
    assert shop_order_rates(orders, cut, []).size == 0
