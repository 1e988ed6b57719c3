"""The synthetic Korean shop: shoppers, sessions, carts and orders with planted truths.

Everything is drawn from one ``numpy.random.default_rng(seed)`` in a fixed order and built as
whole arrays (no per-event Python), so equal arguments give identical tables and a shop of
20,000 members over 180 days (about 1.4 million events) takes a few seconds.

How the shop works, in the order it is generated:

1. **Catalogue and weather** - ~190 products in 16 categories; daily temperature and rain per region.
2. **People** - ``customers`` members (VIPs, churned VIPs, regular buyers, browsers, a device-by-hour
   habit group), 0.6 x ``customers`` anonymous visitors (some buy as guests) and a few job seekers;
   each member has 1-3 devices (anonymous ids), each visitor one.
3. **Sessions** - Poisson counts of browsing and buying sessions per person over their active days,
   with a day, a KST hour (the shop-wide curve, a personal favourite hour, or the planted habit),
   a device, a focus category and the weather of the person's region that day.
4. **Orders** - one per buying session: lines drawn by category (weather-adjusted, favourite
   category) then product (popularity, price for VIPs, local specialities), complementary partners
   added, quantities and prices.
5. **Events** - each session expands into its events (landing page with referrer and UTM, identify,
   CRM message open/click, banners, searches, product views, cart adds and removes, checkout, order),
   ordered inside the session, spaced by random gaps and sorted by time.
6. **Tables** - Arrow tables in the store's layouts.

Volume: about 0.4 events per member per day (``events ~ 0.4 x customers x days``), 0.013 orders.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.core import FieldError, InvalidInputError
from shopmind.demo._catalogue import (
    CATEGORIES,
    CATEGORY_NAMES,
    CATEGORY_SLUGS,
    CATEGORY_WEIGHTS,
    COAT_CATEGORY,
    CURRENCY,
    RAIN_CATEGORY,
    Catalogue,
    build_catalogue,
)
from shopmind.demo._geography import (
    CITIES,
    CITY_COUNTS,
    CITY_OFFSETS,
    REGION_NAMES,
    REGION_SHARES,
    Weather,
    simulate_weather,
)
from shopmind.demo._truths import ComplementaryPair, DeviceHourHabit, PlantedTruths, WeatherEffect
from shopmind.events import EVENT_SCHEMA, ORDER_LINE_SCHEMA, ORDER_SCHEMA, EventType

DEFAULT_START = date(2026, 1, 1)
SOURCE = "demo"
LOCALE = "ko-KR"
WEB_HOST = "https://demo-shop.kr"
APP_HOST = "app://demo-shop"

#: Columns of the ``interests`` table (external interest keywords per member).
INTEREST_SCHEMA = pa.schema(
    [
        ("identifier", pa.string()),
        ("keyword", pa.string()),
        ("topic", pa.string()),
        ("weight", pa.float64()),
        ("observed_at", pa.timestamp("us", tz="UTC")),
        ("source", pa.string()),
    ]
)

ProgressCallback = Callable[[int, int], None]

_US = 1_000_000
_HOUR_US = 3_600 * _US
_DAY_US = 24 * _HOUR_US
_KST_OFFSET_US = 9 * _HOUR_US

# -- people ------------------------------------------------------------------------------------
_NONBUYER, _REGULAR, _VIP, _CHURNED, _VISITOR, _GUEST, _SCANNER = range(7)
_VIP_SHARE = 0.07  # of members; about a fifth of the members who buy
_CHURNED_SHARE = 0.2  # of VIPs
_REGULAR_SHARE = 0.55  # of the other members
_HABIT_SHARE = 0.12  # of regular buyers
_HABIT_COMPLIANCE = 0.9
_LATE_JOINER_SHARE = 0.25  # of non-VIP members: sign up during the period
_VISITORS_PER_MEMBER = 0.6
_GUEST_SHARE = 0.12  # of visitors
_SCANNER_SHARE = 0.004  # of members
_COMPLEMENT_PROBABILITY = 0.75
_FAVOURITE_ORDER_SHARE = 0.4
_FAVOURITE_VIEW_SHARE = 0.6
_REGIONAL_BOOST = 5.0

#: Shop-wide share of sessions starting in each KST hour (commute, lunch and the evening peak).
_HOUR_WEIGHTS = np.array(
    [1.0, 0.6, 0.3, 0.2, 0.2, 0.3, 0.8, 1.8, 2.2, 2.0, 2.2, 2.6]
    + [3.4, 3.2, 2.6, 2.5, 2.6, 2.8, 3.0, 3.4, 4.2, 4.8, 4.6, 3.0]
)
_HABIT_BROWSE_HOURS = (7, 8)
_HABIT_BUY_HOURS = (21, 22)

_DEVICE_TYPES = ("mobile", "desktop", "tablet")
_MOBILE, _DESKTOP, _TABLET = range(3)
_OS_NAMES = ("iOS", "Android", "iPadOS", "Windows", "macOS")
_CHANNELS = ("web", "app")

# -- events ------------------------------------------------------------------------------------
_TYPES: tuple[EventType, ...] = (
    EventType.PAGE_VIEW,
    EventType.PRODUCT_VIEW,
    EventType.SEARCH,
    EventType.CART_ADD,
    EventType.CART_REMOVE,
    EventType.CHECKOUT_START,
    EventType.ORDER_COMPLETED,
    EventType.BANNER_IMPRESSION,
    EventType.BANNER_CLICK,
    EventType.MESSAGE_OPEN,
    EventType.MESSAGE_CLICK,
    EventType.IDENTIFY,
)
(
    _PAGE,
    _PRODUCT,
    _SEARCH,
    _CART_ADD,
    _CART_REMOVE,
    _CHECKOUT,
    _ORDER,
    _BANNER_SEEN,
    _BANNER_CLICK,
    _MESSAGE_OPEN,
    _MESSAGE_CLICK,
    _IDENTIFY,
) = range(len(_TYPES))
_BROWSE, _BUY, _SCAN = range(3)

_BANNERS = ("bn-winter-sale", "bn-new-season", "bn-free-shipping", "bn-kimchi-festa", "bn-camping-week", "bn-beauty-day")
_FIXED_PAGES = ("/", "/best", "/new", "/mypage", "/cart", "/checkout", "/order/complete", "/careers", "/about", "/member/login")
_HOME, _BEST, _NEW, _MYPAGE, _CART, _CHECKOUT_PAGE, _ORDER_PAGE, _CAREERS, _ABOUT, _LOGIN = range(len(_FIXED_PAGES))

#: Where sessions come from: (share, referrer, utm_source, utm_medium, utm_campaign, utm_content).
_TRAFFIC: tuple[tuple[float, str | None, str | None, str | None, str | None, str | None], ...] = (
    (0.38, None, None, None, None, None),
    (0.20, "https://search.naver.com/search.naver", None, None, None, None),
    (0.07, "https://www.google.com/", None, None, None, None),
    (0.10, "https://search.naver.com/search.naver", "naver", "cpc", "brand_keyword", "powerlink"),
    (0.09, "https://www.instagram.com/", "instagram", "paid_social", "season_lookbook", "reel_a"),
    (0.06, "https://talk.kakao.com/", "kakao", "display", "bizboard", "banner_b"),
    (0.04, "https://www.youtube.com/", "youtube", "video", "brand_film", None),
    (0.03, "https://search.daum.net/search", None, None, None, None),
    (0.03, "https://search.danawa.com/", "danawa", "affiliate", "price_compare", None),
)
_NAVER_CPC = 3
_CRM_SOURCES = ("kakao", "email", "sms")  # CRM sessions: utm_medium "crm", utm_campaign = campaign id


@dataclass(frozen=True)
class SyntheticShop:
    """A generated shop: Arrow tables in the store's layouts and what was planted in them.

    ``events``, ``orders`` and ``order_lines`` follow ``shopmind.events`` (``EVENT_SCHEMA``,
    ``ORDER_SCHEMA``, ``ORDER_LINE_SCHEMA``); ``products`` the store's products columns;
    ``weather`` (region, day, temp_c, precip_mm) and ``interests`` (identifier, keyword, topic,
    weight, observed_at, source) the store's weather and external-interest tables.
    """

    events: pa.Table
    orders: pa.Table
    order_lines: pa.Table
    products: pa.Table
    weather: pa.Table
    interests: pa.Table
    truths: PlantedTruths
    customers: int
    days: int
    seed: int
    start: date

    def summary(self) -> dict[str, int]:
        """Rows per table."""
        return {
            "events": self.events.num_rows,
            "orders": self.orders.num_rows,
            "order_lines": self.order_lines.num_rows,
            "products": self.products.num_rows,
            "weather": self.weather.num_rows,
            "interests": self.interests.num_rows,
        }


# ----------------------------------------------------------------------------------------------
# small vectorised helpers


def _row_choice(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column index per row, drawn with that row's (unnormalised) weights."""
    if weights.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(weights, axis=1)
    target = rng.random(weights.shape[0]) * cum[:, -1]
    return np.minimum((cum <= target[:, None]).sum(axis=1), weights.shape[1] - 1)


def _choice(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    return rng.choice(len(weights), size=size, p=weights / weights.sum())


def _take(vocabulary: Sequence[str | None] | pa.Array, index: np.ndarray) -> pa.Array:
    """``vocabulary[index]`` as a string array, null where ``index < 0``."""
    vocab = vocabulary if isinstance(vocabulary, pa.Array) else pa.array(vocabulary, pa.string())
    missing = index < 0
    indices = pa.array(np.where(missing, 0, index).astype(np.int64), mask=missing if missing.any() else None)
    return vocab.take(indices)


def _prefixed(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers, pa.int64()), pa.string()), "")


def _coat_factor(temp_c: np.ndarray) -> np.ndarray:
    return np.clip(np.exp(-(temp_c - 10.0) / 6.0), 0.05, 8.0)


def _rain_factor(precip_mm: np.ndarray) -> np.ndarray:
    return np.clip(0.3 + precip_mm / 4.0, 0.3, 10.0)


_COAT = CATEGORY_NAMES.index(COAT_CATEGORY)
_RAIN = CATEGORY_NAMES.index(RAIN_CATEGORY)
_KIMCHI = CATEGORY_NAMES.index("김치")


def _category_weights(temp_c: np.ndarray, precip_mm: np.ndarray) -> np.ndarray:
    """Per-row category weights on a day with that weather."""
    weights = np.repeat(CATEGORY_WEIGHTS[None, :], temp_c.size, axis=0)
    weights[:, _COAT] *= _coat_factor(temp_c)
    weights[:, _RAIN] *= _rain_factor(precip_mm)
    return weights


class _ProductSampler:
    """Draws a product of a given category for a shopper group (VIP or not x region).

    Weights are popularity, times (price / category median) ** 0.8 for VIPs, times a boost for
    the shopper's local specialities. One flat cumulative sum over (group, product) serves every
    draw through ``searchsorted``.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        n_products = catalogue.size
        n_regions = len(REGION_NAMES)
        category = catalogue.category
        if np.any(np.diff(category) < 0):
            raise AssertionError("the catalogue must list products category by category")
        n_cat = len(CATEGORIES)
        self._start = np.searchsorted(category, np.arange(n_cat), side="left")
        self._end = np.searchsorted(category, np.arange(n_cat), side="right")
        median = np.array([np.median(catalogue.price[s:e]) for s, e in zip(self._start, self._end, strict=True)])
        premium = (catalogue.price / median[category]) ** 0.8
        local = np.array([[r == name for r in catalogue.region] for name in REGION_NAMES], dtype=np.float64)
        regional = 1.0 + (_REGIONAL_BOOST - 1.0) * local  # [region, product]
        weights = np.concatenate(
            [catalogue.popularity[None, :] * regional, catalogue.popularity[None, :] * premium[None, :] * regional]
        )  # group = premium * n_regions + region
        self._n_products = n_products
        self._cum = np.cumsum(weights.ravel())
        before = self._cum.reshape(weights.shape) - weights
        self._base = before[:, self._start]  # [group, category]
        self._total = np.stack([weights[:, s:e].sum(axis=1) for s, e in zip(self._start, self._end, strict=True)], 1)
        self.n_regions = n_regions

    def sample(self, rng: np.random.Generator, group: np.ndarray, category: np.ndarray) -> np.ndarray:
        target = self._base[group, category] + rng.random(group.size) * self._total[group, category]
        flat = np.searchsorted(self._cum, target, side="right")
        product = flat - group * self._n_products
        return np.clip(product, self._start[category], self._end[category] - 1)


# ----------------------------------------------------------------------------------------------
# phase 2: people


@dataclass(frozen=True)
class _People:
    tier: np.ndarray
    region: np.ndarray
    city: np.ndarray
    favourite: np.ndarray
    preferred_hour: np.ndarray
    active_from: np.ndarray  # first active day
    active_to: np.ndarray  # first day after the active window
    browse_rate: np.ndarray  # sessions a day
    order_rate: np.ndarray  # orders a day
    habit: np.ndarray  # bool
    first_device: np.ndarray
    device_count: np.ndarray
    device_person: np.ndarray
    device_type: np.ndarray
    device_os: np.ndarray
    device_channel: np.ndarray
    anonymous_ids: pa.Array
    user_ids: pa.Array  # one per member (person index < members)
    contact_hashes: tuple[pa.Array, pa.Array]  # email, phone per person (null but for guests)
    members: int

    @property
    def size(self) -> int:
        return self.tier.size

    @property
    def premium(self) -> np.ndarray:
        return (self.tier == _VIP) | (self.tier == _CHURNED)


def _hex_ids(rng: np.random.Generator, count: int, n_bytes: int) -> list[str]:
    raw = rng.bytes(count * n_bytes)
    return [raw[i * n_bytes : (i + 1) * n_bytes].hex() for i in range(count)]


def _make_people(rng: np.random.Generator, customers: int, days: int) -> _People:
    members = customers
    visitors = round(_VISITORS_PER_MEMBER * customers)
    scanners = max(3, round(_SCANNER_SHARE * customers))
    n = members + visitors + scanners

    tier = np.empty(n, dtype=np.int8)
    order = rng.permutation(members)
    n_vip = max(2, round(_VIP_SHARE * members)) if members >= 10 else min(members, 1)
    n_churned = max(1, round(_CHURNED_SHARE * n_vip)) if n_vip >= 2 else 0
    n_regular = round(_REGULAR_SHARE * (members - n_vip))
    tier[order] = _NONBUYER
    tier[order[:n_vip]] = _VIP
    tier[order[:n_churned]] = _CHURNED
    regular = order[n_vip : n_vip + n_regular]
    tier[regular] = _REGULAR
    habit = np.zeros(n, dtype=bool)
    habit[regular[: round(_HABIT_SHARE * n_regular)]] = True
    visitor_tier = np.where(rng.random(visitors) < _GUEST_SHARE, _GUEST, _VISITOR)
    tier[members : members + visitors] = visitor_tier
    tier[members + visitors :] = _SCANNER

    region = _choice(rng, REGION_SHARES, n)
    city = CITY_OFFSETS[region] + (rng.random(n) * CITY_COUNTS[region]).astype(np.int64)
    taste = CATEGORY_WEIGHTS.copy()
    taste[[_COAT, _RAIN, _KIMCHI]] = 0.0  # keep the weather and pair truths unblurred
    favourite = _choice(rng, taste, n)
    preferred_hour = _choice(rng, _HOUR_WEIGHTS, n)

    active_from = np.zeros(n, dtype=np.int64)
    active_to = np.full(n, days, dtype=np.int64)
    late = (tier <= _REGULAR) & ~habit & (rng.random(n) < _LATE_JOINER_SHARE)
    late[members:] = False
    active_from[late] = (rng.random(int(late.sum())) * 0.9 * days).astype(np.int64)
    churned = tier == _CHURNED
    active_to[churned] = np.maximum(1, (rng.uniform(0.45, 0.6, int(churned.sum())) * days).astype(np.int64))

    def gamma(mean: float, shape: float, size: int) -> np.ndarray:
        return rng.gamma(shape, mean / shape, size)

    browse_rate = np.zeros(n)
    order_rate = np.zeros(n)
    for kind, browse, orders in (
        (_NONBUYER, 0.03, 0.0),
        (_REGULAR, 0.045, 0.013),
        (_VIP, 0.2, 0.1),
        (_CHURNED, 0.22, 0.13),
        (_VISITOR, 0.02, 0.0),
        (_GUEST, 0.02, 0.008),
    ):
        chosen = tier == kind
        k = int(chosen.sum())
        browse_rate[chosen] = gamma(browse, 2.0, k)
        if orders:
            shape = 6.0 if kind in (_VIP, _CHURNED) else 1.2
            order_rate[chosen] = gamma(orders, shape, k)
    order_rate[habit] += 0.01  # enough orders to see the habit in a short demo
    browse_rate[habit] = np.maximum(browse_rate[habit], 0.04)

    device_count = np.ones(n, dtype=np.int64)
    device_count[:members] = _choice(rng, np.array([0.45, 0.4, 0.15]), members) + 1
    device_count[habit] = 2
    first_device = np.concatenate([[0], np.cumsum(device_count)[:-1]])
    n_devices = int(device_count.sum())
    device_person = np.repeat(np.arange(n), device_count)
    device_type = _choice(rng, np.array([0.6, 0.3, 0.1]), n_devices)
    scanner_devices = first_device[tier == _SCANNER]
    device_type[scanner_devices] = np.where(rng.random(scanner_devices.size) < 0.7, _DESKTOP, _MOBILE)
    habit_first = first_device[habit]
    device_type[habit_first] = _MOBILE
    device_type[habit_first + 1] = _DESKTOP
    u = rng.random(n_devices)
    device_os = np.select(
        [device_type == _MOBILE, device_type == _TABLET], [np.where(u < 0.35, 0, 1), np.where(u < 0.55, 2, 1)], np.where(u < 0.8, 3, 4)
    )
    app_share = np.array([0.55, 0.0, 0.35])[device_type]
    device_channel = (rng.random(n_devices) < app_share).astype(np.int64)

    anonymous_ids = pa.array([str(uuid.UUID(bytes=b, version=4)) for b in _byte_chunks(rng, n_devices, 16)], pa.string())
    user_ids = _prefixed("m", np.arange(1, members + 1))
    user_ids = pc.utf8_lpad(pc.utf8_slice_codeunits(user_ids, 1), 6, "0")
    user_ids = pc.binary_join_element_wise("m", user_ids, "")

    guests = np.flatnonzero(tier == _GUEST)
    email = np.full(n, -1)
    email[guests] = np.arange(guests.size)
    emails = _take(_hex_ids(rng, guests.size, 32), email)
    phones = _take(_hex_ids(rng, guests.size, 32), email)
    return _People(
        tier=tier,
        region=region,
        city=city,
        favourite=favourite,
        preferred_hour=preferred_hour,
        active_from=active_from,
        active_to=active_to,
        browse_rate=browse_rate,
        order_rate=order_rate,
        habit=habit,
        first_device=first_device,
        device_count=device_count,
        device_person=device_person,
        device_type=device_type,
        device_os=device_os,
        device_channel=device_channel,
        anonymous_ids=anonymous_ids,
        user_ids=user_ids,
        contact_hashes=(emails, phones),
        members=members,
    )


def _byte_chunks(rng: np.random.Generator, count: int, size: int) -> list[bytes]:
    raw = rng.bytes(count * size)
    return [raw[i * size : (i + 1) * size] for i in range(count)]
