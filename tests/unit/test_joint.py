"""Joint handling (issue 17 §2, 主办/协办) on SQLite: assigning a lead and assisting departments, each department
working its own task, the resolution rule (the incident is resolved only when every task is), returning one
task, the tasks' own deadlines and cards, a handler's queue, bad input refused with nothing written, and the
KPI engine's department rows counting each department on its own task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from data.accounts import create_user
from data.joint_models import JointTask
from data.models import AuditLog, Department, IncidentHistory, User
from dispatch import joint
from dispatch.kpi import kpi_by, kpi_snapshot
from dispatch.service import (
    ActionNotAllowed,
    InvalidInput,
    get_incident,
    incident_to_dict,
    list_incidents,
    sweep_cards,
    tasks_for_worker,
)
from tests.unit.test_dispatch_service import City, _act, _new, make_city


@pytest.fixture
def city(session) -> City:
    city = make_city(session)
    session.add(Department(code="fire", name_zh="消防", name_en="Fire brigade"))
    session.flush()
    create_user(session, "fireman", "handler", department_code="fire")
    session.flush()
    return city


def _user(session, name: str) -> User:
    return session.scalar(select(User).where(User.username == name))


def _filed(session, city):
    incident = _new(session, city)
    return _act(session, incident, "file", city.operator)


def _joint_dispatch(session, city, assisting=("roads", "fire")):
    incident = _filed(session, city)
    return _act(session, incident, "dispatch", city.operator, department_code="gas", assisting=list(assisting))


def _states(session, incident_id: int) -> dict[str, tuple[str, str]]:
    return {t.department_code: (t.role, t.state) for t in joint.tasks_of(session, incident_id)}


# --- assignment ----------------------------------------------------------------------------------


def test_a_dispatch_with_assisting_departments_gives_each_its_own_task_and_deadline(session, city):
    incident = _joint_dispatch(session, city)
    assert incident.state == "dispatched"
    assert incident.department_id == city.gas.id
    tasks = joint.tasks_of(session, incident.id)
    assert [(t.department_code, t.role, t.state) for t in tasks] == [
        ("gas", "lead", "open"), ("roads", "assist", "open"), ("fire", "assist", "open")]
    for task in tasks:  # the category's (L01) handling limit: 2 h from the assignment
        assert task.handle_deadline == task.assigned_at + timedelta(hours=2)
        assert task.card == "none"
    last = incident.history[-1]
    assert (last.action, last.data["lead"], last.data["assisting"]) == ("dispatch", "gas", ["roads", "fire"])
    assert [t["department"] for t in incident_to_dict(incident)["tasks"]] == ["gas", "roads", "fire"]


def test_assign_is_the_api_other_modules_call_and_it_bumps_the_version_and_is_audited(session, city):
    incident = _filed(session, city)
    version = incident.version
    tasks = joint.assign(session, incident.id, lead="gas", assisting=["fire"], actor=city.operator,
                         deadline_hours=1.5)
    assert [(t.department_code, t.role) for t in tasks] == [("gas", "lead"), ("fire", "assist")]
    assert tasks[1].handle_deadline == tasks[1].assigned_at + timedelta(hours=1.5)
    assert incident.version == version + 1 and incident.state == "filed"
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "incident.assign")) == 1
    # re-assigning keeps a kept department's task, drops the others, and swaps roles
    again = joint.assign(session, incident.id, lead="fire", assisting=["roads"], actor=city.operator)
    assert [(t.department_code, t.role) for t in again] == [("fire", "lead"), ("roads", "assist")]
    assert again[0].id == tasks[1].id
    assert incident.department_id == _user(session, "fireman").department_id
    assert [t.department_code for t in joint.tasks_of(session, incident.id)] == ["fire", "roads"]


@pytest.mark.parametrize(("lead", "assisting", "code"), [
    ("gas", ["gas"], "assisting_is_lead"),
    ("gas", ["roads", "nowhere"], "unknown_department"),
    ("nowhere", ["roads"], "unknown_department"),
    ("", ["roads"], "department_required"),
])
def test_bad_assignments_are_refused_with_the_reason_and_nothing_is_written(session, city, lead, assisting, code):
    incident = _filed(session, city)
    before = (incident.version, incident.department_id, len(incident.history))
    with pytest.raises(joint.JointError) as refused:
        joint.assign(session, incident.id, lead=lead, assisting=assisting, actor=city.operator)
    assert refused.value.code == code and refused.value.status == 422
    if lead:  # (a dispatch without a department keeps the incident's own as the lead)
        with pytest.raises(InvalidInput) as through_dispatch:
            _act(session, incident, "dispatch", city.operator, department_code=lead, assisting=assisting)
        assert through_dispatch.value.code == code
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(JointTask)) == 0
    assert (incident.version, incident.department_id, len(incident.history)) == before
    assert incident.state == "filed"


def test_only_a_dispatcher_assigns_and_only_an_open_incident(session, city):
    incident = _filed(session, city)
    with pytest.raises(joint.JointForbidden):
        joint.assign(session, incident.id, lead="gas", assisting=["fire"], actor=city.gas_handler)
    with pytest.raises(joint.JointNotFound):
        joint.assign(session, 99999, lead="gas", assisting=["fire"], actor=city.operator)
    with pytest.raises(joint.JointError) as bad_hours:
        joint.assign(session, incident.id, lead="gas", assisting=[], actor=city.operator, deadline_hours=-1)
    assert bad_hours.value.code == "invalid_hours"
    rejected = _act(session, _new(session, city, point=(117.015, 36.605)), "reject", city.operator)
    with pytest.raises(joint.JointConflict):
        joint.assign(session, rejected.id, lead="gas", assisting=["fire"], actor=city.operator)


# --- working the tasks and the resolution rule ----------------------------------------------------


def test_the_incident_is_resolved_only_when_the_lead_and_every_assisting_task_are(session, city):
    incident = _joint_dispatch(session, city)
    fireman = _user(session, "fireman")
    incident = _act(session, incident, "start", fireman)  # an assisting department starts first
    assert incident.state == "in_progress"
    assert _states(session, incident.id)["fire"] == ("assist", "in_progress")
    incident = _act(session, incident, "resolve", fireman, note="fire out")
    assert incident.state == "in_progress" and incident.resolved_at is None
    incident = _act(session, incident, "resolve", city.gas_handler)  # the lead resolves (never started: fine)
    assert incident.state == "in_progress"
    assert _states(session, incident.id) == {"gas": ("lead", "resolved"), "roads": ("assist", "open"),
                                             "fire": ("assist", "resolved")}
    incident = _act(session, incident, "resolve", city.roads_handler)
    assert incident.state == "resolved" and incident.resolved_at is not None
    assert [h.to_state for h in incident.history[-3:]] == ["in_progress", "in_progress", "resolved"]
    assert incident.history[-1].data["tasks"] == [{"department": "roads", "role": "assist", "state": "resolved"}]


def test_a_handler_works_only_their_own_departments_task(session, city):
    incident = _joint_dispatch(session, city, assisting=("fire",))
    with pytest.raises(ActionNotAllowed) as other:
        _act(session, incident, "start", city.roads_handler)  # roads has no task here
    assert other.value.code in ("out_of_scope",)
    incident = _act(session, incident, "resolve", city.gas_handler)
    with pytest.raises(ActionNotAllowed) as twice:
        _act(session, incident, "resolve", city.gas_handler)
    assert twice.value.code == "invalid_transition"
    with pytest.raises(ActionNotAllowed):
        _act(session, incident, "start", city.worker1)  # a worker has no department task


def test_an_assisting_handler_sees_the_incident_in_their_queue(session, city):
    incident = _joint_dispatch(session, city, assisting=("fire",))
    fireman = _user(session, "fireman")
    assert [i.id for i in tasks_for_worker(session, fireman)] == [incident.id]
    assert incident.id in {i.id for i in list_incidents(session, user=fireman)}
    assert get_incident(session, incident.id, user=fireman).id == incident.id
    assert incident.id not in {i.id for i in list_incidents(session, user=city.roads_handler)}


def test_the_operator_returns_one_task_without_reopening_the_others(session, city):
    incident = _joint_dispatch(session, city, assisting=("fire",))
    fireman = _user(session, "fireman")
    incident = _act(session, incident, "resolve", fireman)
    incident = _act(session, incident, "resolve", city.gas_handler)
    assert incident.state == "resolved"
    incident = _act(session, incident, "return", city.operator, department_code="fire", note="hydrant left open")
    assert incident.state == "dispatched" and incident.rework_count == 1
    assert _states(session, incident.id) == {"gas": ("lead", "resolved"), "fire": ("assist", "returned")}
    fire_task = joint.task_of(session, incident.id, fireman.department_id)
    assert (fire_task.returned_count, fire_task.resolved_at, fire_task.note) == (1, None, "hydrant left open")
    incident = _act(session, incident, "resolve", fireman)
    assert incident.state == "resolved"
    # a task of an incident still in progress can be returned too; the incident's state stays
    other = _joint_dispatch(session, city, assisting=("fire",))
    other = _act(session, other, "resolve", fireman)
    other = _act(session, other, "return", city.operator, department_code="fire")
    assert other.state == "in_progress"
    with pytest.raises(ActionNotAllowed):  # an open task is not returned
        _act(session, other, "return", city.operator, department_code="gas")
    with pytest.raises(InvalidInput):
        _act(session, other, "return", city.operator, department_code="roads")


def test_a_whole_return_of_a_resolved_joint_incident_reopens_every_task(session, city):
    incident = _joint_dispatch(session, city, assisting=("fire",))
    incident = _act(session, incident, "resolve", _user(session, "fireman"))
    incident = _act(session, incident, "resolve", city.gas_handler)
    incident = _act(session, incident, "return", city.operator)
    assert incident.state == "dispatched"
    assert {s for _, s in _states(session, incident.id).values()} == {"returned"}


def test_a_redispatch_keeps_the_assisting_departments_unless_it_names_others(session, city):
    incident = _joint_dispatch(session, city, assisting=("fire",))
    incident = _act(session, incident, "dispatch", city.operator, department_code="roads")
    assert _states(session, incident.id) == {"roads": ("lead", "open"), "fire": ("assist", "open")}
    incident = _act(session, incident, "dispatch", city.operator, department_code="fire")  # the helper leads now
    assert _states(session, incident.id) == {"fire": ("lead", "open")}
    plain = _act(session, _filed(session, city), "dispatch", city.operator, department_code="gas")
    assert joint.tasks_of(session, plain.id) == []  # one department: no tasks, as before


# --- cards ---------------------------------------------------------------------------------------


def test_each_task_has_its_own_card_by_the_sla_rule(session, city):
    incident = _joint_dispatch(session, city, assisting=("fire",))
    fireman = _user(session, "fireman")
    _act(session, incident, "resolve", fireman)
    gas_task = joint.task_of(session, incident.id, city.gas.id)
    start = gas_task.assigned_at
    sweep_cards(session, start + timedelta(minutes=100))  # 20 min of 2 h left: yellow
    session.expire_all()
    assert _cards(session, incident.id) == {"gas": "yellow", "fire": "none"}
    sweep_cards(session, start + timedelta(hours=3))
    session.expire_all()
    assert _cards(session, incident.id) == {"gas": "red", "fire": "none"}
    assert joint.task_card(gas_task, start) == "none"


def _cards(session, incident_id: int) -> dict[str, str]:
    return {t.department_code: t.card for t in joint.tasks_of(session, incident_id)}


# --- figures -------------------------------------------------------------------------------------


def test_department_figures_count_each_departments_own_tasks_assisting_work_included(session, city):
    fireman = _user(session, "fireman")
    joint_case = _joint_dispatch(session, city, assisting=("fire",))
    _act(session, joint_case, "resolve", fireman)
    plain = _act(session, _filed(session, city), "dispatch", city.operator, department_code="roads")
    _act(session, _act(session, plain, "start", city.roads_handler), "resolve", city.roads_handler)
    frm, to = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    rows = {row["code"]: row for row in kpi_by(session, frm, to, "department")}  # the KPI engine's rows

    def handling(code: str) -> tuple:
        return tuple(rows[code][key] for key in ("reported", "dispatched", "handled", "handled_on_time", "rework_rate"))

    assert handling("fire") == (1, 1, 1, 1, 0.0)  # its assisting task, resolved in time
    assert handling("gas") == (1, 1, 0, 0, None)  # the lead's task is not resolved yet
    assert handling("roads") == (1, 1, 1, 1, 0.0)  # an ordinary case: the incident's own columns
    assert kpi_snapshot(session, frm, to, department="fire")["handled_on_time"] == 1
    assert kpi_by(session, to, to + timedelta(days=1), "department") == []
    assert kpi_by(session, frm, to, "department", grid_ids=[city.g2.id]) == []  # all lie in G1
    assert {row["code"] for row in kpi_by(session, frm, to, "department", grid_ids=[city.g1.id])} == \
        {"fire", "gas", "roads"}


def test_history_rows_name_the_task_actions(session, city):
    incident = _joint_dispatch(session, city, assisting=("fire",))
    _act(session, incident, "start", _user(session, "fireman"))
    rows = session.scalars(select(IncidentHistory).where(IncidentHistory.incident_id == incident.id)
                           .order_by(IncidentHistory.id)).all()
    assert [r.action for r in rows][-2:] == ["dispatch", "start"]
    assert rows[-1].data["tasks"][0]["department"] == "fire"
