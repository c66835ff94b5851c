"""The incident state machine of the dispatch-and-closure loop (DESIGN §6), with no database or web.

It answers three questions: which state an action leads to from a given state (``next_state``),
whether a role may take an action at all (``may``), and over which incidents (``scope_of``,
``in_scope``). The service layer applies the answers to stored incidents. The table itself, the
enums and the permission rows live in the domain core (``domain.transitions``, ``domain.permissions``);
this module re-exports them and adds the rules that need an actor.
"""

from __future__ import annotations

from domain.enums import Action, IncidentState, Role
from domain.errors import ActionNotAllowed
from domain.permissions import INCIDENT_SCOPES, POSTPONE_APPROVERS, Scope, scope_of
from domain.states import OPEN_STATES, SOURCES, TERMINAL_STATES, UNFINISHED_STATES
from domain.transitions import DIRECT_ANSWER_TRANSITIONS, TRANSITIONS, next_state, parse_action

#: The names this module has always offered; they live in ``domain`` now.
__all__ = [
    "DIRECT_ANSWER_TRANSITIONS", "INCIDENT_SCOPES", "OPEN_STATES", "PERMISSIONS", "POSTPONE_APPROVERS", "SOURCES",
    "TERMINAL_STATES", "TRANSITIONS", "UNFINISHED_STATES", "Action", "ActionNotAllowed", "IncidentState", "Role",
    "S", "Scope", "approves_postpone", "available_actions", "check", "in_scope", "may", "next_state", "parse_action",
    "scope_of",
]

#: The incident rows of the one permission table (``domain.permissions.INCIDENT_SCOPES``).
PERMISSIONS = INCIDENT_SCOPES
S = IncidentState


def may(role: str | None, action: str) -> bool:
    """True when ``role`` may take ``action`` on at least some incidents."""
    return scope_of(role, action) is not None


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
