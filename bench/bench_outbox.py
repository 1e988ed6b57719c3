"""Outbox throughput: messages per second the sender (``activation.OutboxSender``) hands over from
a store on disk, every message claimed in a transaction, its customer's advertising consent read
again from the ledger, its address asked of the contact book, and its outcome recorded durably;
beside a peer in the same run: a plain loop handing the same messages to the same channel with
no store at all (no claim, no consent check, no record: nothing survives a kill). The ratio is
the price of delivering once.

The channel appends each message as a JSON line to a file (``--fsync``: synced per message, as
the outbox-file channel does; without it the disk's sync is not what is measured). Each side
runs in a fresh process; ``--batch`` sizes are the messages claimed per round.

Run with ``python -m bench.bench_outbox [--messages N] [--batch 50 200] [--fsync]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._measure import load_note, measure, row

MESSAGES = 20_000

CHANNEL = """
import os, orjson
from shopmind.activation import FORMATS, Message, Receipt

class FileChannel:
    formats = frozenset(FORMATS)
    def __init__(self, path, fsync):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.fsync = fsync
    def send(self, message):
        os.write(self.fd, orjson.dumps({{"key": message.key, "to": message.to, "text": message.text}}) + b"\\n")
        if self.fsync:
            os.fsync(self.fd)
        return Receipt(message.key, "sent", provider_id=message.key)
    def close(self):
        os.close(self.fd)
"""

SEED = """
from datetime import UTC, datetime, timedelta
from shopmind.store import ConsentEntry, OutboxRow, Store, enqueue, record_consents
now = datetime.now(UTC)
with Store({path!r}) as store:
    record_consents(store, [ConsentEntry(f"user:m{{i:06d}}", "email", True, now - timedelta(days=30), "signup_form")
                            for i in range({n})])
    enqueue(store, [OutboxRow(f"c1:user:m{{i:06d}}:s1", "c1", "s1", f"user:m{{i:06d}}", "email", "email",
                              "advertising", now - timedelta(minutes=1), f"(광고) m{{i:06d}}님, 다시 만나요 " + "본문 " * 40,
                              subject="다시 만나요") for i in range({n})], at=now)
"""

WORKER_SETUP = (
    CHANNEL
    + """
from shopmind.activation import MemoryContacts, OutboxSender
from shopmind.core import SystemClock
from shopmind.store import Store
store = Store({path!r})
contacts = MemoryContacts({{f"user:m{{i:06d}}": {{"email": f"m{{i:06d}}@shop.example"}} for i in range({n})}})
sender = OutboxSender(store, FileChannel({out!r}, {fsync}), contacts, clock=SystemClock(), batch={batch})
"""
)
WORKER_BODY = "sender.drain().sent"

PLAIN_SETUP = (
    CHANNEL
    + """
from shopmind.store import Store
with Store({path!r}) as store:
    rows = store.sql("SELECT message_key, format, profile_id, body_text, subject, kind FROM outbox ORDER BY due_at, message_key")
contacts = {{f"user:m{{i:06d}}": f"m{{i:06d}}@shop.example" for i in range({n})}}
channel = FileChannel({out!r}, {fsync})
def plain():
    sent = 0
    for key, fmt, profile, text, subject, kind in rows:
        receipt = channel.send(Message(key, fmt, contacts[profile], text, kind, subject))
        sent += receipt.outcome == "sent"
    return sent
"""
)
PLAIN_BODY = "plain()"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--batch", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--fsync", action="store_true", help="sync the channel's file after each message")
    args = parser.parse_args(argv)
    n = args.messages
    print(
        f"outbox throughput, {n:,} e-mails to a file channel (fsync per message: {args.fsync}); {load_note()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for batch in args.batch:
            path = str(folder / f"store-{batch}.duckdb")
            measure(SEED.format(path=path, n=n), "0")
            worker = measure(
                WORKER_SETUP.format(
                    path=path, n=n, out=str(folder / f"w{batch}.jsonl"), fsync=args.fsync, batch=batch
                ),
                WORKER_BODY,
            )
            plain = measure(
                PLAIN_SETUP.format(path=path, n=n, out=str(folder / f"p{batch}.jsonl"), fsync=args.fsync),
                PLAIN_BODY,
            )
            assert worker.result == plain.result == n, (worker.result, plain.result)
            print(
                row(
                    f"sender (batch {batch}) vs plain loop, messages/s",
                    n / worker.seconds,
                    n / plain.seconds,
                    "msg/s",
                    lower_is_better=False,
                )
            )
            print(
                f"  sender {worker.seconds:.2f} s (peak {worker.peak_mb:.0f} MB), plain {plain.seconds:.2f} s"
            )


if __name__ == "__main__":
    main()
