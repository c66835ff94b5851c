"""Map layer data read from the database: static layers (as numpy arrays and GeoJSON, cached per data
version), the live layers that change between refreshes (open incidents, active alerts, sensor alert
levels, grid metrics), the area hierarchy for drill-down, and GeoJSON features for the layers API."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import shapely
from sqlalchemy import ColumnElement, Row, bindparam, case, column, func, select, table
from sqlalchemy.orm import Session, load_only

from data import spatial
from data.db import database_key
from data.models import (
    MAP_OPEN_STATES,
    Alert,
    Area,
    AreaLevel,
    BasemapFeature,
    Camera,
    Doorplate,
    Grid,
    Incident,
    KeyPlace,
    Sensor,
    User,
    VideoPlatform,
    utcnow,
)
from domain.states import ALERT_LEVELS_DESC
from geo.layers import features_to_geojson, polygons_to_geojson

# MAP_OPEN_STATES (from ``data.models``, beside the partial indexes of migration 0030 that hold them).
# On the map: every incident not yet finished (``domain.states.UNFINISHED_STATES``) — the open states
# (filed, not closed: ``OPEN_STATES``) plus ``reported``, because a citizen report waiting for intake is a
# problem in the street too; ``reported`` first, then the open states in a fixed order. The KPIs' ``open``
# (在办数) counts filed incidents only.
#: Alert levels from the most to the least severe (DESIGN §5).
LEVELS = ALERT_LEVELS_DESC
#: The colour metrics of the grid layer: open incidents, carded (red or yellow) open incidents, and
#: the workload = incidents reported in the grid over the last WORKLOAD_DAYS days.
GRID_METRICS = ("open", "cards", "workload")
WORKLOAD_DAYS = 30
KEY_PLACE_KINDS = ("risk_source", "key_place", "key_project")


@dataclass(frozen=True)
class PointLayer:
    """Points as float32 lon/lat arrays with an integer value per point (id, status, class)."""

    lon: np.ndarray
    lat: np.ndarray
    ids: np.ndarray
    value: np.ndarray


@dataclass(frozen=True)
class AreaNode:
    """One administrative area (city, district, street, community) for drill-down."""

    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    bounds: tuple[float, float, float, float]


@dataclass(frozen=True)
class GridLayer:
    """The unit grids in a fixed order: ids, codes, names, communities, bounds and polygon GeoJSON
    (each feature's ``id`` is the grid code)."""

    ids: np.ndarray
    codes: tuple[str, ...]
    names: tuple[str, ...]
    community_ids: np.ndarray
    bounds: np.ndarray
    geojson: dict[str, Any]


@dataclass(frozen=True)
class StaticLayers:
    """Every layer that changes only when data is imported: built once per data version."""

    version: tuple[int, ...]
    doorplates: PointLayer
    cameras: PointLayer
    sensors: PointLayer
    sensor_families: tuple[str, ...]
    sensor_ids: tuple[str, ...]
    key_places: PointLayer
    grids: GridLayer
    areas: tuple[AreaNode, ...]
    basemap: dict[str, dict[str, Any]]
    center: tuple[float, float]
    bounds: tuple[float, float, float, float]

    def area(self, area_id: int) -> AreaNode | None:
        return next((a for a in self.areas if a.id == area_id), None)

    def children(self, parent_id: int | None, level: str) -> list[AreaNode]:
        return [a for a in self.areas if a.parent_id == parent_id and a.level == level]

    def grid_positions_in(self, area_id: int) -> np.ndarray:
        """Positions (in ``grids``) of the unit grids inside an area, at any level."""
        wanted = {area_id}
        for level in (AreaLevel.DISTRICT, AreaLevel.STREET, AreaLevel.COMMUNITY):
            wanted |= {a.id for a in self.areas if a.level == level and a.parent_id in wanted}
        return np.flatnonzero(np.isin(self.grids.community_ids, list(wanted)))


def data_version(session: Session) -> tuple[int, ...]:
    """A cheap fingerprint of the static data: counts and highest ids of each static table."""
    version: list[int] = []
    for model in (Doorplate, Camera, Sensor, Grid, Area, BasemapFeature, KeyPlace):
        count, top = session.execute(select(func.count(), func.max(model.id))).one()
        version += [int(count), 0 if top is None or isinstance(top, str) else int(top)]
    # camera health (issue 19) changes cameras' status: the map's camera colours follow the latest change
    changed = session.scalar(select(func.max(Camera.status_changed_at)))
    version.append(0 if changed is None else int(changed.timestamp() * 1_000_000))
    return tuple(version)


T = TypeVar("T")
_cache: dict[tuple[str, tuple[int, ...]], StaticLayers] = {}
_this_minute: dict[Any, Any] = {}


def per_minute(session: Session, key: tuple[Any, ...], now: datetime, compute: Callable[[], T]) -> T:
    """``compute()``, kept under ``key`` for the rest of ``now``'s minute (per database): for figures that
    move slowly — baselines of earlier periods, 30-day workloads — read by every screen every few seconds."""
    minute = now.replace(second=0, microsecond=0)
    if _this_minute.get("minute") != minute:
        _this_minute.clear()
        _this_minute["minute"] = minute
    full_key = (database_key(session), *key)
    if full_key not in _this_minute:
        _this_minute[full_key] = compute()
    return _this_minute[full_key]


#: The change counters of migration 0030: bumped by triggers, in the writing transaction, on every write to
#: the incidents (and joint tasks), the working calendar, the areas and grids — by any process.
_counters = table("screen_counters", column("name"), column("value"))
#: How many entries ``until_changed`` keeps (per process): one per screen scope and period in use.
HELD_CHANGED = 64
_changed: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], datetime, datetime | None, Any]] = OrderedDict()
_changed_lock = threading.Lock()  # the web server answers screens from several threads


def change_counters(session: Session) -> tuple[tuple[str, int], ...]:
    """The database's change counters (migration 0030), one tiny read: equal values mean no incident, joint
    task, calendar day or period, area or grid was written in between (by any process)."""
    return tuple((str(n), int(v)) for n, v in session.execute(select(_counters.c.name, _counters.c.value)
                                                              .order_by(_counters.c.name)))


def until_changed(session: Session, key: tuple[Any, ...], now: datetime,
                  compute: Callable[[], tuple[T, datetime | None]]) -> T:
    """``compute()``'s value, kept under ``key`` (per database) until the change counters move or the time
    reaches the moment ``compute`` returned beside it (None: time alone never changes the value), and
    never served to an earlier ``now`` than it was computed at. Exact for figures that depend only on the
    counted tables and on comparisons of their times with ``now``, when that moment is the earliest such
    time later than ``now``. The counters are read before ``compute`` reads anything: a write committed in
    between shows in the value or, at the latest, moves the counters seen at the next call."""
    counters = change_counters(session)
    full_key = (database_key(session), *key)
    with _changed_lock:
        held = _changed.get(full_key)
    if held is not None and held[0] == counters and held[1] <= now and (held[2] is None or now < held[2]):
        return held[3]
    value, until = compute()
    with _changed_lock:
        _changed[full_key] = (counters, now, until, value)
        _changed.move_to_end(full_key)
        while len(_changed) > HELD_CHANGED:
            _changed.popitem(last=False)
    return value


def static_layers(session: Session) -> StaticLayers:
    """The static layers, cached per (database, data version). The version itself is read at most once a
    minute: static data change only by an import, and every screen asks every few seconds."""
    version = per_minute(session, ("data_version",), utcnow(), lambda: data_version(session))
    key = (database_key(session), version)  # the primary and its replica share one entry
    cached = _cache.get(key)
    if cached is None:
        _cache.clear()
        cached = _cache[key] = _build_static_layers(session, version)
    return cached


def _points(session: Session, columns: tuple[Any, ...], order: Any) -> PointLayer:
    rows = session.execute(select(*columns).order_by(order)).all()
    if not rows:
        empty = np.zeros(0, dtype=np.float32)
        return PointLayer(empty, empty, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int8))
    lon, lat, ident, value = zip(*rows, strict=True)
    return PointLayer(
        np.asarray(lon, dtype=np.float32),
        np.asarray(lat, dtype=np.float32),
        np.asarray(ident, dtype=np.int32),
        np.asarray(value, dtype=np.int8),
    )


def _kind_index(kinds: tuple[str, ...]) -> Any:
    return case({k: i for i, k in enumerate(kinds)}, value=KeyPlace.kind, else_=len(kinds))


def _build_static_layers(session: Session, version: tuple[int, ...]) -> StaticLayers:
    doorplates = _points(session, (Doorplate.lon, Doorplate.lat, Doorplate.id, Doorplate.households > 0),
                         Doorplate.id)
    cameras = _points(session, (Camera.lon, Camera.lat, Camera.id, Camera.status == "online"), Camera.id)
    key_places = _points(session, (KeyPlace.lon, KeyPlace.lat, KeyPlace.id, _kind_index(KEY_PLACE_KINDS)),
                         KeyPlace.id)
    families = tuple(session.scalars(select(Sensor.family).distinct().order_by(Sensor.family)))
    sensor_rows = session.execute(select(Sensor.lon, Sensor.lat, Sensor.family, Sensor.id).order_by(Sensor.id)).all()
    family_index = {f: i for i, f in enumerate(families)}
    sensors = PointLayer(
        np.asarray([r[0] for r in sensor_rows], dtype=np.float32),
        np.asarray([r[1] for r in sensor_rows], dtype=np.float32),
        np.arange(len(sensor_rows), dtype=np.int32),
        np.asarray([family_index[r[2]] for r in sensor_rows], dtype=np.int8),
    )
    basemap: dict[str, dict[str, Any]] = {}
    for kind in session.scalars(select(BasemapFeature.kind).distinct()):
        geoms = shapely.from_wkb(list(session.scalars(select(BasemapFeature.geom).where(BasemapFeature.kind == kind))))
        basemap[kind] = features_to_geojson(geoms)
    area_rows = session.execute(
        select(Area.id, Area.code, Area.name, Area.level, Area.parent_id, Area.minx, Area.miny, Area.maxx, Area.maxy,
               Area.geom).order_by(Area.id)
    ).all()
    areas = tuple(AreaNode(r[0], r[1], r[2], r[3], r[4], (r[5], r[6], r[7], r[8])) for r in area_rows)
    for level in (AreaLevel.STREET, AreaLevel.COMMUNITY):
        geoms = shapely.from_wkb([r[9] for r in area_rows if r[3] == level])
        basemap[f"{level}_border"] = features_to_geojson(shapely.boundary(geoms))
    city = next((a for a in areas if a.level == AreaLevel.CITY), None)
    bounds = city.bounds if city else (116.9, 36.6, 117.1, 36.75)
    center = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    return StaticLayers(version, doorplates, cameras, sensors, families, tuple(r[3] for r in sensor_rows),
                        key_places, _grid_layer(session), areas, basemap, center, bounds)


def _grid_layer(session: Session) -> GridLayer:
    rows = session.execute(
        select(Grid.id, Grid.code, Grid.name, Grid.community_id, Grid.minx, Grid.miny, Grid.maxx, Grid.maxy,
               Grid.geom).order_by(Grid.id)
    ).all()
    codes = tuple(r[1] for r in rows)
    return GridLayer(
        np.asarray([r[0] for r in rows], dtype=np.int64),
        codes,
        tuple(r[2] for r in rows),
        np.asarray([r[3] for r in rows], dtype=np.int64),
        np.asarray([r[4:8] for r in rows], dtype=np.float64).reshape(-1, 4),
        polygons_to_geojson(shapely.from_wkb([r[8] for r in rows]), codes),
    )


# --- live layers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveAlert:
    id: int
    level: str
    state: str
    rule_id: str
    sensor_id: str
    sensor_name: str
    family: str
    lon: float
    lat: float
    value: float | None
    fired_at: datetime | None
    started_at: datetime


def live_alerts(session: Session, limit: int | None = None, grid_ids: Iterable[int] | None = None) -> list[LiveAlert]:
    """Firing alerts (newest first, every one unless ``limit``), with their sensor's place; only inside
    ``grid_ids`` when given."""
    query = (
        select(Alert, Sensor.name, Sensor.family, Sensor.lon, Sensor.lat)
        .join(Sensor, Sensor.id == Alert.sensor_id)
        .where(Alert.state == "firing")
        .order_by(Alert.fired_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    if grid_ids is not None:
        query = query.where(Sensor.grid_id.in_(list(grid_ids)))
    return [
        LiveAlert(a.id, a.level, a.state, a.rule_id, a.sensor_id, name, family, lon, lat, a.value,
                  a.fired_at, a.started_at)
        for a, name, family, lon, lat in session.execute(query).all()
    ]


def unfinished() -> ColumnElement[bool]:
    """``state IN MAP_OPEN_STATES`` with the states written into the SQL, not bound: the partial indexes of
    the open incidents (migration 0030) serve only a query that repeats their condition literally."""
    return Incident.state.in_(bindparam("map_open_states", list(MAP_OPEN_STATES), expanding=True,
                                        literal_execute=True))


def on_map(visible: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    """The incidents the map shows: open on the map, placed, not merged — and ``visible`` to the reader
    (``dispatch.service.visible_to``) when given."""
    clauses = [unfinished(), Incident.lon.is_not(None), Incident.merged_into_id.is_(None)]
    return clauses if visible is None else [*clauses, visible]


def live_incidents(session: Session, limit: int | None = None, grid_ids: Iterable[int] | None = None,
                   visible: ColumnElement[bool] | None = None) -> list[Incident]:
    """Open incidents that have a place (newest first, every one unless ``limit``); only inside ``grid_ids``
    and ``visible`` when given. Only what the lists show is loaded (a screen reads them every few seconds):
    the newest ids are picked from the open incidents' covering index (migration 0030) and only their rows
    are read, not those of every open incident."""
    newest = select(Incident.id).where(*on_map(visible)).order_by(Incident.reported_at.desc(), Incident.id.desc())
    if grid_ids is not None:
        newest = newest.where(Incident.grid_id.in_(list(grid_ids)))
    query = (
        select(Incident)
        .options(load_only(Incident.id, Incident.code, Incident.title, Incident.state, Incident.card,
                           Incident.reported_at, Incident.lon, Incident.lat, Incident.grid_id,
                           Incident.category_code))
        .where(Incident.id.in_(newest.limit(limit)))
        .order_by(Incident.reported_at.desc(), Incident.id.desc())
    )
    return list(session.scalars(query))


def map_incident_rows(session: Session, visible: ColumnElement[bool] | None = None) -> list[Row[Any]]:
    """Every incident the live map draws, by id: ``id, code, title, state, card, lon, lat`` as plain rows.
    Read through the session's connection (Core, not the ORM's row loading: a third faster at 5,000 rows,
    which every screen reads every 5 s)."""
    return list(session.connection().execute(
        select(Incident.id, Incident.code, Incident.title, Incident.state, Incident.card, Incident.lon, Incident.lat)
        .where(*on_map(visible)).order_by(Incident.id)
    ).all())


def sensor_levels(session: Session) -> dict[str, str]:
    """The current alert level of every sensor with a firing alert (the most severe one)."""
    rank = {level: i for i, level in enumerate(LEVELS)}
    levels: dict[str, str] = {}
    for sensor_id, level in session.execute(select(Alert.sensor_id, Alert.level).where(Alert.state == "firing")):
        if sensor_id not in levels or rank.get(level, 9) < rank.get(levels[sensor_id], 9):
            levels[sensor_id] = level
    return levels


def grid_metrics(session: Session, now: datetime | None = None) -> dict[str, dict[int, int]]:
    """Per grid id: open incidents, carded open incidents, and the workload of the last 30 days. The open
    and carded counts (one covering index of the open incidents, migration 0030) are read again only when
    an incident was written (``until_changed``: they do not depend on the time)."""
    now = now or utcnow()
    open_rows = until_changed(session, ("grid-open",), now, lambda: (session.connection().execute(
        select(Incident.grid_id, func.count(), func.sum(case((Incident.card.in_(("red", "yellow")), 1), else_=0)))
        .where(unfinished(), Incident.grid_id.is_not(None), Incident.merged_into_id.is_(None))
        .group_by(Incident.grid_id)
    ).all(), None))
    workload = per_minute(session, ("workload",), now, lambda: session.execute(
        select(Incident.grid_id, func.count())
        # Bounded on both sides so that SQLite walks the reported_at index (≈ 30 days of rows) rather than
        # the whole (grid_id, reported_at) index: 170 → 40 ms at 1,000,000 incidents.
        .where(Incident.grid_id.is_not(None), Incident.reported_at >= now - timedelta(days=WORKLOAD_DAYS),
               Incident.reported_at <= now)
        .group_by(Incident.grid_id)
    ).all())
    return {
        "open": {g: int(n) for g, n, _ in open_rows},
        "cards": {g: int(c or 0) for g, _, c in open_rows if c},
        "workload": {g: int(n) for g, n in workload},
    }


# --- GeoJSON features for the layers API -----------------------------------------------------------

Bbox = tuple[float, float, float, float]
POINT_PRECISION = 6  # ≈ 0.1 m


def point(lon: float, lat: float, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, POINT_PRECISION),
                                                                            round(lat, POINT_PRECISION)]},
            "properties": properties}


def in_bbox(session: Session, model: Any, bbox: Bbox | None) -> list[Any]:
    """Points of ``model`` inside ``bbox``, edges included. With PostGIS the GiST index finds the candidates
    (``&&``) and the exact lon/lat comparison decides, so both paths give the same rows."""
    if bbox is None:
        return []
    exact = [model.lon >= bbox[0], model.lat >= bbox[1], model.lon <= bbox[2], model.lat <= bbox[3]]
    if model.__tablename__ in spatial.POINT_TABLES and spatial.available(session):
        return [spatial.boxes_meet(model, spatial.envelope(bbox)), *exact]
    return exact


def _grid_codes(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Grid.id, Grid.code)).all())


def doorplate_features(session: Session, bbox: Bbox | None, limit: int) -> list[dict[str, Any]]:
    """Doorplates (no personal data) in ``bbox``, by id, at most ``limit``."""
    grids = _grid_codes(session)
    rows = session.execute(select(Doorplate.id, Doorplate.code, Doorplate.address, Doorplate.lon, Doorplate.lat,
                                  Doorplate.grid_id, Doorplate.households, Doorplate.merchants)
                           .where(*in_bbox(session, Doorplate, bbox)).order_by(Doorplate.id).limit(limit)).all()
    return [point(r.lon, r.lat, {"id": r.id, "code": r.code, "address": r.address, "grid_code": grids.get(r.grid_id),
                                  "households": r.households, "merchants": r.merchants}) for r in rows]


def camera_features(session: Session, bbox: Bbox | None, limit: int) -> list[dict[str, Any]]:
    grids = _grid_codes(session)
    rows = session.execute(select(Camera, VideoPlatform.code).join(VideoPlatform)
                           .where(*in_bbox(session, Camera, bbox)).order_by(Camera.id).limit(limit)).all()
    return [point(c.lon, c.lat, {"id": c.id, "code": c.code, "name": c.name, "platform": platform, "type": c.type,
                                  "status": c.status, "algorithms": list(c.algorithms or []),
                                  "stream_url": c.stream_url, "grid_code": grids.get(c.grid_id)})
            for c, platform in rows]


def sensor_features(session: Session, bbox: Bbox | None, limit: int) -> list[dict[str, Any]]:
    grids = _grid_codes(session)
    levels = sensor_levels(session)
    rows = session.scalars(select(Sensor).where(*in_bbox(session, Sensor, bbox))
                           .order_by(Sensor.id).limit(limit)).all()
    return [point(s.lon, s.lat, {"id": s.id, "kind": s.kind, "family": s.family, "name": s.name, "unit": s.unit,
                                  "status": s.status, "last_value": s.last_value,
                                  "last_ts": s.last_ts.isoformat() if s.last_ts else None,
                                  "alert_level": levels.get(s.id), "grid_code": grids.get(s.grid_id)})
            for s in rows]


def incident_features(session: Session, bbox: Bbox | None, limit: int, states: Iterable[str] = MAP_OPEN_STATES,
                      visible: ColumnElement[bool] | None = None) -> list[dict[str, Any]]:
    """Incidents in ``states`` inside ``bbox``, by id, at most ``limit``; only those ``visible`` to the reader
    (``dispatch.service.visible_to``) when given."""
    grids = _grid_codes(session)
    scope = [] if visible is None else [visible]
    rows = session.scalars(select(Incident).where(Incident.lon.is_not(None), Incident.state.in_(list(states)),
                                                  *scope, *in_bbox(session, Incident, bbox))
                           .order_by(Incident.id).limit(limit)).all()
    return [point(i.lon, i.lat, {"id": i.id, "code": i.code, "state": i.state, "card": i.card,
                                  "category": i.category_code, "source": i.source, "title": i.title,
                                  "reported_at": i.reported_at.isoformat(), "grid_code": grids.get(i.grid_id)})
            for i in rows]


def alert_features(session: Session, bbox: Bbox | None, limit: int,
                   states: Iterable[str] = ("firing",)) -> list[dict[str, Any]]:
    rows = session.execute(select(Alert, Sensor.lon, Sensor.lat, Sensor.name).join(Sensor)
                           .where(Alert.state.in_(list(states)), *in_bbox(session, Sensor, bbox))
                           .order_by(Alert.id).limit(limit)).all()
    return [point(lon, lat, {"id": a.id, "rule_id": a.rule_id, "sensor_id": a.sensor_id, "sensor_name": name,
                              "state": a.state, "level": a.level, "value": a.value,
                              "started_at": a.started_at.isoformat(),
                              "fired_at": a.fired_at.isoformat() if a.fired_at else None})
            for a, lon, lat, name in rows]


def grid_features(session: Session, bbox: Bbox | None, limit: int) -> list[dict[str, Any]]:
    """Grid polygons whose bounding box meets ``bbox``, with their worker's name and open incidents."""
    metrics = grid_metrics(session)
    query = (select(Grid, Area.code, User.display_name).join(Area, Area.id == Grid.community_id)
             .outerjoin(User, User.id == Grid.worker_id).order_by(Grid.id).limit(limit))
    if bbox is not None:
        query = query.where(Grid.maxx >= bbox[0], Grid.maxy >= bbox[1], Grid.minx <= bbox[2], Grid.miny <= bbox[3])
        if spatial.available(session):  # the GiST index finds the candidates; the stored bounds decide
            query = query.where(spatial.boxes_meet(Grid, spatial.envelope(bbox)))
    rows = session.execute(query).all()
    if not rows:
        return []
    collection = features_to_geojson(
        shapely.from_wkb([g.geom for g, _, _ in rows]),
        [{"id": g.id, "code": g.code, "name": g.name, "community": community, "worker": worker,
          "open_incidents": metrics["open"].get(g.id, 0), "cards": metrics["cards"].get(g.id, 0)}
         for g, community, worker in rows],
    )
    return collection["features"]
