"""The dashboard's own script and style, and plotly.js from the plotly wheel (no CDN: the
dashboard works offline), with long caching since each file changes only with a release."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from shopmind.web._frame import PREFIX

router = APIRouter(prefix=f"{PREFIX}/static", include_in_schema=False)
_OURS = {
    "dashboard.js": "text/javascript",
    "segments.js": "text/javascript",
    "campaigns.js": "text/javascript",
    "dashboard.css": "text/css",
}
_CACHE = {"Cache-Control": "public, max-age=86400"}


def _plotly() -> Path:
    import plotly  # only to find its files

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@router.get("/{name}")
async def asset(name: str) -> FileResponse:
    if name == "plotly.min.js":
        return FileResponse(_plotly(), media_type="text/javascript", headers=_CACHE)
    if name in _OURS:
        path = Path(str(resources.files("shopmind.web") / "static" / name))
        return FileResponse(path, media_type=_OURS[name], headers=_CACHE)
    raise HTTPException(404)
