"""Who may be exported to an ad platform: the profiles whose advertising consent on a channel
allows it now.

Which channel counts for which identifier is ``ConsentChannels`` (default: a hashed e-mail needs
e-mail ad consent, a hashed phone number needs SMS ad consent; see docs/exports.md for why, and
pass others, e.g. a dedicated ``ads`` channel, where the shop records one). Who has consent comes
from a ``ConsentFilter``: a mapping channel → allowed profile ids, a callable channel → allowed
profile ids, or None for ``ad_consented_profiles`` (the consent ledger)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import pyarrow as pa

from shopmind.core import FieldError, InvalidInputError
from shopmind.store import Store, advertising_allowed

ConsentFilter = Mapping[str, Collection[str]] | Callable[[str], Collection[str]]


@dataclass(frozen=True)
class ConsentChannels:
    """The consent channel that must allow advertising before each kind of identifier leaves."""

    email: str = "email"
    phone: str = "sms"

    @classmethod
    def parse(cls, text: str | None) -> ConsentChannels:
        """``email=email,phone=sms`` (either part may be left out); errors name ``consent``."""
        if not text:
            return cls()
        values: dict[str, str] = {}
        for part in text.split(","):
            key, sep, channel = part.partition("=")
            key, channel = key.strip(), channel.strip()
            if not sep or key not in ("email", "phone") or not channel:
                raise InvalidInputError(
                    [FieldError("consent", f"{part.strip()!r} is not email=CHANNEL or phone=CHANNEL")]
                )
            values[key] = channel
        return cls(**values)

    def to_dict(self) -> dict[str, str]:
        return {"email": self.email, "phone": self.phone}


#: e-mail consent for a hashed e-mail, SMS consent for a hashed phone number
DEFAULT_CHANNELS = ConsentChannels()


def ad_consented_profiles(store: Store, channel: str) -> frozenset[str]:
    """The profiles whose advertising consent on ``channel`` is in force: the consent ledger's
    current state (the latest entry across all their identifiers), in one query. An audience is
    not a message, so the night-time rule (§50③) does not apply to an export."""
    return advertising_allowed(store, channel)


def allowed_profiles(store: Store, consent: ConsentFilter | None, channel: str) -> pa.Array:
    """The profile ids ``consent`` allows on ``channel``, as Arrow strings (to join in a query)."""
    if consent is None:
        allowed: Collection[str] = ad_consented_profiles(store, channel)
    elif isinstance(consent, Mapping):
        allowed = consent.get(channel, ())
    else:
        allowed = consent(channel)
    return pa.array(list(allowed), pa.string())
