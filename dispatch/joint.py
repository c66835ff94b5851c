"""Joint handling (issue 17 §2, 主办/协办): one lead department and any number of assisting ones per incident.

Each department named gets a ``JointTask`` (``data/joint_models.py``) with its own handling deadline (the
category's handling limit, counted from the assignment), card (the rule of ``dispatch/sla.py``) and
progress (open → in_progress → resolved; an operator may return one resolved task, ``returned``). The
incident is resolved for verification only when every task is resolved (``all_resolved``).

An incident without tasks is handled by its one department, as before; the dispatch service
(``dispatch/service.py``) calls this module when a dispatch names assisting departments and when a
handler starts or resolves, or an operator returns, an incident that has tasks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, inspect, select, update
from sqlalchemy.orm import Session

from data.audit import write_audit
from data.joint_models import (
    ROLE_ASSIST,
    ROLE_LEAD,
    TASK_IN_PROGRESS,
    TASK_OPEN,
    TASK_RESOLVED,
    TASK_RETURNED,
    JointTask,
)
from data.models import Category, Department, Incident, IncidentHistory, IncidentState, utcnow
from dispatch import outbox, sla, tiers, workflow, working_hours
from domain import errors
from domain.errors import DomainError

__all__ = [
    "JointConflict",
    "JointError",
    "JointForbidden",
    "JointNotFound",
    "JointTask",
    "all_resolved",
    "assign",
    "has_tasks",
    "incidents_with_task_of",
    "loaded_tasks",
    "plan",
    "return_task",
    "sweep_cards",
    "task_card",
    "task_of",
    "task_to_dict",
    "tasks_of",
    "work_task",
]

S = IncidentState
#: The incident states in which departments may be (re)assigned.
ASSIGNABLE_STATES = (S.FILED, S.DISPATCHED, S.IN_PROGRESS)
#: The longest explicit task deadline (a month), like the longest postponement.
MAX_DEADLINE_HOURS = 24 * 30
#: Task states a handler works on (start or resolve).
WORKABLE = (TASK_OPEN, TASK_RETURNED, TASK_IN_PROGRESS)


class JointError(DomainError):
    """A refusal of joint handling (422: bad input) with a machine-readable ``code`` and an English ``message``;
    the subclasses carry the other statuses. Nothing was written."""

    def __init__(self, code: str, message: str, /) -> None:
        super().__init__(code, message=message)


class JointConflict(JointError, errors.Conflict):
    """The incident or the task is in a state that refuses the action (409)."""


class JointForbidden(JointError, errors.Forbidden):
    """The actor's role may not take the action (403)."""


class JointNotFound(JointError, errors.NotFound):
    """No such incident, or one outside the actor's command tier (404)."""


# --- reading --------------------------------------------------------------------------------------


def tasks_of(session: Session, incident_id: int) -> list[JointTask]:
    """The tasks of an incident: the lead's first, then the assisting ones in the order named."""
    query = select(JointTask).where(JointTask.incident_id == incident_id)
    return list(session.scalars(query.order_by(JointTask.role.desc(), JointTask.id)))  # "lead" > "assist"


def has_tasks(session: Session, incident_id: int) -> bool:
    """True when the incident is handled jointly (it has department tasks)."""
    return session.scalar(select(JointTask.id).where(JointTask.incident_id == incident_id).limit(1)) is not None


def task_of(session: Session, incident_id: int, department_id: int | None) -> JointTask | None:
    """The task of department ``department_id`` on the incident, if it has one."""
    if department_id is None:
        return None
    return session.scalar(
        select(JointTask).where(JointTask.incident_id == incident_id, JointTask.department_id == department_id)
    )


def incidents_with_task_of(department_id: int) -> Select[Any]:
    """A SELECT of the ids of the incidents on which ``department_id`` has a task (a handler's queue)."""
    return select(JointTask.incident_id).where(JointTask.department_id == department_id)


def loaded_tasks(incident: Incident) -> list[JointTask]:
    """``incident.joint_tasks``, loading them if the incident still has its session; none for a detached
    incident whose tasks were never loaded (it is shown as handled by its one department)."""
    state = inspect(incident)
    if "joint_tasks" in state.unloaded and state.session is None:
        return []
    return list(incident.joint_tasks)  # type: ignore[attr-defined]  (the backref of JointTask.incident)


def task_card(task: JointTask, now: datetime) -> str:
    """The card of a task: none once resolved, else yellow/red by its own handling deadline (``sla.card_for``)."""
    if task.state == TASK_RESOLVED:
        return sla.CARD_NONE
    return sla.card_for(now, task.assigned_at, task.handle_deadline)


def all_resolved(tasks: Iterable[JointTask]) -> bool:
    """True when there is at least one task and every task is resolved."""
    states = [t.state for t in tasks]
    return bool(states) and all(s == TASK_RESOLVED for s in states)


def task_to_dict(task: JointTask, to_iso: Any = None) -> dict[str, Any]:
    """The API representation of a task (``to_iso`` formats the times; ISO UTC by default)."""
    fmt = to_iso or (lambda moment: None if moment is None else moment.isoformat())
    department = task.department
    return {
        "id": task.id,
        "incident_id": task.incident_id,
        "department": department.code,
        "department_name": {"zh": department.name_zh, "en": department.name_en},
        "role": task.role,
        "state": task.state,
        "assigned_at": fmt(task.assigned_at),
        "handle_deadline": fmt(task.handle_deadline),
        "card": task.card,
        "started_at": fmt(task.started_at),
        "resolved_at": fmt(task.resolved_at),
        "returned_count": task.returned_count or 0,
        "note": task.note,
        "version": task.version,
    }


# --- assignment -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The checked departments of an assignment: the lead and the assisting ones (none equal to the lead)."""

    lead: Department
    assisting: tuple[Department, ...]


def plan(session: Session, lead: str | None, assisting: Sequence[str] | None) -> Plan:
    """Check an assignment before anything is written: the lead and every assisting code must name a
    department, and no assisting department may be the lead (repeats are taken once). JointError 422."""
    lead_code = (lead or "").strip()
    if not lead_code:
        raise JointError("department_required", "a joint assignment needs a lead department")
    if isinstance(assisting, str):
        assisting = [assisting]
    codes = list(dict.fromkeys(c.strip() for c in (assisting or ()) if c and c.strip()))
    if lead_code in codes:
        raise JointError("assisting_is_lead", f"department {lead_code!r} cannot both lead and assist")
    wanted = [lead_code, *codes]
    found = {d.code: d for d in session.scalars(select(Department).where(Department.code.in_(wanted)))}
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise JointError("unknown_department", f"unknown department(s): {', '.join(unknown)}")
    return Plan(found[lead_code], tuple(found[c] for c in codes))


def _check_hours(hours: float | None) -> float | None:
    if hours is None:
        return None
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) \
            or not 0 < hours <= MAX_DEADLINE_HOURS:
        raise JointError("invalid_hours", f"deadline_hours must be in (0, {MAX_DEADLINE_HOURS}]")
    return float(hours)


def _deadline(session: Session, incident: Incident, start: datetime, hours: float | None) -> datetime:
    """A task's handling deadline: ``hours`` after ``start``, or the category's handling limit."""
    category = session.get(Category, incident.category_code)
    if category is None:  # the foreign key keeps this from happening; plain hours then
        return sla.DEFAULT_CALENDAR.add_hours(start, hours or 0.0)
    if hours is None:
        hours = float(working_hours.limits_for(session, category, incident.severity).handle_hours)
    return working_hours.calendar_for(session, category).add_hours(start, hours)


def apply_plan(
    session: Session, incident: Incident, chosen: Plan, *, now: datetime, deadline_hours: float | None = None
) -> list[JointTask]:
    """Make the incident's tasks match ``chosen`` (a checked ``plan``): a task per department, the lead's
    role ``lead`` and the others ``assist``; a department kept keeps its progress and deadline (unless
    ``deadline_hours`` is given), a department no longer named loses its task. The incident's department
    becomes the lead. Writes no history: the caller does (``assign``, or the dispatch service)."""
    hours = _check_hours(deadline_hours)
    existing = {t.department_id: t for t in tasks_of(session, incident.id)}
    wanted = [(chosen.lead, ROLE_LEAD), *((d, ROLE_ASSIST) for d in chosen.assisting)]
    kept_ids = {d.id for d, _ in wanted}
    for task in existing.values():
        if task.department_id not in kept_ids:
            session.delete(task)
    tasks = []
    for department, role in wanted:
        task = existing.get(department.id)
        if task is None:
            task = JointTask(incident_id=incident.id, department_id=department.id, department=department,
                             role=role, state=TASK_OPEN, assigned_at=now, version=1, updated_at=now,
                             handle_deadline=_deadline(session, incident, now, hours), returned_count=0)
            session.add(task)
        else:
            if task.role != role or hours is not None:
                task.version += 1
                task.updated_at = now
            task.role = role
            if hours is not None:
                task.handle_deadline = _deadline(session, incident, task.assigned_at, hours)
        task.card = task_card(task, now)
        tasks.append(task)
    incident.department_id = chosen.lead.id
    session.flush()
    session.expire(incident, ["joint_tasks"])  # the read-only collection is read again
    return tasks


def summary(tasks: Sequence[JointTask]) -> dict[str, Any]:
    """What a history row records of the tasks: the lead and the assisting department codes."""
    return {"lead": next((t.department_code for t in tasks if t.role == ROLE_LEAD), None),
            "assisting": [t.department_code for t in tasks if t.role == ROLE_ASSIST]}


def _check_actor(session: Session, incident: Incident | None, incident_id: int, actor: Any, action: str) -> Incident:
    """The incident, if ``actor`` (None: the system) may take ``action`` on it; JointError otherwise."""
    grids = tiers.actor_grid_ids(session, actor) if actor is not None else None
    if incident is None or (grids is not None and incident.grid_id not in grids):
        raise JointNotFound("incident_not_found", f"no incident {incident_id}")
    if actor is not None and workflow.scope_of(actor.role, action) is not workflow.Scope.ALL:
        raise JointForbidden("forbidden_action", f"role {actor.role!r} may not {action} departments")
    return incident


def record(session: Session, incident: Incident, *, actor: Any, action: str, now: datetime,
            note: str | None, data: dict[str, Any]) -> None:
    """The history row and the audit row of a task action that leaves the incident's state as it is."""
    actor_id = actor.id if actor is not None else None
    session.add(IncidentHistory(incident_id=incident.id, at=now, actor_id=actor_id, action=action,
                                from_state=incident.state, to_state=incident.state, note=note, data=data))
    write_audit(session, actor_id, f"incident.{action}", f"incident:{incident.code}", at=now,
                detail={"state": incident.state, "version": incident.version, **data})


def assign(
    session: Session,
    incident_id: int,
    *,
    lead: str,
    assisting: list[str],
    actor: Any,
    deadline_hours: float | None = None,
) -> list[JointTask]:
    """Name the lead and the assisting departments of an incident (filed, dispatched or in progress) and
    give each its task; the incident's department becomes the lead; its state is left as it is (the
    dispatch action moves it). ``actor`` must be allowed to dispatch (operator, admin; None = the system,
    e.g. a linkage rule or a plan). ``deadline_hours`` overrides the category's handling limit.

    Raises JointError: 422 unknown department / assisting equal to the lead / bad hours, 409 an incident
    that is not open, 403 a role that may not dispatch, 404 no incident (or outside the actor's tier).
    Checks everything before writing; records an ``assign`` history row and an audit row; bumps the
    incident's version.
    """
    incident = _check_actor(session, session.get(Incident, incident_id), incident_id, actor, workflow.Action.DISPATCH)
    chosen = plan(session, lead, assisting)
    _check_hours(deadline_hours)
    if incident.state not in ASSIGNABLE_STATES:
        raise JointConflict("invalid_state", f"cannot assign departments to an incident that is {incident.state}")
    now = utcnow()
    tasks = apply_plan(session, incident, chosen, now=now, deadline_hours=deadline_hours)
    incident.version += 1
    incident.updated_at = now
    record(session, incident, actor=actor, action="assign", now=now, note=None, data=summary(tasks))
    session.flush()
    return tasks


# --- working a task -------------------------------------------------------------------------------


def work_task(task: JointTask, action: str, *, now: datetime, note: str | None = None) -> None:
    """A handler's ``start`` or ``resolve`` of their department's task (JointError 409 from a wrong state)."""
    if action == workflow.Action.START:
        if task.state not in (TASK_OPEN, TASK_RETURNED):
            raise JointConflict("invalid_transition", f"cannot start a task that is {task.state}")
        task.state = TASK_IN_PROGRESS
        task.started_at = task.started_at or now
    elif action == workflow.Action.RESOLVE:
        if task.state not in WORKABLE:
            raise JointConflict("invalid_transition", f"cannot resolve a task that is {task.state}")
        task.state = TASK_RESOLVED
        task.started_at = task.started_at or now
        task.resolved_at = now
    else:
        raise JointConflict("invalid_transition", f"a task is not {action}ed")
    if note:
        task.note = note
    task.card = task_card(task, now)
    task.version += 1
    task.updated_at = now


def return_task(task: JointTask, *, now: datetime, note: str | None = None) -> None:
    """An operator returns one resolved task for rework (the others keep their progress)."""
    if task.state != TASK_RESOLVED:
        raise JointConflict("invalid_transition", f"only a resolved task is returned (this one is {task.state})")
    task.state = TASK_RETURNED
    task.resolved_at = None
    task.returned_count = (task.returned_count or 0) + 1
    if note:
        task.note = note
    task.card = task_card(task, now)
    task.version += 1
    task.updated_at = now


def incident_state_after(state: str, tasks: Sequence[JointTask]) -> str:
    """The incident's state once its tasks moved: dispatched → in progress when a task is being worked,
    in progress → resolved when every task is resolved; otherwise unchanged."""
    if state == S.DISPATCHED and any(t.state in (TASK_IN_PROGRESS, TASK_RESOLVED) for t in tasks):
        state = S.IN_PROGRESS
    if state == S.IN_PROGRESS and all_resolved(tasks):
        state = S.RESOLVED
    return state


# --- cards ----------------------------------------------------------------------------------------


def sweep_cards(session: Session, now: datetime) -> dict[str, int]:
    """Recompute the card of every unresolved task of an open incident; returns (checked, changed). A task
    turning yellow or red notifies its department through the outbox (``outbox.on_task_cards``), once per card."""
    rows = session.execute(
        select(JointTask.id, JointTask.state, JointTask.card, JointTask.assigned_at, JointTask.handle_deadline)
        .join(Incident, Incident.id == JointTask.incident_id)
        .where(Incident.state.in_(workflow.OPEN_STATES))
    ).all()
    changes = []
    for row in rows:
        card = sla.CARD_NONE if row.state == TASK_RESOLVED else sla.card_for(now, row.assigned_at, row.handle_deadline)
        if card != row.card:
            changes.append({"id": row.id, "card": card})
    if changes:
        session.execute(update(JointTask), changes)
        outbox.on_task_cards(session, changes)
    return {"checked": len(rows), "changed": len(changes)}
