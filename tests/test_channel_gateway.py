"""The SMS/LMS/MMS and Kakao gateway adapter against a real local HTTP server standing in for the
gateway (tests/gateway_standin.py): the channel contract, with an API key and with an HMAC
signature, then what is the gateway's own: the key as header and body field, 알림톡's rules, 429
Retry-After, 5xx, a cut connection, the configured pace."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.activation import (
    ChannelError,
    HandOverUnknownError,
    HttpGateway,
    Message,
    Sender,
    open_http_gateway,
)
from shopmind.activation._http_gateway import korean_phone
from shopmind.activation._http_hand_over import Pace
from shopmind.core import FixedClock
from tests.channel_contract import ChannelContract, message
from tests.gateway_standin import Service, Standin

PHONE = "01012345678"
ALL = ("sms", "lms", "mms", "alimtalk", "brand")


def _url(standin: Standin, query: str = "from=02-1234-5678&sender_key=KAKAO-SENDER-1") -> str:
    return standin.gateway_url.replace("://", f"://{standin.api_key}@", 1) + "?" + query


@pytest.fixture
def channel(standin: Standin) -> Iterator[HttpGateway]:
    gateway = open_http_gateway(_url(standin))
    yield gateway
    gateway.close()


@pytest.fixture
def provider(standin: Standin) -> Service:
    return standin.gateway


@pytest.fixture
def address() -> Callable[[str], str]:
    return lambda fmt: PHONE


class TestHttpGateway(ChannelContract):
    formats = ALL
    dedupes = True


class TestHttpGatewaySigned(ChannelContract):
    """The same contract with the HMAC-signed Authorization header (the secret in the URL)."""

    formats = ("lms", "brand")
    dedupes = True

    @pytest.fixture
    def standin(self) -> Iterator[Standin]:
        server = Standin(api_key="KEY1", api_secret="s3cret/with+chars")
        yield server
        server.close()

    @pytest.fixture
    def channel(self, standin: Standin) -> Iterator[HttpGateway]:
        url = standin.gateway_url.replace("http://", "http://KEY1:s3cret%2Fwith%2Bchars@")
        gateway = open_http_gateway(url + "?from=0212345678&sender_key=K&rate=1000")
        yield gateway
        gateway.close()


def _body(service: Service, index: int = -1) -> dict[str, object]:
    return orjson.loads(service.requests[index]["body"])["messages"][0]  # type: ignore[no-any-return]


# -- what goes on the wire ---------------------------------------------------------------------


def test_the_key_travels_as_the_idempotency_header_and_in_the_body(
    channel: HttpGateway, standin: Standin
) -> None:
    channel.send(message("lms", "c9.p1.s2", "010-1234-5678"))
    request = standin.gateway.requests[-1]
    assert request["headers"]["idempotency-key"] == "c9.p1.s2"
    body = _body(standin.gateway)
    assert body["key"] == "c9.p1.s2"
    assert body == {
        "key": "c9.p1.s2",
        "type": "LMS",
        "to": PHONE,  # hyphens gone
        "from": "0212345678",
        "text": "(광고) 봄 신상품이 도착했어요",
        "subject": "봄맞이 소식",
        "advertising": True,
    }


def test_kakao_messages_carry_the_sender_key_template_and_button(
    channel: HttpGateway, standin: Standin
) -> None:
    channel.send(message("alimtalk", "c9.p1.s1", PHONE, link_url="https://shop.example/o/1"))
    channel.send(message("brand", "c9.p2.s1", "+82 10 1234 5678", image_url="https://shop.example/a.jpg"))
    alimtalk, brand = _body(standin.gateway, 0), _body(standin.gateway, 1)
    assert alimtalk["type"] == "ALIMTALK" and alimtalk["advertising"] is False
    assert alimtalk["kakao"] == {
        "senderKey": "KAKAO-SENDER-1",
        "templateCode": "ORDER_SHIPPED_01",
        "buttons": [{"type": "WL", "url": "https://shop.example/o/1"}],
    }
    assert brand["type"] == "BRAND" and brand["advertising"] is True and brand["to"] == PHONE
    assert brand["imageUrl"] == "https://shop.example/a.jpg"


def test_an_advertising_alimtalk_is_refused_before_anything_leaves(
    channel: HttpGateway, standin: Standin
) -> None:
    ad = Message(
        key="c9.p1.s1",
        format="alimtalk",
        to=PHONE,
        text="(광고) 주말 특가 쿠폰",
        kind="advertising",
        template_code="SALE_01",
    )
    with pytest.raises(ChannelError, match="informational"):
        channel.send(ad)
    with pytest.raises(ChannelError, match="template code"):
        channel.send(
            Message(key="c9.p2.s1", format="alimtalk", to=PHONE, text="배송 안내", kind="informational")
        )
    assert standin.gateway.requests == []


@pytest.mark.parametrize(
    ("fmt", "to", "text", "reason"),
    [
        ("sms", "1234", "안내", "not a Korean phone number"),
        ("sms", PHONE, "가" * 46, "92 bytes; SMS carries at most 90"),
        ("lms", PHONE, "가" * 1001, "2002 bytes; LMS carries at most 2000"),
        ("brand", PHONE, "가" * 1001, "1001 characters"),
    ],
)
def test_what_the_gateway_would_refuse_is_rejected_with_the_reason_unsent(
    channel: HttpGateway, standin: Standin, fmt: str, to: str, text: str, reason: str
) -> None:
    receipt = channel.send(Message(key="c9.p1.s1", format=fmt, to=to, text=text))
    assert receipt.outcome == "rejected"
    assert reason in (receipt.reason or "")
    assert standin.gateway.requests == []


def test_the_gateways_per_message_rejection_is_the_receipts(channel: HttpGateway, standin: Standin) -> None:
    receipt = channel.send(message("sms", "c9.p1.s1", "01000000000"))
    assert receipt.outcome == "rejected"
    assert receipt.reason == "no such subscriber"
    assert len(standin.gateway.requests) == 1


# -- when the gateway cannot take it now ------------------------------------------------------


class _Time:
    """A monotonic clock the test moves; ``sleep`` moves it and remembers how long."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_429_retry_after_is_a_retry_receipt_and_holds_later_sends(standin: Standin) -> None:
    clock = _Time()
    gateway = open_http_gateway(_url(standin), pace=Pace(None, monotonic=clock.monotonic))
    standin.gateway.answer_next(429, retry_after="7")
    first = gateway.send(message("sms", "c9.p1.s1", PHONE))
    assert (first.outcome, first.retry_after_s) == ("retry", 7.0)
    # another message within the 7 s is not even asked for: the gateway said wait
    second = gateway.send(message("sms", "c9.p2.s1", PHONE))
    assert second.outcome == "retry" and second.retry_after_s == pytest.approx(7.0)
    assert len(standin.gateway.requests) == 1
    clock.now += 7
    assert gateway.send(message("sms", "c9.p1.s1", PHONE)).outcome == "sent"
    assert [r.key for r in standin.gateway.received()] == ["c9.p1.s1"]
    gateway.close()


def test_retry_after_as_an_http_date(standin: Standin) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    gateway = open_http_gateway(_url(standin), clock=FixedClock(now))
    standin.gateway.answer_next(429, retry_after=format_datetime(now + timedelta(seconds=90), usegmt=True))
    receipt = gateway.send(message("sms", "c9.p1.s1", PHONE))
    assert receipt.outcome == "retry" and receipt.retry_after_s == 90.0
    gateway.close()


@pytest.mark.parametrize("status", [500, 502, 503, 408, 409])
def test_a_server_error_or_a_busy_key_is_a_retry_and_the_resend_is_taken(
    channel: HttpGateway, standin: Standin, status: int
) -> None:
    standin.gateway.answer_next(status)
    assert channel.send(message("sms", "c9.p1.s1", PHONE)).outcome == "retry"
    again = channel.send(message("sms", "c9.p1.s1", PHONE))
    assert again.outcome == "sent" and not again.duplicate
    assert [r.key for r in standin.gateway.received()] == ["c9.p1.s1"]


def test_a_cut_after_the_gateway_took_it_is_unknown_and_the_resend_a_duplicate(
    channel: HttpGateway, standin: Standin
) -> None:
    standin.gateway.cut_next(taken=True)
    with pytest.raises(HandOverUnknownError):
        channel.send(message("sms", "c9.p1.s1", PHONE))
    again = channel.send(message("sms", "c9.p1.s1", PHONE))
    assert again.outcome == "sent" and again.duplicate
    assert standin.gateway.carried() == {"c9.p1.s1": 2}  # sent twice,
    assert [r.key for r in standin.gateway.received()] == ["c9.p1.s1"]  # delivered once


def test_a_cut_before_the_gateway_took_it_is_unknown_and_the_resend_delivers(
    channel: HttpGateway, standin: Standin
) -> None:
    standin.gateway.cut_next(taken=False)
    with pytest.raises(HandOverUnknownError):
        channel.send(message("sms", "c9.p1.s1", PHONE))
    assert standin.gateway.received() == []
    again = channel.send(message("sms", "c9.p1.s1", PHONE))
    assert again.outcome == "sent" and not again.duplicate
    assert [r.key for r in standin.gateway.received()] == ["c9.p1.s1"]


def test_a_gateway_that_cannot_be_reached_is_a_retry_nothing_left() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gateway = open_http_gateway(f"http://k@127.0.0.1:{port}/v1/messages?from=0212345678")
    receipt = gateway.send(message("sms", "c9.p1.s1", PHONE))
    assert receipt.outcome == "retry" and "unreachable" in (receipt.reason or "")
    gateway.close()


def test_wrong_credentials_are_the_channels_error(standin: Standin) -> None:
    gateway = open_http_gateway(standin.gateway_url.replace("http://", "http://wrong@") + "?from=0212345678")
    with pytest.raises(ChannelError, match="HTTP 401"):
        gateway.send(message("sms", "c9.p1.s1", PHONE))
    gateway.close()
    signed = Standin(api_key="KEY1", api_secret="right")
    try:
        bad = open_http_gateway(
            signed.gateway_url.replace("http://", "http://KEY1:wrong@") + "?from=0212345678"
        )
        with pytest.raises(ChannelError, match="credentials"):
            bad.send(message("sms", "c9.p1.s1", PHONE))
        bad.close()
    finally:
        signed.close()


def test_the_configured_pace_spaces_the_requests(standin: Standin) -> None:
    clock = _Time()
    gateway = open_http_gateway(
        _url(standin, "from=0212345678&rate=10"), pace=Pace(10, monotonic=clock.monotonic, sleep=clock.sleep)
    )
    for i in range(5):
        assert gateway.send(message("sms", f"c9.p{i}.s1", PHONE)).outcome == "sent"
    assert clock.slept == [0.1, 0.1, 0.1, 0.1]  # the first goes at once, then one every 1/10 s
    gateway.close()


def test_the_rate_in_the_url_is_the_pace(standin: Standin) -> None:
    gateway = open_http_gateway(_url(standin, "from=0212345678&rate=25"))
    assert gateway._pace.per_second == 25.0
    gateway.close()


def test_senders_in_threads_share_one_gateway_each_key_taken_once(
    channel: HttpGateway, standin: Standin
) -> None:
    keys = [f"c9.p{i}.s1" for i in range(40)]

    def send(part: list[str]) -> None:
        for key in part:
            assert channel.send(message("sms", key, PHONE)).outcome == "sent"

    threads = [threading.Thread(target=send, args=(keys[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.key for r in standin.gateway.received()) == sorted(keys)


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options", "error"),
    [
        ("http://k@gateway.example/v1/messages?from=0212345678", {}, "https://"),
        ("ftp://k@127.0.0.1/v1?from=0212345678", {}, "not an https:// URL"),
        ("https://gateway.example/v1/messages?from=0212345678", {}, "API key"),
        ("https://k@gateway.example/v1/messages", {}, "sending number"),
        ("https://k@gateway.example/v1/messages?from=12", {}, "not a Korean phone number"),
        ("https://k@gateway.example/v1/messages?auth=hmac&from=0212345678", {}, "secret"),
        ("https://k@gateway.example/v1/messages?from=0212345678&rate=fast", {}, "rate= must be a number"),
        ("https://k@gateway.example/v1/messages?from=0212345678&rate=0", {}, "positive"),
        ("https://k@gateway.example/v1/messages?from=0212345678", {"formats": ["brand"]}, "Kakao sender key"),
        ("https://k@gateway.example/v1/messages?sender_key=x", {"formats": ["email"]}, "not ['email']"),
    ],
)
def test_a_bad_configuration_says_what_to_fix(url: str, options: dict[str, object], error: str) -> None:
    with pytest.raises(ChannelError, match=error.replace("[", r"\[").replace("]", r"\]")):
        open_http_gateway(url, **options)


def test_the_formats_follow_what_is_configured() -> None:
    sms_only = open_http_gateway("https://k@gateway.example/v1?from=0212345678")
    assert sms_only.formats == {"sms", "lms", "mms"}
    kakao_only = open_http_gateway("https://k@gateway.example/v1", kakao_sender_key="K")
    assert kakao_only.formats == {"alimtalk", "brand"}
    from_sender = open_http_gateway(
        "https://k@gateway.example/v1", sender=Sender("쇼핑몰", "02-1234-5678", sms_number="02-1234-5678")
    )
    assert from_sender.from_number == "0212345678"
    representative = open_http_gateway("https://k@gateway.example/v1?from=1588-1234")
    assert representative.from_number == "15881234"  # a 대표번호 may send, though not receive
    for gateway in (sms_only, kakao_only, from_sender, representative):
        gateway.close()


def test_a_closed_gateway_refuses_to_send(channel: HttpGateway) -> None:
    channel.close()
    with pytest.raises(ChannelError, match="closed"):
        channel.send(message("sms", "c9.p1.s1", PHONE))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    mobile=st.from_regex(r"01[016789][0-9]{7,8}", fullmatch=True),
    style=st.sampled_from(["plain", "hyphens", "spaces", "international"]),
)
def test_a_phone_number_written_any_usual_way_is_the_same_number(mobile: str, style: str) -> None:
    head, middle, tail = mobile[:3], mobile[3:-4], mobile[-4:]
    written = {
        "plain": mobile,
        "hyphens": f"{head}-{middle}-{tail}",
        "spaces": f" {head} {middle} {tail} ",
        "international": f"+82 {head[1:]}-{middle}-{tail}",
    }[style]
    assert korean_phone(written) == mobile


@pytest.mark.parametrize(
    "bad", ["", "010", "1012345678", "010-1234-567a", "+1 415 555 0100", "0101234567890"]
)
def test_what_is_not_a_korean_phone_number(bad: str) -> None:
    assert korean_phone(bad) is None


# -- over TLS, as in production -----------------------------------------------------------------


@pytest.fixture
def tls_standin(tmp_path: Path) -> Iterator[Standin]:
    server = Standin(tls_dir=tmp_path)
    yield server
    server.close()


def test_over_https_with_the_providers_ca(tls_standin: Standin) -> None:
    assert tls_standin.gateway_url.startswith("https://")
    gateway = open_http_gateway(_url(tls_standin), verify=str(tls_standin.ca_file))
    assert gateway.send(message("sms", "c9.p1.s1", PHONE)).outcome == "sent"
    assert gateway.send(message("sms", "c9.p2.s1", PHONE)).outcome == "sent"  # the connection reused
    assert [r.key for r in tls_standin.gateway.received()] == ["c9.p1.s1", "c9.p2.s1"]
    gateway.close()


def test_a_certificate_that_does_not_verify_is_the_channels_error(tls_standin: Standin) -> None:
    gateway = open_http_gateway(_url(tls_standin))  # the system's CAs do not know the stand-in's
    with pytest.raises(ChannelError, match="TLS handshake"):
        gateway.send(message("sms", "c9.p1.s1", PHONE))
    assert tls_standin.gateway.requests == []
    gateway.close()


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match="CA bundle"):
        open_http_gateway("https://k@gateway.example/v1?from=0212345678", verify=str(tmp_path / "none.pem"))


def test_the_gateways_credentials_never_show_in_a_repr() -> None:
    # a traceback that prints locals (rich's, a debugger's) must not print the key or the secret
    from shopmind.activation._http_gateway import _Credentials

    shown = repr(_Credentials("hmac", "live-key-7f3a", "s3cret-9b1c", "Authorization"))
    assert "live-key-7f3a" not in shown and "s3cret-9b1c" not in shown and "hmac" in shown
