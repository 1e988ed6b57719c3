"""The in-memory test double passes the channel contract (so the contract itself is exercised)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shopmind.activation import MemoryChannel
from tests.channel_contract import ChannelContract, Received


class _Provider:
    def __init__(self, channel: MemoryChannel) -> None:
        self.channel = channel

    def received(self) -> list[Received]:
        return [Received(m.key, m.to, m.text, m.subject) for m in self.channel.sent]


@pytest.fixture
def channel() -> MemoryChannel:
    return MemoryChannel(formats=frozenset({"email", "sms", "lms"}), dedupe=True)


@pytest.fixture
def provider(channel: MemoryChannel) -> _Provider:
    return _Provider(channel)


@pytest.fixture
def address() -> Callable[[str], str]:
    return lambda fmt: "kim@shop.example" if fmt == "email" else "01012345678"


class TestMemoryChannel(ChannelContract):
    formats = ("email", "sms", "lms")
    dedupes = True
