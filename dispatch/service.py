"""The dispatch service: creating incidents, applying workflow actions, sweeping cards, listing.

Every function takes the caller's Session (one unit of work per request, callback or job) and never
commits; it flushes so ids are known. Each write records an IncidentHistory row and an AuditLog row.
Users are duck-typed (``id``, ``role``, ``grid_id``, ``department_id``), so a ``data.models.User``
and the web layer's detached ``api.auth.AuthUser`` both work.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, false, or_, select, true, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from data.audit import write_audit
from data.models import (
    Attachment,
    Category,
    Department,
    Grid,
    HotlineFollowup,
    Incident,
    IncidentHistory,
    IncidentState,
    Role,
    User,
    utcnow,
)
from dispatch import joint, linkage, notifications, outbox, routing, sla, tiers, workflow, working_hours
from dispatch.workflow import OPEN_STATES, SOURCES, Action, ActionNotAllowed
from domain import errors, permissions
from domain.errors import DomainError
from domain.permissions import Permission
from domain.transitions import DIRECT_ANSWER_TRANSITIONS, next_state
from settings import get_settings

__all__ = [
    "ActionNotAllowed",
    "InvalidInput",
    "NotFound",
    "ServiceError",
    "StaleVersion",
    "answer_directly",
    "apply_action",
    "chase",
    "create_incident",
    "find_duplicates",
    "get_incident",
    "incident_to_dict",
    "list_incidents",
    "mask_name",
    "mask_phone",
    "may_act_on",
    "open_followup",
    "rate_incident",
    "reopen_for_rework",
    "reply_to_caller",
    "settle_followup",
    "sweep_cards",
    "tasks_for_worker",
    "to_iso",
]

S = IncidentState
CODE_PREFIX = "SJ"
MAX_POSTPONE_HOURS = 24 * 30
TITLE_MAX = 255
#: The longest free text a person may write (issue 14): an incident's description, and the note of an
#: action, a direct answer or a rating. The pages' fields carry the same maxLength.
DESCRIPTION_MAX = 4000
NOTE_MAX = 2000
#: A new incident this close (metres) to an open one of the same category, reported within
#: DUPLICATE_WINDOW of it, is proposed as its duplicate.
DUPLICATE_RADIUS_M = 50.0
DUPLICATE_WINDOW = timedelta(hours=24)
EARTH_RADIUS_M = 6_371_008.8
#: The 12345 hotline: handled directly (直办) or transferred into the loop (转办); the caller's rating.
HOTLINE_MODES = ("direct", "transfer")
SATISFACTION = ("satisfied", "basically_satisfied", "dissatisfied")


class Actor(Protocol):
    """Who takes an action: a ``User`` row or the web layer's ``AuthUser``."""

    id: int
    role: str
    grid_id: int | None
    department_id: int | None
    #: The district or street an operator or leader is scoped to (a command tier); None = the city centre.
    area_code: str | None


class ServiceError(DomainError):
    """A refusal of the service with a machine-readable ``code`` and an English ``message``."""

    def __init__(self, code: str, message: str, /, **values: object) -> None:
        super().__init__(code, message=message, **values)


class NotFound(ServiceError, errors.NotFound):
    """The incident does not exist, or the user may not see it."""


class StaleVersion(ServiceError, errors.StaleVersion):
    """The client acted on an older version of the incident than the stored one."""


class InvalidInput(ServiceError, errors.Invalid):
    """A parameter is missing or wrong (unknown category, department, assignee, bad hours...)."""


# --- helpers ------------------------------------------------------------------------------------


def to_iso(moment: datetime | None) -> str | None:
    """ISO-8601 with offset, in the display time zone (CITYOPS_TZ)."""
    return None if moment is None else moment.astimezone(get_settings().zone).isoformat()


def incident_code(reported_at: datetime, incident_id: int) -> str:
    """The human code of an incident, e.g. ``SJ20261122-000123`` (local report date, then id)."""
    local = reported_at.astimezone(get_settings().zone)
    return f"{CODE_PREFIX}{local:%Y%m%d}-{incident_id:06d}"


def _check_point(lon: float | None, lat: float | None) -> tuple[float | None, float | None]:
    if lon is None and lat is None:
        return None, None
    try:
        lon_f, lat_f = float(lon), float(lat)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput("invalid_location", "lon and lat must both be numbers, or both absent") from None
    if not (math.isfinite(lon_f) and math.isfinite(lat_f) and -180 <= lon_f <= 180 and -90 <= lat_f <= 90):
        raise InvalidInput("invalid_location", f"({lon}, {lat}) is not a WGS-84 longitude/latitude")
    return lon_f, lat_f


def normalise_text(value: str | None) -> str | None:
    """A free text as stored: surrounding blanks trimmed, an empty text None (every door stores it so)."""
    return (value or "").strip() or None


def check_text(value: str | None, limit: int, name: str) -> None:
    """Refuse a free text ``name`` longer than ``limit`` characters (InvalidInput ``<name>_too_long``)."""
    if value is not None and len(value) > limit:
        raise InvalidInput(f"{name}_too_long", f"{name} has {len(value)} characters; at most {limit} are allowed")


def _card_now(incident: Incident, now: datetime) -> str:
    return sla.incident_card(
        now,
        incident.reported_at,
        incident.handle_deadline,
        incident.close_deadline,
        resolved=incident.state == S.RESOLVED,
    )


def _record(
    session: Session,
    incident: Incident,
    *,
    actor: Actor | None,
    action: str,
    from_state: str | None,
    now: datetime,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Write the history row and the audit row of one action."""
    actor_id = actor.id if actor is not None else None
    incident.history.append(
        IncidentHistory(
            at=now, actor_id=actor_id, action=action, from_state=from_state,
            to_state=incident.state, note=note, data=data or None,
        )
    )
    detail: dict[str, Any] = {"from": from_state, "to": incident.state, "version": incident.version}
    if note:
        detail["note"] = note
    if data:
        detail.update(data)
    write_audit(session, actor_id, f"incident.{action}", f"incident:{incident.code}", at=now, detail=detail)


# --- callers and duplicates ---------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who reported an incident by hotline or Open311 (stored; the phone is shown masked)."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    hotline_mode: str | None = None

    def columns(self) -> dict[str, Any]:
        if self.hotline_mode is not None and self.hotline_mode not in HOTLINE_MODES:
            raise InvalidInput("invalid_mode", f"hotline mode must be one of {', '.join(HOTLINE_MODES)}")
        for value, size, code in ((self.name, 64, "invalid_caller"), (self.phone, 32, "invalid_phone"),
                                  (self.email, 128, "invalid_email")):
            if value is not None and len(value) > size:
                raise InvalidInput(code, f"at most {size} characters")
        return {"caller_name": self.name or None, "caller_phone": self.phone or None,
                "caller_email": self.email or None, "hotline_mode": self.hotline_mode}


def mask_phone(phone: str | None) -> str | None:
    """A phone number as it may be shown: ``13812341234`` → ``138****1234``."""
    if not phone:
        return None
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    keep_head = 3 if len(digits) >= 8 else 0
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]


#: Roles that see a caller's full name (they call the caller back); everyone else sees it masked.
CALLER_NAME_ROLES: frozenset[str] = frozenset({Role.ADMIN, Role.OPERATOR})


def mask_name(name: str | None) -> str | None:
    """A caller's name as a worker or handler may see it: ``张先生`` → ``张**``, ``San Zhang`` → ``S********``."""
    name = (name or "").strip()
    if not name:
        return None
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def caller_to_dict(incident: Incident, role: str | None = None) -> dict[str, str | None] | None:
    """Who reported ``incident`` as ``role`` may see them: the phone always masked, the name in full only
    for CALLER_NAME_ROLES (None: an internal reader that is no user, e.g. a test or an export job)."""
    if not (incident.caller_name or incident.caller_phone):
        return None
    full = role is None or role in CALLER_NAME_ROLES
    return {"name": incident.caller_name if full else mask_name(incident.caller_name),
            "phone": mask_phone(incident.caller_phone)}


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """The great-circle distance in metres between two WGS-84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def find_duplicates(
    session: Session, category_code: str, lon: float, lat: float, at: datetime, *, exclude_id: int | None = None,
    viewer: Actor | None = None,
) -> list[tuple[Incident, float]]:
    """Open incidents of ``category_code`` within 50 m of (lon, lat) reported within 24 h before or after
    ``at``, nearest first, with their distance in metres. Merged duplicates are never proposed. With a
    ``viewer``, only the incidents that viewer may see (``visible_to``): a candidate names its incident."""
    dlat = math.degrees(DUPLICATE_RADIUS_M / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    query = select(Incident).where(
        Incident.category_code == category_code,
        Incident.state.in_((S.REPORTED, *OPEN_STATES)),
        Incident.merged_into_id.is_(None),
        Incident.lon.between(lon - dlon, lon + dlon),
        Incident.lat.between(lat - dlat, lat + dlat),
        Incident.reported_at.between(at - DUPLICATE_WINDOW, at + DUPLICATE_WINDOW),
    )
    if exclude_id is not None:
        query = query.where(Incident.id != exclude_id)
    if viewer is not None:
        query = query.where(visible_to(viewer))
    near = [(i, distance_m(lon, lat, i.lon, i.lat)) for i in session.scalars(query)]
    return sorted(((i, d) for i, d in near if d <= DUPLICATE_RADIUS_M), key=lambda pair: (pair[1], pair[0].id))


# --- create -------------------------------------------------------------------------------------


def create_incident(
    session: Session,
    *,
    category_code: str,
    source: str,
    title: str,
    lon: float | None,
    lat: float | None,
    reported_at: datetime | None = None,
    actor: User | None = None,
    description: str | None = None,
    auto_file: bool = False,
    exercise: bool = False,
    address: str | None = None,
    severity: str = "normal",
    caller: Caller | None = None,
    check_duplicates: bool = True,
    inside_city: bool = False,
    alert: Any = None,
) -> Incident:
    """Report a new incident: routed to its grid, worker and department, with deadlines set.

    With ``auto_file`` (rules marked so) it is filed at once, at its report time. An open incident of
    the same category within 50 m and 24 h is recorded as the proposed original (``duplicate_of_id``).
    With ``inside_city`` (people's reports) a point outside every unit grid is refused. A signed-in
    ``actor`` needs ``incident.create`` (and ``incident.auto_file`` to file at once): ``Forbidden``; the
    system (``actor=None``: alerts, cameras, citizens, Open311) is not checked. ``alert`` (the
    ``data.models.Alert`` that files it) is what the linkage rules match when it is filed at once (issue 17 §2).
    """
    if actor is not None:
        permissions.require(actor.role, Permission.INCIDENT_CREATE)
        if auto_file:
            permissions.require(actor.role, Permission.INCIDENT_AUTO_FILE)
    description = normalise_text(description)
    category = session.get(Category, category_code)
    if category is None:
        raise InvalidInput("unknown_category", f"unknown category {category_code!r}")
    if source not in SOURCES:
        raise InvalidInput("unknown_source", f"source must be one of {', '.join(SOURCES)}")
    if severity not in sla.SEVERITIES:
        raise InvalidInput("unknown_severity", f"severity must be one of {', '.join(sla.SEVERITIES)}")
    title = (title or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise InvalidInput("invalid_title", f"a title of 1 to {TITLE_MAX} characters is required")
    check_text(description, DESCRIPTION_MAX, "description")
    lon, lat = _check_point(lon, lat)
    now = utcnow()
    reported_at = reported_at or now
    if reported_at.tzinfo is None:
        raise InvalidInput("naive_time", "reported_at needs a time zone")
    where = routing.route(session, lon, lat, category_code)
    if inside_city and lon is not None and where.grid_id is None and len(routing.grid_index(session)):
        raise InvalidInput("outside_city", f"({lon}, {lat}) lies outside the city's unit grids")
    handle_deadline, close_deadline = sla.deadlines(
        reported_at, working_hours.limits_for(session, category, severity),
        working_hours.calendar_for(session, category),
    )
    duplicate = None
    if check_duplicates and lon is not None and lat is not None:
        found = find_duplicates(session, category_code, lon, lat, reported_at)
        duplicate = found[0][0] if found else None
    incident = Incident(
        code=f"tmp-{uuid.uuid4().hex}",
        state=S.REPORTED,
        version=1,
        category_code=category_code,
        source=source,
        title=title,
        description=description,
        address=address,
        lon=lon,
        lat=lat,
        grid_id=where.grid_id,
        department_id=where.department_id,
        assignee_id=where.worker_id,
        reported_at=reported_at,
        handle_deadline=handle_deadline,
        close_deadline=close_deadline,
        card=sla.CARD_NONE,
        exercise=exercise,
        updated_at=now,
        severity=severity,
        duplicate_of_id=duplicate.id if duplicate is not None else None,
        **(caller.columns() if caller is not None else {}),
    )
    session.add(incident)
    session.flush()
    incident.code = incident_code(reported_at, incident.id)
    data: dict[str, Any] = {"source": source, "category": category_code, "exercise": exercise}
    if severity != "normal":
        data["severity"] = severity
    if duplicate is not None:
        data["duplicate_of"] = duplicate.code
    _record(session, incident, actor=actor, action="create", from_state=None, now=now, data=data)
    if auto_file:
        incident.state = S.FILED
        incident.filed_at = reported_at
        incident.card = _card_now(incident, now)
        _record(session, incident, actor=actor, action=Action.FILE, from_state=S.REPORTED, now=now)
        linkage.apply(session, incident, now=now, alert=alert)  # issue 17 §2: linkage rules on filing
    session.flush()
    return incident


# --- actions ------------------------------------------------------------------------------------


@dataclass
class _Step:
    """One action being applied: what it needs, and what it adds to the history row."""

    session: Session
    incident: Incident
    actor: Actor
    now: datetime
    note: str | None
    department_code: str | None
    assignee: str | None
    hours: float | None
    target_id: int | None
    area_code: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: Joint handling (issue 17 §2): the assisting departments a dispatch names (None: keep the incident's).
    assisting: Sequence[str] | None = None


def _file(step: _Step) -> None:
    step.incident.filed_at = step.now


def _reject(step: _Step) -> None:
    step.incident.rejected_at = step.now


def _dispatch(step: _Step) -> None:
    incident, session = step.incident, step.session
    joint_plan = _joint_plan(step)  # issue 17 §2: lead + assisting departments, checked before any write
    department = (
        session.scalar(select(Department).where(Department.code == step.department_code))
        if step.department_code
        else incident.department
    )
    if department is None:
        code = "unknown_department" if step.department_code else "department_required"
        raise InvalidInput(code, f"dispatch needs a known department (got {step.department_code!r})")
    assignee = incident.assignee
    if step.assignee:
        assignee = session.scalar(select(User).where(User.username == step.assignee, User.active.is_(True)))
        if assignee is None:
            raise InvalidInput("unknown_assignee", f"no active user {step.assignee!r}")
    incident.department_id = department.id
    incident.assignee_id = assignee.id if assignee is not None else None
    if incident.dispatched_at is None:
        incident.dispatched_at = step.now
    step.data.update(department=department.code, assignee=assignee.username if assignee else None)
    outbox.on_incident_event(session, "dispatch", incident, department=department, note=step.note)
    if joint_plan is not None:  # issue 17 §2: each named department gets its task
        step.data.update(joint.summary(joint.apply_plan(session, incident, joint_plan, now=step.now)))
        for helper in joint_plan.assisting:
            outbox.on_incident_event(session, "dispatch", incident, department=helper, note=step.note,
                                     key=f"incident:{incident.id}@{incident.version}:dispatch:{helper.code}")


def _start(step: _Step) -> None:
    step.incident.started_at = step.now


def _resolve(step: _Step) -> None:
    step.incident.resolved_at = step.now
    if step.incident.first_resolved_at is None:
        step.incident.first_resolved_at = step.now


def _close(step: _Step) -> None:
    step.incident.closed_at = step.now
    open_followup(step.session, step.incident, step.now)


def _return(step: _Step) -> None:
    step.incident.rework_count = (step.incident.rework_count or 0) + 1
    step.incident.resolved_at = None
    step.data["rework"] = step.incident.rework_count


def _escalate(step: _Step) -> None:
    incident = step.incident
    incident.escalated = True
    department = incident.department
    step.data["notify"] = {"role": Role.LEADER.value, "department": department.code if department else None}
    notifications.notify(step.session, "escalate", incident, actor_id=step.actor.id, note=step.note,
                         department_id=incident.department_id)


def _pending_postpone_hours(session: Session, incident_id: int) -> float | None:
    last = session.scalar(
        select(IncidentHistory)
        .where(IncidentHistory.incident_id == incident_id, IncidentHistory.action == Action.POSTPONE)
        .order_by(IncidentHistory.id.desc())
        .limit(1)
    )
    if last is None or not last.data or last.data.get("status") != "requested":
        return None
    return float(last.data["hours"])


def _postpone(step: _Step) -> None:
    incident = step.incident
    approves = workflow.approves_postpone(step.actor.role)
    hours = step.hours
    if hours is None and approves:
        hours = _pending_postpone_hours(step.session, incident.id)
    if hours is None:
        raise InvalidInput("hours_required", "postpone needs hours (no request is pending)")
    if not (isinstance(hours, int | float) and math.isfinite(hours) and 0 < hours <= MAX_POSTPONE_HOURS):
        raise InvalidInput("invalid_hours", f"hours must be in (0, {MAX_POSTPONE_HOURS}]")
    step.data.update(hours=float(hours), status="approved" if approves else "requested")
    if not approves:
        notifications.notify(step.session, "postpone_request", incident, actor_id=step.actor.id,
                             note=step.note, department_id=None)
    if approves:
        calendar = working_hours.calendar_for(step.session, incident.category)
        incident.handle_deadline = sla.extend(incident.handle_deadline, hours, calendar)
        incident.close_deadline = sla.extend(incident.close_deadline, hours, calendar)
        step.data.update(
            handle_deadline=to_iso(incident.handle_deadline), close_deadline=to_iso(incident.close_deadline)
        )


def _merge(step: _Step) -> None:
    incident, session = step.incident, step.session
    if step.target_id is None:
        raise InvalidInput("target_required", "merge needs target_id, the original incident")
    target = session.get(Incident, step.target_id)
    if (target is None or target.id == incident.id or target.state == S.REJECTED
            or target.merged_into_id is not None):
        raise InvalidInput("invalid_target", f"incident {step.target_id} cannot be the original")
    incident.merged_into_id = target.id
    incident.duplicate_of_id = None
    incident.rejected_at = step.now
    step.data.update(target_id=target.id, target_code=target.code)
    # The original's timeline says what was merged into it; it keeps its own state and version.
    target.history.append(IncidentHistory(
        at=step.now, actor_id=step.actor.id, action=Action.MERGE, from_state=target.state, to_state=target.state,
        note=step.note, data={"duplicate_id": incident.id, "duplicate_code": incident.code},
    ))


def _comment(step: _Step) -> None:
    if not (step.note or "").strip():
        raise InvalidInput("note_required", "a comment needs a note")


def _move_tier(step: _Step, to_tier: Callable[[str | None], str | None]) -> None:
    """Hand the incident to the tier ``to_tier`` names (a TierError becomes InvalidInput, its reason kept)."""
    incident = step.incident
    try:
        target = to_tier(incident.tier_area_code)
    except tiers.TierError as refusal:
        raise InvalidInput(refusal.code, refusal.message) from None
    step.data.update(from_tier=incident.tier_area_code, to_tier=target)
    incident.tier_area_code = target


def _pass_down(step: _Step) -> None:
    _move_tier(step, lambda current: tiers.pass_down_target(
        step.session, actor=step.actor, current=current, target=step.area_code, grid_id=step.incident.grid_id))


def _report_up(step: _Step) -> None:
    _move_tier(step, lambda current: tiers.report_up_target(step.session, current))


_EFFECTS: dict[str, Callable[[_Step], None]] = {
    Action.FILE: _file,
    Action.REJECT: _reject,
    Action.DISPATCH: _dispatch,
    Action.START: _start,
    Action.RESOLVE: _resolve,
    Action.CLOSE: _close,
    Action.RETURN: _return,
    Action.ESCALATE: _escalate,
    Action.POSTPONE: _postpone,
    Action.MERGE: _merge,
    Action.COMMENT: _comment,
    Action.PASS_DOWN: _pass_down,
    Action.REPORT_UP: _report_up,
}


def _claim_version(session: Session, incident: Incident, version: int, now: datetime) -> None:
    """Compare-and-set the version in the database, so two concurrent actions cannot both win."""
    result = session.execute(
        update(Incident)
        .where(Incident.id == incident.id, Incident.version == version)
        .values(version=version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.expire(incident)
        raise StaleVersion("stale_version", f"incident {incident.id} changed meanwhile; reload it")
    set_committed_value(incident, "version", version + 1)
    set_committed_value(incident, "updated_at", now)


def _area_grids(actor: Actor, incident: Incident) -> frozenset[int] | None:
    """The grids of ``actor``'s command tier (None: not area-scoped); none at all for a detached incident."""
    if tiers.area_of(actor) is None:
        return None
    session = Session.object_session(incident)
    return tiers.actor_grid_ids(session, actor) if session is not None else frozenset()


def _within(scope: workflow.Scope, actor: Actor, incident: Incident) -> bool:
    department_id = incident.department_id
    if scope is workflow.Scope.DEPARTMENT and _assists(actor, incident):  # issue 17 §2: a task of theirs
        department_id = actor.department_id
    return workflow.in_scope(
        scope, user_id=actor.id, user_grid_id=actor.grid_id, user_department_id=actor.department_id,
        grid_id=incident.grid_id, department_id=department_id, assignee_id=incident.assignee_id,
        area_grid_ids=_area_grids(actor, incident),
    )


def _stored_for(session: Session, incident_id: int, actor: Actor) -> Incident:
    """The stored incident ``incident_id`` for a write by ``actor``, or NotFound: one outside a command tier's
    area is answered like an id that names nothing (no leak); the role and scope checks come after."""
    incident = session.get(Incident, incident_id)
    area = _area_grids(actor, incident) if incident is not None else None
    if incident is None or (area is not None and incident.grid_id not in area):
        raise NotFound("incident_not_found", f"no incident {incident_id}")
    return incident


# --- joint handling (issue 17 §2, dispatch/joint.py): lead and assisting departments -------------------

#: The actions that work department tasks on an incident that has them.
_JOINT_ACTIONS = (Action.START, Action.RESOLVE, Action.RETURN)


def _joint_plan(step: _Step) -> joint.Plan | None:
    """The checked lead and assisting departments of a dispatch (None: a dispatch to one department). With
    ``assisting`` None an incident that has tasks keeps its assisting departments (less a new lead)."""
    incident, session = step.incident, step.session
    assisting = step.assisting
    if assisting is None or not assisting:
        current = joint.tasks_of(session, incident.id)
        if not current:
            return None
        if assisting is None:
            assisting = [t.department_code for t in current if t.role == joint.ROLE_ASSIST]
            assisting = [code for code in assisting if code != step.department_code]
    lead = step.department_code or (incident.department.code if incident.department is not None else None)
    try:
        return joint.plan(session, lead, assisting)
    except joint.JointError as refusal:
        raise InvalidInput(refusal.code, refusal.message) from None


@dataclass
class _JointMove:
    """The tasks a ``start``/``resolve``/``return`` moves on an incident with tasks."""

    tasks: list[Any]


def _joint_move(session: Session, incident: Incident, action: str, actor: Actor,
                department_code: str | None) -> _JointMove | None:
    """Check a task action before anything is written (None: the incident has no tasks, or the action is
    no task action): a handler starts or resolves their department's task; an operator returns one
    department's task (``department_code``), or every resolved task of a resolved incident."""
    if action not in _JOINT_ACTIONS or not joint.has_tasks(session, incident.id):
        return None
    if workflow.scope_of(actor.role, action) is None:
        raise ActionNotAllowed("forbidden_action", f"role {actor.role!r} may not {action} incidents")
    tasks = joint.tasks_of(session, incident.id)
    if action == Action.RETURN:
        chosen = [t for t in tasks if t.department_code == department_code] if department_code else \
            [t for t in tasks if t.state == joint.TASK_RESOLVED]
        if department_code and not chosen:
            raise InvalidInput("no_task", f"department {department_code!r} has no task on this incident")
        if incident.state != S.RESOLVED and not (department_code and incident.state in (S.DISPATCHED, S.IN_PROGRESS)):
            raise ActionNotAllowed("invalid_transition",
                                   f"cannot return a task of an incident that is {incident.state}")
        return _JointMove(chosen)
    task = next((t for t in tasks if actor.department_id is not None and t.department_id == actor.department_id),
                None)
    if task is None and actor.id is not None and actor.id == incident.assignee_id:
        # the grid worker the incident was dispatched to works on site for the lead department (e.g. a red gas
        # alert: the worker evacuates and reports while the gas company leads)
        task = next((t for t in tasks if t.role == joint.ROLE_LEAD), None)
    if task is None:
        raise ActionNotAllowed("out_of_scope", f"your department has no task on incident {incident.id}")
    if incident.state not in (S.DISPATCHED, S.IN_PROGRESS):
        raise ActionNotAllowed("invalid_transition", f"cannot {action} an incident that is {incident.state}")
    return _JointMove([task])


def _joint_effect(step: _Step, action: str, move: _JointMove) -> str:
    """Move the tasks of ``move`` and return the incident's new state: in progress once a task is worked,
    resolved once every task is, dispatched again when a resolved incident has a task returned."""
    incident = step.incident
    try:
        for task in move.tasks:
            if action == Action.RETURN:
                joint.return_task(task, now=step.now, note=step.note)
            else:
                joint.work_task(task, action, now=step.now, note=step.note)
    except joint.JointError as refusal:
        raise ActionNotAllowed(refusal.code, refusal.message) from None
    if action == Action.RETURN:
        to_state = workflow.next_state(incident.state, action) if incident.state == S.RESOLVED else incident.state
        if to_state != incident.state:
            _return(step)
    else:
        to_state = joint.incident_state_after(incident.state, joint.tasks_of(step.session, incident.id))
        if incident.state == S.DISPATCHED and to_state != S.DISPATCHED:
            _start(step)
        if to_state == S.RESOLVED:
            _resolve(step)
    step.data["tasks"] = [{"department": t.department_code, "role": t.role, "state": t.state} for t in move.tasks]
    return to_state


def _assists(actor: Actor, incident: Incident) -> bool:
    """True when ``actor``'s department has a task on ``incident`` (an assisting department's handler)."""
    if actor.department_id is None:
        return False
    return any(t.department_id == actor.department_id for t in joint.loaded_tasks(incident))


def may_act_on(actor: Actor, incident: Incident, action: str) -> bool:
    """True when ``actor``'s role may take ``action`` on ``incident``, within its scope (the state aside)."""
    scope = workflow.scope_of(actor.role, action)
    return scope is not None and _within(scope, actor, incident)


def apply_action(
    session: Session,
    incident_id: int,
    action: str,
    *,
    version: int,
    actor: User | Actor,
    note: str | None = None,
    department_code: str | None = None,
    assignee: str | None = None,
    hours: float | None = None,
    target_id: int | None = None,
    attachment_ids: Sequence[int] = (),
    area_code: str | None = None,
    assisting: Sequence[str] | None = None,
) -> Incident:
    """Apply ``action`` by ``actor`` to an incident at ``version``; ``attachment_ids`` (photos this
    actor uploaded to the incident and not yet attached to an action) go with the history row;
    ``area_code`` is the district or street a ``pass_down`` hands the incident to; ``assisting`` the
    assisting departments a ``dispatch`` names besides the lead ``department_code`` (issue 17 §2). On an
    incident with department tasks, ``start``/``resolve`` work the actor's department's task and ``return``
    with a ``department_code`` returns that department's task only (``_joint_move``).

    Raises NotFound, StaleVersion (the client's version is old), ActionNotAllowed (role, scope or
    state refuse it) or InvalidInput (a parameter is missing or wrong).
    """
    note = normalise_text(note)
    check_text(note, NOTE_MAX, "note")
    incident = _stored_for(session, incident_id, actor)
    if incident.version != version:
        raise StaleVersion(
            "stale_version", f"incident {incident_id} is at version {incident.version}, not {version}"
        )
    move = _joint_move(session, incident, action, actor, department_code)  # issue 17 §2; None: not joint
    if move is None:
        to_state, scope = workflow.check(actor.role, incident.state, action)
        if not _within(scope, actor, incident):
            raise ActionNotAllowed("out_of_scope", f"incident {incident_id} is outside your {scope} scope")
    photos = _unattached(session, incident.id, actor.id, attachment_ids)
    now = utcnow()
    from_state = incident.state
    step = _Step(session, incident, actor, now, note, department_code, assignee, hours, target_id, area_code,
                 assisting=assisting)
    with session.no_autoflush:
        if move is None:
            _EFFECTS[action](step)
        else:
            to_state = _joint_effect(step, action, move)
        _claim_version(session, incident, version, now)
    incident.state = to_state
    if to_state in OPEN_STATES:
        incident.card = _card_now(incident, now)
    elif to_state == S.REJECTED:
        incident.card = sla.CARD_NONE
    if photos:
        step.data["photos"] = [p.id for p in photos]
    _record(session, incident, actor=actor, action=str(action), from_state=from_state, now=now,
            note=note, data=step.data)
    if action == Action.FILE:
        linkage.apply(session, incident, now=now)  # issue 17 §2: linkage rules on filing
    session.flush()
    for photo in photos:
        photo.history_id = incident.history[-1].id
    session.flush()
    return incident


def _unattached(session: Session, incident_id: int, actor_id: int, attachment_ids: Sequence[int]) -> list[Attachment]:
    """The photos ``attachment_ids`` if each was uploaded by the actor to this incident and is still free."""
    wanted = sorted(set(int(i) for i in attachment_ids))
    if not wanted:
        return []
    rows = list(session.scalars(select(Attachment).where(Attachment.id.in_(wanted))))
    if len(rows) != len(wanted) or any(
        r.incident_id != incident_id or r.uploaded_by != actor_id or r.history_id is not None for r in rows
    ):
        raise InvalidInput("invalid_attachment", "photos must be your own new uploads to this incident")
    return rows


# --- the 12345 hotline --------------------------------------------------------------------------


def answer_directly(session: Session, incident: Incident, *, actor: Actor, answer: str) -> Incident:
    """A hotline call answered at once (直办): the new work order is filed and closed in one command.

    It walks ``reported → filed → closed`` through ``domain.transitions.DIRECT_ANSWER_TRANSITIONS``, each
    step a compare-and-set of the version with its history and audit row. It never enters dispatch, so it
    counts as reported, filed and closed (on time) but not as dispatched or handled. Only a hotline order
    still ``reported`` may be answered so.
    """
    if incident.source != "hotline" or incident.state != S.REPORTED:
        raise ActionNotAllowed("invalid_transition", "only a new hotline order can be answered directly")
    if not permissions.allowed(actor.role, Permission.HOTLINE_ANSWER):
        raise ActionNotAllowed("forbidden_action", f"role {actor.role!r} may not answer calls")
    reply = normalise_text(answer)
    if reply is None:
        raise InvalidInput("note_required", "a direct answer needs the reply given to the caller")
    check_text(reply, NOTE_MAX, "note")
    now = utcnow()
    incident.hotline_mode = "direct"
    for action, note, data in ((Action.FILE, None, None), (Action.CLOSE, reply, {"mode": "direct"})):
        from_state = incident.state
        to_state = next_state(from_state, action, DIRECT_ANSWER_TRANSITIONS)
        session.flush()
        with session.no_autoflush:
            _claim_version(session, incident, incident.version, now)
        incident.state = to_state
        if to_state == S.FILED:
            incident.filed_at = now
        else:  # closed: the answer given on the phone is the order's reply (统一回复), given as it closes
            incident.closed_at, incident.card = now, sla.CARD_NONE
            incident.public_reply, incident.replied_at = reply, now
        _record(session, incident, actor=actor, action=action, from_state=from_state, now=now, note=note, data=data)
    open_followup(session, incident, now)
    outbox.on_reply(session, incident)  # the caller's SMS, where a callers' channel is configured
    session.flush()
    return incident


#: A follow-up call (回访) task is ``pending`` until the seat records it ``done``.
FOLLOWUP_STATES = ("pending", "done")
_FOLLOWUP_SAMPLE = 1000


def _sampled(incident_id: int, share: float) -> bool:
    """Whether an order is among ``share`` of all: a fixed spread of ids (Knuth's multiplicative hash),
    so the choice does not depend on which process closes the order, nor on when."""
    return (incident_id * 2654435761) % 2**32 % _FOLLOWUP_SAMPLE < share * _FOLLOWUP_SAMPLE


def open_followup(session: Session, incident: Incident, now: datetime) -> HotlineFollowup | None:
    """Create the follow-up call task of a hotline order that has just closed, if the order is in the
    sample (``CITYOPS_HOTLINE_FOLLOWUP_SHARE``) and has no pending one; other sources get none."""
    if incident.source != "hotline" or not _sampled(incident.id, get_settings().hotline_followup_share):
        return None
    pending = session.scalar(select(HotlineFollowup).where(HotlineFollowup.incident_id == incident.id,
                                                           HotlineFollowup.state == "pending"))
    if pending is not None:
        return pending
    followup = HotlineFollowup(incident_id=incident.id, created_at=now, state="pending")
    session.add(followup)
    return followup


def settle_followup(session: Session, incident: Incident, *, actor: Actor, reached: bool,
                    satisfaction: str | None, reason: str | None = None) -> HotlineFollowup:
    """Record the follow-up call of a closed hotline order (its pending task, or a new one when it has
    none): reached or not and, when reached, the caller's satisfaction, which becomes the order's rating.
    Checks the role, the state and the values; audited as the order's ``followup`` action."""
    if actor.role not in (Role.ADMIN, Role.OPERATOR):
        raise ActionNotAllowed("forbidden_action", f"role {actor.role!r} may not record follow-up calls")
    if incident.source != "hotline" or incident.state != S.CLOSED:
        raise ActionNotAllowed("not_ratable", "only closed hotline orders get follow-up calls")
    if reached and satisfaction not in SATISFACTION:
        raise InvalidInput("invalid_satisfaction", f"a reached caller's rating is one of {', '.join(SATISFACTION)}")
    if not reached and satisfaction is not None:
        raise InvalidInput("invalid_satisfaction", "a caller who was not reached gives no satisfaction")
    check_text(reason, NOTE_MAX, "note")
    now = utcnow()
    followup = open_followup(session, incident, now) or HotlineFollowup(incident_id=incident.id, created_at=now)
    session.add(followup)
    followup.state, followup.reached, followup.satisfaction = "done", reached, satisfaction
    followup.reason, followup.called_at, followup.called_by = (reason or "").strip() or None, now, actor.id
    if reached:
        incident.satisfaction, incident.rated_at = satisfaction, now
    _record(session, incident, actor=actor, action="followup", from_state=incident.state, now=now, note=reason,
            data={"reached": reached, "satisfaction": satisfaction})
    session.flush()
    return followup


def reopen_for_rework(session: Session, incident: Incident, *, actor: Actor, note: str | None) -> Incident:
    """Return a closed hotline order for rework (返工) after a dissatisfied follow-up call: closed →
    dispatched to its department, counted in ``rework_count``. The one way out of ``closed``, so it is
    not in the transition table; only those who may ``return`` may do it."""
    if workflow.scope_of(actor.role, Action.RETURN) is not workflow.Scope.ALL:
        raise ActionNotAllowed("forbidden_action", f"role {actor.role!r} may not return orders for rework")
    if incident.source != "hotline" or incident.state != S.CLOSED:
        raise ActionNotAllowed("invalid_transition", "only a closed hotline order can be reopened")
    if incident.department_id is None:
        raise InvalidInput("department_required", "the order has no department to return it to")
    now = utcnow()
    _claim_version(session, incident, incident.version, now)
    incident.state = S.DISPATCHED
    incident.closed_at = incident.resolved_at = None
    incident.dispatched_at = incident.dispatched_at or now
    incident.rework_count = (incident.rework_count or 0) + 1
    incident.card = _card_now(incident, now)
    _record(session, incident, actor=actor, action=Action.RETURN, from_state=S.CLOSED, now=now, note=note,
            data={"rework": incident.rework_count, "reopened": True})
    session.flush()
    return incident


#: The sources whose callers hear back when their case closes (统一回复): hotline orders, citizen reports.
REPLY_SOURCES = ("hotline", "citizen")


def reply_to_caller(session: Session, incident_id: int, text: str, *, actor: Actor) -> Incident:
    """Record the reply (统一回复) given to the caller of a closed hotline order or citizen report: its
    text becomes ``public_reply`` (what a citizen's tracking page shows), with ``replied_at``, and goes to the
    caller's phone by SMS where a callers' channel is configured (``outbox.on_reply``). Once per closing: a
    case reopened and closed again is replied to again. Staff only; audited as ``reply``."""
    if actor.role not in (Role.ADMIN, Role.OPERATOR):
        raise ActionNotAllowed("forbidden_action", f"role {actor.role!r} may not reply to callers")
    text = (text or "").strip()
    if not text:
        raise InvalidInput("note_required", "a reply needs its text")
    check_text(text, NOTE_MAX, "note")
    incident = _stored_for(session, incident_id, actor)
    if incident.source not in REPLY_SOURCES or incident.state != S.CLOSED:
        raise ActionNotAllowed("not_repliable", "only closed hotline orders and citizen reports are replied to")
    if incident.replied_at is not None and incident.closed_at is not None and incident.replied_at >= incident.closed_at:
        raise ActionNotAllowed("already_replied", "the caller has had the reply to this closing already")
    now = utcnow()
    incident.public_reply, incident.replied_at, incident.updated_at = text, now, now
    _record(session, incident, actor=actor, action="reply", from_state=incident.state, now=now, note=text)
    outbox.on_reply(session, incident)  # the caller's SMS, where a callers' channel is configured
    session.flush()
    return incident


def chase(session: Session, incident_id: int, note: str | None, *, actor: Actor) -> Incident:
    """Chase (催办) the department of a transferred hotline order that is still open: a ``chase`` row in
    its history (what the chase ledger counts) and the audit row. Staff only."""
    if actor.role not in (Role.ADMIN, Role.OPERATOR):
        raise ActionNotAllowed("forbidden_action", f"role {actor.role!r} may not chase orders")
    check_text(note, NOTE_MAX, "note")
    incident = _stored_for(session, incident_id, actor)
    if incident.source != "hotline" or incident.hotline_mode != "transfer" or incident.state not in OPEN_STATES:
        raise ActionNotAllowed("not_chaseable", "only open transferred hotline orders are chased")
    now = utcnow()
    department = incident.department
    _record(session, incident, actor=actor, action="chase", from_state=incident.state, now=now,
            note=(note or "").strip() or None, data={"department": department.code if department else None})
    session.flush()
    return incident


def rate_incident(session: Session, incident_id: int, satisfaction: str, *, actor: Actor,
                  note: str | None = None) -> Incident:
    """Record the caller's rating (满意/基本满意/不满意) of a closed hotline or Open311 incident, once."""
    if satisfaction not in SATISFACTION:
        raise InvalidInput("invalid_satisfaction", f"satisfaction must be one of {', '.join(SATISFACTION)}")
    note = normalise_text(note)
    check_text(note, NOTE_MAX, "note")
    if not permissions.allowed(actor.role, Permission.INCIDENT_RATE):
        raise ActionNotAllowed("forbidden_action", f"role {actor.role!r} may not record ratings")
    incident = _stored_for(session, incident_id, actor)
    if incident.state != S.CLOSED or incident.source not in ("hotline", "open311"):
        raise ActionNotAllowed("not_ratable", "only closed hotline and Open311 incidents are rated")
    pending = session.scalar(select(HotlineFollowup.id).where(HotlineFollowup.incident_id == incident.id,
                                                              HotlineFollowup.state == "pending"))
    if incident.satisfaction is not None and pending is None:
        raise ActionNotAllowed("already_rated", "this incident has been rated already")
    if incident.source == "hotline":  # a hotline caller's rating is what a follow-up call reached
        settle_followup(session, incident, actor=actor, reached=True, satisfaction=satisfaction, reason=note)
        return incident
    now = utcnow()
    incident.satisfaction, incident.rated_at = satisfaction, now
    _record(session, incident, actor=actor, action="rate", from_state=incident.state, now=now, note=note,
            data={"satisfaction": satisfaction})
    session.flush()
    return incident


# --- cards --------------------------------------------------------------------------------------


def sweep_cards(session: Session, now: datetime) -> dict[str, int]:
    """Recompute the card of every open incident; returns counts (checked, changed, yellow, red)."""
    rows = session.execute(
        select(
            Incident.id, Incident.state, Incident.card, Incident.reported_at,
            Incident.handle_deadline, Incident.close_deadline,
        ).where(Incident.state.in_(OPEN_STATES))
    ).all()
    changes = []
    counts = {sla.CARD_YELLOW: 0, sla.CARD_RED: 0}
    for row in rows:
        card = sla.incident_card(
            now, row.reported_at, row.handle_deadline, row.close_deadline, resolved=row.state == S.RESOLVED
        )
        if card in counts:
            counts[card] += 1
        if card != row.card:
            changes.append({"id": row.id, "card": card})
    if changes:
        session.execute(update(Incident), changes)
        outbox.on_cards(session, changes)
    joint.sweep_cards(session, now)  # issue 17 §2: each department task's own card
    return {"checked": len(rows), "changed": len(changes), **counts}


# --- reading ------------------------------------------------------------------------------------


def visible_to(user: Actor) -> ColumnElement[bool]:
    """The incidents ``user`` may see: a worker their grid or assignments, a handler their department, an
    operator or leader of a command tier (``area_code``) the incidents whose grid lies in their area.
    The one scope rule of every incident read (the list, a detail, the map layers and the live map)."""
    if (area := tiers.area_of(user)) is not None:
        return Incident.grid_id.in_(tiers.grids_of_area(area))
    if user.role == Role.WORKER:
        clauses = [Incident.assignee_id == user.id]
        if user.grid_id is not None:
            clauses.append(Incident.grid_id == user.grid_id)
        return or_(*clauses)
    if user.role == Role.HANDLER:
        if user.department_id is None:
            return false()
        # issue 17 §2: a handler also sees the incidents their department assists on (dispatch/joint.py)
        return or_(Incident.department_id == user.department_id,
                   Incident.id.in_(joint.incidents_with_task_of(user.department_id)))
    return true() if user.role in {r.value for r in Role} else false()


_LOAD = (
    selectinload(Incident.category),
    selectinload(Incident.grid),
    selectinload(Incident.department),
    selectinload(Incident.assignee),
    selectinload(Incident.history).selectinload(IncidentHistory.actor),
    selectinload(Incident.photos),
    selectinload(Incident.joint_tasks),  # issue 17 §2
)


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _id_by_code(model: type[Grid] | type[Department], code: str) -> Any:
    return select(model.id).where(model.code == code).scalar_subquery()


def list_incidents(
    session: Session,
    *,
    user: Actor,
    state: str | Sequence[str] | None = None,
    card: str | Sequence[str] | None = None,
    grid_code: str | None = None,
    department_code: str | None = None,
    source: str | Sequence[str] | None = None,
    category: str | Sequence[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Incident]:
    """The incidents ``user`` may see, filtered, newest report first."""
    query = select(Incident).where(visible_to(user)).options(*_LOAD)
    for column, wanted in (
        (Incident.state, state), (Incident.card, card), (Incident.source, source),
        (Incident.category_code, category),
    ):
        values = _as_list(wanted)
        if values:
            query = query.where(column.in_(values))
    if grid_code:
        query = query.where(Incident.grid_id == _id_by_code(Grid, grid_code))
    if department_code:
        query = query.where(Incident.department_id == _id_by_code(Department, department_code))
    query = query.order_by(Incident.reported_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def get_incident(session: Session, incident_id: int, *, user: Actor) -> Incident:
    """One incident ``user`` may see, or NotFound."""
    incident = session.scalar(
        select(Incident).where(Incident.id == incident_id, visible_to(user)).options(*_LOAD)
    )
    if incident is None:
        raise NotFound("incident_not_found", f"no incident {incident_id}")
    return incident


def visible_codes(session: Session, incident_ids: Sequence[int], *, user: Actor) -> dict[int, str]:
    """The codes of those of ``incident_ids`` that ``user`` may see (the others are left out, exactly like
    ids that name no incident)."""
    if not incident_ids:
        return {}
    return dict(session.execute(select(Incident.id, Incident.code).where(
        Incident.id.in_(list(incident_ids)), visible_to(user))).all())


def visible_id_by_code(session: Session, code: str, *, user: Actor) -> int | None:
    """The id of the incident called ``code`` if ``user`` may see it, else None (as if there were none)."""
    return session.scalar(select(Incident.id).where(Incident.code == code.strip(), visible_to(user)))


#: The longest public description (the one Open311 shows).
PUBLIC_DESCRIPTION_MAX = 4000


def set_public_description(session: Session, incident_id: int, text: str | None, *, actor: Actor) -> Incident:
    """Publish (or, with an empty ``text``, withdraw) the description Open311 shows of an incident.

    Deciding what the public reads is triage: whoever may ``file`` the incident (operators, admins) may
    do it. NotFound for an incident ``actor`` may not see; ActionNotAllowed("forbidden_action") for the
    others; InvalidInput for a text longer than PUBLIC_DESCRIPTION_MAX. Audited.
    """
    incident = get_incident(session, incident_id, user=actor)
    if not may_act_on(actor, incident, Action.FILE):
        raise ActionNotAllowed("forbidden_action", f"role {actor.role!r} may not publish incident descriptions")
    text = (text or "").strip() or None
    if text is not None and len(text) > PUBLIC_DESCRIPTION_MAX:
        raise InvalidInput("invalid_description",
                           f"a public description has at most {PUBLIC_DESCRIPTION_MAX} characters")
    now = utcnow()
    incident.public_description = text
    incident.updated_at = now
    write_audit(session, actor.id, "incident.publish", f"incident:{incident.code}", at=now,
                detail={"public_description": text})
    session.flush()
    return incident


def tasks_for_worker(session: Session, user: Actor) -> list[Incident]:
    """The dispatched or started incidents ``user`` may work on, the most urgent deadline first."""
    query = (
        select(Incident)
        .where(visible_to(user), Incident.state.in_((S.DISPATCHED, S.IN_PROGRESS)))
        .options(*_LOAD)
        .order_by(Incident.handle_deadline.asc().nulls_last(), Incident.id)
    )
    return list(session.scalars(query))


def _names(row: Category | Department | None) -> dict[str, str] | None:
    return None if row is None else {"zh": row.name_zh, "en": row.name_en}


def history_to_dict(entry: IncidentHistory) -> dict[str, Any]:
    """The API representation of one history row."""
    return {
        "at": to_iso(entry.at),
        "action": entry.action,
        "actor": entry.actor.username if entry.actor is not None else None,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "note": entry.note,
        "data": entry.data,
    }


def incident_to_dict(incident: Incident, viewer: Actor | None = None) -> dict[str, Any]:
    """The API representation of an incident (DESIGN §4), history included, as ``viewer`` may see it (the
    caller's name is masked for workers, handlers and leaders; see ``caller_to_dict``)."""
    return {
        "id": incident.id,
        "code": incident.code,
        "state": incident.state,
        "version": incident.version,
        "category": incident.category_code,
        "category_name": _names(incident.category),
        "source": incident.source,
        "title": incident.title,
        "description": incident.description,
        "public_description": incident.public_description,
        "address": incident.address,
        "lon": incident.lon,
        "lat": incident.lat,
        "grid_code": incident.grid.code if incident.grid is not None else None,
        "department": incident.department.code if incident.department is not None else None,
        "department_name": _names(incident.department),
        "assignee": incident.assignee.username if incident.assignee is not None else None,
        "reported_at": to_iso(incident.reported_at),
        "filed_at": to_iso(incident.filed_at),
        "rejected_at": to_iso(incident.rejected_at),
        "dispatched_at": to_iso(incident.dispatched_at),
        "started_at": to_iso(incident.started_at),
        "resolved_at": to_iso(incident.resolved_at),
        "first_resolved_at": to_iso(incident.first_resolved_at),
        "closed_at": to_iso(incident.closed_at),
        "handle_deadline": to_iso(incident.handle_deadline),
        "close_deadline": to_iso(incident.close_deadline),
        "card": incident.card,
        "tier": incident.tier_area_code,
        "escalated": bool(incident.escalated),
        "rework_count": incident.rework_count or 0,
        "merged_into": incident.merged_into_id,
        "exercise": bool(incident.exercise),
        "severity": incident.severity,
        "duplicate_of": incident.duplicate_of_id,
        "caller": caller_to_dict(incident, viewer.role if viewer is not None else None),
        "hotline_mode": incident.hotline_mode,
        "satisfaction": incident.satisfaction,
        "photos": [attachment_to_dict(a) for a in incident.photos],
        "history": [history_to_dict(h) for h in incident.history],
        # issue 17 §2: the lead's and the assisting departments' tasks (empty: one department handles it)
        "tasks": [joint.task_to_dict(t, to_iso) for t in joint.loaded_tasks(incident)],
    }


def attachment_to_dict(attachment: Attachment) -> dict[str, Any]:
    """The API representation of a photo: where to fetch it and its thumbnail (signed-in users only)."""
    base = f"/api/v1/attachments/{attachment.id}"
    return {
        "id": attachment.id, "kind": attachment.kind, "content_type": attachment.content_type,
        "width": attachment.width, "height": attachment.height, "size": attachment.size,
        "history_id": attachment.history_id, "uploaded_at": to_iso(attachment.uploaded_at),
        "url": base, "thumbnail_url": f"{base}/thumbnail",
    }
