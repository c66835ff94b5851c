"""Video AI detections (算法模型): a camera's detection of waterlogging, a construction-site safety hazard or
river litter becomes an incident of source ``video`` at the camera's location, with its snapshot."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models import Camera, Category, Incident
from dispatch import photos
from dispatch.service import Actor, InvalidInput, create_incident

#: Detection kind → incident category (data/catalog.py ``V`` codes).
DETECTION_CATEGORIES: dict[str, str] = {"waterlogging": "V01", "construction_safety": "V02", "river_litter": "V03"}


def report_detection(
    session: Session,
    *,
    camera_code: str,
    kind: str,
    detected_at: datetime | None = None,
    confidence: float | None = None,
    snapshot: bytes | None = None,
    actor: Actor | None = None,
    folder: Path | None = None,
) -> Incident:
    """Create the incident of one detection; the snapshot (JPEG/PNG/WebP) is checked and stored with it.

    A camera that lists its algorithms must list ``kind``; a camera that lists none accepts any.
    """
    category_code = DETECTION_CATEGORIES.get(kind)
    if category_code is None:
        raise InvalidInput("unknown_detection", f"kind must be one of {', '.join(DETECTION_CATEGORIES)}")
    camera = session.scalar(select(Camera).where(Camera.code == camera_code))
    if camera is None:
        raise InvalidInput("unknown_camera", f"no camera {camera_code!r}")
    if camera.algorithms and kind not in camera.algorithms:
        raise InvalidInput("algorithm_not_enabled", f"camera {camera_code} does not run {kind}")
    if confidence is not None and not 0 <= confidence <= 1:
        raise InvalidInput("invalid_confidence", "confidence must lie between 0 and 1")
    if snapshot is not None:
        photos.clean_photo(snapshot)  # refuse a bad snapshot before anything is written
    category = session.get(Category, category_code)
    name = category.name_zh if category is not None else kind
    score = f" {confidence:.0%}" if confidence is not None else ""
    incident = create_incident(
        session, category_code=category_code, source="video", title=f"{name}（{camera.name}）",
        description=f"{camera.code} {kind}{score}", lon=camera.lon, lat=camera.lat, reported_at=detected_at,
        actor=actor,
    )
    if snapshot is not None:
        photos.store_photo(session, snapshot, incident_id=incident.id, uploaded_by=actor.id if actor else None,
                           kind="snapshot", folder=folder)
    return incident
