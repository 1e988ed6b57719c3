"""The experiment pages' charts, as plain plotly data (drawn by plotly.js in the browser): each
variant's estimate with its interval, each variant's lift over the control with its fixed and its
always-valid (sequential) interval, and the traffic each variant got per day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shopmind.web._charts import ACCENT, MUTED, axis, figure

SEQUENTIAL = "#f08c00"
COLOURS = (MUTED, ACCENT, "#2f9e44", "#e8590c", "#ae3ec9", "#1098ad", "#f59f00", "#d6336c")


def estimates(
    rows: Sequence[tuple[str, float, float, float]], title: str, percent: bool, unit: str
) -> dict[str, Any]:
    """Each variant's value (``rows``: name, estimate, low, high) as a point with its interval,
    one row per variant (the control first, at the top)."""
    scale = 100.0 if percent else 1.0
    names = [r[0] for r in rows]
    return figure(
        [
            {
                "type": "scatter",
                "mode": "markers",
                "x": [r[1] * scale for r in rows],
                "y": names,
                "marker": {"size": 11, "color": [COLOURS[i % len(COLOURS)] for i in range(len(rows))]},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [(r[3] - r[1]) * scale for r in rows],
                    "arrayminus": [(r[1] - r[2]) * scale for r in rows],
                    "color": "#212529",
                    "thickness": 1.5,
                    "width": 6,
                },
                "hovertemplate": "%{y}: %{x:,.2f}" + ("%" if percent else unit) + "<extra></extra>",
            }
        ],
        # a count (clicks per unit) has no unit: no empty parentheses, and never "원"
        xaxis=axis(
            title + (" (%)" if percent else f" ({unit})" if unit else ""), ticksuffix="%" if percent else ""
        ),
        yaxis={"autorange": "reversed", "automargin": True, "type": "category"},
        height=max(160, 70 + 48 * len(rows)),
        margin={"l": 16, "r": 16, "t": 8, "b": 48},
    )


def lifts(
    rows: Sequence[tuple[str, Sequence[float] | None, Sequence[float] | None]],
    titles: tuple[str, str, str],
) -> dict[str, Any]:
    """Each variant's relative lift over the control (``rows``: name, fixed (estimate, low, high),
    sequential (estimate, low, high)), the sequential interval drawn beside the fixed one: it is
    the boundary that stays valid however often one looks. ``titles``: the axis, the fixed and
    the sequential interval's names."""
    data: list[dict[str, Any]] = []
    for which, colour, offset, name in ((1, ACCENT, -0.15, titles[1]), (2, SEQUENTIAL, 0.15, titles[2])):
        shown: list[tuple[int, str, Sequence[float]]] = []
        for i, row in enumerate(rows):
            found = row[1] if which == 1 else row[2]
            if found is not None:
                shown.append((i, row[0], found))
        if not shown:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": name,
                "x": [100 * v[0] for _, _, v in shown],
                "y": [i + offset for i, _, _ in shown],
                "text": [n for _, n, _ in shown],
                "marker": {"size": 10, "color": colour, "symbol": "circle" if which == 1 else "diamond"},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [100 * (v[2] - v[0]) for _, _, v in shown],
                    "arrayminus": [100 * (v[0] - v[1]) for _, _, v in shown],
                    "color": colour,
                    "thickness": 2,
                    "width": 6,
                },
                "hovertemplate": "%{text}: %{x:+.1f}%<extra>" + name + "</extra>",
            }
        )
    return figure(
        data,
        showlegend=True,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
        xaxis=axis(titles[0], ticksuffix="%", zeroline=True, zerolinecolor="#868e96", zerolinewidth=2),
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(len(rows))),
            "ticktext": [r[0] for r in rows],
            "autorange": "reversed",
            "automargin": True,
            "range": [len(rows) - 0.5, -0.5],
            "showgrid": False,
        },
        height=max(200, 120 + 56 * len(rows)),
        margin={"l": 16, "r": 16, "t": 36, "b": 48},
    )


def traffic(days: Sequence[str], shares: Mapping[str, Sequence[float]], title: str) -> dict[str, Any]:
    """Each variant's share of the day's units (or a bandit's decisions), stacked to 100 %."""
    return figure(
        [
            {
                "type": "scatter",
                "mode": "lines",
                "stackgroup": "traffic",
                "name": name,
                "x": list(days),
                "y": [100 * s for s in values],
                "line": {"color": COLOURS[i % len(COLOURS)], "width": 1},
                "hovertemplate": "%{x}: %{y:.1f}%<extra>" + name + "</extra>",
            }
            for i, (name, values) in enumerate(shares.items())
        ],
        showlegend=True,
        legend={"orientation": "h", "y": 1.15, "traceorder": "normal"},
        xaxis={
            "type": "date",
            "tickformat": "%m.%d",
            "hoverformat": "%Y-%m-%d",
            "gridcolor": "#eee",
            "dtick": 86_400_000 * max(1, len(days) // 10),  # whole days: no date repeated
        },
        yaxis=axis(title, range=[0, 100], ticksuffix="%"),
        height=260,
        margin={"l": 56, "r": 16, "t": 24, "b": 40},
    )
