"""Customer 360: one customer's identities and devices, timeline, scores with their drivers,
taste, best time and device, and live recommendations with their reasons."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.requests import Request

from shopmind.core import IdentifierHasher
from shopmind.pipeline import customer_profile, resolve_profile
from shopmind.recommend import Context
from shopmind.store import Store
from shopmind.web import _charts
from shopmind.web._frame import lang_of, page, render
from shopmind.web._i18n import message
from shopmind.web._reading import read

router = page("customer", "nav.customer")
RECOMMENDATIONS = 8


def _find(store: Store, identifier: str, hasher: IdentifierHasher | None) -> dict[str, Any] | None:
    profile_id = resolve_profile(store, identifier, hasher)
    return customer_profile(store, profile_id, recent=30) if profile_id else None


def _drivers(profile: dict[str, Any]) -> dict[str, list[tuple[str, Any]]]:
    """What each score rests on: the CLV model's inputs, the look-alike model's largest terms."""
    s = profile["scores"]
    clv_inputs = [
        ("frequency", s.get("frequency")),
        ("recency_weeks", s.get("recency_weeks")),
        ("T_weeks", s.get("T_weeks")),
        ("monetary_value", s.get("monetary_value")),
    ]
    clv = [(k, v) for k, v in clv_inputs if v is not None]
    look = profile.get("vip_lookalike") or {}
    lookalike = [(d["feature"], d["contribution"]) for d in look.get("drivers", [])]
    return {"clv_12m": clv, "p_alive": clv, "churn_risk": clv, "vip_lookalike": lookalike}


def _recommendations(request: Request, profile_id: str, lang: str) -> tuple[list[dict[str, Any]], str | None]:
    live = request.app.state.recommender
    if not live.ready or live.model is None:
        return [], live.note
    found = live.model.recommend(profile_id, Context(), RECOMMENDATIONS)
    return live.describe(found, lang), None


def _lookup(store: Store, typed: str, hasher: IdentifierHasher | None) -> str | None:
    return resolve_profile(store, typed, hasher)


@router.post("", response_model=None)
async def search(
    request: Request, id: Annotated[str, Form(max_length=512)] = ""
) -> HTMLResponse | RedirectResponse:
    """The search form posts (with its CSRF token), so a typed phone number or e-mail never
    lands in a URL, a browser's history or an access log; a match is shown under its profile id
    (for a guest, the keyed hash), the way every link to a customer names them."""
    typed = id.strip()
    hasher = getattr(request.app.state, "hasher", None)
    profile_id = await read(request, _lookup, typed, hasher) if typed else None
    if profile_id is not None:
        return RedirectResponse(f"{request.url.path}?id={quote(profile_id, safe='')}", status_code=303)
    return await _page(request, typed, None)


@router.get("", response_class=HTMLResponse)
async def show(request: Request, id: Annotated[str, Query(max_length=512)] = "") -> HTMLResponse:
    identifier = id.strip()
    hasher = getattr(request.app.state, "hasher", None)
    profile = await read(request, _find, identifier, hasher) if identifier else None
    return await _page(request, identifier, profile)


async def _page(request: Request, identifier: str, profile: dict[str, Any] | None) -> HTMLResponse:
    lang = lang_of(request)
    context: dict[str, Any] = {"asked": identifier, "profile": profile, "charts": {}}
    if profile is not None:
        context["drivers"] = _drivers(profile)
        context["recommendations"], context["recommender_note"] = _recommendations(
            request, profile["profile_id"], lang
        )
        habits = profile.get("best_time") or {}
        if habits.get("browse_by_hour"):
            t = lambda key: message(key, lang)  # noqa: E731
            chart = _charts.bars(list(range(24)), habits["browse_by_hour"], t("c3.hour"), t("c3.events"))
            chart["data"].append(
                {
                    "type": "bar",
                    "x": list(range(24)),
                    "y": habits.get("buy_by_hour", []),
                    "marker": {"color": "#f08c00"},
                }
            )
            chart["layout"].update(height=220, barmode="overlay")
            context["charts"]["hours"] = chart
    return render(request, "customer.html", "nav.customer", **context)
