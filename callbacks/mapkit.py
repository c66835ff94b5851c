"""The city map figure, reusable by every page that shows the map (big screen now, console later).

Static layers go out once as float32 arrays; the live colours (sensor alert levels, grid metrics) are
returned as small ``Patch`` operations only for the parts whose digest changed. The live layers — every
open incident and every firing alert, however many — go to a Store once and then as deltas (``live_store``);
``assets/map.js`` draws them for the view: cells with counts below ``CLUSTER_MAXZOOM``, points from it. Trace
positions are fixed (``GRIDS`` … ``HIGHLIGHT``) so patches and clicks can address them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from dash import Patch, no_update
from flask import current_app, has_request_context
from sqlalchemy import ColumnElement

from callbacks.basemap import basemap_style
from callbacks.pagekit import signed_in
from data.layers import (
    GRID_METRICS,
    KEY_PLACE_KINDS,
    MAP_OPEN_STATES,
    PointLayer,
    StaticLayers,
    grid_metrics,
    live_alerts,
    map_incident_rows,
    sensor_levels,
    static_layers,
)
from dispatch.service import visible_to
from domain.states import ALERT_LEVELS
from geo.layers import offline_style
from i18n import current_lang, t
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
    TILES_REPLACE,
    tiled_style,
)

#: Trace positions in the map figure; live traces are patched and clicks resolved by position.
GRIDS, DOORPLATES, CAMERAS, SENSORS, KEY_PLACES, INCIDENTS, ALERTS, HIGHLIGHT = range(8)
LAYER_TRACES = {"grids": [GRIDS], "doorplates": [DOORPLATES], "cameras": [CAMERAS], "sensors": [SENSORS],
                "key_places": [KEY_PLACES], "incidents": [INCIDENTS], "alerts": [ALERTS]}
POINT_ZOOM = 16.5
#: The live colours of the map, each patched only when its digest changes (the live layers go through
#: ``live_store``).
LIVE_PARTS = ("sensors", "grids")


def fit_zoom(bounds: tuple[float, float, float, float] | Iterable[float]) -> float:
    """A map zoom that shows ``bounds`` (lon/lat) whole in a panel about 1,000 px wide."""
    west, south, east, north = bounds
    lon_span = max(east - west, 1e-6)
    lat_span = max(north - south, 1e-6)
    return round(min(math.log2(360 / lon_span), math.log2(170 / lat_span)) + 1.3, 2)


def basemap_layers(basemap: dict[str, dict[str, Any]], visible: Iterable[str], skip: Iterable[str] = (),
                   ) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """The MapLibre line/fill layers of the offline basemap but the kinds in ``skip``, and which of them each
    switcher layer owns."""
    shown = set(visible)
    layers: list[dict[str, Any]] = []
    owners: dict[str, list[int]] = {}
    for kind, kind_type, style, owner in BASEMAP_STYLES:
        if kind in basemap and basemap[kind]["features"] and kind not in skip:
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


def sensor_colours(layers: StaticLayers, levels: dict[str, str]) -> list[str]:
    """Each sensor's colour: its alert level's colour while an alert fires, else its family's colour."""
    families = [layers.sensor_families[i] for i in layers.sensors.value.tolist()]
    return [LEVEL_COLOURS.get(levels[sid], OTHER_FAMILY_COLOUR) if sid in levels
            else FAMILY_COLOURS.get(family, OTHER_FAMILY_COLOUR)
            for sid, family in zip(layers.sensor_ids, families, strict=True)]


def grid_values(layers: StaticLayers, metrics: dict[str, dict[int, int]], metric: str) -> list[int]:
    counts = metrics.get(metric if metric in GRID_METRICS else "open", {})
    return [counts.get(g, 0) for g in layers.grids.ids.tolist()]


def live_map(session: Any, layers: StaticLayers, metric: str) -> LiveMap:
    """The current live colours: sensor colours, grid metric values."""
    return LiveMap({
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
        else:
            patch["data"][SENSORS]["marker"]["color"] = part["color"]
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
    """Points grouped in square cells: each cell's centroid, count, marker size, share of points with
    ``flag`` (cameras online) and highest ``rank`` of its points (the worst card or alert level)."""

    lon: np.ndarray
    lat: np.ndarray
    count: np.ndarray
    size: np.ndarray
    share: np.ndarray
    worst: np.ndarray


def cell_level(zoom: float) -> int:
    """The cell level drawn at map ``zoom`` (below CLUSTER_MAXZOOM)."""
    return int(min(max(math.floor(zoom), MIN_CELL_LEVEL), CLUSTER_MAXZOOM - 1))


def cells(lon: np.ndarray, lat: np.ndarray, level: int, flag: np.ndarray | None = None, *,
          rank: np.ndarray | None = None, ref_lat: float | None = None, base_size: float = 7) -> Cells:
    """The points grouped in squares of about ``CELL_PX`` pixels at zoom ``level`` (MapLibre's 512-px
    world; the latitude side shortened by cos(``ref_lat``, default the points' median latitude) so the cells
    are square on screen). A cell of one point is ``base_size`` px wide, bigger ones grow with log2(count)."""
    if len(lon) == 0:
        empty = np.zeros(0, dtype=np.float32)
        return Cells(empty, empty, np.zeros(0, dtype=np.uint32), empty, empty, np.zeros(0, dtype=np.uint8))
    lon64, lat64 = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    size_x = CELL_PX * 360 / (512 * 2**level)
    size_y = size_x * math.cos(math.radians(float(np.median(lat64)) if ref_lat is None else ref_lat))
    keys = np.floor(lon64 / size_x).astype(np.int64) * (1 << 32) + np.floor(lat64 / size_y).astype(np.int64)
    _, cell = np.unique(keys, return_inverse=True)
    count = np.bincount(cell)
    share = (np.bincount(cell, weights=np.asarray(flag, dtype=np.float64)) / count if flag is not None
             else np.ones(len(count)))
    worst = np.zeros(len(count), dtype=np.uint8)
    if rank is not None:
        np.maximum.at(worst, cell, np.asarray(rank, dtype=np.uint8))
    return Cells(
        lon=(np.bincount(cell, weights=lon64) / count).astype(np.float32),
        lat=(np.bincount(cell, weights=lat64) / count).astype(np.float32),
        count=count.astype(np.uint32),
        size=np.minimum(30, base_size + 2.2 * np.log2(count)).astype(np.float32),
        share=share.astype(np.float32),
        worst=worst,
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


# --- the live layers: every open incident and firing alert -----------------------------------------


#: The live layers and their trace positions. Like the dense layers they are drawn for the view by
#: ``assets/map.js`` (cells with counts below CLUSTER_MAXZOOM, points from it), from a Store that holds every
#: point: sent whole once, then only what changed (``live_store``), so a busy day costs no more on the wire
#: than the incidents that arrive — and none is left out.
LIVE_LAYERS = {"incidents": INCIDENTS, "alerts": ALERTS}
#: Marker sizes of single live points (a cell grows from it with its count).
LIVE_POINT_SIZE = {"incidents": 11, "alerts": 16}
#: Colour ranks, the least severe first: a point's rank picks its colour, a cell takes its worst point's.
CARD_RANKS = ("none", "yellow", "red")
LEVEL_RANKS = ALERT_LEVELS
LIVE_COLOURS = {"incidents": [CARD_COLOURS[c] for c in CARD_RANKS],
                "alerts": [LEVEL_COLOURS[level] for level in LEVEL_RANKS]}
#: Live positions are rounded to 5 decimals (≈ 1 m) before anything is built from them, so the server's
#: cells and the browser's are made from the same numbers.
LIVE_DECIMALS = 5
#: How many recent live snapshots the server remembers (per process) to answer a browser with a delta. A
#: web worker that has not seen the browser's snapshot sends everything once; digests are the same in every
#: worker, so an unchanged map costs nothing on any of them.
HELD_SNAPSHOTS = 64


@dataclass(frozen=True)
class LivePoints:
    """One live layer: its points by ascending id, each with a colour rank, a hover text and a tag (an index
    into the layer's tag labels that the browser appends to the text — an incident's state; -1: none). The
    labels travel once, not in every row: 200 new incidents fit the 5-s refresh's 20 kB."""

    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    rank: np.ndarray
    text: tuple[str, ...]
    tag: np.ndarray

    @classmethod
    def of(cls, ids: Sequence[int], lon: Sequence[float], lat: Sequence[float], rank: Sequence[int],
           text: Sequence[str], tag: Sequence[int]) -> LivePoints:
        """From columns (in any order of ids)."""
        order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
        texts = tuple(text)
        return cls(np.asarray(ids, dtype=np.int64)[order],
                   np.round(np.asarray(lon, dtype=np.float64), LIVE_DECIMALS)[order],
                   np.round(np.asarray(lat, dtype=np.float64), LIVE_DECIMALS)[order],
                   np.asarray(rank, dtype=np.uint8)[order], tuple(texts[i] for i in order.tolist()),
                   np.asarray(tag, dtype=np.int8)[order])

    def rows(self, positions: Iterable[int] | None = None) -> dict[str, list[Any]]:
        """The Store's form: id → ``[lon, lat, rank, text]``, with the tag after them when it has one (all
        points, or those at ``positions``)."""
        lon, lat, rank, tag = self.lon.tolist(), self.lat.tolist(), self.rank.tolist(), self.tag.tolist()
        ids = self.ids.tolist()
        wanted = range(len(ids)) if positions is None else positions
        return {str(ids[i]): [lon[i], lat[i], rank[i], self.text[i], *([tag[i]] if tag[i] >= 0 else [])]
                for i in wanted}

    def hashes(self) -> np.ndarray:
        """One hash per point of everything the browser draws of it (position, colour, text, tag): the
        text's CRC-32 mixed with the other columns, vectorised (thousands of points every 5 s). The same in
        every process (unlike ``hash(str)``), so the web workers of one server agree on a digest."""
        mixed = np.fromiter((zlib.crc32(text.encode()) for text in self.text), dtype=np.uint64,
                            count=len(self.text))
        for column, prime in ((self.lon, 0x9E3779B97F4A7C15), (self.lat, 0xC2B2AE3D27D4EB4F),
                              (self.rank.astype(np.uint64), 0x165667B19E3779F9),
                              (self.tag.astype(np.int64).view(np.uint64), 0x27D4EB2F165667C5)):
            bits = column.view(np.uint64) if column.dtype == np.float64 else column
            mixed = (mixed ^ bits) * np.uint64(prime)  # wraps around: a 64-bit mix, not arithmetic
        return mixed.view(np.int64)


def live_points(session: Any, visible: ColumnElement[bool] | None) -> dict[str, LivePoints]:
    """Every open incident (of those ``visible`` to the reader: ``dispatch.service.visible_to``) and every
    firing alert, as the map draws them."""
    rows = map_incident_rows(session, visible)
    ids, codes, titles, states, cards, lon, lat = zip(*rows, strict=True) if rows else ((),) * 7
    state_tag = {state: i for i, state in enumerate(MAP_OPEN_STATES)}
    card_rank = {card: i for i, card in enumerate(CARD_RANKS)}
    incidents = LivePoints.of(ids, lon, lat, [card_rank.get(c, 0) for c in cards],
                              [f"{c} · {title}" for c, title in zip(codes, titles, strict=True)],
                              [state_tag.get(state, -1) for state in states])
    alerts = live_alerts(session)
    level_rank = {level: i for i, level in enumerate(LEVEL_RANKS)}
    alert_points = LivePoints.of(
        [a.id for a in alerts], [a.lon for a in alerts], [a.lat for a in alerts],
        [level_rank.get(a.level, 0) for a in alerts],
        [f"{t('level.' + a.level)} · {a.sensor_name} · {a.value:g}" if a.value is not None else a.sensor_name
         for a in alerts],
        [-1] * len(alerts))
    return {"incidents": incidents, "alerts": alert_points}


def live_tags() -> dict[str, list[str]]:
    """The labels of the live points' tags, per layer: an incident's state in the reader's language."""
    return {"incidents": [t(f"state.{state}") for state in MAP_OPEN_STATES], "alerts": []}


def reader() -> Any:
    """The signed-in user of this request; None outside a request of an app with sign-in (scripts and
    benches, which read as the system and see every incident)."""
    if not has_request_context() or not hasattr(current_app, "login_manager"):
        return None
    return signed_in()


def reader_visible(user: Any) -> ColumnElement[bool] | None:
    """The incidents ``user`` may see on the map (``dispatch.service.visible_to``); None (all) for the system."""
    return None if user is None else visible_to(user)


def reader_scope(user: Any) -> tuple[Any, ...]:
    """What decides which incidents ``user`` sees on the live map (``visible_to``), and the language."""
    role = getattr(user, "role", None)
    return (role, getattr(user, "department_id", None), getattr(user, "grid_id", None),
            getattr(user, "id", None) if role == "worker" else None, current_lang(),
            getattr(user, "area_code", None))  # a command tier (issue 17) sees its area only


def live_cells(points: LivePoints, layer: str, level: int, ref_lat: float) -> Cells:
    """A live layer's cells at ``level``, as ``assets/map.js`` builds them (``ref_lat``: the city's)."""
    return cells(points.lon, points.lat, level, rank=points.rank, ref_lat=ref_lat, base_size=LIVE_POINT_SIZE[layer])


def live_totals_text(counts: dict[str, Any]) -> str:
    """The badge over the map: how many open incidents and firing alerts it shows (``counts`` may hold
    placeholders: the browser fills in its own)."""
    return t("map.live.totals", incidents=counts["incidents"], alerts=counts["alerts"])


@dataclass(frozen=True)
class _Snapshot:
    """What a browser holds of the live layers, remembered by its digest: per layer, ids and point hashes."""

    scope: tuple[Any, ...]
    ids: dict[str, np.ndarray]
    hashes: dict[str, np.ndarray]


_snapshots: OrderedDict[str, _Snapshot] = OrderedDict()
_snapshots_lock = threading.Lock()  # the web server answers screens from several threads


def _remember(points: dict[str, LivePoints], scope: tuple[Any, ...]) -> tuple[str, _Snapshot]:
    snapshot = _Snapshot(scope, {k: p.ids for k, p in points.items()}, {k: p.hashes() for k, p in points.items()})
    digest = hashlib.blake2b(repr(scope).encode(), digest_size=8)
    for layer in LIVE_LAYERS:
        digest.update(layer.encode() + snapshot.ids[layer].tobytes() + b"|" + snapshot.hashes[layer].tobytes())
    key = digest.hexdigest()
    with _snapshots_lock:
        _snapshots[key] = snapshot
        _snapshots.move_to_end(key)
        while len(_snapshots) > HELD_SNAPSHOTS:
            _snapshots.popitem(last=False)
    return key, snapshot


def live_store(points: dict[str, LivePoints], *, ref_lat: float, scope: tuple[Any, ...],
               held: str | None) -> tuple[Any, str]:
    """What to write into the live Store, and the digest of what it then holds.

    The browser holding ``held`` (a digest this process remembers, for the same ``scope``) gets a ``Patch``
    of the points added, changed and gone — ``no_update`` when nothing changed; any other browser gets every
    point. A busy day's refresh therefore costs what arrived, never the thousands already on the map."""
    digest, now = _remember(points, scope)
    if held == digest:
        return no_update, digest
    with _snapshots_lock:
        before = _snapshots.get(held) if held else None
    if before is None or before.scope != scope:
        return {
            "cluster_maxzoom": CLUSTER_MAXZOOM, "min_cell_level": MIN_CELL_LEVEL, "cell_px": CELL_PX,
            "ref_lat": ref_lat, "traces": LIVE_LAYERS, "colours": LIVE_COLOURS, "point_size": LIVE_POINT_SIZE,
            "tags": live_tags(),
            "totals": live_totals_text({"incidents": "{incidents}", "alerts": "{alerts}"}),
            "layers": {layer: points[layer].rows() for layer in LIVE_LAYERS},
        }, digest
    patch = Patch()
    for layer in LIVE_LAYERS:
        old_ids, old_hashes = before.ids[layer], before.hashes[layer]
        new_ids, new_hashes = now.ids[layer], now.hashes[layer]
        same = np.zeros(len(new_ids), dtype=bool)
        if len(old_ids):  # a point is unchanged when the browser holds its id with the same hash
            at = np.minimum(np.searchsorted(old_ids, new_ids), len(old_ids) - 1)
            same = (old_ids[at] == new_ids) & (old_hashes[at] == new_hashes)
        changed = np.flatnonzero(~same)
        if changed.size:
            patch["layers"][layer].update(points[layer].rows(changed.tolist()))
        for gone in old_ids[~np.isin(old_ids, new_ids)].tolist():
            del patch["layers"][layer][str(gone)]
    return patch, digest


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


def _live_trace(points: LivePoints, layer: str, level: int, ref_lat: float, visible: bool) -> go.Scattermap:
    """A live layer drawn as its cells at ``level`` (what map.js draws at that level, until the live Store
    arrives); a cell's customdata is -1, its colour its worst point's, its text its count."""
    c = live_cells(points, layer, level, ref_lat)
    colours = LIVE_COLOURS[layer]
    return go.Scattermap(lon=c.lon, lat=c.lat, mode="markers",
                         marker={"size": c.size, "color": [colours[w] for w in c.worst.tolist()], "opacity": 0.9},
                         customdata=np.full(len(c.count), -1, dtype=np.int32), text=c.count.astype(str).tolist(),
                         hoverinfo="text+name", name=t(f"layer.{layer}"), visible=visible,
                         meta={"mode": "cells", "level": level, "count": int(c.count.sum())})


def _totals_badge(points: dict[str, LivePoints]) -> dict[str, Any]:
    """The badge over the map's lower left corner with the live layers' totals (map.js keeps it current)."""
    return {"text": live_totals_text({k: len(p.ids) for k, p in points.items()}), "name": "live-totals",
            "xref": "paper", "yref": "paper", "x": 0.01, "y": 0.01, "xanchor": "left", "yanchor": "bottom",
            "showarrow": False, "align": "left", "font": {"color": "#e6f1ff", "size": 14},
            "bgcolor": "rgba(7,19,31,0.8)", "bordercolor": "#3fb8ff", "borderwidth": 1, "borderpad": 5}


def build_map_figure(session: Any, *, visible: Iterable[str] = LAYERS, metric: str = "open", viewer: Any = None,
                     ) -> tuple[go.Figure, tuple[int, ...], dict[str, str]]:
    """The whole map (static layers as float32 arrays + the current live parts; the incidents ``viewer``,
    default the signed-in user, may see), its data version, and the digests of its live colours."""
    layers = static_layers(session)
    shown = set(visible)
    live = live_map(session, layers, metric)
    parts = live.parts
    points = live_points(session, reader_visible(reader() if viewer is None else viewer))
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
        # cells at the first view's level; then what the view needs, from the live Store (``live_store``)
        *(_live_trace(points[layer], layer, level, layers.center[1], layer in shown) for layer in LIVE_LAYERS),
        go.Scattermap(lon=[], lat=[], mode="markers", marker={"size": 30, "color": HIGHLIGHT_COLOUR},
                      hoverinfo="skip", name="highlight"),
    ])
    tiles = basemap_style()  # the city's own basemap (issue 16), when one is imported
    map_layers, owners = basemap_layers(layers.basemap, shown, TILES_REPLACE if tiles else ())
    fig.update_layout(
        template=None,
        map={"style": tiled_style(tiles) if tiles else offline_style(BACKGROUND),
             "center": {"lon": layers.center[0], "lat": layers.center[1]},
             "zoom": zoom, "layers": map_layers},
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor=BACKGROUND,
        showlegend=False,
        hovermode="closest",
        uirevision="city",
        annotations=[_totals_badge(points)],
        meta={"layers": layer_index(owners)},
    )
    if tiles:  # the points over the basemap's roads and labels (Plotly would put them under a style's water)
        fig.update_traces(below="", selector={"type": "scattermap"})
    return fig, layers.version, live.digests()


def click_target(layers: StaticLayers, point: dict[str, Any]) -> tuple[str, Any] | None:
    """What a click on the map hit: ``(kind, id)`` from a Plotly clickData point, or None."""
    curve = point.get("curveNumber")
    index = point.get("pointNumber", point.get("pointIndex"))
    if curve == GRIDS:
        code = point.get("location")
        return ("grid", int(layers.grids.ids[layers.grids.codes.index(code)])) if code in layers.grids.codes else None
    if curve in (INCIDENTS, ALERTS):  # customdata is the incident's or alert's id, -1 a cell of them
        custom = point.get("customdata")
        custom = custom[0] if isinstance(custom, list) and custom else custom
        if not isinstance(custom, int | float):
            return None
        return ("cell", None) if custom < 0 else ("incident" if curve == INCIDENTS else "alert", int(custom))
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

