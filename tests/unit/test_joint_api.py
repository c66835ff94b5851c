"""Joint handling (issue 17 §2) through /api/v1: the dispatch action's ``assisting`` departments, each
department's handler working their own task, the incident resolved only when every task is, one task
returned, and bad input (an unknown department, an assisting department equal to the lead) refused with 422
and nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from data.accounts import create_user, issue_token
from data.joint_models import JointTask
from data.models import Department
from tests.unit.test_api_v1 import USERS, _act, _error, _report, app  # noqa: F401  (the app fixture)
from tests.unit.test_dispatch_service import make_city


@pytest.fixture
def tokens(db) -> dict[str, str]:
    with db.uow() as session:
        city = make_city(session)
        session.add(Department(code="fire", name_zh="消防", name_en="Fire brigade"))
        session.flush()
        fireman = create_user(session, "fireman", "handler", department_code="fire")
        users = {u.username: u for u in (city.admin, city.operator, city.leader, city.gas_handler,
                                          city.roads_handler, city.worker1, city.worker2, fireman)}
        return {name: issue_token(session, users[name]) for name in (*USERS, "roadman", "fireman")}


@pytest.fixture
def call(app, tokens):  # noqa: F811  (app is the imported fixture)
    client = app.test_client()

    def request(method: str, path: str, user: str | None = None, body=None, **kwargs):
        headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        return client.open(path, method=method, headers=headers, json=body, **kwargs)

    return request


def _ok(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _dispatched(call, assisting=("fire", "roads")) -> dict:
    incident = _ok(_act(call, _report(call), "file", "op"))
    return _ok(_act(call, incident, "dispatch", "op", department="gas", assisting=list(assisting)))


def test_a_dispatch_names_assisting_departments_and_each_handler_works_their_task(call):
    incident = _dispatched(call)
    assert [(t["department"], t["role"], t["state"]) for t in incident["tasks"]] == [
        ("gas", "lead", "open"), ("fire", "assist", "open"), ("roads", "assist", "open")]
    assert all(t["handle_deadline"] and t["card"] == "none" for t in incident["tasks"])
    # the assisting handler sees the incident (list and detail) and works their own task
    assert incident["id"] in [i["id"] for i in _ok(call("GET", "/api/v1/incidents", "fireman"))]
    incident = _ok(_act(call, incident, "resolve", "fireman", note="cordon lifted"))
    assert incident["state"] == "in_progress"  # work has begun; the lead and roads are still to resolve
    incident = _ok(_act(call, incident, "start", "gasman"))
    incident = _ok(_act(call, incident, "resolve", "gasman"))
    assert incident["state"] == "in_progress"  # roads has not resolved yet
    incident = _ok(_act(call, incident, "resolve", "roadman"))
    assert incident["state"] == "resolved"
    assert {t["department"]: t["state"] for t in incident["tasks"]} == {
        "gas": "resolved", "fire": "resolved", "roads": "resolved"}


def test_the_operator_returns_one_departments_task_only(call):
    incident = _dispatched(call, assisting=("fire",))
    incident = _ok(_act(call, incident, "resolve", "fireman"))
    incident = _ok(_act(call, incident, "start", "gasman"))
    incident = _ok(_act(call, incident, "resolve", "gasman"))
    assert incident["state"] == "resolved"
    incident = _ok(_act(call, incident, "return", "op", department="fire", note="redo"))
    assert incident["state"] == "dispatched"
    assert {t["department"]: t["state"] for t in incident["tasks"]} == {"gas": "resolved", "fire": "returned"}
    _error(_act(call, incident, "resolve", "gasman"), 422, "invalid_transition")  # gas's task stays resolved
    incident = _ok(_act(call, incident, "resolve", "fireman"))
    assert incident["state"] == "resolved"


@pytest.mark.parametrize(("body", "code"), [
    ({"department": "gas", "assisting": ["gas"]}, "assisting_is_lead"),
    ({"department": "gas", "assisting": ["fire", "nowhere"]}, "unknown_department"),
    ({"department": "nowhere", "assisting": ["fire"]}, "unknown_department"),
])
def test_bad_assignments_are_a_422_with_the_reason_and_nothing_is_written(call, db, body, code):
    incident = _ok(_act(call, _report(call), "file", "op"))
    error = _error(_act(call, incident, "dispatch", "op", **body), 422, code)
    assert error["message"]
    after = _ok(call("GET", f"/api/v1/incidents/{incident['id']}", "op"))
    assert (after["state"], after["version"], after["tasks"]) == ("filed", incident["version"], [])
    with db.uow() as session:
        assert session.scalar(select(func.count()).select_from(JointTask)) == 0


def test_a_handler_whose_department_has_no_task_cannot_touch_it(call):
    incident = _dispatched(call, assisting=("fire",))
    _error(call("GET", f"/api/v1/incidents/{incident['id']}", "roadman"), 404)
    _error(_act(call, incident, "start", "roadman"), 404)
    _error(_act(call, incident, "dispatch", "op", department="gas", assisting="fire"), 422, "invalid_field")
