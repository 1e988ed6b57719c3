"""Identity signatures: the write key is public, so a ``userId`` sent with it proves nothing (guessing
sequential member ids revealed who was a VIP, what they bought and where they live). The shop's
server signs the member id it has logged in with a workspace secret, ``HMAC-SHA256(secret, userId)``
in hex, and hands the signature to its page; personal on-site content is served only for a
``userId`` that comes with its valid signature. The secret lives in ``identity.key`` beside the
store (mode 0600): ``shopmind keys identity-secret`` prints it for the shop's server."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

IDENTITY_FILE = "identity.key"


class IdentitySigner:
    """Signs and checks member ids with the workspace's identity secret (created on first use)."""

    def __init__(self, folder: str | Path) -> None:
        path = Path(folder) / IDENTITY_FILE
        if not path.exists():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it a moment ago
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
        self.secret = path.read_text().strip()
        self._key = self.secret.encode()

    def sign(self, user_id: str) -> str:
        return hmac.new(self._key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def verify(self, user_id: str | None, signature: str | None) -> bool:
        """Whether ``signature`` is ``user_id``'s (in constant time; False when either is missing)."""
        if not user_id or not signature:
            return False
        # (as bytes: compare_digest refuses non-ASCII text, and a signature may be anything)
        given = signature.strip().lower().encode("utf-8", "replace")
        return hmac.compare_digest(self.sign(user_id).encode(), given)
