"""On-site: the triggers the server decides with, what each adds (the conversion of the visitors
shown it against those held out, with the difference's interval) and how each performed (served,
shown, clicked, dismissed, converted, and the converted revenue of verified orders beside what
pages reported for orders not verified)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse
from starlette.requests import Request

from shopmind.measure import TriggerUplift, trigger_uplift, uplift_of
from shopmind.store import trigger_performance
from shopmind.web import _charts
from shopmind.web._frame import lang_of, page, render
from shopmind.web._i18n import message
from shopmind.web._reading import read

router = page("onsite", "nav.onsite")


@router.get("", response_class=HTMLResponse)
async def show(request: Request) -> HTMLResponse:
    performance = {row["trigger_id"]: row for row in await read(request, trigger_performance)}
    uplifts = await read(request, trigger_uplift)
    lang = lang_of(request)
    uplift_rows = [
        _uplift(trigger.id, trigger.name.in_(lang), trigger.holdout, uplifts.get(trigger.id))
        for trigger in request.app.state.onsite.triggers
        if trigger.enabled or trigger.id in uplifts  # a variant's trigger only once it was shown
    ]
    rows: list[dict[str, Any]] = []
    for trigger in request.app.state.onsite.triggers:
        stats = performance.pop(trigger.id, {})
        rows.append(
            {
                "id": trigger.id,
                "name": trigger.name.in_(lang),
                "action": trigger.action,
                "placement": trigger.placement,
                "priority": trigger.priority,
                "title": trigger.content.title.in_(lang),
                **_rates(stats),
            }
        )
    for trigger_id, stats in performance.items():  # decided by an earlier trigger file
        rows.append(
            {
                "id": trigger_id,
                "name": trigger_id,  # decided by a trigger no longer in the file: only its id is known
                "action": stats["action"],
                "placement": None,
                "priority": None,
                "title": "",
                **_rates(stats),
            }
        )
    names = [r["name"] for r in rows]
    chart = _charts.figure(
        [
            {"type": "bar", "name": message(f"os.{k}", lang), "x": names, "y": [r[k] for r in rows]}
            for k in ("shown", "clicked", "converted")
        ],
        barmode="group",
        showlegend=True,
        legend={"orientation": "h", "y": 1.15},
        yaxis=_charts.axis(message("os.served", lang)),
    )
    return render(
        request, "onsite.html", "nav.onsite", rows=rows, uplift=uplift_rows, charts={"triggers": chart}
    )


def _uplift(trigger_id: str, name: str, share: float, found: TriggerUplift | None) -> dict[str, Any]:
    """One row of the uplift table: the arms, the difference with its interval, or why not yet."""
    report = (found or uplift_of(trigger_id, [])).to_dict()
    if share <= 0 and not report["holdout"]["units"]:
        note: str | None = "os.no_holdout"
    elif not report["holdout"]["units"]:
        note = "os.no_holdout_yet"
    elif not report["shown"]["units"]:
        note = "os.no_shown_yet"
    elif report["interval"] is None:
        note = "os.not_enough"
    else:
        note = None
    return {
        "id": trigger_id,
        "name": name,
        "share": share,
        "shown": report["shown"],
        "holdout": report["holdout"],
        "difference": report["difference"],
        "interval": report["interval"],
        "decision": f"os.{report['decision']}" if report["decision"] and note is None else None,
        "note": note,
    }


def _rates(stats: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: int(stats.get(k) or 0) for k in ("served", "shown", "clicked", "dismissed", "converted")
    }
    out["revenue"] = float(stats.get("revenue") or 0.0)
    out["unverified_revenue"] = float(stats.get("unverified_revenue") or 0.0)
    out["ctr"] = out["clicked"] / out["shown"] if out["shown"] else None
    out["cvr"] = out["converted"] / out["served"] if out["served"] else None
    return out
