"""The incident state machine of the dispatch-and-closure loop (DESIGN §6), with no database or web.

It answers three questions: which state an action leads to from a given state (``next_state``),
whether a role may take an action at all (``may``), and over which incidents (``scope_of``,
``in_scope``). The service layer applies the answers to stored incidents.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from data.models import IncidentState, Role

S = IncidentState

#: Where incidents come from (DESIGN §7 ``by_source``).
SOURCES: tuple[str, ...] = ("alert", "patrol", "hotline", "open311", "video", "operator", "citizen")

#: Incidents in these states are "open": filed and not yet closed.
OPEN_STATES: frozenset[str] = frozenset({S.FILED, S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED})
TERMINAL_STATES: frozenset[str] = frozenset({S.REJECTED, S.CLOSED})


class Action(enum.StrEnum):
    FILE = "file"
    REJECT = "reject"
    DISPATCH = "dispatch"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"
    RETURN = "return"
    ESCALATE = "escalate"
    POSTPONE = "postpone"
    MERGE = "merge"
    COMMENT = "comment"
    #: Command tiers (issue 17): hand the incident to a district or street centre (下派), or back to the
    #: tier above (上报). The state stays; ``incidents.tier_area_code`` changes.
    PASS_DOWN = "pass_down"  # noqa: S105  (an action name, not a password)
    REPORT_UP = "report_up"


class Scope(enum.StrEnum):
    """Over which incidents a role may take an action."""

    ALL = "all"
    DEPARTMENT = "department"  # incidents dispatched to the user's department
    OWN = "own"  # incidents assigned to the user or lying in the user's grid


class ActionNotAllowed(Exception):
    """An action that the state machine or the permission table refuses; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_OPEN_BEFORE_RESOLUTION = (S.FILED, S.DISPATCHED, S.IN_PROGRESS)
_NOT_TERMINAL = (S.REPORTED, *OPEN_STATES)

#: (from-state, action) → to-state. Actions that keep the state map a state onto itself.
TRANSITIONS: Mapping[tuple[str, str], str] = {
    (S.REPORTED, Action.FILE): S.FILED,
    (S.REPORTED, Action.REJECT): S.REJECTED,
    # A duplicate is merged into its original before it is filed, so it never counts as a case.
    (S.REPORTED, Action.MERGE): S.REJECTED,
    # An auto-filed duplicate (an alert, a camera) may still be merged before it is dispatched.
    (S.FILED, Action.MERGE): S.REJECTED,
    (S.FILED, Action.DISPATCH): S.DISPATCHED,
    # Re-dispatch (改派) to another department or assignee before work starts.
    (S.DISPATCHED, Action.DISPATCH): S.DISPATCHED,
    (S.DISPATCHED, Action.START): S.IN_PROGRESS,
    (S.IN_PROGRESS, Action.RESOLVE): S.RESOLVED,
    (S.RESOLVED, Action.CLOSE): S.CLOSED,
    (S.RESOLVED, Action.RETURN): S.DISPATCHED,
    **{(state, Action.ESCALATE): state for state in _NOT_TERMINAL},
    **{(state, Action.POSTPONE): state for state in _OPEN_BEFORE_RESOLUTION},
    **{(state, Action.PASS_DOWN): state for state in _NOT_TERMINAL},
    **{(state, Action.REPORT_UP): state for state in _NOT_TERMINAL},
    **{(state, Action.COMMENT): state for state in S},
}

_OPERATOR_ACTIONS = (
    Action.FILE, Action.REJECT, Action.DISPATCH, Action.CLOSE, Action.RETURN,
    Action.ESCALATE, Action.POSTPONE, Action.MERGE, Action.COMMENT, Action.PASS_DOWN, Action.REPORT_UP,
)

#: The one permission table: role → action → scope. A missing entry means "never".
PERMISSIONS: Mapping[str, Mapping[str, Scope]] = {
    Role.ADMIN: dict.fromkeys(Action, Scope.ALL),
    Role.OPERATOR: dict.fromkeys(_OPERATOR_ACTIONS, Scope.ALL),
    Role.HANDLER: dict.fromkeys((Action.START, Action.RESOLVE, Action.COMMENT, Action.POSTPONE),
                                Scope.DEPARTMENT),
    Role.WORKER: dict.fromkeys((Action.START, Action.RESOLVE, Action.COMMENT), Scope.OWN),
    Role.LEADER: dict.fromkeys((Action.ESCALATE, Action.COMMENT), Scope.ALL),
}

#: Roles whose ``postpone`` extends the deadline; for the others it is only a request.
POSTPONE_APPROVERS: frozenset[str] = frozenset({Role.ADMIN, Role.OPERATOR})


def parse_action(action: str) -> Action:
    """The Action called ``action``; ActionNotAllowed("unknown_action") otherwise."""
    try:
        return Action(action)
    except ValueError:
        raise ActionNotAllowed(
            "unknown_action", f"unknown action {action!r}; one of {', '.join(Action)}"
        ) from None


def next_state(state: str, action: str) -> str:
    """The state ``action`` leads to from ``state``; ActionNotAllowed("invalid_transition") if none."""
    to_state = TRANSITIONS.get((state, parse_action(action)))
    if to_state is None:
        raise ActionNotAllowed("invalid_transition", f"cannot {action} an incident that is {state}")
    return str(to_state)


def may(role: str | None, action: str) -> bool:
    """True when ``role`` may take ``action`` on at least some incidents."""
    return scope_of(role, action) is not None


def scope_of(role: str | None, action: str) -> Scope | None:
    """Over which incidents ``role`` may take ``action`` (None: not at all)."""
    return PERMISSIONS.get(role or "", {}).get(action)


def approves_postpone(role: str | None) -> bool:
    """True when a ``postpone`` by ``role`` extends the deadline rather than asking for it."""
    return role in POSTPONE_APPROVERS


def in_scope(
    scope: Scope,
    *,
    user_id: int | None,
    user_grid_id: int | None,
    user_department_id: int | None,
    grid_id: int | None,
    department_id: int | None,
    assignee_id: int | None,
    area_grid_ids: frozenset[int] | None = None,
) -> bool:
    """True when an incident (grid, department, assignee) lies within ``scope`` for this user; a user of a
    command tier (``area_grid_ids``: the grids of their area) acts only on incidents in those grids."""
    if area_grid_ids is not None and grid_id not in area_grid_ids:
        return False
    if scope is Scope.ALL:
        return True
    if scope is Scope.DEPARTMENT:
        return user_department_id is not None and department_id == user_department_id
    return (user_id is not None and assignee_id == user_id) or (
        user_grid_id is not None and grid_id == user_grid_id
    )


def check(role: str | None, state: str, action: str) -> tuple[str, Scope]:
    """The to-state and the role's scope for ``action`` from ``state``, or ActionNotAllowed."""
    scope = scope_of(role, parse_action(action))
    if scope is None:
        raise ActionNotAllowed("forbidden_action", f"role {role!r} may not {action} incidents")
    return next_state(state, action), scope


def available_actions(role: str | None, state: str) -> list[str]:
    """The actions ``role`` may take from ``state`` (scope aside), in the order of ``Action``."""
    return [a.value for a in Action if (state, a) in TRANSITIONS and may(role, a)]
