"""One error root, so callers can catch everything shopmind raises with one clause.

Only the surfaces (CLI, API) turn these into exit codes or HTTP statuses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of one input record."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class ShopmindError(Exception):
    """Root of every error shopmind raises on purpose."""


class InvalidInputError(ShopmindError, ValueError):
    """Input that cannot be accepted; ``errors`` names each field and why."""

    def __init__(self, errors: list[FieldError] | tuple[FieldError, ...]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors) or "invalid input")

    @property
    def field(self) -> str:
        """The first offending field (the one a quarantine row is filed under)."""
        return self.errors[0].field if self.errors else ""


class InvalidEventError(InvalidInputError):
    """An event that failed validation."""


class ImportFileError(ShopmindError):
    """A whole input file cannot be read (missing, wrong format, missing mapped columns)."""


class StoreError(ShopmindError):
    """The store cannot do what was asked."""


class StorageFullError(StoreError):
    """The disk that holds the store is full: the write was not stored (nothing acknowledged is
    lost); it works again once space is freed."""


class SchemaVersionError(StoreError):
    """The store file was written by a newer shopmind than this one."""


class WorkspaceError(ShopmindError):
    """The workspace folder is missing or malformed."""


class WorkspaceLockedError(WorkspaceError):
    """Another process already owns the workspace's store."""


class NotFoundError(ShopmindError, KeyError):
    """Nothing has the id asked for; the message says what and how to find the right one."""

    default = ""  # the message when none is given

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else self.default


class UnknownIdentityLinkError(ShopmindError, KeyError):
    """An identity link id that does not exist (or was already undone)."""


class UnknownProfileError(ShopmindError, KeyError):
    """No customer is known by the given profile, user or anonymous id."""
