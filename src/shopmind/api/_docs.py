"""The API's interactive documentation at ``/docs``, with Swagger UI served from this server.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so it is a blank page on a shop's machine without
internet access (and tells the CDN who reads the docs). The assets come from the ``swagger-ui-py``
wheel (Swagger UI 5, which reads the OpenAPI 3.1 document FastAPI writes)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)
ASSETS = Path(swagger_ui.__file__).parent / "static"
_SERVED = {
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


@router.get("/docs")
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="shopmind API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
    )


@router.get("/docs/assets/{name}")
async def asset(name: str) -> FileResponse:
    media = _SERVED.get(name)  # only the named files: never a path into the package
    if media is None:
        raise HTTPException(404, "no such asset")
    return FileResponse(ASSETS / name, media_type=media, headers={"Cache-Control": "public, max-age=86400"})
