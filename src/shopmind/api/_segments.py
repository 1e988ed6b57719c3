"""Segments over the API (secret key): preview a definition, save it, list and read the saved
ones, page through their members, count them again, delete them.

The body of a definition is read here, as bytes, by the definition language's own parser: its
errors name the field path (``conditions[2].window.days``) in the one error shape, and a body
nested thousands deep is refused without building it. The OpenAPI document carries the
definition's JSON Schema (from the same declared types)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response

from shopmind.api._auth import requires
from shopmind.api._errors import ApiError, error_responses
from shopmind.api._json import JSON
from shopmind.core import to_utc
from shopmind.segments import (
    MAX_CONDITIONS,
    SegmentInUseError,
    UnknownSegmentError,
    create_segment,
    materialize,
    member_list,
    parse_definition,
    preview,
    remove_segment,
    saved_segment,
    saved_segments,
)
from shopmind.store import Store

router = APIRouter(
    prefix="/v1/segments",
    tags=["segments"],
    dependencies=[Depends(requires("secret"))],
    responses=error_responses(400, 401, 403, 404, 429, 503),
)
#: a definition larger than this is refused before it is read (the parser's own limit)
MAX_BODY_BYTES = 256 * 1024
_REF = "#/components/schemas/{name}"
_DEFINITION = {"$ref": _REF.format(name="Definition")}

AsOf = Annotated[
    datetime | None,
    Query(
        description="Count as of this moment (ISO 8601; without an offset, the shop's time zone). "
        "Default: now. Nothing at or after it is seen.",
    ),
]


def _moment(as_of: datetime | None) -> datetime:
    return to_utc(as_of) if as_of is not None else datetime.now(UTC)  # the surface reads the clock


async def _definition(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ApiError(
            413, "too_large", f"the definition has {int(length):,} bytes; the limit is {MAX_BODY_BYTES:,}"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"the definition is larger than {MAX_BODY_BYTES:,} bytes")
    return bytes(body)


def _not_the_preview(segment_id: str, request: Request) -> None:
    """``GET`` or ``DELETE /v1/segments/preview`` is a wrong method on the preview, not a
    segment called "preview" (no segment id is a word)."""
    if segment_id == "preview":
        raise ApiError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here; use POST",
            headers={"Allow": "POST"},
        )


def _not_found(segment_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no saved segment {segment_id!r} (GET /v1/segments lists them)")


def _body(description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": _DEFINITION}},
        }
    }


_PREVIEW = {
    "type": "object",
    "required": ["count", "sample", "by_segment", "warnings", "as_of"],
    "properties": {
        "count": {"type": "integer"},
        "sample": {"type": "array", "items": {"type": "object"}},
        "by_segment": {"type": "array", "items": {"type": "object"}},
        "warnings": {"type": "array", "items": {"type": "object"}},
        "as_of": {"type": "string", "format": "date-time"},
        "seconds": {"type": "number"},
    },
}
_SEGMENT = {
    "type": "object",
    "required": ["id", "name", "definition", "members"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "object"},
        "definition": _DEFINITION,
        "members": {"type": "integer"},
        "live": {"type": "boolean", "description": "kept up to date as events arrive (see /v1/live)"},
        "live_problem": {"type": ["string", "null"], "description": "why it is counted at each run"},
    },
}


@router.post(
    "/preview",
    summary="How many customers a definition holds, a few of them and how many per RFM segment "
    "(nothing is saved); names the store has never seen come back as warnings",
    openapi_extra=_body(f"A segment definition (at most {MAX_CONDITIONS} conditions; see docs/segments.md)"),
    responses={200: {"description": "The preview", "content": {"application/json": {"schema": _PREVIEW}}}},
    response_model=None,
)
async def preview_segment(
    request: Request,
    as_of: AsOf = None,
    sample: Annotated[int, Query(ge=0, le=100, description="Customers to list")] = 10,
) -> dict[str, Any]:
    definition = parse_definition(await _definition(request))
    moment = _moment(as_of)
    found = await request.app.state.worker.run(
        lambda store: preview(store, definition, as_of=moment, sample=sample)
    )
    return found.to_dict()


@router.post(
    "",
    summary="Save a definition as a segment and count its members (their history starts now)",
    openapi_extra=_body("A segment definition"),
    responses={201: {"description": "Saved", "content": {"application/json": {"schema": _SEGMENT}}}},
    status_code=201,
    response_model=None,
)
async def create(
    request: Request,
    as_of: AsOf = None,
    count: Annotated[bool, Query(description="Count the members now")] = True,
) -> JSON:
    definition = parse_definition(await _definition(request))
    moment = _moment(as_of)
    saved = await request.app.state.worker.run(
        lambda store: create_segment(store, definition, as_of=moment, materialize=count)
    )
    return JSON(saved.to_dict(), status_code=201)


@router.get("", summary="The saved segments, newest first, with their current members", response_model=None)
async def list_segments(request: Request) -> dict[str, Any]:
    found = await request.app.state.worker.run(saved_segments)
    return {"segments": [s.to_dict() for s in found]}


def _one(store: Store, segment_id: str) -> dict[str, Any] | None:
    try:
        return saved_segment(store, segment_id).to_dict()
    except UnknownSegmentError:
        return None


@router.get(
    "/{segment_id}",
    summary="A saved segment: names, description, definition, current members",
    responses={
        200: {"description": "The segment", "content": {"application/json": {"schema": _SEGMENT}}},
        **error_responses(405),
    },
    response_model=None,
)
async def show(segment_id: str, request: Request) -> dict[str, Any]:
    _not_the_preview(segment_id, request)
    found = await request.app.state.worker.run(_one, segment_id)
    if found is None:
        raise _not_found(segment_id)
    return found


def _members(
    store: Store, segment_id: str, offset: int, limit: int, at: datetime | None
) -> dict[str, Any] | None:
    try:
        total, rows = member_list(store, segment_id, offset=offset, limit=limit, at=at)
    except UnknownSegmentError:
        return None
    plain = [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]
    return {"total": total, "offset": offset, "members": plain}


@router.get(
    "/{segment_id}/members",
    summary="A page of a saved segment's members (now, or at a moment of its history), longest-standing first",
    response_model=None,
)
async def members(
    segment_id: str,
    request: Request,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    at: Annotated[datetime | None, Query(description="The members at this moment (ISO 8601)")] = None,
) -> dict[str, Any]:
    moment = to_utc(at) if at is not None else None
    found = await request.app.state.worker.run(_members, segment_id, offset, limit, moment)
    if found is None:
        raise _not_found(segment_id)
    return found


def _refresh(store: Store, segment_id: str, as_of: datetime) -> dict[str, Any] | None:
    try:
        change = materialize(store, segment_id, as_of=as_of)
    except UnknownSegmentError:
        return None
    return {"id": segment_id, "members": change.members, "entered": change.entered, "exited": change.exited}


@router.post(
    "/{segment_id}/refresh",
    summary="Count a saved segment's members again: who entered, who left",
    response_model=None,
)
async def refresh(segment_id: str, request: Request, as_of: AsOf = None) -> dict[str, Any]:
    found = await request.app.state.worker.run(_refresh, segment_id, _moment(as_of))
    if found is None:
        raise _not_found(segment_id)
    return found


def _delete(store: Store, segment_id: str) -> str | None:
    try:
        remove_segment(store, segment_id)
    except UnknownSegmentError:
        return "missing"
    except SegmentInUseError as exc:
        return str(exc)
    return None


@router.delete(
    "/{segment_id}",
    summary="Delete a saved segment and its members' history (refused while another segment uses it)",
    responses={**error_responses(405, 409), 204: {"description": "Deleted"}},
    status_code=204,
    response_model=None,
)
async def delete(segment_id: str, request: Request) -> Response:
    _not_the_preview(segment_id, request)
    problem = await request.app.state.worker.run(_delete, segment_id)
    if problem == "missing":
        raise _not_found(segment_id)
    if problem is not None:
        raise ApiError(409, "in_use", problem)
    return Response(status_code=204)


def document_definitions(app: FastAPI) -> None:
    """Put the definition's JSON Schema (its declared types, recursive) among the OpenAPI
    document's components, where the segment operations refer to it."""
    import msgspec

    from shopmind.segments import Definition

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            (_,), components = msgspec.json.schema_components([Definition], ref_template=_REF)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
