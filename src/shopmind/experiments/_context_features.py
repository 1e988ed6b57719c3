"""A visitor's context at decision time as the 0/1 feature vector the contextual bandits learn on.

The context (see :mod:`shopmind.experiments._policy`) is a mapping: ``device``, ``hour`` (0-23 in
the shop's zone), ``region``, ``segment`` (RFM), ``recent`` (``pages``, ``cart_items``, ``orders``).
Each is one-hot encoded (an unknown or missing value sets none of its columns, so it falls on the
intercept), with the hour in bands and recent behaviour in buckets, plus device × hour band
crosses: an effect such as "works on mobile in the evening" is an interaction, which a linear
model of separate device and hour columns cannot hold.

Every column is 0 or 1, so the bandits' Gram matrices are counts (compact in a stored state), and
a context reduces to a small tuple key (:meth:`ContextEncoder.key`) under which its vector and its
probabilities are cached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shopmind.core import FieldError, InvalidInputError
from shopmind.experiments._definition import FEATURES

DEVICES = ("mobile", "desktop", "tablet")
#: hour bands of the shop's day (KST): (name, first hour, last hour)
HOUR_BANDS = (
    ("night", 0, 5),
    ("morning", 6, 10),
    ("midday", 11, 13),
    ("afternoon", 14, 17),
    ("evening", 18, 21),
    ("late", 22, 23),
)
_BAND_OF_HOUR = tuple(next(i for i, (_, lo, hi) in enumerate(HOUR_BANDS) if lo <= h <= hi) for h in range(24))
#: Korea's first-level regions as the store writes them (the demo shop uses ten of them)
REGIONS = (
    "서울",
    "경기",
    "인천",
    "부산",
    "대구",
    "광주",
    "대전",
    "울산",
    "세종",
    "강원",
    "충북",
    "충남",
    "전북",
    "전남",
    "경북",
    "경남",
    "제주",
)
#: the RFM segment keys of ``shopmind.segments`` (a layer above; a test keeps the two equal)
SEGMENTS = (
    "vip",
    "dormant_vip",
    "loyal",
    "about_to_churn",
    "potential_vip",
    "new",
    "promising",
    "needs_attention",
    "hibernating",
    "lost",
    "engaged_visitor",
    "new_visitor",
    "passing_visitor",
)
#: recent behaviour buckets: pages seen this session, items in the cart, orders before
PAGE_BUCKETS = ("pages_0_1", "pages_2_4", "pages_5_plus")
ORDER_BUCKETS = ("orders_0", "orders_1", "orders_2_plus")

Key = tuple[int, int, int, int, int, int, int]


class ContextEncoder:
    """Contexts → 0/1 feature rows (``transform``), for the ``features`` an experiment's policy
    names. The vocabulary is fixed (no fitting on data: a new region or segment never moves a
    column), so ``fit`` only checks and returns the encoder (scikit-learn's transformer shape)."""

    def __init__(
        self,
        features: Sequence[str] = FEATURES,
        *,
        regions: Sequence[str] = REGIONS,
        segments: Sequence[str] = SEGMENTS,
    ) -> None:
        self.features = list(features)
        self.regions = list(regions)
        self.segments = list(segments)
        errors = [
            FieldError(f"policy.features[{i}]", f"expected one of {', '.join(FEATURES)}")
            for i, f in enumerate(self.features)
            if f not in FEATURES
        ]
        if errors:
            raise InvalidInputError(errors)
        on = set(self.features)
        names = ["intercept"]
        if "device" in on:
            names += [f"device={d}" for d in DEVICES]
        if "hour" in on:
            names += [f"hour={b[0]}" for b in HOUR_BANDS]
        if "device" in on and "hour" in on:
            names += [f"device={d}&hour={b[0]}" for d in DEVICES for b in HOUR_BANDS]
        if "region" in on:
            names += [f"region={r}" for r in self.regions]
        if "segment" in on:
            names += [f"segment={s}" for s in self.segments]
        if "recent" in on:
            names += [f"recent={b}" for b in PAGE_BUCKETS] + ["recent=cart"]
            names += [f"recent={b}" for b in ORDER_BUCKETS]
        self._names = names
        self._column = {n: i for i, n in enumerate(names)}
        self._region = {r: i for i, r in enumerate(self.regions)}
        self._segment = {s: i for i, s in enumerate(self.segments)}
        self._on = on
        self._rows: dict[Key, np.ndarray] = {}

    @property
    def dimension(self) -> int:
        return len(self._names)

    def get_feature_names_out(self) -> list[str]:
        return list(self._names)

    def fit(
        self, contexts: Sequence[Mapping[str, Any] | None] | None = None, y: Any = None
    ) -> ContextEncoder:
        return self

    def key(self, context: Mapping[str, Any] | None) -> Key:
        """The context reduced to what the features read: (device, hour band, region, segment,
        pages bucket, cart, orders bucket), each an index or -1 (unknown, missing or not used)."""
        if not context:
            return (-1, -1, -1, -1, -1, -1, -1)
        on = self._on
        device = _index(DEVICES, context.get("device")) if "device" in on else -1
        band = -1
        if "hour" in on:
            hour = _whole(context.get("hour"))
            band = _BAND_OF_HOUR[hour] if hour is not None and 0 <= hour <= 23 else -1
        region = self._region.get(context.get("region"), -1) if "region" in on else -1  # type: ignore[arg-type]
        segment = self._segment.get(context.get("segment"), -1) if "segment" in on else -1  # type: ignore[arg-type]
        pages = cart = orders = -1
        recent = context.get("recent") if "recent" in on else None
        if isinstance(recent, Mapping):
            n = _whole(recent.get("pages"))
            pages = -1 if n is None or n < 0 else (0 if n <= 1 else 1 if n <= 4 else 2)
            n = _whole(recent.get("cart_items"))
            cart = -1 if n is None or n < 0 else int(n > 0)
            n = _whole(recent.get("orders"))
            orders = -1 if n is None or n < 0 else min(n, 2)
        return (device, band, region, segment, pages, cart, orders)

    def row(self, key: Key) -> np.ndarray:
        """The 0/1 feature row of a key (cached; do not modify it)."""
        row = self._rows.get(key)
        if row is None:
            row = np.zeros(self.dimension)
            for name in self._key_columns(key):
                row[self._column[name]] = 1.0
            row.setflags(write=False)
            if len(self._rows) < 100_000:  # a bound: keys are few in practice
                self._rows[key] = row
        return row

    def transform(self, contexts: Sequence[Mapping[str, Any] | None]) -> np.ndarray:
        """One row per context, ``(len(contexts), dimension)``."""
        if not contexts:
            return np.zeros((0, self.dimension))
        return np.stack([self.row(self.key(c)) for c in contexts])

    def config(self) -> dict[str, Any]:
        """JSON-ready: enough to build the same encoder again."""
        return {
            "features": list(self.features),
            "regions": list(self.regions),
            "segments": list(self.segments),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ContextEncoder:
        return cls(config["features"], regions=config["regions"], segments=config["segments"])

    def _key_columns(self, key: Key) -> list[str]:
        device, band, region, segment, pages, cart, orders = key
        names = ["intercept"]
        if device >= 0:
            names.append(f"device={DEVICES[device]}")
        if band >= 0:
            names.append(f"hour={HOUR_BANDS[band][0]}")
        if device >= 0 and band >= 0 and "hour" in self._on and "device" in self._on:
            names.append(f"device={DEVICES[device]}&hour={HOUR_BANDS[band][0]}")
        if region >= 0:
            names.append(f"region={self.regions[region]}")
        if segment >= 0:
            names.append(f"segment={self.segments[segment]}")
        if pages >= 0:
            names.append(f"recent={PAGE_BUCKETS[pages]}")
        if cart == 1:
            names.append("recent=cart")
        if orders >= 0:
            names.append(f"recent={ORDER_BUCKETS[orders]}")
        return names


def _index(values: Sequence[str], value: Any) -> int:
    try:
        return values.index(value)
    except ValueError:
        return -1


def _whole(value: Any) -> int | None:
    """An integer from an int, a whole float or a digit string; None otherwise (bool is refused:
    ``True`` is no hour)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
