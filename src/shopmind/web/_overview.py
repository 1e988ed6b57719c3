"""Overview: customers, revenue and orders by day, the 80/20 Pareto curve with the VIPs' share,
how fresh each result is, and the server's analysis runs (the next scheduled one, the history,
and a button that starts one now)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Query
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.requests import Request

from shopmind.core import ShopmindError
from shopmind.insights import overview
from shopmind.web import _charts
from shopmind.web._access import Viewer, require
from shopmind.web._frame import PREFIX, lang_of, page, render
from shopmind.web._i18n import message
from shopmind.web._kpi_tiles import kpi_context
from shopmind.web._reading import read

router = page("overview", "nav.overview")


@router.get("", response_class=HTMLResponse)
async def show(
    request: Request,
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
    within: Annotated[str, Query(max_length=3)] = "",
) -> HTMLResponse:
    found = await read(request, overview)
    lang = lang_of(request)
    t = lambda key: message(key, lang)  # noqa: E731
    charts = {
        "trend": _charts.trend(
            [d.isoformat() for d, _, _ in found.days],
            [r for _, _, r in found.days],
            [n for _, n, _ in found.days],
            (t("ov.revenue"), t("ov.orders")),
        )
    }
    if found.pareto is not None and found.pareto.curve:
        charts["pareto"] = _charts.pareto(
            found.pareto.curve,
            found.pareto.top_share_of_buyers,
            (t("ov.share_buyers"), t("ov.share_revenue")),
        )
    last_event = getattr(request.app.state, "last_event_at", None)
    # the KPI tiles for the range picked on the page (issue 17, point 3)
    tiles = await kpi_context(request, start, end, within)
    return render(
        request,
        "overview.html",
        "nav.overview",
        o=found,
        charts=charts,
        last_event=last_event,
        jobs=_jobs(request),
        asked=request.query_params.get("run"),
        **tiles,
    )


def _jobs(request: Request) -> dict[str, Any] | None:
    """The server's runs: the one in progress, the next scheduled one and the latest ones."""
    jobs = getattr(request.app.state, "jobs", None)
    scheduler = getattr(request.app.state, "scheduler", None)
    if jobs is None or scheduler is None:
        return None
    return {
        "running": jobs.running,
        "next_at": scheduler.next_at,
        "history": [(job, _facts(job.detail)) for job in jobs.history[:10]],
    }


def _facts(detail: str | None) -> dict[str, Any]:
    try:
        found = orjson.loads(detail) if detail else {}
    except orjson.JSONDecodeError:
        return {"error": detail}
    return found if isinstance(found, dict) else {}


@router.post("/run", response_class=RedirectResponse)
async def run_now(request: Request, _: Annotated[Viewer, Depends(require("marketer"))]) -> RedirectResponse:
    """Start every customer-intelligence job now (the button: a marketer's); back to the overview."""
    jobs = request.app.state.jobs
    try:
        await jobs.full_run("dashboard", wait=False)
    except ShopmindError:  # a run is in progress
        return RedirectResponse(f"{PREFIX}/overview?run=busy#jobs", 303)
    return RedirectResponse(f"{PREFIX}/overview?run=started#jobs", 303)
