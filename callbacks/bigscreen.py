"""Big-screen callbacks: the map once per data version, then every few seconds the live parts, KPI tiles and
lists — only what changed, the map and the tiles as ``Patch``es (digests of what the browser holds live in a
Store); every 15 s the panels (trends, rankings, lifeline and environment), again only those that changed;
layer toggles in the browser; drill-down, search, details on click, and the video wall's patrol rotation (轮巡)."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    Patch,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    no_update,
)
from plotly.utils import PlotlyJSONEncoder

from alerts.air import HourlyAqi, city_hourly_aqi, scope_condition, station_hourly_aqi
from alerts.aqi import AqiResult, category_of
from callbacks import mapkit
from callbacks.common import uow
from callbacks.pagekit import clicked_id, local_time, name_of, signed_in
from data.layers import StaticLayers, live_incidents, per_minute, static_layers
from data.map_details import Detail, detail, patrol_cameras, search
from data.models import Incident, Role, utcnow
from dispatch import duty, screen, tiers
from dispatch.kpi import AREA_SCOPES, kpi_snapshot
from dispatch.service import NotFound, get_incident
from i18n import t
from layouts import ids
from layouts.bigscreen import AQI_COLOURS, aqi_view, chip, family_cell, rank_row
from layouts.components import CARD_COLOURS, LEVEL_COLOURS, badge, empty, ticker_item
from layouts.mapstyle import FAMILY_COLOURS, LAYERS
from layouts.mapviews import AREA_LEVELS, detail_view, patrol_screen, search_results
from settings import get_settings

#: Trace positions, kept here for the callers that knew them before the map kit existed.
DOORPLATES, CAMERAS, SENSORS, INCIDENTS, ALERTS = (mapkit.DOORPLATES, mapkit.CAMERAS, mapkit.SENSORS,
                                                   mapkit.INCIDENTS, mapkit.ALERTS)
LEVEL_ORDER = ("red", "orange", "yellow", "blue")
fit_zoom = mapkit.fit_zoom
#: How many lines the alert ticker and the incident list show.
TICKER_SIZE = 20
LIST_SIZE = 20
#: Rate tiles where up is good; count tiles where up is bad (the others are neutral).
GOOD_WHEN_UP = frozenset({"closure_rate", "on_time_closure_rate", "filing_rate", "handling_rate", "std_closure_rate",
                          "std_on_time_closure_rate"})
BAD_WHEN_UP = frozenset({"open", "red_cards", "yellow_cards", "alerts_firing"})
SOURCE_COLOUR = "#3fb8ff"


def build_map_figure(session: Any, visible: Any = LAYERS, metric: str = "open") -> tuple[go.Figure, tuple[int, ...]]:
    """The whole map (see ``callbacks.mapkit.build_map_figure``) and its data version."""
    fig, version, _ = mapkit.build_map_figure(session, visible=visible, metric=metric)
    return fig, version


def format_kpi(key: str, value: Any) -> str:
    """A KPI value as a tile shows it: rates in %, undefined as '—', alert counts summed."""
    if value is None:
        return "—"
    if key.endswith("_rate"):
        return f"{value * 100:.1f}%"
    if key == "alerts_firing":
        return " · ".join(f"{t('level.' + lvl)} {value.get(lvl, 0)}" for lvl in LEVEL_ORDER)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def kpi_period(now: datetime) -> tuple[datetime, datetime]:
    """The big screen's cohort: this calendar month in the display time zone."""
    local = now.astimezone(get_settings().zone)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def previous_period(start: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The month before the one starting at ``start`` (local), up to the same point in it as ``now`` is in
    this one (capped at its end): what "this month so far" is compared with."""
    before = (start - timedelta(days=1)).replace(day=1)
    return before, min(before + (now - start), start)


def local_midnight(now: datetime) -> datetime:
    """The start of ``now``'s day in the display time zone."""
    return now.astimezone(get_settings().zone).replace(hour=0, minute=0, second=0, microsecond=0)


# --- KPI tiles: value, change against the previous period, target state -----------------------------


@dataclass(frozen=True)
class Tile:
    """What one KPI tile shows: the value, the change (text, ``up``/``down``/``flat``/``none``), whether the
    change is ``good``/``bad``/``neutral``, the target state (``ok``/``amber``/``red``/``none``) and, for
    alert levels and sources, the parts as (label, colour, count)."""

    value: str
    change: str = ""
    trend: str = "none"
    tone: str = "neutral"
    state: str = "none"
    breakdown: tuple[tuple[str, str, int], ...] = ()


def tile_state(key: str, value: float | None, targets: Mapping[str, tuple[float, float]]) -> str:
    """``red`` below the red target, ``amber`` below the amber one, else ``ok``; ``none`` without a target
    or a value."""
    if value is None or key not in targets:
        return "none"
    amber, red = targets[key]
    if value < red:
        return "red"
    return "amber" if value < amber else "ok"


def tile_change(key: str, value: float | None, previous: float | None) -> tuple[str, str]:
    """The change against the previous period as the tile shows it — rates in percentage points
    ("▲ 2.1 pt"), counts as numbers ("▼ 3") — and its direction."""
    if value is None or previous is None:
        return "", "none"
    if key.endswith("_rate"):
        delta: float = round((value - previous) * 100, 1)
        amount = f"{abs(delta):.1f} {t('screen.unit.pt')}"
    else:
        delta = value - previous
        amount = f"{abs(delta):g}"
    if delta == 0:
        return t("screen.change.flat"), "flat"
    return f"{'▲' if delta > 0 else '▼'} {amount}", "up" if delta > 0 else "down"


def tile_tone(key: str, trend: str) -> str:
    """Whether a change is good news (closure rates up, cards down), bad news or neither."""
    if trend not in ("up", "down"):
        return "neutral"
    if key in GOOD_WHEN_UP:
        return "good" if trend == "up" else "bad"
    if key in BAD_WHEN_UP:
        return "bad" if trend == "up" else "good"
    return "neutral"


def _breakdown(key: str, parts: Mapping[str, int]) -> tuple[tuple[str, str, int], ...]:
    if key == "alerts_firing":
        return tuple((t(f"level.{lvl}"), LEVEL_COLOURS[lvl], int(parts.get(lvl, 0))) for lvl in LEVEL_ORDER)
    return tuple((t(f"source.{source}"), SOURCE_COLOUR, int(n)) for source, n in parts.items())


def build_tile(key: str, current: Mapping[str, Any], previous: Mapping[str, Any],
               targets: Mapping[str, tuple[float, float]]) -> Tile:
    """The tile of ``key`` from this period's figures and the previous period's; counts per level or source
    show their sum, with the parts under it."""
    value, before = current.get(key), previous.get(key)
    if isinstance(value, Mapping):
        number: Any = sum(value.values())
        shown, parts = str(number), _breakdown(key, value)
        before = sum(before.values()) if isinstance(before, Mapping) else None
    else:
        number, shown, parts = value, format_kpi(key, value), ()
    change, trend = tile_change(key, number, before)
    return Tile(shown, change, trend, tile_tone(key, trend), tile_state(key, number, targets), parts)


def tile_patch(tile: Tile) -> Patch:
    """A Patch writing a tile's live part in place: value and state, change and tone, breakdown."""
    patch = Patch()
    patch[0]["props"]["children"] = tile.value
    patch[0]["props"]["className"] = f"kpi-value kpi-{tile.state}"
    patch[1]["props"]["children"] = tile.change
    patch[1]["props"]["className"] = f"kpi-change trend-{tile.trend} tone-{tile.tone}"
    if tile.breakdown:
        patch[2]["props"]["children"] = [chip(label, colour, n) for label, colour, n in tile.breakdown]
    return patch


def tile_figures(session: Any, now: datetime, *, area: Mapping[str, str] | None = None,
                 grid_ids: list[int] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figures of the tiles now and in the previous period: the month so far against last month to the
    same point (KPI snapshots; cards rebuilt for then), today's intake by source against yesterday to the
    same time, and the alerts firing now against this time yesterday. ``area`` is the KPI snapshot's scope
    (``{"street": code}``, …; None = the city) and ``grid_ids`` are its unit grids."""
    scope = dict(area or {})
    start, end = kpi_period(now)
    current = kpi_snapshot(session, start, end, now=now, **scope)
    today = local_midnight(now)
    current["by_source"] = screen.intake_by_source(session, today, now, grid_ids=grid_ids)

    def baseline() -> dict[str, Any]:  # the earlier figures move slowly: read once a minute
        before, before_until = previous_period(start, now)
        previous = kpi_snapshot(session, before, before_until, now=now, **scope)
        previous.update(screen.cards_at(session, before, before_until, before_until, grid_ids=grid_ids))
        day = timedelta(days=1)
        previous["by_source"] = screen.intake_by_source(session, today - day, now - day, grid_ids=grid_ids)
        previous["alerts_firing"] = screen.alerts_firing_at(session, now - day, grid_ids=grid_ids)
        return previous

    key = ("tile-baseline", tuple(sorted(scope.items())), tuple(grid_ids) if grid_ids is not None else None)
    return current, dict(per_minute(session, key, now, baseline))


# --- what changed since the browser's copy -----------------------------------------------------------


def digest_of(data: Any) -> str:
    """A short digest of ``data`` (anything JSON-able, components and dataclasses as dicts)."""
    text = json.dumps(data, cls=PlotlyJSONEncoder, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def if_changed(digests: dict[str, str], part: str, data: Any, render: Callable[[], Any]) -> Any:
    """``render()`` when ``data`` differs from what the browser holds for ``part`` (and note its digest),
    else ``no_update``."""
    digest = digest_of(data)
    if digests.get(part) == digest:
        return no_update
    digests[part] = digest
    return render()


# --- the lists ---------------------------------------------------------------------------------------


def _alert_tick(alert: screen.TickerAlert) -> html.Div:
    colour = LEVEL_COLOURS.get(alert.level, "#fff")
    label = t("level." + alert.level)
    if alert.exercise:
        label = f"{t('screen.exercise')} · {label}"
    value = "" if alert.value is None else f"{alert.value:g}"
    if alert.muted:
        value = f"{value} {t('screen.muted')}".strip()
    item = ticker_item(label, colour, f"{t('family.' + alert.family)} · {alert.sensor_name}", value,
                       local_time(alert.at, "%H:%M:%S"), testid="alert-item")
    item.className = " ".join(["tick", f"tick-{alert.level}", "alert-exercise" if alert.exercise else "",
                               "alert-muted" if alert.muted else ""]).strip()
    item.style = {"--tick": colour}
    return item


def _alert_items(alerts: list[screen.TickerAlert]) -> list[Any] | html.Div:
    """The alert ticker: latest first, level-coloured; a drill's alerts striped and labelled."""
    return [_alert_tick(a) for a in alerts] if alerts else empty()


def _incident_items(incidents: list[Incident]) -> list[Any] | html.Div:
    if not incidents:
        return empty()
    return [
        ticker_item(t("card." + i.card), CARD_COLOURS.get(i.card, "#fff"), f"{i.code} · {i.title}",
                    t("state." + i.state), local_time(i.reported_at, "%H:%M"), testid="incident-item")
        for i in incidents[:LIST_SIZE]
    ]


# --- the map and the live refresh ------------------------------------------------------------------


@callback(
    Output(ids.BIGSCREEN_MAP, "figure"),
    Output(ids.BIGSCREEN_MAP_VERSION, "data"),
    Output(ids.BIGSCREEN_LIVE_DIGEST, "data"),
    Input(ids.BIGSCREEN_MAP_VERSION, "id"),
    State(ids.BIGSCREEN_LAYERS, "value"),
    State(ids.BIGSCREEN_GRID_METRIC, "value"),
)
def load_map(_: str, visible: list[str] | None = None, metric: str | None = None) -> tuple[Any, ...]:
    """Send the whole map once when the page opens, with the digests of its live parts."""
    with uow() as session:
        fig, version, digests = mapkit.build_map_figure(session, visible=LAYERS if visible is None else visible,
                                                        metric=metric or "open")
    return fig, list(version), digests


@callback(
    Output(ids.BIGSCREEN_DENSE, "data"),
    Input(ids.BIGSCREEN_MAP_VERSION, "data"),
    prevent_initial_call=True,
)
def load_dense(_version: list[int] | None) -> dict[str, Any]:
    """After the map: the dense layers' arrays, once (``assets/map.js`` draws what the view needs)."""
    with uow() as session:
        return mapkit.dense_payload(static_layers(session))


# The view decides what of the dense layers is drawn: cells below CLUSTER_MAXZOOM, points in view above.
clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="dense_view"),
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_DENSE, "data"),
    Input(ids.BIGSCREEN_VIEW, "data"),
    State(ids.BIGSCREEN_MAP, "figure"),
    prevent_initial_call=True,
)


@dataclass(frozen=True)
class ScreenScope:
    """The area chosen by drill-down as every panel uses it: the KPI snapshot's scope (level → code, as
    ``dispatch.kpi.kpi_snapshot`` takes it) and the area's unit grids (for the lists, cards, AQI stations)."""

    kpi: dict[str, str]
    grid_ids: list[int]


def _own_node(layers: StaticLayers, own: str | None) -> Any:
    """The area node of a command tier's area code ``own`` (None: the city centre, or no such area)."""
    return next((a for a in layers.areas if a.code == own), None) if own else None


def screen_scope(layers: StaticLayers, scope: Mapping[str, Any] | None, own: str | None = None) -> ScreenScope | None:
    """The drill-down Store's ``{"level", "id"}`` resolved against the areas and grids; None for the whole
    city, and for a scope naming no known area (the Store comes from the browser). A command tier's user
    (``own``: their area code) never leaves their area: a scope outside it, or none, is their area."""
    chosen = _chosen_scope(layers, scope)
    node = _own_node(layers, own)
    if node is None:
        return chosen
    floor = ScreenScope({node.level: node.code}, layers.grids.ids[layers.grid_positions_in(node.id)].tolist())
    return chosen if chosen is not None and set(chosen.grid_ids) <= set(floor.grid_ids) else floor


def _own_area() -> str | None:
    """The area of the signed-in user's command tier (None: the city centre, or no signed-in user)."""
    return tiers.area_of(mapkit.reader())


def _chosen_scope(layers: StaticLayers, scope: Mapping[str, Any] | None) -> ScreenScope | None:
    if not scope:
        return None
    try:
        level, ident = str(scope["level"]), int(scope["id"])
    except (KeyError, TypeError, ValueError):
        return None
    if level == "grid":
        position = layers.grids.ids.tolist().index(ident) if ident in layers.grids.ids else None
        return None if position is None else ScreenScope({"grid": layers.grids.codes[position]}, [ident])
    area = layers.area(ident)
    if area is None or area.level != level or level not in AREA_SCOPES:
        return None
    return ScreenScope({level: area.code}, layers.grids.ids[layers.grid_positions_in(ident)].tolist())


def _scope_grid_ids(layers: StaticLayers, scope: Mapping[str, Any] | None) -> list[int] | None:
    """The unit grids of the chosen area, None for the whole city."""
    resolved = screen_scope(layers, scope, _own_area())
    return None if resolved is None else resolved.grid_ids


@callback(
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Output({"type": ids.BIGSCREEN_KPI_VALUE, "key": ALL}, "children"),
    Output(ids.BIGSCREEN_ALERT_LIST, "children"),
    Output(ids.BIGSCREEN_INCIDENT_LIST, "children"),
    Output(ids.BIGSCREEN_UPDATED, "children"),
    Output(ids.BIGSCREEN_LIVE_DIGEST, "data", allow_duplicate=True),
    Input(ids.BIGSCREEN_TICK, "n_intervals"),
    State(ids.BIGSCREEN_MAP_VERSION, "data"),
    State({"type": ids.BIGSCREEN_KPI_VALUE, "key": ALL}, "id"),
    State(ids.BIGSCREEN_LIVE_DIGEST, "data"),
    State(ids.BIGSCREEN_SCOPE, "data"),
    State(ids.BIGSCREEN_GRID_METRIC, "value"),
    prevent_initial_call="initial_duplicate",
)
def refresh(_n: int | None, map_version: list[int] | None, tile_ids: list[dict[str, str]],
            digest: dict[str, str] | None = None, scope: dict[str, Any] | None = None,
            metric: str | None = None) -> tuple[Any, ...]:
    """Live refresh, scoped to the chosen area: a Patch of the live map parts that changed, a Patch of each
    KPI tile that changed, the lists when they changed (``no_update`` for the rest), the time."""
    now = utcnow()
    with uow() as session:
        layers = static_layers(session)
        area = screen_scope(layers, scope, _own_area())
        grid_ids = area.grid_ids if area else None
        alerts = screen.ticker_alerts(session, limit=TICKER_SIZE, grid_ids=grid_ids)
        # the map's incidents and alerts go through callbacks/maplive.py (every one of them, as deltas)
        # the list names incidents: only those the user may see, as on the map and in /api/v1/incidents
        incidents = live_incidents(session, limit=LIST_SIZE, grid_ids=grid_ids,
                                   visible=mapkit.reader_visible(mapkit.reader()))
        current, previous = tile_figures(session, now, area=area.kpi if area else None, grid_ids=grid_ids)
        live = mapkit.live_map(session, layers, metric or "open") if map_version is not None else None
    held = dict(digest or {})
    digests = dict(held)
    figure: Any = no_update
    if live is not None:
        parts = live.digests()
        changed = [part for part in mapkit.LIVE_PARTS if held.get(part) != parts[part]]
        if changed:
            figure = mapkit.live_patch(live, changed)
            digests.update(parts)
    targets = get_settings().kpi_targets
    tiles = []
    for tile_id in tile_ids:
        tile = build_tile(tile_id["key"], current, previous, targets)
        tiles.append(if_changed(digests, f"tile.{tile_id['key']}", asdict(tile), lambda tile=tile: tile_patch(tile)))
    alert_list = if_changed(digests, "list.alerts", [asdict(a) for a in alerts], lambda: _alert_items(alerts))
    shown = [(i.id, i.code, i.title, i.card, i.state, i.reported_at) for i in incidents]
    incident_list = if_changed(digests, "list.incidents", shown, lambda: _incident_items(incidents))
    updated = t("common.updated", time=local_time(now, "%H:%M:%S"))
    return figure, tiles, alert_list, incident_list, updated, digests if digests != held else no_update


@callback(
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Output(ids.BIGSCREEN_LIVE_DIGEST, "data", allow_duplicate=True),
    Input(ids.BIGSCREEN_GRID_METRIC, "value"),
    State(ids.BIGSCREEN_LIVE_DIGEST, "data"),
    prevent_initial_call=True,
)
def recolour_grids(metric: str, digest: dict[str, str] | None) -> tuple[Any, Any]:
    """Colour the grids by another metric (open incidents, cards, workload)."""
    with uow() as session:
        layers = static_layers(session)
        live = mapkit.live_map(session, layers, metric)
    return mapkit.live_patch(live, ["grids"]), {**(digest or {}), "grids": live.digests()["grids"]}


# Pure visibility toggles run in the browser: a Patch of ``visible`` on the traces and basemap layers.
clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="toggle_layers"),
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_LAYERS, "value"),
    State(ids.BIGSCREEN_MAP, "figure"),
    prevent_initial_call=True,
)


# --- the panels: trends, rankings, lifeline and environment (every 15 s) ------------------------------

TREND_HOURS = 24
TREND_DAYS = 30
RANK_SIZE = 5
#: Air-quality values older than this are not "current".
AIR_FRESH = timedelta(hours=2)
#: Stations listed under the AQI, worst first.
STATION_ROWS = 5
REPORTED_COLOUR, CLOSED_COLOUR, AXIS_COLOUR = "#3fb8ff", "#30d158", "#7f97ae"
GRID_COLOUR = "rgba(127,151,174,0.18)"


def hour_buckets(now: datetime) -> tuple[datetime, list[str]]:
    """The last 24 local hours up to ``now``'s: the first one's start and each one's key (YYYY-MM-DD HH)."""
    first = now.astimezone(get_settings().zone).replace(minute=0, second=0, microsecond=0)
    first -= timedelta(hours=TREND_HOURS - 1)
    return first, [(first + timedelta(hours=i)).strftime("%Y-%m-%d %H") for i in range(TREND_HOURS)]


def day_buckets(now: datetime) -> tuple[datetime, list[str]]:
    """The last 30 local days up to ``now``'s: the first one's start and each one's key (YYYY-MM-DD)."""
    first = local_midnight(now) - timedelta(days=TREND_DAYS - 1)
    return first, [(first + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(TREND_DAYS)]


def hourly_air(session: Any, now: datetime, first_hour: datetime, hours: list[str],
               grid_ids: list[int] | None) -> tuple[HourlyAqi | None, list[int | None], list[HourlyAqi]]:
    """The city's (or the area's) hourly AQI from 1-hour means (``alerts.air``, HJ 633-2012): the newest hour
    within ``AIR_FRESH``, the AQI of each of ``hours`` (local keys), and each station's newest hour, worst first."""
    where = None if grid_ids is None else scope_condition(session, grid_ids=grid_ids)
    zone = get_settings().zone
    city = {h.hour.astimezone(zone).strftime("%Y-%m-%d %H"): h
            for h in city_hourly_aqi(session, first_hour, now, where)}
    fresh = now - AIR_FRESH
    latest = max((h for h in city.values() if h.hour + timedelta(hours=1) > fresh), key=lambda h: h.hour,
                 default=None)
    newest: dict[str, HourlyAqi] = {}
    for h in station_hourly_aqi(session, fresh, now, where):  # by station, then hour: the last one wins
        newest[h.station.code if h.station else ""] = h
    stations = sorted(newest.values(), key=lambda h: (-h.result.aqi, h.station.name if h.station else ""))
    return latest, [city[hour].result.aqi if hour in city else None for hour in hours], stations


@dataclass(frozen=True)
class Panels:
    """Everything the panels show, read in one unit of work."""

    hours: list[str]
    hourly: list[tuple[int, int]]  # (reported, closed) per hour
    days: list[str]
    daily: list[tuple[int, int]]
    categories: list[screen.CategoryRank]
    departments: list[screen.DepartmentRank]
    aqi_now: AqiResult | None
    stations: int
    aqi_hourly: list[int | None]
    families: list[screen.FamilyAlarm]
    #: Each station's newest hourly AQI, worst first.
    station_aqi: list[HourlyAqi]


def read_panels(session: Any, now: datetime, period: str, grid_ids: list[int] | None = None) -> Panels:
    """The panels' data as of ``now``: incident trend (24 h hourly, 30 d daily), the rankings of ``period``
    (``today`` or ``month``), the current AQI and its hourly values, sensors in alarm per family."""
    first_hour, hours = hour_buckets(now)
    first_day, days = day_buckets(now)
    offset = int(now.astimezone(get_settings().zone).utcoffset().total_seconds() // 60)
    hourly = screen.incident_trend(session, first_hour, now, offset, hourly=True, grid_ids=grid_ids)
    daily = screen.incident_trend(session, first_day, now, offset, hourly=False, grid_ids=grid_ids)
    since = local_midnight(now) if period == "today" else kpi_period(now)[0]
    latest, hourly_aqi, station_aqi = hourly_air(session, now, first_hour, hours, grid_ids)
    return Panels(
        hours, [hourly.get(h, (0, 0)) for h in hours], days, [daily.get(d, (0, 0)) for d in days],
        screen.category_ranking(session, since, now, limit=RANK_SIZE, grid_ids=grid_ids),
        screen.department_ranking(session, since, now, now, limit=RANK_SIZE, grid_ids=grid_ids),
        latest.result if latest else None, latest.stations if latest else 0, hourly_aqi,
        screen.family_alarms(session, grid_ids=grid_ids), station_aqi,
    )


def _chart_layout(labels: list[str], scale: float, *, legend: bool, every: int) -> dict[str, Any]:
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
        "layout": _chart_layout(labels, scale, legend=True, every=every),
    }


def aqi_figure(labels: list[str], values: list[int | None], scale: float = 1.0) -> dict[str, Any]:
    """The hourly AQI as a line, each hour's marker in its category's colour (gaps where no data)."""
    colours = [AXIS_COLOUR if v is None else AQI_COLOURS[category_of(v) - 1] for v in values]
    return {
        "data": [{"type": "scatter", "mode": "lines+markers", "x": labels, "y": values, "hoverinfo": "skip",
                  "line": {"color": "rgba(216,232,248,0.45)", "width": round(1.5 * scale, 1)},
                  "marker": {"color": colours, "size": round(5 * scale, 1)}}],
        "layout": _chart_layout(labels, scale, legend=False, every=4),
    }


def _station_rows(rows: list[HourlyAqi]) -> html.Div:
    """Each station's newest hourly AQI with its primary pollutant, worst first."""
    top = max((r.result.aqi for r in rows), default=1) or 1
    return html.Div(
        [rank_row(n, r.station.name if r.station else "", str(r.result.aqi), r.result.aqi / top,
                  rate="、".join(t(f"screen.pollutant.{p}") for p in r.result.primary) or "—",
                  state="none")
         for n, r in enumerate(rows[:STATION_ROWS], start=1)],
        className="aqi-stations-list", **{"data-testid": "aqi-stations"},
    )


def _category_rows(rows: list[screen.CategoryRank]) -> list[Any] | html.Div:
    if not rows:
        return empty()
    top = max(r.reported for r in rows)
    return [rank_row(n, name_of(r), t("screen.rank.count", n=r.reported), r.reported / top)
            for n, r in enumerate(rows, start=1)]


def _department_rows(rows: list[screen.DepartmentRank], targets: Mapping[str, tuple[float, float]]) -> Any:
    if not rows:
        return empty()
    top = max(r.filed for r in rows)
    return [rank_row(n, name_of(r), t("screen.rank.count", n=r.filed), r.filed / top,
                     rate=format_kpi("closure_rate", r.closure_rate),
                     state=tile_state("closure_rate", r.closure_rate, targets))
            for n, r in enumerate(rows, start=1)]


def _family_cells(rows: list[screen.FamilyAlarm]) -> list[Any] | html.Div:
    """Families in the map legend's order (lifeline, then environment), so each keeps its place."""
    order = list(FAMILY_COLOURS)
    rows = sorted(rows, key=lambda r: (order.index(r.family) if r.family in order else len(order), r.family))
    return [family_cell(r.family, r.in_alarm, r.sensors, LEVEL_COLOURS.get(r.worst or "")) for r in rows] or empty()


def _chart_scale(scale: Any) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        return 1.0
    return min(max(value, 0.5), 4.0) if math.isfinite(value) else 1.0


# The screen's size, measured once in the browser: chart fonts follow it as the page's fonts do.
clientside_callback(
    "function(_) { return Math.round(window.innerWidth / 19.2) / 100; }",
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
    with uow() as session:
        panels = read_panels(session, now, period or "month", _scope_grid_ids(static_layers(session), scope))
    held = dict(digest or {})
    digests = dict(held)
    targets = get_settings().kpi_targets
    hours = [h[-2:] for h in panels.hours]
    days = [d[5:] for d in panels.days]
    now_aqi = panels.aqi_now
    outputs = (
        if_changed(digests, "trend.24h", [hours, panels.hourly, size],
                   lambda: trend_figure(hours, panels.hourly, size)),
        if_changed(digests, "trend.30d", [days, panels.daily, size],
                   lambda: trend_figure(days, panels.daily, size, every=5)),
        if_changed(digests, "rank.categories", [asdict(r) for r in panels.categories],
                   lambda: _category_rows(panels.categories)),
        if_changed(digests, "rank.departments", [asdict(r) for r in panels.departments],
                   lambda: _department_rows(panels.departments, targets)),
        if_changed(digests, "aqi", [asdict(now_aqi) if now_aqi else None, panels.stations,
                                    [asdict(h) for h in panels.station_aqi]],
                   lambda: html.Div([aqi_view(now_aqi.aqi if now_aqi else None,
                                              now_aqi.category if now_aqi else None,
                                              now_aqi.primary if now_aqi else [], panels.stations),
                                     _station_rows(panels.station_aqi)], className="aqi-with-stations")),
        if_changed(digests, "aqi.trend", [hours, panels.aqi_hourly, size],
                   lambda: aqi_figure(hours, panels.aqi_hourly, size)),
        if_changed(digests, "families", [asdict(r) for r in panels.families],
                   lambda: _family_cells(panels.families)),
    )
    return (*outputs, digests if digests != held else no_update)


# The map's zoom fits a panel about 1,000 px wide (``mapkit.fit_zoom``); a wall wider than 1920 px shows the
# same picture with more pixels, so the city is zoomed in by log2(width / 1920) once its map arrives (with a
# new ``uirevision``, or Plotly would keep the view MapLibre reported after the first draw).
clientside_callback(
    """function (version, figure) {
        var scale = window.innerWidth / 1920;
        var map = figure && figure.layout && figure.layout.map;
        if (!version || !map || typeof map.zoom !== 'number' || scale < 1.2) {
            return window.dash_clientside.no_update;
        }
        var patch = new window.dash_clientside.Patch();
        patch.assign(['layout', 'map', 'zoom'], map.zoom + Math.log2(scale));
        patch.assign(['layout', 'uirevision'], 'wall');  // a new revision: the view is ours to set, not the user's
        return patch.build();
    }""",
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_MAP_VERSION, "data"),
    State(ids.BIGSCREEN_MAP, "figure"),
    prevent_initial_call=True,
)


# --- drill-down: city → district → street → community → grid -------------------------------------


def _options(nodes: list[Any]) -> list[dict[str, Any]]:
    return [{"label": n.name, "value": n.id} for n in sorted(nodes, key=lambda n: n.code)]


def _grid_options(layers: StaticLayers, community: int) -> list[dict[str, Any]]:
    positions = [i for i, c in enumerate(layers.grids.community_ids.tolist()) if c == community]
    return [{"label": f"{layers.grids.codes[i]} {layers.grids.names[i]}", "value": int(layers.grids.ids[i])}
            for i in positions]


def drill_state(layers: StaticLayers, chosen: dict[str, int | None], trigger: str | None) -> dict[str, Any]:
    """Options, values and scope of the four area pickers after ``trigger`` (a level) changed."""
    order = [level for _, level in AREA_LEVELS]
    if trigger in order:  # choosing a level clears the levels below it
        for level in order[order.index(trigger) + 1:]:
            chosen[level] = None
    city = next((a for a in layers.areas if a.level == "city"), None)
    options = {"district": _options(layers.children(city.id if city else None, "district")),
               "street": [], "community": [], "grid": []}
    if chosen["district"]:
        options["street"] = _options(layers.children(chosen["district"], "street"))
    if chosen["street"]:
        options["community"] = _options(layers.children(chosen["street"], "community"))
    if chosen["community"]:
        options["grid"] = _grid_options(layers, int(chosen["community"]))
    deepest = next((level for level in reversed(order) if chosen[level]), None)
    scope = None
    if deepest is not None:
        district = layers.area(int(chosen["district"])) if chosen["district"] else None
        scope = {"level": deepest, "id": int(chosen[deepest]), "district": district.code if district else None}
    return {"options": options, "values": chosen, "scope": scope}


def keep_to_area(layers: StaticLayers, state: dict[str, Any], own: Any) -> dict[str, Any]:
    """``drill_state``'s answer held inside a command tier's area ``own`` (an area node): the pickers at and
    above its level offer only its own areas, and a scope outside it (or none) becomes the area itself."""
    node, district = own, None
    while node is not None:
        if node.level in tiers.SCOPE_LEVELS:
            state["options"][node.level] = _options([node])
        district = node if node.level == "district" else district
        node = layers.area(node.parent_id) if node.parent_id is not None else None
    resolved = screen_scope(layers, state["scope"], own.code)
    if resolved is None or resolved.kpi == {own.level: own.code}:
        state["scope"] = {"level": own.level, "id": own.id, "district": district.code if district else None}
    return state


def scope_bounds(layers: StaticLayers, scope: dict[str, Any] | None) -> tuple[float, float, float, float]:
    if not scope:
        return layers.bounds
    if scope["level"] == "grid":
        position = layers.grids.ids.tolist().index(int(scope["id"]))
        return tuple(layers.grids.bounds[position].tolist())
    area = layers.area(int(scope["id"]))
    return area.bounds if area else layers.bounds


@callback(
    Output(ids.BIGSCREEN_AREA_DISTRICT, "options"),
    Output(ids.BIGSCREEN_AREA_STREET, "options"),
    Output(ids.BIGSCREEN_AREA_COMMUNITY, "options"),
    Output(ids.BIGSCREEN_AREA_GRID, "options"),
    Output(ids.BIGSCREEN_AREA_STREET, "value"),
    Output(ids.BIGSCREEN_AREA_COMMUNITY, "value"),
    Output(ids.BIGSCREEN_AREA_GRID, "value"),
    Output(ids.BIGSCREEN_SCOPE, "data"),
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_AREA_DISTRICT, "value"),
    Input(ids.BIGSCREEN_AREA_STREET, "value"),
    Input(ids.BIGSCREEN_AREA_COMMUNITY, "value"),
    Input(ids.BIGSCREEN_AREA_GRID, "value"),
    prevent_initial_call="initial_duplicate",
)
def drill_down(district: int | None, street: int | None, community: int | None, grid: int | None) -> tuple[Any, ...]:
    """Choosing an area fills the pickers below it, scopes the panels and zooms the map to it."""
    trigger = next((level for cid, level in AREA_LEVELS if cid == ctx.triggered_id), None)
    with uow() as session:
        layers = static_layers(session)
    state = drill_state(layers, {"district": district, "street": street, "community": community, "grid": grid},
                        trigger)
    own = _own_node(layers, _own_area())
    if own is not None:  # a command tier: framed on its area from the start, and kept inside it
        state = keep_to_area(layers, state, own)
    figure: Any = no_update
    if trigger is not None or own is not None:
        west, south, east, north = scope_bounds(layers, state["scope"])
        figure = mapkit.fly_to(Patch(), lon=(west + east) / 2, lat=(south + north) / 2,
                               zoom=fit_zoom((west, south, east, north)), token=f"area-{time.time_ns()}",
                               highlight=False)
    options, values = state["options"], state["values"]
    return (options["district"], options["street"], options["community"], options["grid"],
            values["street"], values["community"], values["grid"], state["scope"], figure)


# --- selection: click, search, search hits ---------------------------------------------------------


def _fly_to_detail(found: Detail) -> Patch:
    bounds = found.extra.get("bounds")
    zoom = fit_zoom(bounds) if bounds else mapkit.POINT_ZOOM
    return mapkit.fly_to(Patch(), lon=found.lon, lat=found.lat, zoom=zoom, token=f"{found.kind}-{time.time_ns()}")


@callback(
    Output(ids.BIGSCREEN_SELECTED, "data"),
    Output(ids.BIGSCREEN_SEARCH_RESULTS, "children"),
    Output(ids.BIGSCREEN_MAP, "figure", allow_duplicate=True),
    Input(ids.BIGSCREEN_MAP, "clickData"),
    Input(ids.BIGSCREEN_SEARCH, "n_submit"),
    Input(ids.BIGSCREEN_SEARCH_GO, "n_clicks"),
    Input({"type": ids.BIGSCREEN_SEARCH_HIT, "kind": ALL, "key": ALL}, "n_clicks"),
    State(ids.BIGSCREEN_SEARCH, "value"),
    prevent_initial_call=True,
)
def select(click: dict[str, Any] | None, _submit: int | None, _go: int | None, _hits: list[int | None],
           query: str | None) -> tuple[Any, Any, Any]:
    """What to show: the clicked map object, the first search hit, or a chosen hit — and fly there."""
    trigger = ctx.triggered_id
    with uow() as session:
        if trigger == ids.BIGSCREEN_MAP:
            points = (click or {}).get("points") or []
            target = mapkit.click_target(static_layers(session), points[0]) if points else None
            if target is None:
                return no_update, no_update, no_update
            point = points[0]
            if target[0] == "cell":  # a cell of the dense layers: zoom in until its points show
                if not isinstance(point.get("lon"), int | float) or not isinstance(point.get("lat"), int | float):
                    return no_update, no_update, no_update
                return no_update, no_update, mapkit.fly_to(
                    Patch(), lon=point["lon"], lat=point["lat"], zoom=mapkit.CLUSTER_MAXZOOM + 0.5,
                    token=f"cell-{time.time_ns()}", highlight=False)
            patch = Patch()
            if "lon" in point and "lat" in point:
                patch["data"][mapkit.HIGHLIGHT]["lon"] = [point["lon"]]
                patch["data"][mapkit.HIGHLIGHT]["lat"] = [point["lat"]]
            return {"kind": target[0], "id": target[1]}, no_update, patch
        if isinstance(trigger, dict):  # a search hit
            if clicked_id() is None:
                return no_update, no_update, no_update
            kind, key = trigger["kind"], trigger["key"]
            found = visible_detail(session, kind, key)
            if found is None:
                return no_update, no_update, no_update
            return {"kind": kind, "id": found.id}, no_update, _fly_to_detail(found)
        hits = search(session, query or "")
        results = search_results([(h.kind, h.id, h.label) for h in hits])
        if not hits:
            return no_update, results, no_update
        first = visible_detail(session, hits[0].kind, hits[0].id)
    if first is None:
        return no_update, results, no_update
    return {"kind": first.kind, "id": first.id}, results, _fly_to_detail(first)


def _may_see_personal_data() -> bool:
    user = signed_in()
    return getattr(user, "role", None) == Role.ADMIN


def visible_detail(session: Any, kind: Any, ident: Any, *, show_personal: bool = False) -> Detail | None:
    """The detail of a map object as the signed-in user may see it: an incident only when
    ``/api/v1/incidents`` would show it to them (``dispatch.service.get_incident``: a handler their
    department's, a worker their grid's or their own), else None — as if it did not exist."""
    if kind == "incident":
        try:
            get_incident(session, int(ident), user=signed_in())
        except (NotFound, TypeError, ValueError):
            return None
    return detail(session, str(kind), ident, show_personal=show_personal)


def _sparkline(found: Detail) -> Any:
    times, values = found.extra["series"]
    if not times:
        return html.Div(t("map.no_readings"), className="empty")
    local = [local_time(x, "%Y-%m-%d %H:%M") for x in times]
    fig = go.Figure(go.Scatter(x=local, y=values, mode="lines", line={"color": "#3fb8ff", "width": 1.5},
                               hovertemplate=f"%{{x}}: %{{y}} {found.extra['unit']}<extra></extra>"))
    fig.update_layout(template=None, height=90, margin={"l": 30, "r": 4, "t": 4, "b": 18},
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", showlegend=False,
                      xaxis={"showgrid": False, "color": "#7f97ae", "nticks": 4},
                      yaxis={"showgrid": False, "color": "#7f97ae", "nticks": 3})
    return html.Div(dcc.Graph(figure=fig, config={"displayModeBar": False, "staticPlot": True}),
                    className="sparkline", **{"data-testid": "sparkline"})


def _field_value(key: str, value: Any) -> Any:
    if value is None or value == []:
        return None
    if key == "state":
        return t(f"state.{value}")
    if key == "card":
        return t(f"card.{value}")
    if key == "simulated":
        return t("map.simulated.yes") if value else t("map.simulated.no")
    if key == "status" and value in ("online", "offline"):
        return t(f"map.camera.{value}")
    if key == "type" and value in ("gun", "dome", "panoramic"):
        return t(f"map.camera_type.{value}")
    if key == "alert_level":
        return badge(t(f"level.{value}"), LEVEL_COLOURS.get(value, "#fff"))
    if key == "family":
        return t(f"family.{value}")
    if key == "place_kind":
        return t(f"map.place.{value}")
    if key == "algorithms":
        return ", ".join(t(f"map.algorithm.{a}") for a in value)
    if isinstance(value, datetime):
        return local_time(value)
    return value


def render_detail(found: Detail) -> html.Div:
    """The detail card of ``found`` with the extras of its kind."""
    rows = [(t(f"map.field.{key}"), _field_value(key, value)) for key, value in found.fields]
    extra: list[Any] = []
    if found.kind == "sensor":
        extra.append(html.Div(t("map.last_24h"), className="legend-title"))
        extra.append(_sparkline(found))
        alerts = found.extra["alerts"]
        extra.append(html.Div(t("map.active_alerts"), className="legend-title"))
        extra.append(html.Div([ticker_item(t(f"level.{level}"), LEVEL_COLOURS.get(level, "#fff"), rule,
                                           "" if value is None else f"{value:g}", local_time(at, "%H:%M"))
                               for _, level, rule, _, value, at in alerts] or [empty()], className="ticker"))
    elif found.kind == "camera":
        extra.append(html.Code(found.extra.get("stream_url") or "—", className="frame-url"))
        code = dict(found.fields).get("code")  # play it on the video wall (issue 19)
        extra.append(html.A(t("video.play"), href=f"/video?{urlencode({'cameras': code})}", className="btn",
                            **{"data-testid": "camera-play-link"}))
    elif found.kind == "incident":
        extra.append(html.A(t("map.open_in_console"), href=f"/console?incident={found.id}", className="btn",
                            **{"data-testid": "incident-console-link"}))
    return detail_view(found.kind, found.title, rows, extra=extra)


@callback(
    Output(ids.BIGSCREEN_DETAIL, "children"),
    Input(ids.BIGSCREEN_SELECTED, "data"),
    prevent_initial_call=True,
)
def show_detail(selected: dict[str, Any] | None) -> Any:
    """The detail of the selected object, in the user's scope; personal data is masked except for admins."""
    if not selected or not isinstance(selected, dict):
        return no_update
    with uow() as session:
        found = visible_detail(session, selected.get("kind"), selected.get("id"),
                               show_personal=_may_see_personal_data())
    if found is None:
        return html.Div(t("map.gone"), className="empty")
    return render_detail(found)


# --- the video wall: patrol rotation (轮巡) ---------------------------------------------------------

clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="video_wall_open"),
    Output(ids.BIGSCREEN_VIDEOWALL, "className"),
    Input(ids.BIGSCREEN_SELECTED, "data"),
    Input(ids.BIGSCREEN_VIDEOWALL_CLOSE, "n_clicks"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="patrol_saved"),
    Output(ids.BIGSCREEN_PATROL_SAVED, "data"),
    Input(ids.BIGSCREEN_PATROL_SAVE, "n_clicks"),
    Input(ids.BIGSCREEN_PATROL_CLEAR, "n_clicks"),
    State(ids.BIGSCREEN_SELECTED, "data"),
    State(ids.BIGSCREEN_PATROL_SAVED, "data"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="patrol_play"),
    Output(ids.BIGSCREEN_PATROL_TICK, "disabled"),
    Output(ids.BIGSCREEN_PATROL_TICK, "interval"),
    Input(ids.BIGSCREEN_PATROL_PLAY, "n_clicks"),
    Input(ids.BIGSCREEN_PATROL_INTERVAL, "value"),
    State(ids.BIGSCREEN_PATROL_TICK, "disabled"),
)


@callback(
    Output(ids.BIGSCREEN_PATROL_LIST, "data"),
    Output(ids.BIGSCREEN_PATROL_TICK, "n_intervals"),
    Input(ids.BIGSCREEN_PATROL_SOURCE, "value"),
    Input(ids.BIGSCREEN_SCOPE, "data"),
    Input(ids.BIGSCREEN_PATROL_SAVED, "data"),
    Input(ids.BIGSCREEN_SELECTED, "data"),
)
def patrol_list(source: str, scope: dict[str, Any] | None, saved: list[int] | None,
                selected: dict[str, Any] | None) -> tuple[list[dict[str, Any]], int]:
    """The cameras to rotate through: the chosen area's (the clicked camera first), or the saved list;
    the rotation starts again at the first one."""
    with uow() as session:
        if source == "saved":
            cameras = patrol_cameras(session, camera_ids=[int(c) for c in saved or []])
        else:
            cameras = patrol_cameras(session, grid_ids=_scope_grid_ids(static_layers(session), scope))
            if selected and selected.get("kind") == "camera":
                first = patrol_cameras(session, camera_ids=[int(selected["id"])])
                cameras = first + [c for c in cameras if c.id != int(selected["id"])]
    return [{"id": c.id, "code": c.code, "name": c.name, "status": c.status, "stream_url": c.stream_url}
            for c in cameras], 0


@callback(
    Output(ids.BIGSCREEN_PATROL_SCREEN, "children"),
    Input(ids.BIGSCREEN_PATROL_TICK, "n_intervals"),
    State(ids.BIGSCREEN_PATROL_LIST, "data"),
)
def patrol_tick(n: int | None, cameras: list[dict[str, Any]] | None) -> Any:
    """Show camera ``n`` of the rotation (cycling)."""
    cameras = cameras or []
    if not cameras:
        return patrol_screen(None, 0, 0)
    position = (n or 0) % len(cameras)
    return patrol_screen(cameras[position], position + 1, len(cameras))


@callback(Output(ids.BIGSCREEN_DUTY, "children"), Input(ids.BIGSCREEN_SLOW_TICK, "n_intervals"))
def show_duty(_n: int | None) -> str:
    """Who is on duty now (issue 17 §4): the shift, then each duty post and its holder."""
    with uow() as session:
        now = duty.on_duty_now(session)
    return duty_line(now)


def duty_line(now: Mapping[str, Any]) -> str:
    """``dispatch.duty.on_duty_now`` as one line: the shift, then each post and its holder (or vacant)."""
    posts = " · ".join(f"{t('duty.post.' + p['post'])} {p['name'] or t('duty.vacant')}" for p in now["on_duty"])
    return f"{t('duty.now')} ({t('duty.shift.' + now['shift']['shift'])}): {posts}"
