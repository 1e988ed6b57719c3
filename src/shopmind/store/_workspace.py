"""A workspace: the folder of one shop, holding its store and its secret hashing key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from shopmind.core import Clock, IdentifierHasher, WorkspaceError
from shopmind.store._store import Store

STORE_FILE = "shop.duckdb"
KEY_FILE = "hash.key"


class Workspace:
    """``Workspace.init(path)`` creates one; ``Workspace(path)`` opens an existing one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / STORE_FILE).exists() or not (self.path / KEY_FILE).exists():
            raise WorkspaceError(
                f"{self.path} is not a shopmind workspace (no {STORE_FILE} / {KEY_FILE}); "
                f"create it with: shopmind init --workspace {self.path}"
            )

    @classmethod
    def init(cls, path: str | Path, *, clock: Clock | None = None) -> Workspace:
        """Create the folder, its store (schema migrated) and a random hashing key; idempotent."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        key = folder / KEY_FILE
        if not key.exists():
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        Store(folder / STORE_FILE, clock=clock).close()
        return cls(folder)

    @property
    def store_path(self) -> Path:
        return self.path / STORE_FILE

    def open_store(self, *, clock: Clock | None = None, read_only: bool = False) -> Store:
        return Store(self.store_path, clock=clock, read_only=read_only)

    def hasher(self) -> IdentifierHasher:
        """The keyed hash for contact data; losing the key means guests can no longer be matched."""
        return IdentifierHasher(bytes.fromhex((self.path / KEY_FILE).read_text().strip()))
