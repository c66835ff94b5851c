"""The big screen's small charts as Plotly figure dicts: the incident trend (reported bars, closed line), the
hourly AQI and a sensor's 24-hour sparkline. Pure functions of plain data (labels, counts, values)."""

from __future__ import annotations

from typing import Any

from i18n import t
from layouts.bigscreen import AQI_COLOURS

REPORTED_COLOUR, CLOSED_COLOUR, AXIS_COLOUR = "#3fb8ff", "#30d158", "#7f97ae"
GRID_COLOUR = "rgba(127,151,174,0.18)"
SPARK_COLOUR = "#3fb8ff"


def chart_layout(labels: list[str], scale: float, *, legend: bool, every: int) -> dict[str, Any]:
    """A small dark chart whose fonts and margins follow the screen (``scale`` = width / 1920), labelling
    every ``every``-th category of the x axis (counted from the last, the newest)."""
    size = round(11 * scale)
    axis = {"fixedrange": True, "tickfont": {"size": size}, "color": AXIS_COLOUR}
    ticks = labels[::-1][::every][::-1]
    return {
        "margin": {"l": round(30 * scale), "r": round(6 * scale), "t": round((18 if legend else 6) * scale),
                   "b": round(20 * scale)},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "autosize": True,
        "font": {"color": AXIS_COLOUR, "size": size}, "showlegend": legend, "bargap": 0.25,
        "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1, "yanchor": "bottom",
                   "font": {"size": size}},
        "xaxis": {**axis, "type": "category", "showgrid": False, "tickmode": "array", "tickvals": ticks,
                  "tickangle": 0},
        "yaxis": {**axis, "gridcolor": GRID_COLOUR, "rangemode": "tozero", "nticks": 4, "zeroline": False},
    }


def trend_figure(labels: list[str], counts: list[tuple[int, int]], scale: float = 1.0,
                 every: int = 3) -> dict[str, Any]:
    """Incidents reported (bars) and closed (line) per bucket."""
    return {
        "data": [
            {"type": "bar", "x": labels, "y": [r for r, _ in counts], "name": t("screen.reported"),
             "marker": {"color": REPORTED_COLOUR}, "hoverinfo": "skip"},
            {"type": "scatter", "mode": "lines", "x": labels, "y": [c for _, c in counts], "name": t("screen.closed"),
             "line": {"color": CLOSED_COLOUR, "width": round(2 * scale, 1)}, "hoverinfo": "skip"},
        ],
        "layout": chart_layout(labels, scale, legend=True, every=every),
    }


def aqi_figure(labels: list[str], values: list[int | None], categories: list[int | None],
               scale: float = 1.0) -> dict[str, Any]:
    """The hourly AQI as a line, each hour's marker in its category's colour (HJ 633-2012 category 1..6 of
    each value; gaps where no data)."""
    colours = [AXIS_COLOUR if c is None else AQI_COLOURS[c - 1] for c in categories]
    return {
        "data": [{"type": "scatter", "mode": "lines+markers", "x": labels, "y": values, "hoverinfo": "skip",
                  "line": {"color": "rgba(216,232,248,0.45)", "width": round(1.5 * scale, 1)},
                  "marker": {"color": colours, "size": round(5 * scale, 1)}}],
        "layout": chart_layout(labels, scale, legend=False, every=4),
    }


def sparkline_figure(times: list[str], values: list[Any], unit: str) -> dict[str, Any]:
    """A sensor's readings (``times`` already as local text) as a thin line without axes' clutter."""
    return {
        "data": [{"type": "scatter", "x": times, "y": values, "mode": "lines",
                  "line": {"color": SPARK_COLOUR, "width": 1.5},
                  "hovertemplate": f"%{{x}}: %{{y}} {unit}<extra></extra>"}],
        "layout": {"height": 90, "margin": {"l": 30, "r": 4, "t": 4, "b": 18},
                   "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "showlegend": False,
                   "xaxis": {"showgrid": False, "color": AXIS_COLOUR, "nticks": 4},
                   "yaxis": {"showgrid": False, "color": AXIS_COLOUR, "nticks": 3}},
    }
