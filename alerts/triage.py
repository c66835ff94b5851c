"""Alert → incident: file the incident of an alert, automatically (rules that say so) or by operator triage.

The incident takes the rule's category, the sensor's point (so routing gives it the sensor's grid, its
worker and the category's department) and the alert's exercise mark; the alert links it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.ports import desk
from alerts.rules_schema import RuleSpec, RuleValidationError, validate_rule
from data.audit import write_audit
from data.models import Alert, Incident, IncidentState, Rule, Sensor, User
from domain.errors import DomainError, Invalid
from domain.permissions import Permission, allowed
from settings import get_settings

#: Incident states after which a new alert opens a new case.
CLOSED_STATES = (IncidentState.CLOSED.value, IncidentState.REJECTED.value)


class TriageError(ValueError):
    """An alert that cannot be turned into an incident; ``code`` is the API error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def file_incident(
    session: Session,
    alert: Alert,
    rule: RuleSpec | None,
    *,
    auto_file: bool,
    category: str | None = None,
    actor: User | None = None,
) -> tuple[Incident, bool] | None:
    """Link ``alert`` to its incident: the open one of the same sensor and category if there is one (a
    burst main raises a pressure and a flow alert: one case), else a new one; returns (incident,
    created). None when the sensor is gone; raises ``domain.errors.DomainError`` for a bad category.
    """
    sensor = session.get(Sensor, alert.sensor_id)
    if sensor is None:
        return None
    category = category or (rule.incident.category if rule is not None and rule.incident else None)
    if category is None:
        raise Invalid("missing_category", message="the rule names no incident category; give one")
    open_case = session.scalar(
        select(Incident)
        .join(Alert, Alert.incident_id == Incident.id)
        .where(
            Alert.sensor_id == sensor.id,
            Incident.category_code == category,
            Incident.exercise.is_(bool(alert.exercise)),
            Incident.state.not_in(CLOSED_STATES),
        )
        .order_by(Incident.id.desc())
        .limit(1)
    )
    if open_case is not None:
        alert.incident_id = open_case.id
        return open_case, False
    name = alert.rule_id if rule is None else getattr(rule.name, get_settings().lang)
    reading = "" if alert.value is None else f" {alert.value:g} {sensor.unit}"
    incident = desk().open_incident(
        session,
        category_code=category,
        source="alert",
        title=f"{name} · {sensor.name}",
        # The peak, not the last level: an alert filed after it resolved (it fired while inhibited) was red.
        description=f"{alert.rule_id} {alert.peak_level or alert.level}{reading} @ {sensor.id}",
        lon=sensor.lon,
        lat=sensor.lat,
        reported_at=alert.fired_at or alert.started_at,
        actor=actor,
        auto_file=auto_file,
        exercise=bool(alert.exercise),
        alert=alert,  # issue 17 §2: the linkage rules match the alert's rule, sensor family and level
    )
    alert.incident_id = incident.id
    return incident, True


def triage_alert(
    session: Session, alert_id: int, *, actor: User | None = None, category: str | None = None
) -> tuple[Alert, Incident]:
    """An operator turns an alert into an incident (研判 → 上报); it is reported, not yet filed.

    Raises TriageError: 403 for a role without ``alert.triage``, 404 for no such alert, 409 when it has an
    incident already or never fired, 422 for a category that is unknown or missing.
    """
    if actor is not None and not allowed(actor.role, Permission.ALERT_TRIAGE):
        raise TriageError(403, "forbidden_action", f"role {actor.role!r} may not triage alerts")
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise TriageError(404, "alert_not_found", f"no alert {alert_id}")
    if alert.incident_id is not None:
        raise TriageError(409, "alert_has_incident", f"alert {alert_id} has incident {alert.incident_id}")
    if alert.fired_at is None:
        raise TriageError(409, "alert_not_fired", f"alert {alert_id} is pending: it has not fired")
    stored = session.get(Rule, alert.rule_id)
    rule = None
    if stored is not None:
        try:
            rule = validate_rule(stored.body)
        except RuleValidationError:
            rule = None
    try:
        filed = file_incident(session, alert, rule, auto_file=False, category=category, actor=actor)
    except DomainError as exc:
        raise TriageError(422, exc.code, str(exc)) from None
    if filed is None:
        raise TriageError(409, "sensor_gone", f"the sensor of alert {alert_id} no longer exists")
    write_audit(session, actor, "alert.triage", f"alert:{alert_id}", detail={"incident": filed[0].code})
    return alert, filed[0]
