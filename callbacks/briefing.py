"""Briefing callbacks: one period chosen by the leader → its briefing (dispatch.briefing) drawn as
tiles, tables and charts, with download links for the same briefing as PDF and XLSX."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from dash import Input, Output, callback, html

from callbacks.common import read_uow
from callbacks.pagekit import local_time
from data.layers import static_layers
from data.models import utcnow
from data.report_files import list_reports
from dispatch.briefing import (
    KPI_KEYS,
    Briefing,
    RankRow,
    build_briefing,
    hotline_rows,
    period_of,
    warning_headers,
    warning_rows,
)
from dispatch.kpi import cohort_points
from geo.layers import offline_style
from i18n import current_lang, t
from i18n.format import DASH, format_change, format_value
from layouts import ids
from layouts.components import empty, table
from settings import get_settings

TILE_KEYS = ("reported", "closure_rate", "on_time_closure_rate", "std_closure_rate", "open", "red_cards",
             "mean_handle_hours")
PART_PREFIX = {"alerts_firing": "level", "by_source": "source"}
HOTSPOT_LIMIT = 20_000
CHART_LAYOUT = {"template": None, "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                "font": {"color": "#d8e8f8"}, "margin": {"l": 40, "r": 10, "t": 10, "b": 30}, "height": 260,
                "xaxis": {"gridcolor": "#17314a"}, "yaxis": {"gridcolor": "#17314a", "rangemode": "tozero"}}


def kpi_rows(briefing: Briefing) -> list[list[str]]:
    """One row per KPI (label, value, previous value, change); counts per kind get a row each."""
    rows: list[list[str]] = []
    for key in KPI_KEYS:
        value, before = briefing.current.get(key), briefing.before.get(key)
        parts = dict.fromkeys([*(value or {}), *(before or {})]) if key in PART_PREFIX else {None: None}
        for part in parts:
            now_n = value if part is None else (value or {}).get(part)
            before_n = before if part is None else (before or {}).get(part)
            label = t(f"kpi.{key}") if part is None else f"{t(f'kpi.{key}')} · {t(f'{PART_PREFIX[key]}.{part}')}"
            rows.append([label, format_value(key, now_n), format_value(key, before_n),
                         format_change(key, now_n, before_n)])
    return rows


def _tiles(briefing: Briefing) -> list[html.Div]:
    return [
        html.Div(
            [html.Div(t(f"kpi.{key}"), className="kpi-label"),
             html.Div(format_value(key, briefing.current.get(key)), className="kpi-value"),
             html.Div(format_change(key, briefing.current.get(key), briefing.before.get(key)),
                      className="kpi-change")],
            className="kpi-tile",
            **{"data-testid": f"briefing-kpi-{key}"},
        )
        for key in TILE_KEYS
    ]


def _ranking(rows: list[RankRow], first_header: str, testid: str) -> Any:
    if not rows:
        return empty()
    en = current_lang() == "en"
    headers = [t("briefing.col.rank"), first_header, t("kpi.filed"), t("kpi.closed"), t("kpi.closure_rate"),
               t("kpi.on_time_closure_rate"), t("report.grade")]
    body = [[str(rank), r.name_en if en else r.name_zh, str(r.filed), str(r.closed),
             format_value("closure_rate", r.closure_rate), format_value("on_time_closure_rate", r.on_time_closure_rate),
             html.Span(r.grade or DASH, className=f"grade grade-{r.grade or 'none'}")]
            for rank, r in enumerate(rows, start=1)]
    return table(headers, body, row_testid=testid, class_name="data-table briefing-table")


def _trend_figure(briefing: Briefing) -> go.Figure:
    days = [d for d, _, _ in briefing.trend]
    fig = go.Figure([
        go.Scatter(x=days, y=[r for _, r, _ in briefing.trend], name=t("report.reported"), mode="lines+markers"),
        go.Scatter(x=days, y=[c for _, _, c in briefing.trend], name=t("report.closed"), mode="lines+markers"),
    ])
    fig.update_layout(**CHART_LAYOUT, legend={"orientation": "h", "y": 1.1})
    return fig


def _categories_figure(briefing: Briefing) -> go.Figure:
    en = current_lang() == "en"
    rows = list(reversed(briefing.categories))
    fig = go.Figure(go.Bar(x=[n for *_, n in rows], y=[en_name if en else zh for _, zh, en_name, _ in rows],
                           orientation="h", marker={"color": "#3fb8ff"}))
    fig.update_layout(**{**CHART_LAYOUT, "margin": {"l": 160, "r": 10, "t": 10, "b": 30}})
    return fig


def _hotspot_figure(session: Any, briefing: Briefing) -> go.Figure:
    points = cohort_points(session, briefing.period.start, briefing.period.end, limit=HOTSPOT_LIMIT)
    layers = static_layers(session)
    fig = go.Figure(go.Densitymap(lon=[p[0] for p in points], lat=[p[1] for p in points], radius=18,
                                  colorscale="Inferno", showscale=False))
    fig.update_layout(**{**CHART_LAYOUT, "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "height": 300},
                      map={"style": offline_style("#07131f"), "zoom": 10,
                           "center": {"lon": layers.center[0], "lat": layers.center[1]},
                           "layers": [{"source": layers.basemap[k], "sourcetype": "geojson", "type": "line",
                                       "color": "#35506d", "line": {"width": 1}}
                                      for k in ("boundary", "district_border", "arterial") if k in layers.basemap]})
    return fig


def _overdue(briefing: Briefing) -> Any:
    if not briefing.overdue:
        return empty()
    en = current_lang() == "en"
    headers = [t("report.code"), t("report.title"), t("report.category"), t("briefing.col.department"),
               t("report.deadline"), t("report.overdue_hours")]
    rows = [[o.code, o.title, o.category_en if en else o.category_zh,
             (o.department_en if en else o.department_zh) or DASH, local_time(o.close_deadline),
             f"{o.overdue_hours:.1f}"] for o in briefing.overdue]
    return table(headers, rows, row_testid="briefing-overdue-row", class_name="data-table briefing-table")


def _warnings(briefing: Briefing) -> Any:
    rows = warning_rows(briefing.warnings)
    if not rows:
        return empty()
    return table(warning_headers(), rows, row_testid="briefing-warning-row", class_name="data-table briefing-table")


def _archive() -> Any:
    reports = list_reports()
    if not reports:
        return empty("briefing.archive_empty")
    return html.Ul([html.Li(html.A(r.name, href=f"/api/v1/reports/{r.name}", download=r.name))
                    for r in reports[:30]], className="briefing-archive")


def _parse_day(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value[:10]) if value else default
    except ValueError:
        return default


def choose_period(kind: str | None, day: str | None, start: str | None, end: str | None,
                  now: datetime) -> tuple[str, date, date | None]:
    """The picker's values as (kind, first day, last day of a custom period); a custom period without a
    complete range falls back to the last seven days."""
    today = now.astimezone(get_settings().zone).date()
    kind = kind or "day"
    if kind != "custom":
        return kind, _parse_day(day, today), None
    first, last = _parse_day(start, today), _parse_day(end, today)
    return ("custom", first, last) if first <= last else ("custom", last, first)


@callback(
    Output(ids.BRIEFING_RANGE, "children"),
    Output(ids.BRIEFING_TILES, "children"),
    Output(ids.BRIEFING_KPIS, "children"),
    Output(ids.BRIEFING_TREND, "figure"),
    Output(ids.BRIEFING_HOTSPOTS, "figure"),
    Output(ids.BRIEFING_DEPARTMENTS, "children"),
    Output(ids.BRIEFING_GRIDS, "children"),
    Output(ids.BRIEFING_CATEGORIES, "figure"),
    Output(ids.BRIEFING_OVERDUE, "children"),
    Output(ids.BRIEFING_HOTLINE, "children"),
    Output(ids.BRIEFING_WARNINGS, "children"),
    Output(ids.BRIEFING_ARCHIVE, "children"),
    Output(ids.BRIEFING_PDF, "href"),
    Output(ids.BRIEFING_XLSX, "href"),
    Output(ids.BRIEFING_DAY, "style"),
    Output(ids.BRIEFING_CUSTOM, "style"),
    Input(ids.BRIEFING_PERIOD, "value"),
    Input(ids.BRIEFING_DAY, "date"),
    Input(ids.BRIEFING_CUSTOM, "start_date"),
    Input(ids.BRIEFING_CUSTOM, "end_date"),
)
def show_briefing(kind: str | None, day: str | None, start: str | None, end: str | None) -> tuple[Any, ...]:
    """The whole briefing of the chosen period, as of now."""
    now = utcnow()
    kind, first, last = choose_period(kind, day, start, end, now)
    period, previous = period_of(kind, first, until=last)
    with read_uow() as session:
        briefing = build_briefing(session, period, previous, now)
        hotspots = _hotspot_figure(session, briefing)
    day_fmt = "%Y-%m-%d"
    span = t("report.span", start=local_time(period.start, day_fmt), end=period.last_day.isoformat(),
             before_start=local_time(previous.start, day_fmt), before_end=previous.last_day.isoformat())
    query = {"kind": kind, "date": first.isoformat(), "lang": current_lang()}
    if last is not None:
        query["until"] = last.isoformat()
    hidden, shown = {"display": "none"}, {}
    columns = [t("briefing.col.kpi"), t("briefing.col.current"), t("briefing.col.previous"), t("briefing.col.change")]
    kpis = table(columns, kpi_rows(briefing), row_testid="briefing-kpi-row", class_name="data-table briefing-table")
    return (
        span, _tiles(briefing), kpis, _trend_figure(briefing), hotspots,
        _ranking(briefing.departments, t("briefing.col.department"), "briefing-department-row"),
        _ranking(briefing.grids, t("report.grid"), "briefing-grid-row"),
        _categories_figure(briefing), _overdue(briefing),
        table(columns, hotline_rows(briefing.current, briefing.before), row_testid="briefing-hotline-row",
              class_name="data-table briefing-table"),
        _warnings(briefing),
        _archive(),
        "/api/v1/briefing?" + urlencode({**query, "format": "pdf"}),
        "/api/v1/briefing?" + urlencode({**query, "format": "xlsx"}),
        hidden if kind == "custom" else shown,
        shown if kind == "custom" else hidden,
    )
