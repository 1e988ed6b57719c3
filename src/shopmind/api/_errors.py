"""The API's one error shape: ``{"error": code, "message": text, "errors": [{field, reason}]}``;
shopmind's errors become HTTP statuses here and nowhere else."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from shopmind.api._json import JSON
from shopmind.core import FieldError, InvalidInputError, ShopmindError, StorageFullError

#: Seconds a client waits before sending again to a server whose disk is full.
RETRY_FULL_S = 30


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


async def api_error(request: Request, exc: Exception) -> JSON:
    assert isinstance(exc, ApiError)
    return JSON(body(exc.code, exc.message, exc.errors), status_code=exc.status, headers=exc.headers)


async def invalid_input(request: Request, exc: Exception) -> JSON:
    assert isinstance(exc, InvalidInputError)
    return JSON(body("invalid_input", str(exc), exc.errors), status_code=400)


async def storage_full(request: Request, exc: Exception) -> JSON:
    """The disk under the store is full: nothing was stored; the client retries later."""
    return JSON(
        body("insufficient_storage", str(exc)), status_code=507, headers={"Retry-After": str(RETRY_FULL_S)}
    )


async def shopmind_error(request: Request, exc: Exception) -> JSON:
    return JSON(body("server_error", str(exc)), status_code=500)


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


async def invalid_request(request: Request, exc: Exception) -> JSON:
    """A parameter or body that does not fit the documented schema: each field and why."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(
            ".".join(str(p) for p in e["loc"] if p not in ("query", "path", "body")) or "request", e["msg"]
        )
        for e in exc.errors()
    ]
    message = "; ".join(str(e) for e in errors) + " (see /docs for this endpoint's parameters)"
    return JSON(body("invalid_request", message, errors), status_code=400)


async def http_error(request: Request, exc: Exception) -> JSON:
    """Starlette's own answers (no such path, method not allowed) in the one error shape; a 405
    lists every method of the path, whichever route matched first."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = _documented_methods(request)
        if methods:
            headers["Allow"] = ", ".join(sorted(methods))
        message = f"{request.method} is not allowed here; use {headers.get('Allow', 'another method')}"
        return JSON(body("method_not_allowed", message), status_code=405, headers=headers)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.url.path} (the API is listed at /docs)"
        return JSON(body("not_found", message), status_code=404, headers=headers)
    return JSON(body("http_error", str(exc.detail)), status_code=exc.status_code, headers=headers)


def _documented_methods(request: Request) -> set[str]:
    """The methods the OpenAPI document lists for the request's path: a path written out in full
    (``/v1/segments/preview``) is that path's own, not one of a template's (``/v1/segments/{id}``)."""
    found: set[str] = set()
    paths = request.app.openapi()["paths"]
    if request.url.path in paths:
        return {method.upper() for method in paths[request.url.path]}
    for template, operations in paths.items():
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), request.url.path):
            found |= {method.upper() for method in operations}
    return found


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all in the one error shape."""
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for status in statuses
    }


_DESCRIPTIONS = {
    400: "The request cannot be served as it is: a parameter or the body does not fit (each field and why)",
    413: "The body is larger than the limit",
    415: "A Content-Encoding other than gzip or deflate",
    401: "Missing or wrong key",
    403: "The key may not do this (a write key only collects and decides)",
    404: "Not found",
    405: "Method not allowed on this path (see Allow)",
    409: "In conflict with what is stored (e.g. still used by something else)",
    429: "Too many requests for this key (see Retry-After)",
    503: "Not ready yet, or behind on writing (see Retry-After)",
    507: "The server's disk is full: nothing was stored (see Retry-After)",
}

HANDLERS = {
    ApiError: api_error,
    StorageFullError: storage_full,
    InvalidInputError: invalid_input,
    ShopmindError: shopmind_error,
    RequestValidationError: invalid_request,
    HTTPException: http_error,
}


def document_one_error_shape(app: FastAPI) -> None:
    """FastAPI documents a 422 of its own for every operation that takes parameters or a body;
    shopmind answers those as 400 in its one error shape (``invalid_request``): the OpenAPI
    document says so for every operation, present and future."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.pop("422", None) is not None:
                        responses.setdefault("400", error_responses(400)[400])
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
