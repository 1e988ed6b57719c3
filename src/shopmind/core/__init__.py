"""Settings, the error tree, clocks, keyed hashing, the shop's time zone and native thread limits."""

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
from shopmind.core._settings import Settings
from shopmind.core._threads import single_threaded_blas
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
    "normalise_email",
    "normalise_phone",
    "single_threaded_blas",
    "to_utc",
]
