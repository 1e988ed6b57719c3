"""Web Push against a local push service stand-in that holds the browser's keys: it verifies the
VAPID JWT and decrypts each payload (tests/gateway_standin.py). The encryption itself is checked
against RFC 8291 §5's worked example, byte for byte."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.activation import ChannelError, Message, VapidKey, WebPush, open_web_push, vapid_key_path
from shopmind.activation._web_push import MAX_PLAINTEXT, Subscription, b64url, b64url_decode, encrypt
from shopmind.core import FixedClock
from tests.channel_contract import ChannelContract, message
from tests.gateway_standin import Service, Standin

SUBJECT = "mailto:ops@shop.example"


@pytest.fixture
def channel(standin: Standin, tmp_path: Path) -> Iterator[WebPush]:
    push = open_web_push(vapid_key_path(tmp_path), subject=SUBJECT)
    yield push
    push.close()


@pytest.fixture
def provider(standin: Standin) -> Service:
    return standin.web_push


@pytest.fixture
def address(standin: Standin) -> Callable[[str], str]:
    return lambda fmt: standin.subscribe()


class TestWebPush(ChannelContract):
    formats = ("web_push",)
    dedupes = False  # push services deliver a resend again; the notification's tag shows it once


# -- RFC 8291 §5: the worked example ----------------------------------------------------------

RFC_PLAINTEXT = b"When I grow up, I want to be a watermelon"
RFC_UA_PUBLIC = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
RFC_UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
RFC_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
RFC_AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
RFC_SALT = "DGv6ra1nlYgDCS1FRnbzlw"
RFC_BODY = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6T"
    "lzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)


def test_encryption_reproduces_rfc_8291s_example() -> None:
    sender = ec.derive_private_key(int.from_bytes(b64url_decode(RFC_AS_PRIVATE)), ec.SECP256R1())
    body = encrypt(
        RFC_PLAINTEXT,
        b64url_decode(RFC_UA_PUBLIC),
        b64url_decode(RFC_AUTH),
        salt=b64url_decode(RFC_SALT),
        private_key=sender,
    )
    assert b64url(body) == RFC_BODY


def test_the_standins_decryption_opens_the_rfc_example() -> None:
    """The stand-in's browser side is checked on the same example, so it cannot agree with a
    wrong adapter by sharing its mistake."""
    from tests.gateway_standin import _decrypt

    browser = ec.derive_private_key(int.from_bytes(b64url_decode(RFC_UA_PRIVATE)), ec.SECP256R1())
    assert _decrypt(b64url_decode(RFC_BODY), browser, b64url_decode(RFC_AUTH)) == RFC_PLAINTEXT


def test_each_message_is_encrypted_afresh() -> None:
    key = b64url_decode(RFC_UA_PUBLIC)
    auth = b64url_decode(RFC_AUTH)
    assert encrypt(b"same", key, auth) != encrypt(b"same", key, auth)  # new salt and sender key


# -- the VAPID key -----------------------------------------------------------------------------


def test_the_vapid_key_is_made_once_and_only_its_owner_may_read_it(tmp_path: Path) -> None:
    path = vapid_key_path(tmp_path)
    first = VapidKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = VapidKey.load_or_create(path)
    assert again.application_server_key == first.application_server_key
    assert len(b64url_decode(first.application_server_key)) == 65


def test_a_vapid_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = vapid_key_path(tmp_path)
    VapidKey.load_or_create(path)
    os.chmod(path, 0o644)
    with pytest.raises(ChannelError, match="chmod 600"):
        VapidKey.load_or_create(path)


def test_a_file_that_is_not_a_key_is_named(tmp_path: Path) -> None:
    path = vapid_key_path(tmp_path)
    path.write_text("not a key")
    path.chmod(0o600)
    with pytest.raises(ChannelError, match="not a PEM private key"):
        VapidKey.load_or_create(path)


def test_a_push_signed_by_another_key_is_rejected_for_that_subscription(
    standin: Standin, tmp_path: Path
) -> None:
    """The subscription was made for the shop's key (applicationServerKey); the push service refuses
    a push signed with another key (403): that address is unusable, the channel is not."""
    shop = VapidKey.load_or_create(tmp_path / "shop.pem")
    other = open_web_push(tmp_path / "other.pem", subject=SUBJECT)
    subscription = standin.subscribe(application_server_key=shop.application_server_key)
    refused = other.send(message("web_push", "c1.p1.s1", subscription))
    assert refused.outcome == "rejected" and "HTTP 403" in (refused.reason or "")
    assert other.send(message("web_push", "c1.p2.s1", standin.subscribe())).outcome == "sent"
    right = open_web_push(tmp_path / "shop.pem", subject=SUBJECT)
    assert right.send(message("web_push", "c1.p1.s1", subscription)).outcome == "sent"
    assert [r.key for r in standin.web_push.received()] == ["c1.p2.s1", "c1.p1.s1"]
    other.close()
    right.close()


# -- what the browser gets ---------------------------------------------------------------------


def test_the_decrypted_payload_carries_the_key_as_tag_title_link_and_image(
    channel: WebPush, standin: Standin
) -> None:
    receipt = channel.send(
        Message(
            key="c1.p1.s1",
            format="web_push",
            to=standin.subscribe(),
            text="(광고) 장바구니에 담은 코트가 아직 기다려요",
            subject="쇼핑몰",
            link_url="https://shop.example/m/c/tok",
            image_url="https://shop.example/coat.jpg",
        )
    )
    assert receipt.outcome == "sent"
    assert receipt.provider_id and receipt.provider_id.startswith(standin.base_url)
    request = standin.web_push.requests[-1]
    assert request["payload"] == {
        "key": "c1.p1.s1",
        "tag": "c1.p1.s1",
        "title": "쇼핑몰",
        "body": "(광고) 장바구니에 담은 코트가 아직 기다려요",
        "url": "https://shop.example/m/c/tok",
        "image": "https://shop.example/coat.jpg",
    }
    headers = request["headers"]
    assert headers["ttl"] == "86400" and headers["urgency"] == "normal"
    assert len(headers["topic"]) == 32  # the same key always makes the same topic
    channel.send(message("web_push", "c1.p1.s1", standin.subscribe()))
    assert standin.web_push.requests[-1]["headers"]["topic"] == headers["topic"]


def test_one_token_per_push_service_until_it_nears_expiry(standin: Standin, tmp_path: Path) -> None:
    clock = FixedClock(datetime.now(UTC))
    push = open_web_push(tmp_path / "k.pem", subject=SUBJECT, clock=clock)
    for i in range(3):
        push.send(message("web_push", f"c1.p{i}.s1", standin.subscribe()))
    tokens = [r["headers"]["authorization"] for r in standin.web_push.requests]
    assert len(set(tokens)) == 1
    clock.advance(timedelta(hours=11, minutes=30))  # within the last hour of the 12-hour token
    push.send(message("web_push", "c1.p9.s1", standin.subscribe()))
    assert standin.web_push.requests[-1]["headers"]["authorization"] != tokens[0]
    push.close()


def test_an_expired_token_is_refused_by_the_service(standin: Standin, tmp_path: Path) -> None:
    """The stand-in really checks the expiry: a token made by a clock a day behind fails."""
    clock = FixedClock(datetime.now(UTC) - timedelta(days=1))
    push = open_web_push(tmp_path / "k.pem", subject=SUBJECT, clock=clock)
    with pytest.raises(ChannelError, match="HTTP 401"):
        push.send(message("web_push", "c1.p1.s1", standin.subscribe()))
    push.close()


# -- what cannot go -----------------------------------------------------------------------------


def test_a_gone_subscription_is_rejected_for_good(channel: WebPush, standin: Standin) -> None:
    subscription = standin.subscribe()
    standin.unsubscribe(subscription)
    receipt = channel.send(message("web_push", "c1.p1.s1", subscription))
    assert receipt.outcome == "rejected" and "gone (HTTP 410)" in (receipt.reason or "")


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("kim@shop.example", "not a push subscription"),
        ('{"endpoint": "https://push.example/1"}', "keys"),
        ('{"endpoint": "https://push.example/1", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}', "P-256"),
        ('{"endpoint": "http://push.example/1", "keys": {"p256dh": "x", "auth": "y"}}', "base64url"),
    ],
)
def test_an_address_that_is_not_a_subscription_is_rejected_unsent(
    channel: WebPush, standin: Standin, to: str, reason: str
) -> None:
    receipt = channel.send(message("web_push", "c1.p1.s1", to))
    assert receipt.outcome == "rejected" and reason in (receipt.reason or "")
    assert standin.web_push.requests == []


def test_a_plain_http_endpoint_elsewhere_is_rejected(channel: WebPush, standin: Standin) -> None:
    real = orjson.loads(standin.subscribe())
    real["endpoint"] = "http://push.example/s1"
    receipt = channel.send(message("web_push", "c1.p1.s1", orjson.dumps(real).decode()))
    assert receipt.outcome == "rejected" and "https://" in (receipt.reason or "")


def test_a_payload_too_big_for_one_record_is_rejected(channel: WebPush, standin: Standin) -> None:
    receipt = channel.send(message("web_push", "c1.p1.s1", standin.subscribe(), text="가" * 1400))
    assert receipt.outcome == "rejected" and str(MAX_PLAINTEXT) in (receipt.reason or "")
    assert standin.web_push.requests == []


def test_429_and_server_errors_are_retries(channel: WebPush, standin: Standin) -> None:
    subscription = standin.subscribe()
    standin.web_push.answer_next(503, retry_after="30")
    receipt = channel.send(message("web_push", "c1.p1.s1", subscription))
    assert (receipt.outcome, receipt.retry_after_s) == ("retry", 30.0)
    assert channel.send(message("web_push", "c1.p1.s1", subscription)).outcome == "sent"
    standin.web_push.answer_next(429, retry_after="0")
    assert channel.send(message("web_push", "c1.p2.s1", subscription)).outcome == "retry"


def test_a_cut_connection_is_unknown(channel: WebPush, standin: Standin) -> None:
    from shopmind.activation import HandOverUnknownError

    standin.web_push.cut_next()
    with pytest.raises(HandOverUnknownError):
        channel.send(message("web_push", "c1.p1.s1", standin.subscribe()))


def test_a_bad_subject_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match="mailto:"):
        open_web_push(tmp_path / "k.pem", subject="ops@shop.example")


def test_a_subscription_parses_as_browsers_give_it(standin: Standin) -> None:
    parsed = Subscription.parse(standin.subscribe())
    assert parsed.endpoint.startswith(standin.base_url + "/push/")
    assert len(parsed.p256dh) == 65 and len(parsed.auth) == 16


def test_processes_making_the_key_at_once_all_get_the_same_one(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "keys" / "vapid.pem"
    keys: list[str] = []
    threads = [
        threading.Thread(target=lambda: keys.append(VapidKey.load_or_create(path).application_server_key))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in path.parent.iterdir()] == ["vapid.pem"]  # no half-written leftovers


@settings(max_examples=60, deadline=None, derandomize=True)
@given(payload=st.binary(max_size=MAX_PLAINTEXT))
def test_any_payload_that_fits_one_record_opens_in_the_browser(payload: bytes) -> None:
    """Round trip through the stand-in's independent decryption, up to the largest payload."""
    from tests.gateway_standin import _decrypt

    browser = ec.derive_private_key(int.from_bytes(b64url_decode(RFC_UA_PRIVATE)), ec.SECP256R1())
    auth = b64url_decode(RFC_AUTH)
    body = encrypt(payload, b64url_decode(RFC_UA_PUBLIC), auth)
    assert len(body) <= 4096  # what every push service must take (RFC 8030 §7.2)
    assert _decrypt(body, browser, auth) == payload


def test_one_byte_over_the_record_is_refused_by_the_encryption() -> None:
    with pytest.raises(ValueError, match=str(MAX_PLAINTEXT)):
        encrypt(b"x" * (MAX_PLAINTEXT + 1), b64url_decode(RFC_UA_PUBLIC), b64url_decode(RFC_AUTH))


def test_over_https_with_the_push_services_ca(tmp_path: Path) -> None:
    server = Standin(tls_dir=tmp_path)
    try:
        push = open_web_push(tmp_path / "k.pem", subject=SUBJECT, verify=str(server.ca_file))
        subscription = server.subscribe()
        assert orjson.loads(subscription)["endpoint"].startswith("https://127.0.0.1:")
        assert push.send(message("web_push", "c1.p1.s1", subscription)).outcome == "sent"
        assert [r.key for r in server.web_push.received()] == ["c1.p1.s1"]
        push.close()
    finally:
        server.close()


def test_a_push_service_asking_to_wait_holds_only_its_own_subscribers(
    channel: WebPush, standin: Standin
) -> None:
    other = Standin()  # another push service (another origin)
    try:
        standin.web_push.answer_next(429, retry_after="60")
        waiting = channel.send(message("web_push", "c1.p1.s1", standin.subscribe()))
        assert (waiting.outcome, waiting.retry_after_s) == ("retry", 60.0)
        held = channel.send(message("web_push", "c1.p2.s1", standin.subscribe()))
        assert held.outcome == "retry" and len(standin.web_push.requests) == 1  # not asked again
        assert channel.send(message("web_push", "c1.p3.s1", other.subscribe())).outcome == "sent"
    finally:
        other.close()
