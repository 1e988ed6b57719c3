"""Customers: the RFM segment map (sizes and revenue), movement between two runs, and each
segment's customers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import HTMLResponse
from starlette.requests import Request

from shopmind.insights import (
    ABSENT,
    LIST_SCORES,
    Movement,
    Run,
    label,
    movement,
    runs_of,
    segment_customers,
    segment_map,
)
from shopmind.store import Store
from shopmind.web import _charts
from shopmind.web._frame import lang_of, page, render
from shopmind.web._reading import read

router = page("customers", "nav.customers")
JOB = "customer_intelligence"


def _pick(runs: list[Run], run_id: str | None, default: int) -> Run | None:
    for run in runs:
        if run.run_id == run_id:
            return run
    return runs[default] if len(runs) > default else None


def _segments(store: Store, run_id: str | None, earlier_id: str | None) -> dict[str, object]:
    runs = runs_of(store, JOB)
    run = _pick(runs, run_id, 0)
    if run is None:
        return {"runs": runs, "run": None}
    earlier = _pick([r for r in runs if r.as_of < run.as_of], earlier_id, 0)
    return {
        "runs": runs,
        "run": run,
        "earlier": earlier,
        "sizes": segment_map(store, run),
        "moves": movement(store, earlier, run) if earlier else [],
    }


@router.get("", response_class=HTMLResponse)
async def show(
    request: Request,
    run: Annotated[str | None, Query(max_length=64)] = None,
    earlier: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    found = await read(request, _segments, run, earlier)
    lang = lang_of(request)
    charts = {}
    if found["run"] is not None:
        sizes = [s for s in found["sizes"] if s.customers]  # type: ignore[attr-defined]
        total = sum(s.revenue for s in sizes) or 1.0
        names = [s.ko if lang == "ko" else s.en for s in sizes]
        charts["map"] = _charts.treemap(
            [s.key for s in sizes],
            names,
            [s.customers for s in sizes],
            [s.revenue for s in sizes],
            [f"₩{s.revenue:,.0f} ({s.revenue / total:.0%})" for s in sizes],
        )
        moves = [m for m in found["moves"] if m.source != m.target]  # type: ignore[attr-defined]
        if moves:
            named = {k: (v["ko"] if lang == "ko" else v["en"]) for k, v in _labels(moves).items()}
            charts["movement"] = _charts.sankey(
                [f"{m.source}" for m in moves], [m.target for m in moves], [m.customers for m in moves], named
            )
            found["moved"] = sum(m.customers for m in moves)
    return render(request, "customers.html", "nav.customers", charts=charts, **found)


def _labels(moves: list[Movement]) -> dict[str, dict[str, str]]:
    keys = {m.source for m in moves} | {m.target for m in moves}
    out = {k: label(k) for k in keys}
    out[ABSENT] = {"ko": "이전 분석에 없음", "en": "not in the earlier run"}
    return out


def _members(store: Store, segment: str, run_id: str | None, offset: int) -> dict[str, object]:
    job = {"vip_at_risk": "churn_risk", "could_become_vip": "vip_lookalike"}.get(segment, JOB)
    runs = runs_of(store, job)
    run = _pick(runs, run_id, 0)
    if run is None:
        return {"run": None, "total": 0, "rows": []}
    total, rows = segment_customers(store, run, segment, offset=offset, limit=50)
    return {"run": run, "total": total, "rows": rows}


@router.get("/segment/{segment}", response_class=HTMLResponse)
async def members(
    request: Request,
    segment: str,
    run: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> HTMLResponse:
    found = await read(request, _members, segment, run, offset)
    names = label(segment)
    return render(
        request,
        "segment.html",
        "cu.list",
        segment=names,
        offset=offset,
        limit=50,
        columns=LIST_SCORES,
        **found,
    )
