"""Snapshots of a playing camera (issue 19 §4), the one door for them: the frame a browser grabbed from a wall
cell is checked (``dispatch.photos.clean_photo``) and attached to an incident as a photo of kind ``snapshot``
(audited ``photo.snapshot``), or kept for an emergency event (events have no attachments: ``event_snapshots``
holds the file's names and a note in the event's timeline says which camera took it — its audit row is the
write's one). An unknown camera is a 404, an offline one a 409: its picture would not be live."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.audit import write_audit
from data.files import write_private
from data.models import Attachment, Camera, Incident
from data.video_models import EventSnapshot
from dispatch import emergency, photos
from dispatch.service import Actor, InvalidInput, get_incident
from domain.errors import Conflict, DomainError, Forbidden, NotFound
from domain.permissions import Permission, require
from i18n import t


def playing_camera(session: Session, camera_code: str) -> Camera:
    """The camera ``camera_code`` if it is online; ``NotFound("camera_not_found")`` or
    ``Conflict("camera_offline")``."""
    camera = session.scalar(select(Camera).where(Camera.code == camera_code))
    if camera is None:
        raise NotFound("camera_not_found", message=f"no camera {camera_code!r}")
    if camera.status != "online":
        raise Conflict("camera_offline", message=f"camera {camera_code} is offline: no live picture to take")
    return camera


def snapshot_to_incident(session: Session, actor: Actor, camera_code: str, incident_code: str, data: bytes,
                         *, folder: Path | None = None) -> Attachment:
    """Attach ``data`` (a JPEG/PNG/WebP frame of ``camera_code``) to incident ``incident_code`` as a snapshot.
    ``NotFound`` when the actor may not see the incident, ``photos.PhotoRejected`` for a bad image."""
    require(actor.role, Permission.PHOTO_UPLOAD)
    camera = playing_camera(session, camera_code)
    incident_id = session.scalar(select(Incident.id).where(Incident.code == incident_code.strip()))
    if incident_id is None:
        raise NotFound("incident_not_found", message=f"no incident {incident_code!r}")
    incident = get_incident(session, incident_id, user=actor)
    attachment = photos.store_photo(session, data, incident_id=incident.id, uploaded_by=actor.id,
                                    kind="snapshot", folder=folder)
    write_audit(session, actor.id, "photo.snapshot", f"incident:{incident.code}",
                detail={"attachment": attachment.id, "camera": camera.code})
    return attachment


_EVENT_ERRORS: dict[int, type[DomainError]] = {403: Forbidden, 404: NotFound, 409: Conflict}


def snapshot_to_event(session: Session, actor: Actor, camera_code: str, event_id: int, data: bytes,
                      *, folder: Path | None = None) -> EventSnapshot:
    """Keep ``data`` (a frame of ``camera_code``) as a snapshot of the active emergency event ``event_id``,
    with a note in its timeline. A closed or unknown event is refused as the event service refuses it."""
    require(actor.role, Permission.EVENT_WRITE)
    camera = playing_camera(session, camera_code)
    photo = photos.clean_photo(data)
    try:
        entry = emergency.add_note(session, actor, event_id, t("video2.snapshot_note", code=camera.code,
                                                                name=camera.name))
    except emergency.EmergencyError as exc:
        raise _EVENT_ERRORS.get(exc.status, InvalidInput)(exc.code, message=exc.message) from None
    folder = folder or photos.upload_dir()
    content_type, extension = photos.FORMATS[photo.format]
    token = secrets.token_hex(16)
    stored, thumb = f"events/{token[:2]}/{token}.{extension}", f"events/{token[:2]}/{token}.thumb.jpg"
    write_private(folder / stored, photo.content)
    write_private(folder / thumb, photo.thumbnail)
    snapshot = EventSnapshot(event_id=event_id, camera_id=camera.id, timeline_id=entry.id, stored_name=stored,
                             thumb_name=thumb, content_type=content_type, size=len(photo.content),
                             width=photo.width, height=photo.height, taken_by=actor.id)
    session.add(snapshot)
    session.flush()
    entry.data = {"snapshot": snapshot.id, "camera": camera.code}
    session.flush()
    return snapshot


def event_snapshot_file(snapshot: EventSnapshot, *, thumbnail: bool = False, folder: Path | None = None) -> Path:
    """Where the stored file (or thumbnail) of an event snapshot is; never outside the upload folder."""
    folder = (folder or photos.upload_dir()).resolve()
    path = (folder / (snapshot.thumb_name if thumbnail else snapshot.stored_name)).resolve()
    if folder not in path.parents:
        raise InvalidInput("invalid_attachment", "snapshot path outside the upload folder")
    return path
