"""Big-screen callbacks: the map once per data version, then the live parts, KPI tiles and lists every
few seconds (a ``Patch`` only of the live parts that changed); layer toggles in the browser; drill-down,
search, details on click, and the video wall's patrol rotation (轮巡)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

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

from callbacks import mapkit
from callbacks.common import uow
from callbacks.pagekit import clicked_id, local_time, signed_in
from data.layers import LiveAlert, StaticLayers, live_alerts, live_incidents, static_layers
from data.map_details import Detail, detail, patrol_cameras, search
from data.models import Incident, Role, utcnow
from dispatch.kpi import kpi_snapshot
from i18n import t
from layouts import ids
from layouts.components import CARD_COLOURS, LEVEL_COLOURS, badge, empty, ticker_item
from layouts.mapstyle import LAYERS
from layouts.mapviews import AREA_LEVELS, detail_view, patrol_screen, search_results
from settings import get_settings

#: Trace positions, kept here for the callers that knew them before the map kit existed.
DOORPLATES, CAMERAS, SENSORS, INCIDENTS, ALERTS = (mapkit.DOORPLATES, mapkit.CAMERAS, mapkit.SENSORS,
                                                   mapkit.INCIDENTS, mapkit.ALERTS)
LEVEL_ORDER = ("red", "orange", "yellow", "blue")
fit_zoom = mapkit.fit_zoom


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


def _alert_items(alerts: list[LiveAlert]) -> list[Any] | html.Div:
    if not alerts:
        return empty()
    return [
        ticker_item(t("level." + a.level), LEVEL_COLOURS.get(a.level, "#fff"),
                    f"{t('family.' + a.family)} · {a.sensor_name}", "" if a.value is None else f"{a.value:g}",
                    local_time(a.fired_at or a.started_at, "%H:%M:%S"), testid="alert-item")
        for a in alerts[:30]
    ]


def _incident_items(incidents: list[Incident]) -> list[Any] | html.Div:
    if not incidents:
        return empty()
    return [
        ticker_item(t("card." + i.card), CARD_COLOURS.get(i.card, "#fff"), f"{i.code} · {i.title}",
                    t("state." + i.state), local_time(i.reported_at, "%H:%M"), testid="incident-item")
        for i in incidents[:30]
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


def _scope_grid_ids(layers: StaticLayers, scope: dict[str, Any] | None) -> list[int] | None:
    if not scope:
        return None
    if scope["level"] == "grid":
        return [int(scope["id"])]
    return layers.grids.ids[layers.grid_positions_in(int(scope["id"]))].tolist()


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
    """Live refresh: patch the live map parts that changed, the KPI tiles and the lists (scoped to the
    chosen area)."""
    now = utcnow()
    with uow() as session:
        layers = static_layers(session)
        grid_ids = _scope_grid_ids(layers, scope)
        alerts = live_alerts(session, grid_ids=grid_ids)
        incidents = live_incidents(session, grid_ids=grid_ids)
        start, end = kpi_period(now)
        snapshot = kpi_snapshot(session, start, end, now=now, district=(scope or {}).get("district"))
        live = mapkit.live_map(session, layers, metric or "open") if map_version is not None else None
    figure: Any = no_update
    new_digest: Any = no_update
    if live is not None:
        current = live.digests()
        changed = [part for part in mapkit.LIVE_PARTS if (digest or {}).get(part) != current[part]]
        if changed:
            figure, new_digest = mapkit.live_patch(live, changed), current
    tiles = [format_kpi(tile["key"], snapshot.get(tile["key"])) for tile in tile_ids]
    updated = t("common.updated", time=local_time(now, "%H:%M:%S"))
    return figure, tiles, _alert_items(alerts), _incident_items(incidents), updated, new_digest


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
    figure: Any = no_update
    if trigger is not None:
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
            patch = Patch()
            if "lon" in point and "lat" in point:
                patch["data"][mapkit.HIGHLIGHT]["lon"] = [point["lon"]]
                patch["data"][mapkit.HIGHLIGHT]["lat"] = [point["lat"]]
            return {"kind": target[0], "id": target[1]}, no_update, patch
        if isinstance(trigger, dict):  # a search hit
            if clicked_id() is None:
                return no_update, no_update, no_update
            kind, key = trigger["kind"], trigger["key"]
            found = detail(session, kind, key)
            if found is None:
                return no_update, no_update, no_update
            return {"kind": kind, "id": found.id}, no_update, _fly_to_detail(found)
        hits = search(session, query or "")
        results = search_results([(h.kind, h.id, h.label) for h in hits])
        if not hits:
            return no_update, results, no_update
        first = detail(session, hits[0].kind, hits[0].id)
    if first is None:
        return no_update, results, no_update
    return {"kind": first.kind, "id": first.id}, results, _fly_to_detail(first)


def _may_see_personal_data() -> bool:
    user = signed_in()
    return getattr(user, "role", None) == Role.ADMIN


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
    """The detail of the selected object; personal data is masked except for admins."""
    if not selected:
        return no_update
    with uow() as session:
        found = detail(session, selected["kind"], selected["id"], show_personal=_may_see_personal_data())
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
