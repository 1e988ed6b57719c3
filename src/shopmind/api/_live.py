"""Live segment membership in the server: the saved segments that can be kept live are counted as
events are committed (``GroupCommitter`` feeds them each group before acknowledging it), their
entries and exits go into the segments' membership history with the next write of derived rows
(well within a second), the on-site decisions see them at once (a trigger's
``target.saved_segment``), and a sweep every ``SWEEP_S`` applies the exits of windows that slid
past, takes in segments saved or changed meanwhile and identities linked outside the live path.

``GET /v1/live/segments`` says which saved segments are live (and why the others are not),
``GET /v1/live/segments/{id}/members`` their members now, ``GET /v1/live/profiles/{id}`` the live
segments a customer is in now.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from shopmind.api._auth import requires
from shopmind.api._errors import ERROR_SCHEMA, ApiError, error_responses
from shopmind.api._worker import StoreWorker
from shopmind.segments import LiveMembership

_log = logging.getLogger("shopmind.api")
#: seconds between two sweeps (time-based exits are dated when they happened, whatever the delay)
SWEEP_S = 1.0

_NOT_LIVE: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "The segment is counted at each run, not kept live (the message says why)",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }
}
router = APIRouter(
    prefix="/v1/live",
    tags=["live segments"],
    dependencies=[Depends(requires("secret"))],
    responses={**error_responses(401, 403, 404, 429), **_NOT_LIVE},
)


class LiveSweeper:
    """Sweeps live membership on the store's thread every ``every`` seconds."""

    def __init__(self, worker: StoreWorker, membership: LiveMembership, every: float = SWEEP_S) -> None:
        self.worker, self.membership, self.every = worker, membership, every
        self.sweeps = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="shopmind-live-sweep")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.worker.write(self.membership.sweep)
                self.sweeps += 1
            except Exception:  # the next sweep tries again
                _log.exception("the live segments' sweep failed")

    async def refresh_static(self) -> None:
        """Read the static conditions again (after a run)."""
        await self.worker.write(self.membership.refresh_static)


def _membership(request: Request) -> LiveMembership:
    membership: LiveMembership = request.app.state.live
    return membership


@router.get("/segments", summary="Which saved segments are kept live, how many members each has now")
async def live_segments(request: Request) -> dict[str, Any]:
    engine = _membership(request).engine
    live = [
        {
            "id": segment_id,
            "name": {"ko": s.definition.name.text("ko"), "en": s.definition.name.text("en")},
            "live": True,
            "members": len(engine.members(segment_id)),
        }
        for segment_id, s in list(engine.segments.items())
    ]
    counted = [
        {"id": segment_id, "live": False, "reason": reason}
        for segment_id, reason in list(engine.problems.items())
    ]
    return {"segments": live + counted, "state": engine.stats()}


@router.get(
    "/segments/{segment_id}/members", summary="The members of a live segment now, with when each entered"
)
async def live_members(
    request: Request,
    segment_id: Annotated[str, Path(max_length=64)],
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    engine = _membership(request).engine
    if segment_id in engine.problems:
        raise ApiError(
            409, "not_live", f"segment {segment_id!r} is not kept live: {engine.problems[segment_id]}"
        )
    if segment_id not in engine.segments:
        raise ApiError(
            404, "not_found", f"no saved segment {segment_id!r} (GET /v1/live/segments lists them)"
        )
    found = sorted(engine.members(segment_id).items(), key=lambda item: (item[1], item[0]))
    return {
        "segment_id": segment_id,
        "count": len(found),
        "members": [{"profile_id": p, "entered_at": at} for p, at in found[:limit]],
    }


@router.get("/profiles/{identifier:path}", summary="The live segments a customer is in now")
async def live_profile(request: Request, identifier: str) -> dict[str, Any]:
    engine = _membership(request).engine
    ids = [identifier] if ":" in identifier else [f"user:{identifier}", f"anon:{identifier}"]
    return {"identifier": identifier, "segments": sorted(engine.segments_of(*ids))}
