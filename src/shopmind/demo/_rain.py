"""Rainy days sell rain gear: umbrellas and rain boots put in the basket and looked at.

On a day with ``precip_mm`` of rain in the shopper's region, an order gets a 레인용품 line
(quantity 1, the product drawn like any other line: popularity, VIP price taste, region) with
probability :func:`add_on_probability`, and a browsing session views a 레인용품 product with
probability :func:`view_probability`. Dry days get neither. This comes on top of the category
weights of ``_sampling.category_weights``.

Everything here is drawn from its own generator (:func:`rain_rng`), after the shop's other
draws are fixed: adding the rain changes no other line, event, time or id of the shop (the
orders that get a line only see their revenue grow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopmind.demo._catalogue import Catalogue
from shopmind.demo._people import People
from shopmind.demo._sampling import RAIN, ProductSampler
from shopmind.demo._sessions import BROWSE, Orders, Sessions

#: Second word of the rain generator's seed, so that its stream is not the shop's.
RAIN_STREAM = 0x5241494E  # "RAIN"
# chance = precip_mm / *_MM, capped at *_MAX: 30% of the orders from 15 mm of rain on (a few
# dozen lines in a winter quarter were too few for any recommender to learn the rain from)
ADD_ON_MM = 50.0
ADD_ON_MAX = 0.3
VIEW_MM = 25.0
VIEW_MAX = 0.5
ADD_ON_TEXT = (
    f"an order gets a rain-gear line with probability min(precip_mm / {ADD_ON_MM:g}, {ADD_ON_MAX:g})"
)
VIEW_TEXT = f"a browsing session views rain gear with probability min(precip_mm / {VIEW_MM:g}, {VIEW_MAX:g})"


def rain_rng(seed: int, cohort: int | None = None) -> np.random.Generator:
    """The rain's own generator for the shop of ``seed`` (for one ``cohort`` of a streamed shop)."""
    return np.random.default_rng([seed, RAIN_STREAM] if cohort is None else [seed, RAIN_STREAM, cohort])


def add_on_probability(precip_mm: np.ndarray) -> np.ndarray:
    """Chance that an order on a day with ``precip_mm`` of rain gets a rain-gear line."""
    return np.clip(np.asarray(precip_mm, dtype=np.float64) / ADD_ON_MM, 0.0, ADD_ON_MAX)


def view_probability(precip_mm: np.ndarray) -> np.ndarray:
    """Chance that a browsing session on a day with ``precip_mm`` of rain views rain gear."""
    return np.clip(np.asarray(precip_mm, dtype=np.float64) / VIEW_MM, 0.0, VIEW_MAX)


@dataclass(frozen=True)
class RainGear:
    """The rain gear of rainy days: lines added to orders and product views in browsing sessions."""

    line_order: np.ndarray  # per added line: its order (index into ``Orders``), ascending
    line_product: np.ndarray
    line_price: np.ndarray
    viewed_session: np.ndarray  # per added view: its browsing session
    viewed_product: np.ndarray

    @property
    def lines(self) -> int:
        return int(self.line_order.size)

    def revenue(self, n_orders: int) -> np.ndarray:
        """What the added lines add to each order's revenue (quantity 1 each)."""
        return np.bincount(self.line_order, weights=self.line_price, minlength=n_orders)


def draw_rain_gear(
    rng: np.random.Generator,
    sessions: Sessions,
    orders: Orders,
    people: People,
    catalogue: Catalogue,
    sampler: ProductSampler,
) -> RainGear:
    """Which orders and browsing sessions of rainy days get rain gear, and which product."""
    rain = sessions.precip_mm[orders.session]
    lucky = np.flatnonzero(rng.random(orders.size) < add_on_probability(rain))
    person = sessions.person[orders.session[lucky]]
    group = ProductSampler.group(people.premium[person], people.region[person])
    product = sampler.sample(rng, group, np.full(lucky.size, RAIN))
    # one line per product and order: a basket that already holds it keeps its own line
    held = set(zip(orders.line_order.tolist(), orders.product.tolist(), strict=True))
    new = np.array([(o, p) not in held for o, p in zip(lucky.tolist(), product.tolist(), strict=True)], bool)
    lucky, product = lucky[new], product[new]

    browsing = np.flatnonzero(sessions.kind == BROWSE)
    looking = browsing[rng.random(browsing.size) < view_probability(sessions.precip_mm[browsing])]
    person = sessions.person[looking]
    group = ProductSampler.group(people.premium[person], people.region[person])
    viewed = sampler.sample(rng, group, np.full(looking.size, RAIN))
    return RainGear(
        line_order=lucky,
        line_product=product,
        line_price=catalogue.price[product],
        viewed_session=looking,
        viewed_product=viewed,
    )


def with_rain_gear(orders: Orders, gear: RainGear) -> Orders:
    """``orders`` with the rain-gear lines appended to their orders (last line of each)."""
    line_order = np.concatenate([orders.line_order, gear.line_order])
    by_order = np.argsort(line_order, kind="stable")  # each order's own lines first, then the rain's
    line_order = line_order[by_order]
    starts = np.searchsorted(line_order, np.arange(orders.size))
    return Orders(
        session=orders.session,
        revenue=orders.revenue + gear.revenue(orders.size),
        line_order=line_order,
        line_no=np.arange(line_order.size) - starts[line_order] + 1,
        product=np.concatenate([orders.product, gear.line_product])[by_order],
        quantity=np.concatenate([orders.quantity, np.ones(gear.lines, dtype=orders.quantity.dtype)])[
            by_order
        ],
        unit_price=np.concatenate([orders.unit_price, gear.line_price])[by_order],
    )
