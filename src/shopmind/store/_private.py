"""What keeps a store's personal data to its owner: files only the owner can read, and rejected
input redacted before the quarantine keeps it."""

from __future__ import annotations

import os
from contextlib import suppress

import orjson
import pyarrow as pa

from shopmind.core import PersonalFields

RAW_LIMIT = 4096  # characters of a rejected input the quarantine keeps (after redaction)
_PRIVATE_UMASK = 0o077


def keep_private(path: str, *, created: bool = False) -> None:
    """Make the files of the store at ``path`` readable and writable by their owner only.

    DuckDB creates the write-ahead log (``path.wal``) anew after each checkpoint, with the
    process's umask: so the umask is tightened for the rest of the process (never loosened), and
    a process that holds a shop's data creates no file others can read. ``created``: the
    database file exists now; it (and a log left by an earlier run) is made 0600 too.
    """
    current = os.umask(_PRIVATE_UMASK)
    os.umask(current | _PRIVATE_UMASK)
    if created:
        for name in (path, f"{path}.wal"):
            with suppress(FileNotFoundError, PermissionError):  # another owner's file: theirs to mind
                if os.stat(name).st_mode & 0o077:
                    os.chmod(name, 0o600)


def redact_rejected(rows: pa.Table, personal: PersonalFields) -> pa.Table:
    """Quarantine rows (``raw`` and ``reason`` columns) with personal data redacted: the fields
    ``personal`` names, and e-mail addresses and phone numbers anywhere; ``raw`` is cut to
    ``RAW_LIMIT`` characters after redaction (so a cut never leaves half a value behind)."""
    raws = [
        None if raw is None else _redact_raw(raw, personal)[:RAW_LIMIT] for raw in rows["raw"].to_pylist()
    ]
    reasons = [None if r is None else personal.redact_text(r) for r in rows["reason"].to_pylist()]
    rows = rows.set_column(rows.schema.get_field_index("raw"), "raw", pa.array(raws, pa.string()))
    return rows.set_column(rows.schema.get_field_index("reason"), "reason", pa.array(reasons, pa.string()))


def _redact_raw(raw: str, personal: PersonalFields) -> str:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:  # a line that is not JSON, or JSON cut short
        return personal.redact_text(raw)
    if isinstance(parsed, dict | list):
        return orjson.dumps(personal.redact(parsed)).decode()
    return personal.redact_text(raw)
