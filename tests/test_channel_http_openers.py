"""The HTTP channels opened as channels.toml names them (the openers the channel registry calls by
scheme), sending to the local stand-in; and, once the registry is merged, through ``open_channel``."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shopmind.activation import AppPush, ChannelError, HttpGateway, Sender, WebPush
from shopmind.activation._http_openers import open_https, open_webpush
from shopmind.core import Clock, SystemClock
from tests.channel_contract import message
from tests.gateway_standin import Standin

SENDER = Sender(
    "봄날상점", "02-1234-5678", "080-123-4567", "봄날상점 <news@shop.example>", "0212345678", "봄날상점"
)
_FORMATS = {"sms": {"sms", "lms", "mms"}, "kakao": {"alimtalk", "brand"}}


@dataclass(frozen=True)
class Context:
    """Shaped as the registry's OpenContext."""

    channel: str
    sender: Sender = SENDER
    base: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)

    @property
    def formats(self) -> frozenset[str]:
        return frozenset(_FORMATS.get(self.channel, {self.channel}))


def test_sms_and_kakao_open_the_gateway_with_the_senders_number_and_the_options(standin: Standin) -> None:
    sms = open_https(standin.gateway_url, Context("sms", options={"api_key": standin.api_key, "rate": 50}))
    assert isinstance(sms, HttpGateway)
    assert sms.formats == {"sms", "lms", "mms"} and sms.from_number == "0212345678"
    assert sms.send(message("sms", "c1.p1.s1", "01012345678")).outcome == "sent"
    kakao = open_https(
        standin.gateway_url.replace("http://", f"http://{standin.api_key}@"),
        Context("kakao", options={"sender_key": "KAKAO-1"}),
    )
    assert kakao.formats == {"alimtalk", "brand"}
    assert kakao.send(message("brand", "c1.p2.s1", "01012345678")).outcome == "sent"
    assert [r.key for r in standin.gateway.received()] == ["c1.p1.s1", "c1.p2.s1"]
    sms.close()
    kakao.close()


def test_kakao_without_its_sender_key_says_so(standin: Standin) -> None:
    with pytest.raises(ChannelError, match="Kakao sender key"):
        open_https(standin.gateway_url, Context("kakao", options={"api_key": "k"}))


def test_an_unknown_option_is_named(standin: Standin) -> None:
    with pytest.raises(ChannelError, match="unknown option ratelimit"):
        open_https(standin.gateway_url, Context("sms", options={"api_key": "k", "ratelimit": 5}))


def test_app_push_takes_the_shops_name_as_the_title(standin: Standin) -> None:
    push = open_https(standin.app_push_url, Context("app_push", options={"api_key": standin.push_token}))
    assert isinstance(push, AppPush) and push.default_title == "봄날상점"
    assert push.send(message("app_push", "c1.p1.s1", "token-1")).outcome == "sent"
    assert standin.app_push.received()[0].subject == "봄날상점"
    push.close()


def test_https_for_e_mail_or_web_push_points_to_the_right_scheme() -> None:
    with pytest.raises(ChannelError, match="smtp://"):
        open_https("https://k@mail.example/", Context("email"))
    with pytest.raises(ChannelError, match="webpush:"):
        open_https("https://push.example/", Context("web_push"))


def test_webpush_makes_the_key_in_the_workspace_and_signs_with_the_senders_address(
    standin: Standin, tmp_path: Path
) -> None:
    push = open_webpush("webpush:vapid_private_key.pem", Context("web_push", base=tmp_path))
    assert isinstance(push, WebPush) and push.subject == "mailto:news@shop.example"
    key = tmp_path / "vapid_private_key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert push.send(message("web_push", "c1.p1.s1", standin.subscribe())).outcome == "sent"
    push.close()
    named = open_webpush(
        "webpush:keys/v.pem?subject=https://shop.example/contact",
        Context("web_push", base=tmp_path, options={"ttl": 600}),
    )
    assert isinstance(named, WebPush)
    assert (named.subject, named.ttl_s) == ("https://shop.example/contact", 600)
    named.close()


def test_webpush_without_a_contact_says_what_to_add(tmp_path: Path) -> None:
    no_mail = Sender("봄날상점", "02-1234-5678")
    with pytest.raises(ChannelError, match="subject"):
        open_webpush("webpush:v.pem", Context("web_push", sender=no_mail, base=tmp_path))
    with pytest.raises(ChannelError, match="web_push channel only"):
        open_webpush("webpush:v.pem", Context("sms", base=tmp_path))


def test_the_registry_opens_the_http_schemes(standin: Standin, tmp_path: Path) -> None:
    """Through channels.toml's registry (activation._channel_config, written beside this work):
    https → the gateway for sms, webpush → web push."""
    config = pytest.importorskip("shopmind.activation._channel_config")
    missing = [s for s in ("http", "https", "webpush") if s not in config._OPENERS]
    if missing:
        pytest.fail(
            f"register the HTTP channels' schemes {missing} in _channel_config._OPENERS: "
            '"http"/"https": "shopmind.activation._http_openers:open_https", '
            '"webpush": "shopmind.activation._http_openers:open_webpush"'
        )
    sms = config.open_channel(
        standin.gateway_url.replace("http://", "http://${GATEWAY_KEY}@"),
        channel="sms",
        sender=SENDER,
        base=tmp_path,
        env={"GATEWAY_KEY": standin.api_key},
    )
    assert isinstance(sms, HttpGateway)
    assert sms.send(message("lms", "c1.p1.s1", "01012345678")).outcome == "sent"
    sms.close()
    push = config.open_channel("webpush:vapid.pem", channel="web_push", sender=SENDER, base=tmp_path)
    assert isinstance(push, WebPush)
    push.close()


def test_a_ca_file_is_found_in_the_workspace(tmp_path: Path) -> None:
    server = Standin(tls_dir=tmp_path)
    try:
        assert server.ca_file is not None and server.ca_file.parent == tmp_path
        sms = open_https(
            server.gateway_url,
            Context("sms", base=tmp_path, options={"api_key": server.api_key, "ca_file": "ca.pem"}),
        )
        assert sms.send(message("sms", "c1.p1.s1", "01012345678")).outcome == "sent"
        sms.close()
    finally:
        server.close()
