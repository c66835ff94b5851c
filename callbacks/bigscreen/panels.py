"""The big screen's slower panels, every 15 s and scoped to the area drilled into: the incident trend (24 h
hourly, 30 d daily), the category and department rankings, the AQI with its stations and hourly values, the
sensor families in alarm — each sent only when it changed — and who is on duty. The charts and rows are
drawn by ``layouts.bigscreen_charts`` and ``layouts.bigscreen_panels``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, no_update

from alerts.air import AirNow, air_now
from alerts.aqi import category_of
from alerts.review import warning_stats
from callbacks.bigscreen.changes import if_changed
from callbacks.bigscreen.periods import day_buckets, hour_buckets, hour_key, rank_since, utc_offset_minutes
from callbacks.bigscreen.scope import scope_grid_ids
from callbacks.common import read_uow
from callbacks.pagekit import name_of
from data.effective_settings import effective_settings
from data.layers import static_layers
from data.models import utcnow
from dispatch import duty, screen
from dispatch.screen_tiles import tile_state
from layouts import ids
from layouts.bigscreen_charts import aqi_figure, trend_figure
from layouts.bigscreen_panels import aqi_block, category_rows, department_rows, duty_line, family_cells, warning_line
from layouts.bigscreen_tiles import format_kpi

RANK_SIZE = 5


@dataclass(frozen=True)
class Panels:
    """Everything the panels show, read in one unit of work."""

    hours: list[str]
    hourly: list[tuple[int, int]]  # (reported, closed) per hour
    days: list[str]
    daily: list[tuple[int, int]]
    categories: list[screen.CategoryRank]
    departments: list[screen.DepartmentRank]
    air: AirNow
    #: The area's AQI of each of ``hours`` (None: no data that hour).
    aqi_hourly: list[int | None]
    families: list[screen.FamilyAlarm]


def read_panels(session: Any, now: datetime, period: str, grid_ids: list[int] | None = None) -> Panels:
    """The panels' data as of ``now``: incident trend (24 h hourly, 30 d daily), the rankings of ``period``
    (``today`` or ``month``), the current AQI (``alerts.air.air_now``) and its hourly values, sensors in alarm
    per family."""
    first_hour, hours = hour_buckets(now)
    first_day, days = day_buckets(now)
    offset = utc_offset_minutes(now)
    hourly = screen.incident_trend(session, first_hour, now, offset, hourly=True, grid_ids=grid_ids)
    daily = screen.incident_trend(session, first_day, now, offset, hourly=False, grid_ids=grid_ids)
    since = rank_since(now, period)
    air = air_now(session, now, first_hour, grid_ids=grid_ids)
    by_hour = {hour_key(hour): value for hour, value in air.hourly.items()}
    return Panels(
        hours, [hourly.get(h, (0, 0)) for h in hours], days, [daily.get(d, (0, 0)) for d in days],
        screen.category_ranking(session, since, now, limit=RANK_SIZE, grid_ids=grid_ids),
        screen.department_ranking(session, since, now, now, limit=RANK_SIZE, grid_ids=grid_ids),
        air, [by_hour.get(h) for h in hours], screen.family_alarms(session, grid_ids=grid_ids),
    )


def _chart_scale(scale: Any) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        return 1.0
    return min(max(value, 0.5), 4.0) if math.isfinite(value) else 1.0


def _aqi_panel(air: AirNow) -> Any:
    latest = air.latest.result if air.latest else None
    stations = [(h.station.name if h.station else "", h.result.aqi, h.result.primary) for h in air.stations]
    return aqi_block(latest.aqi if latest else None, latest.category if latest else None,
                     latest.primary if latest else [], air.latest.stations if air.latest else 0, stations)


# The screen's size, measured once in the browser: chart fonts follow it as the page's fonts do.
clientside_callback(
    ClientsideFunction(namespace="cityops_bigscreen", function_name="chart_scale"),
    Output(ids.BIGSCREEN_SCALE, "data"),
    Input(ids.BIGSCREEN_SCALE, "id"),
)


@callback(
    Output(ids.BIGSCREEN_TREND_24H, "figure"),
    Output(ids.BIGSCREEN_TREND_30D, "figure"),
    Output(ids.BIGSCREEN_RANK_CATEGORIES, "children"),
    Output(ids.BIGSCREEN_RANK_DEPARTMENTS, "children"),
    Output(ids.BIGSCREEN_AQI, "children"),
    Output(ids.BIGSCREEN_AQI_TREND, "figure"),
    Output(ids.BIGSCREEN_FAMILIES, "children"),
    Output(ids.BIGSCREEN_PANEL_DIGEST, "data"),
    Input(ids.BIGSCREEN_SLOW_TICK, "n_intervals"),
    Input(ids.BIGSCREEN_RANK_PERIOD, "value"),
    Input(ids.BIGSCREEN_SCOPE, "data"),
    Input(ids.BIGSCREEN_SCALE, "data"),
    State(ids.BIGSCREEN_PANEL_DIGEST, "data"),
)
def refresh_panels(_n: int | None, period: str | None = "month", scope: dict[str, Any] | None = None,
                   scale: float | None = None, digest: dict[str, str] | None = None) -> tuple[Any, ...]:
    """The slower panels, scoped to the chosen area (the AQI from its stations): each one only when it changed
    since what the browser holds."""
    now = utcnow()
    size = _chart_scale(scale)
    with read_uow() as session:
        panels = read_panels(session, now, period or "month", scope_grid_ids(static_layers(session), scope))
        targets = effective_settings(session).kpi_targets  # /admin/settings over CITYOPS_KPI_TARGETS
    held = dict(digest or {})
    digests = dict(held)
    hours = [h[-2:] for h in panels.hours]
    days = [d[5:] for d in panels.days]
    categories = [(name_of(r), r.reported) for r in panels.categories]
    departments = [(name_of(r), r.filed, format_kpi("closure_rate", r.closure_rate),
                    tile_state("closure_rate", r.closure_rate, targets)) for r in panels.departments]
    aqi_categories = [None if v is None else category_of(v) for v in panels.aqi_hourly]
    families = [(r.family, r.in_alarm, r.sensors, r.worst) for r in panels.families]
    air = panels.air
    outputs = (
        if_changed(digests, "trend.24h", [hours, panels.hourly, size],
                   lambda: trend_figure(hours, panels.hourly, size)),
        if_changed(digests, "trend.30d", [days, panels.daily, size],
                   lambda: trend_figure(days, panels.daily, size, every=5)),
        if_changed(digests, "rank.categories", categories, lambda: category_rows(categories)),
        if_changed(digests, "rank.departments", departments, lambda: department_rows(departments)),
        if_changed(digests, "aqi", [asdict(air.latest) if air.latest else None, [asdict(h) for h in air.stations]],
                   lambda: _aqi_panel(air)),
        if_changed(digests, "aqi.trend", [hours, panels.aqi_hourly, size],
                   lambda: aqi_figure(hours, panels.aqi_hourly, aqi_categories, size)),
        if_changed(digests, "families", families, lambda: family_cells(families)),
    )
    return (*outputs, digests if digests != held else no_update)


@callback(
    Output(ids.BIGSCREEN_WARNINGS, "children"),
    Input(ids.BIGSCREEN_SLOW_TICK, "n_intervals"),
    Input(ids.BIGSCREEN_RANK_PERIOD, "value"),
    Input(ids.BIGSCREEN_SCOPE, "data"),
)
def show_warnings(_n: int | None, period: str | None = "month", scope: dict[str, Any] | None = None) -> str:
    """The warning statistics (issue 17 §5) of the ranking period in the area drilled into: raised, reviewed,
    confirmed, false alarms, mean minutes to acknowledge — the same figures as the API and the briefing."""
    now = utcnow()
    period = "today" if period == "today" else "month"
    with read_uow() as session:
        stats = warning_stats(session, rank_since(now, period), now,
                              grid_ids=scope_grid_ids(static_layers(session), scope))
    return warning_line(period, stats["total"])


@callback(Output(ids.BIGSCREEN_DUTY, "children"), Input(ids.BIGSCREEN_SLOW_TICK, "n_intervals"))
def show_duty(_n: int | None) -> str:
    """Who is on duty now (issue 17 §4): the shift, then each duty post and its holder."""
    with read_uow() as session:
        now = duty.on_duty_now(session)
    return duty_line(now)
