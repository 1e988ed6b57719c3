"""The collection API, shaped like the common tracking APIs: ``/v1/track``, ``/v1/identify``,
``/v1/alias``, ``/v1/page`` take one event; ``/v1/batch`` takes ``{"batch": [...]}``.

A request is answered 200 only when its events are durable in the store (group commit); an event
re-sent with the same ``messageId`` is stored once (``duplicate: true``); invalid events are kept
in the quarantine with their reasons (400 for a single event; in a batch the valid ones are stored
and the invalid ones are listed by index). Bodies above the size limits get 413, bodies that are
not JSON 400, and a server behind on writing answers 503 with Retry-After instead of failing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request

from shopmind.api._auth import requires
from shopmind.api._errors import ERROR_SCHEMA, ApiError
from shopmind.api._worker import GroupCommitter
from shopmind.core import FieldError
from shopmind.events import CLIENT_SOURCE, SERVER_SOURCE
from shopmind.ingest import Rejected, validate_incoming

router = APIRouter(prefix="/v1", tags=["collect"])

#: Content-Encodings a body may come in (the tracking libraries gzip their batches).
_DECODERS: dict[str, Callable[[], Any]] = {
    "identity": lambda: None,
    "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "x-gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "deflate": lambda: zlib.decompressobj(),
}
#: Events validated between two turns of the event loop: a large batch never holds up the
#: others' requests (or /healthz) for more than a few milliseconds.
VALIDATION_CHUNK = 250
#: Seconds a request's body may take to arrive.
BODY_TIMEOUT_S = 30.0

_TEXT: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 512}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """Optional fields may also be null (as the tracking libraries send them)."""
    if "enum" in schema:
        return schema if None in schema["enum"] else {**schema, "enum": [*schema["enum"], None]}
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return schema if "null" in kinds else {**schema, "type": [*kinds, "null"]}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return _or_null({"type": "object", "properties": {k: _or_null(v) for k, v in properties.items()}})


_CONTEXT = _object(
    device=_object(type={"enum": ["mobile", "desktop", "tablet", "other"]}),
    os=_object(name=_TEXT),
    channel={"enum": ["web", "app"]},
    locale={"type": "string", "maxLength": 35},
    location=_object(region=_TEXT, city=_TEXT),
    page=_object(url={"type": "string", "maxLength": 4096}, referrer={"type": "string", "maxLength": 4096}),
    campaign=_object(**{k: _TEXT for k in ("source", "medium", "name", "term", "content")}),
)
_CONTEXT["type"] = "object"  # the context itself may not be null
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}


def _present(*names: str) -> dict[str, Any]:
    return {"required": list(names), "properties": {n: _TEXT for n in names}}


def _event_schema(kind: str | None, required: tuple[str, ...] = (), description: str = "") -> dict[str, Any]:
    """The event of an endpoint (``kind``: its type) or of a batch (any type), Segment-style keys."""
    schema: dict[str, Any] = {
        "type": "object",
        "description": description or "One event (Segment-style keys; snake_case works too).",
        "properties": {
            "messageId": _or_null(_TEXT),
            "type": {"enum": [kind]} if kind else _TEXT,
            **{
                k: _or_null(_TEXT)
                for k in ("event", "name", "anonymousId", "userId", "previousId", "sessionId")
            },
            "timestamp": _or_null(_TIME),
            "sentAt": _or_null(_TIME),
            "context": _CONTEXT,
            "properties": {"type": "object"},
            "traits": {"type": "object"},
            **{key: {} for key in ("integrations", "version", "writeKey", "receivedAt", "originalTimestamp")},
        },
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
        schema["properties"].update({n: _TEXT for n in required if n != "type"})
    alternatives = []
    if "userId" not in required:
        alternatives.append({"anyOf": [_present("anonymousId"), _present("userId")]})
    if kind == "track":  # the name may come as "event" or "name"
        alternatives.append({"anyOf": [_present("event"), _present("name")]})
    if alternatives:
        schema["allOf"] = alternatives
    return schema


_EVENT_SCHEMA = _event_schema(
    None, ("type",), "One event of any type (track, page, identify, alias, product_view, …)."
)
_ENDPOINT_SCHEMAS = {
    "track": _event_schema("track", (), "A named event (e.g. 'Product Viewed' or a name of your own)."),
    "identify": _event_schema(
        "identify", ("userId",), "Tie a visitor (anonymousId) to a member id, with traits."
    ),
    "alias": _event_schema("alias", ("previousId", "userId"), "Merge two ids of one person."),
    "page": _event_schema("page", (), "A page view (context.page.url)."),
}
_REJECTED_SCHEMA = {
    "type": "object",
    "required": ["index", "errors"],
    "properties": {"index": {"type": "integer"}, "errors": ERROR_SCHEMA["properties"]["errors"]},
}
_ONE_RESPONSE = {
    "type": "object",
    "required": ["success", "messageId", "duplicate"],
    "properties": {
        "success": {"type": "boolean"},
        "messageId": {"type": "string"},
        "duplicate": {"type": "boolean"},
        "timeFlag": {"type": ["string", "null"]},
    },
}
_BATCH_RESPONSE = {
    "type": "object",
    "required": ["success", "accepted", "duplicates", "rejected"],
    "properties": {
        "success": {"type": "boolean"},
        "accepted": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "rejected": {"type": "array", "items": _REJECTED_SCHEMA},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


_ERRORS = {
    "400": _error("Not JSON, or the event is invalid (each field and why; the event is quarantined)"),
    "401": _error("Missing or wrong key"),
    "408": _error("The body took too long to arrive"),
    "413": _error("The body is larger than the limit (or a batch has more events than the limit)"),
    "415": _error("A Content-Encoding other than gzip or deflate"),
    "429": _error("Too many requests for this key (see Retry-After)"),
    "503": _error("The server is behind on writing (see Retry-After)"),
    "507": _error("The server's disk is full: nothing was stored (see Retry-After)"),
}


def _doc(schema: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": {
            "200": {"description": "Stored (durable)", "content": {"application/json": {"schema": response}}},
            **_ERRORS,
        },
    }


async def _read(request: Request, limit: int) -> Any:
    length = request.headers.get("content-length")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in _DECODERS:
        raise ApiError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or an uncompressed body",
        )
    if encoding == "identity" and length and length.isdigit() and int(length) > limit:
        raise ApiError(413, "too_large", f"the body has {int(length):,} bytes; the limit is {limit:,}")
    decoder = _DECODERS[encoding]()
    data = bytearray()
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):  # a slow sender holds a connection, not for ever
            async for chunk in request.stream():
                try:  # at most one byte beyond the limit is inflated: a small bomb stays small
                    data += decoder.decompress(chunk, limit + 1 - len(data)) if decoder else chunk
                except zlib.error:
                    raise ApiError(
                        400, "invalid_encoding", f"the body is not valid {encoding} data; compress it again"
                    ) from None
                if len(data) > limit:
                    raise ApiError(413, "too_large", f"the body is larger than the limit of {limit:,} bytes")
    except TimeoutError:
        raise ApiError(
            408, "too_slow", f"the body took longer than {BODY_TIMEOUT_S:.0f} s to arrive; send it again"
        ) from None
    try:
        return orjson.loads(data)  # (a bytearray is read as it is, without a copy)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, "invalid_json", f"the body is not valid JSON ({exc}); send one JSON object"
        ) from None


async def _store(
    request: Request, raws: list[Any], defaults: dict[str, Any], kind: str
) -> tuple[list[Any], list[bool], list[Rejected]]:
    state = request.app.state
    # the write key is public (it sits in every shop page): what comes with it is a claim
    source = SERVER_SOURCE if kind == "secret" else CLIENT_SOURCE
    committer: GroupCommitter = state.committer
    if not committer.running:
        raise ApiError(503, "unavailable", "the server is shutting down; retry", headers={"Retry-After": "1"})
    if committer.would_overflow(len(raws)):
        raise ApiError(
            503,
            "overloaded",
            "the server is behind on writing; retry after Retry-After seconds",
            headers={"Retry-After": "1"},
        )
    received_at = datetime.now(UTC)
    events, rejected = [], []
    for start in range(0, len(raws), VALIDATION_CHUNK):
        if start:
            await asyncio.sleep(0)  # let other requests in between
        accepted, refused = validate_incoming(
            raws[start : start + VALIDATION_CHUNK],
            received_at=received_at,
            hasher=state.hasher,
            defaults=defaults,
            max_bytes=state.config.max_event_bytes,
            source=source,
            limits=state.config.limits,
        )
        events += accepted
        rejected += [dataclasses.replace(r, index=r.index + start) for r in refused] if start else refused
    duplicates = await committer.submit(events, rejected)
    if events:  # the dashboard's freshness
        state.last_event_at = events[-1].received_at
    # the live sessions see each stored event once (a re-sent one is not news)
    state.onsite.observe([e for e, seen in zip(events, duplicates, strict=True) if not seen])
    return events, duplicates, rejected


def _single(endpoint_type: str | None) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def collect(request: Request, kind: str = Depends(requires("write"))) -> dict[str, Any]:
        raw = await _read(request, request.app.state.config.max_event_bytes)
        if not isinstance(raw, dict):
            raise ApiError(
                400,
                "invalid_event",
                "the body must be one JSON object (an event)",
                [FieldError("event", "expected a JSON object")],
            )
        defaults = {"type": endpoint_type} if endpoint_type else {}
        events, duplicates, rejected = await _store(request, [raw], defaults, kind)
        if rejected:
            errors = rejected[0].errors
            raise ApiError(
                400, "invalid_event", "; ".join(str(e) for e in errors) + " (kept in the quarantine)", errors
            )
        return {
            "success": True,
            "messageId": events[0].message_id,
            "duplicate": duplicates[0],
            "timeFlag": events[0].time_flag,
        }

    return collect


for _path, _type, _summary in (
    ("/track", "track", "Record what a visitor did (a named event)"),
    ("/identify", "identify", "Tie a visitor to a known customer, with traits"),
    ("/alias", "alias", "Merge two ids of one person (previousId → userId)"),
    ("/page", "page", "Record a page view"),
):
    router.add_api_route(
        _path,
        _single(_type),
        methods=["POST"],
        summary=_summary,
        openapi_extra=_doc(_ENDPOINT_SCHEMAS[_type], _ONE_RESPONSE),
        response_model=None,
    )


def _is_iso_time(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _shared_errors(defaults: dict[str, Any]) -> list[FieldError]:
    """What is wrong with a batch's shared ``sentAt`` and ``context`` (they would fail every event)."""
    errors = []
    if defaults.get("sentAt") is not None and not _is_iso_time(defaults["sentAt"]):
        errors.append(FieldError("sentAt", "expected an ISO 8601 date-time, e.g. 2026-11-01T09:00:00+09:00"))
    if "context" in defaults and not isinstance(defaults["context"], dict):
        errors.append(FieldError("context", "expected an object"))
    return errors


@router.post(
    "/batch",
    summary="Record many events at once (valid ones are stored, invalid ones listed by index)",
    openapi_extra=_doc(
        {
            "type": "object",
            "required": ["batch"],
            "properties": {
                "batch": {"type": "array", "items": _EVENT_SCHEMA},
                "sentAt": _or_null(_TIME),
                "context": _CONTEXT,
            },
        },
        _BATCH_RESPONSE,
    ),
    response_model=None,
)
async def batch(request: Request, kind: str = Depends(requires("write"))) -> dict[str, Any]:
    raw = await _read(request, request.app.state.config.max_batch_bytes)
    if not isinstance(raw, dict) or not isinstance(raw.get("batch"), list):
        raise ApiError(
            400,
            "invalid_batch",
            'the body must be {"batch": [events...]}',
            [FieldError("batch", "expected a list of events")],
        )
    defaults: dict[str, Any] = {}
    for key in ("sentAt", "context"):  # shared by every event that has none of its own
        if key in raw:
            defaults[key] = raw[key]
    limit = request.app.state.config.max_batch_events
    if len(raw["batch"]) > limit:
        raise ApiError(
            413,
            "too_many_events",
            f"the batch has {len(raw['batch']):,} events; the limit is {limit:,} per batch: send more batches",
            [FieldError("batch", f"at most {limit:,} events")],
        )
    shared = _shared_errors(defaults)
    if shared:
        raise ApiError(400, "invalid_batch", "; ".join(str(e) for e in shared), shared)
    events, duplicates, rejected = await _store(request, raw["batch"], defaults, kind)
    return {
        "success": not rejected,
        "accepted": len(events),
        "duplicates": sum(duplicates),
        "rejected": [
            {"index": r.index, "errors": [{"field": e.field, "reason": e.reason} for e in r.errors]}
            for r in rejected
        ],
    }
