"""The domain core (issue 15): the permission table, the state sets, the transition tables, the one error
base class; and the service doors that use them (auto_file refused to a role, the hotline's direct answer
through real transitions, the alert acknowledgement with its audit row, notes normalised in the service)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from alerts.inbox import InboxError, ack_alert
from data.models import Alert, AuditLog, IncidentHistory, Rule, Sensor, utcnow
from dispatch.hotline import HotlineCall, take_call
from dispatch.service import ActionNotAllowed, InvalidInput, NotFound, ServiceError, StaleVersion, create_incident
from domain import errors
from domain.enums import Action, AlertLevel, IncidentState, Role
from domain.permissions import EVERYONE, INCIDENT_SCOPES, ROLES_WITH, Permission, allowed, require, roles_with
from domain.states import (
    ALERT_LEVEL_RANK,
    ALERT_LEVELS,
    ALERT_LEVELS_DESC,
    OPEN_STATES,
    TERMINAL_STATES,
    UNFINISHED_STATES,
)
from domain.transitions import DIRECT_ANSWER_TRANSITIONS, TRANSITIONS, next_state
from tests.unit.test_dispatch_service import G1_POINT, make_city

S = IncidentState

# --- the permission table -----------------------------------------------------------------------


@pytest.mark.parametrize("permission", [p for p in Permission if ROLES_WITH[p] != EVERYONE])
def test_every_permission_is_held_by_some_role_and_refused_to_another(permission):
    holders = {role for role in Role if allowed(role, permission)}
    assert holders, f"nobody may {permission}"
    assert holders != set(Role), f"everybody may {permission}: it needs no entry"
    refused = next(role for role in Role if role not in holders)
    with pytest.raises(errors.Forbidden) as info:
        require(refused, permission)
    assert (info.value.status, info.value.code, info.value.message_key) == (403, "forbidden", "error.forbidden")
    require(next(iter(holders)), permission)  # no refusal
    assert roles_with(permission) == tuple(sorted(holders))


def test_the_table_names_every_permission_and_nobody_signed_out_holds_one():
    assert set(ROLES_WITH) == set(Permission)
    # the one right of every role (within what it may see): a photo with a comment
    assert [p for p in Permission if ROLES_WITH[p] == EVERYONE] == [Permission.PHOTO_UPLOAD]
    assert not any(allowed(None, permission) for permission in Permission)


def test_every_incident_action_is_taken_by_some_role_and_not_by_another_but_comments():
    for action in Action:
        holders = {role for role, actions in INCIDENT_SCOPES.items() if action in actions}
        assert holders, action
        assert (holders == set(Role)) == (action == Action.COMMENT), action  # everyone comments, within scope


# --- state sets and transitions -----------------------------------------------------------------


def test_open_and_unfinished_states_say_two_different_things():
    assert S.REPORTED in UNFINISHED_STATES and S.REPORTED not in OPEN_STATES
    assert OPEN_STATES | {S.REPORTED} == UNFINISHED_STATES
    assert not (UNFINISHED_STATES & TERMINAL_STATES) and set(S) == UNFINISHED_STATES | TERMINAL_STATES


def test_alert_levels_are_spelled_once_in_one_order():
    assert ALERT_LEVELS == ("blue", "yellow", "orange", "red") == tuple(AlertLevel)
    assert tuple(reversed(ALERT_LEVELS)) == ALERT_LEVELS_DESC
    assert [ALERT_LEVEL_RANK[level] for level in ALERT_LEVELS] == [0, 1, 2, 3]


def test_closing_a_filed_incident_is_only_the_direct_answers_step():
    with pytest.raises(errors.ActionNotAllowed) as info:
        next_state(S.FILED, Action.CLOSE)
    assert info.value.code == "invalid_transition"
    assert next_state(S.FILED, Action.CLOSE, DIRECT_ANSWER_TRANSITIONS) == S.CLOSED
    assert set(DIRECT_ANSWER_TRANSITIONS) - set(TRANSITIONS) == {(S.FILED, Action.CLOSE)}


# --- one error base class -----------------------------------------------------------------------


def test_the_services_refusals_are_domain_errors_with_their_http_status():
    cases = [(NotFound("incident_not_found", "x"), 404), (StaleVersion("stale_version", "x"), 409),
             (InvalidInput("note_required", "x"), 422), (ActionNotAllowed("forbidden_action", "x"), 422),
             (errors.Forbidden("forbidden"), 403), (errors.Conflict("taken"), 409)]
    for error, status in cases:
        assert isinstance(error, errors.DomainError) and error.status == status
        assert error.message_key == f"error.{error.code}"
    assert isinstance(StaleVersion("stale_version", "x"), ServiceError | errors.StaleVersion)
    assert errors.Invalid("bad_hours", hours=3).values == {"hours": 3}


# --- the doors ----------------------------------------------------------------------------------


@pytest.fixture
def city(session):
    return make_city(session)


def _report(session, actor, *, auto_file: bool):
    return create_incident(session, category_code="S0101", source="patrol", title="垃圾", lon=G1_POINT[0],
                           lat=G1_POINT[1], actor=actor, auto_file=auto_file)


def test_create_incident_refuses_auto_file_to_a_worker_and_writes_nothing(session, city):
    before = session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1))
    with pytest.raises(errors.Forbidden):
        _report(session, city.worker1, auto_file=True)
    assert session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1)) == before
    assert _report(session, city.worker1, auto_file=False).state == S.REPORTED
    assert _report(session, city.operator, auto_file=True).state == S.FILED
    with pytest.raises(errors.Forbidden):  # a leader reports nothing
        _report(session, city.leader, auto_file=False)


def test_the_direct_answer_walks_reported_filed_closed_with_history_audit_and_versions(session, city):
    incident = take_call(session, HotlineCall(caller="孙", phone="13512340000", content="问开放时间", category="S0101",
                                              mode="direct", answer="  9 点开放  "), actor=city.operator)
    steps = session.execute(select(IncidentHistory.action, IncidentHistory.from_state, IncidentHistory.to_state)
                            .where(IncidentHistory.incident_id == incident.id).order_by(IncidentHistory.id)).all()
    assert [tuple(step) for step in steps] == [("create", None, "reported"), ("file", "reported", "filed"),
                                               ("close", "filed", "closed")]
    audits = session.scalars(select(AuditLog.detail).where(AuditLog.target == f"incident:{incident.code}")
                             .order_by(AuditLog.id)).all()
    assert [(a["from"], a["to"]) for a in audits[1:]] == [("reported", "filed"), ("filed", "closed")]
    assert [a["version"] for a in audits] == [1, 2, 3] and incident.version == 3
    assert incident.public_reply == "9 点开放"  # trimmed in the service


def test_a_blank_direct_answer_is_refused_before_anything_is_written(session, city):
    with pytest.raises(InvalidInput) as info:
        take_call(session, HotlineCall(caller="孙", phone="13512340000", content="问", category="S0101",
                                       mode="direct", answer="   "), actor=city.operator)
    assert info.value.code == "note_required"


def _alert(session) -> Alert:
    session.add(Rule(id="r1", body={}, enabled=True, source="api", updated_at=utcnow()))
    session.add(Sensor(id="S-1", kind="gas_pressure", family="gas", name="S-1", unit="MPa", lon=G1_POINT[0],
                       lat=G1_POINT[1]))
    session.flush()
    alert = Alert(rule_id="r1", sensor_id="S-1", state="firing", level="red", started_at=utcnow(), fired_at=utcnow())
    session.add(alert)
    session.flush()
    return alert


def test_one_ack_service_checks_the_role_and_writes_one_audit_row(session, city):
    alert = _alert(session)
    with pytest.raises(errors.Forbidden):
        ack_alert(session, city.worker1, alert.id)
    assert ack_alert(session, city.operator, alert.id)[1] is True
    assert ack_alert(session, city.admin, alert.id)[1] is False  # once only
    rows = session.scalars(select(AuditLog).where(AuditLog.action == "alert.ack")).all()
    assert [(r.target, r.user_id) for r in rows] == [(f"alert:{alert.id}", city.operator.id)]
    assert alert.acked_by == city.operator.id
    with pytest.raises(InboxError):
        ack_alert(session, city.operator, alert.id + 1000)
