"""A channel that keeps what it is given in memory: the test double that ships beside the port
(unit tests of planning and sending use it; the tests that prove a channel use the real one)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from shopmind.activation._message import FORMATS, ChannelError, Message, Receipt


@dataclass
class MemoryChannel:
    """Takes every message of ``formats``; ``dedupe``: answer a key it has seen as a duplicate
    (as the HTTP gateways do) instead of taking it again (as an SMTP server does)."""

    formats: frozenset[str] = frozenset(FORMATS)
    dedupe: bool = True
    sent: list[Message] = field(default_factory=list)
    _keys: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: Message) -> Receipt:
        if message.format not in self.formats:
            raise ChannelError(f"this channel does not carry {message.format!r} messages")
        if not message.to.strip():
            return Receipt(message.key, "rejected", reason="no address")
        with self._lock:
            if self.dedupe and message.key in self._keys:
                return Receipt(message.key, "sent", provider_id=message.key, duplicate=True)
            self._keys.add(message.key)
            self.sent.append(message)
        return Receipt(message.key, "sent", provider_id=message.key)

    def close(self) -> None:
        return None
