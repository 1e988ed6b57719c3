"""Regions of the demo shop's customers and their daily weather."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

#: Columns of the ``weather`` table (one row per region and day).
WEATHER_SCHEMA = pa.schema(
    [
        ("region", pa.string()),
        ("day", pa.date32()),
        ("temp_c", pa.float64()),
        ("precip_mm", pa.float64()),
    ]
)


@dataclass(frozen=True)
class Region:
    name: str
    share: float  # share of the shop's shoppers
    mean_temp_c: float  # yearly mean
    swing_c: float  # half the gap between the August and January means
    rain_factor: float
    cities: tuple[str, ...]


REGIONS: tuple[Region, ...] = (
    Region("서울", 0.26, 12.8, 14.5, 1.0, ("강남구", "송파구", "마포구", "관악구", "노원구", "영등포구")),
    Region("경기", 0.27, 12.0, 15.0, 1.0, ("수원시", "성남시", "고양시", "용인시", "부천시", "화성시")),
    Region("인천", 0.07, 12.5, 14.0, 1.0, ("연수구", "남동구", "부평구", "서구")),
    Region("부산", 0.09, 15.0, 11.0, 1.1, ("해운대구", "부산진구", "사하구", "동래구")),
    Region("대구", 0.06, 14.5, 13.5, 0.8, ("수성구", "달서구", "북구")),
    Region("광주", 0.04, 14.0, 12.5, 1.1, ("서구", "북구", "광산구")),
    Region("대전", 0.04, 13.3, 13.5, 1.0, ("유성구", "서구", "중구")),
    Region("울산", 0.03, 14.5, 12.0, 1.0, ("남구", "중구", "북구")),
    Region("강원", 0.04, 11.0, 14.5, 1.0, ("춘천시", "원주시", "강릉시")),
    Region("제주", 0.03, 16.5, 9.5, 1.3, ("제주시", "서귀포시")),
)

REGION_NAMES: tuple[str, ...] = tuple(r.name for r in REGIONS)
REGION_SHARES = np.array([r.share for r in REGIONS]) / sum(r.share for r in REGIONS)
#: (region index, city) for every city, and where each region's cities start in that list.
CITIES: tuple[str, ...] = tuple(c for r in REGIONS for c in r.cities)
CITY_OFFSETS = np.cumsum([0] + [len(r.cities) for r in REGIONS[:-1]])
CITY_COUNTS = np.array([len(r.cities) for r in REGIONS])


@dataclass(frozen=True)
class Weather:
    """Daily weather as ``[region, day]`` matrices, plus the table."""

    temp_c: np.ndarray
    precip_mm: np.ndarray
    table: pa.Table


def simulate_weather(rng: np.random.Generator, start: date, days: int) -> Weather:
    """A seasonal temperature curve per region (coldest in mid-January, 제주 mildest) with weather
    systems that cross the whole country (a shared AR(1) anomaly), and rain that peaks in the
    July monsoon (장마)."""
    day_of_year = (start.toordinal() - date(start.year, 1, 1).toordinal()) + np.arange(days)
    mean = np.array([r.mean_temp_c for r in REGIONS])[:, None]
    swing = np.array([r.swing_c for r in REGIONS])[:, None]
    seasonal = mean - swing * np.cos(2 * np.pi * (day_of_year[None, :] - 18) / 365.25)
    shocks = rng.normal(0.0, 2.3, size=days)
    anomaly = np.empty(days)
    level = 0.0
    for d in range(days):  # one step per day, not per event
        level = 0.72 * level + shocks[d]
        anomaly[d] = level
    local = rng.normal(0.0, 1.2, size=(len(REGIONS), days))
    temp = np.round(seasonal + anomaly[None, :] + local, 1)

    monsoon = np.exp(-(((day_of_year - 195) / 22.0) ** 2))
    rain_chance = 0.22 + 0.38 * monsoon
    national_front = rng.random(days) < rain_chance
    local_rain = rng.random((len(REGIONS), days)) < 0.12
    rainy = (national_front[None, :] & (rng.random((len(REGIONS), days)) < 0.8)) | local_rain
    factor = np.array([r.rain_factor for r in REGIONS])[:, None]
    amount = rng.gamma(0.9, 9.0 + 20.0 * monsoon[None, :], size=(len(REGIONS), days)) * factor
    precip = np.round(np.where(rainy, amount, 0.0), 1)

    n_regions = len(REGIONS)
    first_day = start.toordinal() - date(1970, 1, 1).toordinal()
    table = pa.table(
        {
            "region": pa.array(np.repeat(np.array(REGION_NAMES, dtype=object), days), pa.string()),
            "day": pa.array(
                np.tile(np.arange(first_day, first_day + days, dtype=np.int32), n_regions), pa.date32()
            ),
            "temp_c": pa.array(temp.ravel(), pa.float64()),
            "precip_mm": pa.array(precip.ravel(), pa.float64()),
        },
        schema=WEATHER_SCHEMA,
    )
    return Weather(temp_c=temp, precip_mm=precip, table=table)
