"""What the demo shop planted on purpose, so tests of later models can check they recover it.

Every truth here is real in the generated tables (``tests/test_demo_shop.py`` checks each one);
identifiers are the ones the events and orders carry: ``user_id`` / ``customer_id`` for members,
``anonymous_id`` for devices and visitors, ``product_id`` for products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import NamedTuple


class ComplementaryPair(NamedTuple):
    """Buying ``antecedent`` makes buying ``consequent`` in the same order likely (a -> b)."""

    antecedent: str
    consequent: str


@dataclass(frozen=True)
class DeviceHourHabit:
    """Members who browse on one device at one time of day and buy on another at another time.

    ``compliance`` is the share of their browsing (and of their buying) sessions that follow the
    habit; the rest follow the shop-wide pattern. Hours are in the shop's time zone (KST).
    """

    name: str
    user_ids: frozenset[str]
    browse_device: str
    browse_hours_kst: tuple[int, ...]
    buy_device: str
    buy_hours_kst: tuple[int, ...]
    compliance: float


@dataclass(frozen=True)
class WeatherEffect:
    """Demand for ``category`` follows ``variable`` of the buyer's region on the day of the order.

    ``direction`` is -1 when demand rises as the variable falls (coats in the cold) and +1 when it
    rises with it (umbrellas in the rain). ``multiplier`` describes the planted weight, applied to
    the category's share before each line's category is drawn; ``extra`` what else the weather
    does (rain puts rain gear in baskets and in front of browsers), empty if nothing.
    """

    category: str
    variable: str  # a column of the weather table: "temp_c" or "precip_mm"
    direction: int
    multiplier: str
    extra: str = ""


@dataclass(frozen=True)
class PlantedTruths:
    """The behaviours the simulator planted, with the ids that carry them.

    Period: the shop's local days ``start`` .. ``start + days - 1`` (Asia/Seoul); every event lies
    in ``[start 00:00 KST, (start + days) 00:00 KST)``.
    """

    start: date
    days: int

    #: Planted heavy buyers (7% of members; about a fifth of the members who buy in the period):
    #: ~0.1 orders a day (at least 2 in the period) against ~0.013-0.023 for other buyers, and
    #: bigger baskets (more lines, more units, pricier products), so the top fifth of buyers
    #: brings 70-80% of the revenue (a Pareto shop). Includes the churned VIPs below.
    vip_user_ids: frozenset[str]

    #: Former VIPs (a fifth of ``vip_user_ids``): they buy even more than VIPs early on (~0.15
    #: orders a day, at least 3 in all), then stop completely - no event of any kind, on any of
    #: their devices, on or after ``churned_from[user_id]``, a day between 45% and 60% of the way
    #: through the period (so the last third is always silent).
    churned_vip_user_ids: frozenset[str]
    churned_from: Mapping[str, date]

    #: Product-level rules: an order with ``antecedent`` also gets ``consequent`` with
    #: ``complementary_probability`` (far above the consequent's base rate). Every 라면 product
    #: points to the same 김치 product, 삼겹살 to 쌈장, each printer to its brand's ink, tents to
    #: camping chairs.
    complementary_pairs: tuple[ComplementaryPair, ...]
    complementary_probability: float

    #: Device-by-hour habits: 12% of the regular buyers browse on their phone at 7-8h KST
    #: (출근길) and buy on their desktop at 21-22h KST; an order's event can spill past 23:00.
    device_hour_habits: tuple[DeviceHourHabit, ...]

    #: Weather-driven demand, by the buyer's region and local day: 아우터 (coats, padding) when it
    #: is cold, 레인용품 (umbrellas, rain boots) on rainy days - through the category weights and,
    #: for the rain, a rain-gear line added to up to 30% of a rainy day's orders (the chance grows
    #: with the rain, none when dry) and rain gear viewed in up to half its browsing sessions.
    weather_categories: tuple[WeatherEffect, ...]

    #: Anonymous visitors who scan the whole shop like job seekers or competitors: each session
    #: opens on /careers (or /about) most of the time, then views one product in each of 8 or
    #: more distinct categories, a few seconds apart; they never log in nor buy.
    job_seeker_anonymous_ids: frozenset[str]

    #: Devices of people who never log in (``user_id`` always null): anonymous visitors, job
    #: seekers, and guests, who buy as 비회원 (orders with ``customer_id`` null and hashed contact).
    anonymous_visitor_ids: frozenset[str]
    guest_buyer_anonymous_ids: frozenset[str]

    #: Each member's devices (their ``anonymous_id`` values), for identity-stitching checks.
    member_devices: Mapping[str, tuple[str, ...]]

    #: Each member's favourite category (never 아우터, 레인용품 or 김치, so as not to blur the
    #: weather and pair truths): it is the focus of half their browsing sessions, and about 40%
    #: of their order lines and product views come from it (vs ~7% for a random category);
    #: their external interest keywords name it with probability 0.8.
    favourite_categories: Mapping[str, str]

    #: External interest keyword -> the category it signals (see ``SyntheticShop.interests``).
    interest_keywords: Mapping[str, str]

    #: Local specialities (product_id -> region): shoppers in that region pick them 5x as often.
    regional_products: Mapping[str, str]

    #: Replenishment (``demo._restock``): member -> {consumable product_id -> their cycle in days}
    #: for the consumables (라면, 김치, 생수, 세제, 기저귀...) they adopted at a first purchase; a
    #: later order on a day when the product is due gets it (``restock_rule`` says how exactly).
    restock_cycles: Mapping[str, Mapping[str, float]]
    restock_rule: str

    @property
    def end(self) -> date:
        """The first day after the period."""
        return self.start + timedelta(days=self.days)

    @property
    def active_vip_user_ids(self) -> frozenset[str]:
        """VIPs still buying at the end of the period."""
        return self.vip_user_ids - self.churned_vip_user_ids

    @property
    def evening_reader_user_ids(self) -> frozenset[str]:
        """Members who read their messages in the evening (``EVENING_READER_HOURS``): the
        device-by-hour habit group, who buy on their desktop at 21-22h KST."""
        return frozenset().union(*(h.user_ids for h in self.device_hour_habits))

    @property
    def message_responses(self) -> Mapping[str, MessageResponse]:
        """How each group of members answers a campaign message (``MESSAGE_RESPONSES``)."""
        return MESSAGE_RESPONSES


#: The days within which a message's planted effect on buying shows, and over which the
#: no-message purchase rates below are counted (the campaigns' default attribution window).
RESPONSE_DAYS = 7
#: The shop-local hours at which evening readers read their messages (their buying hours).
EVENING_READER_HOURS = (21, 22)


@dataclass(frozen=True)
class MessageResponse:
    """How one group of the demo shop's members answers a campaign message (``demo._responses``).

    ``no_message`` is the chance that a member of the group orders at least once within
    ``RESPONSE_DAYS`` of the campaign's send moment when sent nothing (the holdout's rate);
    a message raises it by ``coupon_uplift`` (a message with a coupon) or ``message_uplift``
    (without), in percentage points, exactly: P(order) = no_message + uplift. ``read`` is the
    chance that the message is read (opened), ``read_own_hour`` when it arrives in one of the
    member's own hours (evening readers: ``EVENING_READER_HOURS``; equal to ``read`` for the
    other groups); ``click`` the chance that a reader clicks its link. A member whom the message
    wins over (the uplift) always reads and clicks it before buying.
    """

    group: str
    no_message: float
    coupon_uplift: float
    message_uplift: float
    read: float
    read_own_hour: float
    click: float


#: The planted answers, by group. Groups, in this order of precedence: ``dormant_vip`` (the
#: churned VIPs: silent since ``churned_from``), ``active_vip`` (VIPs still buying),
#: ``evening_reader`` (``evening_reader_user_ids``), ``buyer`` (other members with an order in the
#: period), ``non_buyer`` (members without one).
MESSAGE_RESPONSES: Mapping[str, MessageResponse] = MappingProxyType(
    {
        r.group: r
        for r in (
            MessageResponse("dormant_vip", 0.03, 0.08, 0.02, 0.25, 0.25, 0.3),
            MessageResponse("active_vip", 0.5, 0.0, 0.0, 0.45, 0.45, 0.3),
            MessageResponse("evening_reader", 0.15, 0.01, 0.0, 0.12, 0.4, 0.25),
            MessageResponse("buyer", 0.08, 0.01, 0.0, 0.2, 0.2, 0.2),
            MessageResponse("non_buyer", 0.01, 0.005, 0.0, 0.1, 0.1, 0.15),
        )
    }
)
