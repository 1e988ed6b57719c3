"""The synthetic Korean demo shop, with planted truths that tests of the models can check.

``generate_shop(customers, days, seed)`` returns a ``SyntheticShop`` of Arrow tables in the
store's layouts (events, orders, order lines, products, weather, external interests) and the
``PlantedTruths`` behind them (among them each member's restocking cycle of the consumables they
buy again: ``PlantedTruths.restock_cycles``). ``simulate_onsite(truths, seed)`` adds two weeks of on-site decisions
of the built-in triggers and their outcomes. ``generate_consents(customers, days, seed, start)``
gives its members' advertising consent ledger (a random stream of its own).
``simulate_responses(messages, shop_recipients(shop), seed)`` answers a campaign's messages with
opens, clicks and orders carrying planted effects (``MESSAGE_RESPONSES``).
``stream_shop(days=..., seed=..., events=N)`` gives a shop too big to hold (100 million events)
cohort by cohort (``ShopChunk``), each a million events or so, without its planted truths.
``simulate_month(policy)`` serves a month of popup visitors with context-dependent planted
effects (``POPUP_EFFECTS``) through a traffic policy and measures its regret.
"""

from shopmind.demo._bandit_month import BanditMonth, DecisionLog, simulate_month
from shopmind.demo._catalogue import PRODUCT_SCHEMA
from shopmind.demo._consent import DemoConsents, generate_consents
from shopmind.demo._geography import WEATHER_SCHEMA
from shopmind.demo._inquiries import INQUIRY_EVENT
from shopmind.demo._onsite import simulate_onsite
from shopmind.demo._people import MEMBER_EMAIL_DOMAIN, guest_contact, member_contact
from shopmind.demo._popup_effects import (
    POPUP_EFFECTS,
    POPUP_VARIANTS,
    PopupEffect,
    Visitors,
    click_rates,
    draw_visitors,
)
from shopmind.demo._responses import (
    MESSAGE_EVENT_SCHEMA,
    OPEN_TRACKED,
    Product,
    Recipients,
    Responses,
    SentMessage,
    shop_recipients,
    simulate_responses,
)
from shopmind.demo._simulator import (
    DEFAULT_START,
    EVENTS_PER_CUSTOMER_DAY,
    INTEREST_SCHEMA,
    SyntheticShop,
    generate_shop,
)
from shopmind.demo._stream import (
    DEFAULT_CHUNK_EVENTS,
    ShopChunk,
    ShopStream,
    customers_for_events,
    stream_shop,
)
from shopmind.demo._truths import (
    EVENING_READER_HOURS,
    MESSAGE_RESPONSES,
    RESPONSE_DAYS,
    ComplementaryPair,
    DeviceHourHabit,
    MessageResponse,
    PlantedTruths,
    WeatherEffect,
)

__all__ = [
    "DEFAULT_CHUNK_EVENTS",
    "DEFAULT_START",
    "EVENING_READER_HOURS",
    "EVENTS_PER_CUSTOMER_DAY",
    "INQUIRY_EVENT",
    "INTEREST_SCHEMA",
    "MEMBER_EMAIL_DOMAIN",
    "MESSAGE_EVENT_SCHEMA",
    "MESSAGE_RESPONSES",
    "OPEN_TRACKED",
    "POPUP_EFFECTS",
    "POPUP_VARIANTS",
    "PRODUCT_SCHEMA",
    "RESPONSE_DAYS",
    "WEATHER_SCHEMA",
    "BanditMonth",
    "ComplementaryPair",
    "DecisionLog",
    "DemoConsents",
    "DeviceHourHabit",
    "MessageResponse",
    "PlantedTruths",
    "PopupEffect",
    "Product",
    "Recipients",
    "Responses",
    "SentMessage",
    "ShopChunk",
    "ShopStream",
    "SyntheticShop",
    "Visitors",
    "WeatherEffect",
    "click_rates",
    "customers_for_events",
    "draw_visitors",
    "generate_consents",
    "generate_shop",
    "guest_contact",
    "member_contact",
    "shop_recipients",
    "simulate_month",
    "simulate_onsite",
    "simulate_responses",
    "stream_shop",
]
