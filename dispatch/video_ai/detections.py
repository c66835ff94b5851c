"""Video-AI detections (issue 19 §4), the one door for them: a camera's detection of a kind of ``kinds.yaml``
is checked (known camera and kind, the camera runs that algorithm, confidence in [0, 1], a good snapshot) and
recorded in ``video_detections``; below the kind's minimum confidence it files nothing; a repeat of the same
kind by the same camera within the kind's window attaches its snapshot to the open incident of the first
(debounce) instead of filing another; otherwise it files a ``video`` incident of the kind's category at the
camera. A detection can be marked false (误报); ``detection_stats`` gives the figures per kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.audit import write_audit
from data.models import Camera, Category, Incident, utcnow
from data.video_models import VideoDetection
from dispatch import photos
from dispatch.service import Actor, InvalidInput, create_incident
from dispatch.video_ai.kinds import KindSpec, load_kinds
from domain.enums import IncidentState
from domain.errors import Conflict, NotFound
from domain.permissions import Permission, require

FILED, ATTACHED, BELOW_THRESHOLD = "filed", "attached", "below_threshold"
OUTCOMES = (FILED, ATTACHED, BELOW_THRESHOLD)
#: Incidents a repeated detection no longer joins.
FINISHED_STATES = (IncidentState.CLOSED.value, IncidentState.REJECTED.value)
REASON_MAX = 255


@dataclass(frozen=True)
class DetectionOutcome:
    """What became of one detection: its row, and the incident it filed or joined (None below threshold)."""

    detection: VideoDetection
    incident: Incident | None

    @property
    def outcome(self) -> str:
        return self.detection.outcome


def detection_kinds() -> Mapping[str, KindSpec]:
    """The detection kinds in force, by code."""
    return load_kinds()


def _kind(kind: str) -> KindSpec:
    spec = detection_kinds().get(kind)
    if spec is None:
        raise InvalidInput("unknown_detection", f"kind must be one of {', '.join(detection_kinds())}")
    return spec


def _open_incident(session: Session, camera: Camera, spec: KindSpec, at: datetime) -> Incident | None:
    """The open incident of an earlier detection of ``spec`` by ``camera`` within the window around ``at``."""
    window = timedelta(minutes=spec.window_minutes)
    return session.scalar(
        select(Incident).join(VideoDetection, VideoDetection.incident_id == Incident.id)
        .where(VideoDetection.camera_id == camera.id, VideoDetection.kind == spec.code,
               VideoDetection.false_at.is_(None), VideoDetection.detected_at >= at - window,
               VideoDetection.detected_at <= at + window, Incident.state.not_in(FINISHED_STATES))
        .order_by(VideoDetection.detected_at.desc()).limit(1))


def record_detection(
    session: Session,
    *,
    camera_code: str,
    kind: str,
    detected_at: datetime | None = None,
    confidence: float | None = None,
    snapshot: bytes | None = None,
    actor: Actor | None = None,
    folder: Path | None = None,
) -> DetectionOutcome:
    """Record one detection and file, join or only keep it (see the module). A camera that lists its
    algorithms must list ``kind``; one that lists none accepts any. ``InvalidInput`` says what is wrong
    (``unknown_detection``, ``unknown_camera``, ``algorithm_not_enabled``, ``invalid_confidence``, a photo
    code); nothing is written then."""
    if actor is not None:
        require(actor.role, Permission.DETECTION_INGEST)
    spec = _kind(kind)
    camera = session.scalar(select(Camera).where(Camera.code == camera_code))
    if camera is None:
        raise InvalidInput("unknown_camera", f"no camera {camera_code!r}")
    if camera.algorithms and kind not in camera.algorithms:
        raise InvalidInput("algorithm_not_enabled", f"camera {camera_code} does not run {kind}")
    if confidence is not None and not 0 <= confidence <= 1:
        raise InvalidInput("invalid_confidence", "confidence must lie between 0 and 1")
    if snapshot is not None:
        photos.clean_photo(snapshot)  # refuse a bad snapshot before anything is written
    at = detected_at or utcnow()
    detection = VideoDetection(camera_id=camera.id, kind=kind, confidence=confidence, detected_at=at)
    actor_id = actor.id if actor else None
    if confidence is not None and confidence < spec.min_confidence:
        detection.outcome = BELOW_THRESHOLD
        session.add(detection)
        session.flush()
        write_audit(session, actor_id, "detection.record", f"camera:{camera.code}",
                    detail={"detection": detection.id, "kind": kind, "confidence": confidence})
        return DetectionOutcome(detection, None)
    incident = _open_incident(session, camera, spec, at)
    if incident is not None:
        detection.outcome, detection.incident_id = ATTACHED, incident.id
        if snapshot is not None:  # the camera's picture, added on the system's behalf
            detection.attachment_id = photos.store_photo(session, snapshot, incident_id=incident.id,
                                                         uploaded_by=None, kind="snapshot", folder=folder).id
        session.add(detection)
        session.flush()
        write_audit(session, actor_id, "detection.attach", f"incident:{incident.code}",
                    detail={"detection": detection.id, "camera": camera.code, "kind": kind})
        return DetectionOutcome(detection, incident)
    category = session.get(Category, spec.category)
    name = category.name_zh if category is not None else spec.name_zh
    score = f" {confidence:.0%}" if confidence is not None else ""
    incident = create_incident(
        session, category_code=spec.category, source="video", title=f"{name}（{camera.name}）",
        description=f"{camera.code} {kind}{score}", lon=camera.lon, lat=camera.lat, reported_at=detected_at,
        actor=actor,
    )
    detection.outcome, detection.incident_id = FILED, incident.id
    if snapshot is not None:
        detection.attachment_id = photos.store_photo(session, snapshot, incident_id=incident.id,
                                                     uploaded_by=actor_id, kind="snapshot", folder=folder).id
    session.add(detection)
    session.flush()
    return DetectionOutcome(detection, incident)


def mark_false(session: Session, actor: Actor, detection_id: int, reason: str | None = None,
               now: datetime | None = None) -> VideoDetection:
    """Mark detection ``detection_id`` false (误报) with an optional reason; audited as ``detection.false``.
    ``NotFound`` for no such detection, ``Conflict("already_false")`` when it is marked already."""
    require(actor.role, Permission.DETECTION_INGEST)
    detection = session.get(VideoDetection, detection_id)
    if detection is None:
        raise NotFound("detection_not_found", message=f"no detection {detection_id}")
    if detection.false_at is not None:
        raise Conflict("already_false", message=f"detection {detection_id} is marked false already")
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > REASON_MAX:
        raise InvalidInput("invalid_reason", f"a reason has at most {REASON_MAX} characters")
    detection.false_at, detection.false_by, detection.false_reason = now or utcnow(), actor.id, reason
    session.flush()
    write_audit(session, actor.id, "detection.false", f"detection:{detection.id}",
                detail={"kind": detection.kind, "reason": reason})
    return detection


def detection_stats(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per kind, the detections made in [start, end): received, filed, attached, below threshold, marked false,
    and the false rate (false of those that filed or joined an incident; None when there were none)."""
    rows = session.execute(
        select(VideoDetection.kind, VideoDetection.outcome, func.count(),
               func.count(VideoDetection.false_at))
        .where(VideoDetection.detected_at >= start, VideoDetection.detected_at < end)
        .group_by(VideoDetection.kind, VideoDetection.outcome)).all()
    figures: dict[str, dict[str, Any]] = {}
    for kind, outcome, count, false in rows:
        entry = figures.setdefault(kind, {"kind": kind, "received": 0, **dict.fromkeys(OUTCOMES, 0), "false": 0})
        entry["received"] += count
        entry[outcome] += count
        if outcome != BELOW_THRESHOLD:
            entry["false"] += false
    for entry in figures.values():
        acted = entry[FILED] + entry[ATTACHED]
        entry["false_rate"] = round(entry["false"] / acted, 4) if acted else None
    return [figures[kind] for kind in sorted(figures)]


def list_detections(session: Session, *, incident_id: int | None = None, camera_code: str | None = None,
                    kind: str | None = None, limit: int = 100, offset: int = 0) -> list[tuple[VideoDetection, str]]:
    """Detections (with their camera's code), newest first, of one incident, camera or kind when given."""
    query = select(VideoDetection, Camera.code).join(Camera, Camera.id == VideoDetection.camera_id)
    if incident_id is not None:
        query = query.where(VideoDetection.incident_id == incident_id)
    if camera_code:
        query = query.where(Camera.code == camera_code)
    if kind:
        query = query.where(VideoDetection.kind == kind)
    rows = session.execute(query.order_by(VideoDetection.detected_at.desc(), VideoDetection.id.desc())
                           .limit(limit).offset(offset)).all()
    return [(row[0], row[1]) for row in rows]
