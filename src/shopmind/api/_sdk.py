"""The JavaScript tracker, served at ``/sdk.js`` (see ``static/sdk.js`` for its API)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["tracker"])
_SDK = files("shopmind.api").joinpath("static/sdk.js").read_bytes()


@router.api_route(
    "/sdk.js",
    methods=["GET", "HEAD"],
    summary="The JavaScript tracker: track, page, identify, consent, web push, exit intent, scroll, on-site "
    "rendering",
    response_class=Response,
    responses={200: {"content": {"application/javascript; charset=utf-8": {}}, "description": "The tracker"}},
)
async def sdk() -> Response:
    return Response(
        # the charset: a shop page in EUC-KR would read the tracker's Korean texts as mojibake
        _SDK,
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
