"""Plotly figures as plain data (``{"data": [...], "layout": {...}}``), drawn in the browser by
plotly.js: the server never imports plotly's Python side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FONT = "'Noto Sans CJK KR', 'Noto Sans KR', 'Apple SD Gothic Neo', sans-serif"
ACCENT = "#3b5bdb"
MUTED = "#adb5bd"


def figure(data: list[dict[str, Any]], **layout: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "font": {"family": FONT, "size": 12},
        "margin": {"l": 56, "r": 16, "t": 16, "b": 48},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "showlegend": False,
        "height": 320,
    }
    base.update(layout)
    return {"data": data, "layout": base}


def axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "gridcolor": "#eee", "zeroline": False, **extra}


def bars(x: Sequence[Any], y: Sequence[float], x_title: str, y_title: str, **trace: Any) -> dict[str, Any]:
    return figure(
        [{"type": "bar", "x": list(x), "y": list(y), "marker": {"color": ACCENT}, **trace}],
        xaxis=axis(x_title),
        yaxis=axis(y_title),
    )


def trend(
    days: Sequence[Any], revenue: Sequence[float], orders: Sequence[int], labels: tuple[str, str]
) -> dict[str, Any]:
    """Revenue (bars) and orders (a line on the right axis) per day."""
    return figure(
        [
            {
                "type": "bar",
                "x": list(days),
                "y": list(revenue),
                "name": labels[0],
                "marker": {"color": ACCENT},
            },
            {
                "type": "scatter",
                "mode": "lines",
                "x": list(days),
                "y": list(orders),
                "name": labels[1],
                "yaxis": "y2",
                "line": {"color": "#f08c00", "width": 2},
            },
        ],
        showlegend=True,
        legend={"orientation": "h", "y": 1.12},
        # dates as numbers, never month names: plotly's default "Mar 2026" is English on a Korean page
        xaxis={"type": "date", "tickformat": "%m.%d", "hoverformat": "%Y-%m-%d", "gridcolor": "#eee"},
        yaxis=axis(labels[0], rangemode="tozero"),
        yaxis2={
            "title": {"text": labels[1]},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "rangemode": "tozero",
            "tickformat": ",d",  # orders are whole numbers
        },
        margin={"l": 80, "r": 56, "t": 24, "b": 40},
    )


def pareto(curve: Sequence[tuple[float, float]], top: float, labels: tuple[str, str]) -> dict[str, Any]:
    xs = [0.0, *(c[0] for c in curve)]
    ys = [0.0, *(c[1] for c in curve)]
    return figure(
        [
            {"type": "scatter", "mode": "lines", "x": xs, "y": ys, "line": {"color": ACCENT, "width": 3}},
            {
                "type": "scatter",
                "mode": "lines",
                "x": [0, 1],
                "y": [0, 1],
                "line": {"color": MUTED, "dash": "dot"},
            },
        ],
        xaxis=axis(labels[0], tickformat=".0%", range=[0, 1]),
        yaxis=axis(labels[1], tickformat=".0%", range=[0, 1.02]),
        shapes=[
            {
                "type": "line",
                "x0": top,
                "x1": top,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#e03131", "dash": "dash"},
            }
        ],
    )


def treemap(
    ids: Sequence[str],
    labels: Sequence[str],
    values: Sequence[int],
    colour: Sequence[float],
    text: Sequence[str],
) -> dict[str, Any]:
    return figure(
        [
            {
                "type": "treemap",
                "ids": list(ids),
                "labels": list(labels),
                "parents": [""] * len(ids),
                "values": list(values),
                "text": list(text),
                "textinfo": "label+value+text",
                "marker": {
                    "colors": list(colour),
                    "colorscale": [[0, "#e7f5ff"], [0.25, "#a5d8ff"], [1, "#1c3faa"]],
                    "showscale": False,
                    "line": {"color": "#fff", "width": 2},
                    "pad": {"t": 0, "l": 0, "r": 0, "b": 0},
                },
                "root": {"color": "rgba(0,0,0,0)"},
                "pathbar": {"visible": False},  # one level: nothing to go back up to
                "hovertemplate": "%{label}<br>%{value:,}<br>%{text}<extra></extra>",
            }
        ],
        height=420,
        margin={"l": 4, "r": 4, "t": 4, "b": 4},
    )


def sankey(
    sources: Sequence[str], targets: Sequence[str], values: Sequence[int], names: dict[str, str]
) -> dict[str, Any]:
    """Flows from the segments of an earlier run (left) to those of a later one (right)."""
    left = list(dict.fromkeys(sources))
    right = list(dict.fromkeys(targets))
    nodes = [names.get(k, k) for k in left] + [names.get(k, k) for k in right]
    return figure(
        [
            {
                "type": "sankey",
                "arrangement": "snap",
                "node": {"label": nodes, "pad": 12, "thickness": 14, "color": ACCENT},
                "link": {
                    "source": [left.index(s) for s in sources],
                    "target": [len(left) + right.index(t) for t in targets],
                    "value": list(values),
                    "color": "rgba(59,91,219,0.25)",
                },
            }
        ],
        height=460,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
    )


def calibration(
    points: Sequence[Sequence[float]], labels: tuple[str, str], sample: str = "n"
) -> dict[str, Any]:
    """Observed rate against mean predicted probability per bin (the diagonal is perfect)."""
    return figure(
        [
            {
                "type": "scatter",
                "mode": "lines",
                "x": [0, 1],
                "y": [0, 1],
                "line": {"color": MUTED, "dash": "dot"},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": [p[0] for p in points],
                "y": [p[1] for p in points],
                "marker": {"size": [max(6, min(18, 4 + (p[2] ** 0.5))) for p in points], "color": ACCENT},
                "text": [f"{sample} {int(p[2]):,}" for p in points],  # the bin's size, in the page's words
            },
        ],
        xaxis=axis(labels[0], range=[0, 1], tickformat=".0%"),
        yaxis=axis(labels[1], range=[0, 1], tickformat=".0%"),
        height=280,
    )


ARM_COLOURS = (ACCENT, MUTED)


def uplift(
    arms: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    titles: tuple[str, str],
    unit: str,
) -> dict[str, Any]:
    """Treated vs holdout, side by side: the conversion rate (left) and the revenue per customer
    (right) of each arm, each with its 95 % interval as error bars. ``arms``: (name, (rate, low,
    high), (revenue per customer, low, high))."""
    data: list[dict[str, Any]] = []
    for panel, (axis_x, axis_y) in enumerate((("x", "y"), ("x2", "y2"))):
        values = [a[1] if panel == 0 else a[2] for a in arms]
        scale = 100.0 if panel == 0 else 1.0
        data.append(
            {
                "type": "bar",
                "x": [a[0] for a in arms],
                "y": [v[0] * scale for v in values],
                "xaxis": axis_x,
                "yaxis": axis_y,
                "marker": {"color": list(ARM_COLOURS[: len(arms)])},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [(v[2] - v[0]) * scale for v in values],
                    "arrayminus": [(v[0] - v[1]) * scale for v in values],
                    "color": "#212529",
                    "thickness": 1.5,
                    "width": 8,
                },
                "hovertemplate": "%{x}: %{y:,.2f}" + ("%" if panel == 0 else unit) + "<extra></extra>",
            }
        )
    return figure(
        data,
        xaxis={"domain": [0, 0.44]},
        xaxis2={"domain": [0.56, 1], "anchor": "y2"},
        yaxis=axis(titles[0] + " (%)", rangemode="tozero", ticksuffix="%"),
        yaxis2=axis(f"{titles[1]} ({unit})", anchor="x2", rangemode="tozero", tickformat=",.0f"),
        margin={"l": 64, "r": 16, "t": 16, "b": 40},
    )


def sends(rows: Sequence[Mapping[str, Any]], labels: tuple[str]) -> dict[str, Any]:
    """Messages per shop-local day and hour, stacked by channel (``rows``: day, hour, channel,
    messages); ``labels``: the y axis's title."""

    # short labels ("12.05 16:00"): the full date under every bar would overlap
    def slot(r: Mapping[str, Any]) -> str:
        return f"{r['day'][5:].replace('-', '.')} {r['hour']}"

    slots = sorted({slot(r) for r in rows})
    traces = []
    palette = (ACCENT, "#f08c00", "#2b8a3e", "#ae3ec9", "#1098ad")
    channels = list(dict.fromkeys(r["channel"] for r in rows))
    for i, channel in enumerate(channels):
        per = {s: 0 for s in slots}
        for r in rows:
            if r["channel"] == channel:
                per[slot(r)] += r["messages"]
        traces.append(
            {
                "type": "bar",
                "name": channel,
                "x": slots,
                "y": [per[s] for s in slots],
                "marker": {"color": palette[i % len(palette)]},
            }
        )
    return figure(
        traces,
        barmode="stack",
        showlegend=True,
        legend={"orientation": "h", "y": 1.15},
        xaxis={"type": "category", "tickangle": -45, "automargin": True},
        yaxis=axis(labels[0], rangemode="tozero", tickformat=",d"),
        margin={"l": 56, "r": 16, "t": 16, "b": 64},
        height=300,
    )
