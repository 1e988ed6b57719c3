"""The contract every channel adapter passes (DESIGN §3.5): subclass :class:`ChannelContract` in
the adapter's test module and give the fixtures

- ``channel``: the adapter, connected to a real provider stand-in (aiosmtpd, a local HTTP server,
  a file);
- ``provider``: what that stand-in received, as ``provider.received() -> list[Received]``;
- ``address``: a function ``address(format) -> str`` giving a valid address for a format;

and set ``formats`` (the formats under test) and ``dedupes`` (whether the provider takes a key
once, as the HTTP gateways do, or again, as an SMTP server does — the reader then recognises the
repeat by its Message-ID)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import pytest

from shopmind.activation import ChannelError, Message


@dataclass(frozen=True)
class Received:
    """One message as the provider got it: the key it carried (Message-ID, request key)."""

    key: str
    to: str
    text: str
    subject: str | None = None


class Provider(Protocol):
    def received(self) -> list[Received]: ...


_SUBJECTS = {"email", "lms", "mms"}


def message(
    fmt: str, key: str, to: str, text: str = "(광고) 봄 신상품이 도착했어요", **extra: Any
) -> Message:
    subject = "봄맞이 소식" if fmt in _SUBJECTS else None
    kind = "informational" if fmt == "alimtalk" else "advertising"
    template_code = "ORDER_SHIPPED_01" if fmt == "alimtalk" else None
    if fmt == "alimtalk":
        text = "주문하신 상품이 발송되었습니다."
    if fmt == "mms":
        extra.setdefault("image_url", "https://shop.example/spring.jpg")
    return Message(
        key=key,
        format=fmt,
        to=to,
        text=text,
        kind=kind,
        subject=subject,
        template_code=template_code,
        **extra,
    )


class ChannelContract:
    formats: ClassVar[tuple[str, ...]] = ()
    dedupes: ClassVar[bool] = False

    def _keys(self, provider: Provider) -> list[str]:
        return [r.key for r in provider.received()]

    def test_a_sent_message_reaches_the_provider_with_its_key(
        self, channel: Any, provider: Provider, address: Callable[[str], str]
    ) -> None:
        for i, fmt in enumerate(self.formats):
            sent = message(fmt, f"c1.p{i}.s1", address(fmt))
            receipt = channel.send(sent)
            assert receipt.key == sent.key
            assert receipt.outcome == "sent", receipt
            got = [r for r in provider.received() if r.key == sent.key]
            assert len(got) == 1, (fmt, provider.received())
            assert sent.text in got[0].text  # Korean arrives intact
            assert got[0].to == sent.to

    def test_a_resent_key_is_taken_once_or_recognisable(
        self, channel: Any, provider: Provider, address: Callable[[str], str]
    ) -> None:
        fmt = self.formats[0]
        first = channel.send(message(fmt, "c1.again.s1", address(fmt)))
        second = channel.send(message(fmt, "c1.again.s1", address(fmt)))
        assert first.outcome == "sent" and second.outcome == "sent"
        keys = self._keys(provider)
        assert set(keys) == {"c1.again.s1"}
        if self.dedupes:
            assert len(keys) == 1 and second.duplicate
        else:
            assert len(keys) == 2  # both carry the same key: the reader sees one

    def test_many_messages_each_arrive_once(
        self, channel: Any, provider: Provider, address: Callable[[str], str]
    ) -> None:
        fmt = self.formats[0]
        keys = [f"c2.p{i}.s1" for i in range(25)]
        receipts = [channel.send(message(fmt, k, address(fmt))) for k in keys]
        assert [r.outcome for r in receipts] == ["sent"] * 25
        assert sorted(self._keys(provider)) == sorted(keys)

    def test_a_format_it_does_not_carry_is_refused_before_anything_leaves(
        self, channel: Any, provider: Provider, address: Callable[[str], str]
    ) -> None:
        foreign = next(
            f for f in ("email", "sms", "alimtalk", "web_push", "app_push") if f not in channel.formats
        )
        with pytest.raises(ChannelError):
            channel.send(message(foreign, "c3.p1.s1", address(self.formats[0])))
        assert provider.received() == []

    def test_an_empty_address_is_rejected_with_a_reason(
        self, channel: Any, provider: Provider, address: Callable[[str], str]
    ) -> None:
        receipt = channel.send(message(self.formats[0], "c4.p1.s1", ""))
        assert receipt.outcome == "rejected"
        assert receipt.reason
        assert provider.received() == []

    def test_close_twice_is_harmless(self, channel: Any) -> None:
        channel.close()
        channel.close()
