"""The SMTP channel against a real SMTP server on loopback (aiosmtpd, tests/smtp_server.py): the
channel contract over STARTTLS + AUTH and over TLS from the start (opened from a URL), then what
only e-mail does — one connection reused and reopened when the server drops it, the Message-ID
carrying the key, RFC 8058 one-click unsubscribe headers, Korean subject and body, text + HTML —
and how each server answer becomes a receipt or an error."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email.header import decode_header
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.activation import (
    ChannelError,
    HandOverUnknownError,
    Message,
    Sender,
    SmtpChannel,
    key_from_message_id,
    message_id,
    open_channel,
)
from tests.channel_contract import ChannelContract
from tests.smtp_server import Certificates, SmtpServer, free_port, make_certificates

USER, PASSWORD = "news@shop.example", "s3cret:@/비밀"
FROM = "봄날상점 <news@shop.example>"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def address() -> Callable[[str], str]:
    return lambda fmt: "kim@customer.example"


def _starttls_server(certificates: Certificates) -> SmtpServer:
    return SmtpServer(tls="starttls", certificates=certificates, login=(USER, PASSWORD))


def _channel(server: SmtpServer, certificates: Certificates, **kw: object) -> SmtpChannel:
    options: dict[str, object] = {
        "from_address": FROM,
        "security": "starttls",
        "username": USER,
        "password": PASSWORD,
        "tls": certificates.client_context(),
        "timeout": 10.0,
    }
    options.update(kw)
    return SmtpChannel(server.host, server.port, **options)  # type: ignore[arg-type]


def mail(key: str, to: str = "kim@customer.example", **kw: object) -> Message:
    fields: dict[str, object] = {"subject": "(광고) 봄맞이 소식", "text": "(광고) 봄 신상품이 도착했어요"}
    fields.update(kw)
    return Message(key=key, format="email", to=to, **fields)  # type: ignore[arg-type]


class TestSmtpStartTlsWithLogin(ChannelContract):
    formats = ("email",)
    dedupes = False

    @pytest.fixture
    def server(self, certificates: Certificates) -> Iterator[SmtpServer]:
        with _starttls_server(certificates) as server:
            yield server

    @pytest.fixture
    def channel(self, server: SmtpServer, certificates: Certificates) -> Iterator[SmtpChannel]:
        channel = _channel(server, certificates)
        yield channel
        channel.close()

    @pytest.fixture
    def provider(self, server: SmtpServer) -> SmtpServer:
        return server


class TestSmtpsOpenedFromItsUrl(ChannelContract):
    """TLS from the first byte, the password read from the environment into the URL."""

    formats = ("email",)
    dedupes = False

    @pytest.fixture
    def server(self, certificates: Certificates) -> Iterator[SmtpServer]:
        with SmtpServer(tls="ssl", certificates=certificates, login=(USER, PASSWORD)) as server:
            yield server

    @pytest.fixture
    def channel(self, server: SmtpServer, certificates: Certificates) -> Iterator[object]:
        url = f"smtps://news%40shop.example:${{SMTP_PASSWORD}}@{server.host}:{server.port}?cafile={certificates.ca}"
        sender = Sender("봄날상점", "02-1234-5678", email_from=FROM)
        channel = open_channel(url, channel="email", sender=sender, env={"SMTP_PASSWORD": PASSWORD})
        assert isinstance(channel, SmtpChannel) and channel.security == "ssl"
        yield channel
        channel.close()

    @pytest.fixture
    def provider(self, server: SmtpServer) -> SmtpServer:
        return server


@pytest.fixture
def server(certificates: Certificates) -> Iterator[SmtpServer]:
    with _starttls_server(certificates) as server:
        yield server


@pytest.fixture
def channel(server: SmtpServer, certificates: Certificates) -> Iterator[SmtpChannel]:
    channel = _channel(server, certificates)
    yield channel
    channel.close()


def test_one_connection_carries_many_messages(server: SmtpServer, channel: SmtpChannel) -> None:
    receipts = [channel.send(mail(f"c1.p{i}.s1")) for i in range(12)]
    assert {r.outcome for r in receipts} == {"sent"}
    assert server.keys() == [f"c1.p{i}.s1" for i in range(12)] == [r.key for r in server.received()]
    assert server.connections == 1 and channel.connections == 1
    assert server.logins == [USER]  # logged in once, not per message


def test_a_connection_the_server_dropped_is_reopened_and_nothing_is_lost(
    server: SmtpServer, channel: SmtpChannel
) -> None:
    assert channel.send(mail("c1.p1.s1")).outcome == "sent"
    assert server.drop_connections() == 1
    receipt = channel.send(mail("c1.p2.s1"))
    assert receipt.outcome == "sent", receipt
    assert [r.key for r in server.received()] == ["c1.p1.s1", "c1.p2.s1"]
    assert channel.connections == 2 and server.connections == 2


def test_a_refused_login_is_a_channel_error_saying_what_to_fix(
    server: SmtpServer, certificates: Certificates
) -> None:
    channel = _channel(server, certificates, password="wrong")
    with pytest.raises(ChannelError) as caught:
        channel.send(mail("c1.p1.s1"))
    said = str(caught.value)
    assert "refused the login" in said and "password" in said and "channels.toml" in said
    assert "wrong" not in said  # the password is never repeated
    assert server.received() == []


def test_a_permanent_refusal_is_a_rejected_receipt_and_the_next_message_goes(
    server: SmtpServer, channel: SmtpChannel
) -> None:
    server.refuse["nobody@customer.example"] = "550 5.1.1 no such user"
    refused = channel.send(mail("c1.p1.s1", to="nobody@customer.example"))
    assert refused.outcome == "rejected"
    assert refused.reason is not None and "550" in refused.reason and "no such user" in refused.reason
    assert channel.send(mail("c1.p2.s1")).outcome == "sent"  # same connection, transaction reset
    assert [r.key for r in server.received()] == ["c1.p2.s1"]
    assert channel.connections == 1


def test_a_content_refusal_after_data_is_rejected(server: SmtpServer, channel: SmtpChannel) -> None:
    server.data_replies.append("554 5.7.1 message refused as spam")
    receipt = channel.send(mail("c1.p1.s1"))
    assert receipt.outcome == "rejected" and receipt.reason is not None and "554" in receipt.reason


def test_a_temporary_refusal_is_a_retry_receipt(server: SmtpServer, channel: SmtpChannel) -> None:
    server.data_replies.append("451 4.3.0 try again later")
    receipt = channel.send(mail("c1.p1.s1"))
    assert receipt.outcome == "retry" and receipt.reason is not None and "451" in receipt.reason
    server.refuse["busy@customer.example"] = "452 4.2.2 mailbox full"
    assert channel.send(mail("c1.p2.s1", to="busy@customer.example")).outcome == "retry"
    assert channel.send(mail("c1.p1.s1")).outcome == "sent"
    assert [r.key for r in server.received()] == ["c1.p1.s1"]


def test_a_connection_cut_while_the_message_is_handed_over_is_unknown(
    server: SmtpServer, channel: SmtpChannel
) -> None:
    server.cut_next_data = True
    with pytest.raises(HandOverUnknownError):
        channel.send(mail("c1.p1.s1"))
    assert [r.key for r in server.received()] == ["c1.p1.s1"]  # it did arrive
    # the sender resends it with the same key: the server has two, with one Message-ID
    assert channel.send(mail("c1.p1.s1")).outcome == "sent"
    ids = [m.parsed["Message-ID"] for m in server.mails]
    assert ids == ["<c1.p1.s1@shop.example>"] * 2
    assert channel.connections == 2


def test_an_unreachable_server_is_a_retry_receipt(certificates: Certificates) -> None:
    channel = SmtpChannel("127.0.0.1", free_port(), from_address=FROM, security="none", timeout=5)
    receipt = channel.send(mail("c1.p1.s1"))
    assert receipt.outcome == "retry" and receipt.reason and "cannot connect" in receipt.reason
    channel.close()


def test_an_untrusted_certificate_is_a_channel_error_naming_cafile(
    server: SmtpServer, certificates: Certificates
) -> None:
    import ssl

    channel = _channel(server, certificates, tls=ssl.create_default_context())  # our CA not trusted
    with pytest.raises(ChannelError, match="cafile"):
        channel.send(mail("c1.p1.s1"))
    assert server.received() == []


def test_a_server_without_starttls_is_refused_before_the_password_leaves(
    certificates: Certificates,
) -> None:
    with SmtpServer() as plain:
        channel = _channel(plain, certificates)
        with pytest.raises(ChannelError, match="STARTTLS"):
            channel.send(mail("c1.p1.s1"))
        assert plain.received() == [] and plain.logins == []


def test_the_mail_as_it_arrives(server: SmtpServer, channel: SmtpChannel) -> None:
    html = "<p>(광고) 봄 신상품이 <b>도착</b>했어요</p>"
    text = (
        "(광고) 봄 신상품이 도착했어요\n.점으로 시작하는 줄도 그대로\n수신거부: https://shop.example/m/u/tok"
    )
    receipt = channel.send(
        mail("c9.p1.s1", text=text, html=html, unsubscribe_url="https://shop.example/m/u/tok")
    )
    assert receipt.provider_id == "<c9.p1.s1@shop.example>"
    (got,) = server.mails
    assert all(b < 128 for b in got.raw)  # 7-bit on the wire: no server needs 8BITMIME
    raw_subject = re.search(rb"^Subject: (.*)$", got.raw, re.M)
    assert raw_subject and raw_subject.group(1).startswith(b"=?utf-8?")  # RFC 2047
    parsed = got.parsed
    assert (
        "".join(
            p.decode(c or "ascii") if isinstance(p, bytes) else p
            for p, c in decode_header(str(parsed["Subject"]))
        )
        == "(광고) 봄맞이 소식"
    )
    assert parsed["From"].addresses[0].display_name == "봄날상점"
    assert got.mail_from == "news@shop.example"
    assert parsed["Message-ID"] == "<c9.p1.s1@shop.example>"
    assert parsed["List-Unsubscribe"] == "<https://shop.example/m/u/tok>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    plain, rich = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and plain.get_content().replace("\r\n", "\n").rstrip("\n") == text
    assert rich is not None and rich.get_content().replace("\r\n", "\n").rstrip("\n") == html
    assert parsed["Date"] is not None


def test_a_message_without_unsubscribe_or_html_has_neither(server: SmtpServer, channel: SmtpChannel) -> None:
    channel.send(mail("c9.p2.s1", kind="informational"))
    parsed = server.mails[0].parsed
    assert parsed["List-Unsubscribe"] is None and parsed["List-Unsubscribe-Post"] is None
    assert parsed.get_content_type() == "text/plain"


def test_an_address_that_is_not_one_is_rejected_before_anything_leaves(
    server: SmtpServer, channel: SmtpChannel
) -> None:
    for to in ("kim", "kim@customer.example\r\nBcc: all@x.example", "a@b.example, c@d.example"):
        receipt = channel.send(mail("c1.p1.s1", to=to))
        assert receipt.outcome == "rejected" and receipt.reason and "not an e-mail address" in receipt.reason
    assert server.received() == [] and server.connections == 0


@pytest.mark.parametrize(
    "key", ["c1.p1.s1", "camp 7|고객 12|step-1", "a@b<c>", ".lead..dots.", "100%", "x" * 3]
)
def test_the_message_id_carries_any_key_back_exactly(key: str) -> None:
    made = message_id(key, "shop.example")
    assert re.fullmatch(
        r"<[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*@shop\.example>", made
    )
    assert key_from_message_id(made) == key


def test_a_sender_without_an_address_is_refused_with_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match="email_from"):
        SmtpChannel("127.0.0.1", 25, from_address="봄날상점")


def _subject(parsed: object) -> str:
    return str(parsed["Subject"])  # type: ignore[index]


@pytest.mark.parametrize("subject", ["봄\r\nBcc: all@x.example", "Spring\r\nBcc: all@x.example"])
def test_a_line_break_in_the_subject_cannot_add_a_header(
    server: SmtpServer, channel: SmtpChannel, subject: str
) -> None:
    assert channel.send(mail("c1.p1.s1", subject=subject)).outcome == "sent"
    parsed = server.mails[0].parsed
    assert parsed["Bcc"] is None
    assert _subject(parsed) == subject.replace("\r\n", " ")


def test_a_long_korean_subject_is_folded_and_reads_back_whole(
    server: SmtpServer, channel: SmtpChannel
) -> None:
    subject = "(광고) " + "김민지 고객님께만 드리는 봄맞이 특별 혜택, " * 6
    channel.send(mail("c1.p1.s1", subject=subject, html="<p>봄</p>"))
    raw = server.mails[0].raw
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78  # folded, as RFC 5322 recommends
    assert _subject(server.mails[0].parsed) == subject


def test_an_unsubscribe_link_that_is_not_a_url_is_rejected(server: SmtpServer, channel: SmtpChannel) -> None:
    receipt = channel.send(mail("c1.p1.s1", unsubscribe_url="https://shop.example/u> \r\nBcc: x"))
    assert receipt.outcome == "rejected" and receipt.reason and "not a URL" in receipt.reason
    assert server.connections == 0


def test_a_server_closing_with_421_before_the_message_gets_it_on_a_new_connection(
    server: SmtpServer, channel: SmtpChannel
) -> None:
    assert channel.send(mail("c1.p1.s1")).outcome == "sent"
    server.mail_replies.append("421 4.4.2 timeout exceeded")
    assert channel.send(mail("c1.p2.s1")).outcome == "sent"
    assert [r.key for r in server.received()] == ["c1.p1.s1", "c1.p2.s1"]
    assert channel.connections == 2


def test_a_421_on_a_fresh_connection_is_a_retry(server: SmtpServer, channel: SmtpChannel) -> None:
    server.mail_replies.extend(["421 4.3.2 shutting down"] * 2)
    receipt = channel.send(mail("c1.p1.s1"))
    assert receipt.outcome == "retry" and server.received() == []


def test_a_server_gone_quiet_after_the_content_is_unknown_not_a_hang(
    server: SmtpServer, certificates: Certificates
) -> None:
    channel = _channel(server, certificates, timeout=0.5)
    server.stall_next_data_s = 3.0
    with pytest.raises(HandOverUnknownError):
        channel.send(mail("c1.p1.s1"))
    assert channel.send(mail("c1.p2.s1")).outcome == "sent"  # on a new connection
    channel.close()


def test_a_sender_the_server_refuses_is_a_channel_error_not_a_rejected_message(
    server: SmtpServer, channel: SmtpChannel
) -> None:
    server.mail_replies.append("553 5.7.1 sender address not owned by user")
    with pytest.raises(ChannelError, match="email_from"):
        channel.send(mail("c1.p1.s1"))
    server.mail_replies.append("451 4.3.0 sender check unavailable")
    assert channel.send(mail("c1.p1.s1")).outcome == "retry"
    assert channel.send(mail("c1.p1.s1")).outcome == "sent"  # the connection was fine all along
    assert channel.connections == 1


def test_an_international_domain_goes_in_its_ascii_form(server: SmtpServer, channel: SmtpChannel) -> None:
    assert channel.send(mail("c1.p1.s1", to="kim@한국.example")).outcome == "sent"
    (got,) = server.mails
    assert got.rcpt_tos == ("kim@xn--3e0b707e.example",)
    assert all(b < 128 for b in got.raw) and got.parsed["To"] == "kim@xn--3e0b707e.example"


_READABLE = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85")


@given(key=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_any_key_makes_a_valid_message_id_that_gives_it_back(key: str) -> None:
    made = message_id(key, "shop.example")
    assert re.fullmatch(
        r"<[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*@shop\.example>", made
    )
    assert key_from_message_id(made) == key


@settings(max_examples=150, deadline=None)
@given(
    subject=st.text(_READABLE, min_size=1, max_size=120)
    | st.sampled_from(["=?utf-8?q?x?=", " Spring ", "a" * 1000]),
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=400),
    html=st.none() | st.text(_READABLE, max_size=200),
)
def test_what_is_built_reads_back_as_it_was_written(subject: str, text: str, html: str | None) -> None:
    from email import message_from_bytes, policy

    channel = SmtpChannel("127.0.0.1", 25, from_address=FROM, security="none")
    raw = channel.build(mail("c1.p1.s1", subject=subject, text=text, html=html), "kim@customer.example")
    assert all(b < 128 for b in raw) and max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = message_from_bytes(raw, policy=policy.default)
    assert str(parsed["Subject"]) == subject
    plain = parsed.get_body(("plain",))
    assert plain is not None

    def lines(content: str) -> str:  # the text in canonical form: CRLF, CR and LF are one line break
        return re.sub(r"\r\n|\r", "\n", content)

    assert lines(plain.get_content()) == lines(text)
    if html:
        rich = parsed.get_body(("html",))
        assert rich is not None and lines(rich.get_content()) == lines(html)
