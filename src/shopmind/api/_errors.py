"""The API's one error shape: ``{"error": code, "message": text, "errors": [{field, reason}]}``;
shopmind's errors become HTTP statuses here and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import ORJSONResponse

from shopmind.core import FieldError, InvalidInputError, ShopmindError


class ApiError(Exception):
    """An answer other than 2xx, with a machine-readable code and a message that says what to do."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors = tuple(errors)
        self.headers = headers or {}


def body(code: str, message: str, errors: Sequence[FieldError] = ()) -> dict[str, object]:
    return {
        "error": code,
        "message": message,
        "errors": [{"field": e.field, "reason": e.reason} for e in errors],
    }


async def api_error(request: Request, exc: Exception) -> ORJSONResponse:
    assert isinstance(exc, ApiError)
    return ORJSONResponse(
        body(exc.code, exc.message, exc.errors), status_code=exc.status, headers=exc.headers
    )


async def invalid_input(request: Request, exc: Exception) -> ORJSONResponse:
    assert isinstance(exc, InvalidInputError)
    return ORJSONResponse(body("invalid_input", str(exc), exc.errors), status_code=400)


async def shopmind_error(request: Request, exc: Exception) -> ORJSONResponse:
    return ORJSONResponse(body("server_error", str(exc)), status_code=500)


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message", "errors"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}

HANDLERS = {ApiError: api_error, InvalidInputError: invalid_input, ShopmindError: shopmind_error}
