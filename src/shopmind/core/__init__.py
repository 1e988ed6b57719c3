"""Settings, the error tree, clocks, keyed hashing, password hashing, the shop's time zone,
native thread limits, Korean particles and the catalogue of labels and terms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmind.core._clock import Clock, FixedClock, ShiftedClock, SystemClock
from shopmind.core._english import counted, plural, resolve_plurals
from shopmind.core._errors import (
    FieldError,
    ImportFileError,
    InvalidEventError,
    InvalidInputError,
    NotFoundError,
    SchemaVersionError,
    ShopmindError,
    StorageFullError,
    StoreError,
    UnknownIdentityLinkError,
    UnknownProfileError,
    WorkspaceError,
    WorkspaceLockedError,
)
from shopmind.core._korean import particle, resolve_particles, with_particle
from shopmind.core._labels import GLOSSARY, LABELS, label, term
from shopmind.core._lazy import lazy_names
from shopmind.core._timezone import DEFAULT_SHOP_TZ, shop_day, shop_time, to_utc

if TYPE_CHECKING:
    from shopmind.core._hashing import IdentifierHasher, normalise_email, normalise_phone
    from shopmind.core._passwords import hash_password, verify_password
    from shopmind.core._personal import (
        DEFAULT_PERSONAL_FIELDS,
        DROP_KEYS,
        EMAIL_KEYS,
        PHONE_KEYS,
        REDACTED,
        TRAIT_DROP_KEYS,
        URL_KEYS,
        PersonalFields,
        normalise_key,
    )
    from shopmind.core._schema_errors import decode_declared, schema_field_error
    from shopmind.core._settings import Settings
    from shopmind.core._threads import single_threaded_blas
    from shopmind.core._yaml import load_yaml_mapping

__all__ = [
    "DEFAULT_PERSONAL_FIELDS",
    "DEFAULT_SHOP_TZ",
    "DROP_KEYS",
    "EMAIL_KEYS",
    "GLOSSARY",
    "LABELS",
    "PHONE_KEYS",
    "REDACTED",
    "TRAIT_DROP_KEYS",
    "URL_KEYS",
    "Clock",
    "FieldError",
    "FixedClock",
    "IdentifierHasher",
    "ImportFileError",
    "InvalidEventError",
    "InvalidInputError",
    "NotFoundError",
    "PersonalFields",
    "SchemaVersionError",
    "Settings",
    "ShiftedClock",
    "ShopmindError",
    "StorageFullError",
    "StoreError",
    "SystemClock",
    "UnknownIdentityLinkError",
    "UnknownProfileError",
    "WorkspaceError",
    "WorkspaceLockedError",
    "counted",
    "decode_declared",
    "hash_password",
    "label",
    "load_yaml_mapping",
    "normalise_email",
    "normalise_key",
    "normalise_phone",
    "particle",
    "plural",
    "resolve_particles",
    "resolve_plurals",
    "schema_field_error",
    "shop_day",
    "shop_time",
    "single_threaded_blas",
    "term",
    "to_utc",
    "verify_password",
    "with_particle",
]

#: the names that load on first use (PEP 562), each with its private module: what every command
#: needs (errors, clocks, labels, time zone) is imported above; these pull in msgspec,
#: threadpoolctl, pydantic-settings or the hashing and personal-field rules, which
#: ``shopmind --help`` and most commands never touch (issue 22)
_WHERE = {
    "IdentifierHasher": "_hashing",
    "normalise_email": "_hashing",
    "normalise_phone": "_hashing",
    "hash_password": "_passwords",
    "verify_password": "_passwords",
    "DEFAULT_PERSONAL_FIELDS": "_personal",
    "DROP_KEYS": "_personal",
    "EMAIL_KEYS": "_personal",
    "PHONE_KEYS": "_personal",
    "REDACTED": "_personal",
    "TRAIT_DROP_KEYS": "_personal",
    "URL_KEYS": "_personal",
    "PersonalFields": "_personal",
    "normalise_key": "_personal",
    "decode_declared": "_schema_errors",
    "schema_field_error": "_schema_errors",
    "Settings": "_settings",
    "single_threaded_blas": "_threads",
    "load_yaml_mapping": "_yaml",
}

__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
