"""Registering a sensor: the one door the API (and any page) uses to add one — refuses a duplicate id,
checks the permission, stores it in the unit grid it was routed to and writes the audit row."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from alerts.queries import sensor_exists
from data.audit import write_audit
from data.models import Sensor
from domain.permissions import Permission, require


class Actor(Protocol):
    """Who registers the sensor: a ``data.models.User`` or the web layer's signed-in user."""

    id: int
    role: str


class SensorExists(ValueError):
    """A sensor with this id is registered already (``code`` is the API's error code)."""

    code = "sensor_exists"


def register_sensor(session: Session, actor: Actor, fields: dict[str, Any], grid_id: int | None) -> Sensor:
    """Add the sensor described by ``fields`` (the Sensor columns) in unit grid ``grid_id``, audited as
    ``sensor.create`` by ``actor`` (who must hold ``Permission.SENSOR_WRITE``)."""
    require(actor.role, Permission.SENSOR_WRITE)
    if sensor_exists(session, fields["id"]):
        raise SensorExists(f"sensor {fields['id']!r} exists already")
    sensor = Sensor(**fields, grid_id=grid_id)
    session.add(sensor)
    session.flush()
    write_audit(session, actor.id, "sensor.create", f"sensor:{sensor.id}")
    return sensor
