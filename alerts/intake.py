"""Readings sent by a signed-in client (``POST /api/v1/readings``): the one door that checks the
permission, stores the batch through ``alerts.ingest`` and writes the audit row of who sent how many.
The scheduler, the simulator and MQTT ingest as the system and call ``alerts.ingest`` directly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from alerts.ingest import IngestResult, ingest_readings
from data.audit import write_audit
from domain.permissions import Permission, require


class Actor(Protocol):
    """Who sends the readings: a ``data.models.User`` or the web layer's signed-in user."""

    id: int
    role: str


def ingest_from(session: Session, actor: Actor, rows: Sequence[object]) -> IngestResult:
    """Store ``rows`` sent by ``actor`` (``Permission.READING_INGEST``); audited as ``readings.ingest`` with
    the counts when anything was stored."""
    require(actor.role, Permission.READING_INGEST)
    result = ingest_readings(session, rows)
    if result.accepted:
        write_audit(session, actor.id, "readings.ingest", "readings",
                    detail={"accepted": result.accepted, "duplicates": result.duplicates,
                            "rejected": len(result.rejected)})
    return result
