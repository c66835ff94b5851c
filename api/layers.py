"""GeoJSON layers of the city map under /api/v1 (DESIGN §4): doorplates, grids, cameras, sensors, incidents
and alerts as FeatureCollections in WGS-84, filtered by ``bbox``.

Who may read them: the roles that see the big-screen map (admin, operator, leader, handler). Grid
workers use the phone page and do not get city-wide layers. Incidents follow the scope rule of
``/api/v1/incidents`` (``dispatch.service.visible_to``): a handler gets their department's only. No personal
data is included (doorplate contacts stay in the masked detail view).

Bounded answers: at most ``limit`` features (default 2,000, at most 10,000) in id order; when more
match, ``truncated`` is true — ask again with a smaller bbox. A city-wide doorplate request therefore
returns 2,000 of the 118,000 doorplates (≈ 0.4 MB) instead of all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request

from api.auth import PAGE_ROLES, current_db
from api.errors import ApiError
from api.registry import Param, actor, choice_arg, int_arg, operation
from data import layers
from data.models import IncidentState
from dispatch.service import visible_to

DEFAULT_LIMIT = 2_000
MAX_LIMIT = 10_000
#: Roles that may read the map layers: those that may open the big screen.
LAYER_ROLES = tuple(sorted(PAGE_ROLES["bigscreen"]))
INCIDENT_STATES = tuple(s.value for s in IncidentState)
ALERT_STATES = ("pending", "firing", "resolved")

Reader = Callable[..., list[dict[str, Any]]]


def parse_bbox(raw: str | None) -> layers.Bbox | None:
    """``minlon,minlat,maxlon,maxlat`` in WGS-84 degrees; None when absent; 422 when malformed."""
    if raw is None or not raw.strip():
        return None
    parts = raw.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ApiError(422, "invalid_bbox", "bbox must be minlon,minlat,maxlon,maxlat (four numbers)")
    west, south, east, north = values
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ApiError(422, "invalid_bbox", "bbox must have minlon < maxlon within ±180 and minlat < maxlat within ±90")
    return west, south, east, north


def _collection(reader: Reader, **filters: Any) -> Response:
    bbox = parse_bbox(request.args.get("bbox"))
    limit = int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    with current_db().read_uow() as session:
        features = reader(session, bbox, limit + 1, **filters)
    truncated = len(features) > limit
    features = features[:limit]
    return jsonify({"type": "FeatureCollection", "features": features, "numberReturned": len(features),
                    "limit": limit, "truncated": truncated})


BBOX = Param("bbox", "minlon,minlat,maxlon,maxlat (WGS-84); default the whole city")
LIMIT = Param("limit", f"at most this many features (1..{MAX_LIMIT}, default {DEFAULT_LIMIT})", "integer")
COMMON = {"tag": "layers", "roles": LAYER_ROLES, "errors": (401, 403, 422)}


@operation("/layers/doorplates", "GET", summary="Doorplates as GeoJSON points", params=(BBOX, LIMIT), **COMMON)
def layer_doorplates() -> Response:
    return _collection(layers.doorplate_features)


@operation("/layers/grids", "GET", summary="Unit grids as GeoJSON polygons with open incidents and cards",
           params=(BBOX, LIMIT), **COMMON)
def layer_grids() -> Response:
    return _collection(layers.grid_features)


@operation("/layers/cameras", "GET", summary="Camera points as GeoJSON", params=(BBOX, LIMIT), **COMMON)
def layer_cameras() -> Response:
    return _collection(layers.camera_features)


@operation("/layers/sensors", "GET", summary="Sensors as GeoJSON points with their current alert level",
           params=(BBOX, LIMIT), **COMMON)
def layer_sensors() -> Response:
    return _collection(layers.sensor_features)


@operation("/layers/incidents", "GET", summary="Incidents (open ones by default) as GeoJSON points",
           params=(BBOX, LIMIT, Param("state", "comma-separated states; default every open state")), **COMMON)
def layer_incidents() -> Response:
    states = choice_arg("state", INCIDENT_STATES) or [str(s) for s in layers.MAP_OPEN_STATES]
    # the scope rule of /api/v1/incidents: a handler sees their department's incidents, nothing else
    return _collection(layers.incident_features, states=states, visible=visible_to(actor()))


@operation("/layers/alerts", "GET", summary="Alerts (firing by default) at their sensors as GeoJSON points",
           params=(BBOX, LIMIT, Param("state", "comma-separated: pending, firing, resolved; default firing")),
           **COMMON)
def layer_alerts() -> Response:
    return _collection(layers.alert_features, states=choice_arg("state", ALERT_STATES) or ["firing"])
