"""Photos added to an incident by a signed-in user (the API's photo upload, the worker's action and patrol
report): the one door that checks the permission and that the user may see the incident, stores the
photo through ``dispatch.photos`` and writes the audit row."""

from __future__ import annotations

from sqlalchemy.orm import Session

from data.audit import write_audit
from data.models import Attachment
from dispatch import photos
from dispatch.service import Actor, get_incident
from domain.permissions import Permission, require


def upload_photo(session: Session, actor: Actor, incident_id: int, data: bytes, *,
                 history_id: int | None = None) -> Attachment:
    """Store ``data`` as a photo of incident ``incident_id`` (``NotFound`` when ``actor`` may not see it,
    ``photos.PhotoRejected`` for a bad image), tied to history row ``history_id`` when given; audited as
    ``photo.upload`` on the incident."""
    require(actor.role, Permission.PHOTO_UPLOAD)
    incident = get_incident(session, incident_id, user=actor)
    attachment = photos.store_photo(session, data, incident_id=incident_id, uploaded_by=actor.id)
    if history_id is not None:
        attachment.history_id = history_id
    write_audit(session, actor.id, "photo.upload", f"incident:{incident.code}", detail={"attachment": attachment.id})
    return attachment
