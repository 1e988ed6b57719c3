"""Phases 3 and 4 of the simulator: sessions (when, where, on which device) and orders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopmind.demo._catalogue import Catalogue
from shopmind.demo._geography import Weather
from shopmind.demo._people import CHURNED, GUEST, HOUR_WEIGHTS, SCANNER, VIP, People
from shopmind.demo._sampling import ProductSampler, category_weights, choice, pick, row_choice

BROWSE, BUY, SCAN = range(3)
HABIT_COMPLIANCE = 0.9
HABIT_BROWSE_HOURS = (7, 8)
HABIT_BUY_HOURS = (21, 22)
LOGGED_IN_SHARE = 0.75  # of members' browsing sessions
CRM_SHARE = 0.08  # of logged-in browsing sessions: opened from a CRM message
CAMPAIGN_EVERY_DAYS = 7
FAVOURITE_FOCUS_SHARE = 0.5
FAVOURITE_LINE_SHARE = 0.4
COMPLEMENT_PROBABILITY = 0.75
MIN_VIP_ORDERS = 2
MIN_CHURNED_ORDERS = 3

US = 1_000_000
HOUR_US = 3_600 * US
DAY_US = 24 * HOUR_US


@dataclass(frozen=True)
class Sessions:
    """Sessions in order of start time; index = session."""

    person: np.ndarray
    kind: np.ndarray  # BROWSE, BUY or SCAN
    day: np.ndarray  # day of the period (KST)
    start_us: np.ndarray  # UTC microseconds, before fitting the session inside the period
    device: np.ndarray
    logged_in: np.ndarray  # bool: the events carry user_id
    campaign: np.ndarray  # CRM campaign index, -1 if none
    focus: np.ndarray  # category the session is about (browsing sessions)
    temp_c: np.ndarray
    precip_mm: np.ndarray

    @property
    def size(self) -> int:
        return int(self.person.size)


def make_sessions(
    rng: np.random.Generator, people: People, days: int, weather: Weather, period_start_us: int
) -> Sessions:
    span = people.active_to - people.active_from
    n_browse = rng.poisson(people.browse_rate * span)
    n_buy = rng.poisson(people.order_rate * span)
    # a planted VIP is a heavy buyer even when the draw is unlucky
    n_buy = np.maximum(
        n_buy,
        np.select([people.tier == CHURNED, people.tier == VIP], [MIN_CHURNED_ORDERS, MIN_VIP_ORDERS], 0),
    )
    n_scan = np.where(people.tier == SCANNER, 1 + rng.poisson(0.8, people.size), 0)
    everyone = np.arange(people.size)
    person = np.concatenate(
        [np.repeat(everyone, n_browse), np.repeat(everyone, n_buy), np.repeat(everyone, n_scan)]
    )
    kind = np.repeat(np.array([BROWSE, BUY, SCAN]), [n_browse.sum(), n_buy.sum(), n_scan.sum()])
    n = person.size

    day = pick(rng, people.active_from[person], span[person])
    near_favourite = (people.preferred_hour[person] + np.rint(rng.normal(0.0, 1.5, n)).astype(np.int64)) % 24
    hour = np.where(rng.random(n) < 0.5, near_favourite, choice(rng, HOUR_WEIGHTS, n))
    device = pick(rng, people.first_device[person], people.device_count[person])

    follows = people.habit[person] & (rng.random(n) < HABIT_COMPLIANCE)
    second_hour = (rng.random(n) < 0.5).astype(np.int64)
    habit_browse = follows & (kind == BROWSE)
    habit_buy = follows & (kind == BUY)
    hour[habit_browse] = HABIT_BROWSE_HOURS[0] + second_hour[habit_browse]
    device[habit_browse] = people.first_device[person[habit_browse]]  # the mobile
    hour[habit_buy] = HABIT_BUY_HOURS[0] + second_hour[habit_buy]
    device[habit_buy] = people.first_device[person[habit_buy]] + 1  # the desktop

    member = person < people.members
    logged_in = member & ((kind == BUY) | (rng.random(n) < LOGGED_IN_SHARE))
    crm = logged_in & (kind == BROWSE) & (rng.random(n) < CRM_SHARE)
    campaign = np.where(crm, day // CAMPAIGN_EVERY_DAYS, -1)

    start_us = period_start_us + day * DAY_US + hour * HOUR_US + (rng.random(n) * HOUR_US).astype(np.int64)
    region = people.region[person]
    temp_c = weather.temp_c[region, day]
    precip_mm = weather.precip_mm[region, day]
    focus = np.where(
        rng.random(n) < FAVOURITE_FOCUS_SHARE,
        people.favourite[person],
        row_choice(rng, category_weights(temp_c, precip_mm)),
    )

    order = np.argsort(start_us, kind="stable")
    return Sessions(
        person=person[order],
        kind=kind[order],
        day=day[order],
        start_us=start_us[order],
        device=device[order],
        logged_in=logged_in[order],
        campaign=campaign[order],
        focus=focus[order],
        temp_c=temp_c[order],
        precip_mm=precip_mm[order],
    )


@dataclass(frozen=True)
class Orders:
    """One order per buying session, and its lines (grouped by order, in line order)."""

    session: np.ndarray  # per order
    revenue: np.ndarray  # per order, KRW
    line_order: np.ndarray  # per line: order index
    line_no: np.ndarray  # 1-based within the order
    product: np.ndarray
    quantity: np.ndarray
    unit_price: np.ndarray

    @property
    def size(self) -> int:
        return int(self.session.size)


def make_orders(
    rng: np.random.Generator,
    sessions: Sessions,
    people: People,
    catalogue: Catalogue,
    sampler: ProductSampler,
) -> Orders:
    session = np.flatnonzero(sessions.kind == BUY)
    n_orders = session.size
    person = sessions.person[session]
    tier = people.tier[person]
    premium = (tier == VIP) | (tier == CHURNED)
    extra_lines = np.select([premium, tier == GUEST], [1.7, 0.5], 0.7)
    line_order = np.repeat(np.arange(n_orders), 1 + rng.poisson(extra_lines))
    n_lines = line_order.size

    line_person = person[line_order]
    line_session = session[line_order]
    weathered = row_choice(
        rng, category_weights(sessions.temp_c[line_session], sessions.precip_mm[line_session])
    )
    category = np.where(rng.random(n_lines) < FAVOURITE_LINE_SHARE, people.favourite[line_person], weathered)
    group = ProductSampler.group(people.premium[line_person], people.region[line_person])
    product = sampler.sample(rng, group, category)

    partner = np.full(catalogue.size, -1, dtype=np.int64)
    for antecedent, consequent in catalogue.pairs:
        partner[antecedent] = consequent
    paired = (partner[product] >= 0) & (rng.random(n_lines) < COMPLEMENT_PROBABILITY)
    line_order = np.concatenate([line_order, line_order[paired]])
    product = np.concatenate([product, partner[product[paired]]])

    # one line per product and order: the first draw wins, a partner already in the basket is not doubled
    _, first = np.unique(line_order * catalogue.size + product, return_index=True)
    keep = np.sort(first)
    line_order, product = line_order[keep], product[keep]
    by_order = np.argsort(line_order, kind="stable")
    line_order, product = line_order[by_order], product[by_order]
    starts = np.searchsorted(line_order, np.arange(n_orders))
    line_no = np.arange(line_order.size) - starts[line_order] + 1

    line_premium = premium[line_order]
    quantity = 1 + rng.poisson(np.where(line_premium, 0.6, 0.25))
    unit_price = catalogue.price[product]
    revenue = np.bincount(line_order, weights=quantity * unit_price, minlength=n_orders)
    return Orders(
        session=session,
        revenue=revenue,
        line_order=line_order,
        line_no=line_no,
        product=product,
        quantity=quantity,
        unit_price=unit_price,
    )
