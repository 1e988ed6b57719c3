"""The workspace's channels.toml: sender, costs, channel URLs with secrets from the environment,
the scheme registry, the offline default, and every mistake named by its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopmind.activation import (
    CHANNELS_FILE,
    DEFAULT_COSTS,
    ChannelError,
    Channels,
    ChannelSettings,
    Message,
    OpenContext,
    OutboxFileChannel,
    Receipt,
    Sender,
    SmtpChannel,
    default_channel_config,
    load_channel_config,
    open_channel,
    parse_channel_config,
    read_outbox_file,
    register_scheme,
)
from shopmind.core import InvalidInputError

EXAMPLE = """
[sender]
name = "봄날상점"
contact = "02-1234-5678"
opt_out_phone = "080-123-4567"
email_from = "봄날상점 <news@shop.example>"
sms_number = "0212345678"
kakao_channel = "봄날상점"

[costs]
lms = 27
email = 0

[channels.email]
url = "smtp://news%40shop.example:${SMTP_PASSWORD}@smtp.example.com:587"

[channels.sms]
url = "file:outbox/sms.jsonl"
"""


def test_the_example_configuration() -> None:
    config = parse_channel_config(EXAMPLE)
    assert config.sender == Sender(
        "봄날상점",
        "02-1234-5678",
        opt_out_phone="080-123-4567",
        email_from="봄날상점 <news@shop.example>",
        sms_number="0212345678",
        kakao_channel="봄날상점",
    )
    assert config.cost("lms") == 27 and config.cost("email") == 0
    assert config.cost("sms") == 9.9 and config.cost("alimtalk") == 7.5  # the defaults stay
    assert config.available == ("email", "sms")
    assert config.channels["email"].display_url == "smtp://news%40shop.example:***@smtp.example.com:587"


def test_default_costs_are_krw_per_format() -> None:
    assert dict(DEFAULT_COSTS) == {
        "sms": 9.9,
        "lms": 30.0,
        "mms": 100.0,
        "alimtalk": 7.5,
        "brand": 15.0,
        "email": 0.5,
        "app_push": 0.0,
        "web_push": 0.0,
    }
    with pytest.raises(ChannelError, match="unknown message format"):
        default_channel_config().cost("fax")


def test_every_mistake_is_named_by_its_field() -> None:
    text = """
    [sender]
    name = ""
    phone = "02"

    [costs]
    sms = -1
    fax = 3
    lms = "thirty"

    [channels.email]
    port = 587

    [channels.pager]
    url = "file:x"

    [channels.sms]
    url = "outbox/sms.jsonl"

    [extra]
    """
    with pytest.raises(InvalidInputError) as caught:
        parse_channel_config(text)
    fields = {e.field: e.reason for e in caught.value.errors}
    assert set(fields) == {
        "channels.toml: sender.name",
        "channels.toml: sender.phone",
        "channels.toml: sender.contact",
        "channels.toml: costs.sms",
        "channels.toml: costs.fax",
        "channels.toml: costs.lms",
        "channels.toml: channels.email.url",
        "channels.toml: channels.pager",
        "channels.toml: channels.sms.url",
        "channels.toml: extra",
    }
    assert "required" in fields["channels.toml: sender.contact"]
    assert "≥ 0" in fields["channels.toml: costs.sms"]
    assert "no scheme" in fields["channels.toml: channels.sms.url"]


def test_text_that_is_not_toml_is_named() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_channel_config("[sender\nname=")
    assert caught.value.errors[0].field == "channels.toml"
    assert "not valid TOML" in caught.value.errors[0].reason


def test_a_secret_comes_from_the_environment_percent_encoded_into_the_url() -> None:
    config = parse_channel_config(EXAMPLE)
    channel = config.open("email", env={"SMTP_PASSWORD": "p@ss:w/rd 비밀"})
    assert isinstance(channel, SmtpChannel)
    assert channel.username == "news@shop.example" and channel.host == "smtp.example.com"
    assert channel.port == 587 and channel.security == "starttls"
    assert channel._password == "p@ss:w/rd 비밀"  # the URL parsed back to the exact password
    assert "p@ss" not in repr(channel)


def test_a_missing_environment_variable_names_the_variable_and_the_field() -> None:
    config = parse_channel_config(EXAMPLE)
    with pytest.raises(ChannelError) as caught:
        config.open("email", env={})
    said = str(caught.value)
    assert "SMTP_PASSWORD" in said and "channels.toml: channels.email.url" in said and "export" in said


def test_without_channels_toml_every_channel_writes_to_the_workspace_outbox(tmp_path: Path) -> None:
    config = load_channel_config(tmp_path)
    assert config.available == ("email", "sms", "kakao", "app_push", "web_push")
    channels = Channels(config, tmp_path)
    assert channels.formats == {"email", "sms", "lms", "mms", "alimtalk", "brand", "app_push", "web_push"}
    sent = [
        Message("c1.p1.s1", "email", "kim@customer.example", "(광고) 봄", subject="봄"),
        Message("c1.p2.s1", "lms", "01012345678", "(광고) 봄 신상품", subject="봄"),
        Message(
            "c1.p3.s1", "alimtalk", "01012345678", "주문하신 상품이 발송되었습니다.", kind="informational"
        ),
    ]
    assert [channels.send(m).outcome for m in sent] == ["sent"] * 3
    assert isinstance(channels.channel("sms"), OutboxFileChannel)
    channels.close()
    channels.close()
    outbox = tmp_path / "outbox"
    assert sorted(p.name for p in outbox.iterdir()) == ["email.jsonl", "kakao.jsonl", "sms.jsonl"]
    assert [r["key"] for r in read_outbox_file(outbox / "sms.jsonl")] == ["c1.p2.s1"]


def test_a_workspace_file_is_read_and_only_its_channels_are_available(tmp_path: Path) -> None:
    (tmp_path / CHANNELS_FILE).write_text(EXAMPLE, encoding="utf-8")
    config = load_channel_config(tmp_path)
    assert config.source == CHANNELS_FILE and config.sender.name == "봄날상점"
    channels = Channels(config, tmp_path)
    with pytest.raises(ChannelError, match=r"no kakao channel in channels.toml: add \[channels.kakao\]"):
        channels.send(Message("c1.p1.s1", "brand", "01012345678", "(광고) 봄"))
    with pytest.raises(ChannelError, match="add"):
        config.open("web_push", tmp_path)
    assert channels.send(Message("c1.p1.s1", "sms", "01012345678", "(광고) 봄")).outcome == "sent"
    channels.close()
    assert (tmp_path / "outbox" / "sms.jsonl").exists()


def test_a_scheme_is_added_to_the_registry_and_gets_its_context(tmp_path: Path) -> None:
    seen: list[tuple[str, OpenContext]] = []

    class Gateway:
        formats = frozenset({"sms", "lms"})

        def send(self, message: Message) -> Receipt:
            return Receipt(message.key, "sent")

        def close(self) -> None:
            return None

    def opener(url: str, context: OpenContext) -> Gateway:
        seen.append((url, context))
        return Gateway()

    register_scheme("testgw", opener)
    config = parse_channel_config(
        '[sender]\nname = "봄날상점"\ncontact = "02-1234-5678"\n'
        '[channels.sms]\nurl = "testgw://gw.example/v1?key=${GW_KEY}"\napi_key = "${GW_KEY}"\nrate = 20\n'
    )
    channel = config.open("sms", tmp_path, env={"GW_KEY": "k/1+2"})
    assert isinstance(channel, Gateway)
    ((url, context),) = seen
    assert url == "testgw://gw.example/v1?key=k%2F1%2B2"  # percent-encoded inside the URL
    assert context.options == {"api_key": "k/1+2", "rate": 20}  # as it is in an option
    assert context.channel == "sms" and context.formats == {"sms", "lms", "mms"}
    assert context.base == tmp_path and context.sender.name == "봄날상점"


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ChannelError) as caught:
        open_channel("gopher://x", channel="email", sender=Sender("a", "b"))
    assert (
        "smtp://" in str(caught.value) and "file:," in str(caught.value) and "webpush:" in str(caught.value)
    )
    with pytest.raises(ChannelError, match="unknown channel"):
        open_channel("file:x.jsonl", channel="fax", sender=Sender("a", "b"))


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("smtp://127.0.0.1:587?starttls=maybe", "starttls"),
        ("smtp://127.0.0.1:587?tls=yes", "unknown options"),
        ("smtp://:587", "names no host"),
        ("smtp://127.0.0.1:99999", "Port out of range"),
        ("smtps://127.0.0.1?cafile=/nonexistent.pem", "cafile"),
        ("smtp://user@127.0.0.1", "no password"),
    ],
)
def test_a_bad_smtp_url_says_what_is_wrong(url: str, said: str) -> None:
    sender = Sender("봄날상점", "02-1234-5678", email_from="봄날상점 <news@shop.example>")
    with pytest.raises(ChannelError, match=said):
        open_channel(url, channel="email", sender=sender, env={})


def test_smtp_urls_choose_security_and_port() -> None:
    sender = Sender("봄날상점", "02-1234-5678", email_from="봄날상점 <news@shop.example>")
    cases = {
        "smtp://mail.example": ("starttls", 587),
        "smtp://mail.example?starttls=false": ("none", 25),
        "smtps://mail.example": ("ssl", 465),
        "smtp://mail.example:2525?from=bounce@shop.example": ("starttls", 2525),
    }
    for url, (security, port) in cases.items():
        channel = open_channel(url, channel="email", sender=sender)
        assert isinstance(channel, SmtpChannel)
        assert (channel.security, channel.port) == (security, port), url
    assert channel.envelope_from == "bounce@shop.example"
    with pytest.raises(ChannelError, match="email_from"):
        open_channel("smtp://mail.example", channel="email", sender=Sender("봄날상점", "02-1234-5678"))


def test_display_url_without_password_is_unchanged() -> None:
    assert ChannelSettings("sms", "file:outbox/sms.jsonl").display_url == "file:outbox/sms.jsonl"


def test_a_workspace_sends_its_email_through_the_smtp_server_its_file_names(tmp_path: Path) -> None:
    from tests.smtp_server import SmtpServer

    with SmtpServer() as server:
        (tmp_path / CHANNELS_FILE).write_text(
            '[sender]\nname = "봄날상점"\ncontact = "02-1234-5678"\nemail_from = "봄날상점 <news@shop.example>"\n'
            f'[channels.email]\nurl = "smtp://{server.host}:{server.port}?starttls=false"\n'
            '[channels.sms]\nurl = "file:outbox/sms.jsonl"\n',
            encoding="utf-8",
        )
        channels = Channels(load_channel_config(tmp_path), tmp_path)
        for i in range(3):
            channels.send(
                Message(f"c1.p{i}.s1", "email", f"kim{i}@customer.example", "(광고) 봄", subject="봄")
            )
        channels.send(Message("c1.p9.s1", "sms", "01012345678", "(광고) 봄"))
        channels.close()
        assert server.keys() == ["c1.p0.s1", "c1.p1.s1", "c1.p2.s1"] and server.connections == 1
    assert [r["key"] for r in read_outbox_file(tmp_path / "outbox" / "sms.jsonl")] == ["c1.p9.s1"]


def test_display_url_hides_a_gateways_api_key_in_the_user_part() -> None:
    # for the https gateways and push APIs the URL's user part is the API key itself
    key_only = ChannelSettings("sms", "https://sk_live_4f2a@api.gateway.example/v1/messages?rate=20")
    assert key_only.display_url == "https://***@api.gateway.example/v1/messages?rate=20"
    pair = ChannelSettings("sms", "https://sk_live_4f2a:s3cret@api.gateway.example/v1/messages")
    assert pair.display_url == "https://***:***@api.gateway.example/v1/messages"
    # an SMTP login is an address, not a secret: shown so the operator can tell which account
    smtp = ChannelSettings("email", "smtp://news%40shop.example:pw@smtp.example.com:587")
    assert smtp.display_url == "smtp://news%40shop.example:***@smtp.example.com:587"
