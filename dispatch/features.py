"""The feature collections the OGC API – Features endpoint serves (areas, grids, doorplates, cameras,
sensors, key places, resources, open incidents): which columns a feature shows, who may see which rows,
and the reads of a collection — its extent, a counted page of features, one feature. ``api/ogc.py`` is
the HTTP side and builds no queries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import shapely
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from data import layers, spatial
from data.models import Area, Camera, Doorplate, Grid, Incident, KeyPlace, Resource, Sensor, VideoPlatform
from dispatch.service import visible_to
from geo.layers import features_to_geojson

Bbox = layers.Bbox
Scope = Callable[[Any], list[ColumnElement[bool]]]


# --- the collections ------------------------------------------------------------------------------


def _no_scope(_viewer: Any) -> list[ColumnElement[bool]]:
    return []


def _open_incidents(viewer: Any) -> list[ColumnElement[bool]]:
    # open, placed, not merged, and visible to the caller: the map's and /api/v1/incidents' rule
    return layers.on_map(visible_to(viewer))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Collection:
    """One OGC collection over a table: which columns a feature shows and how it is keyed and placed.

    ``columns`` are selected as labelled (property name → column); ``key`` orders and pages the items;
    point tables place features at ``lon``/``lat``, polygon tables (``polygons``) carry WKB ``geom`` and
    stored bounds. ``model`` None: no table holds this layer yet, the collection is served empty."""

    id: str
    title: str
    description: str
    model: Any = None
    columns: dict[str, Any] = field(default_factory=dict)
    joins: tuple[tuple[Any, Any], ...] = ()
    polygons: bool = False
    scope: Scope = _no_scope
    timestamps: tuple[str, ...] = ()

    @property
    def key(self) -> Any:
        return self.model.id

    @property
    def integer_keys(self) -> bool:
        return self.model is not None and self.model.id.type.python_type is int

    def bounds(self) -> tuple[Any, Any, Any, Any]:
        model = self.model
        return (model.minx, model.miny, model.maxx, model.maxy) if self.polygons else (
            model.lon, model.lat, model.lon, model.lat)

    def where(self, session: Session, viewer: Any, bbox: Bbox | None) -> list[ColumnElement[bool]]:
        """The filter of this collection for ``viewer`` inside ``bbox`` (edges included)."""
        clauses = self.scope(viewer)
        if bbox is None:
            return clauses
        if not self.polygons:
            return [*clauses, *layers.in_bbox(session, self.model, bbox)]
        minx, miny, maxx, maxy = self.bounds()
        clauses += [maxx >= bbox[0], maxy >= bbox[1], minx <= bbox[2], miny <= bbox[3]]
        if spatial.available(session):  # the GiST index finds the candidates; the stored bounds decide
            clauses.append(spatial.boxes_meet(self.model, spatial.envelope(bbox)))
        return clauses

    def rows(self, where: list[ColumnElement[bool]]) -> Select[Any]:
        geometry = (self.model.geom,) if self.polygons else (self.model.lon, self.model.lat)
        query = select(self.key.label("_key"), *geometry,
                       *(column.label(name) for name, column in self.columns.items()))
        for target, on in self.joins:
            query = query.outerjoin(target, on)
        return query.where(*where)

    def features(self, rows: list[Any]) -> list[dict[str, Any]]:
        """GeoJSON features of rows selected by ``rows()`` (by position: a page holds up to 10,000)."""
        names = tuple(self.columns)
        first = 2 if self.polygons else 3  # _key, geom | _key, lon, lat
        props = [dict(zip(names, row[first:], strict=True)) for row in rows]
        for name in self.timestamps:
            for p in props:
                p[name] = _iso(p[name])
        if not self.polygons:
            return [{"id": row[0], **layers.point(row[1], row[2], p)} for row, p in zip(rows, props, strict=True)]
        for row, p in zip(rows, props, strict=True):
            p["\0id"] = row[0]  # carried through: an empty geometry is left out of the collection
        features = features_to_geojson(shapely.from_wkb([row[1] for row in rows]), props)["features"]
        for feature in features:
            feature["id"] = feature["properties"].pop("\0id")
        return features

    def extent(self, session: Session, viewer: Any) -> list[float] | None:
        """The bounding box of what ``viewer`` may see of this collection, or None (nothing, or no table)."""
        if self.model is None:
            return None
        minx, miny, maxx, maxy = self.bounds()
        query = select(func.min(minx), func.min(miny), func.max(maxx), func.max(maxy)).select_from(self.model)
        box = session.execute(query.where(*self.scope(viewer))).one()
        return None if box[0] is None else [float(v) for v in box]

    def page(self, session: Session, viewer: Any, bbox: Bbox | None, *, limit: int, offset: int,
             after: Any = None) -> tuple[int, list[dict[str, Any]]]:
        """How many features ``viewer`` may see inside ``bbox``, and one page of them by key: ``limit``
        features after key ``after`` when given, else after skipping ``offset``."""
        if self.model is None:
            return 0, []
        where = self.where(session, viewer, bbox)
        matched = session.scalar(select(func.count()).select_from(self.model).where(*where)) or 0
        query = self.rows(where).order_by(self.key).limit(limit)
        query = query.where(self.key > after) if after is not None else query.offset(offset)
        return matched, self.features(list(session.execute(query).all()))

    def feature(self, session: Session, viewer: Any, key: Any) -> dict[str, Any] | None:
        """The feature keyed ``key`` when ``viewer`` may see it, else None."""
        if self.model is None or key is None:
            return None
        rows = list(session.execute(self.rows(self.where(session, viewer, None)).where(self.key == key)).all())
        return self.features(rows)[0] if rows else None


GridOf = Grid.__table__.alias("grid_of")  # the unit grid a point lies in (its code is a property)
ParentArea = Area.__table__.alias("parent_area")
CommunityArea = Area.__table__.alias("community_area")


def _grid_join(model: Any) -> tuple[Any, Any]:
    return GridOf, GridOf.c.id == model.grid_id


COLLECTIONS: dict[str, Collection] = {c.id: c for c in (
    Collection("areas", "Administrative areas", "City, districts, streets and communities (polygons).", Area,
               {"code": Area.code, "name": Area.name, "level": Area.level, "parent_code": ParentArea.c.code},
               ((ParentArea, ParentArea.c.id == Area.parent_id),), polygons=True),
    Collection("grids", "Unit grids", "The unit grids (单元网格), each in one community (polygons).", Grid,
               {"code": Grid.code, "name": Grid.name, "community_code": CommunityArea.c.code},
               ((CommunityArea, CommunityArea.c.id == Grid.community_id),), polygons=True),
    Collection("doorplates", "Doorplates", "Address plates of buildings (no personal data).", Doorplate,
               {"code": Doorplate.code, "address": Doorplate.address, "grid_code": GridOf.c.code},
               (_grid_join(Doorplate),)),
    Collection("cameras", "Cameras", "Camera points with their platform and status.", Camera,
               {"code": Camera.code, "name": Camera.name, "type": Camera.type, "status": Camera.status,
                "platform": VideoPlatform.code, "grid_code": GridOf.c.code},
               ((VideoPlatform, VideoPlatform.id == Camera.platform_id), _grid_join(Camera))),
    Collection("sensors", "Sensors", "Lifeline and environmental sensors with their latest value.", Sensor,
               {"kind": Sensor.kind, "family": Sensor.family, "name": Sensor.name, "unit": Sensor.unit,
                "status": Sensor.status, "last_value": Sensor.last_value, "last_ts": Sensor.last_ts,
                "grid_code": GridOf.c.code},
               (_grid_join(Sensor),), timestamps=("last_ts",)),
    Collection("key-places", "Key places", "Key risk sources, key places and key projects.", KeyPlace,
               {"code": KeyPlace.code, "name": KeyPlace.name, "kind": KeyPlace.kind, "grid_code": GridOf.c.code},
               (_grid_join(KeyPlace),)),
    Collection("resources", "Emergency resources",
               "Emergency resources: rescue teams, equipment and supplies, shelters (no contact data).", Resource,
               {"code": Resource.code, "name": Resource.name, "kind": Resource.kind, "capacity": Resource.capacity,
                "status": Resource.status, "grid_code": GridOf.c.code},
               (_grid_join(Resource),)),
    Collection("incidents", "Open incidents", "Open incidents the caller may see (public fields only).",
               Incident,
               {"code": Incident.code, "state": Incident.state, "card": Incident.card,
                "category": Incident.category_code, "source": Incident.source,
                "reported_at": Incident.reported_at, "grid_code": GridOf.c.code},
               (_grid_join(Incident),), scope=_open_incidents, timestamps=("reported_at",)),
)}
