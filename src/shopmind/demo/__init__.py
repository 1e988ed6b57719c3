"""The synthetic Korean demo shop, with planted truths that tests of the models can check.

``generate_shop(customers, days, seed)`` returns a ``SyntheticShop`` of Arrow tables in the
store's layouts (events, orders, order lines, products, weather, external interests) and the
``PlantedTruths`` behind them. ``simulate_onsite(truths, seed)`` adds two weeks of on-site decisions
of the built-in triggers and their outcomes.
"""

from shopmind.demo._catalogue import PRODUCT_SCHEMA
from shopmind.demo._geography import WEATHER_SCHEMA
from shopmind.demo._inquiries import INQUIRY_EVENT
from shopmind.demo._onsite import simulate_onsite
from shopmind.demo._people import guest_contact
from shopmind.demo._simulator import (
    DEFAULT_START,
    EVENTS_PER_CUSTOMER_DAY,
    INTEREST_SCHEMA,
    SyntheticShop,
    generate_shop,
)
from shopmind.demo._truths import ComplementaryPair, DeviceHourHabit, PlantedTruths, WeatherEffect

__all__ = [
    "DEFAULT_START",
    "EVENTS_PER_CUSTOMER_DAY",
    "INQUIRY_EVENT",
    "INTEREST_SCHEMA",
    "PRODUCT_SCHEMA",
    "WEATHER_SCHEMA",
    "ComplementaryPair",
    "DeviceHourHabit",
    "PlantedTruths",
    "SyntheticShop",
    "WeatherEffect",
    "generate_shop",
    "guest_contact",
    "simulate_onsite",
]
