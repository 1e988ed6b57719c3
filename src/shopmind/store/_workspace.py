"""A workspace: the folder of one shop, holding its store, its secret hashing key and, if the shop
wants to change the built-in list of personal fields, ``privacy.toml``::

    [personal_fields]
    email = ["buyer_mail"]        # also hashed into email_hash
    phone = ["contact_no"]        # also hashed into phone_hash
    drop = ["nickname"]           # also dropped
    url = ["return_to"]           # also URLs whose personal query parameters go
    keep = ["hp"]                 # built-in names this shop uses for something else
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

from shopmind.core import (
    DEFAULT_PERSONAL_FIELDS,
    Clock,
    FieldError,
    IdentifierHasher,
    InvalidInputError,
    PersonalFields,
    WorkspaceError,
)
from shopmind.store._store import Store

STORE_FILE = "shop.duckdb"
KEY_FILE = "hash.key"
PRIVACY_FILE = "privacy.toml"
#: the folder beside the store where runs keep the models they learned (``shopmind run`` stores
#: the recommender there; the recommend package owns the files' format)
MODELS_DIR = "models"


def models_folder(store: Store) -> Path | None:
    """The models folder of the workspace that holds ``store`` (None for an in-memory store)."""
    if store.path == ":memory:":
        return None
    return Path(store.path).parent / MODELS_DIR


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
        if not folder.exists():
            folder.mkdir(parents=True)
            folder.chmod(0o700)  # the shop's data: its owner's alone
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

    @property
    def models_path(self) -> Path:
        return self.path / MODELS_DIR

    def open_store(self, *, clock: Clock | None = None, read_only: bool = False) -> Store:
        return Store(self.store_path, clock=clock, read_only=read_only, personal=self.personal_fields())

    def hasher(self) -> IdentifierHasher:
        """The keyed hash for contact data, with the workspace's list of personal fields; losing
        the key means guests can no longer be matched."""
        key = bytes.fromhex((self.path / KEY_FILE).read_text().strip())
        return IdentifierHasher(key, self.personal_fields())

    def personal_fields(self) -> PersonalFields:
        """The fields holding personal data: the built-in list, changed by ``privacy.toml``."""
        file = self.path / PRIVACY_FILE
        if not file.exists():
            return DEFAULT_PERSONAL_FIELDS
        try:
            settings = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInputError([FieldError(PRIVACY_FILE, f"not valid TOML ({exc})")]) from None
        unknown = [
            FieldError(f"{PRIVACY_FILE}: {k}", "unknown table; expected [personal_fields]")
            for k in settings
            if k != "personal_fields"
        ]
        section = settings.get("personal_fields", {})
        if not isinstance(section, dict):
            unknown.append(FieldError(f"{PRIVACY_FILE}: personal_fields", "expected a table"))
        if unknown:
            raise InvalidInputError(unknown)
        return DEFAULT_PERSONAL_FIELDS.changed(section, where=f"{PRIVACY_FILE}: personal_fields")
