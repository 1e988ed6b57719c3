"""Predictions: the CLV distribution; the purchase probability in bands, where the marketer picks
a band or types a range, sees how many profiles and how many expected buyers, and saves or exports
that audience; churn risk with the VIPs at risk and the dormant former VIPs; who could become a
VIP; and the model cards (calibration, lift by decile, backtest)."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import Request

from shopmind.insights import (
    audience,
    audience_size,
    bands,
    distribution,
    model_cards,
    score_run,
    segment_customers,
)
from shopmind.insights import latest_run as latest
from shopmind.segments import Profile, create_segment, saved_segments, write_csv
from shopmind.store import Store
from shopmind.web import _charts
from shopmind.web._access import Viewer, require
from shopmind.web._frame import lang_of, page, render
from shopmind.web._i18n import message
from shopmind.web._reading import read

router = page("predictions", "nav.predictions")
Score = Literal["purchase_probability", "churn_risk", "vip_lookalike"]
#: saving and exporting an audience (personal data leaves the dashboard) needs a marketer
Marketer = Annotated[Viewer, Depends(require("marketer"))]
#: the lists beside the charts: segment, the job whose run holds it, the order of its rows
LISTS = (
    ("vip_at_risk", "churn_risk", "clv_12m"),
    ("dormant_vip", "customer_intelligence", "revenue"),
    ("could_become_vip", "vip_lookalike", "vip_lookalike"),
)
LIST_ROWS = 10


def _page_data(store: Store) -> dict[str, Any]:
    out: dict[str, Any] = {"audiences": _saved_bands(store), "cards": model_cards(store)}
    clv = score_run(store, "clv_12m")
    out["clv"] = distribution(store, *clv) if clv else None
    purchase = score_run(store, "purchase_probability")
    out["purchase_name"] = purchase[1] if purchase else None
    out["purchase"] = bands(store, *purchase) if purchase else None
    churn = score_run(store, "churn_risk")
    out["churn"] = bands(store, *churn, width=0.1) if churn else None
    lists = {}
    for segment, job, order in LISTS:
        run = latest(store, job)
        if run is not None:
            total, rows = segment_customers(store, run, segment, limit=LIST_ROWS, order=order)
            lists[segment] = {"run": run, "total": total, "rows": rows}
    out["lists"] = lists
    return out


@router.get("", response_class=HTMLResponse)
async def show(request: Request) -> HTMLResponse:
    found = await read(request, _page_data)
    lang = lang_of(request)
    t = lambda key: message(key, lang)  # noqa: E731
    charts: dict[str, Any] = {}
    if found["clv"] is not None and found["clv"].total:
        h = found["clv"]
        mids = [(a + b) / 2 for a, b in zip(h.edges, h.edges[1:], strict=False)]
        charts["clv"] = _charts.bars(mids, h.counts, t("sc.clv_12m"), t("cu.customers"))
    if found["purchase"] is not None:
        b = found["purchase"]
        charts["purchase"] = _charts.bars(
            [(x.low + x.high) / 2 for x in b],
            [x.profiles for x in b],
            t("sc.purchase_probability"),
            t("pr.profiles"),
            customdata=[[x.low, x.high, x.expected] for x in b],
            width=[0.048] * len(b),
            hovertemplate="%{customdata[0]:.0%}–%{customdata[1]:.0%}: %{y:,}<extra></extra>",
        )
        charts["purchase"]["layout"]["xaxis"]["tickformat"] = ".0%"
    if found["churn"] is not None:
        b = found["churn"]
        charts["churn"] = _charts.bars(
            [(x.low + x.high) / 2 for x in b],
            [x.profiles for x in b],
            t("sc.churn_risk"),
            t("pr.profiles"),
            width=[0.095] * len(b),
        )
        charts["churn"]["layout"]["xaxis"]["tickformat"] = ".0%"
    for card in found["cards"]:
        name = card["name"]
        charts[f"cal-{name}"] = _charts.calibration(
            card.get("reliability", []), (t("pr.predicted"), t("pr.observed")), t("pr.sample")
        )
        lift = card.get("lift", [])
        charts[f"lift-{name}"] = _charts.bars(
            [x[0] for x in lift], [x[2] for x in lift], t("pr.decile"), t("pr.lift")
        )
        charts[f"lift-{name}"]["layout"]["height"] = 280
    total = sum(x.profiles for x in found["purchase"]) if found["purchase"] else 0
    expected = sum(x.expected for x in found["purchase"]) if found["purchase"] else 0.0
    return render(
        request,
        "predictions.html",
        "nav.predictions",
        charts=charts,
        all_profiles=total,
        all_expected=expected,
        **found,
    )


def _bounds(low: float, high: float) -> tuple[float, float]:
    return (min(low, high), max(low, high))


def _size(store: Store, score: str, low: float, high: float) -> dict[str, Any] | None:
    found = score_run(store, score)
    if found is None:
        return None
    band = audience_size(store, *found, low, high)
    return {
        "score": found[1],
        "run_id": found[0].run_id,
        "low": low,
        "high": high,
        "profiles": band.profiles,
        "expected": band.expected,
    }


Bound = Annotated[float, Query(ge=0.0, le=1.0)]


def _no_run(score: str) -> JSONResponse:
    return JSONResponse(
        {"error": "no_run", "message": f"no run has scored {score} yet: run 'shopmind run' first"}, 404
    )


@router.get("/audience")
async def audience_count(
    request: Request, low: Bound, high: Bound, score: Score = "purchase_probability"
) -> Response:
    """How many profiles score in [low, high) and how many of them are expected to act."""
    found = await read(request, _size, score, *_bounds(low, high))
    return JSONResponse(found) if found else _no_run(score)


def _csv(store: Store, score: str, low: float, high: float) -> tuple[str, str] | None:
    found = score_run(store, score)
    if found is None:
        return None
    rows = audience(store, *found, low, high)
    out = io.StringIO()
    # ids come from visitors: a cell such as "=HYPERLINK(...)" is written as text, not a formula
    write_csv(
        out,
        ["profile_id", "member_id", found[1]],
        ([r["profile_id"], r["member"], f"{r[found[1]]:.6f}"] for r in rows),
    )
    return found[1], out.getvalue()


@router.get("/audience.csv")
async def audience_csv(
    request: Request, _: Marketer, low: Bound, high: Bound, score: Score = "purchase_probability"
) -> Response:
    low, high = _bounds(low, high)
    found = await read(request, _csv, score, low, high)
    if found is None:
        return _no_run(score)
    name, text = found
    filename = f"audience-{name}-{low:.2f}-{high:.2f}.csv"
    # a byte-order mark: Excel then reads the Korean text as UTF-8
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _band_definition(name: str, stored: str, low: float, high: float) -> dict[str, Any]:
    """A score band as a segment definition: ``[low, high)``, the top band ``[low, 1]``."""
    return {
        "name": {"ko": name, "en": name},
        "conditions": [
            {"kind": "profile", "field": stored, "op": ">=", "value": low},
            {"kind": "profile", "field": stored, "op": "<=" if high >= 1.0 else "<", "value": high},
        ],
    }


def _saved_bands(store: Store) -> list[dict[str, Any]]:
    """The saved segments, with the score band of those that are one (saved from this page)."""
    out = []
    for segment in saved_segments(store):
        conditions = segment.definition.conditions
        band = len(conditions) == 2 and all(isinstance(c, Profile) for c in conditions)
        bounds = [c.value if isinstance(c, Profile) else None for c in conditions]
        out.append(
            {
                "id": segment.segment_id,
                "name": segment.name_ko,
                "name_en": segment.name_en,
                "definition": {"low": bounds[0], "high": bounds[1]} if band else None,
                "size": segment.members,
                "created_at": segment.created_at,
            }
        )
    return out


def _save(store: Store, name: str, score: str, low: float, high: float) -> dict[str, Any] | None:
    found = score_run(store, score)
    if found is None:
        return None
    run, stored = found
    # counted as of the run the page shows: its scores are the latest at that moment
    saved = create_segment(store, _band_definition(name, stored, low, high), as_of=run.as_of)
    definition = {"score": stored, "low": low, "high": high}
    return {
        "audience_id": saved.segment_id,
        "segment_id": saved.segment_id,
        "name": name,
        "size": saved.members,
        **definition,
    }


@router.post("/audiences")
async def save(
    request: Request,
    _: Marketer,
    name: Annotated[str, Body(min_length=1, max_length=200)],
    low: Annotated[float, Body(ge=0.0, le=1.0)],
    high: Annotated[float, Body(ge=0.0, le=1.0)],
    score: Annotated[Score, Body()] = "purchase_probability",
) -> Response:
    """Save the profiles scoring in [low, high) as a named audience."""
    found = await read(request, _save, name.strip(), score, *_bounds(low, high))
    return JSONResponse(found, 201) if found else _no_run(score)
