"""The disk under the store: whether a failed write ran out of space, and how much is free."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

#: What the operating system says, in the messages DuckDB passes on, when a disk is full.
_FULL = (
    "no space left on device",
    "disk quota exceeded",
    "file too large",
    f"errno {errno.ENOSPC}",
)


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (from a write to the store) means the disk is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _FULL)


def free_bytes(path: str | Path) -> int | None:
    """Free space on the disk holding ``path`` (None for an in-memory store)."""
    if str(path) == ":memory:":
        return None
    return shutil.disk_usage(Path(path).parent).free
