"""The city map figure, reusable by every page that shows the map (big screen now, console later).

Static layers go out once as float32 arrays; live layers (incidents, alerts, sensor alert levels, grid
metrics) are returned as small ``Patch`` operations only for the parts whose digest changed. Trace
positions are fixed (``GRIDS`` … ``HIGHLIGHT``) so patches and clicks can address them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from dash import Patch

from data.layers import (
    GRID_METRICS,
    KEY_PLACE_KINDS,
    LiveAlert,
    PointLayer,
    StaticLayers,
    grid_metrics,
    live_alerts,
    live_incidents,
    sensor_levels,
    static_layers,
)
from data.models import Incident
from geo.layers import offline_style
from i18n import t
from layouts.mapstyle import (
    BACKGROUND,
    BASEMAP_STYLES,
    CAMERA_COLOURS,
    CARD_COLOURS,
    DOORPLATE_COLOUR,
    FAMILY_COLOURS,
    GRID_LINE,
    GRID_SCALE,
    HIGHLIGHT_COLOUR,
    KEY_PLACE_COLOURS,
    LAYERS,
    LEVEL_COLOURS,
    OTHER_FAMILY_COLOUR,
)

#: Trace positions in the map figure; live traces are patched and clicks resolved by position.
GRIDS, DOORPLATES, CAMERAS, SENSORS, KEY_PLACES, INCIDENTS, ALERTS, HIGHLIGHT = range(8)
LAYER_TRACES = {"grids": [GRIDS], "doorplates": [DOORPLATES], "cameras": [CAMERAS], "sensors": [SENSORS],
                "key_places": [KEY_PLACES], "incidents": [INCIDENTS], "alerts": [ALERTS]}
POINT_ZOOM = 16.5
#: The live parts of the map, each patched only when its digest changes.
LIVE_PARTS = ("incidents", "alerts", "sensors", "grids")


def fit_zoom(bounds: tuple[float, float, float, float] | Iterable[float]) -> float:
    """A map zoom that shows ``bounds`` (lon/lat) whole in a panel about 1,000 px wide."""
    west, south, east, north = bounds
    lon_span = max(east - west, 1e-6)
    lat_span = max(north - south, 1e-6)
    return round(min(math.log2(360 / lon_span), math.log2(170 / lat_span)) + 1.3, 2)


def basemap_layers(basemap: dict[str, dict[str, Any]], visible: Iterable[str]) -> tuple[list[dict[str, Any]],
                                                                                         dict[str, list[int]]]:
    """The MapLibre line/fill layers of the offline basemap, and which of them each switcher layer owns."""
    shown = set(visible)
    layers: list[dict[str, Any]] = []
    owners: dict[str, list[int]] = {}
    for kind, kind_type, style, owner in BASEMAP_STYLES:
        if kind in basemap and basemap[kind]["features"]:
            owners.setdefault(owner, []).append(len(layers))
            layers.append({"source": basemap[kind], "sourcetype": "geojson", "type": kind_type, "below": "traces",
                           "visible": owner in shown, "name": kind, **style})
    return layers, owners


def layer_index(owners: dict[str, list[int]]) -> dict[str, dict[str, list[int]]]:
    """For each switcher layer: its trace positions and its basemap layer positions (for clientside toggles)."""
    return {key: {"traces": LAYER_TRACES.get(key, []), "layers": owners.get(key, [])} for key in LAYERS}


# --- live parts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveMap:
    """The live parts of the map as plain lists, ready to patch into the figure."""

    parts: dict[str, dict[str, Any]]

    def digests(self) -> dict[str, str]:
        return {name: hashlib.blake2b(json.dumps(part, sort_keys=True, default=str).encode(), digest_size=8)
                .hexdigest() for name, part in self.parts.items()}


def alert_arrays(alerts: list[LiveAlert]) -> dict[str, list[Any]]:
    return {
        "lon": [a.lon for a in alerts],
        "lat": [a.lat for a in alerts],
        "color": [LEVEL_COLOURS.get(a.level, "#fff") for a in alerts],
        "text": [f"{t('level.' + a.level)} · {a.sensor_name} · {a.value:g}" if a.value is not None
                 else a.sensor_name for a in alerts],
        "customdata": [a.id for a in alerts],
    }


def incident_arrays(incidents: list[Incident]) -> dict[str, list[Any]]:
    return {
        "lon": [i.lon for i in incidents],
        "lat": [i.lat for i in incidents],
        "color": [CARD_COLOURS.get(i.card, CARD_COLOURS["none"]) for i in incidents],
        "text": [f"{i.code} · {i.title} · {t('state.' + i.state)}" for i in incidents],
        "customdata": [i.id for i in incidents],
    }


def sensor_colours(layers: StaticLayers, levels: dict[str, str]) -> list[str]:
    """Each sensor's colour: its alert level's colour while an alert fires, else its family's colour."""
    families = [layers.sensor_families[i] for i in layers.sensors.value.tolist()]
    return [LEVEL_COLOURS.get(levels[sid], OTHER_FAMILY_COLOUR) if sid in levels
            else FAMILY_COLOURS.get(family, OTHER_FAMILY_COLOUR)
            for sid, family in zip(layers.sensor_ids, families, strict=True)]


def grid_values(layers: StaticLayers, metrics: dict[str, dict[int, int]], metric: str) -> list[int]:
    counts = metrics.get(metric if metric in GRID_METRICS else "open", {})
    return [counts.get(g, 0) for g in layers.grids.ids.tolist()]


def live_map(session: Any, layers: StaticLayers, metric: str, incidents: list[Any] | None = None) -> LiveMap:
    """The current live parts: open incidents (``incidents`` when the caller has read them already),
    firing alerts, sensor colours, grid metric values."""
    return LiveMap({
        "incidents": incident_arrays(live_incidents(session) if incidents is None else incidents),
        "alerts": alert_arrays(live_alerts(session)),
        "sensors": {"color": sensor_colours(layers, sensor_levels(session))},
        "grids": {"z": grid_values(layers, grid_metrics(session), metric)},
    })


def live_patch(live: LiveMap, parts: Iterable[str]) -> Patch:
    """A Patch writing only ``parts`` of the live map into the figure."""
    patch = Patch()
    for name in parts:
        part = live.parts[name]
        if name == "grids":
            patch["data"][GRIDS]["z"] = part["z"]
            patch["data"][GRIDS]["zmax"] = max(max(part["z"], default=0), 1)
        elif name == "sensors":
            patch["data"][SENSORS]["marker"]["color"] = part["color"]
        else:
            index = INCIDENTS if name == "incidents" else ALERTS
            for key in ("lon", "lat", "text", "customdata"):
                patch["data"][index][key] = part[key]
            patch["data"][index]["marker"]["color"] = part["color"]
    return patch


def fly_to(patch: Patch, *, lon: float, lat: float, zoom: float, token: str,
           highlight: bool = True) -> Patch:
    """Move the map to (lon, lat) at ``zoom`` and mark the place; ``token`` makes the move win over the
    user's own panning (uirevision)."""
    patch["layout"]["map"]["center"] = {"lon": lon, "lat": lat}
    patch["layout"]["map"]["zoom"] = zoom
    patch["layout"]["uirevision"] = token
    patch["data"][HIGHLIGHT]["lon"] = [lon] if highlight else []
    patch["data"][HIGHLIGHT]["lat"] = [lat] if highlight else []
    return patch


# --- the figure ------------------------------------------------------------------------------------


#: The dense point layers (doorplates, cameras: 156,000 points in the demo city) are never drawn whole.
#: Below this zoom each is drawn as cells: the points grouped in squares of about ``CELL_PX`` screen pixels
#: at the view's whole zoom level, one circle per cell at its points' centroid, sized by its count (a camera
#: cell coloured by its share online) — clicking one zooms in. From this zoom on every point inside the
#: view is drawn, clickable. The positions go to the browser once (``dense_payload``, the
#: ``BIGSCREEN_DENSE`` Store, with the cells of every level) and ``assets/map.js`` puts into the two traces
#: what the view needs. Plotly then never turns 156,000 points into GeoJSON, which was most of the time
#: from navigation to a drawn map (bench/RESULTS.md, "City map").
CLUSTER_MAXZOOM = 15
#: Cells are made for the zoom levels from this one (lower zooms use it) up to CLUSTER_MAXZOOM - 1.
MIN_CELL_LEVEL = 6
CELL_PX = 32
#: Marker sizes of the dense layers' points.
DOORPLATE_SIZE, CAMERA_SIZE = 4, 5


@dataclass(frozen=True)
class Cells:
    """Points grouped in square cells: each cell's centroid, count, marker size and share of points with
    ``flag`` (cameras online)."""

    lon: np.ndarray
    lat: np.ndarray
    count: np.ndarray
    size: np.ndarray
    share: np.ndarray


def cell_level(zoom: float) -> int:
    """The cell level drawn at map ``zoom`` (below CLUSTER_MAXZOOM)."""
    return int(min(max(math.floor(zoom), MIN_CELL_LEVEL), CLUSTER_MAXZOOM - 1))


def cells(lon: np.ndarray, lat: np.ndarray, level: int, flag: np.ndarray | None = None) -> Cells:
    """The points grouped in squares of about ``CELL_PX`` pixels at zoom ``level`` (MapLibre's 512-px
    world; the latitude side shortened by cos(latitude) so the cells are square on screen)."""
    if len(lon) == 0:
        empty = np.zeros(0, dtype=np.float32)
        return Cells(empty, empty, np.zeros(0, dtype=np.uint32), empty, empty)
    lon64, lat64 = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    size_x = CELL_PX * 360 / (512 * 2**level)
    size_y = size_x * math.cos(math.radians(float(np.median(lat64))))
    keys = np.floor(lon64 / size_x).astype(np.int64) * (1 << 32) + np.floor(lat64 / size_y).astype(np.int64)
    _, cell = np.unique(keys, return_inverse=True)
    count = np.bincount(cell)
    share = (np.bincount(cell, weights=np.asarray(flag, dtype=np.float64)) / count if flag is not None
             else np.ones(len(count)))
    return Cells(
        lon=(np.bincount(cell, weights=lon64) / count).astype(np.float32),
        lat=(np.bincount(cell, weights=lat64) / count).astype(np.float32),
        count=count.astype(np.uint32),
        size=np.minimum(30, 7 + 2.2 * np.log2(count)).astype(np.float32),
        share=share.astype(np.float32),
    )


def _typed(array: np.ndarray, dtype: str) -> dict[str, str]:
    """A numpy array as Plotly's typed-array JSON (``{"dtype", "bdata"}``: little-endian, base64)."""
    return {"dtype": dtype, "bdata": base64.b64encode(np.ascontiguousarray(array, dtype="<" + dtype).tobytes())
            .decode("ascii")}


def _dense_layers(layers: StaticLayers) -> dict[str, tuple[PointLayer, np.ndarray | None]]:
    return {"doorplates": (layers.doorplates, None), "cameras": (layers.cameras, layers.cameras.value)}


@dataclass(frozen=True)
class _Dense:
    """What is built once per static-layers object for the dense layers: the cells of every (kind, level)
    and the browser's payload made from them."""

    layers: StaticLayers
    cells: dict[tuple[str, int], Cells]
    payload: dict[str, Any]


#: id(layers) → the dense layers built for that static-layers object (kept alive with it).
_dense_cache: dict[int, _Dense] = {}


def _build_dense(layers: StaticLayers) -> _Dense:
    grouped: dict[tuple[str, int], Cells] = {}
    payload: dict[str, Any] = {
        "version": list(layers.version),
        "cluster_maxzoom": CLUSTER_MAXZOOM,
        "min_cell_level": MIN_CELL_LEVEL,
        "traces": {"doorplates": DOORPLATES, "cameras": CAMERAS},
        "point_size": {"doorplates": DOORPLATE_SIZE, "cameras": CAMERA_SIZE},
    }
    for kind, (layer, flag) in _dense_layers(layers).items():
        payload[kind] = {"lon": _typed(layer.lon, "f4"), "lat": _typed(layer.lat, "f4"),
                         **({"online": _typed(flag, "u1")} if flag is not None else {}), "cells": {}}
        for level in range(MIN_CELL_LEVEL, CLUSTER_MAXZOOM):
            c = grouped[kind, level] = cells(layer.lon, layer.lat, level, flag)
            payload[kind]["cells"][str(level)] = {"lon": _typed(c.lon, "f4"), "lat": _typed(c.lat, "f4"),
                                                  "count": _typed(c.count, "u4"), "size": _typed(c.size, "f4"),
                                                  "share": _typed(c.share, "f4")}
    return _Dense(layers, grouped, payload)


def _dense(layers: StaticLayers) -> _Dense:
    cached = _dense_cache.get(id(layers))
    if cached is None or cached.layers is not layers:
        if len(_dense_cache) >= 4:
            _dense_cache.pop(next(iter(_dense_cache)))
        cached = _dense_cache[id(layers)] = _build_dense(layers)
    return cached


def dense_payload(layers: StaticLayers) -> dict[str, Any]:
    """The dense layers for the browser, built once per data version: doorplate and camera positions as
    float32 arrays, each camera's online flag (uint8), in the order of ``layers`` (so a point's index is
    its position in ``layers.doorplates`` / ``layers.cameras``), and their cells at every level."""
    return _dense(layers).payload


def _cells_trace(c: Cells, level: int, name: str, visible: bool, *, flagged: bool, **marker: Any) -> go.Scattermap:
    """A dense layer drawn as its cells ``c`` at ``level`` (what map.js draws at that level, so the first
    view needs no second draw); ``flagged``: coloured by the cells' share (cameras online)."""
    if flagged:
        marker["color"] = c.share
    return go.Scattermap(lon=c.lon, lat=c.lat, mode="markers", marker={**marker, "size": c.size},
                         customdata=np.full(len(c.count), -1, dtype=np.int32), text=c.count.astype(str).tolist(),
                         hoverinfo="text+name", name=name, visible=visible,
                         meta={"mode": "cells", "level": level, "count": int(c.count.sum())})


def _points_trace(lon: np.ndarray, lat: np.ndarray, name: str, visible: bool, **marker: Any) -> go.Scattermap:
    # hoverinfo "none": no hover label, but clicks still report the point (``skip`` would drop them)
    return go.Scattermap(lon=lon, lat=lat, mode="markers", marker=marker, hoverinfo="none", name=name,
                         visible=visible)


def build_map_figure(session: Any, *, visible: Iterable[str] = LAYERS, metric: str = "open",
                     ) -> tuple[go.Figure, tuple[int, ...], dict[str, str]]:
    """The whole map (static layers as float32 arrays + the current live parts), its data version, and
    the digests of its live parts."""
    layers = static_layers(session)
    shown = set(visible)
    live = live_map(session, layers, metric)
    parts = live.parts
    kinds = len(KEY_PLACE_KINDS)
    place_scale = [[i / kinds, KEY_PLACE_COLOURS[k]] for i, k in enumerate(KEY_PLACE_KINDS)] + [[1.0, "#ffffff"]]
    grid_z = parts["grids"]["z"]
    zoom = fit_zoom(layers.bounds)
    level = cell_level(zoom)
    dense = _dense(layers)  # built once per data version, with the browser's payload
    fig = go.Figure([
        go.Choroplethmap(geojson=layers.grids.geojson, locations=list(layers.grids.codes), z=grid_z,
                         zmin=0, zmax=max(max(grid_z, default=0), 1), colorscale=GRID_SCALE, showscale=False,
                         marker={"line": {"color": GRID_LINE, "width": 0.6}},
                         hovertemplate="%{location}: %{z}<extra></extra>", name=t("layer.grids"),
                         visible="grids" in shown),
        # cells at the first view's level; then what the view needs, from the dense payload (CLUSTER_MAXZOOM)
        _cells_trace(dense.cells["doorplates", level], level, t("layer.doorplates"), "doorplates" in shown,
                     flagged=False,
                     color=DOORPLATE_COLOUR, opacity=0.7),
        _cells_trace(dense.cells["cameras", level], level, t("layer.cameras"), "cameras" in shown, flagged=True,
                     cmin=0, cmax=1, colorscale=[[0, CAMERA_COLOURS["offline"]], [1, CAMERA_COLOURS["online"]]]),
        _points_trace(layers.sensors.lon, layers.sensors.lat, t("layer.sensors"), "sensors" in shown,
                      size=7, color=parts["sensors"]["color"]),
        _points_trace(layers.key_places.lon, layers.key_places.lat, t("layer.key_places"), "key_places" in shown,
                      size=9, color=layers.key_places.value, cmin=0, cmax=kinds, colorscale=place_scale),
        go.Scattermap(mode="markers", marker={"size": 11, "color": parts["incidents"]["color"]},
                      **{k: parts["incidents"][k] for k in ("lon", "lat", "text", "customdata")},
                      hoverinfo="text", name=t("layer.incidents"), visible="incidents" in shown),
        go.Scattermap(mode="markers", marker={"size": 18, "color": parts["alerts"]["color"], "opacity": 0.9},
                      **{k: parts["alerts"][k] for k in ("lon", "lat", "text", "customdata")},
                      hoverinfo="text", name=t("layer.alerts"), visible="alerts" in shown),
        go.Scattermap(lon=[], lat=[], mode="markers", marker={"size": 30, "color": HIGHLIGHT_COLOUR},
                      hoverinfo="skip", name="highlight"),
    ])
    map_layers, owners = basemap_layers(layers.basemap, shown)
    fig.update_layout(
        template=None,
        map={"style": offline_style(BACKGROUND), "center": {"lon": layers.center[0], "lat": layers.center[1]},
             "zoom": zoom, "layers": map_layers},
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor=BACKGROUND,
        showlegend=False,
        hovermode="closest",
        uirevision="city",
        meta={"layers": layer_index(owners)},
    )
    return fig, layers.version, live.digests()


def click_target(layers: StaticLayers, point: dict[str, Any]) -> tuple[str, Any] | None:
    """What a click on the map hit: ``(kind, id)`` from a Plotly clickData point, or None."""
    curve = point.get("curveNumber")
    index = point.get("pointNumber", point.get("pointIndex"))
    if curve == GRIDS:
        code = point.get("location")
        return ("grid", int(layers.grids.ids[layers.grids.codes.index(code)])) if code in layers.grids.codes else None
    if curve in (INCIDENTS, ALERTS):
        custom = point.get("customdata")
        custom = custom[0] if isinstance(custom, list) and custom else custom
        return None if custom is None else ("incident" if curve == INCIDENTS else "alert", int(custom))
    if curve in (DOORPLATES, CAMERAS):  # the traces hold a part: customdata is the point's index, -1 a cell
        custom = point.get("customdata")
        index = custom[0] if isinstance(custom, list) and custom else custom
        if isinstance(index, int) and index < 0:
            return "cell", None
    arrays = {DOORPLATES: ("doorplate", layers.doorplates.ids), CAMERAS: ("camera", layers.cameras.ids),
              KEY_PLACES: ("key_place", layers.key_places.ids), SENSORS: ("sensor", np.asarray(layers.sensor_ids))}
    if curve not in arrays or not isinstance(index, int):
        return None
    kind, ids = arrays[curve]
    if not 0 <= index < len(ids):
        return None
    ident = ids[index]
    return kind, str(ident) if kind == "sensor" else int(ident)

