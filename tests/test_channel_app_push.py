"""App push (FCM-like HTTP v1) against the local stand-in push service (tests/gateway_standin.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest

from shopmind.activation import AppPush, ChannelError, HandOverUnknownError, Message, open_app_push
from tests.channel_contract import ChannelContract, message
from tests.gateway_standin import Service, Standin

TOKEN = "fcm-device-token-1"


@pytest.fixture
def channel(standin: Standin) -> Iterator[AppPush]:
    push = open_app_push(
        standin.app_push_url.replace("http://", f"http://{standin.push_token}@"), default_title="쇼핑몰"
    )
    yield push
    push.close()


@pytest.fixture
def provider(standin: Standin) -> Service:
    return standin.app_push


@pytest.fixture
def address() -> Callable[[str], str]:
    return lambda fmt: TOKEN


class TestAppPush(ChannelContract):
    formats = ("app_push",)
    dedupes = False  # push services deliver a resend again; the collapse key shows it once


def _message(service: Service, index: int = -1) -> dict[str, object]:
    return orjson.loads(service.requests[index]["body"])["message"]  # type: ignore[no-any-return]


def test_the_request_carries_the_key_title_link_and_collapse_keys(channel: AppPush, standin: Standin) -> None:
    receipt = channel.send(
        Message(
            key="c5.p1.s1",
            format="app_push",
            to=TOKEN,
            text="(광고) 오늘만 무료배송",
            link_url="shop://cart",
            image_url="https://shop.example/b.jpg",
            data={"campaign": "c5"},
        )
    )
    assert receipt.outcome == "sent" and (receipt.provider_id or "").startswith("projects/shop/messages/")
    assert standin.app_push.requests[-1]["headers"]["idempotency-key"] == "c5.p1.s1"
    assert _message(standin.app_push) == {
        "token": TOKEN,
        "notification": {
            "body": "(광고) 오늘만 무료배송",
            "title": "쇼핑몰",
            "image": "https://shop.example/b.jpg",
        },
        "data": {"campaign": "c5", "key": "c5.p1.s1", "link": "shop://cart"},
        "android": {"collapse_key": "c5.p1.s1"},
        "apns": {"headers": {"apns-collapse-id": "c5.p1.s1"}},
    }


def test_an_unregistered_token_is_rejected_with_the_services_code(channel: AppPush) -> None:
    receipt = channel.send(message("app_push", "c5.p1.s1", "unregistered-token"))
    assert receipt.outcome == "rejected"
    assert "UNREGISTERED" in (receipt.reason or "") and "404" in (receipt.reason or "")


def test_a_wrong_token_is_the_channels_error(standin: Standin) -> None:
    push = open_app_push(standin.app_push_url, api_key="wrong")
    with pytest.raises(ChannelError, match="HTTP 401"):
        push.send(message("app_push", "c5.p1.s1", TOKEN))
    push.close()


def test_busy_and_rate_limited_are_retries(channel: AppPush, standin: Standin) -> None:
    standin.app_push.answer_next(503, retry_after="12")
    receipt = channel.send(message("app_push", "c5.p1.s1", TOKEN))
    assert (receipt.outcome, receipt.retry_after_s) == ("retry", 12.0)
    standin.app_push.answer_next(429)
    receipt = channel.send(message("app_push", "c5.p1.s1", TOKEN))
    assert receipt.outcome == "retry" and receipt.retry_after_s is None
    assert channel.send(message("app_push", "c5.p1.s1", TOKEN)).outcome == "sent"
    assert [r.key for r in standin.app_push.received()] == ["c5.p1.s1"]


def test_a_cut_connection_is_unknown(channel: AppPush, standin: Standin) -> None:
    standin.app_push.cut_next()
    with pytest.raises(HandOverUnknownError, match="same key"):
        channel.send(message("app_push", "c5.p1.s1", TOKEN))
    assert [r.key for r in standin.app_push.received()] == ["c5.p1.s1"]  # it did arrive


def test_a_missing_key_or_insecure_url_is_refused() -> None:
    with pytest.raises(ChannelError, match="API key"):
        open_app_push("https://fcm.example/v1/projects/p/messages:send")
    with pytest.raises(ChannelError, match="https://"):
        open_app_push("http://tok@fcm.example/v1/projects/p/messages:send")
