"""Personas: the buyers grouped by how, when and what they buy and what they are worth (the
latest personas run), each with its name and what sets it apart in the page's language, its size
and value, a chart of each persona's share of the buyers beside its share of the revenue, and
its customers (each persona is a segment, ``persona_<n>``, for the segment builder and
campaigns)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from shopmind.core import InvalidInputError
from shopmind.insights import LIST_SCORES, StoredPersonas, segment_customers, stored_personas
from shopmind.segments import create_segment
from shopmind.store import Store
from shopmind.web import _charts
from shopmind.web._access import Viewer, require, store_write
from shopmind.web._frame import PREFIX, lang_of, render
from shopmind.web._frame import page as new_page
from shopmind.web._i18n import message
from shopmind.web._reading import read

router = new_page("personas", "nav.personas")
#: saving a persona as a segment writes to the store: marketers and owners
Marketer = Annotated[Viewer, Depends(require("marketer"))]
#: members shown under each persona on the page (all of them on the persona's own list)
TOP_MEMBERS = 5
PAGE_ROWS = 50
_SYMBOLS = {"KRW": "₩", "GBP": "£", "USD": "$", "EUR": "€", "JPY": "¥"}


def money(amount: float | None, currency: str) -> str:
    """``₩84,000``, ``£12.50``; ``–`` for none."""
    if amount is None:
        return "–"
    symbol = _SYMBOLS.get(currency)
    digits = 0 if currency in ("KRW", "JPY") else 2
    text = f"{amount:,.{digits}f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def _page_data(store: Store) -> dict[str, Any]:
    found = stored_personas(store)
    members: dict[str, list[dict[str, Any]]] = {}
    if found is not None:
        for p in found.personas:
            _, rows = segment_customers(store, found.run, p.key, limit=TOP_MEMBERS, order="revenue")
            members[p.key] = rows
    return {"found": found, "members": members}


def share_chart(found: StoredPersonas, lang: str) -> dict[str, Any]:
    """Each persona's share of the buyers beside its share of the revenue (horizontal bars,
    largest persona on top)."""
    t = lambda key: message(key, lang)  # noqa: E731
    names = [f"{p.name(lang)} ({p.key.removeprefix('persona_')})" for p in found.personas][::-1]
    customers = [p.share for p in found.personas][::-1]
    revenue = [p.value.get("revenue_share", 0.0) for p in found.personas][::-1]
    bar = {"type": "bar", "orientation": "h", "y": names, "hovertemplate": "%{y}: %{x:.0%}<extra></extra>"}
    figure = _charts.figure(
        [
            {**bar, "x": customers, "name": t("ps.customer_share"), "marker": {"color": _charts.MUTED}},
            {**bar, "x": revenue, "name": t("ps.revenue_share"), "marker": {"color": _charts.ACCENT}},
        ],
        barmode="group",
        showlegend=True,
        legend={"orientation": "h", "y": 1.08},
        xaxis=_charts.axis(t("ps.share"), tickformat=".0%", rangemode="tozero"),
        yaxis={"automargin": True},
        height=max(260, 70 * len(found.personas) + 80),
        margin={"l": 16, "r": 16, "t": 32, "b": 48},
    )
    return figure


@router.get("", response_class=HTMLResponse)
async def show(request: Request) -> HTMLResponse:
    data = await read(request, _page_data)
    found: StoredPersonas | None = data["found"]
    lang = lang_of(request)
    charts = {"shares": share_chart(found, lang)} if found is not None and found.personas else {}
    cards = []
    if found is not None:
        for p in found.personas:
            v = p.value
            cards.append(
                {
                    "key": p.key,
                    "name": p.name(lang),
                    "size": p.size,
                    "share": p.share,
                    "revenue": money(v.get("revenue"), found.currency),
                    "revenue_share": v.get("revenue_share"),
                    "per_customer": money(v.get("revenue_per_customer"), found.currency),
                    "orders": v.get("orders_per_customer"),
                    "average_order": money(v.get("average_order_value"), found.currency),
                    "clv": money(v.get("clv_12m"), found.currency),
                    "traits": p.trait_lines(lang),
                    "members": data["members"].get(p.key, []),
                }
            )
    return render(request, "personas.html", "nav.personas", found=found, cards=cards, charts=charts)


def _persona_members(store: Store, key: str, offset: int) -> dict[str, Any]:
    found = stored_personas(store)
    if found is None:
        return {"found": None, "persona": None, "total": 0, "rows": []}
    persona = next((p for p in found.personas if p.key == key), None)
    if persona is None:
        return {"found": found, "persona": None, "total": 0, "rows": []}
    total, rows = segment_customers(store, found.run, key, offset=offset, limit=PAGE_ROWS, order="revenue")
    return {"found": found, "persona": persona, "total": total, "rows": rows}


@router.get("/{key}", response_class=HTMLResponse)
async def members(
    request: Request,
    key: str,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> HTMLResponse:
    data = await read(request, _persona_members, key[:40], offset)
    persona = data["persona"]
    names = {"ko": persona.name_ko, "en": persona.name_en} if persona else {"ko": key, "en": key}
    response = render(
        request,
        "segment.html",
        "nav.personas",
        segment=names,
        run=data["found"].run if data["found"] else None,
        total=data["total"],
        rows=data["rows"],
        offset=offset,
        limit=PAGE_ROWS,
        columns=LIST_SCORES,
    )
    if persona is None:
        response.status_code = 404
    return response


def _save(store: Store, key: str, now: datetime) -> tuple[str, int] | None:
    """Save the persona ``key`` of the latest run as a segment (its names, the condition
    ``in_segment``) counted now; None when the latest run has no such persona."""
    found = stored_personas(store)
    persona = None if found is None else next((p for p in found.personas if p.key == key), None)
    if found is None or persona is None:
        return None
    when = found.as_of.date().isoformat()
    saved = create_segment(
        store,
        {
            "name": {"ko": persona.name_ko, "en": persona.name_en},
            "description": {
                "ko": f"{when} 기준 페르소나 분석의 {key}: 분석을 다시 하면 같은 번호의 페르소나를 따릅니다.",
                "en": f"{key} of the personas run as of {when}: follows the persona of that number in later runs.",
            },
            "conditions": [{"kind": "in_segment", "segment": key}],
        },
        as_of=max(now, found.as_of),
    )
    return saved.segment_id, saved.members


@router.post("/{key}/segment", response_model=None)
async def save_as_segment(request: Request, key: str, _: Marketer) -> Response:
    """Save a persona as a segment (for campaigns, exports, live counts) and open its page."""
    try:
        saved = await store_write(request, _save, key[:40], datetime.now(UTC))
    except InvalidInputError:  # the definition refused (never expected): the personas page, saying so
        return RedirectResponse(f"{PREFIX}/personas?problem=saved#{key[:40]}", 303)
    if saved is None:
        return RedirectResponse(f"{PREFIX}/personas", 303)
    segment_id, members = saved
    return RedirectResponse(f"{PREFIX}/segments/{segment_id}?done=created&n={members}", 303)
