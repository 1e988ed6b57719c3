"""Vectorised draws shared by the simulator's phases (categories, products, Arrow columns)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.demo._catalogue import (
    CATEGORIES,
    CATEGORY_NAMES,
    CATEGORY_WEIGHTS,
    COAT_CATEGORY,
    RAIN_CATEGORY,
    Catalogue,
)
from shopmind.demo._geography import REGION_NAMES

COAT = CATEGORY_NAMES.index(COAT_CATEGORY)
RAIN = CATEGORY_NAMES.index(RAIN_CATEGORY)
KIMCHI = CATEGORY_NAMES.index("김치")

#: How weather scales a category's share (documented in ``PlantedTruths.weather_categories``).
COAT_FACTOR_TEXT = "exp(-(temp_c - 5) / 5), clipped to [0.05, 30]"
RAIN_FACTOR_TEXT = "0.3 + precip_mm / 4, clipped to [0.3, 10]"
REGIONAL_BOOST = 5.0


def coat_factor(temp_c: np.ndarray) -> np.ndarray:
    return np.clip(np.exp(-(temp_c - 5.0) / 5.0), 0.05, 30.0)


def rain_factor(precip_mm: np.ndarray) -> np.ndarray:
    return np.clip(0.3 + precip_mm / 4.0, 0.3, 10.0)


def category_weights(temp_c: np.ndarray, precip_mm: np.ndarray) -> np.ndarray:
    """Per-row category weights on a day with that weather (rows = len(temp_c))."""
    weights = np.repeat(CATEGORY_WEIGHTS[None, :], temp_c.size, axis=0)
    weights[:, COAT] *= coat_factor(temp_c)
    weights[:, RAIN] *= rain_factor(precip_mm)
    return weights


def row_choice(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column index per row, drawn with that row's (unnormalised) weights."""
    if weights.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(weights, axis=1)
    target = rng.random(weights.shape[0]) * cum[:, -1]
    return np.minimum((cum <= target[:, None]).sum(axis=1), weights.shape[1] - 1).astype(np.int64)


def choice(rng: np.random.Generator, weights: np.ndarray | Sequence[float], size: int) -> np.ndarray:
    """``size`` indices drawn with ``weights`` (unnormalised)."""
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(w.size, size=size, p=w / w.sum()).astype(np.int64)


def pick(rng: np.random.Generator, start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """A uniform index in ``[start, start + count)`` per row."""
    return start + (rng.random(start.size) * count).astype(np.int64)


def take(vocabulary: Sequence[str | None] | pa.Array, index: np.ndarray) -> pa.Array:
    """``vocabulary[index]`` as a string array, null where ``index < 0``."""
    vocab = vocabulary if isinstance(vocabulary, pa.Array) else pa.array(vocabulary, pa.string())
    missing = index < 0
    indices = pa.array(np.where(missing, 0, index).astype(np.int64), mask=missing if missing.any() else None)
    return vocab.take(indices)


def numbered(prefix: str, numbers: np.ndarray) -> pa.Array:
    """``prefix`` followed by each number, as a string array."""
    digits = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64), pa.int64()), pa.string())
    return pc.binary_join_element_wise(prefix, digits, "")


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _fixed_width(chars: np.ndarray) -> pa.Array:
    """Rows of ASCII codes (``uint8``, one row per string, all the same width) as a string array."""
    count, width = chars.shape
    offsets = np.arange(0, count * width + 1, width, dtype=np.int32)
    data = np.ascontiguousarray(chars, dtype=np.uint8)
    return pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _hex_digits(raw: np.ndarray) -> np.ndarray:
    """Bytes ``[count, n]`` as lower-case hex digit codes ``[count, 2n]``."""
    digits = np.stack([raw >> 4, raw & 0x0F], axis=-1).reshape(raw.shape[0], 2 * raw.shape[1])
    return _HEX_DIGITS[digits]


def constant(text: str, count: int) -> pa.Array:
    """``count`` copies of ``text``."""
    code = np.frombuffer(text.encode(), dtype=np.uint8)
    return _fixed_width(np.broadcast_to(code, (count, code.size)))


def hex_strings(rng: np.random.Generator, count: int, n_bytes: int) -> pa.Array:
    """``count`` random hex strings of ``2 * n_bytes`` digits."""
    raw = rng.integers(0, 256, size=(count, n_bytes), dtype=np.uint8)
    return _fixed_width(_hex_digits(raw))


def uuid4_strings(rng: np.random.Generator, count: int) -> pa.Array:
    """``count`` random (version 4) UUIDs in their usual text form, as trackers make anonymous ids."""
    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = _hex_digits(raw)
    dash = np.full((count, 1), ord("-"), dtype=np.uint8)
    parts = [
        digits[:, 0:8],
        dash,
        digits[:, 8:12],
        dash,
        digits[:, 12:16],
        dash,
        digits[:, 16:20],
        dash,
        digits[:, 20:],
    ]
    return _fixed_width(np.concatenate(parts, axis=1))


class ProductSampler:
    """Draws a product of a given category for a shopper group (VIP or not, by region).

    Weights are popularity, times ``(price / category median) ** 0.8`` for VIPs, times
    ``REGIONAL_BOOST`` for the shopper's local specialities. One flat cumulative sum over
    (group, product) serves every draw through ``searchsorted``.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        category = catalogue.category
        if np.any(np.diff(category) < 0):
            raise ValueError("the catalogue must list products category by category")
        cats = np.arange(len(CATEGORIES))
        self._start = np.searchsorted(category, cats, side="left")
        self._end = np.searchsorted(category, cats, side="right")
        median = np.array(
            [np.median(catalogue.price[s:e]) for s, e in zip(self._start, self._end, strict=True)]
        )
        premium = (catalogue.price / median[category]) ** 0.8
        local = np.array([[r == name for r in catalogue.region] for name in REGION_NAMES], dtype=np.float64)
        regional = 1.0 + (REGIONAL_BOOST - 1.0) * local  # [region, product]
        weights = np.concatenate(
            [catalogue.popularity[None, :] * regional, (catalogue.popularity * premium)[None, :] * regional]
        )
        self._n_products = catalogue.size
        self._cum = np.cumsum(weights.ravel())
        before = self._cum.reshape(weights.shape) - weights
        self._base = before[:, self._start]  # [group, category]
        self._total = np.stack(
            [weights[:, s:e].sum(axis=1) for s, e in zip(self._start, self._end, strict=True)], 1
        )

    @staticmethod
    def group(premium: np.ndarray, region: np.ndarray) -> np.ndarray:
        """The sampler group of shoppers (VIP flag, region index)."""
        return premium.astype(np.int64) * len(REGION_NAMES) + region

    def sample(self, rng: np.random.Generator, group: np.ndarray, category: np.ndarray) -> np.ndarray:
        target = self._base[group, category] + rng.random(group.size) * self._total[group, category]
        flat = np.searchsorted(self._cum, target, side="right")
        product = flat - group * self._n_products
        return np.clip(product, self._start[category], self._end[category] - 1)
