"""The one permission table: which role may do which write (and which scoped read).

``Permission`` names every write of the product; ``ROLES_WITH`` maps each to the roles that hold it;
``require(role, permission)`` raises ``domain.errors.Forbidden`` and ``allowed`` answers yes or no.
The incident actions carry a scope as well (``INCIDENT_SCOPES``: over which incidents a role may take an
action); ``dispatch.workflow`` applies it to stored incidents.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from domain.enums import Action, Role
from domain.errors import Forbidden


class Scope(enum.StrEnum):
    """Over which incidents a role may take an action."""

    ALL = "all"
    DEPARTMENT = "department"  # incidents dispatched to the user's department
    OWN = "own"  # incidents assigned to the user or lying in the user's grid


_OPERATOR_ACTIONS = (
    Action.FILE, Action.REJECT, Action.DISPATCH, Action.CLOSE, Action.RETURN,
    Action.ESCALATE, Action.POSTPONE, Action.MERGE, Action.COMMENT, Action.PASS_DOWN, Action.REPORT_UP,
)

#: Incident actions: role → action → scope. A missing entry means "never".
INCIDENT_SCOPES: Mapping[str, Mapping[str, Scope]] = {
    Role.ADMIN: dict.fromkeys(Action, Scope.ALL),
    Role.OPERATOR: dict.fromkeys(_OPERATOR_ACTIONS, Scope.ALL),
    Role.HANDLER: dict.fromkeys((Action.START, Action.RESOLVE, Action.COMMENT, Action.POSTPONE),
                                Scope.DEPARTMENT),
    Role.WORKER: dict.fromkeys((Action.START, Action.RESOLVE, Action.COMMENT), Scope.OWN),
    Role.LEADER: dict.fromkeys((Action.ESCALATE, Action.COMMENT), Scope.ALL),
}

#: Roles whose ``postpone`` extends the deadline; for the others it is only a request.
POSTPONE_APPROVERS: frozenset[str] = frozenset({Role.ADMIN, Role.OPERATOR})


class Permission(enum.StrEnum):
    """Every write of the product (and the reads limited to some roles)."""

    # incidents (the per-action rights with their scope are INCIDENT_SCOPES)
    INCIDENT_CREATE = "incident.create"
    INCIDENT_AUTO_FILE = "incident.auto_file"  # file a new incident at once, skipping intake
    INCIDENT_RATE = "incident.rate"  # record a citizen's or caller's rating
    INCIDENT_PUBLIC_TEXT = "incident.public_text"  # the public description of a case
    HOTLINE_ANSWER = "hotline.answer"  # record a call; answer it directly or transfer it
    HOTLINE_FOLLOWUP = "hotline.followup"
    PHOTO_UPLOAD = "photo.upload"
    DETECTION_INGEST = "detection.ingest"  # a video analytics detection becomes an incident
    # alerts
    ALERT_ACK = "alert.ack"
    ALERT_SILENCE = "alert.silence"
    ALERT_TRIAGE = "alert.triage"
    ALERT_REVIEW = "alert.review"
    ALERT_STATS = "alert.stats"  # read
    READING_INGEST = "reading.ingest"
    SENSOR_WRITE = "sensor.write"
    RULE_WRITE = "rule.write"
    # administration
    USER_WRITE = "user.write"
    DEPARTMENT_WRITE = "department.write"
    CATEGORY_WRITE = "category.write"
    SETTING_WRITE = "setting.write"
    CHANNEL_WRITE = "channel.write"
    # duty
    DUTY_ROTA = "duty.rota"
    DUTY_DESK = "duty.desk"  # log entries and handovers
    DUTY_READ = "duty.read"
    # emergency (plans and events) and joint tasks
    PLAN_WRITE = "plan.write"
    EVENT_WRITE = "event.write"
    JOINT_TASK_WRITE = "joint_task.write"
    PATROL_PLAN_WRITE = "patrol_plan.write"
    # reports
    BRIEFING_READ = "briefing.read"


_ADMIN = frozenset({Role.ADMIN})
_STAFF = frozenset({Role.ADMIN, Role.OPERATOR})
_COMMAND = frozenset({Role.ADMIN, Role.OPERATOR, Role.LEADER})
_FIELD = frozenset({Role.ADMIN, Role.OPERATOR, Role.HANDLER, Role.WORKER})
#: Every role: each may comment on the incidents it sees, with photos (the scope is the visibility rule).
EVERYONE = frozenset(Role)

#: Permission → the roles that hold it. The one table; API route guards and services read it.
ROLES_WITH: Mapping[Permission, frozenset[str]] = {
    Permission.INCIDENT_CREATE: _FIELD,
    Permission.INCIDENT_AUTO_FILE: _STAFF,
    Permission.INCIDENT_RATE: _STAFF,
    Permission.INCIDENT_PUBLIC_TEXT: _STAFF,
    Permission.HOTLINE_ANSWER: _STAFF,
    Permission.HOTLINE_FOLLOWUP: _STAFF,
    Permission.PHOTO_UPLOAD: EVERYONE,
    Permission.DETECTION_INGEST: _STAFF,
    Permission.ALERT_ACK: _STAFF,
    Permission.ALERT_SILENCE: _STAFF,
    Permission.ALERT_TRIAGE: _STAFF,
    Permission.ALERT_REVIEW: _STAFF,
    Permission.ALERT_STATS: _COMMAND,
    Permission.READING_INGEST: _STAFF,
    Permission.SENSOR_WRITE: _ADMIN,
    Permission.RULE_WRITE: _ADMIN,
    Permission.USER_WRITE: _ADMIN,
    Permission.DEPARTMENT_WRITE: _ADMIN,
    Permission.CATEGORY_WRITE: _ADMIN,
    Permission.SETTING_WRITE: _ADMIN,
    Permission.CHANNEL_WRITE: _ADMIN,
    Permission.DUTY_ROTA: _ADMIN,
    Permission.DUTY_DESK: _STAFF,
    Permission.DUTY_READ: _COMMAND,
    Permission.PLAN_WRITE: _ADMIN,
    Permission.EVENT_WRITE: _STAFF,
    Permission.JOINT_TASK_WRITE: _STAFF,
    Permission.PATROL_PLAN_WRITE: _STAFF,
    Permission.BRIEFING_READ: _COMMAND,
}


def allowed(role: str | None, permission: Permission) -> bool:
    """True when ``role`` holds ``permission``."""
    return role in ROLES_WITH[permission]


def require(role: str | None, permission: Permission) -> None:
    """Nothing when ``role`` holds ``permission``; ``Forbidden("forbidden")`` otherwise."""
    if not allowed(role, permission):
        raise Forbidden("forbidden", "error.forbidden", message=f"role {role!r} may not {permission.value}",
                        permission=permission.value)


def roles_with(permission: Permission) -> tuple[str, ...]:
    """The roles holding ``permission``, sorted (for route guards and the OpenAPI document)."""
    return tuple(sorted(ROLES_WITH[permission]))


def scope_of(role: str | None, action: str) -> Scope | None:
    """Over which incidents ``role`` may take ``action`` (None: not at all)."""
    return INCIDENT_SCOPES.get(role or "", {}).get(action)
