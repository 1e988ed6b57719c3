"""Context: how much more an item sells in the visitor's region, in today's weather there and at
this time of day, than on average (contextual post-filtering, Adomavicius & Tuzhilin 2011).

Each lift is a smoothed ratio of what an item sold in a context to what it would have sold there
without one: for an item ``i`` and a context value ``c`` (a region, a temperature band, a rain band,
an hour band), lift = (n_ic + m) / (E_ic + m) with E_ic = n_c·P(i), the count expected from the
item's overall share. So the lift stays near 1 unless the evidence (n_ic, E_ic) is large against
``m``: an item sold twice, never in one region, is not "10× less popular" there (shrinking the
share towards P(i) with a pseudo-count m·P(i), as before, left such rare items swinging between
the clip's 0.1 and 10 and drowned the weather). Temperature and rain bands the shop never saw (a
summer day in a shop with a winter's history) take the nearest band it did see. Weather and hour lifts are
learned per category (per item without categories) since single items are too sparse; weather
comes from a table of region, day, temp_c and precip_mm joined to each interaction's region and
local day. Interactions count by their ``weight``, so purchases speak louder than views. The lifts multiply; a ranker adds their logarithm to its score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

from shopmind.recommend._base import Context, Reason, positions
from shopmind.recommend._state import ModelState

FloatArray = npt.NDArray[np.float64]
# finer in the cold and the wet, where the demand for coats and rain gear keeps changing
TEMP_EDGES = (-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
RAIN_EDGES = (0.1, 5.0, 15.0)
HOUR_EDGES = (6, 11, 14, 18, 22)
STRONG = 1.5  # a lift at least this large becomes the reason


def _band(value: float, edges: tuple[float, ...]) -> int:
    return int(np.searchsorted(edges, value, side="right"))


@dataclass
class _Table:
    """Lift per (group, context value) as a dense [group, value] matrix; group = item or category
    code (-1: unknown, lift 1)."""

    values: dict[Any, int] = field(default_factory=dict)
    lift: FloatArray = field(default_factory=lambda: np.ones((0, 0)))

    @classmethod
    def learn(
        cls, groups: npt.NDArray[np.int64], values: pd.Series, weights: FloatArray, m: float, n_groups: int
    ) -> _Table:
        frame = pd.DataFrame({"g": groups, "c": values.to_numpy(), "w": weights}).dropna()
        frame = frame[frame["g"] >= 0]
        if frame.empty:
            return cls()
        names = sorted(frame["c"].unique().tolist())
        index = {v: i for i, v in enumerate(names)}
        counts = np.zeros((n_groups, len(names)))
        np.add.at(
            counts,
            (frame["g"].to_numpy(dtype=np.int64), frame["c"].map(index).to_numpy()),
            frame["w"].to_numpy(dtype=np.float64),
        )
        p = counts.sum(axis=1) / counts.sum()
        expected = p[:, None] * counts.sum(axis=0)[None, :]
        lift = (counts + m) / (expected + m)
        return cls(index, lift)

    def save(self, state: ModelState) -> None:
        # the context values (regions; hour, temperature and rain bands) in column order, as JSON
        state.set_fact("values", sorted(self.values, key=self.values.__getitem__))
        state.put("lift", self.lift)

    @classmethod
    def load(cls, state: ModelState) -> _Table:
        return cls({value: k for k, value in enumerate(state.fact("values"))}, state.get("lift"))

    def get(self, groups: npt.NDArray[np.int64], value: Any, nearest: bool = False) -> FloatArray:
        """Lift of each group in context ``value`` (1 for unknown groups and unseen values; with
        ``nearest``, an unseen ordered band takes the nearest seen one)."""
        column = self.values.get(value)
        if column is None and nearest and self.values:
            column = self.values[min(self.values, key=lambda seen: abs(seen - value))]
        out = np.ones(groups.size)
        if column is None:
            return out
        known = groups >= 0
        out[known] = self.lift[groups[known], column]
        return out


class ContextLift:
    """Lifts of items by region, weather and time of day, learned from interactions.

    Args:
        smoothing: the pseudo-count ``m`` of the module docstring (a few purchases: a small
            category, say rain gear, must still be able to follow the weather).
        zone: the shop's time zone (local day for the weather, local hour).
    """

    def __init__(self, *, smoothing: float = 3.0, zone: str = "Asia/Seoul") -> None:
        self.smoothing = smoothing
        self.zone = zone

    def fit(self, frame: pd.DataFrame, catalogue: pd.DataFrame | None, weather: pd.DataFrame | None) -> Self:
        items = sorted(frame["item"].astype(str).unique())
        self._item_code = {item: i for i, item in enumerate(items)}
        item_codes = positions(frame["item"], np.asarray(items, dtype=object))
        self._group_of: dict[str, int] = dict(self._item_code)  # weather and hour: per category if known
        group_codes = item_codes
        n_groups = len(items)
        if catalogue is not None and {"item", "category"} <= set(catalogue.columns):
            cats = catalogue.dropna(subset=["category"]).drop_duplicates("item")
            names = sorted(cats["category"].astype(str).unique())
            code = {c: i for i, c in enumerate(names)}
            self._group_of = {
                str(i): code[str(c)] for i, c in zip(cats["item"], cats["category"], strict=True)
            }
            known = np.asarray(list(self._group_of), dtype=object)
            at = positions(frame["item"], known)
            group_codes = np.full(at.size, -1, dtype=np.int64)
            group_codes[at >= 0] = np.asarray(list(self._group_of.values()), dtype=np.int64)[at[at >= 0]]
            n_groups = len(names)
        m = self.smoothing
        # what sells: rows count by their weight (a purchase 1, a view less)
        w = frame["weight"].to_numpy(dtype=np.float64) if "weight" in frame.columns else np.ones(len(frame))
        self.region_ = _Table()
        if "region" in frame.columns:
            self.region_ = _Table.learn(item_codes, frame["region"].astype(object), w, m, len(items))
        self.hour_ = _Table()
        self.temp_ = _Table()
        self.rain_ = _Table()
        self._weather: dict[tuple[str, Any], tuple[float, float]] = {}
        if "time" not in frame.columns:
            return self
        local = pd.to_datetime(frame["time"], utc=True).dt.tz_convert(self.zone)
        hours = pd.Series(np.searchsorted(HOUR_EDGES, local.dt.hour.to_numpy(), side="right"))
        self.hour_ = _Table.learn(group_codes, hours, w, m, n_groups)
        if weather is None or "region" not in frame.columns or weather.empty:
            return self
        table = weather.assign(
            day=pd.to_datetime(weather["day"]).dt.date, region=weather["region"].astype(str)
        )
        self._weather = {
            (r, d): (float(t), float(p))
            for r, d, t, p in zip(
                table["region"], table["day"], table["temp_c"], table["precip_mm"], strict=True
            )
        }
        keyed = pd.DataFrame(
            {"region": frame["region"].astype(str).to_numpy(), "day": local.dt.date.to_numpy()}
        )
        joined = keyed.merge(
            table[["region", "day", "temp_c", "precip_mm"]], on=["region", "day"], how="left"
        )
        temp = joined["temp_c"].map(lambda v: np.nan if pd.isna(v) else _band(v, TEMP_EDGES))
        rain = joined["precip_mm"].map(lambda v: np.nan if pd.isna(v) else _band(v, RAIN_EDGES))
        self.temp_ = _Table.learn(group_codes, temp, w, m, n_groups)
        self.rain_ = _Table.learn(group_codes, rain, w, m, n_groups)
        return self

    def save_state(self, state: ModelState) -> None:
        """Write the learned lifts and the weather table into ``state``."""
        state.set_fact("params", {"smoothing": self.smoothing, "zone": self.zone})
        state.put_number_map("item_code", self._item_code, np.int64)
        state.put_number_map("group_of", self._group_of, np.int64)
        for name in ("region", "hour", "temp", "rain"):
            table: _Table = getattr(self, f"{name}_")
            table.save(state.child(name))
        keys = list(self._weather)
        state.put_strings("weather.region", [region for region, _ in keys])
        state.put("weather.day", np.asarray([day for _, day in keys], dtype="datetime64[D]"))
        state.put("weather.values", np.asarray(list(self._weather.values()), dtype=np.float64).reshape(-1, 2))

    @classmethod
    def from_state(cls, state: ModelState) -> ContextLift:
        """The lifts ``save_state`` wrote."""
        lift = cls(**state.fact("params"))
        lift._item_code = {k: int(v) for k, v in state.number_map("item_code").items()}
        lift._group_of = {k: int(v) for k, v in state.number_map("group_of").items()}
        for name in ("region", "hour", "temp", "rain"):
            setattr(lift, f"{name}_", _Table.load(state.child(name)))
        days = state.get("weather.day").astype(object).tolist()  # datetime.date, as learned
        values = state.get("weather.values").tolist()
        lift._weather = {
            (region, day): (float(t), float(p))
            for region, day, (t, p) in zip(state.strings("weather.region"), days, values, strict=True)
        }
        return lift

    def weather_of(self, context: Context) -> tuple[float | None, float | None] | None:
        """(temp_c, precip_mm): each as given in the context, else from the table for its region
        and day, None where neither says (a temperature alone says nothing of the rain); None
        when nothing is known."""
        looked: tuple[float, float] | None = None
        if context.region is not None and context.now is not None:
            day = (
                pd.Timestamp(context.now).tz_convert(self.zone).date()
                if context.now.tzinfo
                else context.now.date()
            )
            looked = self._weather.get((context.region, day))

        def known(given: float | None, column: int) -> float | None:
            if given is not None:
                return float(given)
            value = None if looked is None else looked[column]
            return None if value is None or np.isnan(value) else value

        temp, rain = known(context.temp_c, 0), known(context.precip_mm, 1)
        return None if temp is None and rain is None else (temp, rain)

    def codes(self, items: Sequence[Any]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The item and group codes of ``items`` (-1 when unknown), for :meth:`lift_codes`."""
        names = [str(i) for i in items]
        codes = np.array([self._item_code.get(i, -1) for i in names], dtype=np.int64)
        groups = np.array([self._group_of.get(i, -1) for i in names], dtype=np.int64)
        return codes, groups

    def lift(self, items: Sequence[Any], context: Context) -> tuple[FloatArray, list[Reason | None]]:
        """The combined lift of each item in ``context`` and, where one lift is strong, the reason."""
        return self.lift_codes(*self.codes(items), context)

    def lift_codes(
        self, codes: npt.NDArray[np.int64], groups: npt.NDArray[np.int64], context: Context
    ) -> tuple[FloatArray, list[Reason | None]]:
        """:meth:`lift` for items given by their :meth:`codes`."""
        n = codes.size
        parts: list[tuple[FloatArray, Reason]] = []
        if context.region is not None:
            region = context.region
            parts.append(
                (
                    self.region_.get(codes, region),
                    Reason("popular_in_region", f"{region}에서 인기", f"popular in {region}"),
                )
            )
        temp, rain = self.weather_of(context) or (None, None)
        if temp is not None:
            parts.append(
                (
                    self.temp_.get(groups, _band(temp, TEMP_EDGES), nearest=True),
                    Reason("weather", "추운 날씨에 인기", "popular in cold weather")
                    if temp < 10
                    else Reason("weather", "더운 날씨에 인기", "popular in warm weather"),
                )
            )
        if rain is not None:
            parts.append(
                (
                    self.rain_.get(groups, _band(rain, RAIN_EDGES), nearest=True),
                    Reason("weather", "비 오는 날 인기", "popular on rainy days")
                    if rain >= RAIN_EDGES[0]
                    else Reason("weather", "맑은 날 인기", "popular on dry days"),
                )
            )
        if context.now is not None:
            local = pd.Timestamp(context.now)
            hour = (local.tz_convert(self.zone) if local.tzinfo else local).hour
            band = int(np.searchsorted(HOUR_EDGES, hour, side="right"))
            parts.append(
                (
                    self.hour_.get(groups, band),
                    Reason("time_of_day", "이 시간대에 인기", "popular at this hour"),
                )
            )
        total = np.ones(n)
        reasons: list[Reason | None] = [None] * n
        strongest = np.full(n, STRONG)
        for values, reason in parts:
            total *= values
            for k in np.flatnonzero(values >= strongest).tolist():
                reasons[k] = reason
                strongest[k] = values[k]
        return np.clip(total, 0.1, 10.0), reasons
