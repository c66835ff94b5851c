"""The incident state machine and permission table, without a database."""

from __future__ import annotations

import pytest

from dispatch.workflow import (
    Action,
    ActionNotAllowed,
    Scope,
    approves_postpone,
    available_actions,
    check,
    in_scope,
    may,
    next_state,
    scope_of,
)


def _run(*actions: str, state: str = "reported") -> str:
    for action in actions:
        state = next_state(state, action)
    return state


def test_the_main_loop_runs_from_report_to_closure():
    assert _run("file", "dispatch", "start", "resolve", "close") == "closed"


def test_return_sends_a_resolved_incident_back_to_dispatched_and_the_loop_can_finish():
    assert _run("file", "dispatch", "start", "resolve", "return") == "dispatched"
    assert _run("file", "dispatch", "start", "resolve", "return", "start", "resolve", "close") == "closed"


def test_reject_and_merge_end_a_report_without_filing_it():
    assert next_state("reported", "reject") == "rejected"
    assert next_state("reported", "merge") == "rejected"


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("reported", "dispatch"),
        ("reported", "close"),
        ("filed", "start"),
        ("dispatched", "resolve"),
        ("in_progress", "close"),
        ("resolved", "start"),
        ("closed", "return"),
        ("closed", "file"),
        ("rejected", "file"),
        ("filed", "reject"),
        ("closed", "escalate"),
        ("resolved", "postpone"),
        ("in_progress", "return"),
    ],
)
def test_actions_out_of_order_are_refused_as_invalid_transitions(state, action):
    with pytest.raises(ActionNotAllowed) as info:
        next_state(state, action)
    assert info.value.code == "invalid_transition"


def test_an_unknown_action_is_refused_with_its_own_code():
    with pytest.raises(ActionNotAllowed) as info:
        next_state("reported", "teleport")
    assert info.value.code == "unknown_action"


@pytest.mark.parametrize("state", ["reported", "filed", "dispatched", "in_progress", "resolved"])
def test_escalate_and_comment_keep_an_open_incident_in_its_state(state):
    assert next_state(state, "escalate") == state
    assert next_state(state, "comment") == state


def test_comment_is_allowed_even_on_closed_incidents():
    assert next_state("closed", "comment") == "closed"


def test_admin_may_take_every_action():
    assert all(may("admin", a) for a in Action)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("operator",
         {"file", "reject", "dispatch", "close", "return", "escalate", "postpone", "merge", "comment",
          "pass_down", "report_up"}),
        ("handler", {"start", "resolve", "comment", "postpone"}),
        ("worker", {"start", "resolve", "comment"}),
        ("leader", {"escalate", "comment"}),
        (None, set()),
        ("visitor", set()),
    ],
)
def test_each_role_may_take_exactly_its_actions(role, allowed):
    assert {a.value for a in Action if may(role, a)} == allowed


def test_scopes_follow_the_role():
    assert scope_of("operator", "close") is Scope.ALL
    assert scope_of("handler", "resolve") is Scope.DEPARTMENT
    assert scope_of("worker", "start") is Scope.OWN
    assert scope_of("worker", "close") is None


def test_only_operators_and_admins_approve_postponements():
    assert approves_postpone("operator") and approves_postpone("admin")
    assert not approves_postpone("handler")


def test_check_refuses_a_role_before_looking_at_the_state():
    with pytest.raises(ActionNotAllowed) as info:
        check("worker", "resolved", "close")
    assert info.value.code == "forbidden_action"
    assert check("worker", "dispatched", "start") == ("in_progress", Scope.OWN)


def _scope(scope, **incident):
    user = {"user_id": 7, "user_grid_id": 3, "user_department_id": 5}
    fields = {"grid_id": None, "department_id": None, "assignee_id": None, **incident}
    return in_scope(scope, **user, **fields)


def test_worker_scope_is_their_grid_or_their_assignments():
    assert _scope(Scope.OWN, grid_id=3)
    assert _scope(Scope.OWN, grid_id=4, assignee_id=7)
    assert not _scope(Scope.OWN, grid_id=4, assignee_id=8, department_id=5)


def test_handler_scope_is_their_department():
    assert _scope(Scope.DEPARTMENT, department_id=5)
    assert not _scope(Scope.DEPARTMENT, department_id=6, grid_id=3, assignee_id=7)


def test_a_user_without_a_grid_or_department_has_an_empty_scope():
    kwargs = {"user_id": 7, "user_grid_id": None, "user_department_id": None,
              "grid_id": None, "department_id": None, "assignee_id": None}
    assert not in_scope(Scope.OWN, **kwargs)
    assert not in_scope(Scope.DEPARTMENT, **kwargs)
    assert in_scope(Scope.ALL, **kwargs)


def test_available_actions_combine_role_and_state():
    assert available_actions("operator", "resolved") == ["close", "return", "escalate", "comment", "pass_down",
                                                         "report_up"]
    assert available_actions("worker", "dispatched") == ["start", "comment"]
    assert available_actions("leader", "closed") == ["comment"]
