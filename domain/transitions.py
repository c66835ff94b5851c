"""The incident state machine as a table (DESIGN §6): (from-state, action) → to-state.

``dispatch.workflow`` re-exports these names and adds the scope rules that need the actor.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.enums import Action, IncidentState
from domain.errors import ActionNotAllowed
from domain.states import BEFORE_RESOLUTION_STATES, UNFINISHED_STATES

S = IncidentState

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
    **{(state, Action.ESCALATE): state for state in UNFINISHED_STATES},
    **{(state, Action.POSTPONE): state for state in BEFORE_RESOLUTION_STATES},
    **{(state, Action.PASS_DOWN): state for state in UNFINISHED_STATES},
    **{(state, Action.REPORT_UP): state for state in UNFINISHED_STATES},
    **{(state, Action.COMMENT): state for state in S},
}

#: The hotline's direct answer (直办, ``dispatch.service.answer_directly``): a new order is filed and, in the
#: same command, closed without dispatch. Only that command walks this table; the console never offers it.
DIRECT_ANSWER_TRANSITIONS: Mapping[tuple[str, str], str] = {
    **TRANSITIONS,
    (S.FILED, Action.CLOSE): S.CLOSED,
}


def parse_action(action: str) -> Action:
    """The Action called ``action``; ActionNotAllowed("unknown_action") otherwise."""
    try:
        return Action(action)
    except ValueError:
        raise ActionNotAllowed(
            "unknown_action", f"unknown action {action!r}; one of {', '.join(Action)}"
        ) from None


def next_state(state: str, action: str, table: Mapping[tuple[str, str], str] = TRANSITIONS) -> str:
    """The state ``action`` leads to from ``state`` in ``table``; ActionNotAllowed("invalid_transition") if none."""
    to_state = table.get((state, parse_action(action)))
    if to_state is None:
        raise ActionNotAllowed("invalid_transition", f"cannot {action} an incident that is {state}")
    return str(to_state)
