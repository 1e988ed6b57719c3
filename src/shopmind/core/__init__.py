"""Settings, the error tree, clocks, keyed hashing, password hashing and the shop's time zone."""

from shopmind.core._clock import Clock, FixedClock, SystemClock
from shopmind.core._errors import (
    FieldError,
    ImportFileError,
    InvalidEventError,
    InvalidInputError,
    SchemaVersionError,
    ShopmindError,
    StoreError,
    UnknownIdentityLinkError,
    WorkspaceError,
    WorkspaceLockedError,
)
from shopmind.core._hashing import IdentifierHasher, normalise_email, normalise_phone
from shopmind.core._passwords import hash_password, verify_password
from shopmind.core._settings import Settings
from shopmind.core._timezone import DEFAULT_SHOP_TZ, to_utc

__all__ = [
    "DEFAULT_SHOP_TZ",
    "Clock",
    "FieldError",
    "FixedClock",
    "IdentifierHasher",
    "ImportFileError",
    "InvalidEventError",
    "InvalidInputError",
    "SchemaVersionError",
    "Settings",
    "ShopmindError",
    "StoreError",
    "SystemClock",
    "UnknownIdentityLinkError",
    "WorkspaceError",
    "WorkspaceLockedError",
    "hash_password",
    "normalise_email",
    "normalise_phone",
    "to_utc",
    "verify_password",
]
