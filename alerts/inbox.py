"""The operator's alert inbox (告警研判): the open alerts — pending and firing — newest first, filtered by
level, sensor family and area (with the alerts nobody heard: fired while the offline inhibition muted
them, ended, and still without an incident or acknowledgement once their sensor is back — DESIGN §5),
and what an operator does with one: acknowledge it, silence its sensor for
a while, or turn it into an incident (``alerts.triage``). Reads and writes take the caller's session."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from alerts.silences import INHIBITED, OFFLINE, SILENCE, add_silence
from data.areas import grids_under
from data.audit import write_audit
from data.models import Alert, Grid, Incident, Rule, Sensor, Silence, utcnow
from domain.permissions import Permission, require
from domain.states import OPEN_ALERT_STATES

#: How long "silence this sensor" lasts when the operator does not say.
DEFAULT_SILENCE_MINUTES = 60
INBOX_LIMIT = 100


class InboxError(ValueError):
    """An inbox action that cannot be done; ``code`` is a translatable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class InboxRow:
    """One open alert as the inbox lists it."""

    id: int
    level: str
    state: str
    rule_id: str
    rule_zh: str
    rule_en: str
    sensor_id: str
    sensor_name: str
    family: str
    unit: str | None
    value: float | None
    started_at: datetime
    fired_at: datetime | None
    acked: bool
    muted: str | None
    exercise: bool
    grid_code: str | None
    incident_id: int | None
    incident_code: str | None


def open_alerts(
    session: Session,
    *,
    levels: Collection[str] = (),
    families: Collection[str] = (),
    area_id: int | None = None,
    limit: int = INBOX_LIMIT,
) -> list[InboxRow]:
    """The open alerts — and the unheard ones of the module docstring — matching every filter given (an empty
    filter matches all), newest first."""
    query = (
        select(Alert, Sensor.name, Sensor.family, Sensor.unit, Grid.code, Rule.body, Incident.code)
        .join(Sensor, Sensor.id == Alert.sensor_id)
        .outerjoin(Grid, Grid.id == Sensor.grid_id)
        .outerjoin(Rule, Rule.id == Alert.rule_id)
        .outerjoin(Incident, Incident.id == Alert.incident_id)
        .where(or_(Alert.state.in_(OPEN_ALERT_STATES), unheard()))
        .order_by(Alert.started_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    if levels:
        query = query.where(Alert.level.in_(list(levels)))
    if families:
        query = query.where(Sensor.family.in_(list(families)))
    if area_id is not None:
        query = query.where(Sensor.grid_id.in_(grids_under(area_id)))
    rows = []
    for alert, sensor_name, family, unit, grid_code, body, incident_code in session.execute(query):
        name = (body or {}).get("name") or {}
        rows.append(InboxRow(
            alert.id, alert.level, alert.state, alert.rule_id, name.get("zh", alert.rule_id),
            name.get("en", alert.rule_id), alert.sensor_id, sensor_name, family, unit, alert.value,
            alert.started_at, alert.fired_at, alert.acked_at is not None, alert.muted, bool(alert.exercise),
            grid_code, alert.incident_id, incident_code,
        ))
    return rows


def unheard() -> ColumnElement[bool]:
    """Alerts that fired while inhibition muted them (their sensor was offline), have ended, and have neither
    an incident nor an acknowledgement, whose sensor is back: still news for an operator (triage or ack)."""
    return and_(
        Alert.state == "resolved", Alert.muted == INHIBITED, Alert.fired_at.is_not(None),
        Alert.incident_id.is_(None), Alert.acked_at.is_(None), Sensor.status != OFFLINE,
    )


def _alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise InboxError("alert_not_found", f"no alert {alert_id}")
    return alert


def acknowledge(session: Session, alert_id: int, user_id: int, now: datetime) -> tuple[Alert, bool]:
    """Acknowledge an alert (it stays listed and keeps its state); returns it and whether this call
    acknowledged it (False when it already was)."""
    alert = _alert(session, alert_id)
    if alert.acked_at is not None:
        return alert, False
    alert.acked_at, alert.acked_by = now, user_id
    return alert, True


def ack_alert(session: Session, actor: Any, alert_id: int, now: datetime | None = None) -> tuple[Alert, bool]:
    """The one door of "acknowledge an alert" (API and pages): ``alert.ack`` permission (``Forbidden``), the
    acknowledgement and its audit row ``alert.ack``; returns the alert and whether this call acknowledged it
    (a second acknowledgement changes nothing and writes no row). ``InboxError`` for no such alert."""
    require(getattr(actor, "role", None), Permission.ALERT_ACK)
    now = now or utcnow()
    alert, acked_now = acknowledge(session, alert_id, actor.id, now)
    if acked_now:
        write_audit(session, actor, "alert.ack", f"alert:{alert_id}", at=now)
    return alert, acked_now


def silence_sensor(session: Session, actor: Any, alert_id: int, now: datetime,
                   minutes: int = DEFAULT_SILENCE_MINUTES) -> Silence:
    """``actor`` silences the alerts of this alert's sensor from now for ``minutes`` (the alert is muted, not
    lost), through the one door for silences (permission, audit row)."""
    alert = _alert(session, alert_id)
    if alert.state not in OPEN_ALERT_STATES:
        raise InboxError("alert_not_open", f"alert {alert_id} is {alert.state}")
    return add_silence(session, actor, kind=SILENCE, sensor_id=alert.sensor_id, starts_at=now,
                       ends_at=now + timedelta(minutes=minutes), reason=f"alert {alert_id}", now=now)
