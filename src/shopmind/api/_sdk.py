"""The JavaScript tracker, served at ``/sdk.js`` (see ``static/sdk.js`` for its API)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["tracker"])
_SDK = files("shopmind.api").joinpath("static/sdk.js").read_bytes()


@router.get(
    "/sdk.js",
    summary="The JavaScript tracker: track, page, identify, exit intent, scroll, on-site rendering",
    response_class=Response,
    responses={200: {"content": {"application/javascript": {}}, "description": "The tracker"}},
)
async def sdk() -> Response:
    return Response(
        _SDK, media_type="application/javascript", headers={"Cache-Control": "public, max-age=300"}
    )
