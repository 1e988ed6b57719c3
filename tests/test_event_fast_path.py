"""The fast path of event validation returns exactly the event the full validation returns, or
gives up (None); it never accepts what the full validation refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from shopmind.core import IdentifierHasher, InvalidEventError
from shopmind.events import Event, validate_event
from shopmind.events._fast import fast_event
from shopmind.events._rules import FUTURE_TOLERANCE, MAX_EVENT_BYTES
from shopmind.events._validation import _validate_fully

from .conftest import NOW

HASHER = IdentifierHasher(b"k" * 32)

_PADDING = st.sampled_from(["", " ", "\t", "\n", "\u3000", "\xa0", "\x1c", "\u200b", "\x85"])
_WORDS = st.sampled_from(
    ["a", "P00001", "라면", "서울", "mobile", "web", "app", "ko-KR", "gold", "x" * 512, "x" * 513, "", "0"]
)


@st.composite
def _padded(draw: st.DrawFn, core: st.SearchStrategy[str]) -> str:
    return str(draw(_PADDING) + draw(core) + draw(_PADDING))


_STRINGS = st.one_of(_WORDS, _padded(_WORDS), st.text(max_size=12), st.text(min_size=30, max_size=40))
_NUMBERS = st.one_of(
    st.integers(min_value=-5, max_value=200_000),
    st.integers(min_value=2**53 - 2, max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.5, 12900.0, 2.0]),
    st.booleans(),
)
_SCALARS = st.one_of(st.none(), _STRINGS, _NUMBERS)
_ANY = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_STRINGS, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def _time(draw: st.DrawFn) -> Any:
    """Usually an ISO 8601 time as trackers send it; sometimes another form, or nonsense."""
    moment = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1)))
    offset = draw(st.integers(min_value=-14 * 60, max_value=14 * 60))
    digits = draw(st.integers(min_value=0, max_value=7))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}{draw(st.integers(0, 9))}"[:digits]
    sign = "-" if offset < 0 else "+"
    zone = draw(st.sampled_from(["", "Z", f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"]))
    if draw(st.integers(0, 29)):
        return text + zone
    text += draw(st.sampled_from([zone, "z", "+24:00", "+05:60", "+0900"]))
    return draw(
        st.sampled_from(
            [
                _ABSENT,
                text,
                text.replace("T", " "),
                text[:10],
                "2026-02-30T10:00:00Z",
                "2026-11-01T24:00:00Z",
                "2026-11-01T10:00:60Z",
                "0000-01-01T00:00:00Z",
                " " + text,
                moment,
                moment.replace(tzinfo=timezone(timedelta(minutes=offset))),
                moment.date(),
                1_700_000_000,
                None,
                "yesterday",
            ]
        )
    )


_CALLS = st.sampled_from(
    [
        ("track", "Product Viewed"),
        ("track", "Product Added"),
        ("track", "Product Removed"),
        ("track", "Products Searched"),
        ("track", "Promotion Viewed"),
        ("track", "Email Link Clicked"),
        ("track", "Order Completed"),
        ("track", "Wishlist Shared"),
        ("track", "product_view"),
        ("track", None),
        ("Track ", "Product Viewed"),
        ("page", None),
        ("screen", None),
        ("identify", None),
        ("alias", None),
        ("page_view", None),
        ("product_view", None),
        ("cart_add", None),
        ("cart_remove", None),
        ("search", None),
        ("banner_impression", None),
        ("banner_click", None),
        ("message_open", None),
        ("message_click", None),
        ("checkout_start", None),
        ("order_completed", None),
        ("custom", "Coupon Copied"),
        ("custom", None),
        ("nonsense", None),
        ("", None),
    ]
)
_IDS = st.one_of(st.sampled_from(["visitor-1", "u-42", "회원7"]), st.integers(min_value=0, max_value=10**6))
_WILD_IDS = st.one_of(st.none(), _STRINGS, st.integers(min_value=-(2**63), max_value=2**63), st.booleans())
_ABSENT = object()


def _mostly(good: st.SearchStrategy[Any], wild: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a valid value; one time in 60 something else (absent, null, wrong, padded...)."""
    return st.integers(0, 59).flatmap(lambda n: good if n else st.one_of(st.just(_ABSENT), wild))


def _object(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """An object with these fields (each usually valid) and maybe some unknown keys."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out = {k: v for k, s in fields.items() if (v := draw(s)) is not _ABSENT}
        if draw(st.integers(0, 9)) == 0:
            out.update(draw(st.dictionaries(_STRINGS, _ANY, max_size=2)))
        return out

    return _mostly(build(), _SCALARS)


def _text_field(valid: list[str], invalid: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    return _mostly(st.sampled_from(valid), st.one_of(st.sampled_from([*invalid, " padded"]), _SCALARS))


_CONTEXT = _object(
    {
        "device": _object({"type": _text_field(["mobile", "desktop", "tablet", "other"], ("tv", " mobile"))}),
        "os": _object({"name": _text_field(["iOS", "Android"])}),
        "channel": _text_field(["web", "app"], ("WEB",)),
        "locale": _text_field(["ko-KR", "", "x" * 35], ("x" * 36, " ko")),
        "location": _object({"region": _text_field(["서울", "부산"]), "city": _text_field(["강남구"])}),
        "page": _object(
            {
                "url": _text_field(
                    [
                        "https://shop.example/p/1",
                        "",
                        "u" * 4096,
                        "https://shop.example/p/1?utm_source=n&Email=a%40b.co&size=L",
                        "https://shop.example/?phone_number=010-1234-5678#/cart?name=김",
                    ],
                    ("u" * 4097,),
                ),
                "referrer": _text_field(["", "https://m.shop.example/?mobile=01012345678"]),
            }
        ),
        "campaign": _object(
            {k: _text_field(["naver", "fw26"]) for k in ("source", "medium", "name", "term")}
        ),
        "userAgent": _text_field(["Mozilla/5.0"]),
    }
)
_PRICES = _mostly(
    st.one_of(
        st.integers(0, 10**7), st.floats(min_value=0, max_value=1e9), st.sampled_from([0.0, 9.5, 12900])
    ),
    st.one_of(_NUMBERS, st.none(), _STRINGS),
)
_LINE = _object(
    {
        "product_id": _text_field(["P1", "라면"]),
        "price": _PRICES,
        "quantity": _mostly(st.integers(1, 5), _NUMBERS),
        "name": _text_field(["신라면"]),
    }
)
_PROPERTIES = _object(
    {
        "product_id": _text_field(["P00001", "라면", "x" * 512], ("x" * 513, "")),
        "category": _text_field(["라면", "코트"]),
        "price": _PRICES,
        "quantity": _mostly(st.integers(1, 100_000), st.one_of(_NUMBERS, st.sampled_from(["2", None]))),
        "query": _text_field(["겨울 코트", "q" * 1000], ("q" * 1001,)),
        "banner_id": _text_field(["B1"]),
        "campaign_id": _text_field(["C1"]),
        "order_id": _text_field(["O1"]),
        "revenue": _PRICES,
        "currency": _text_field(["KRW", "USD"], ("krw", "KRW ", "KR", "KRWW")),
        "products": _mostly(st.lists(_LINE, min_size=1, max_size=2), st.lists(_LINE, max_size=2)),
        "path": _text_field(["/p/1"]),
        "results": _mostly(st.integers(0, 100), _ANY),
        "email": st.sampled_from([_ABSENT] * 8 + ["a@b.co", 5]),
        " padded key ": st.sampled_from([_ABSENT] * 9 + [1]),
        # personal fields under other usual keys, nested too, and URLs with personal parameters
        "Email": st.sampled_from([_ABSENT] * 9 + ["c@d.co"]),
        "tel": st.sampled_from([_ABSENT] * 9 + ["02-345-6789", ""]),
        "contact": st.sampled_from([_ABSENT] * 8 + [{"email": "e@f.co"}, {"Phone": None, "note": 1}]),
        "address": st.sampled_from([_ABSENT] * 8 + ["서울 강남구", {"city": "서울"}]),
        "name": st.sampled_from([_ABSENT] * 8 + ["신라면"]),
        "url": st.sampled_from([_ABSENT] * 8 + ["https://s.kr/?birthday=1990-01-01&a=1", 3]),
    }
)
_TRAITS = _object(
    {
        "grade": _text_field(["gold"]),
        "email": st.sampled_from([_ABSENT] * 8 + ["a@b.co", "nope"]),
        "phone": st.sampled_from([_ABSENT] * 9 + ["010-1234-5678"]),
        "mobile": st.sampled_from([_ABSENT] * 9 + ["010-9999-8888", 12]),
        "name": st.sampled_from([_ABSENT] * 8 + ["김철수"]),
        "birth_date": st.sampled_from([_ABSENT] * 8 + ["1990-01-01"]),
        "profile": st.sampled_from([_ABSENT] * 8 + [{"이메일": "g@h.co"}, {"주소": "부산", "tier": 1}]),
    }
)


@st.composite
def _raw_event(draw: st.DrawFn) -> dict[str, Any]:
    declared, event = draw(_CALLS)
    fields: dict[str, st.SearchStrategy[Any]] = {
        "messageId": _mostly(st.sampled_from(["m-1", "라면-2"]), st.one_of(_STRINGS, st.integers())),
        "type": _mostly(st.just(declared), st.one_of(_padded(st.just(declared)), _SCALARS)),
        "event": _mostly(st.just(event) if event else st.just(_ABSENT), _SCALARS),
        "name": _text_field(["Home", "Product Viewed"]),
        "anonymousId": _mostly(_IDS, _WILD_IDS),
        "userId": _mostly(_IDS, _WILD_IDS),
        "previousId": _mostly(_IDS, _WILD_IDS),
        "sessionId": _mostly(_IDS, _WILD_IDS),
        "timestamp": _time(),
        "sentAt": _time(),
        "context": _CONTEXT,
        "properties": _PROPERTIES,
        "traits": _TRAITS,
        # keys the fast path leaves to the full validation, or that nobody knows
        "message_id": st.sampled_from([_ABSENT] * 49 + ["m-2"]),
        "anonymous_id": st.sampled_from([_ABSENT] * 49 + ["visitor-2"]),
        "integrations": st.sampled_from([_ABSENT] * 4 + [{}]),
        "colour": st.sampled_from([_ABSENT] * 49 + ["red"]),
    }
    return {k: v for k, s in fields.items() if (v := draw(s)) is not _ABSENT}


def _fully(raw: dict[str, Any], max_bytes: int) -> Event | None:
    try:
        return _validate_fully(
            raw, received_at=NOW, hasher=HASHER, source="api", max_bytes=max_bytes, tolerance=FUTURE_TOLERANCE
        )
    except InvalidEventError:
        return None


def _assert_identical(fast: Event, full: Event) -> None:
    assert fast == full
    assert fast.lines == full.lines
    assert list(fast.__dict__) == list(full.__dict__)  # the same fields, in the same order
    for name, value in full.__dict__.items():
        other = fast.__dict__[name]
        assert type(other) is type(value), name  # e.g. a price of 12900 is the float 12900.0 in both
        if isinstance(value, datetime):
            assert value.tzinfo is UTC and other.tzinfo is UTC, name


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_raw_event(), st.sampled_from([MAX_EVENT_BYTES, 300]))
def test_the_fast_path_returns_what_the_full_validation_returns(raw: dict[str, Any], max_bytes: int) -> None:
    fast = fast_event(raw, received_at=NOW, source="api", max_bytes=max_bytes, tolerance=FUTURE_TOLERANCE)
    full = _fully(raw, max_bytes)
    if full is None:
        assert fast is None, f"the fast path accepted an invalid event: {raw!r}"
    elif fast is not None:
        _assert_identical(fast, full)


def _tracker_call(**extra: Any) -> dict[str, Any]:
    return {
        "messageId": "m-1",
        "anonymousId": "visitor-1",
        "userId": 1042,
        "sessionId": "s-1",
        "timestamp": "2026-11-01T20:59:58.123+09:00",
        "sentAt": "2026-11-01T11:59:59.500Z",
        "context": {
            "device": {"type": "mobile"},
            "os": {"name": "iOS"},
            "channel": "app",
            "locale": "ko-KR",
            "location": {"region": "서울", "city": "강남구"},
            "page": {"url": "https://shop.example/p/1", "referrer": "https://search.naver.com/"},
            "campaign": {"source": "naver", "medium": "cpc", "name": "fw26"},
            "userAgent": "Mozilla/5.0",
            "library": {"name": "shopmind.js", "version": "1.0.0"},
        },
        "integrations": {},
        **extra,
    }


@pytest.mark.parametrize(
    "raw",
    [
        _tracker_call(type="track", event="Product Viewed", properties={"product_id": "P1", "price": 12900}),
        _tracker_call(
            type="track", event="Product Added", properties={"product_id": "P1", "price": 9.5, "quantity": 2}
        ),
        _tracker_call(
            type="product_view", properties={"product_id": "P1", "category": "라면", "colour": "red"}
        ),
        _tracker_call(type="page", name="Home", properties={"path": "/", "title": "홈"}),
        _tracker_call(type="track", event="Products Searched", properties={"query": "겨울 코트"}),
        _tracker_call(type="track", event="Promotion Clicked", properties={"banner_id": "B1"}),
        _tracker_call(type="message_open", properties={"campaign_id": "C1"}),
        _tracker_call(type="identify", traits={"grade": "gold"}),
        _tracker_call(type="alias", previousId="visitor-1"),
        _tracker_call(type="track", event="Wishlist Shared"),
        _tracker_call(
            type="track",
            event="Order Completed",
            properties={
                "order_id": "K-1",
                "coupon": "WELCOME10",
                "products": [
                    {"product_id": "라면", "quantity": 2, "price": 1200, "brand": "농심"},
                    {"product_id": "김치", "price": 8900.5, "name": "포기김치", "category": "반찬"},
                ],
            },
        ),
        _tracker_call(
            type="order_completed",
            properties={
                "order_id": "K-2",
                "revenue": 0,
                "currency": "USD",
                "products": [{"product_id": "P", "price": 0}],
            },
        ),
        {"type": "page_view", "anonymousId": "a", "timestamp": datetime(2026, 11, 1, 11, 0)},
        {"type": "page_view", "anonymousId": "a"},  # no message id: one from the content
        # personal fields that are dropped, and personal query parameters, stay on the fast path
        _tracker_call(
            type="page",
            properties={"url": "https://shop.example/?email=a%40b.co&q=1", "address": {"city": "서울"}},
            traits={"name": "김철수", "birthday": "1990-01-01", "grade": "gold"},
        ),
    ],
)
def test_the_common_shapes_take_the_fast_path(raw: dict[str, Any]) -> None:
    fast = fast_event(
        raw, received_at=NOW, source="api", max_bytes=MAX_EVENT_BYTES, tolerance=FUTURE_TOLERANCE
    )
    assert fast is not None
    full = _fully(raw, MAX_EVENT_BYTES)
    assert full is not None
    _assert_identical(fast, full)
    assert validate_event(raw, received_at=NOW) == full


@pytest.mark.parametrize(
    "raw",
    [
        _tracker_call(type="track", event="Order Completed", properties={"order_id": "O1", "products": []}),
        _tracker_call(
            type="order_completed",
            properties={"order_id": "O1", "currency": "krw", "products": [{"product_id": "P"}]},
        ),
        _tracker_call(type="identify", traits={"email": "a@b.co"}),
        _tracker_call(type="identify", traits={"Mobile": "010-1234-5678"}),
        _tracker_call(type="page", properties={"contact": {"e-mail": "a@b.co"}}),
        {"type": "page_view", "anonymous_id": "a"},
        {"type": "page_view", "anonymousId": " a"},
        {"type": "page_view", "anonymousId": "a", "timestamp": "2026-11-01 11:00:00"},
        {"type": "page_view", "anonymousId": "a", "timestamp": date(2026, 11, 1)},
        {"type": "product_view", "anonymousId": "a", "properties": {"product_id": "P", "price": True}},
        {"type": "page_view", "anonymousId": "a", "properties": {" k": 1}},
    ],
)
def test_the_unusual_shapes_take_the_full_path(raw: dict[str, Any]) -> None:
    fast = fast_event(
        raw, received_at=NOW, source="api", max_bytes=MAX_EVENT_BYTES, tolerance=FUTURE_TOLERANCE
    )
    assert fast is None


def test_white_space_the_models_strip_is_white_space_to_the_fast_path() -> None:
    # the fast path takes a string only if str.strip() leaves it as it is: every character the
    # models strip must be one that str.strip() removes too
    class Stripping(BaseModel):
        model_config = ConfigDict(str_strip_whitespace=True)
        text: str

    stripped = [
        c
        for c in range(0x110000)
        if not 0xD800 <= c < 0xE000 and Stripping(text=chr(c) + "a").text != chr(c) + "a"
    ]
    assert stripped and all(chr(c).isspace() for c in stripped)
