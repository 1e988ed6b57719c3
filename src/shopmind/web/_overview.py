"""Overview: customers, revenue and orders by day, the 80/20 Pareto curve with the VIPs' share,
and how fresh each result is."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import HTMLResponse
from starlette.requests import Request

from shopmind.insights import overview
from shopmind.web import _charts
from shopmind.web._frame import lang_of, page, render
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
        request, "overview.html", "nav.overview", o=found, charts=charts, last_event=last_event, **tiles
    )
