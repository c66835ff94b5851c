"""Camera routes under /api/v1 (DESIGN §4, issue 19): ``GET /cameras?bbox=&status=`` and ``GET /cameras/{code}``,
each camera with the ``status`` the camera health probe (alerts/camera_probe.py) keeps current and when it
last changed, readable by the roles that see the big-screen map (``api.layers.LAYER_ROLES``); and the shared
patrol plans of the video wall, ``GET /patrol-plans`` (the wall's roles) and ``POST /patrol-plans``
(operators and admins; audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import Response, jsonify, request
from pydantic import BaseModel, Field

from api.auth import PAGE_ROLES, current_db
from api.errors import ApiError
from api.layers import BBOX, LAYER_ROLES, parse_bbox
from api.registry import (
    STAFF,
    Param,
    StrictBody,
    actor,
    choice_arg,
    created,
    json_body,
    operation,
    page_args,
    parse_body,
)
from data.layers import in_bbox
from data.models import Camera, PatrolPlan
from dispatch.queries import camera_with_platform, cameras_with_platform, patrol_plans
from dispatch.service import to_iso
from dispatch.video import MAX_DWELL_S, MIN_DWELL_S, save_patrol_plan

STATUSES = ("online", "offline")


class CameraOut(BaseModel):
    code: str
    name: str
    lon: float
    lat: float
    platform: str
    stream_url: str | None
    status: Literal["online", "offline"]
    status_changed_at: datetime | None


def camera_to_dict(camera: Camera, platform: str) -> dict[str, Any]:
    """The API form of a camera (DESIGN §4)."""
    return {"code": camera.code, "name": camera.name, "lon": camera.lon, "lat": camera.lat, "platform": platform,
            "stream_url": camera.stream_url, "status": camera.status,
            "status_changed_at": to_iso(camera.status_changed_at)}


@operation("/cameras", "GET", summary="List cameras with their health status", tag="cameras", roles=LAYER_ROLES,
           response=CameraOut, many=True,
           params=(BBOX, Param("status", "online or offline (comma-separated)"),
                   Param("limit", "at most 1000 (default 100)", "integer"),
                   Param("offset", "rows to skip", "integer")),
           errors=(401, 403, 422))
def list_cameras() -> Response:
    bbox = parse_bbox(request.args.get("bbox"))
    statuses = choice_arg("status", STATUSES)
    limit, offset = page_args()
    with current_db().uow() as session:
        rows = cameras_with_platform(session, in_bbox(session, Camera, bbox), statuses=statuses or (),
                                     limit=limit, offset=offset)
        return jsonify([camera_to_dict(camera, platform) for camera, platform in rows])


@operation("/cameras/<code>", "GET", summary="One camera with its health status", tag="cameras",
           roles=LAYER_ROLES, response=CameraOut, params=(Param("code", "camera code", where="path"),),
           errors=(401, 403, 404))
def get_camera(code: str) -> Response:
    with current_db().uow() as session:
        row = camera_with_platform(session, code)
        if row is None:
            raise ApiError(404, "camera_not_found", f"no camera {code!r}")
        return jsonify(camera_to_dict(*row))


# --- patrol plans (轮巡预案) -------------------------------------------------------------------------

WALL_ROLES = tuple(sorted(PAGE_ROLES["video"]))


class PatrolPlanIn(StrictBody):
    name: str = Field(min_length=1, max_length=64)
    cameras: list[str] = Field(min_length=1, description="camera codes, in patrol order")
    dwell_s: int = Field(ge=MIN_DWELL_S, le=MAX_DWELL_S, description="seconds each page of cameras stays")


class PatrolPlanOut(BaseModel):
    name: str
    cameras: list[str]
    dwell_s: int
    updated_at: datetime


def plan_to_dict(plan: PatrolPlan) -> dict[str, Any]:
    """The API form of a patrol plan."""
    return {"name": plan.name, "cameras": list(plan.camera_codes), "dwell_s": plan.dwell_s,
            "updated_at": to_iso(plan.updated_at)}


@operation("/patrol-plans", "GET", summary="The shared patrol plans of the video wall", tag="cameras",
           roles=WALL_ROLES, response=PatrolPlanOut, many=True, errors=(401, 403))
def list_patrol_plans() -> Response:
    with current_db().uow() as session:
        return jsonify([plan_to_dict(p) for p in patrol_plans(session)])


@operation("/patrol-plans", "POST", summary="Save a patrol plan (by name: creates or replaces)", tag="cameras",
           roles=STAFF, body=PatrolPlanIn, response=PatrolPlanOut, status=201, errors=(400, 401, 403, 422))
def post_patrol_plan() -> tuple[Response, int]:
    data = parse_body(PatrolPlanIn, json_body())
    with current_db().uow() as session:
        plan = save_patrol_plan(session, name=data.name, camera_codes=data.cameras, dwell_s=data.dwell_s,
                                user_id=actor().id)
        return created(plan_to_dict(plan))
