"""Camera routes under /api/v1 (DESIGN §4, issue 19): ``GET /cameras?bbox=&status=`` and ``GET /cameras/{code}``,
each camera with the ``status`` the camera health probe (alerts/camera_probe.py) keeps current and when it
last changed, readable by the roles that see the big-screen map (``api.layers.LAYER_ROLES``); and the shared
patrol plans of the video wall, ``GET /patrol-plans`` (the wall's roles) and ``POST /patrol-plans``
(operators and admins; audited); snapshots of a playing camera for an incident or an emergency event
(``POST /cameras/{code}/snapshots``, ``GET /event-snapshots/{id}``); the video-AI detection kinds
(``GET /detection-kinds``), marking a detection false and the detection figures per kind."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Literal

from flask import Response, jsonify, request, send_file
from pydantic import BaseModel, Field, model_validator

from api.auth import PAGE_ROLES, current_db
from api.errors import ApiError
from api.layers import BBOX, LAYER_ROLES, parse_bbox
from api.registry import (
    INT64_MAX,
    STAFF,
    Param,
    StrictBody,
    actor,
    choice_arg,
    created,
    int_arg,
    json_body,
    operation,
    page_args,
    parse_body,
)
from api.v1 import kpi_period
from data.layers import in_bbox
from data.models import Camera, PatrolPlan
from data.video_models import EventSnapshot
from dispatch import photos
from dispatch.queries import camera_with_platform, cameras_with_platform, patrol_plans
from dispatch.service import to_iso
from dispatch.video import MAX_DWELL_S, MIN_DWELL_S, save_patrol_plan
from dispatch.video_ai.detections import (
    REASON_MAX,
    detection_kinds,
    detection_stats,
    list_detections,
    mark_false,
)
from dispatch.video_ai.snapshots import event_snapshot_file, snapshot_to_event, snapshot_to_incident

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


# --- snapshots of a playing camera -------------------------------------------------------------------


class SnapshotIn(StrictBody):
    incident: str | None = Field(default=None, min_length=1, max_length=40, description="incident code")
    event: int | None = Field(default=None, ge=1, description="emergency event id")
    image: str = Field(min_length=1, description="the frame, base64 or a data: URL (JPEG, PNG or WebP, ≤ 5 MB)")

    @model_validator(mode="after")
    def _one_target(self) -> SnapshotIn:
        if (self.incident is None) == (self.event is None):
            raise ValueError("give exactly one of incident and event")
        return self


class SnapshotOut(BaseModel):
    id: int
    target: Literal["incident", "event"]
    camera: str
    url: str


def decode_image(text: str) -> bytes:
    """The bytes of a base64 image or ``data:`` URL; 422 ``invalid_field`` when it is not base64."""
    try:
        return base64.b64decode(text.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "invalid_field", "image: not base64") from None


@operation("/cameras/<code>/snapshots", "POST", summary="Attach a snapshot of a playing camera to an incident "
           "(as a photo) or an emergency event", tag="cameras", roles=STAFF, body=SnapshotIn, response=SnapshotOut,
           status=201, params=(Param("code", "camera code", where="path"),),
           errors=(400, 401, 403, 404, 409, 413, 415, 422))
def post_snapshot(code: str) -> tuple[Response, int]:
    data = parse_body(SnapshotIn, json_body())
    image = decode_image(data.image)
    with current_db().uow() as session:
        try:
            if data.incident is not None:
                attachment = snapshot_to_incident(session, actor(), code, data.incident, image)
                return created({"id": attachment.id, "target": "incident", "camera": code,
                                "url": f"/api/v1/attachments/{attachment.id}"})
            snapshot = snapshot_to_event(session, actor(), code, data.event, image)
            return created({"id": snapshot.id, "target": "event", "camera": code,
                            "url": f"/api/v1/event-snapshots/{snapshot.id}"})
        except photos.PhotoRejected as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None


@operation("/event-snapshots/<int:snapshot_id>", "GET", summary="A camera snapshot of an emergency event",
           tag="cameras", roles=WALL_ROLES, params=(Param("snapshot_id", "snapshot id", "integer", "path"),),
           errors=(401, 403, 404))
def get_event_snapshot(snapshot_id: int) -> Response:
    with current_db().uow() as session:
        snapshot = session.get(EventSnapshot, snapshot_id)
        if snapshot is None:
            raise ApiError(404, "snapshot_not_found", f"no snapshot {snapshot_id}")
        path, mimetype = event_snapshot_file(snapshot), snapshot.content_type
    if not path.is_file():
        raise ApiError(404, "snapshot_missing", "the stored file is missing")
    response = send_file(path, mimetype=mimetype, max_age=3600, conditional=True)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- video-AI detection kinds, false detections, figures ---------------------------------------------


class DetectionKindOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    category: str
    min_confidence: float
    window_minutes: int


@operation("/detection-kinds", "GET", summary="The video-AI detection kinds (dispatch/video_ai/kinds.yaml)",
           tag="cameras", roles=WALL_ROLES, response=DetectionKindOut, many=True, errors=(401, 403))
def list_detection_kinds() -> Response:
    return jsonify([kind.model_dump() for kind in detection_kinds().values()])


class DetectionOut(BaseModel):
    id: int
    camera: str
    kind: str
    confidence: float | None
    detected_at: datetime
    outcome: Literal["filed", "attached", "below_threshold"]
    incident_id: int | None
    false_at: datetime | None
    false_reason: str | None


def detection_to_dict(row: Any, camera: str) -> dict[str, Any]:
    """The API form of a detection."""
    return {"id": row.id, "camera": camera, "kind": row.kind, "confidence": row.confidence,
            "detected_at": to_iso(row.detected_at), "outcome": row.outcome, "incident_id": row.incident_id,
            "false_at": to_iso(row.false_at), "false_reason": row.false_reason}


@operation("/detections", "GET", summary="Video-AI detections, newest first (of an incident, camera or kind)",
           tag="cameras", roles=WALL_ROLES, response=DetectionOut, many=True,
           params=(Param("incident", "incident id", "integer"), Param("camera", "camera code"),
                   Param("kind", "detection kind"), Param("limit", "at most 1000 (default 100)", "integer"),
                   Param("offset", "rows to skip", "integer")),
           errors=(401, 403, 422))
def get_detections() -> Response:
    limit, offset = page_args()
    incident = int_arg("incident", 0, 0, INT64_MAX) or None
    with current_db().uow() as session:
        rows = list_detections(session, incident_id=incident, camera_code=request.args.get("camera"),
                               kind=request.args.get("kind"), limit=limit, offset=offset)
        return jsonify([detection_to_dict(row, camera) for row, camera in rows])


class FalseDetectionIn(StrictBody):
    reason: str | None = Field(default=None, max_length=REASON_MAX)


@operation("/detections/<int:detection_id>/false", "POST", summary="Mark a video-AI detection false (误报)",
           tag="cameras", roles=STAFF, body=FalseDetectionIn, response=DetectionOut,
           params=(Param("detection_id", "detection id", "integer", "path"),), errors=(400, 401, 403, 404, 409, 422))
def post_false_detection(detection_id: int) -> Response:
    data = parse_body(FalseDetectionIn, json_body() or {})
    with current_db().uow() as session:
        row = mark_false(session, actor(), detection_id, data.reason)
        return jsonify(detection_to_dict(row, session.get(Camera, row.camera_id).code))


class DetectionStatsOut(BaseModel):
    kind: str
    received: int
    filed: int
    attached: int
    below_threshold: int
    false: int
    false_rate: float | None


@operation("/detections/stats", "GET", summary="Video-AI detections per kind: received, filed, attached, below "
           "threshold, marked false", tag="cameras", roles=WALL_ROLES, response=DetectionStatsOut, many=True,
           params=(Param("from", "ISO date or time; default today 00:00 in CITYOPS_TZ"),
                   Param("to", "ISO date or time, exclusive; default tomorrow 00:00")),
           errors=(401, 403, 422))
def get_detection_stats() -> Response:
    start, end = kpi_period(request.args.get("from"), request.args.get("to"))
    with current_db().uow() as session:
        return jsonify(detection_stats(session, start, end))
