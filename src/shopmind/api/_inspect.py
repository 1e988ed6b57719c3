"""What a shop developer asks while wiring the tracker (secret key): did my event arrive, and
what was rejected and why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from shopmind.api._auth import requires
from shopmind.api._errors import ApiError, error_responses
from shopmind.store import Store

router = APIRouter(
    prefix="/v1",
    tags=["inspect"],
    dependencies=[Depends(requires("secret"))],
    responses=error_responses(400, 401, 403, 404, 429),
)

_EVENT_COLUMNS = (
    "message_id",
    "type",
    "name",
    "anonymous_id",
    "user_id",
    "session_id",
    "event_time",
    "client_time",
    "received_at",
    "time_flag",
    "product_id",
    "order_id",
)


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _event(store: Store, message_id: str) -> dict[str, Any] | None:
    rows = store.sql(f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events WHERE message_id = ?", [message_id])
    return {k: _plain(v) for k, v in zip(_EVENT_COLUMNS, rows[0], strict=True)} if rows else None


@router.get("/events/{message_id}", summary="One stored event, by its messageId")
async def event(message_id: str, request: Request) -> dict[str, Any]:
    found = await request.app.state.worker.run(_event, message_id)
    if found is None:
        raise ApiError(404, "not_found", f"no event with messageId {message_id!r} is stored")
    return found


def _quarantine(store: Store, limit: int) -> list[dict[str, Any]]:
    rows = store.sql(
        """SELECT quarantined_at, source, line_no, field, reason, raw FROM quarantine
        ORDER BY quarantined_at DESC, line_no LIMIT ?""",
        [limit],
    )
    keys = ("quarantined_at", "source", "index", "field", "reason", "raw")
    return [{k: _plain(v) for k, v in zip(keys, row, strict=True)} for row in rows]


@router.get("/quarantine", summary="The latest rejected events and files' rows, with the reason")
async def quarantine(
    request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> dict[str, list[dict[str, Any]]]:
    return {"rejected": await request.app.state.worker.run(_quarantine, limit)}
