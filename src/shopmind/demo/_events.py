"""Phase 5 of the simulator: every session expanded into its events, timed and sorted.

Each kind of event is drawn for all sessions at once as a block of arrays (session, type, a sort
key inside the session, product, query, page...); the blocks are concatenated, ordered by
(session, key), spaced by random gaps and finally sorted by time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shopmind.demo._catalogue import (
    CATEGORIES,
    CATEGORY_NAMES,
    CATEGORY_SLUGS,
    CATEGORY_WEIGHTS,
    CURRENCY,
    Catalogue,
)
from shopmind.demo._geography import CITIES, REGION_NAMES
from shopmind.demo._people import CHANNEL_NAMES, DEVICE_TYPES, OS_NAMES, People
from shopmind.demo._rain import RainGear
from shopmind.demo._restock import RESTOCK_MARK
from shopmind.demo._sampling import ProductSampler, choice, constant, numbered, pick, take
from shopmind.demo._sessions import BROWSE, BUY, DAY_US, SCAN, US, Orders, Sessions
from shopmind.events import EVENT_SCHEMA, EventType

SOURCE = "demo"
LOCALE = "ko-KR"
HOSTS = ("https://demo-shop.kr", "app://demo-shop")  # by channel: web, app

TYPES: tuple[EventType, ...] = (
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
    PAGE,
    PRODUCT,
    SEARCH,
    CART_ADD,
    CART_REMOVE,
    CHECKOUT,
    ORDER,
    BANNER_SEEN,
    BANNER_CLICK,
    MESSAGE_OPEN,
    MESSAGE_CLICK,
    IDENTIFY,
) = range(len(TYPES))

BANNERS = (
    "bn-winter-sale",
    "bn-new-season",
    "bn-free-shipping",
    "bn-kimchi-festa",
    "bn-camping-week",
    "bn-beauty-day",
)
FIXED_PAGES = (
    "/",
    "/best",
    "/new",
    "/mypage",
    "/cart",
    "/checkout",
    "/order/complete",
    "/careers",
    "/about",
    "/member/login",
)
HOME, BEST, NEW, MYPAGE, CART_PAGE, CHECKOUT_PAGE, ORDER_PAGE, CAREERS, ABOUT, LOGIN = range(len(FIXED_PAGES))

#: Where sessions come from: (share, referrer, utm_source, utm_medium, utm_campaign, utm_content).
TRAFFIC: tuple[tuple[float, str | None, str | None, str | None, str | None, str | None], ...] = (
    (0.38, None, None, None, None, None),
    (0.20, "https://search.naver.com/search.naver", None, None, None, None),
    (0.07, "https://www.google.com/", None, None, None, None),
    (0.10, "https://search.naver.com/search.naver", "naver", "cpc", "brand_keyword", "powerlink"),
    (0.09, "https://www.instagram.com/", "instagram", "paid_social", "season_lookbook", "reel_a"),
    (0.06, "https://talk.kakao.com/", "kakao", "display", "bizboard", "banner_b"),
    (0.04, "https://www.youtube.com/", "youtube", "video", "brand_film", None),
    (0.03, "https://search.daum.net/search", None, None, None, None),
    (0.03, "https://search.danawa.com/", "danawa", "affiliate", "price_compare", None),
    # CRM messages (not drawn by share): utm_campaign is the campaign id
    (0.0, None, "kakao", "crm", None, "alimtalk"),
    (0.0, None, "email", "crm", None, "newsletter"),
    (0.0, None, "sms", "crm", None, None),
)
NAVER_CPC = 3
FIRST_CRM = 9
N_CRM = 3

SCAN_MIN_CATEGORIES = 8
SCAN_MAX_CATEGORIES = 14

QUERIES: tuple[str, ...] = tuple(q for c in CATEGORIES for q in c.queries)
QUERY_COUNT = np.array([len(c.queries) for c in CATEGORIES])
QUERY_OFFSET = np.concatenate([[0], np.cumsum(QUERY_COUNT)[:-1]])


@dataclass(frozen=True)
class Pages:
    """Every page path of the shop, and where each family of paths starts in ``paths``."""

    paths: tuple[str, ...]
    category: int
    product: int
    search: int
    banner: int
    campaign: int

    @staticmethod
    def of(catalogue: Catalogue, campaign_ids: tuple[str, ...]) -> Pages:
        families = [
            list(FIXED_PAGES),
            [f"/category/{slug}" for slug in CATEGORY_SLUGS],
            [f"/products/{pid}" for pid in catalogue.product_ids],
            [f"/search?q={quote(q)}" for q in QUERIES],
            [f"/event/{b.removeprefix('bn-')}" for b in BANNERS],
            [f"/event/{c}" for c in campaign_ids],
        ]
        starts = np.concatenate([[0], np.cumsum([len(f) for f in families])])
        return Pages(
            paths=tuple(p for f in families for p in f),
            category=int(starts[1]),
            product=int(starts[2]),
            search=int(starts[3]),
            banner=int(starts[4]),
            campaign=int(starts[5]),
        )

    def urls(self) -> pa.Array:
        """Full page URLs, by channel then path: index = channel * len(paths) + path."""
        return pa.array([host + path for host in HOSTS for path in self.paths], pa.string())


@dataclass
class _Blocks:
    """Event columns under construction, one block per kind of event."""

    parts: list[dict[str, np.ndarray]] = field(default_factory=list)

    def add(self, session: np.ndarray, kind: int, seq: np.ndarray | float, **columns: np.ndarray) -> None:
        n = session.size
        block = {
            "session": session.astype(np.int64),
            "kind": np.full(n, kind, dtype=np.int64),
            "seq": np.broadcast_to(np.asarray(seq, dtype=np.float64), (n,)).copy(),
        }
        for name in ("product", "query", "quantity", "price", "path", "banner", "order"):
            value = columns.pop(name, None)
            dtype = np.float64 if name == "price" else np.int64
            block[name] = np.full(n, -1, dtype=dtype) if value is None else np.asarray(value, dtype=dtype)
        block["landing"] = columns.pop("landing", np.zeros(n, dtype=bool)).astype(bool)
        if columns:
            raise TypeError(f"unknown event columns {sorted(columns)}")
        self.parts.append(block)

    def concat(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate([p[name] for p in self.parts]) for name in self.parts[0]}


@dataclass(frozen=True)
class TimedEvents:
    """The events table and the time of each order's ``order_completed`` event."""

    table: pa.Table
    order_time_us: np.ndarray
    order_ids: pa.Array  # per order index


def _draw_events(
    rng: np.random.Generator,
    sessions: Sessions,
    orders: Orders,
    people: People,
    catalogue: Catalogue,
    sampler: ProductSampler,
    pages: Pages,
) -> dict[str, np.ndarray]:
    n_sessions = sessions.size
    ids = np.arange(n_sessions)
    kind = sessions.kind
    person = sessions.person
    group = ProductSampler.group(people.premium[person], people.region[person])
    focus = sessions.focus.copy()
    first_line = np.searchsorted(orders.line_order, np.arange(orders.size))
    focus[orders.session] = catalogue.category[orders.product[first_line]]
    crm = sessions.campaign >= 0
    blocks = _Blocks()

    def product_page(product: np.ndarray) -> np.ndarray:
        return pages.product + product

    # landing page, with referrer and UTM (see ``_traffic``)
    landing = np.select(
        [kind == SCAN, kind == BUY],
        [
            np.array([CAREERS, ABOUT, HOME])[choice(rng, [0.65, 0.15, 0.2], n_sessions)],
            np.where(rng.random(n_sessions) < 0.6, HOME, pages.category + focus),
        ],
        np.array([HOME, -1, BEST, NEW])[choice(rng, [0.55, 0.25, 0.1, 0.1], n_sessions)],
    )
    landing = np.where(landing < 0, pages.category + focus, landing)
    landing = np.where(crm, pages.campaign + sessions.campaign, landing)
    blocks.add(ids, PAGE, 3.0, path=landing, landing=np.ones(n_sessions, dtype=bool))

    # CRM message opened and clicked: the session starts in the messenger or mail app
    blocks.add(ids[crm], MESSAGE_OPEN, 0.0)
    blocks.add(ids[crm], MESSAGE_CLICK, 1.0)

    # identify: the first logged-in session of each member device ties the device to the member
    logged = np.flatnonzero(sessions.logged_in)
    _, first = np.unique(sessions.device[logged], return_index=True)
    identify = logged[first]
    blocks.add(identify, IDENTIFY, 3.5, path=np.full(identify.size, LOGIN))

    # banners on the home page
    home = (landing == HOME) & (kind != SCAN)
    seen = ids[home & (rng.random(n_sessions) < 0.7)]
    banner = rng.integers(0, len(BANNERS), seen.size)
    blocks.add(seen, BANNER_SEEN, 3.2, banner=banner, path=np.full(seen.size, HOME))
    clicked = rng.random(seen.size) < 0.06
    blocks.add(
        seen[clicked], BANNER_CLICK, 3.3, banner=banner[clicked], path=np.full(int(clicked.sum()), HOME)
    )

    shoppers = ids[kind != SCAN]
    # more pages: listings of the focus category, home, best, new, my page (members), cart
    extra = rng.poisson(np.where(kind[shoppers] == BUY, 0.6, 1.0))
    at = np.repeat(shoppers, extra)
    which = choice(rng, [0.5, 0.15, 0.1, 0.1, 0.1, 0.05], at.size)
    path = np.array([-1, HOME, BEST, NEW, MYPAGE, CART_PAGE])[which]
    path = np.where(path == -1, pages.category + focus[at], path)
    path = np.where((path == MYPAGE) & ~sessions.logged_in[at], HOME, path)
    blocks.add(at, PAGE, rng.uniform(4.0, 90.0, at.size), path=path)

    # searches about the focus category
    searching = shoppers[rng.random(shoppers.size) < 0.3]
    query = pick(rng, QUERY_OFFSET[focus[searching]], QUERY_COUNT[focus[searching]])
    blocks.add(
        searching, SEARCH, rng.uniform(4.0, 40.0, searching.size), query=query, path=pages.search + query
    )

    # product views: mostly the focus category
    views = rng.poisson(
        np.where(people.premium[person[shoppers]], 3.4, 2.3) - np.where(kind[shoppers] == BUY, 1.3, 0)
    )
    at = np.repeat(shoppers, views)
    category = np.where(rng.random(at.size) < 0.7, focus[at], choice(rng, CATEGORY_WEIGHTS, at.size))
    product = sampler.sample(rng, group[at], category)
    blocks.add(
        at,
        PRODUCT,
        rng.uniform(4.0, 90.0, at.size),
        product=product,
        quantity=np.ones(at.size),
        price=catalogue.price[product],
        path=product_page(product),
    )

    # carts: abandoned in browsing sessions, one changed mind in some buying ones
    browsing = ids[kind == BROWSE]
    abandoning = browsing[rng.random(browsing.size) < 0.08]
    changing = ids[(kind == BUY) & (rng.random(n_sessions) < 0.15)]
    carting = np.concatenate([abandoning, changing])
    product = sampler.sample(rng, group[carting], focus[carting])
    viewed = rng.uniform(4.0, 80.0, carting.size)
    added = viewed + rng.uniform(0.5, 5.0, carting.size)
    common = {"product": product, "price": catalogue.price[product], "path": product_page(product)}
    blocks.add(carting, PRODUCT, viewed, quantity=np.ones(carting.size), **common)
    blocks.add(carting, CART_ADD, added, quantity=np.ones(carting.size), **common)
    removing = np.concatenate([rng.random(abandoning.size) < 0.35, np.ones(changing.size, dtype=bool)])
    blocks.add(
        carting[removing],
        CART_REMOVE,
        added[removing] + rng.uniform(0.5, 3.0, int(removing.sum())),
        quantity=np.ones(int(removing.sum())),
        **{k: v[removing] for k, v in common.items()},
    )
    checking_out = abandoning[~removing[: abandoning.size] & (rng.random(abandoning.size) < 0.3)]
    blocks.add(checking_out, CHECKOUT, 95.0, path=np.full(checking_out.size, CHECKOUT_PAGE))

    # buying sessions: view and add each line, check out, order
    line_session = orders.session[orders.line_order]
    viewed = rng.uniform(4.0, 80.0, line_session.size)
    common = {"product": orders.product, "price": orders.unit_price, "path": product_page(orders.product)}
    blocks.add(line_session, PRODUCT, viewed, quantity=np.ones(line_session.size), **common)
    blocks.add(
        line_session,
        CART_ADD,
        viewed + rng.uniform(0.5, 5.0, line_session.size),
        quantity=orders.quantity,
        **common,
    )
    blocks.add(orders.session, CHECKOUT, 95.0, path=np.full(orders.size, CHECKOUT_PAGE))
    blocks.add(
        orders.session, ORDER, 97.0, order=np.arange(orders.size), path=np.full(orders.size, ORDER_PAGE)
    )

    # job seekers: one quick product view in each of many distinct categories
    scanning = ids[kind == SCAN]
    n_cat = len(CATEGORIES)
    wanted = rng.integers(SCAN_MIN_CATEGORIES, min(SCAN_MAX_CATEGORIES, n_cat) + 1, scanning.size)
    shuffled = np.argsort(rng.random((scanning.size, n_cat)), axis=1)
    taken = np.arange(n_cat)[None, :] < wanted[:, None]
    at = np.repeat(scanning, wanted)
    category = shuffled[taken]
    product = sampler.sample(rng, group[at], category)
    blocks.add(
        at,
        PRODUCT,
        rng.uniform(4.0, 90.0, at.size),
        product=product,
        quantity=np.ones(at.size),
        price=catalogue.price[product],
        path=product_page(product),
    )
    return blocks.concat()


def _traffic(rng: np.random.Generator, sessions: Sessions, channel: np.ndarray) -> np.ndarray:
    """Row of ``TRAFFIC`` per session: app sessions are mostly direct, CRM sessions from a message."""
    n = sessions.size
    shares = np.array([t[0] for t in TRAFFIC])
    row = choice(rng, shares, n)
    row = np.where((channel == 1) & (rng.random(n) < 0.8), 0, row)
    return np.where(sessions.campaign >= 0, FIRST_CRM + rng.integers(0, N_CRM, n), row)


def build_events(
    rng: np.random.Generator,
    sessions: Sessions,
    orders: Orders,
    people: People,
    catalogue: Catalogue,
    sampler: ProductSampler,
    campaign_ids: tuple[str, ...],
    period_start_us: int,
    seed: int | str,
    rain: RainGear,
    rain_rng: np.random.Generator,
    restock: RainGear,
    restock_rng: np.random.Generator,
) -> TimedEvents:
    """The events of every session; ``rain``'s lines and views come last, timed with
    ``rain_rng`` inside their sessions, then ``restock``'s lines timed with ``restock_rng``, so
    that the other events are the same without them. ``seed`` goes into the event, order and
    session ids (a streamed shop's cohort passes its own tag, such as ``42c3``)."""
    pages = Pages.of(catalogue, campaign_ids)
    ev = _draw_events(rng, sessions, orders, people, catalogue, sampler, pages)
    channel = people.device_channel[sessions.device]
    traffic = _traffic(rng, sessions, channel)

    # order inside each session, then time: the gaps add up from the session start
    in_session = np.lexsort((ev["seq"], ev["session"]))
    session = ev["session"][in_session]
    n = session.size
    scanning = sessions.kind[session] == SCAN
    gaps = np.where(scanning, rng.uniform(2.0, 8.0, n), 3.0 + rng.exponential(30.0, n))
    gaps = (gaps * US).astype(np.int64)
    starts = np.searchsorted(session, np.arange(sessions.size))
    gaps[starts] = 0
    elapsed = np.cumsum(gaps)
    offset = elapsed - elapsed[starts][session]
    ends = np.append(starts[1:], n) - 1
    duration = offset[ends]
    # a session ends before the period does, and before a churned VIP's last day is over
    limit = period_start_us + people.active_to[sessions.person] * DAY_US
    session_start = np.minimum(sessions.start_us, limit - duration - US)
    time_us = session_start[session] + offset

    chronological = np.argsort(time_us, kind="stable")
    final = in_session[chronological]
    del ev["seq"]
    for name in list(ev):  # one column at a time keeps the peak memory down
        ev[name] = ev[name][final]
    time_us = time_us[chronological]
    n_main = time_us.size
    wet, wet_time = _rain_events(rain_rng, rain, orders, sessions.size, ev, time_us, catalogue, pages)
    stocked, stocked_time = _rain_events(
        restock_rng, restock, orders, sessions.size, ev, time_us, catalogue, pages
    )
    extra = {name: np.concatenate([wet[name], stocked[name]]) for name in wet}
    extra_time = np.concatenate([wet_time, stocked_time])
    merged = np.lexsort(
        (np.arange(n_main + extra_time.size) >= n_main, np.concatenate([time_us, extra_time]))
    )
    for name in list(ev):
        ev[name] = np.concatenate([ev[name], extra[name]])[merged]
    time_us = np.concatenate([time_us, extra_time])[merged]
    # the shop's events keep their numbers; the rain's and the restocking's are numbered apart
    message_ids = pa.concat_arrays(
        [
            numbered(f"demo-{seed}-", np.arange(n_main)),
            numbered(f"demo-{seed}-rain-", np.arange(wet_time.size)),
            numbered(f"demo-{seed}{RESTOCK_MARK}", np.arange(stocked_time.size)),
        ]
    ).take(pa.array(merged))
    session = ev["session"]
    kind = ev["kind"]
    n = session.size
    n_orders = orders.size

    is_order = kind == ORDER
    order_time_us = np.empty(n_orders, dtype=np.int64)
    order_time_us[ev["order"][is_order]] = time_us[is_order]
    rank = np.empty(n_orders, dtype=np.int64)
    rank[np.argsort(order_time_us, kind="stable")] = np.arange(n_orders)
    digits = pc.utf8_lpad(pc.cast(pa.array(rank + 1, pa.int64()), pa.string()), 7, "0")
    order_ids = pc.binary_join_element_wise(f"ORD-{seed}-", digits, "")

    person = sessions.person[session]
    device = sessions.device[session]
    product = ev["product"]
    has_product = product >= 0
    landing = ev["landing"]
    row = np.where(landing, traffic[session], -1)
    campaign = sessions.campaign[session]
    crm_landing = landing & (campaign >= 0)
    utm_campaign = np.where(crm_landing, len(TRAFFIC) + campaign, row)
    focus_query = QUERY_OFFSET[sessions.focus[session]]
    utm_term = np.where(row == NAVER_CPC, focus_query, -1)
    message = (kind == MESSAGE_OPEN) | (kind == MESSAGE_CLICK)
    path = ev["path"]
    url = np.where(path >= 0, channel[session] * len(pages.paths) + path, -1)
    times = pa.array(time_us, pa.timestamp("us", tz="UTC"))
    quantity = ev["quantity"]
    price = ev["price"]
    revenue = np.zeros(n)
    revenue[is_order] = (orders.revenue + rain.revenue(n_orders) + restock.revenue(n_orders))[
        ev["order"][is_order]
    ]
    guest_contact = np.where(is_order, person, -1)

    columns = {
        "message_id": message_ids,
        "type": take([t.value for t in TYPES], kind),
        "name": pa.nulls(n, pa.string()),
        "anonymous_id": take(people.anonymous_ids, device),
        "user_id": take(people.user_ids, np.where(sessions.logged_in[session], person, -1)),
        "previous_id": pa.nulls(n, pa.string()),
        "session_id": take(numbered(f"s-{seed}-", np.arange(sessions.size)), session),
        "event_time": times,
        "client_time": times,
        "sent_at": pa.nulls(n, pa.timestamp("us", tz="UTC")),
        "received_at": times,
        "time_flag": pa.nulls(n, pa.string()),
        "device_type": take(DEVICE_TYPES, people.device_type[device]),
        "os": take(OS_NAMES, people.device_os[device]),
        "channel": take(CHANNEL_NAMES, channel[session]),
        "region": take(REGION_NAMES, people.region[person]),
        "city": take(CITIES, people.city[person]),
        "locale": constant(LOCALE, n),
        "page_url": take(pages.urls(), url),
        "referrer": take([t[1] for t in TRAFFIC], row),
        "utm_source": take([t[2] for t in TRAFFIC], row),
        "utm_medium": take([t[3] for t in TRAFFIC], row),
        "utm_campaign": take([t[4] for t in TRAFFIC] + list(campaign_ids), utm_campaign),
        "utm_term": take(QUERIES, utm_term),
        "utm_content": take([t[5] for t in TRAFFIC], row),
        "product_id": take(catalogue.product_ids, product),
        "category": take(
            CATEGORY_NAMES, np.where(has_product, catalogue.category[np.maximum(product, 0)], -1)
        ),
        "query": take(QUERIES, ev["query"]),
        "quantity": pa.array(quantity.astype(np.int32), pa.int32(), mask=quantity < 0),
        "price": pa.array(price, pa.float64(), mask=price < 0),
        "order_id": take(order_ids, ev["order"]),
        "revenue": pa.array(revenue, pa.float64(), mask=~is_order),
        "currency": take([CURRENCY], np.where(is_order, 0, -1)),
        "banner_id": take(BANNERS, ev["banner"]),
        "campaign_id": take(campaign_ids, np.where(message, campaign, -1)),
        "properties": pa.nulls(n, pa.string()),
        "email_hash": take(people.email_hashes, guest_contact),
        "phone_hash": take(people.phone_hashes, guest_contact),
        "source": constant(SOURCE, n),
    }
    table = pa.Table.from_arrays([columns[name] for name in EVENT_SCHEMA.names], schema=EVENT_SCHEMA)
    return TimedEvents(table=table, order_time_us=order_time_us, order_ids=order_ids)


def _rain_events(
    rng: np.random.Generator,
    rain: RainGear,
    orders: Orders,
    n_sessions: int,
    ev: dict[str, np.ndarray],
    time_us: np.ndarray,
    catalogue: Catalogue,
    pages: Pages,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The rain gear's events (columns as in ``ev``) and their times: a line's product view and
    cart add fall between its session's first event and its checkout, a browsing session's view
    between its first and last event."""
    session, kind = ev["session"], ev["kind"]
    first = np.full(n_sessions, np.iinfo(np.int64).max)
    np.minimum.at(first, session, time_us)
    last = np.full(n_sessions, np.iinfo(np.int64).min)
    np.maximum.at(last, session, time_us)
    checkout = last.copy()
    checking = kind == CHECKOUT
    checkout[session[checking]] = time_us[checking]

    line_session = orders.session[rain.line_order]
    start, end = first[line_session], checkout[line_session]
    viewed = start + (rng.uniform(0.05, 0.9, line_session.size) * (end - start)).astype(np.int64)
    added = viewed + (rng.uniform(0.1, 0.9, line_session.size) * (end - viewed)).astype(np.int64)
    looking = rain.viewed_session
    seen = first[looking] + (rng.uniform(0.1, 1.0, looking.size) * (last[looking] - first[looking])).astype(
        np.int64
    )

    blocks = _Blocks()
    for at, kind_of, product in (
        (line_session, PRODUCT, rain.line_product),
        (line_session, CART_ADD, rain.line_product),
        (looking, PRODUCT, rain.viewed_product),
    ):
        blocks.add(
            at,
            kind_of,
            0.0,
            product=product,
            quantity=np.ones(at.size),
            price=catalogue.price[product],
            path=pages.product + product,
        )
    extra = blocks.concat()
    del extra["seq"]
    return extra, np.concatenate([viewed, added, seen])
