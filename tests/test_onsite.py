"""On-site decisions without a server: live sessions from events, the trigger file's checks, the
built-in triggers on the sessions they are for, frequency caps, targeting, and a property test of
``decide`` against the conditions it must respect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.core import InvalidInputError
from shopmind.events import Event, EventType
from shopmind.onsite import (
    DEFAULT_TRIGGERS,
    FrequencyLedger,
    Session,
    SessionTracker,
    Visitor,
    capped,
    decide,
    page_type_of,
    parse_triggers,
    serve,
    unmet,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TRIGGERS = parse_triggers(DEFAULT_TRIGGERS)
_n = 0


def _event(kind: EventType, at: float, visitor: str = "v1", **fields: object) -> Event:
    global _n
    _n += 1
    props = fields.pop("props", None)
    return Event(
        message_id=f"m{_n}",
        type=kind,
        event_time=T0 + timedelta(seconds=at),
        received_at=T0 + timedelta(seconds=at),
        anonymous_id=visitor,
        properties=orjson.dumps(props).decode() if props else None,
        **fields,  # type: ignore[arg-type]
    )


def _page(at: float, url: str, visitor: str = "v1", **fields: object) -> Event:
    return _event(EventType.PAGE_VIEW, at, visitor, page_url=url, **fields)


def _custom(name: str, at: float, visitor: str = "v1", **props: object) -> Event:
    return _event(EventType.CUSTOM, at, visitor, name=name, props=props or None)


def _feed(tracker: SessionTracker, *events: Event) -> Session:
    session = None
    for e in events:
        session, _ = tracker.observe(e)
    assert session is not None
    return session


def test_page_types_from_urls_and_declarations() -> None:
    assert page_type_of("https://shop.kr/") == "home"
    assert page_type_of("https://shop.kr/cart?x=1") == "cart"
    assert page_type_of("https://shop.kr/category/fruit") == "category"
    assert page_type_of("https://shop.kr/goods/123") == "product"
    assert page_type_of("/checkout/pay") == "checkout"
    assert page_type_of("https://shop.kr/about") == "other"
    assert page_type_of("https://shop.kr/whatever", "cart") == "cart"  # the page says what it is
    assert page_type_of(None) == "other"


def test_a_session_follows_pages_dwell_cart_scroll_and_exit_intent() -> None:
    tracker = SessionTracker()
    s = _feed(
        tracker,
        _page(0, "https://shop.kr/", device_type="mobile", region="부산"),
        _page(10, "https://shop.kr/category/fruit"),
        _event(EventType.PRODUCT_VIEW, 25, product_id="P1", category="과일", page_url="https://shop.kr/p/P1"),
        _event(EventType.CART_ADD, 40, product_id="P1", quantity=2),
        _event(EventType.CART_ADD, 41, product_id="P2"),
        _event(EventType.CART_REMOVE, 45, product_id="P1"),
        _page(60, "https://shop.kr/cart"),
        _custom("Scroll Depth", 62, percent=75),
        _custom("Scroll Depth", 63, percent=50),
        _custom("Exit Intent", 70),
    )
    assert (s.device, s.region, s.pages, s.page_type) == ("mobile", "부산", 4, "cart")
    # home, category, product pages: 10 s, 15 s and 35 s
    assert (s.pages_left, s.dwell_total, s.mean_dwell_seconds) == (3, 60.0, 20.0)
    assert s.categories == {"fruit": 1, "과일": 1} and s.products == ["P1"]
    assert s.cart == {"P1": 1, "P2": 1} and s.cart_items == 2
    assert s.scroll_percent == 75.0 and s.exit_intent
    # a new page clears the page's own signals
    s = _feed(tracker, _page(80, "https://shop.kr/"))
    assert not s.exit_intent and s.scroll_percent == 0.0 and s.pages == 5


def test_thirty_idle_minutes_start_a_new_session_and_an_order_converts_the_last_decision() -> None:
    tracker = SessionTracker()
    first = _feed(tracker, _page(0, "/"), _event(EventType.CART_ADD, 5, product_id="P1"))
    first.record_served("d-1", "first-purchase-coupon")
    session, converted = tracker.observe(_event(EventType.ORDER_COMPLETED, 60, order_id="o1", revenue=1.0))
    assert converted == "d-1" and session is first and first.orders == 1 and not first.cart
    later = _feed(tracker, _page(60 + 31 * 60, "/"))
    assert later is not first and later.number == 2 and later.pages == 1
    # a visitor known by the user id alone is found through the anonymous id it came with
    tracker.observe(_event(EventType.IDENTIFY, 2000, user_id="u-9"))
    assert tracker.get(user_id="u-9") is later


def test_the_trigger_file_is_checked_field_by_field() -> None:
    bad = """
[[trigger]]
id = "x"
name = { ko = "가", en = "a" }
action = "popover"
placement = "popup"
when = { exit_intnt = true, cart_items_min = -1 }
content = { title = { ko = "가", en = "a" } }
"""
    with pytest.raises(InvalidInputError) as caught:
        parse_triggers(bad)
    fields = {e.field for e in caught.value.errors}
    assert fields == {"trigger[0].action", "trigger[0].when.exit_intnt", "trigger[0].when.cart_items_min"}
    assert "spelling" in str(caught.value)
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        parse_triggers("[[trigger]\n")
    one = '[[trigger]]\nid = "x"\nname = { ko = "가", en = "a" }\naction = "popup"\nplacement = "popup"\ncontent = { title = { ko = "가", en = "a" } }\n'
    twice = one + one
    with pytest.raises(InvalidInputError, match="used twice"):
        parse_triggers(twice)


def _cart_exit(tracker: SessionTracker, visitor: str = "v1", at: float = 0) -> Session:
    return _feed(
        tracker,
        _page(at, "https://shop.kr/p/P1", visitor),
        _event(EventType.CART_ADD, at + 5, visitor, product_id="P1"),
        _page(at + 10, "https://shop.kr/cart", visitor),
        _custom("Exit Intent", at + 20, visitor),
    )


def test_the_coupon_popup_is_for_first_time_buyers_leaving_the_cart() -> None:
    ledger = FrequencyLedger()
    now = T0 + timedelta(seconds=21)
    session = _cart_exit(SessionTracker())
    chosen = decide(TRIGGERS, session, Visitor(), ledger, now, "popup")
    assert chosen is not None and chosen.id == "first-purchase-coupon"
    assert chosen.content.coupon == "WELCOME10" and chosen.content.discount_percent == 10
    # a customer who has ordered before does not get the first-purchase coupon
    repeat = Visitor("user:u1", frozenset({"loyal"}), orders=3, known=True)
    assert decide(TRIGGERS, session, repeat, ledger, now, "popup") is None
    assert unmet(chosen, session, repeat, now) == ["first_time_buyer"]
    # nor does a visitor with an empty cart, nor one who is not leaving
    empty = _feed(SessionTracker(), _page(0, "https://shop.kr/cart"), _custom("Exit Intent", 1))
    assert decide(TRIGGERS, empty, Visitor(), ledger, now, "popup") is None
    staying = _feed(
        SessionTracker(), _page(0, "/p/P1"), _event(EventType.CART_ADD, 1, product_id="P1"), _page(2, "/cart")
    )
    assert decide(TRIGGERS, staying, Visitor(), ledger, now, "popup") is None
    # another placement has other triggers
    assert decide(TRIGGERS, session, Visitor(), ledger, now, "top") is None


def test_frequency_caps_per_session_per_day_and_cooldown() -> None:
    tracker, ledger = SessionTracker(), FrequencyLedger()
    session = _cart_exit(tracker)
    now = T0 + timedelta(seconds=21)
    coupon = decide(TRIGGERS, session, Visitor(), ledger, now, "popup")
    assert coupon is not None
    serve(coupon, session, ledger, "d-1", now)
    assert capped(coupon, session, ledger, now) == "cap.per_session"
    assert decide(TRIGGERS, session, Visitor(), ledger, now, "popup") is None
    # the next session, the same day: the per-day cap (1) still holds
    later = T0 + timedelta(hours=2)
    second = _cart_exit(tracker, at=2 * 3600)
    assert second is not session
    assert capped(coupon, second, ledger, later) == "cap.per_day"
    # a day later it may show again
    next_day = _cart_exit(tracker, at=26 * 3600)
    assert (
        decide(TRIGGERS, next_day, Visitor(), ledger, T0 + timedelta(hours=26, seconds=21), "popup") == coupon
    )
    # cart abandonment: one hour of cool-down between two showings
    abandon = next(t for t in TRIGGERS if t.id == "cart-abandonment")
    s = _feed(SessionTracker(), _page(0, "/p/P1", "v2"), _event(EventType.CART_ADD, 1, "v2", product_id="P1"))
    ledger.record("v2", abandon.id, T0)
    assert capped(abandon, s, ledger, T0 + timedelta(minutes=30)) == "cap.cooldown_minutes"
    assert capped(abandon, s, ledger, T0 + timedelta(minutes=61)) is None


def test_targeting_by_device_segment_and_region() -> None:
    text = DEFAULT_TRIGGERS.replace(
        "when = { vip = true, returning = true }",
        'when = { returning = true }\ntarget = { device = ["mobile"], segment = ["vip", "loyal"], region = ["서울"] }',
    )
    vip_banner = next(t for t in parse_triggers(text) if t.id == "returning-vip")
    loyal = Visitor("user:u1", frozenset({"loyal"}), orders=2, known=True)
    s = _feed(SessionTracker(), _page(0, "/", device_type="mobile", region="서울"))
    assert unmet(vip_banner, s, loyal, T0) == []
    s.device = "desktop"
    assert unmet(vip_banner, s, loyal, T0) == ["target.device"]
    s.device, s.region = "mobile", "부산"
    assert unmet(vip_banner, s, loyal, T0) == ["target.region"]
    s.region = "서울"
    assert unmet(vip_banner, s, Visitor("user:u2", frozenset({"lost"}), 1, True), T0) == ["target.segment"]


def test_the_careers_banner_finds_the_quick_skimmer_and_vips_get_their_picks() -> None:
    tracker, ledger = SessionTracker(), FrequencyLedger()
    categories = ["fruit", "drinks", "beauty", "shoes", "digital", "camping"]
    skimmer = _feed(
        tracker, *[_page(i * 4, f"/category/{c}", "job-seeker") for i, c in enumerate(categories)]
    )
    chosen = decide(TRIGGERS, skimmer, Visitor(), ledger, T0 + timedelta(seconds=30), "top")
    assert chosen is not None and chosen.id == "careers-banner" and chosen.content.link == "/careers"
    # a shopper reading each category page for a minute is not a job seeker
    reader = _feed(tracker, *[_page(i * 60, f"/category/{c}", "reader") for i, c in enumerate(categories)])
    assert decide(TRIGGERS, reader, Visitor(), ledger, T0 + timedelta(minutes=7), "top") is None
    # a returning VIP gets the recommendation widget
    vip = Visitor("user:m1", frozenset({"vip", "clv_vip"}), orders=9, known=True)
    back = _feed(tracker, _page(0, "/", "vip-visitor"))
    picked = decide(TRIGGERS, back, vip, ledger, T0, "top")
    assert picked is not None and picked.action == "recommendations" and picked.content.items == 4
    assert (
        decide(TRIGGERS, back, Visitor("user:m2", frozenset({"loyal"}), 3, True), ledger, T0, "top") is None
    )


_sessions = st.builds(
    lambda exit_intent, page, cart, pages, cats, dwell, device, orders: _session(
        exit_intent, page, cart, pages, cats, dwell, device, orders
    ),
    st.booleans(),
    st.sampled_from(["home", "category", "product", "cart", "checkout"]),
    st.integers(0, 3),
    st.integers(0, 8),
    st.integers(0, 6),
    st.floats(0, 60),
    st.sampled_from(["mobile", "desktop"]),
    st.integers(0, 1),
)


def _session(
    exit_intent: bool, page: str, cart: int, pages: int, cats: int, dwell: float, device: str, orders: int
) -> Session:
    s = Session(
        "v", T0, T0, device=device, pages=pages, page_type=page, exit_intent=exit_intent, orders=orders
    )
    s.cart = {f"P{i}": 1 for i in range(cart)}
    s.categories = {f"c{i}": 1 for i in range(cats)}
    s.pages_left, s.dwell_total = 1, dwell  # a mean of ``dwell`` exactly
    return s


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    _sessions,
    st.sampled_from(
        [Visitor(), Visitor("user:v", frozenset({"vip"}), 4, True), Visitor("user:w", frozenset(), 1, True)]
    ),
    st.sampled_from([None, "popup", "top"]),
    st.lists(st.sampled_from([t.id for t in TRIGGERS]), max_size=3),
)
def test_decide_picks_the_best_matching_uncapped_trigger(
    session: Session, visitor: Visitor, placement: str | None, shown: list[str]
) -> None:
    ledger = FrequencyLedger()
    for i, trigger_id in enumerate(shown):
        session.record_served(f"d{i}", trigger_id)
        ledger.record(session.visitor, trigger_id, T0)
    chosen = decide(TRIGGERS, session, visitor, ledger, T0, placement)
    allowed = [
        t
        for t in TRIGGERS
        if (placement is None or t.placement == placement)
        and not unmet(t, session, visitor, T0)
        and capped(t, session, ledger, T0) is None
    ]
    if not allowed:
        assert chosen is None
    else:
        assert chosen is not None and chosen in allowed
        assert chosen.priority == max(t.priority for t in allowed)
