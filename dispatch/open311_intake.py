"""An Open311 service request filed by a client system: the one door that turns it into an incident — the
incident itself through ``dispatch.service.create_incident``, the citizen's description published as it
was written, and the audit row naming the client."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from data.audit import write_audit
from data.models import Incident
from dispatch.service import Caller, create_incident


@dataclass(frozen=True)
class Open311Request:
    """A checked Open311 POST: the service (category), what and where, and who called."""

    client: str
    category_code: str
    title: str
    description: str | None
    lon: float | None
    lat: float | None
    address: str | None
    severity: str
    caller: Caller


def file_open311_request(session: Session, command: Open311Request) -> Incident:
    """File ``command`` as an incident of source ``open311`` (no signed-in actor: the client is named in
    the audit row); ``InvalidInput`` when the incident service refuses it."""
    incident = create_incident(
        session, category_code=command.category_code, source="open311", title=command.title,
        description=command.description, lon=command.lon, lat=command.lat, address=command.address,
        actor=None, severity=command.severity, caller=command.caller, inside_city=True,
    )
    incident.public_description = command.description  # the citizen wrote it to be published
    write_audit(session, None, "open311.request", f"incident:{incident.code}",
                detail={"open311_client": command.client})
    return incident
