"""Password hashing for the dashboard's accounts: scrypt from the standard library (no extra
dependency), stored with its parameters and salt so they can be raised later without breaking
the hashes already stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt's cost (n = 2**14, r = 8, p = 1: 16 MiB and some 50 ms per hash, the parameters
#: RFC 7914 and OWASP name for interactive logins); a 16-byte salt; a 32-byte key
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
_SCHEME = "scrypt"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # maxmem: scrypt needs 128 * n * r bytes; leave room above that for raised parameters
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * n * r + 2**20
    )


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$key`` (salt and key in base64): what is stored instead of the password."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant-time comparison). With
    ``stored`` None (no such account) a hash is still computed, so a wrong login name takes as
    long to refuse as a wrong password."""
    if stored is None:
        _derive(password, b"\0" * SALT_BYTES, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
        return False
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(key)
        found = _derive(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except ValueError:  # a damaged hash opens nothing
        return False
    return hmac.compare_digest(found, expected)
