"""The overview's KPI tiles: the range a marketer picked (query ``start``, ``end``, ``within``),
read through ``insights.kpis``; a range that cannot be read falls back to the default range with
the reason in words, never an error page."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request

from shopmind.core import FieldError, InvalidInputError
from shopmind.insights import KpiReport, kpis
from shopmind.web._reading import read

#: the tiles in reading order
ORDER = (
    "repurchase_rate",
    "second_purchase",
    "average_order_value",
    "visit_conversion",
    "revenue_per_visitor",
)


def _date(field: str, raw: str) -> date | None:
    if not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInputError([FieldError(field, "not a date (YYYY-MM-DD)")]) from None


def change_text(kpi: Any) -> str:
    """``+1.2%p`` for a rate (percentage points), ``+3.4%`` for an amount; ``–`` without one."""
    change = kpi.change
    if change is None:
        return "–"
    return f"{100 * change:+.1f}%p" if kpi.is_rate else f"{100 * change:+.1f}%"


async def kpi_context(request: Request, start: str, end: str, within: str) -> dict[str, Any]:
    """``kpis`` (a KpiReport), ``kpi_error`` (the field that could not be read, or None)."""
    today = date.today()  # a surface may read the clock: only used when the store holds nothing
    error = None
    try:
        days = int(within) if within.strip() else 30
    except ValueError:
        days, error = 30, "within"
    report: KpiReport | None = None
    if error is None:
        try:
            report = await read(request, _read, _date("start", start), _date("end", end), days, today)
        except InvalidInputError as exc:
            error = exc.field or "start"
    if report is None:
        report = await read(request, _read, None, None, 30, today)
    return {"kpis": report, "kpi_error": error, "kpi_order": ORDER, "kpi_change": change_text}


def _read(store: Any, start: date | None, end: date | None, within: int, today: date) -> KpiReport:
    return kpis(store, start, end, within=within, today=today)
