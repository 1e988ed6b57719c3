"""API keys of a workspace: a write key (collect only; may sit in a public web page) and secret keys
(everything else). Only a SHA-256 hash of each key is kept, in ``api_keys.json`` beside the store
(mode 0600), so ``shopmind keys create`` works while ``shopmind serve`` owns the store, and a
leaked workspace folder does not leak the keys. A key reads ``sm_<w|s>_<key id>_<secret>``; the
server finds the key by its id and compares the hashes in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import orjson

from shopmind.core import Clock, FieldError, InvalidInputError, SystemClock

KeyKind = Literal["write", "secret"]
KINDS: tuple[KeyKind, ...] = ("write", "secret")
KEYS_FILE = "api_keys.json"
_PREFIX = {"write": "w", "secret": "s"}


@dataclass(frozen=True)
class ApiKey:
    """What is known about a key without the key itself."""

    key_id: str
    kind: KeyKind
    created_at: datetime
    revoked: bool = False


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _key_id(key: str) -> str | None:
    parts = key.split("_")
    if len(parts) != 4 or parts[0] != "sm" or parts[1] not in ("w", "s") or len(parts[2]) != 12:
        return None
    return parts[2]


class KeyRing:
    """The keys of the workspace at ``folder``; re-read when the file changes on disk."""

    def __init__(self, folder: str | Path, *, clock: Clock | None = None) -> None:
        self.path = Path(folder) / KEYS_FILE
        self._clock = clock or SystemClock()
        self._stamp: tuple[int, int] | None = None
        self._entries: dict[str, dict[str, object]] = {}

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._entries = None, {}
            return self._entries
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._entries = orjson.loads(self.path.read_bytes()) if stat.st_size else {}
            self._stamp = stamp
        return self._entries

    def _save(self, entries: dict[str, dict[str, object]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(entries, option=orjson.OPT_INDENT_2))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._stamp = None

    def create(self, kind: KeyKind) -> tuple[ApiKey, str]:
        """A new key of ``kind``: its description and the key itself (shown once, never stored)."""
        if kind not in KINDS:
            raise InvalidInputError([FieldError("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")])
        entries = dict(self._load())
        key_id = secrets.token_hex(6)
        while key_id in entries:
            key_id = secrets.token_hex(6)
        key = f"sm_{_PREFIX[kind]}_{key_id}_{secrets.token_urlsafe(32).replace('_', '-')}"
        now = self._clock.now()
        entries[key_id] = {"kind": kind, "hash": _hash(key), "created_at": now.isoformat(), "revoked": False}
        self._save(entries)
        return ApiKey(key_id, kind, now), key

    def revoke(self, key_id: str) -> ApiKey:
        entries = dict(self._load())
        if key_id not in entries:
            raise InvalidInputError([FieldError("key_id", f"no key {key_id!r}; see 'shopmind keys list'")])
        entries[key_id] = {**entries[key_id], "revoked": True}
        self._save(entries)
        return self._describe(key_id, entries[key_id])

    def list(self) -> list[ApiKey]:
        entries = self._load()
        keys = [self._describe(key_id, entry) for key_id, entry in entries.items()]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    def check(self, key: str) -> KeyKind | None:
        """The kind of a valid, unrevoked ``key``; None for anything else."""
        key_id = _key_id(key)
        entry = self._load().get(key_id) if key_id else None
        if entry is None:
            # always compare once, so an unknown id takes as long as a wrong secret
            hmac.compare_digest(_hash(key), "0" * 64)
            return None
        if not hmac.compare_digest(_hash(key), str(entry["hash"])) or entry.get("revoked"):
            return None
        kind = str(entry["kind"])
        return "write" if kind == "write" else "secret"

    @staticmethod
    def _describe(key_id: str, entry: dict[str, object]) -> ApiKey:
        kind: KeyKind = "write" if entry["kind"] == "write" else "secret"
        return ApiKey(key_id, kind, datetime.fromisoformat(str(entry["created_at"])), bool(entry["revoked"]))
