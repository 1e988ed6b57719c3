"""The event model: shapes of the common tracking APIs, clock skew, hashing of contact data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopmind.core import IdentifierHasher, InvalidEventError, normalise_phone
from shopmind.events import EventType, correct_event_time, orders_from_events, validate_event

from .conftest import NOW


def test_segment_style_track_call_maps_to_our_types() -> None:
    e = validate_event(
        {
            "type": "track",
            "event": "Product Added",
            "userId": 42,
            "properties": {"product_id": "P1", "quantity": 2},
        },
        received_at=NOW,
    )
    assert e.type is EventType.CART_ADD and e.user_id == "42" and e.quantity == 2
    custom = validate_event(
        {"type": "track", "event": "Wishlist Shared", "anonymousId": "a"}, received_at=NOW
    )
    assert custom.type is EventType.CUSTOM and custom.name == "Wishlist Shared"


def test_context_fields_are_flattened() -> None:
    e = validate_event(
        {
            "messageId": "m1",
            "type": "search",
            "anonymousId": "a1",
            "sessionId": "s1",
            "timestamp": "2026-10-31T21:00:00+09:00",
            "context": {
                "device": {"type": "desktop"},
                "os": {"name": "Windows"},
                "channel": "web",
                "locale": "ko-KR",
                "location": {"region": "부산", "city": "해운대구"},
                "page": {"url": "https://shop.example/search", "referrer": "https://naver.com"},
                "campaign": {"source": "naver", "medium": "cpc", "name": "fw26"},
            },
            "properties": {"query": "겨울 코트", "results": 12},
        },
        received_at=NOW,
    )
    assert (e.device_type, e.os, e.channel, e.region, e.city) == (
        "desktop",
        "Windows",
        "web",
        "부산",
        "해운대구",
    )
    assert (e.utm_source, e.utm_medium, e.utm_campaign) == ("naver", "cpc", "fw26")
    assert e.query == "겨울 코트" and e.properties == '{"results":12}'
    assert e.event_time == datetime(2026, 10, 31, 12, 0, tzinfo=UTC)


def test_clock_skew_is_corrected_and_future_times_are_clamped() -> None:
    received = NOW
    # the client's clock is 1 hour fast: it says it sent at 13:00 when the server got it at 12:00
    e = validate_event(
        {
            "type": "page_view",
            "anonymousId": "a",
            "timestamp": "2026-11-01T12:59:00Z",
            "sentAt": "2026-11-01T13:00:00Z",
        },
        received_at=received,
    )
    assert e.event_time == received - timedelta(minutes=1)
    assert e.time_flag == "skew_corrected"
    assert e.client_time == datetime(2026, 11, 1, 12, 59, tzinfo=UTC)
    far = validate_event(
        {"type": "page_view", "anonymousId": "a", "timestamp": "2027-01-01T00:00:00Z"}, received_at=received
    )
    assert far.event_time == received and far.time_flag == "future_clamped"
    none = validate_event({"type": "page_view", "anonymousId": "a"}, received_at=received)
    assert none.event_time == received and none.time_flag == "server_time"


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=-86_400 * 30, max_value=86_400 * 30),
)
def test_corrected_time_never_lies_in_the_future(ts: datetime, skew_s: int) -> None:
    sent = ts + timedelta(seconds=skew_s)
    corrected, _ = correct_event_time(ts, sent, NOW)
    assert corrected <= NOW + timedelta(minutes=5)


def test_contact_data_is_hashed_never_kept(hasher: IdentifierHasher) -> None:
    e = validate_event(
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"email": "A@B.co", "phone": "+82 10-1234-5678", "tier": "gold"},
        },
        received_at=NOW,
        hasher=hasher,
    )
    assert e.email_hash == hasher.email("a@b.co")
    assert e.phone_hash == hasher.phone("010-1234-5678")
    assert "A@B.co" not in str(e.row()) and "1234" not in str(e.row())
    assert e.properties == '{"traits":{"tier":"gold"}}'
    with pytest.raises(InvalidEventError, match=r"traits\.email"):
        validate_event({"type": "identify", "userId": "u1", "traits": {"email": "x@y.z"}}, received_at=NOW)


def test_phone_normalisation_agrees_across_formats() -> None:
    assert normalise_phone("010-1234-5678") == normalise_phone("+82 10 1234 5678") == "01012345678"
    assert normalise_phone("12") is None


def test_order_completed_carries_lines_and_revenue() -> None:
    e = validate_event(
        {
            "messageId": "o1",
            "type": "order_completed",
            "userId": "u1",
            "properties": {
                "order_id": "K-1",
                "products": [
                    {"product_id": "라면", "quantity": 2, "price": 1200},
                    {"product_id": "김치", "price": 8900},
                ],
            },
        },
        received_at=NOW,
    )
    assert e.revenue == 2 * 1200 + 8900 and e.currency == "KRW"
    orders, lines = orders_from_events([e])
    assert orders.num_rows == 1 and lines.num_rows == 2
    assert lines.column("line_key").to_pylist() == ["K-1#1", "K-1#2"]
    with pytest.raises(InvalidEventError, match=r"properties\.products"):
        validate_event(
            {"type": "order_completed", "userId": "u", "properties": {"order_id": "K", "products": []}},
            received_at=NOW,
        )


def test_same_event_without_message_id_gets_the_same_id() -> None:
    raw = {"type": "page_view", "anonymousId": "a", "timestamp": "2026-11-01T10:00:00Z"}
    assert (
        validate_event(raw, received_at=NOW).message_id
        == validate_event(dict(raw), received_at=NOW).message_id
    )


def test_contact_data_in_properties_is_hashed_never_kept(hasher: IdentifierHasher) -> None:
    e = validate_event(
        {
            "type": "product_view",
            "anonymousId": "a",
            "traits": {"email": "A@B.co"},
            "properties": {"product_id": "P1", "email": "other@b.co", "phone": "010-1234-5678", "size": "L"},
        },
        received_at=NOW,
        hasher=hasher,
    )
    assert e.email_hash == hasher.email("a@b.co") and e.phone_hash == hasher.phone("010-1234-5678")
    assert e.properties == '{"size":"L"}'
    assert "b.co" not in str(e.row()) and "1234" not in str(e.row())


def test_a_clock_correction_out_of_range_keeps_the_event_at_the_server_time() -> None:
    # found by schemathesis: year 1105 from a client whose clock says year 8055 overflowed (a 500)
    raw = {
        "messageId": "m-far",
        "type": "page",
        "anonymousId": "a",
        "timestamp": "1105-11-12T06:20:39Z",
        "sentAt": "8055-10-25T11:08:22+09:00",
    }
    event = validate_event(raw, received_at=NOW)
    assert event.event_time == NOW and event.time_flag == "out_of_range"
