"""Products: the catalogue by revenue; one product's bought-together and similar items and its
association rules; and a recommendation explorer where region, weather and time of day can be
changed to see their effect beside the same visitor without context."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Query
from fastapi.responses import HTMLResponse
from starlette.requests import Request

from shopmind.insights import product, products, regions
from shopmind.recommend import Context
from shopmind.store import Store
from shopmind.web._frame import lang_of, page, render
from shopmind.web._reading import read

router = page("products", "nav.products")
PAGE = 50
RELATED = 8
RULES = 15
ZONE = ZoneInfo("Asia/Seoul")


def _index(store: Store, search: str, offset: int) -> dict[str, Any]:
    total, rows = products(store, search=search, offset=offset, limit=PAGE)
    return {"total": total, "rows": rows, "regions": regions(store)}


def _number(text: str, low: float, high: float, whole: bool = False) -> float | None:
    """A form field's number: blank is "not given"; anything else must be a number in range."""
    text = text.strip()
    if not text:
        return None
    value = float(text)  # ValueError names the text
    if not low <= value <= high or (whole and value != int(value)):
        raise ValueError(f"{text} is not between {low:g} and {high:g}")
    return value


def _explore(
    request: Request,
    user: str,
    region: str,
    temp_c: float | None,
    precip_mm: float | None,
    hour: int | None,
    lang: str,
) -> dict[str, Any]:
    live = request.app.state.recommender
    if not live.ready or live.model is None:
        return {"note": live.note, "plain": [], "context": []}
    now = None
    if hour is not None or (region and temp_c is None and precip_mm is None):
        today = datetime.now(ZONE).date()
        now = datetime.combine(today, time(hour if hour is not None else 12), ZONE)
    context = Context(region=region or None, now=now, temp_c=temp_c, precip_mm=precip_mm)
    who = user or "new-visitor"
    return {
        "note": None,
        "plain": live.describe(live.model.recommend(who, Context(), RELATED), lang),
        "context": live.describe(live.model.recommend(who, context, RELATED), lang),
    }


@router.get("", response_class=HTMLResponse)
async def index(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    user: Annotated[str, Query(max_length=512)] = "",
    region: Annotated[str, Query(max_length=64)] = "",
    temp_c: Annotated[str, Query(max_length=16)] = "",
    precip_mm: Annotated[str, Query(max_length=16)] = "",
    hour: Annotated[str, Query(max_length=16)] = "",
) -> HTMLResponse:
    found = await read(request, _index, q, offset)
    # a form sends its empty fields as empty strings: they mean "not given", not an error page
    asked: dict[str, Any] = {"user": user, "region": region, "temp_c": None, "precip_mm": None, "hour": None}
    problems = []
    fields = (
        ("temp_c", "pd.temp", temp_c, -60, 60),
        ("precip_mm", "pd.precip", precip_mm, 0, 1000),
        ("hour", "pd.hour", hour, 0, 23),
    )
    for name, label, text, low, high in fields:
        try:
            asked[name] = _number(text, low, high, whole=name == "hour")
        except ValueError:
            problems.append((label, text, low, high))
    hour_of = None if asked["hour"] is None else int(asked["hour"])
    asked["hour"] = hour_of
    explorer = _explore(
        request, user.strip(), region, asked["temp_c"], asked["precip_mm"], hour_of, lang_of(request)
    )
    return render(
        request,
        "products.html",
        "nav.products",
        q=q,
        offset=offset,
        limit=PAGE,
        asked=asked,
        explorer=explorer,
        problems=problems,
        **found,
    )


def _rules_of(request: Request, product_id: str, names: dict[str, str]) -> list[dict[str, Any]]:
    table = getattr(request.app.state.recommender, "rules", None)
    if table is None or table.empty:
        return []
    mine = table[table["rhs"].eq(product_id) | table["lhs"].map(lambda items: product_id in items)]
    out = []
    for row in mine.head(RULES).itertuples(index=False):
        out.append(
            {
                "lhs": [(i, names.get(i, i)) for i in row.lhs],
                "rhs": (row.rhs, names.get(row.rhs, row.rhs)),
                "support": float(row.support),
                "confidence": float(row.confidence),
                "lift": float(row.lift),
            }
        )
    return out


@router.get("/{product_id:path}", response_class=HTMLResponse)
async def detail(request: Request, product_id: str) -> HTMLResponse:
    found = await read(request, product, product_id)
    live = request.app.state.recommender
    lang = lang_of(request)
    context: dict[str, Any] = {
        "product": found,
        "product_id": product_id,
        "complements": [],
        "alternatives": [],
        "rules": [],
        "note": None,
    }
    if found is not None:
        if live.ready and live.model is not None and product_id in live.items:
            context["complements"] = live.describe(live.model.complements(product_id, RELATED), lang)
            context["alternatives"] = live.describe(live.model.similar_items(product_id, RELATED), lang)
        elif not live.ready:
            context["note"] = live.note
        names = {k: v.get("name") or k for k, v in live.items.items()}
        context["rules"] = _rules_of(request, product_id, names)
    return render(request, "product.html", "nav.products", **context)
