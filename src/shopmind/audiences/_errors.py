"""What can go wrong with an export, under shopmind's one error root."""

from __future__ import annotations

from shopmind.core import ShopmindError


class ExportError(ShopmindError):
    """An export could not be made as asked (it is in the export log as failed)."""


class UnknownDestinationError(ExportError, KeyError):
    """No webhook destination of that name (``shopmind export destinations add`` makes one)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown destination"


class DeliveryError(ExportError):
    """A webhook receiver did not accept a batch: a 4xx answer, or still failing after the last retry."""

    def __init__(self, message: str, *, batch: int, attempts: int, status: int | None) -> None:
        super().__init__(message)
        self.batch, self.attempts, self.status = batch, attempts, status
