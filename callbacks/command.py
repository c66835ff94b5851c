"""Callbacks of the emergency command board (``/command/<event>``, issue 18 §3): every tick reads the board
through ``dispatch.emergency.board`` and sends only the sections whose digest changed — the map as a ``Patch``
of the traces that changed (sensor values and colours alone when only they did), the other panels whole — so an
unchanged board costs a few hundred bytes a tick. The map reuses the city map's basemap (``callbacks.mapkit``)
and carries the area's firing alerts as their own layer (a halo at each alerting sensor, coloured by level); the
sensors panel shows the last hour's trend of the few sensors worth watching (``dispatch.event_sensors``).
``/command`` without an event lists the events."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import plotly.graph_objects as go
from dash import Input, Output, Patch, State, callback, no_update

from callbacks.common import uow
from callbacks.mapkit import basemap_layers
from callbacks.pagekit import signed_in
from data.layers import static_layers
from dispatch import emergency, event_sensors
from geo.layers import offline_style
from i18n import current_lang, t
from layouts import command as view
from layouts import ids
from layouts.components import LEVEL_COLOURS
from layouts.mapstyle import BACKGROUND, CAMERA_COLOURS, KEY_PLACE_COLOURS

#: The map's traces, in this order (patches address them by position); the alerts layer came last.
AREA, PLACES, RESOURCES, CAMERAS, SENSORS, INCIDENTS, ALERTS = range(7)
SENSOR_IDLE = "#8fd3ff"
INCIDENT_COLOURS = {True: "#ff453a", False: "#ff9f0a"}  # the event's own, other open ones in the area
RESOURCE_COLOURS = {"available": "#30d158", "deployed": "#bf5af2"}
SECTIONS = ("header", "tasks", "timeline", "kpis", "duty", "resources", "cameras", "sensors")


def _digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str, ensure_ascii=False).encode(),
                        usedforsecurity=False).hexdigest()[:16]


def _circle(lon: float, lat: float, radius_m: float, steps: int = 64) -> tuple[list[float], list[float]]:
    dlat = math.degrees(radius_m / 6_371_008.8)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    angles = [2 * math.pi * i / steps for i in range(steps + 1)]
    return ([round(lon + dlon * math.cos(a), 6) for a in angles], [round(lat + dlat * math.sin(a), 6) for a in angles])


def _zoom(lat: float, radius_m: float) -> float:
    """The zoom at which the event's area (its diameter and a margin) fills about 900 pixels."""
    return round(max(3.0, min(17.0, math.log2(156_543.03 * math.cos(math.radians(lat)) * 900 / (2.4 * radius_m)))), 2)


def _points(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    return {"lon": [r["lon"] for r in rows], "lat": [r["lat"] for r in rows]}


def _alert_text(alert: dict[str, Any], lang: str) -> str:
    rule = (alert["rule"] or {}).get(lang) or alert["rule_id"]
    value = "" if alert["value"] is None else f" {round(alert['value'], 3)}"
    return f"{t('level.' + alert['level'])} {rule}{value}"


def _layers(data: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Each trace's positions and its look (text, colours), from the board's data."""
    sensors, lang = data["sensors"], current_lang()
    alerts = sorted(data["alerts"], key=lambda a: a["id"])  # a level change patches the look, not the positions
    return {
        PLACES: {**_points(data["key_places"]), "text": [p["name"] for p in data["key_places"]],
                 "color": [KEY_PLACE_COLOURS.get(p["kind"], "#ffffff") for p in data["key_places"]]},
        RESOURCES: {**_points(data["resources"]), "text": [f"{r['name']} ({r['status']})" for r in data["resources"]],
                    "color": [RESOURCE_COLOURS.get(r["status"], "#8e8e93") for r in data["resources"]]},
        CAMERAS: {**_points(data["cameras"]), "text": [c["name"] for c in data["cameras"]],
                  "color": [CAMERA_COLOURS.get(c["status"], CAMERA_COLOURS["offline"]) for c in data["cameras"]]},
        SENSORS: {**_points(sensors),
                  "text": [f"{s['name']} {'' if s['value'] is None else round(s['value'], 3)}{s['unit']}"
                           for s in sensors],
                  "color": [LEVEL_COLOURS.get(s["level"] or "", SENSOR_IDLE) for s in sensors]},
        INCIDENTS: {**_points(data["incidents"]), "text": [i["code"] for i in data["incidents"]],
                    "color": [INCIDENT_COLOURS[i["own"]] for i in data["incidents"]]},
        ALERTS: {**_points(alerts), "text": [_alert_text(a, lang) for a in alerts],
                 "color": [LEVEL_COLOURS[a["level"]] for a in alerts]},
    }


def _trace(layer: dict[str, Any], name: str, size: int, opacity: float = 1.0) -> go.Scattermap:
    return go.Scattermap(lon=layer["lon"], lat=layer["lat"], text=layer["text"], mode="markers", name=name,
                         marker={"size": size, "color": layer["color"], "opacity": opacity},
                         hovertemplate="%{text}<extra></extra>")


def map_figure(session: Any, event: dict[str, Any], layers: dict[int, dict[str, Any]]) -> go.Figure:
    """The event's area on the city's basemap with its key places, resources, cameras, sensors, incidents and
    firing alerts (a translucent halo over each alerting sensor, so the sensor's own dot stays visible)."""
    lon, lat = _circle(event["lon"], event["lat"], event["radius_m"])
    fig = go.Figure([
        go.Scattermap(lon=lon, lat=lat, mode="lines", fill="toself", name="area", hoverinfo="skip",
                      line={"color": "#ff9f0a", "width": 2}, fillcolor="rgba(255,159,10,0.08)"),
        _trace(layers[PLACES], t("layer.key_places"), 10),
        _trace(layers[RESOURCES], t("emergency.board.resources"), 11),
        _trace(layers[CAMERAS], t("layer.cameras"), 7),
        _trace(layers[SENSORS], t("layer.sensors"), 9),
        _trace(layers[INCIDENTS], t("layer.incidents"), 10),
        _trace(layers[ALERTS], t("layer.alerts"), 24, opacity=0.45),
    ])
    map_layers, _ = basemap_layers(static_layers(session).basemap, ("basemap", "boundaries"))
    fig.update_layout(template=None, map={"style": offline_style(BACKGROUND), "layers": map_layers,
                                          "center": {"lon": event["lon"], "lat": event["lat"]},
                                          "zoom": _zoom(event["lat"], event["radius_m"])},
                      margin={"l": 0, "r": 0, "t": 0, "b": 0}, paper_bgcolor=BACKGROUND, showlegend=False,
                      uirevision=f"event-{event['id']}")
    return fig


def map_update(session: Any, event: dict[str, Any], data: dict[str, Any], old: dict[str, str],
               new: dict[str, str]) -> go.Figure | Patch | Any:
    """The whole figure the first time, then a Patch of the traces whose positions or look changed."""
    layers = _layers(data)
    for index, layer in layers.items():
        new[f"pos{index}"] = _digest([layer["lon"], layer["lat"]])
        new[f"look{index}"] = _digest([layer["text"], layer["color"]])
    new["area"] = _digest([event["lon"], event["lat"], event["radius_m"]])
    if old.get("area") != new["area"]:
        return map_figure(session, event, layers)
    patch, changed = Patch(), False
    for index, layer in layers.items():
        if old.get(f"pos{index}") != new[f"pos{index}"]:
            patch["data"][index]["lon"], patch["data"][index]["lat"] = layer["lon"], layer["lat"]
            changed = True
        if old.get(f"look{index}") != new[f"look{index}"] or old.get(f"pos{index}") != new[f"pos{index}"]:
            patch["data"][index]["text"] = layer["text"]
            patch["data"][index]["marker"]["color"] = layer["color"]
            changed = True
    return patch if changed else no_update


def board_tick(event_id: int | None, digests: dict[str, str] | None) -> tuple[Any, ...]:
    """The outputs of one refresh: header, map, tasks, timeline, KPIs, duty, resources, cameras, sensors,
    digests."""
    if event_id is None:
        return (no_update,) * 10
    old = dict(digests or {})
    with uow() as session:
        try:
            data = emergency.board(session, signed_in(), event_id)
        except emergency.EmergencyError:
            return (t("emergency.board.not_found"), *(no_update,) * 9)
        event = data["event"]
        data["alerts"] = event_sensors.area_alerts(session, data["sensors"], exercise=event["exercise"])
        trends = event_sensors.sensor_trends(session, data["sensors"], event["lon"], event["lat"])
        lang = current_lang()
        plan = emergency.event_plan(session, emergency.get_event(session, event_id))
        plan_name = getattr(plan.name, lang) if plan is not None else None
        titles = _task_titles(plan, lang)
        names = emergency.department_names(session, lang)
        new: dict[str, str] = {"lang": lang}
        figure = map_update(session, event, data, old if old.get("lang") == lang else {}, new)
    now_iso = emergency.now_iso()
    tasks = [{**task, "title": titles.get((task["task"], task["level"]))} for task in event["tasks"]]
    sections = {
        "header": (event["code"], event["title"], event["level"], event["state"], event["plan_version"], plan_name),
        "tasks": (tasks, now_iso[:15]),  # late marks move on at most once a minute (of ten)
        "timeline": event["timeline"],
        "kpis": event["kpis"],
        "duty": data["duty"],
        "resources": data["resources"],
        "cameras": data["cameras"],
        "sensors": (trends, [(a["id"], a["level"]) for a in data["alerts"]]),
    }
    draw = {
        "header": lambda: view.header(event, plan_name),
        "tasks": lambda: view.task_board(tasks, names, now_iso),
        "timeline": lambda: view.timeline(event["timeline"]),
        "kpis": lambda: view.kpis(event["kpis"]),
        "duty": lambda: view.duty_list(data["duty"]),
        "resources": lambda: view.resources_list(data["resources"]),
        "cameras": lambda: view.cameras_list(data["cameras"]),
        "sensors": lambda: view.sensor_trends(trends, data["alerts"]),
    }
    out = []
    for name in SECTIONS:
        new[name] = _digest(sections[name])
        unchanged = old.get(name) == new[name] and old.get("lang") == lang
        out.append(no_update if unchanged else draw[name]())
    header, *panels = out
    return (header, figure, *panels, new)


def _task_titles(plan: Any, lang: str) -> dict[tuple[str, str], str]:
    if plan is None:
        return {}
    return {(task.key, level.level): getattr(task.title, lang) for level in plan.levels for task in level.tasks}


@callback(
    Output(ids.COMMAND_HEADER, "children"),
    Output(ids.COMMAND_MAP, "figure"),
    Output(ids.COMMAND_TASKS, "children"),
    Output(ids.COMMAND_TIMELINE, "children"),
    Output(ids.COMMAND_KPIS, "children"),
    Output(ids.COMMAND_DUTY, "children"),
    Output(ids.COMMAND_RESOURCES, "children"),
    Output(ids.COMMAND_CAMERAS, "children"),
    Output(ids.COMMAND_SENSORS, "children"),
    Output(ids.COMMAND_DIGESTS, "data"),
    Input(ids.COMMAND_TICK, "n_intervals"),
    State(ids.COMMAND_EVENT, "data"),
    State(ids.COMMAND_DIGESTS, "data"),
)
def refresh_board(_tick: int | None, event_id: int | None, digests: dict[str, str] | None) -> tuple[Any, ...]:
    """Draw the board at load, then refresh what changed every few seconds."""
    return board_tick(event_id, digests)


@callback(Output(ids.COMMAND_EVENTS, "children"), Input(ids.COMMAND_LIST_TICK, "n_intervals"))
def list_events(_tick: int | None) -> Any:
    """The events, newest first, each a link to its board."""
    with uow() as session:
        rows = emergency.list_events(session, signed_in())
        return view.events_list([emergency.event_to_dict(session, row, full=False) for row in rows])
