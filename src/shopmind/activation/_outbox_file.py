"""The embedded default channel: each message appended as one JSON line to a file, fsync'd before
the receipt says ``sent``, so a demo or a shop without a provider yet runs a whole campaign
offline and can read exactly what would have gone out.

Like an SMTP server it dedupes nothing: a message resent after an ``unknown`` hand-over appears
twice, with the same key. The file holds addresses (it stands where a provider would), so it is
created readable by its owner only, and an erasure removes the erased customer's lines (under the
lock every writer takes). A line cut short by a kill is ended by the next writer and
skipped by :func:`read_outbox_file`.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from shopmind.activation._message import FORMATS, ChannelError, HandOverUnknownError, Message, Receipt
from shopmind.core import Clock, SystemClock

if TYPE_CHECKING:
    from shopmind.activation._channel_config import OpenContext


class OutboxFileChannel:
    """Appends every message of ``formats`` to ``path`` (created with its folder on first use).
    ``fsync``: make each line durable before answering (off only for throwaway runs)."""

    def __init__(
        self,
        path: str | Path,
        *,
        formats: frozenset[str] = frozenset(FORMATS),
        clock: Clock | None = None,
        fsync: bool = True,
    ) -> None:
        unknown = set(formats) - set(FORMATS)
        if unknown:
            raise ChannelError(f"unknown message formats {sorted(unknown)}; known: {sorted(FORMATS)}")
        self.path = Path(path)
        self.formats = frozenset(formats)
        self.fsync = fsync
        self._clock = clock or SystemClock()
        self._fd: int | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OutboxFileChannel({str(self.path)!r})"

    def send(self, message: Message) -> Receipt:
        if message.format not in self.formats:
            raise ChannelError(f"the outbox file {self.path} does not take {message.format!r} messages")
        if not message.to.strip():
            return Receipt(message.key, "rejected", reason="no address")
        line = (json.dumps(_record(message, self._clock), ensure_ascii=False) + "\n").encode()
        with self._lock:
            fd = self._open()
            written = 0
            try:
                # O_APPEND: each write lands at the end, so processes sharing the file do not mix
                # lines; the lock: an erasure rewriting the file (store/_outbox_files.py) loses none
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    while written < len(line):
                        written += os.write(fd, line[written:])
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                if self.fsync:
                    os.fsync(fd)
            except OSError as exc:
                self._close()
                if written == 0:
                    raise ChannelError(f"cannot write the outbox file {self.path}: {exc}") from exc
                raise HandOverUnknownError(f"the outbox file {self.path} was written in part: {exc}") from exc
        return Receipt(message.key, "sent", provider_id=message.key)

    def _open(self) -> int:
        if self._fd is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    os.write(fd, b"\n")  # end a line torn by a killed writer, so ours starts clean
                self._fd = fd
            except OSError as exc:
                raise ChannelError(f"cannot open the outbox file {self.path}: {exc}") from exc
        return self._fd

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        with self._lock:
            self._close()


def _record(message: Message, clock: Clock) -> dict[str, Any]:
    record: dict[str, Any] = {
        "key": message.key,
        "format": message.format,
        "channel": message.channel,
        "kind": message.kind,
        "to": message.to,
        "written_at": clock.now().isoformat(),
    }
    for name in ("subject", "text", "html", "template_code", "unsubscribe_url", "image_url", "link_url"):
        value = getattr(message, name)
        if value is not None:
            record[name] = value
    if message.data:
        record["data"] = dict(message.data)
    return record


def read_outbox_file(path: str | Path) -> Iterator[dict[str, Any]]:
    """The messages in an outbox file, in the order written. A line cut short by a killed writer
    (the last one, or one the next writer ended) is skipped: the message it began was never
    answered ``sent``. Nothing when the file does not exist yet."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below, after the existence check
    except FileNotFoundError:
        return
    with fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def open_outbox_file(url: str, context: OpenContext) -> OutboxFileChannel:
    """The channel for ``file:outbox/sms.jsonl`` (relative to the workspace) or
    ``file:///var/shop/outbox.jsonl``; it takes the formats of the channel it serves. Option:
    ``fsync = false`` (throwaway runs only)."""
    parts = urlsplit(url)
    if parts.netloc or parts.query or not parts.path:
        raise ChannelError(
            f"the outbox URL {url!r}: expected file:outbox/{context.channel}.jsonl or file:///absolute/path.jsonl"
        )
    path = Path(unquote(parts.path))
    if not path.is_absolute():
        if context.base is None:
            raise ChannelError(
                f"the outbox URL {url!r} is relative, and there is no workspace to resolve it in"
            )
        path = context.base / path
    fsync = context.options.get("fsync", True)
    unknown = set(context.options) - {"fsync"}
    if unknown or not isinstance(fsync, bool):
        raise ChannelError(
            f"the outbox file's options: expected only fsync = true|false, got {dict(context.options)}"
        )
    return OutboxFileChannel(path, formats=context.formats, clock=context.clock, fsync=fsync)
