"""Emergency events (突发事件, issue 18 §2, §4, §5): open an event from an alert, an incident or by hand;
activate a plan at a response level; raise, lower and end the level; link incidents and alerts; the event's
timeline and KPIs; resources nearest to a point, assigned to an event's task and released; the drill report.

Activating a plan at a level (or moving to another level) turns each task of that level into an incident of
the event (source ``operator``, category of the plan, ``exercise`` as the event), dispatched to the lead
department with the assisting departments' joint tasks (``dispatch.joint.assign``); a task already open at
another level is re-assigned to the new level's departments and deadline, and a task the new level does not
have is stood down (a comment on its incident). Each level change queues the notifications of the level in
the outbox in the same transaction. An event keeps the plan version it was activated under.

Every write is one function ``(session, actor, ...) → result`` that checks the role, writes the event's
timeline and an audit row, and flushes (the caller's unit of work commits); ``actor`` None is the system (the
live evaluation, ``dispatch.emergency_live``). The writes that change the event's state (activate, level,
under control, close, assign and release resources) compare-and-set its ``version``: a caller names the version
it showed (None: the one just read) and a stale one is refused (409 ``stale_version``) with nothing changed;
notes and links only append, so they take no version. Refusals are ``EmergencyError`` with an HTTP-like status.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, and_, func, literal_column, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from data.audit import write_audit
from data.emergency_models import EmergencyEvent, EventAlert, EventIncident, EventTimeline, ResourceAssignment
from data.joint_models import TASK_RESOLVED, JointTask
from data.models import (
    Alert,
    Camera,
    Department,
    Incident,
    KeyPlace,
    Resource,
    Role,
    Sensor,
    User,
    utcnow,
)
from data.spatial import switched_on as postgis_switched_on
from dispatch import duty, joint, outbox, service
from dispatch import emergency_plans as plans
from dispatch.emergency_plans import (
    LEVEL_COLOUR,
    LEVEL_RANK,
    AlertCondition,
    AlertsClearCondition,
    IncidentsCondition,
    LevelSpec,
    PlanSpec,
)
from i18n import t
from settings import get_settings

WRITE_ROLES = (Role.ADMIN, Role.OPERATOR)
READ_ROLES = (Role.ADMIN, Role.OPERATOR, Role.LEADER)
ACTIVE, CLOSED = "active", "closed"
STATES = (ACTIVE, CLOSED)
CODE_PREFIX = "YJ"
TITLE_MAX = 255
NOTE_MAX = 2000
RADIUS_MAX_M = 100_000.0
#: Alert levels from the lowest (the alert engine's four colours).
ALERT_RANK = {"blue": 0, "yellow": 1, "orange": 2, "red": 3}
SOURCE = "operator"
NEAREST_MAX = 50


@dataclass(frozen=True)
class SystemActor:
    """The system as the actor of an automatic write (the live evaluation): no user, the rights of an admin
    for the incident actions it takes (dispatching the plan's tasks); its timeline and audit rows name no user."""

    id: None = None
    role: str = Role.ADMIN
    grid_id: None = None
    department_id: None = None
    area_code: None = None


SYSTEM = SystemActor()


class EmergencyError(ValueError):
    """A refused emergency write or read: HTTP-like ``status``, a machine ``code`` and an English message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --- helpers ------------------------------------------------------------------------------------


def _require(actor: Any, roles: Sequence[str], what: str) -> None:
    if actor is not None and actor.role not in roles:
        raise EmergencyError(403, "forbidden", f"a {actor.role} may not {what}")


def _note(note: str | None, *, required: bool = False, what: str = "reason") -> str | None:
    note = (note or "").strip() or None
    if required and note is None:
        raise EmergencyError(422, f"{what}_required", f"{what} is required")
    if note is not None and len(note) > NOTE_MAX:
        raise EmergencyError(422, f"{what}_too_long", f"{what}: at most {NOTE_MAX} characters")
    return note


def _actor_id(actor: Any) -> int | None:
    return getattr(actor, "id", None)


def _timeline(session: Session, event: EmergencyEvent, kind: str, *, actor: Any, now: datetime,
              note: str | None = None, level_from: str | None = None, level_to: str | None = None,
              data: dict[str, Any] | None = None) -> EventTimeline:
    """Write one timeline entry of ``event`` and its audit row."""
    entry = EventTimeline(event_id=event.id, at=now, kind=kind, actor_id=_actor_id(actor), note=note,
                          level_from=level_from, level_to=level_to, data=data or None)
    session.add(entry)
    detail = {"level_from": level_from, "level_to": level_to, "note": note, **(data or {})}
    write_audit(session, _actor_id(actor), f"event.{kind}", f"event:{event.code}", at=now,
                detail={k: v for k, v in detail.items() if v is not None})
    session.flush()
    return entry


def get_event(session: Session, event_id: int) -> EmergencyEvent:
    """The event ``event_id``; EmergencyError 404 when there is none."""
    event = session.get(EmergencyEvent, event_id)
    if event is None:
        raise EmergencyError(404, "event_not_found", f"no event {event_id}")
    return event


def _active(session: Session, event_id: int) -> EmergencyEvent:
    event = get_event(session, event_id)
    if event.state != ACTIVE:
        raise EmergencyError(409, "event_closed", f"event {event.code} is closed")
    return event


def _stale(event: EmergencyEvent, seen: int) -> EmergencyError:
    return EmergencyError(409, "stale_version", f"event {event.code} is at version {event.version}, not {seen}; "
                                                "reload it")


def _check_version(event: EmergencyEvent, version: int | None) -> None:
    """Refuse at once a write that names a version older than the one just read (before any work is done)."""
    if version is not None and version != event.version:
        raise _stale(event, version)


def _claim(session: Session, event: EmergencyEvent, version: int | None) -> None:
    """Compare-and-set the event's version in the database (``version`` None: the one read in this unit of
    work), so of two concurrent writes from the same version one wins and the other is refused (409)."""
    seen = event.version if version is None else version
    result = session.execute(update(EmergencyEvent).where(EmergencyEvent.id == event.id,
                                                          EmergencyEvent.version == seen)
                             .values(version=seen + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        session.expire(event, ["version"])
        raise _stale(event, seen)
    set_committed_value(event, "version", seen + 1)


def _check_point(lon: Any, lat: Any) -> tuple[float, float]:
    try:
        lon_f, lat_f = float(lon), float(lat)
    except (TypeError, ValueError):
        raise EmergencyError(422, "invalid_location", "lon and lat are required numbers") from None
    if not (math.isfinite(lon_f) and math.isfinite(lat_f) and -180 <= lon_f <= 180 and -90 <= lat_f <= 90):
        raise EmergencyError(422, "invalid_location", f"({lon}, {lat}) is not a WGS-84 longitude/latitude")
    return lon_f, lat_f


def event_plan(session: Session, event: EmergencyEvent) -> PlanSpec | None:
    """The plan version the event was activated under (None before activation)."""
    if event.plan_id is None or event.plan_version is None:
        return None
    row = plans.get_version(session, event.plan_id, event.plan_version)
    return plans.spec_of(row) if row is not None else None


# --- opening and linking ------------------------------------------------------------------------


def open_event(session: Session, actor: Any, *, title: str, scenario: str, lon: float | None = None,
               lat: float | None = None, radius_m: float | None = None, alert_id: int | None = None,
               incident_id: int | None = None, exercise: bool = False,
               now: datetime | None = None) -> EmergencyEvent:
    """Open an event by hand (``lon``/``lat``), from an alert (its sensor's place) or from an incident."""
    _require(actor, WRITE_ROLES, "open events")
    now = now or utcnow()
    title = (title or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise EmergencyError(422, "invalid_title", f"a title of 1 to {TITLE_MAX} characters is required")
    scenario = (scenario or "").strip()
    if not scenario or len(scenario) > 64:
        raise EmergencyError(422, "invalid_scenario", "a scenario of 1 to 64 characters is required")
    alert = incident = None
    if alert_id is not None:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise EmergencyError(404, "alert_not_found", f"no alert {alert_id}")
        sensor = session.get(Sensor, alert.sensor_id)
        lon, lat = (sensor.lon, sensor.lat) if lon is None and sensor is not None else (lon, lat)
    if incident_id is not None:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise EmergencyError(404, "incident_not_found", f"no incident {incident_id}")
        lon, lat = (incident.lon, incident.lat) if lon is None else (lon, lat)
    lon_f, lat_f = _check_point(lon, lat)
    radius = float(radius_m) if radius_m is not None else 2000.0
    if not (math.isfinite(radius) and 0 < radius <= RADIUS_MAX_M):
        raise EmergencyError(422, "invalid_radius", f"radius_m must be in (0, {RADIUS_MAX_M:.0f}]")
    event = EmergencyEvent(code=f"tmp-{uuid.uuid4().hex}", title=title, scenario=scenario, state=ACTIVE,
                           exercise=bool(exercise), lon=lon_f, lat=lat_f, radius_m=radius, opened_at=now,
                           opened_by=_actor_id(actor))
    session.add(event)
    session.flush()
    local = now.astimezone(get_settings().zone)
    event.code = f"{CODE_PREFIX}{local:%Y%m%d}-{event.id:04d}"
    origin = {"alert_id": alert_id, "incident_id": incident_id, "exercise": bool(exercise)}
    _timeline(session, event, "open", actor=actor, now=now, note=title,
              data={k: v for k, v in origin.items() if v is not None})
    if alert is not None:
        _link_alert(session, event, alert, actor=actor, now=now)
    if incident is not None:
        _link_incident(session, event, incident, actor=actor, now=now)
    return event


def _link_alert(session: Session, event: EmergencyEvent, alert: Alert, *, actor: Any, now: datetime) -> None:
    if session.get(EventAlert, (event.id, alert.id)) is not None:
        return
    session.add(EventAlert(event_id=event.id, alert_id=alert.id, added_at=now))
    fired = alert.fired_at or alert.started_at
    if fired is not None and (event.first_alert_at is None or fired < event.first_alert_at):
        event.first_alert_at = fired
    _timeline(session, event, "alert", actor=actor, now=now,
              data={"alert_id": alert.id, "rule": alert.rule_id, "sensor": alert.sensor_id, "level": alert.level})


def _link_incident(session: Session, event: EmergencyEvent, incident: Incident, *, actor: Any, now: datetime,
                   level: str | None = None, task_key: str | None = None) -> None:
    owner = session.scalar(select(EventIncident).where(EventIncident.incident_id == incident.id))
    if owner is not None:
        if owner.event_id == event.id:
            return
        raise EmergencyError(409, "incident_in_other_event", f"incident {incident.code} belongs to another event")
    session.add(EventIncident(event_id=event.id, incident_id=incident.id, level=level, task_key=task_key,
                              added_at=now))
    _timeline(session, event, "incident", actor=actor, now=now, level_to=level,
              data={"incident_id": incident.id, "code": incident.code, **({"task": task_key} if task_key else {})})


def link_alert(session: Session, actor: Any, event_id: int, alert_id: int,
               now: datetime | None = None) -> EmergencyEvent:
    """Add an alert to an event (the earliest alert starts the KPI clock)."""
    _require(actor, WRITE_ROLES, "change events")
    event = _active(session, event_id)
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise EmergencyError(404, "alert_not_found", f"no alert {alert_id}")
    _link_alert(session, event, alert, actor=actor, now=now or utcnow())
    return event


def link_incident(session: Session, actor: Any, event_id: int, incident_id: int,
                  now: datetime | None = None) -> EmergencyEvent:
    """Add an incident to an event (an incident belongs to one event at most: 409 otherwise)."""
    _require(actor, WRITE_ROLES, "change events")
    event = _active(session, event_id)
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise EmergencyError(404, "incident_not_found", f"no incident {incident_id}")
    _link_incident(session, event, incident, actor=actor, now=now or utcnow())
    return event


# --- levels -------------------------------------------------------------------------------------


def _task_incidents(session: Session, event: EmergencyEvent) -> dict[str, Incident]:
    """The incidents of the event's plan tasks still being worked (filed, dispatched, in progress) by task key;
    a task resolved before a level change is done, and the new level's task of that key is a new incident."""
    rows = session.execute(select(EventIncident.task_key, Incident).join(
        Incident, Incident.id == EventIncident.incident_id).where(
        EventIncident.event_id == event.id, EventIncident.task_key.is_not(None),
        Incident.state.in_(joint.ASSIGNABLE_STATES)).order_by(Incident.id))
    return {key: incident for key, incident in rows}


def _level_text(spec: PlanSpec, level: LevelSpec, lang: str) -> tuple[str, str]:
    return getattr(spec.name, lang), getattr(level.public_message, lang)


def _notify(session: Session, event: EmergencyEvent, spec: PlanSpec, level: LevelSpec, entry: EventTimeline) -> int:
    """Queue the notifications of ``level`` (every task department, and the plan's ``notify`` list)."""
    lang = get_settings().lang
    plan_name, message = _level_text(spec, level, lang)
    exercise = t("emergency.exercise_tag", lang) if event.exercise else ""
    title = t("emergency.notify.title", lang, exercise=exercise, code=event.code, level=level.level, plan=plan_name)
    body = t("emergency.notify.body", lang, title=event.title, level=level.level, message=message)
    departments = list(dict.fromkeys([code for task in level.tasks for code in (task.lead, *task.assisting)]
                                     + [n.department for n in level.notify if n.department]))
    ids = dict(session.execute(select(Department.code, Department.id).where(Department.code.in_(departments))).all())
    queued = 0
    for code in departments:
        queued += outbox.enqueue(session, outbox.Event(
            key=f"event:{event.id}/entry:{entry.id}/department:{code}", kind="emergency", title=title, body=body,
            department_id=ids.get(code), level=LEVEL_COLOUR[level.level]))
    for notify in level.notify:
        if notify.duty_post:
            queued += outbox.enqueue(session, outbox.Event(
                key=f"event:{event.id}/entry:{entry.id}/post:{notify.duty_post}", kind="emergency", title=title,
                body=body, duty_post=notify.duty_post, level=LEVEL_COLOUR[level.level]))
    return queued


def _task_title(event: EmergencyEvent, task_title: str) -> str:
    return f"[{event.code}] {task_title}"[:service.TITLE_MAX]


def _apply_level(session: Session, actor: Any, event: EmergencyEvent, spec: PlanSpec, level: LevelSpec,
                 now: datetime) -> dict[str, list[str]]:
    """Make the event's tasks those of ``level``: create, re-assign, stand down. Returns the task keys of each."""
    lang = get_settings().lang
    doer = actor if actor is not None else SYSTEM
    open_tasks = _task_incidents(session, event)
    created, reassigned, stood_down = [], [], []
    for task in level.tasks:
        incident = open_tasks.get(task.key)
        if incident is None:
            incident = service.create_incident(
                session, category_code=spec.category, source=SOURCE,
                title=_task_title(event, getattr(task.title, lang)),
                lon=event.lon, lat=event.lat, reported_at=now, actor=actor, auto_file=True,
                exercise=event.exercise, check_duplicates=False,
                description=t("emergency.task_description", lang, code=event.code, level=level.level))
            service.apply_action(session, incident.id, "dispatch", version=incident.version, actor=doer,
                                 department_code=task.lead, note=event.code)
            _link_incident(session, event, incident, actor=actor, now=now, level=level.level, task_key=task.key)
            created.append(task.key)
        else:
            link = session.get(EventIncident, (event.id, incident.id))
            if link is not None:
                link.level = level.level
            reassigned.append(task.key)
        joint.assign(session, incident.id, lead=task.lead, assisting=list(task.assisting), actor=actor,
                     deadline_hours=task.deadline_hours)
    wanted = {task.key for task in level.tasks}
    for key, incident in open_tasks.items():
        if key not in wanted:
            service.apply_action(session, incident.id, "comment", version=incident.version, actor=doer,
                                 note=t("emergency.stood_down", lang, code=event.code, level=level.level))
            stood_down.append(key)
    return {"created": created, "reassigned": reassigned, "stood_down": stood_down}


def _joint_refusal(exc: Exception) -> EmergencyError:
    status = getattr(exc, "status", 422)
    return EmergencyError(status if status in (403, 404, 409, 422) else 422, getattr(exc, "code", "refused"),
                          getattr(exc, "message", str(exc)))


def activate(session: Session, actor: Any, event_id: int, *, plan_id: str, level: str, reason: str | None = None,
             now: datetime | None = None, version: int | None = None) -> EmergencyEvent:
    """Activate plan ``plan_id`` (its newest version, kept by the event) at ``level``: create the level's tasks,
    queue its notifications and start the clock."""
    _require(actor, WRITE_ROLES, "activate plans")
    now = now or utcnow()
    event = _active(session, event_id)
    _check_version(event, version)
    if event.activated_at is not None:
        raise EmergencyError(409, "already_activated", f"event {event.code} already runs plan {event.plan_id}; "
                                                       "raise or lower its level instead")
    row = plans.latest(session, plan_id)
    if row is None:
        raise EmergencyError(404, "plan_not_found", f"no plan {plan_id!r}")
    spec = plans.spec_of(row)
    level_spec = spec.level(level)
    if level_spec is None:
        raise EmergencyError(422, "unknown_level", f"plan {plan_id} has no level {level!r}; it has "
                                                   f"{', '.join(lv.level for lv in spec.levels)}")
    _claim(session, event, version)
    event.plan_id, event.plan_version, event.level, event.activated_at = spec.id, row.version, level, now
    event.calm_since = None
    try:
        outcome = _apply_level(session, actor, event, spec, level_spec, now)
    except (joint.JointError, service.ServiceError, service.ActionNotAllowed) as exc:
        raise _joint_refusal(exc) from exc
    entry = _timeline(session, event, "activate", actor=actor, now=now, note=_note(reason), level_to=level,
                      data={"plan": spec.id, "version": row.version, **outcome})
    _notify(session, event, spec, level_spec, entry)
    return event


def change_level(session: Session, actor: Any, event_id: int, *, level: str, reason: str | None = None,
                 now: datetime | None = None, version: int | None = None) -> EmergencyEvent:
    """Raise or lower the response level (who, when, why); skipping a level needs a reason."""
    _require(actor, WRITE_ROLES, "change response levels")
    now = now or utcnow()
    event = _active(session, event_id)
    _check_version(event, version)
    spec = event_plan(session, event)
    if spec is None or event.level is None:
        raise EmergencyError(409, "not_activated", f"event {event.code} has no plan activated yet")
    level_spec = spec.level(level)
    if level_spec is None:
        raise EmergencyError(422, "unknown_level", f"plan {spec.id} has no level {level!r}")
    if level == event.level:
        raise EmergencyError(409, "same_level", f"event {event.code} is already at level {level}")
    plan_levels = [lv.level for lv in spec.levels]
    step = plan_levels.index(level) - plan_levels.index(event.level)
    note = _note(reason, required=abs(step) > 1)
    kind = "raise" if LEVEL_RANK[level] > LEVEL_RANK[event.level] else "lower"
    previous = event.level
    _claim(session, event, version)
    event.level, event.calm_since = level, None
    try:
        outcome = _apply_level(session, actor, event, spec, level_spec, now)
    except (joint.JointError, service.ServiceError, service.ActionNotAllowed) as exc:
        raise _joint_refusal(exc) from exc
    entry = _timeline(session, event, kind, actor=actor, now=now, note=note, level_from=previous, level_to=level,
                      data={"skipped": abs(step) - 1, **outcome} if abs(step) > 1 else outcome)
    _notify(session, event, spec, level_spec, entry)
    return event


def mark_controlled(session: Session, actor: Any, event_id: int, note: str | None = None,
                    now: datetime | None = None, version: int | None = None) -> EmergencyEvent:
    """Record that the situation is under control (得到控制): the end of the ``to_control`` KPI."""
    _require(actor, WRITE_ROLES, "change events")
    now = now or utcnow()
    event = _active(session, event_id)
    _check_version(event, version)
    if event.controlled_at is not None:
        raise EmergencyError(409, "already_controlled", f"event {event.code} is already under control")
    note = _note(note, what="note")
    _claim(session, event, version)
    event.controlled_at = now
    _timeline(session, event, "controlled", actor=actor, now=now, note=note)
    return event


def add_note(session: Session, actor: Any, event_id: int, note: str, now: datetime | None = None) -> EventTimeline:
    """A free note in the event's timeline."""
    _require(actor, WRITE_ROLES, "write in events")
    event = _active(session, event_id)
    return _timeline(session, event, "note", actor=actor, now=now or utcnow(), note=_note(note, required=True,
                                                                                          what="note"))


def suggest_move(session: Session, event_id: int, *, move: str, level_to: str | None, note: str,
                 now: datetime | None = None) -> EventTimeline:
    """The system's suggestion to the commander (a move the plan wants confirmed): a timeline entry only."""
    event = _active(session, event_id)
    return _timeline(session, event, "suggest", actor=None, now=now or utcnow(), note=_note(note, what="note"),
                     level_from=event.level, level_to=level_to, data={"move": move})


def close_event(session: Session, actor: Any, event_id: int, *, reason: str,
                now: datetime | None = None, version: int | None = None) -> EmergencyEvent:
    """End the response (终止响应): the event is closed and every resource still assigned is released."""
    _require(actor, WRITE_ROLES, "end events")
    now = now or utcnow()
    event = _active(session, event_id)
    _check_version(event, version)
    note = _note(reason, required=True)
    _claim(session, event, version)
    released = 0
    for assignment in _open_assignments(session, event.id):
        _release(session, assignment, actor=actor, now=now)
        released += 1
    if event.controlled_at is None:
        event.controlled_at = now
    previous = event.level
    event.state, event.closed_at, event.calm_since = CLOSED, now, None
    _timeline(session, event, "close", actor=actor, now=now, note=note, level_from=previous,
              data={"released": released})
    return event


# --- conditions ---------------------------------------------------------------------------------


def _box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that holds the circle of ``radius_m`` around the point (a superset: filter exactly after)."""
    dlat = math.degrees(radius_m / service.EARTH_RADIUS_M)
    coslat = max(math.cos(math.radians(min(89.0, abs(lat) + dlat))), 1e-6)
    dlon = min(180.0, dlat / coslat)
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def _within(lon: float | None, lat: float | None, event: EmergencyEvent, radius_m: float) -> bool:
    return lon is not None and lat is not None and service.distance_m(event.lon, event.lat, lon, lat) <= radius_m


def _firing_sensors(session: Session, event: EmergencyEvent, rule: str, level: str, radius_m: float) -> set[str]:
    """The sensors within ``radius_m`` of the event with an alert of ``rule`` at ``level`` or above firing (real
    alerts for a real event, exercise ones for an exercise)."""
    x0, y0, x1, y1 = _box(event.lon, event.lat, radius_m)
    rows = session.execute(select(Alert.sensor_id, Alert.level, Sensor.lon, Sensor.lat).join(
        Sensor, Sensor.id == Alert.sensor_id).where(
        Alert.rule_id == rule, Alert.state == "firing", Alert.exercise.is_(event.exercise),
        Sensor.lon.between(x0, x1), Sensor.lat.between(y0, y1)))
    return {sensor for sensor, found, lon, lat in rows
            if ALERT_RANK.get(found, -1) >= ALERT_RANK[level] and _within(lon, lat, event, radius_m)}


def _condition_holds(session: Session, event: EmergencyEvent, condition: Any, radius_m: float, now: datetime) -> bool:
    if isinstance(condition, AlertCondition):
        return len(_firing_sensors(session, event, condition.rule, condition.level, radius_m)) >= condition.count
    if isinstance(condition, AlertsClearCondition):
        return not _firing_sensors(session, event, condition.rule, condition.level, radius_m)
    if isinstance(condition, IncidentsCondition):
        x0, y0, x1, y1 = _box(event.lon, event.lat, condition.radius_m)
        query = select(Incident.lon, Incident.lat).where(
            Incident.reported_at >= now - timedelta(hours=condition.within_hours), Incident.lon.between(x0, x1),
            Incident.lat.between(y0, y1), Incident.exercise.is_(event.exercise))
        if condition.category:
            query = query.where(Incident.category_code == condition.category)
        found = sum(1 for lon, lat in session.execute(query) if _within(lon, lat, event, condition.radius_m))
        return found >= condition.count
    return False  # manual: the commander decides


def holding_condition(session: Session, event: EmergencyEvent, conditions: Sequence[Any], radius_m: float,
                      now: datetime) -> Any | None:
    """The first of ``conditions`` that holds for the event now (manual ones never do), None when none does."""
    return next((c for c in conditions if _condition_holds(session, event, c, radius_m, now)), None)


def suggested(session: Session, event: EmergencyEvent, spec: PlanSpec,
              now: datetime | None = None) -> tuple[str, Any] | None:
    """The highest level of ``spec`` whose start conditions (any one, not manual) hold for the event now,
    or whose lower level's raise condition holds, with the condition that holds; None when none does."""
    now = now or utcnow()
    radius = event.radius_m or spec.radius_m
    best = None
    for index, level in enumerate(spec.levels):
        held = holding_condition(session, event, level.conditions.start, radius, now)
        if held is None and index > 0:
            held = holding_condition(session, event, spec.levels[index - 1].conditions.raise_, radius, now)
        if held is not None:
            best = (level.level, held)
    return best


def suggested_level(session: Session, event: EmergencyEvent, spec: PlanSpec, now: datetime | None = None) -> str | None:
    """The level of ``suggested`` alone."""
    found = suggested(session, event, spec, now)
    return found[0] if found is not None else None


# --- reads --------------------------------------------------------------------------------------


def list_events(session: Session, actor: Any, state: str | None = None, limit: int = 200) -> list[EmergencyEvent]:
    """The events, newest first (``state`` active or closed)."""
    _require(actor, READ_ROLES, "read events")
    if state is not None and state not in STATES:
        raise EmergencyError(422, "invalid_parameter", f"state must be one of {', '.join(STATES)}")
    query = select(EmergencyEvent).order_by(EmergencyEvent.opened_at.desc(), EmergencyEvent.id.desc()).limit(limit)
    if state is not None:
        query = query.where(EmergencyEvent.state == state)
    return list(session.scalars(query))


def incident_ids(session: Session, event_id: int) -> list[int]:
    return list(session.scalars(select(EventIncident.incident_id).where(EventIncident.event_id == event_id)
                                .order_by(EventIncident.incident_id)))


def alert_ids(session: Session, event_id: int) -> list[int]:
    return list(session.scalars(select(EventAlert.alert_id).where(EventAlert.event_id == event_id)
                                .order_by(EventAlert.alert_id)))


def event_tasks(session: Session, event_id: int) -> list[tuple[JointTask, EventIncident]]:
    """The joint tasks of the event's incidents, with each incident's link (level, task key)."""
    rows = session.execute(select(JointTask, EventIncident).join(
        EventIncident, EventIncident.incident_id == JointTask.incident_id).where(EventIncident.event_id == event_id)
        .order_by(JointTask.incident_id, JointTask.role != "lead", JointTask.id))
    return [(task, link) for task, link in rows]


def timeline(session: Session, event_id: int) -> list[EventTimeline]:
    return list(session.scalars(select(EventTimeline).where(EventTimeline.event_id == event_id)
                                .order_by(EventTimeline.at, EventTimeline.id)))


def _minutes(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds() / 60, 1)


def task_late(task: JointTask, now: datetime) -> bool:
    """A task resolved after its deadline, or still open past it."""
    if task.handle_deadline is None:
        return False
    done = task.resolved_at if task.state == TASK_RESOLVED else None
    return (done or now) > task.handle_deadline


def event_kpis(session: Session, event: EmergencyEvent, now: datetime | None = None) -> dict[str, Any]:
    """First alert (or opening) → activation, → first arrival (a department starts work), → control, in minutes;
    tasks done, done on time, late."""
    now = now or utcnow()
    start = event.first_alert_at or event.opened_at
    tasks = [task for task, _ in event_tasks(session, event.id)]
    arrivals = [task.started_at for task in tasks if task.started_at is not None]
    ids = incident_ids(session, event.id)
    if ids:
        arrivals += [a for a in session.scalars(select(Incident.started_at).where(
            Incident.id.in_(ids), Incident.started_at.is_not(None)))]
    done = [task for task in tasks if task.state == TASK_RESOLVED]
    return {
        "alert_to_activation_min": _minutes(event.activated_at, start),
        "to_first_arrival_min": _minutes(min(arrivals), start) if arrivals else None,
        "to_control_min": _minutes(event.controlled_at, start),
        "tasks": len(tasks),
        "tasks_done": len(done),
        "tasks_on_time": sum(1 for task in done if not task_late(task, now)),
        "tasks_late": sum(1 for task in tasks if task_late(task, now)),
    }


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    ids.discard(None)
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def event_to_dict(session: Session, event: EmergencyEvent, *, full: bool = True) -> dict[str, Any]:
    """The API representation of an event (DESIGN §4); ``full`` adds tasks, timeline, KPIs and resources."""
    iso = service.to_iso
    body: dict[str, Any] = {
        "id": event.id, "code": event.code, "title": event.title, "scenario": event.scenario, "level": event.level,
        "state": event.state, "version": event.version, "exercise": event.exercise, "plan_id": event.plan_id,
        "plan_version": event.plan_version, "opened_at": iso(event.opened_at), "closed_at": iso(event.closed_at),
        "activated_at": iso(event.activated_at), "controlled_at": iso(event.controlled_at),
        "first_alert_at": iso(event.first_alert_at), "lon": event.lon, "lat": event.lat,
        "radius_m": event.radius_m, "incident_ids": incident_ids(session, event.id),
    }
    if not full:
        return body
    entries = timeline(session, event.id)
    names = _names(session, {entry.actor_id for entry in entries})
    body["alert_ids"] = alert_ids(session, event.id)
    body["tasks"] = [{"id": task.id, "incident_id": task.incident_id, "department": task.department.code,
                      "role": task.role, "state": task.state, "deadline": iso(task.handle_deadline),
                      "level": link.level, "task": link.task_key, "started_at": iso(task.started_at),
                      "resolved_at": iso(task.resolved_at)} for task, link in event_tasks(session, event.id)]
    body["timeline"] = [{"at": iso(entry.at), "kind": entry.kind, "actor": names.get(entry.actor_id),
                         "level_from": entry.level_from, "level_to": entry.level_to, "note": entry.note,
                         "data": entry.data} for entry in entries]
    body["kpis"] = event_kpis(session, event)
    body["resources"] = [assignment_to_dict(session, a) for a in assignments(session, event.id)]
    return body


# --- resources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Nearby:
    """A resource and its great-circle distance (m) from the point asked about."""

    resource: Resource
    distance_m: float


#: The resource's point as a geography: the expression migration 0026 indexes (GiST) on PostgreSQL with PostGIS.
KNN_POINT = "(CAST(ST_SetSRID(ST_MakePoint(resources.lon, resources.lat), 4326) AS geography))"
#: The reach of the KNN search is widened by this share (and a centimetre) over our exact great-circle distance,
#: so PostGIS's sphere (radius 6,371,008.77 m, its own arithmetic) never leaves out a resource our distance keeps.
KNN_SLACK = 1e-6
_knn_ready: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()


def knn_available(session: Session) -> bool:
    """True on PostgreSQL whose search path names PostGIS's ``geography`` (looked for once per engine), unless
    ``CITYOPS_POSTGIS=0`` switches PostGIS off."""
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    if engine.dialect.name != "postgresql" or not postgis_switched_on():
        return False
    found = _knn_ready.get(engine)
    if found is None:
        found = _knn_ready[engine] = bool(session.scalar(text("SELECT to_regtype('geography') IS NOT NULL")))
    return found


def _ranked(rows: Sequence[Resource], lon: float, lat: float) -> list[Nearby]:
    return sorted((Nearby(r, service.distance_m(lon, lat, r.lon, r.lat)) for r in rows),
                  key=lambda near: (near.distance_m, near.resource.code))


def _nearest_by_box(session: Session, base: Any, lon: float, lat: float, n: int) -> list[Nearby]:
    """The portable search: a box around the point grows until it holds ``n`` candidates inside its inscribed
    circle (the ``(lon, lat)`` index finds them); all of them when there are fewer (counted only then)."""
    total: int | None = None
    radius = 2000.0
    while True:
        x0, y0, x1, y1 = _box(lon, lat, radius)
        found = _ranked(session.scalars(base.where(Resource.lon.between(x0, x1), Resource.lat.between(y0, y1))).all(),
                        lon, lat)
        inside = [near for near in found if near.distance_m <= radius]
        if len(inside) < n and total is None:
            total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        wanted = n if total is None else min(n, total)
        if len(inside) >= wanted or radius >= math.pi * service.EARTH_RADIUS_M:
            return (inside if len(inside) >= wanted else found)[:n]
        radius *= 4


def _nearest_by_knn(session: Session, base: Any, lon: float, lat: float, n: int) -> list[Nearby]:
    """PostGIS: rows in the GiST index's ``<->`` order (sphere distance), ``2n`` at first and twice as many until
    the last is beyond the reach — the farthest of the first ``n`` by our exact distance, a hair wider — so every
    resource our distance could rank among the ``n`` is in hand; they are ranked exactly as ``_nearest_by_box``
    ranks, so ties and rounding come out the same on every database."""
    origin = func.geography(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326))
    sphere = literal_column(KNN_POINT).op("<->")(origin)
    base = base.add_columns(sphere.label("sphere_m")).where(Resource.lon.is_not(None), Resource.lat.is_not(None))
    limit, reach = 2 * n, None
    while True:
        rows = session.execute(base.order_by(sphere).limit(limit)).all()
        if reach is None:
            nearest = _ranked([row[0] for row in rows[:n]], lon, lat)
            reach = nearest[-1].distance_m * (1 + KNN_SLACK) + 0.01 if nearest else 0.0
        if len(rows) < limit or rows[-1].sphere_m > reach:  # all there are, or all within the reach
            return _ranked([row[0] for row in rows], lon, lat)[:n]
        limit *= 2


def nearest_resources(session: Session, *, kind: str | None, lon: float, lat: float, n: int = 5,
                      available_only: bool = True) -> list[Nearby]:
    """The ``n`` resources (of ``kind``) nearest to the point by great-circle (road-free) distance, nearest
    first, ties by code: by KNN on PostgreSQL with PostGIS (``_nearest_by_knn``), by a growing box elsewhere
    (``_nearest_by_box``); both exact, so the answer is the same on every database."""
    lon, lat = _check_point(lon, lat)
    if not 1 <= n <= NEAREST_MAX:
        raise EmergencyError(422, "invalid_parameter", f"n must be between 1 and {NEAREST_MAX}")
    base = select(Resource)
    if kind:
        base = base.where(Resource.kind == kind)
    if available_only:
        base = base.where(Resource.status == "available")
    search = _nearest_by_knn if knn_available(session) else _nearest_by_box
    return search(session, base, lon, lat, n)


def _open_assignments(session: Session, event_id: int) -> list[ResourceAssignment]:
    return list(session.scalars(select(ResourceAssignment).where(
        ResourceAssignment.event_id == event_id, ResourceAssignment.released_at.is_(None))
        .order_by(ResourceAssignment.id)))


def assignments(session: Session, event_id: int) -> list[ResourceAssignment]:
    return list(session.scalars(select(ResourceAssignment).where(ResourceAssignment.event_id == event_id)
                                .order_by(ResourceAssignment.id)))


def assignment_to_dict(session: Session, row: ResourceAssignment) -> dict[str, Any]:
    resource = session.get(Resource, row.resource_id)
    return {"id": row.id, "resource": resource.code if resource else None,
            "name": resource.name if resource else None, "kind": resource.kind if resource else None,
            "task_id": row.task_id, "assigned_at": service.to_iso(row.assigned_at),
            "released_at": service.to_iso(row.released_at)}


def assign_resource(session: Session, actor: Any, event_id: int, *, resource_code: str, task_id: int,
                    now: datetime | None = None, version: int | None = None) -> ResourceAssignment:
    """Assign a resource to one of the event's department tasks; a resource already assigned is refused (409)."""
    _require(actor, WRITE_ROLES, "assign resources")
    now = now or utcnow()
    event = _active(session, event_id)
    _check_version(event, version)
    resource = session.scalar(select(Resource).where(Resource.code == resource_code))
    if resource is None:
        raise EmergencyError(404, "resource_not_found", f"no resource {resource_code!r}")
    task = session.scalar(select(JointTask).join(EventIncident, and_(
        EventIncident.incident_id == JointTask.incident_id, EventIncident.event_id == event.id))
        .where(JointTask.id == task_id))
    if task is None:
        raise EmergencyError(404, "task_not_found", f"event {event.code} has no task {task_id}")
    busy = session.scalar(select(ResourceAssignment).where(ResourceAssignment.resource_id == resource.id,
                                                           ResourceAssignment.released_at.is_(None)))
    if busy is not None:
        raise EmergencyError(409, "resource_busy", f"resource {resource.code} is already assigned "
                                                   f"(assignment {busy.id}); release it first")
    _claim(session, event, version)
    row = ResourceAssignment(resource_id=resource.id, event_id=event.id, task_id=task.id, assigned_at=now,
                             assigned_by=_actor_id(actor))
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # another request assigned it in the meantime (the partial unique index)
        raise EmergencyError(409, "resource_busy", f"resource {resource.code} is already assigned") from None
    resource.status = "deployed"
    _timeline(session, event, "resource_assign", actor=actor, now=now,
              data={"resource": resource.code, "task_id": task.id, "department": task.department.code})
    return row


def _release(session: Session, row: ResourceAssignment, *, actor: Any, now: datetime) -> None:
    row.released_at, row.released_by = now, _actor_id(actor)
    resource = session.get(Resource, row.resource_id)
    if resource is not None:
        resource.status = "available"
    event = session.get(EmergencyEvent, row.event_id)
    if event is not None:
        _timeline(session, event, "resource_release", actor=actor, now=now,
                  data={"resource": resource.code if resource else None, "task_id": row.task_id})


def release_resource(session: Session, actor: Any, event_id: int, assignment_id: int,
                     now: datetime | None = None, version: int | None = None) -> ResourceAssignment:
    """Release a resource from an event's task (it becomes available again)."""
    _require(actor, WRITE_ROLES, "release resources")
    row = session.get(ResourceAssignment, assignment_id)
    if row is None or row.event_id != event_id:
        raise EmergencyError(404, "assignment_not_found", f"event {event_id} has no assignment {assignment_id}")
    event = get_event(session, event_id)
    _check_version(event, version)
    if row.released_at is not None:
        raise EmergencyError(409, "already_released", f"assignment {assignment_id} was already released")
    _claim(session, event, version)
    _release(session, row, actor=actor, now=now or utcnow())
    return row


# --- drills -------------------------------------------------------------------------------------


def _plan_rules(spec: PlanSpec) -> set[str]:
    return {c.rule for level in spec.levels for phase in ("start", "raise_")
            for c in getattr(level.conditions, phase) if isinstance(c, AlertCondition)}


def latest_exercise_event(session: Session, plan_id: str, *, active: bool = False) -> EmergencyEvent | None:
    """The newest exercise event run under plan ``plan_id`` (still active, with ``active``)."""
    query = select(EmergencyEvent).where(EmergencyEvent.exercise.is_(True), EmergencyEvent.plan_id == plan_id)
    if active:
        query = query.where(EmergencyEvent.state == ACTIVE)
    return session.scalar(query.order_by(EmergencyEvent.id.desc()).limit(1))


def drill_step(session: Session, actor: Any, *, plan_id: str, title: str, now: datetime | None = None) -> str | None:
    """One step of a scenario drill (演练) driven by its exercise alerts: with no open exercise event of the plan,
    open one at the first firing exercise alert whose place meets a start condition and activate the plan at the
    level the conditions give; with one, link the plan's new exercise alerts in its area and raise the level when
    the conditions give a higher one. Returns what it did (``opened``, ``raised``) or None."""
    now = now or utcnow()
    row = plans.latest(session, plan_id)
    if row is None:
        raise EmergencyError(404, "plan_not_found", f"no plan {plan_id!r}")
    spec = plans.spec_of(row)
    rules = _plan_rules(spec)
    alerts = list(session.scalars(select(Alert).where(Alert.exercise.is_(True), Alert.state == "firing",
                                                      Alert.rule_id.in_(rules)).order_by(Alert.id)))
    event = latest_exercise_event(session, spec.id, active=True)
    if event is None:
        for alert in alerts:
            sensor = session.get(Sensor, alert.sensor_id)
            if sensor is None:
                continue
            probe = EmergencyEvent(lon=sensor.lon, lat=sensor.lat, radius_m=spec.radius_m, exercise=True)
            level = suggested_level(session, probe, spec, now)
            if level is not None:
                event = open_event(session, actor, title=title, scenario=spec.scenario, alert_id=alert.id,
                                   radius_m=spec.radius_m, exercise=True, now=now)
                activate(session, actor, event.id, plan_id=spec.id, level=level, now=now,
                         reason=f"drill: the plan's start conditions for level {level} hold")
                return "opened"
        return None
    linked = set(alert_ids(session, event.id))
    for alert in alerts:
        sensor = session.get(Sensor, alert.sensor_id)
        if alert.id not in linked and sensor is not None and _within(sensor.lon, sensor.lat, event, event.radius_m):
            _link_alert(session, event, alert, actor=actor, now=now)
    level = suggested_level(session, event, event_plan(session, event) or spec, now)
    if level is not None and event.level is not None and LEVEL_RANK[level] > LEVEL_RANK[event.level]:
        change_level(session, actor, event.id, level=level, now=now,
                     reason=f"drill: the plan's conditions for level {level} hold")
        return "raised"
    return None


def drill_report(session: Session, event_id: int, now: datetime | None = None) -> dict[str, Any]:
    """What happened when in an exercise (or any) event, and what was late: the timeline, the KPIs, and each
    department task past its deadline with how late (minutes)."""
    now = now or utcnow()
    event = get_event(session, event_id)
    late = []
    for task, link in event_tasks(session, event_id):
        if task_late(task, now):
            end = task.resolved_at if task.state == TASK_RESOLVED else now
            late.append({"task_id": task.id, "task": link.task_key, "level": link.level,
                         "department": task.department.code, "role": task.role, "state": task.state,
                         "deadline": service.to_iso(task.handle_deadline),
                         "late_min": _minutes(end, task.handle_deadline)})
    body = event_to_dict(session, event)
    return {"event": {k: body[k] for k in ("id", "code", "title", "scenario", "level", "state", "exercise",
                                           "plan_id", "plan_version", "opened_at", "closed_at")},
            "kpis": body["kpis"], "timeline": body["timeline"], "late": late}


# --- the command board --------------------------------------------------------------------------

#: At most this many open incidents of the area (besides the event's own) go on the board's map.
BOARD_INCIDENTS_MAX = 2000
#: Resources are looked for this many times the event's radius around it.
RESOURCE_REACH = 2.0


def _in_area(session: Session, model: Any, event: EmergencyEvent, radius_m: float, *columns: Any,
             where: Sequence[Any] = ()) -> list[Any]:
    """The rows (``columns`` of ``model``, lon and lat last) within ``radius_m`` of the event: the lon/lat box
    first (its index), then the exact great-circle test."""
    x0, y0, x1, y1 = _box(event.lon, event.lat, radius_m)
    rows = session.execute(select(*columns, model.lon, model.lat).where(
        model.lon.between(x0, x1), model.lat.between(y0, y1), *where))
    return [row for row in rows if _within(row[-2], row[-1], event, radius_m)]


def board(session: Session, actor: Any, event_id: int) -> dict[str, Any]:
    """Everything the command board (``/command/<event>``) shows, as plain data: the event (tasks, timeline,
    KPIs), and within its area the incidents, firing alerts, sensors with their latest values, cameras, key
    places and resources nearby, and who is on duty."""
    _require(actor, READ_ROLES, "read events")
    event = get_event(session, event_id)
    radius = event.radius_m
    own = set(incident_ids(session, event.id))
    open_states = ("filed", "dispatched", "in_progress", "resolved")
    incidents = _in_area(session, Incident, event, radius, Incident.id, Incident.code, Incident.state,
                         where=(Incident.state.in_(open_states), Incident.exercise.is_(event.exercise)))
    incidents = incidents[:BOARD_INCIDENTS_MAX]
    seen = {row[0] for row in incidents}
    if own - seen:
        incidents += list(session.execute(select(Incident.id, Incident.code, Incident.state, Incident.lon,
                                                 Incident.lat).where(Incident.id.in_(own - seen),
                                                                     Incident.lon.is_not(None))))
    levels: dict[str, str] = {}
    for sensor_id, level in session.execute(select(Alert.sensor_id, Alert.level).where(
            Alert.state == "firing", Alert.exercise.is_(event.exercise))):
        if ALERT_RANK.get(level, -1) > ALERT_RANK.get(levels.get(sensor_id, ""), -1):
            levels[sensor_id] = level
    sensors = _in_area(session, Sensor, event, radius, Sensor.id, Sensor.name, Sensor.kind, Sensor.unit,
                       Sensor.last_value)
    cameras = _in_area(session, Camera, event, radius, Camera.code, Camera.name, Camera.status)
    places = _in_area(session, KeyPlace, event, radius, KeyPlace.code, KeyPlace.name, KeyPlace.kind)
    resources = _in_area(session, Resource, event, radius * RESOURCE_REACH, Resource.code, Resource.name,
                         Resource.kind, Resource.status)
    return {
        "event": event_to_dict(session, event),
        "incidents": [{"id": i, "code": c, "state": s, "lon": x, "lat": y, "own": i in own}
                      for i, c, s, x, y in sorted(incidents, key=lambda row: row[0])],
        "sensors": [{"id": i, "name": n, "kind": k, "unit": u, "value": v, "level": levels.get(i), "lon": x,
                     "lat": y} for i, n, k, u, v, x, y in sorted(sensors, key=lambda row: row[0])],
        "cameras": [{"code": c, "name": n, "status": s, "lon": x, "lat": y}
                    for c, n, s, x, y in sorted(cameras, key=lambda row: row[0])],
        "key_places": [{"code": c, "name": n, "kind": k, "lon": x, "lat": y}
                       for c, n, k, x, y in sorted(places, key=lambda row: row[0])],
        "resources": [{"code": c, "name": n, "kind": k, "status": s, "lon": x, "lat": y}
                      for c, n, k, s, x, y in sorted(resources, key=lambda row: row[0])],
        "duty": duty.on_duty_now(session),
    }


def department_names(session: Session, lang: str) -> dict[str, str]:
    """Department code → its name in ``lang`` (the task board's column titles)."""
    rows = session.execute(select(Department.code, Department.name_zh, Department.name_en))
    return {code: zh if lang == "zh" else en for code, zh, en in rows}


def now_iso() -> str:
    """Now, as the event's times are given (ISO in the display time zone)."""
    return service.to_iso(utcnow()) or ""
