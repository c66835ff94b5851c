# ruff: noqa: F811  (pytest fixtures imported from test_pages are parameters here)
"""Proof on a city that is not the demo (issue 16): the example pack of ``examples/make_pack.py`` (临溪市:
areas in CGCS2000 and a Gauss–Krüger zone, departments, categories, users, doorplates, a gas sensor, a key
place, resources) imported into an EMPTY database, then the whole thread — a reading over the gas rule →
an alert → an incident routed to the imported grid's worker and department → dispatched → started and
resolved on the phone page → closed → the KPI moves — with no demo data anywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

import api.v1  # noqa: F401  (declares the routes)
from alerts.rules_loader import sync_rule_files
from callbacks import worker
from data.accounts import issue_token, verify_password
from data.db import Database
from data.demo import CITY_CODE as DEMO_CITY_CODE
from data.demo import CITY_NAME as DEMO_CITY_NAME
from data.demo import DEMO_LOGINS
from data.models import Area, Category, Department, Doorplate, Incident, KeyPlace, Resource, Sensor, User
from dispatch.city_import import activate_user
from dispatch.city_pack import import_pack
from tests.unit.test_city_pack import make_pack
from tests.unit.test_layers_api import api_client
from tests.unit.test_pages import callback_context, clicked, server, signed_in, with_testid  # noqa: F401


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'second.db'}")
    database.migrate()
    assert database.is_empty()
    yield database
    database.dispose()


@pytest.fixture
def linxi(db, tmp_path):
    """The example city imported from its files alone, with the rule files loaded as ``serve`` does; returns
    the activation codes printed for its users."""
    report = import_pack(db, make_pack.make_pack(tmp_path / "linxi"))
    with db.uow() as s:
        sync_rule_files(s)
    messages = [m for _, r in report.files for m in r.messages]
    return dict(m.removeprefix("activation code for ").split(": ") for m in messages)


def test_the_imported_city_holds_no_demo_data(db, linxi):
    with db.uow() as s:
        assert DEMO_CITY_NAME not in set(s.scalars(select(Area.name)))
        assert not any(code.startswith(DEMO_CITY_CODE[:4]) for code in s.scalars(select(Area.code)))
        assert set(s.scalars(select(Sensor.id))) == {"LX-RQ-0001"}
        assert set(s.scalars(select(Category.code))) == {"L01", "E01", "C01"}
        assert set(s.scalars(select(Department.code))) == {"LX-GAS", "LX-CGJ", "LX-CGJ-1"}
        usernames = set(s.scalars(select(User.username)))
        assert usernames == {u["username"] for u in make_pack.USERS} and not usernames & set(DEMO_LOGINS)
        assert all(code.startswith("LX-") for code in s.scalars(select(Doorplate.code)))
        assert set(s.scalars(select(KeyPlace.code))) == {"LX-ZD-001"}
        assert len(s.scalars(select(Resource.id)).all()) == 2


def test_the_whole_thread_runs_on_the_imported_city(db, linxi, server):
    with db.uow() as s:  # the worker sets a password with the code the import printed
        activate_user(s, "lx_w1", linxi["lx_w1"], "river-bank patrol at dawn 2026")
        assert verify_password(s.scalar(select(User.password_hash).where(User.username == "lx_w1")),
                               "river-bank patrol at dawn 2026")
        tokens = {u.username: issue_token(s, u) for u in s.scalars(select(User))}
    client = api_client(db)

    def call(method: str, path: str, user: str, body=None):
        response = client.open(path, method=method, headers={"Authorization": f"Bearer {tokens[user]}"}, json=body)
        assert response.status_code < 300, response.get_data(as_text=True)
        return response.get_json()

    now = datetime.now(UTC).replace(microsecond=0)
    period = urlencode({"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=1)).isoformat()})
    before = call("GET", f"/api/v1/kpi?{period}", "lx_leader")
    assert (before["reported"], before["closed"], before["closure_rate"]) == (0, 0, None)

    # a gas-main pressure over the orange limit (0.42 MPa) for longer than the rule's `for`
    readings = [{"sensor_id": "LX-RQ-0001", "ts": (now - timedelta(seconds=s)).isoformat(), "value": 0.43}
                for s in (100, 50, 10)]
    assert call("POST", "/api/v1/readings", "lx_op", {"readings": readings})["accepted"] == 3
    evaluated = call("POST", "/api/v1/evaluate", "lx_admin")
    assert (evaluated["fired"], evaluated["incidents"], evaluated["incident_errors"]) == (1, 1, 0)
    (alert,) = call("GET", "/api/v1/alerts?state=firing", "lx_op")
    assert (alert["sensor_id"], alert["level"]) == ("LX-RQ-0001", "orange")

    (incident,) = call("GET", "/api/v1/incidents", "lx_op")
    assert (incident["source"], incident["category"], incident["state"]) == ("alert", "L01", "filed")
    assert (incident["grid_code"], incident["department"], incident["assignee"]) == ("LX-G01", "LX-GAS", "lx_w1")
    assert [i["id"] for i in call("GET", "/api/v1/incidents", "lx_east_op")] == [incident["id"]]  # its district

    incident = call("POST", f"/api/v1/incidents/{incident['id']}/actions", "lx_op",
                    {"action": "dispatch", "version": incident["version"], "department": "LX-GAS"})
    assert incident["state"] == "dispatched"

    with db.uow() as s:
        worker_user = s.scalar(select(User).where(User.username == "lx_w1"))
        s.expunge(worker_user)
    start = {"type": "worker-action", "id": incident["id"], "action": "start"}
    with signed_in(server, worker_user):  # the phone page: the task card, then its start button
        children, versions, *_ = worker.show_tasks(None, None, 0)
        assert len(with_testid(children, "task-card")) == 1
        clicked(start)
        _, reload = worker.take_task_action([1], [], [], versions, 0)
        _, versions, *_ = worker.show_tasks(None, None, reload)
    note_id = {"type": "worker-note", "id": incident["id"]}
    resolve = {"type": "worker-action", "id": incident["id"], "action": "resolve"}
    with signed_in(server, worker_user):
        clicked(resolve, states_list=[[{"id": note_id, "property": "value", "value": "调压阀已复位"}]])
        message, _ = worker.take_task_action([1, 1], ["调压阀已复位"], [None], versions, 1)
    assert "msg-ok" in message.className
    with db.uow() as s:
        assert s.scalar(select(Incident.state).where(Incident.id == incident["id"])) == "resolved"

    incident = call("GET", f"/api/v1/incidents/{incident['id']}", "lx_op")
    closed = call("POST", f"/api/v1/incidents/{incident['id']}/actions", "lx_op",
                  {"action": "close", "version": incident["version"]})
    assert closed["state"] == "closed"
    assert [h["action"] for h in closed["history"]] == ["create", "file", "dispatch", "start", "resolve", "close"]
    assert [h["actor"] for h in closed["history"]][3:5] == ["lx_w1", "lx_w1"]

    after = call("GET", f"/api/v1/kpi?{period}", "lx_leader")
    assert (after["reported"], after["filed"], after["dispatched"], after["handled"], after["closed"]) == (
        1, 1, 1, 1, 1)
    assert after["closure_rate"] == 1.0 and after["by_source"].get("alert") == 1
