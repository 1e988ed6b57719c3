"""The synthetic Korean shop: shoppers, sessions, carts and orders with planted truths.

Everything is drawn from one ``numpy.random.default_rng(seed)`` in a fixed order (the rain's
rain gear from a second one, ``_rain.rain_rng(seed)``, the restocked consumables from a third,
``_restock.restock_rng(seed)``) and built as
whole arrays (no per-event Python), so equal arguments give identical tables, and a shop of
20,000 members over 180 days (about 1.5 million events) takes a few seconds.

The phases, in the order they draw:

1. **Catalogue and weather** - ~190 products in 16 categories; daily temperature and rain per region.
2. **People** - ``customers`` members (VIPs, churned VIPs, regular buyers, browsers, a device-by-hour
   habit group), 0.6 x ``customers`` anonymous visitors (some buy as guests, 비회원) and a few job
   seekers; each member has 1-3 devices (anonymous ids), each visitor one.
3. **Sessions** - Poisson counts of browsing and buying sessions per person over their active days,
   each with a day, a KST hour (shop-wide curve, personal favourite hour, or the planted habit), a
   device, a focus category and the weather of the person's region that day.
4. **Orders** - one per buying session: lines drawn by category (weather-adjusted, favourite
   category) then product (popularity, price for VIPs, local specialities), complementary partners
   added, quantities and prices. Then the rain (``_rain``, from its own generator so that nothing
   else moves): rain gear added to orders and viewed in browsing sessions on rainy days; then the
   restocking (``_restock``, from a generator of its own too): members who adopted a consumable
   (라면, 김치, 생수, 세제, 기저귀...) at a first purchase buy it again at their orders on the days it
   is due on their own cycle.
5. **Events** - each session expands into its events (landing page with referrer and UTM, identify,
   CRM message open and click, banners, searches, product views, cart adds and removes, checkout,
   order), ordered inside the session, spaced by random gaps and sorted by time; then some
   shoppers' clicks on the 문의하기 button (a ``track`` event, from a random stream of its own).
6. **Tables** - Arrow tables in the store's layouts.

Volume: about ``EVENTS_PER_CUSTOMER_DAY`` (0.42) events and 0.014 orders per member and day,
visitors' events included; periods of a few weeks run ~10% higher (each device identifies once).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.core import FieldError, IdentifierHasher, InvalidInputError
from shopmind.demo._catalogue import (
    CATEGORIES,
    CATEGORY_NAMES,
    COAT_CATEGORY,
    CURRENCY,
    RAIN_CATEGORY,
    Catalogue,
    build_catalogue,
)
from shopmind.demo._events import SOURCE, build_events
from shopmind.demo._geography import REGION_NAMES, Weather, simulate_weather
from shopmind.demo._inquiries import add_inquiries
from shopmind.demo._people import (
    CHANNEL_NAMES,
    CHURNED,
    DEVICE_TYPES,
    GUEST,
    SCANNER,
    VIP,
    People,
    make_people,
    with_contact_hashes,
)
from shopmind.demo._rain import ADD_ON_TEXT, VIEW_TEXT, draw_rain_gear, rain_rng, with_rain_gear
from shopmind.demo._restock import RESTOCK_TEXT, draw_restock, restock_rng
from shopmind.demo._sampling import COAT_FACTOR_TEXT, RAIN_FACTOR_TEXT, ProductSampler, constant, take
from shopmind.demo._sessions import (
    CAMPAIGN_EVERY_DAYS,
    COMPLEMENT_PROBABILITY,
    DAY_US,
    HABIT_BROWSE_HOURS,
    HABIT_BUY_HOURS,
    HABIT_COMPLIANCE,
    US,
    Orders,
    Sessions,
    make_orders,
    make_sessions,
)
from shopmind.demo._truths import ComplementaryPair, DeviceHourHabit, PlantedTruths, WeatherEffect
from shopmind.events import ORDER_LINE_SCHEMA, ORDER_SCHEMA

DEFAULT_START = date(2026, 1, 1)
SHOP_UTC_OFFSET = timedelta(hours=9)  # Asia/Seoul has no daylight saving time
#: Approximate events per member and day (visitors' events included), measured: 0.42 over 180
#: or 365 days, ~0.47 over 30 days. The test suite checks it stays within 25%.
EVENTS_PER_CUSTOMER_DAY = 0.42
MAX_CUSTOMERS = 10_000_000
MAX_DAYS = 3_660

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

#: External interest keywords and the category each signals.
INTEREST_KEYWORDS: tuple[tuple[str, str], ...] = tuple((k, c.name) for c in CATEGORIES for k in c.keywords)
INTEREST_SIGNAL = 0.8  # chance that a member's favourite category shows in their keywords

_PHASES = 6


@dataclass(frozen=True)
class SyntheticShop:
    """A generated shop: Arrow tables in the store's layouts and what was planted in them.

    ``events``, ``orders`` and ``order_lines`` follow ``shopmind.events`` (``EVENT_SCHEMA``,
    ``ORDER_SCHEMA``, ``ORDER_LINE_SCHEMA``); ``products`` (``PRODUCT_SCHEMA``), ``weather``
    (``WEATHER_SCHEMA``) and ``interests`` (``INTEREST_SCHEMA``) the store's tables of the same
    names (``interests`` goes to ``external_interests``).
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


def _whole(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def _check(customers: object, days: object, seed: object) -> tuple[int, int, int]:
    c, d, s = _whole(customers), _whole(days), _whole(seed)
    errors = []
    if c is None or not 1 <= c <= MAX_CUSTOMERS:
        errors.append(FieldError("customers", f"must be a whole number from 1 to {MAX_CUSTOMERS:,}"))
    if d is None or not 1 <= d <= MAX_DAYS:
        errors.append(FieldError("days", f"must be a whole number from 1 to {MAX_DAYS:,}"))
    if s is None or s < 0:
        errors.append(FieldError("seed", "must be a whole number >= 0"))
    if errors or c is None or d is None or s is None:
        raise InvalidInputError(errors)
    return c, d, s


def generate_shop(
    customers: int,
    days: int,
    seed: int,
    start: date | None = None,
    progress: Callable[[int, int], None] | None = None,
    hasher: IdentifierHasher | None = None,
) -> SyntheticShop:
    """Generate a synthetic Korean shop with ``customers`` members over ``days`` days from ``start``.

    Pure: no I/O, no clock; equal arguments give identical tables. ``start`` (default 2026-01-01)
    is the first local day (Asia/Seoul) of the period. ``progress(done, total)`` is called after
    each phase. Expect about ``EVENTS_PER_CUSTOMER_DAY * customers * days`` events. With the
    workspace's ``hasher``, guests' contact hashes are those of their ``guest_contact`` (else
    random strings).
    """
    customers, days, seed = _check(customers, days, seed)
    report = progress or (lambda done, total: None)
    report(0, _PHASES)
    rng = np.random.default_rng(seed)
    setting = shop_setting(rng, start, days)
    report(1, _PHASES)
    cohort = draw_cohort(
        setting,
        customers,
        rng,
        rain_rng(seed),  # the rain's own stream: the shop's other draws stay as they were
        restock_rng(seed),  # the restocking's own stream, after the rain's: nothing above moves
        seed,
        lambda people: people if hasher is None else with_contact_hashes(people, seed, hasher),
        lambda phase: report(phase, _PHASES),
    )
    truths = _truths(
        cohort.people,
        cohort.sessions,
        cohort.order_draws,
        setting.catalogue.product_ids,
        setting.catalogue.pairs,
        setting.catalogue.region,
        setting.first_day,
        days,
        cohort.cycles,
    )
    report(6, _PHASES)
    return SyntheticShop(
        events=add_inquiries(cohort.events, seed),  # their own random stream: nothing above shifts
        orders=cohort.orders,
        order_lines=cohort.order_lines,
        products=setting.catalogue.table,
        weather=setting.weather.table,
        interests=cohort.interests,
        truths=truths,
        customers=customers,
        days=days,
        seed=seed,
        start=setting.first_day,
    )


@dataclass(frozen=True)
class ShopSetting:
    """What all the shop's people share: the period, the catalogue, the weather, the campaigns."""

    first_day: date
    days: int
    period_start_us: int
    catalogue: Catalogue
    weather: Weather
    sampler: ProductSampler
    campaign_ids: tuple[str, ...]


def shop_setting(rng: np.random.Generator, start: date | None, days: int) -> ShopSetting:
    """Phase 1: the catalogue and the weather (drawn from ``rng``) of ``days`` days from ``start``."""
    first_day = start or DEFAULT_START
    if isinstance(first_day, datetime):  # a datetime is a date too; keep its calendar day
        first_day = first_day.date()
    local_midnight = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) - SHOP_UTC_OFFSET
    catalogue = build_catalogue(rng)
    weather = simulate_weather(rng, first_day, days)
    n_campaigns = -(-days // CAMPAIGN_EVERY_DAYS)
    return ShopSetting(
        first_day=first_day,
        days=days,
        period_start_us=int(local_midnight.timestamp()) * US,
        catalogue=catalogue,
        weather=weather,
        sampler=ProductSampler(catalogue),
        campaign_ids=tuple(
            f"crm-{first_day + timedelta(days=CAMPAIGN_EVERY_DAYS * w):%Y%m%d}" for w in range(n_campaigns)
        ),
    )


@dataclass(frozen=True)
class Cohort:
    """What a group of people did in the shop: their tables (events without the 문의하기 clicks)
    and the draws the planted truths are read from."""

    events: pa.Table
    orders: pa.Table
    order_lines: pa.Table
    interests: pa.Table
    people: People
    sessions: Sessions
    order_draws: Orders  # with the rain gear and the restocked lines
    cycles: dict[tuple[int, int], float]


def draw_cohort(
    setting: ShopSetting,
    customers: int,
    rng: np.random.Generator,
    wet: np.random.Generator,
    stock: np.random.Generator,
    tag: int | str,
    adjust_people: Callable[[People], People],
    report: Callable[[int], None],
) -> Cohort:
    """Phases 2-6 for ``customers`` members (and their share of visitors): people, sessions,
    orders (rain gear from ``wet``, restocking from ``stock``), events and tables. ``tag`` goes
    into the ids; ``adjust_people`` sets ids or contact hashes (it must draw nothing from ``rng``)."""
    days, catalogue, sampler = setting.days, setting.catalogue, setting.sampler
    people = adjust_people(make_people(rng, customers, days))
    report(2)

    sessions = make_sessions(rng, people, days, setting.weather, setting.period_start_us)
    report(3)

    orders = make_orders(rng, sessions, people, catalogue, sampler)
    rain = draw_rain_gear(wet, sessions, orders, people, catalogue, sampler)
    restock, cycles = draw_restock(stock, sessions, orders, people, catalogue, rain)
    report(4)

    timed = build_events(
        rng,
        sessions,
        orders,
        people,
        catalogue,
        sampler,
        setting.campaign_ids,
        setting.period_start_us,
        tag,
        rain,
        wet,
        restock,
        stock,
    )
    report(5)

    orders = with_rain_gear(with_rain_gear(orders, rain), restock)  # the restocked lines come last
    order_table, line_table = _order_tables(
        sessions, orders, people, catalogue.table, timed.order_time_us, timed.order_ids
    )
    interests = _interests(rng, people, days, setting.period_start_us)
    return Cohort(
        events=timed.table,
        orders=order_table,
        order_lines=line_table,
        interests=interests,
        people=people,
        sessions=sessions,
        order_draws=orders,
        cycles=cycles,
    )


def _order_tables(
    sessions: Sessions,
    orders: Orders,
    people: People,
    products: pa.Table,
    order_time_us: np.ndarray,
    order_ids: pa.Array,
) -> tuple[pa.Table, pa.Table]:
    n = orders.size
    chronological = np.argsort(order_time_us, kind="stable")
    session = orders.session[chronological]
    person = sessions.person[session]
    device = sessions.device[session]
    member = person < people.members
    header = pa.Table.from_arrays(
        [
            order_ids.take(pa.array(chronological)),
            pa.array(order_time_us[chronological], pa.timestamp("us", tz="UTC")),
            take(people.user_ids, np.where(member, person, -1)),
            take(people.anonymous_ids, device),
            take(people.email_hashes, person),
            take(people.phone_hashes, person),
            constant(CURRENCY, n),
            constant("KR", n),
            take(REGION_NAMES, people.region[person]),
            take(CHANNEL_NAMES, people.device_channel[device]),
            take(DEVICE_TYPES, people.device_type[device]),
            pa.array(np.zeros(n, dtype=bool)),
            constant(SOURCE, n),
            pa.array(np.ones(n, dtype=bool)),  # the shop's own order system: verified
        ],
        schema=ORDER_SCHEMA,
    )

    position = np.empty(n, dtype=np.int64)
    position[chronological] = np.arange(n)
    by_time = np.lexsort((orders.line_no, position[orders.line_order]))
    line_order = orders.line_order[by_time]
    line_no = orders.line_no[by_time]
    product = orders.product[by_time]
    ids = order_ids.take(pa.array(line_order))
    m = line_order.size
    lines = pa.Table.from_arrays(
        [
            ids,
            pc.binary_join_element_wise(ids, pc.cast(pa.array(line_no, pa.int64()), pa.string()), "#"),
            pa.array(line_no.astype(np.int32), pa.int32()),
            take(products.column("product_id").combine_chunks(), product),
            take(products.column("name").combine_chunks(), product),
            pa.array(orders.quantity[by_time].astype(np.int64), pa.int64()),
            pa.array(orders.unit_price[by_time], pa.float64()),
            pa.array(np.zeros(m, dtype=bool)),
            pa.array(np.ones(m, dtype=bool)),
        ],
        schema=ORDER_LINE_SCHEMA,
    )
    return header, lines


def _interests(rng: np.random.Generator, people: People, days: int, period_start_us: int) -> pa.Table:
    """External interest keywords per member: the favourite category's keyword, usually, plus noise."""
    members = np.arange(people.members)
    keyword_category = np.array([CATEGORY_NAMES.index(c) for _, c in INTEREST_KEYWORDS])
    by_category = [np.flatnonzero(keyword_category == c) for c in range(len(CATEGORIES))]
    first_keyword = np.array([k[0] for k in by_category])
    last_keyword = np.array([k[-1] for k in by_category])
    signal = members[rng.random(members.size) < INTEREST_SIGNAL]
    favourite = people.favourite[signal]
    signal_keyword = np.where(
        rng.random(signal.size) < 0.5, first_keyword[favourite], last_keyword[favourite]
    )
    noisy = np.repeat(members, rng.poisson(0.7, members.size))
    noise_keyword = rng.integers(0, len(INTEREST_KEYWORDS), noisy.size)
    person = np.concatenate([signal, noisy])
    keyword = np.concatenate([signal_keyword, noise_keyword])
    weight = np.concatenate([rng.uniform(0.6, 1.0, signal.size), rng.uniform(0.1, 0.7, noisy.size)])
    _, first = np.unique(person * len(INTEREST_KEYWORDS) + keyword, return_index=True)
    keep = np.sort(first)
    person, keyword, weight = person[keep], keyword[keep], np.round(weight[keep], 3)
    seen = period_start_us + (rng.random(keep.size) * days * DAY_US).astype(np.int64)
    identifiers = pc.binary_join_element_wise("user:", people.user_ids, "")
    return pa.Table.from_arrays(
        [
            take(identifiers, person),
            take([k for k, _ in INTEREST_KEYWORDS], keyword),
            take([c for _, c in INTEREST_KEYWORDS], keyword),
            pa.array(weight, pa.float64()),
            pa.array(seen, pa.timestamp("us", tz="UTC")),
            constant(SOURCE, keep.size),
        ],
        schema=INTEREST_SCHEMA,
    )


def _truths(
    people: People,
    sessions: Sessions,
    orders: Orders,
    product_ids: tuple[str, ...],
    pairs: tuple[tuple[int, int], ...],
    product_region: tuple[str | None, ...],
    start: date,
    days: int,
    cycles: dict[tuple[int, int], float],
) -> PlantedTruths:
    user_ids: list[str] = people.user_ids.to_pylist()
    anonymous_ids: list[str] = people.anonymous_ids.to_pylist()
    members = people.members
    tier = people.tier

    def users(mask: np.ndarray) -> frozenset[str]:
        return frozenset(user_ids[i] for i in np.flatnonzero(mask[:members]))

    def devices(persons: np.ndarray) -> frozenset[str]:
        return frozenset(
            anonymous_ids[d]
            for p in persons
            for d in range(people.first_device[p], people.first_device[p] + people.device_count[p])
        )

    churned = np.flatnonzero(tier[:members] == CHURNED)
    ordering = np.unique(sessions.person[orders.session])
    guests = ordering[tier[ordering] == GUEST]
    habit = DeviceHourHabit(
        name="출근길 모바일 탐색, 밤 데스크톱 구매",
        user_ids=users(people.habit),
        browse_device="mobile",
        browse_hours_kst=HABIT_BROWSE_HOURS,
        buy_device="desktop",
        buy_hours_kst=HABIT_BUY_HOURS,
        compliance=HABIT_COMPLIANCE,
    )
    return PlantedTruths(
        start=start,
        days=days,
        vip_user_ids=users((tier == VIP) | (tier == CHURNED)),
        churned_vip_user_ids=users(tier == CHURNED),
        churned_from=MappingProxyType(
            {user_ids[p]: start + timedelta(days=int(people.active_to[p])) for p in churned}
        ),
        complementary_pairs=tuple(ComplementaryPair(product_ids[a], product_ids[b]) for a, b in pairs),
        complementary_probability=COMPLEMENT_PROBABILITY,
        device_hour_habits=(habit,),
        weather_categories=(
            WeatherEffect(COAT_CATEGORY, "temp_c", -1, COAT_FACTOR_TEXT),
            WeatherEffect(
                RAIN_CATEGORY, "precip_mm", +1, RAIN_FACTOR_TEXT, extra=f"{ADD_ON_TEXT}; {VIEW_TEXT}"
            ),
        ),
        job_seeker_anonymous_ids=devices(np.flatnonzero(tier == SCANNER)),
        anonymous_visitor_ids=devices(np.arange(members, people.size)),
        guest_buyer_anonymous_ids=devices(guests),
        member_devices=MappingProxyType(
            {
                user_ids[p]: tuple(
                    anonymous_ids[people.first_device[p] : people.first_device[p] + people.device_count[p]]
                )
                for p in range(members)
            }
        ),
        favourite_categories=MappingProxyType(
            {user_ids[p]: CATEGORY_NAMES[people.favourite[p]] for p in range(members)}
        ),
        interest_keywords=MappingProxyType(dict(INTEREST_KEYWORDS)),
        regional_products=MappingProxyType(
            {product_ids[i]: r for i, r in enumerate(product_region) if r is not None}
        ),
        restock_cycles=_restock_cycles(cycles, user_ids, product_ids),
        restock_rule=RESTOCK_TEXT,
    )


def _restock_cycles(
    cycles: dict[tuple[int, int], float], user_ids: list[str], product_ids: tuple[str, ...]
) -> Mapping[str, Mapping[str, float]]:
    by_member: dict[str, dict[str, float]] = {}
    for (person, product), days in sorted(cycles.items()):
        by_member.setdefault(user_ids[person], {})[product_ids[product]] = round(days, 2)
    return MappingProxyType({u: MappingProxyType(c) for u, c in by_member.items()})


__all__ = ["DEFAULT_START", "EVENTS_PER_CUSTOMER_DAY", "INTEREST_SCHEMA", "SyntheticShop", "generate_shop"]
