"""Keyed hashing of personal contact data.

Guest (비회원) buyers are matched by an HMAC-SHA256 of their normalised phone number or
e-mail address under a per-workspace secret key, so the plain values are never stored and
cannot be recovered by hashing a phone-number list without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from shopmind.core._personal import DEFAULT_PERSONAL_FIELDS, PersonalFields

_NON_DIGITS = re.compile(r"\D+")


def normalise_email(raw: str) -> str | None:
    """Lower-cased, trimmed address, or None when it is not an address."""
    value = raw.strip().lower()
    if value.count("@") != 1:
        return None
    local, _, domain = value.partition("@")
    if not local or "." not in domain or " " in value:
        return None
    return value


def normalise_phone(raw: str, default_country_code: str = "82") -> str | None:
    """Digits in national form (Korean style: 010-1234-5678 and +82 10 1234 5678 agree).

    Returns None for strings with too few digits to be a phone number.
    """
    value = raw.strip()
    digits = _NON_DIGITS.sub("", value)
    if value.startswith("+") or value.startswith("00"):
        digits = digits.removeprefix("00")
        if digits.startswith(default_country_code):
            digits = "0" + digits[len(default_country_code) :]
        else:
            digits = "+" + digits
    if len(digits.lstrip("+")) < 8:
        return None
    return digits


class IdentifierHasher:
    """HMAC-SHA256 of normalised contact data under the workspace's secret key.

    ``fields`` says which fields of incoming data hold contact and other personal data (the
    workspace's list): it travels with the key, so every path that may meet contact data (the
    collection API, every importer) applies the same list.
    """

    def __init__(self, key: bytes, fields: PersonalFields = DEFAULT_PERSONAL_FIELDS) -> None:
        if len(key) < 16:
            raise ValueError("the hashing key must be at least 16 bytes")
        self._key = key
        self.fields = fields

    def hash_value(self, kind: str, normalised: str) -> str:
        digest = hmac.new(self._key, f"{kind}:{normalised}".encode(), hashlib.sha256)
        return digest.hexdigest()

    def email(self, raw: str) -> str | None:
        value = normalise_email(raw)
        return None if value is None else self.hash_value("email", value)

    def phone(self, raw: str) -> str | None:
        value = normalise_phone(raw)
        return None if value is None else self.hash_value("phone", value)
