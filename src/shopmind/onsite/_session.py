"""Each visitor's live session, updated by every event as it arrives: pages and their dwell,
products and categories seen, the cart, scroll depth, exit intent, device and region.

A session ends after 30 minutes without events (the usual web-analytics rule); the next event
starts a new one and the visitor counts as returning. Events are applied in the order they are
stored, which is the order the visitor's own tracker sent them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

import orjson

from shopmind.events import CLIENT_SOURCE, Event, EventType

#: Page types the triggers can name; a page view says its own (``properties.page_type``) or it is
#: read from the first segment of the URL's path.
PAGE_TYPES = ("home", "category", "product", "search", "cart", "checkout", "account", "careers", "other")
_PAGE_TYPES = frozenset(PAGE_TYPES)
_PATH_TYPES = {
    "": "home",
    "index.html": "home",
    "category": "category",
    "categories": "category",
    "c": "category",
    "product": "product",
    "products": "product",
    "p": "product",
    "goods": "product",
    "search": "search",
    "cart": "cart",
    "basket": "cart",
    "checkout": "checkout",
    "order": "checkout",
    "account": "account",
    "mypage": "account",
    "careers": "careers",
    "jobs": "careers",
    "recruit": "careers",
}
#: Custom events the tracker sends (any spelling of case and separators).
EXIT_INTENT = "exit intent"
SCROLL = "scroll depth"
PAGE_LEFT = "page left"
IDLE = timedelta(minutes=30)
#: What one session keeps, whatever a visitor (or a script with the public write key) sends: each
#: event costs the same and a session's memory is bounded. Beyond these, the oldest product seen is
#: forgotten first; further categories and cart lines are not added (their counts go on).
MAX_PRODUCTS = 50
MAX_CATEGORIES = 100
MAX_CART_LINES = 100


def page_type_of(url: str | None, declared: object = None) -> str:
    """The type of page at ``url`` (``declared`` wins when it is one of :data:`PAGE_TYPES`)."""
    if type(declared) is str and declared in _PAGE_TYPES:  # the usual case: said as it is named
        return declared
    if isinstance(declared, str) and declared.lower() in _PAGE_TYPES:
        return declared.lower()
    return _type_of_url(url) if url else "other"


@lru_cache(maxsize=8192)  # a shop has few distinct pages; every event of a session names one
def _type_of_url(url: str) -> str:
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    first = path.strip("/").split("/", 1)[0].lower()
    return _PATH_TYPES.get(first, "other")


@lru_cache(maxsize=8192)
def _path_after_first(url: str | None) -> str | None:
    """``fruit`` of ``https://shop.kr/category/fruit``."""
    if not url:
        return None
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[1] else None


def _name(event: Event) -> str:
    return (event.name or "").replace("_", " ").replace("-", " ").strip().lower()


#: The properties a page view reads, as they appear in the properties' JSON text.
_PAGE_KEYS = ('"page_type"', '"category"')


def _properties(event: Event, wanted: tuple[str, ...] = ()) -> dict[str, object]:
    """The event's other properties; with ``wanted`` (quoted keys), empty unless one may be there."""
    text = event.properties
    if not text:
        return {}
    # the text is orjson's, which writes keys as they are: a key absent from the text is not a
    # property (a value that reads like a key only makes it parse, as it would without the check)
    if wanted and not any(map(text.__contains__, wanted)):
        return {}
    found = orjson.loads(text)
    return found if isinstance(found, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass
class Session:
    """What one visitor is doing right now. ``visitor`` is the tracker's anonymous id (or the
    user id when no anonymous id is sent)."""

    visitor: str
    started_at: datetime
    last_at: datetime
    user_id: str | None = None
    #: the member id this session has proved (a valid identity signature, or an event the shop's
    #: server sent with a secret key): personal content only for it, never for a claimed user_id
    verified_user: str | None = None
    session_id: str | None = None
    number: int = 1  # this visitor's how-manyth session since the server started
    device: str | None = None
    region: str | None = None
    locale: str | None = None
    pages: int = 0
    page_type: str = "other"
    page_url: str | None = None
    page_started_at: datetime | None = None
    pages_left: int = 0  # pages finished (left for another, or closed)
    dwell_total: float = 0.0  # seconds on the pages finished
    scroll_percent: float = 0.0  # deepest on the current page
    exit_intent: bool = False  # on the current page
    categories: dict[str, int] = field(default_factory=dict)
    #: viewed, most recent last, once each (the latest ``MAX_PRODUCTS``)
    recent_products: OrderedDict[str, None] = field(default_factory=OrderedDict)
    cart: dict[str, int] = field(default_factory=dict)
    cart_changed_at: datetime | None = None
    orders: int = 0  # completed in this session
    last_decision: str | None = None  # the latest decision served (an order converts it)
    served: dict[str, int] = field(default_factory=dict)  # trigger → decisions served

    @property
    def cart_items(self) -> int:
        """Units in the cart (at most ``MAX_CART_LINES`` lines to add up)."""
        return sum(self.cart.values())

    @property
    def products(self) -> list[str]:
        """Products viewed, most recent last, once each (the latest ``MAX_PRODUCTS``)."""
        return list(self.recent_products)

    @property
    def product_on_screen(self) -> str | None:
        """The product whose page the visitor is on (the latest viewed, on a product page)."""
        if self.page_type != "product" or not self.recent_products:
            return None
        return next(reversed(self.recent_products))

    def record_served(self, decision_id: str, trigger: str) -> None:
        self.last_decision = decision_id
        self.served[trigger] = self.served.get(trigger, 0) + 1

    @property
    def mean_dwell_seconds(self) -> float | None:
        """Mean time on the pages left so far (None before the first page is left)."""
        return self.dwell_total / self.pages_left if self.pages_left else None

    def served_count(self, trigger: str) -> int:
        return self.served.get(trigger, 0)

    def _count_category(self, category: str) -> None:
        seen = self.categories.get(category)
        if seen is not None:
            self.categories[category] = seen + 1
        elif len(self.categories) < MAX_CATEGORIES:
            self.categories[category] = 1

    def _add_to_cart(self, product: str, quantity: int) -> None:
        held = self.cart.get(product)
        if held is None and len(self.cart) >= MAX_CART_LINES:
            return
        self.cart[product] = (held or 0) + quantity

    def _leave_page(self, at: datetime, seconds: float | None = None) -> None:
        if self.page_started_at is None:
            return
        spent = seconds if seconds is not None else (at - self.page_started_at).total_seconds()
        self.pages_left += 1
        if spent > 0:
            self.dwell_total += spent
        self.page_started_at = None

    def _view_page(self, at: datetime, url: str | None, declared: object) -> None:
        self._leave_page(at)
        self.pages += 1
        self.page_url = url
        self.page_type = page_type_of(url, declared)
        self.page_started_at = at
        self.scroll_percent = 0.0
        self.exit_intent = False

    def apply(self, event: Event) -> str | None:
        """Update the session with ``event``; returns the id of the decision an order converts
        (the latest one served in this session), if the event completes an order."""
        at = event.event_time
        if at > self.last_at:
            self.last_at = at
        # only what the event says changes: most events repeat the session's device and region
        if event.user_id:
            self.user_id = event.user_id
            if event.source != CLIENT_SOURCE:
                self.verified_user = event.user_id
        if event.session_id:
            self.session_id = event.session_id
        if event.device_type:
            self.device = event.device_type
        if event.region:
            self.region = event.region
        if event.locale:
            self.locale = event.locale
        kind = event.type
        if kind is EventType.PAGE_VIEW:
            props = _properties(event, _PAGE_KEYS)
            self._view_page(at, event.page_url, props.get("page_type"))
            category = event.category or props.get("category")
            if not category and self.page_type == "category":
                category = _path_after_first(event.page_url)
            if isinstance(category, str) and category:
                self._count_category(category)
        elif kind is EventType.PRODUCT_VIEW:
            if self.page_type != "product" or event.page_url != self.page_url:
                self._view_page(at, event.page_url or self.page_url, "product")
            if event.product_id:
                recent = self.recent_products
                if event.product_id in recent:
                    recent.move_to_end(event.product_id)
                else:
                    recent[event.product_id] = None
                    if len(recent) > MAX_PRODUCTS:
                        recent.popitem(last=False)
            if event.category:
                self._count_category(event.category)
        elif kind is EventType.CART_ADD and event.product_id:
            self._add_to_cart(event.product_id, max(1, event.quantity or 1))
            self.cart_changed_at = at
        elif kind is EventType.CART_REMOVE and event.product_id:
            left = self.cart.get(event.product_id, 0) - max(1, event.quantity or 1)
            if left > 0:
                self.cart[event.product_id] = left
            else:
                self.cart.pop(event.product_id, None)
            self.cart_changed_at = at
        elif kind is EventType.CHECKOUT_START and self.page_type != "checkout":
            self._view_page(at, event.page_url, "checkout")
        elif kind is EventType.ORDER_COMPLETED:
            self.orders += 1
            self.cart.clear()
            self.cart_changed_at = at
            return self.last_decision
        elif kind is EventType.CUSTOM:
            self._custom(event, at)
        return None

    def _custom(self, event: Event, at: datetime) -> None:
        name = _name(event)
        props = _properties(event)
        if name == EXIT_INTENT:
            self.exit_intent = True
        elif name == SCROLL:
            depth = _number(props.get("percent"))
            if depth is not None:
                self.scroll_percent = max(self.scroll_percent, min(100.0, max(0.0, depth)))
        elif name == PAGE_LEFT:
            seconds = _number(props.get("seconds"))  # a client may say anything: a day at most
            self._leave_page(at, None if seconds is None else min(max(seconds, 0.0), 86_400.0))


class SessionTracker:
    """Live sessions of the visitors seen lately, in memory, the least recently active dropped
    first beyond ``max_sessions``. Not thread-safe: one event loop updates and reads it."""

    def __init__(self, idle: timedelta = IDLE, max_sessions: int = 200_000) -> None:
        self.idle = idle
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        #: user id → the visitor id it was last seen with (as many as sessions, the oldest dropped)
        self._users: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def visitor_of(self, anonymous_id: str | None, user_id: str | None) -> str | None:
        """The session key of a visitor known by either id."""
        if anonymous_id:
            return anonymous_id
        if user_id:
            return self._users.get(user_id, user_id)
        return None

    def get(self, anonymous_id: str | None = None, user_id: str | None = None) -> Session | None:
        visitor = self.visitor_of(anonymous_id, user_id)
        return self._sessions.get(visitor) if visitor else None

    def session_for(self, anonymous_id: str | None, user_id: str | None, now: datetime) -> Session:
        """The visitor's live session (a new, empty one when none is live at ``now``)."""
        visitor = self.visitor_of(anonymous_id, user_id)
        if visitor is None:
            raise ValueError("a visitor needs an anonymous id or a user id")
        session = self._sessions.get(visitor)
        if session is None or now - session.last_at > self.idle:
            number = session.number + 1 if session is not None else 1
            session = Session(visitor, now, now, user_id=user_id, number=number)
            self._remember(visitor, session)
        return session

    def _remember(self, visitor: str, session: Session) -> None:
        self._sessions[visitor] = session
        self._sessions.move_to_end(visitor)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)

    def observe(self, event: Event) -> tuple[Session | None, str | None]:
        """Apply one stored event; returns its session and the decision an order converts."""
        anonymous_id, user_id = event.anonymous_id, event.user_id
        if anonymous_id:
            visitor = anonymous_id
            if user_id and self._users.get(user_id) != anonymous_id:
                self._users[user_id] = anonymous_id
                self._users.move_to_end(user_id)
                if len(self._users) > self.max_sessions:
                    self._users.popitem(last=False)
        elif user_id:
            visitor = self._users.get(user_id, user_id)
        else:
            return None, None
        sessions = self._sessions
        session = sessions.get(visitor)
        if session is not None and event.event_time - session.last_at <= self.idle:
            sessions.move_to_end(visitor)  # the usual case: the visitor's live session goes on
        else:
            number = session.number + 1 if session is not None else 1
            session = Session(visitor, event.event_time, event.event_time, number=number)
            self._remember(visitor, session)
        return session, session.apply(event)
