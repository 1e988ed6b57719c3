"""The workspace's outbox files (``outbox/*.jsonl``, the embedded channel's record of each message
it "sent": address, subject, text) under an erasure: the erased customer's lines are removed.

The file channel (``activation/_outbox_file.py``) appends each line under an exclusive ``flock``
of the file; the erasure rewrites a file in place (the same inode, so a writer's open descriptor
stays valid) under the same lock, so no line appended meanwhile is lost. Only the workspace's own
``outbox/`` folder is covered: a ``file:///elsewhere.jsonl`` channel is the shop's file to clean.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Collection
from pathlib import Path

from shopmind.store._store import Store

#: the workspace folder the file channel writes to by default (``file:outbox/<channel>.jsonl``)
OUTBOX_DIR = "outbox"


def outbox_folder(store: Store) -> Path | None:
    """The outbox folder of the workspace that holds ``store`` (None for an in-memory store)."""
    if store.path == ":memory:":
        return None
    return Path(store.path).parent / OUTBOX_DIR


def _theirs(raw: bytes, keys: Collection[str]) -> bool:
    try:
        record = json.loads(raw)
    except ValueError:
        # a line torn by a killed writer: its key, written first, may still be readable
        return any(f'"key": {json.dumps(key)}'.encode() in raw for key in keys)
    return isinstance(record, dict) and record.get("key") in keys


def erase_outbox_lines(folder: Path | None, keys: Collection[str]) -> int:
    """Remove from every ``*.jsonl`` file in ``folder`` the lines of the messages ``keys``; how many
    lines went. Other lines stay as they were, in order."""
    if folder is None or not keys or not folder.is_dir():
        return 0
    removed = 0
    for path in sorted(folder.glob("*.jsonl")):
        if not path.is_file():
            continue
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # the channel's writers wait while the file is rewritten
            with os.fdopen(os.dup(fd), "rb+") as fh:
                lines = fh.readlines()
                kept = [line for line in lines if not _theirs(line, keys)]
                if len(kept) == len(lines):
                    continue
                fh.seek(0)
                fh.writelines(kept)
                fh.truncate()
                fh.flush()
                os.fsync(fh.fileno())
                removed += len(lines) - len(kept)
        finally:
            os.close(fd)  # closing the last descriptor of it releases the lock
    return removed
