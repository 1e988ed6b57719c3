"""A sender process for the kill tests: ``python tests/outbox_sender.py STORE CONTACTS OUT BATCH``
sends the outbox of the store at STORE to a file channel (each message a JSON line appended to
OUT and synced before the channel answers, as a provider that took it would) or, when OUT is an
``http://`` URL, to the HTTP gateway there; addresses from the contact file CONTACTS, until
nothing is due; prints the sender's facts as JSON at the end."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from shopmind.activation import (
    FORMATS,
    Channel,
    FileContacts,
    Message,
    OutboxSender,
    Receipt,
    open_http_gateway,
)
from shopmind.core import SystemClock
from shopmind.store import Store


class FileChannel:
    """Appends each message to a file, synced: once ``send`` returns, the message is out."""

    formats = frozenset(FORMATS)

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def send(self, message: Message) -> Receipt:
        line = orjson.dumps({"key": message.key, "to": message.to, "text": message.text}) + b"\n"
        os.write(self._fd, line)
        os.fsync(self._fd)
        return Receipt(message.key, "sent", provider_id=message.key)

    def close(self) -> None:
        os.close(self._fd)


def main() -> None:
    store_path, contacts, out, batch = sys.argv[1:5]
    with Store(store_path) as store:
        channel: Channel = open_http_gateway(out) if out.startswith("http") else FileChannel(Path(out))
        sender = OutboxSender(
            store, channel, FileContacts(store, Path(contacts)), clock=SystemClock(), batch=int(batch)
        )
        sender.recover()
        stats = sender.drain()
        channel.close()
    sys.stdout.write(orjson.dumps(stats.facts()).decode() + "\n")


if __name__ == "__main__":
    main()
