"""More /api/v1 routes of the dispatch loop: photos (upload, file, thumbnail), video AI detections,
proposed duplicates, the caller's rating, and notifications. Declared with ``api.registry.operation``
like api/v1.py (which imports this module)."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from flask import Response, jsonify, request, send_file
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import current_db
from api.errors import ApiError
from api.registry import STAFF, Param, StrictBody, created, json_body, operation, parse_body
from api.registry import actor as current_actor
from data.models import Incident
from dispatch import notifications, photos
from dispatch.notification_reads import mark_notifications_read
from dispatch.queries import visible_attachment
from dispatch.service import (
    SATISFACTION,
    attachment_to_dict,
    find_duplicates,
    get_incident,
    incident_to_dict,
    rate_incident,
)
from dispatch.uploads import upload_photo
from dispatch.video import DETECTION_CATEGORIES
from dispatch.video_ai.detections import record_detection

INCIDENT_ID = Param("incident_id", "incident id", "integer", "path")


class AttachmentOut(BaseModel):
    id: int
    kind: str
    content_type: str
    width: int
    height: int
    size: int
    history_id: int | None
    uploaded_at: str
    url: str
    thumbnail_url: str


class DetectionIn(StrictBody):
    camera: str = Field(description="camera code")
    kind: Literal[tuple(DETECTION_CATEGORIES)]  # type: ignore[valid-type]
    detected_at: AwareDatetime | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    snapshot: str | None = Field(default=None, description="the snapshot, base64 (JPEG, PNG or WebP, ≤ 5 MB)")


class DuplicateOut(BaseModel):
    id: int
    code: str
    state: str
    title: str
    distance_m: float
    reported_at: str | None


class RatingIn(StrictBody):
    satisfaction: Literal[SATISFACTION]  # type: ignore[valid-type]
    note: str | None = Field(default=None, max_length=2000)


class NotificationOut(BaseModel):
    id: int
    at: str
    kind: str
    incident_id: int
    incident_code: str | None
    note: str | None
    read: bool


class ReadIn(StrictBody):
    ids: list[int] | None = Field(default=None, description="the notifications to mark read; all when absent")


def _photo_error(exc: photos.PhotoRejected) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _uploaded_bytes() -> bytes:
    """The photo of a multipart upload (field ``photo``) or of a raw image body, read up to the limit."""
    upload = request.files.get("photo")
    stream = upload.stream if upload is not None else request.stream
    data = stream.read(photos.MAX_BYTES + 1)
    if not data:
        raise ApiError(400, "photo_required", "send the photo as multipart field 'photo' or as the body")
    return data


# --- photos -------------------------------------------------------------------------------------


@operation("/incidents/<int:incident_id>/photos", "POST", summary="Upload a photo of an incident",
           tag="photos", response=AttachmentOut, status=201, params=(INCIDENT_ID,),
           errors=(400, 401, 404, 413, 415, 422))
def post_photo(incident_id: int) -> tuple[Response, int]:
    actor = current_actor()
    data = _uploaded_bytes()
    with current_db().uow() as session:
        try:
            attachment = upload_photo(session, actor, incident_id, data)
        except photos.PhotoRejected as exc:
            raise _photo_error(exc) from None
        return created(attachment_to_dict(attachment))


def _serve(attachment_id: int, thumbnail: bool) -> Response:
    with current_db().uow() as session:
        attachment = visible_attachment(session, attachment_id, user=current_actor())  # 404 when not visible
        if attachment is None:
            raise ApiError(404, "attachment_not_found", f"no attachment {attachment_id}")
        path = photos.photo_file(attachment, thumbnail=thumbnail)
        mimetype = "image/jpeg" if thumbnail else attachment.content_type
    if not path.is_file():
        raise ApiError(404, "attachment_missing", "the stored file is missing")
    response = send_file(path, mimetype=mimetype, max_age=3600, conditional=True)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    return response


@operation("/attachments/<int:attachment_id>", "GET", summary="A stored photo (signed-in users who see its incident)",
           tag="photos", params=(Param("attachment_id", "attachment id", "integer", "path"),), errors=(401, 404))
def get_attachment(attachment_id: int) -> Response:
    return _serve(attachment_id, thumbnail=False)


@operation("/attachments/<int:attachment_id>/thumbnail", "GET", summary="The thumbnail (JPEG) of a stored photo",
           tag="photos", params=(Param("attachment_id", "attachment id", "integer", "path"),), errors=(401, 404))
def get_thumbnail(attachment_id: int) -> Response:
    return _serve(attachment_id, thumbnail=True)


# --- video AI detections ------------------------------------------------------------------------


@operation("/detections", "POST", summary="A video AI detection from a camera: creates a video incident",
           tag="incidents", roles=STAFF, body=DetectionIn, status=201, errors=(400, 401, 403, 413, 415, 422))
def post_detection() -> tuple[Response, int]:
    data = parse_body(DetectionIn, json_body())
    snapshot = None
    if data.snapshot:
        try:
            snapshot = base64.b64decode(data.snapshot.split(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(422, "invalid_field", "snapshot: not base64") from None
    with current_db().uow() as session:
        try:
            outcome = record_detection(
                session, camera_code=data.camera, kind=data.kind, detected_at=data.detected_at,
                confidence=data.confidence, snapshot=snapshot, actor=current_actor(),
            )
        except photos.PhotoRejected as exc:
            raise _photo_error(exc) from None
        session.flush()
        # the detection's own id, so the camera platform can later mark it false (POST /detections/{id}/false)
        detection = {"id": outcome.detection.id, "outcome": outcome.outcome}
        if outcome.incident is None:  # below its kind's minimum confidence: recorded, nothing filed (issue 19 §4)
            return created({"filed": False, "kind": data.kind, "confidence": data.confidence,
                            "detection": detection})
        session.refresh(outcome.incident)
        return created({**incident_to_dict(outcome.incident), "detection": detection})


# --- duplicates and rating ----------------------------------------------------------------------


@operation("/incidents/<int:incident_id>/duplicates", "GET",
           summary="Open incidents of the same category within 50 m and 24 h (merge candidates)",
           tag="incidents", response=DuplicateOut, many=True, params=(INCIDENT_ID,), errors=(401, 404))
def get_duplicates(incident_id: int) -> Response:
    with current_db().uow() as session:
        incident = get_incident(session, incident_id, user=current_actor())
        if incident.lon is None or incident.lat is None:
            return jsonify([])
        found = find_duplicates(session, incident.category_code, incident.lon, incident.lat, incident.reported_at,
                                exclude_id=incident.id, viewer=current_actor())
        return jsonify([duplicate_to_dict(other, distance) for other, distance in found])


def duplicate_to_dict(other: Incident, distance: float) -> dict[str, Any]:
    from dispatch.service import to_iso

    return {"id": other.id, "code": other.code, "state": other.state, "title": other.title,
            "distance_m": round(distance, 1), "reported_at": to_iso(other.reported_at)}


@operation("/incidents/<int:incident_id>/rating", "POST",
           summary="The caller's rating of a closed hotline or Open311 incident (once)", tag="incidents",
           roles=STAFF, body=RatingIn, params=(INCIDENT_ID,), errors=(400, 401, 403, 404, 422))
def post_rating(incident_id: int) -> Response:
    data = parse_body(RatingIn, json_body())
    with current_db().uow() as session:
        incident = rate_incident(session, incident_id, data.satisfaction, actor=current_actor(), note=data.note)
        session.refresh(incident)
        return jsonify(incident_to_dict(incident))


# --- notifications ------------------------------------------------------------------------------


@operation("/notifications", "GET", summary="My newest notifications (escalations, postponement requests)",
           tag="notifications", response=NotificationOut, many=True,
           params=(Param("unread", "1: unread only"),), errors=(401,))
def get_notifications() -> Response:
    with current_db().uow() as session:
        rows = notifications.latest(session, current_actor(), limit=100, unread_only=request.args.get("unread") == "1")
        return jsonify([notifications.notification_to_dict(r) for r in rows])


@operation("/notifications/read", "POST", summary="Mark my notifications read", tag="notifications",
           body=ReadIn, errors=(400, 401, 422))
def post_notifications_read() -> Response:
    data = parse_body(ReadIn, json_body() or {})
    with current_db().uow() as session:
        return jsonify({"marked": mark_notifications_read(session, current_actor(), data.ids)})
