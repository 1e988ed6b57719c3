"""Consumables come back: members who take to a 라면, 김치, 생수, 세제 or 기저귀 buy it again
when it runs out.

When a member first buys a consumable product (``RESTOCK_DAYS``: 라면 every two weeks, 생수
every ten days, 세제 every five weeks...), they adopt it with probability ``ADOPT_SHARE`` and get a
cycle of their own: the item's typical cycle times a log-normal spread (``PERSONAL_SPREAD``). From
then on, at each of their later orders on a day when the product is due (the days since they last
bought it reach their cycle times a fresh log-normal jitter, ``JITTER``), the order gets the
product with probability ``COMPLIANCE`` (quantity 1, at the catalogue price), unless it already
holds it (a restocked 라면 brings its 김치 as any 라면 line does: the pair rule holds); each purchase, drawn by the shop or added here, starts the next cycle. So a product
bought three days ago is not due, and one bought a cycle ago very likely is: what a replenishment
recommender should learn, and a personal top-frequency list cannot see.

Everything here is drawn from its own generator (:func:`restock_rng`) after the shop's other
draws and the rain's are fixed: the restocked lines come last in their orders, and no other line,
event, time or id of the shop moves (the orders that get a line only see their revenue grow).
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from shopmind.demo._catalogue import CATEGORIES, Catalogue
from shopmind.demo._people import People
from shopmind.demo._rain import RainGear
from shopmind.demo._sessions import COMPLEMENT_PROBABILITY, Orders, Sessions

#: What the restocked lines' event ids carry (``demo-<seed>-restock-<n>``).
RESTOCK_MARK = "-restock-"
#: Second word of the restock generator's seed, so that its stream is not the shop's.
RESTOCK_STREAM = 0x52535443  # "RSTC"

#: Typical days between two purchases of a consumable, by item name (every variant and brand of
#: the item shares it).
RESTOCK_DAYS = MappingProxyType(
    {
        "신라면": 14,
        "진라면 매운맛": 14,
        "짜파게티": 14,
        "안성탕면": 14,
        "너구리": 14,
        "불닭볶음면": 14,
        "삼양라면": 14,
        "팔도비빔면": 14,
        "포기김치": 21,
        "총각김치": 28,
        "깍두기": 21,
        "열무김치": 28,
        "제주 삼다수": 10,
        "아이시스 8.0": 10,
        "트레비 탄산수": 14,
        "카누 아메리카노": 30,
        "물티슈": 21,
        "3겹 화장지": 30,
        "액체 세제": 35,
        "주방세제": 30,
        "팬티형 기저귀": 14,
        "분유": 14,
        "시트 마스크팩": 30,
    }
)
ADOPT_SHARE = 0.6  # of a member's first purchases of a consumable
PERSONAL_SPREAD = 0.25  # sigma of log(personal cycle / the item's typical cycle)
JITTER = 0.15  # sigma of log(this time's wait / the personal cycle)
COMPLIANCE = 0.85  # chance that an order on a due day restocks
RESTOCK_TEXT = (
    f"a member adopts a consumable at its first purchase with probability {ADOPT_SHARE:g}; their cycle is "
    f"the item's typical days x lognormal(0, {PERSONAL_SPREAD:g}); a later order on a day when it is due "
    f"(days since the last purchase >= cycle x lognormal(0, {JITTER:g})) gets it with probability {COMPLIANCE:g}"
)


def restock_rng(seed: int, cohort: int | None = None) -> np.random.Generator:
    """The restocking's own generator for the shop of ``seed`` (for one ``cohort`` of a streamed shop)."""
    words = [seed, RESTOCK_STREAM] if cohort is None else [seed, RESTOCK_STREAM, cohort]
    return np.random.default_rng(words)


def typical_cycles(catalogue: Catalogue) -> np.ndarray:
    """Per product: its item's typical days between purchases (0: not a consumable)."""
    names = [
        item.name for cat in CATEGORIES for item in cat.items for _ in item.brands for _ in item.variants
    ]
    return np.array([RESTOCK_DAYS.get(name, 0) for name in names], dtype=np.float64)


def draw_restock(
    rng: np.random.Generator,
    sessions: Sessions,
    orders: Orders,
    people: People,
    catalogue: Catalogue,
    rain: RainGear,
) -> tuple[RainGear, dict[tuple[int, int], float]]:
    """The restocked lines (as added lines, no views) and each adopter's cycle in days, by
    (member, product)."""
    typical = typical_cycles(catalogue)
    n_products = catalogue.size
    person = sessions.person[orders.session]
    member = person < people.members
    day = sessions.day[orders.session]

    # what each order already holds (the shop's lines and the rain's)
    held_order = np.concatenate([orders.line_order, rain.line_order])
    held_product = np.concatenate([orders.product, rain.line_product])
    held = np.unique(np.append(held_order * n_products + held_product, -1))  # sorted, never empty

    # the members' orders in time order, and each one's rank among its member's orders
    mine = np.flatnonzero(member)
    chrono = mine[np.lexsort((mine, day[mine], person[mine]))]
    owner = person[chrono]
    first_of = np.searchsorted(owner, owner, side="left")
    rank = np.arange(chrono.size) - first_of
    count = np.bincount(owner, minlength=people.members)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    rank_of = np.empty(orders.size, dtype=np.int64)
    rank_of[chrono] = rank

    # adoption at the first purchase of each consumable (the shop's own lines)
    line_person = person[orders.line_order]
    consumable = member[orders.line_order] & (typical[orders.product] > 0)
    line = np.flatnonzero(consumable)
    line = line[np.lexsort((rank_of[orders.line_order[line]], orders.product[line], line_person[line]))]
    pair_key = line_person[line] * n_products + orders.product[line]
    first = line[np.r_[True, pair_key[1:] != pair_key[:-1]]] if line.size else line
    adopted = first[rng.random(first.size) < ADOPT_SHARE]
    who = line_person[adopted]
    product = orders.product[adopted]
    cycle = typical[product] * np.exp(rng.normal(0.0, PERSONAL_SPREAD, adopted.size))
    last = day[orders.line_order[adopted]].astype(np.float64)
    at_rank = rank_of[orders.line_order[adopted]]

    partner = np.full(n_products, -1, dtype=np.int64)
    for antecedent, consequent in catalogue.pairs:
        partner[antecedent] = consequent
    pair_of = {(int(w), int(p)): i for i, (w, p) in enumerate(zip(who, product, strict=True))}

    def holds(key: np.ndarray) -> np.ndarray:
        return held[np.minimum(np.searchsorted(held, key), held.size - 1)] == key

    added_order: list[np.ndarray] = []
    added_product: list[np.ndarray] = []
    for k in range(1, int(count.max(initial=0))):
        live = np.flatnonzero((at_rank < k) & (count[who] > k))
        if live.size == 0:
            continue
        o = chrono[start[who[live]] + k]
        d = day[o].astype(np.float64)
        has = holds(o * n_products + product[live])
        wait = cycle[live] * np.exp(rng.normal(0.0, JITTER, live.size))
        buy = ~has & (d - last[live] >= wait) & (rng.random(live.size) < COMPLIANCE)
        last[live[has | buy]] = d[has | buy]
        bought_order, bought = o[buy], product[live[buy]]
        # a restocked 라면 brings its 김치 as any 라면 line does (the planted pair rule holds for
        # every order), unless the order has it; that purchase starts the 김치's next cycle too
        mate = partner[bought]
        paired = (mate >= 0) & (rng.random(bought.size) < COMPLEMENT_PROBABILITY)
        mate_order, mate = bought_order[paired], mate[paired]
        key = mate_order * n_products + mate
        _, first_key = np.unique(key, return_index=True)
        fresh = np.sort(first_key)
        fresh = fresh[~holds(key[fresh]) & ~np.isin(key[fresh], bought_order * n_products + bought)]
        mate_order, mate = mate_order[fresh], mate[fresh]
        for order_index, item in zip(mate_order.tolist(), mate.tolist(), strict=True):
            i = pair_of.get((int(person[order_index]), item))
            if i is not None and at_rank[i] < k:
                last[i] = day[order_index]
        added_order += [bought_order, mate_order]
        added_product += [bought, mate]
    line_order = np.concatenate(added_order) if added_order else np.zeros(0, dtype=np.int64)
    line_product = np.concatenate(added_product) if added_product else np.zeros(0, dtype=np.int64)
    by_order = np.lexsort((line_product, line_order))
    line_order, line_product = line_order[by_order].astype(np.int64), line_product[by_order].astype(np.int64)
    empty = np.zeros(0, dtype=np.int64)
    lines = RainGear(
        line_order=line_order,
        line_product=line_product,
        line_price=catalogue.price[line_product],
        viewed_session=empty,
        viewed_product=empty,
    )
    cycles = {(int(w), int(p)): float(c) for w, p, c in zip(who, product, cycle, strict=True)}
    return lines, cycles
