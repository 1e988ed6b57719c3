"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from shopmind.api._json import JSON

router = APIRouter(tags=["health"])


@router.api_route("/healthz", methods=["GET", "HEAD"], summary="The process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The store is open and events are being written (and how far the recommender is)",
    response_model=None,
)
async def readyz(request: Request) -> JSON:
    committer = request.app.state.committer
    storage = committer.storage_ready()
    ready = committer.running and storage
    payload: dict[str, Any] = {
        "ready": ready,
        "storage": "ok" if storage else "full",
        "pending_events": committer.pending,
        "groups_written": committer.groups,
        "recommender": request.app.state.recommender.status,
        "recommender_note": request.app.state.recommender.note,
        "recommender_fit_seconds": request.app.state.recommender.fit_seconds,
        "live_sessions": len(request.app.state.onsite.tracker),
    }
    return JSON(payload, status_code=200 if ready else 503)
