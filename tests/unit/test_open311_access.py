"""Open311 access (issue 14, findings 2 and 3): reads show only requests of the published services and
only their public fields, anonymous reads can be switched off, and only an Open311 client key — never an
ordinary API token, whoever owns it — creates requests; an Open311 key opens nothing on /api/v1."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from api.open311 import open311_bp
from data.accounts import issue_open311_key
from data.models import AuditLog, Incident
from dispatch.service import Caller, create_incident
from settings import get_settings
from tests.unit import test_api_v1 as v1
from tests.unit.test_app import _cli
from tests.unit.test_dispatch_service import G1_POINT

app, tokens, call = v1.app, v1.tokens, v1.call

#: What a 12345 call taker typed: the caller's ID number and home address.
CALL_TEXT = "来电人身份证号370102198001011234，住历下区幸福路8号2单元301，反映楼下垃圾堆放"
HOME = "历下区幸福路8号2单元301"


@pytest.fixture
def client(app: Flask, tokens):
    app.register_blueprint(open311_bp)
    return app.test_client()


@pytest.fixture
def key(db) -> str:
    with db.uow() as s:
        return issue_open311_key(s, "city-portal")


@pytest.fixture
def hotline_and_alert(db, tokens) -> tuple[str, str]:
    """A hotline call of a published service, with the caller's private text, and an internal lifeline
    alert incident (L01 is no Open311 service)."""
    with db.uow() as s:
        call_ = create_incident(s, category_code="S0101", source="hotline", title=CALL_TEXT[:40],
                                description=CALL_TEXT, address=HOME, lon=G1_POINT[0], lat=G1_POINT[1],
                                caller=Caller(name="张建国", phone="13812345678"))
        alert = create_incident(s, category_code="L01", source="alert", title="燃气压力超限 GAS-7",
                                lon=G1_POINT[0], lat=G1_POINT[1])
        return call_.code, alert.code


def _post(client, api_key: str, **fields: str):
    return client.post("/open311/v2/requests.json", data={
        "api_key": api_key, "service_code": "S0101", "lat": str(G1_POINT[1]), "long": str(G1_POINT[0]),
        "description": "路口垃圾没人清", "first_name": "San", "last_name": "Zhang", "phone": "13900001111",
        **fields})


def _count(db) -> int:
    with db.uow() as s:
        return s.scalar(select(func.count(Incident.id)))


# --- finding 2: what reads show -----------------------------------------------------------------


def test_open311_reads_never_show_a_hotline_callers_text_or_home(client, hotline_and_alert):
    call_code, _ = hotline_and_alert
    for path in ("/open311/v2/requests.json", f"/open311/v2/requests/{call_code}.json",
                 f"/open311/v2/requests.xml?service_request_id={call_code}"):
        response = client.get(path)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_data(as_text=True)
        assert call_code in body
        for private in ("370102198001011234", "幸福路", "张建国", "13812345678", "5678"):
            assert private not in body, (path, private)
    [shown] = client.get(f"/open311/v2/requests/{call_code}.json").get_json()
    assert (shown["description"], shown["address"], shown["lat"], shown["long"]) == (None, None, None, None)
    assert shown["status"] == "open" and shown["service_code"] == "S0101"


def test_open311_reads_never_show_requests_of_unpublished_services(client, hotline_and_alert):
    call_code, alert_code = hotline_and_alert
    listed = [r["service_request_id"] for r in client.get("/open311/v2/requests.json").get_json()]
    assert listed == [call_code]
    assert client.get(f"/open311/v2/requests.json?service_request_id={alert_code}").get_json() == []
    assert client.get("/open311/v2/requests.json?service_code=L01").get_json() == []
    missing = client.get(f"/open311/v2/requests/{alert_code}.json")
    nothing = client.get("/open311/v2/requests/SJ20990101-999999.json")
    assert missing.status_code == nothing.status_code == 404
    assert missing.get_json()[0]["description"].replace(alert_code, "X") == \
        nothing.get_json()[0]["description"].replace("SJ20990101-999999", "X")


def test_a_citizens_description_is_public_and_an_operator_publishes_one_for_a_call(client, call, key, db,
                                                                                 hotline_and_alert):
    call_code, _ = hotline_and_alert
    posted = _post(client, key)
    assert posted.status_code == 201, posted.get_data(as_text=True)
    code = posted.get_json()[0]["service_request_id"]
    [mine] = client.get(f"/open311/v2/requests/{code}.json").get_json()
    assert (mine["description"], mine["lat"]) == ("路口垃圾没人清", G1_POINT[1])
    assert "San" not in client.get(f"/open311/v2/requests/{code}.json").get_data(as_text=True)
    with db.uow() as s:
        call_id = s.scalar(select(Incident.id).where(Incident.code == call_code))
    path = f"/api/v1/incidents/{call_id}/public-description"
    for user in ("boss", "gasman", "w1"):  # leader, handler, worker
        assert call("PUT", path, user, {"public_description": "x"}).status_code == 403
    assert call("PUT", path, None, {"public_description": "x"}).status_code == 401
    published = call("PUT", path, "op", {"public_description": "楼下垃圾堆放，已转环卫"})
    assert published.status_code == 200, published.get_data(as_text=True)
    assert published.get_json()["public_description"] == "楼下垃圾堆放，已转环卫"
    [shown] = client.get(f"/open311/v2/requests/{call_code}.json").get_json()
    assert shown["description"] == "楼下垃圾堆放，已转环卫" and shown["lat"] == G1_POINT[1]
    too_long = call("PUT", path, "op", {"public_description": "长" * 4001})
    assert too_long.status_code == 422
    withdrawn = call("PUT", path, "op", {"public_description": ""})
    assert withdrawn.status_code == 200 and withdrawn.get_json()["public_description"] is None
    with db.uow() as s:
        assert s.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "incident.publish")) == 2


def test_anonymous_reads_can_be_switched_off_and_then_need_an_open311_key(client, key, tokens, monkeypatch,
                                                                           hotline_and_alert):
    call_code, _ = hotline_and_alert
    monkeypatch.setenv("CITYOPS_OPEN311_PUBLIC_READS", "0")
    get_settings.cache_clear()
    for path in ("/open311/v2/requests.json", f"/open311/v2/requests/{call_code}.json"):
        refused = client.get(path)
        assert refused.status_code == 403 and "api_key" in refused.get_json()[0]["description"]
        assert client.get(f"{path}?api_key={tokens['admin']}").status_code == 403  # an API token is no key
        assert client.get(f"{path}?api_key={key}").status_code == 200
    assert client.get("/open311/v2/services.json").status_code == 200  # the published catalog stays public


# --- finding 3: who may create ----------------------------------------------------------------------


@pytest.mark.parametrize("owner", v1.USERS)
def test_no_api_token_creates_open311_requests_whoever_owns_it(client, tokens, db, owner):
    refused = _post(client, tokens[owner])
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert "api_key is not valid" in refused.get_json()[0]["description"]
    assert _count(db) == 0


def test_an_open311_key_creates_a_request_in_its_clients_name_and_opens_nothing_else(client, call, key, db):
    posted = _post(client, key)
    assert posted.status_code == 201, posted.get_data(as_text=True)
    code = posted.get_json()[0]["service_request_id"]
    with db.uow() as s:
        incident = s.scalar(select(Incident).where(Incident.code == code))
        assert (incident.source, incident.history[0].actor_id) == ("open311", None)
        assert s.scalar(select(AuditLog.detail).where(AuditLog.action == "open311.request")) == \
            {"open311_client": "city-portal"}
    bearer = {"Authorization": f"Bearer {key}"}
    for method, path in (("GET", "/api/v1/incidents"), ("POST", "/api/v1/incidents"), ("GET", "/api/v1/kpi"),
                         ("GET", "/api/v1/tokens")):
        assert client.open(path, method=method, headers=bearer, json={}).status_code == 401, path


def test_a_revoked_open311_key_stops_working_and_only_an_admin_sees_it(client, call, key, db):
    listed = call("GET", "/api/v1/tokens", "admin").get_json()
    [row] = [r for r in listed if r["kind"] == "open311"]
    assert (row["client"], row["user"], row["user_id"]) == ("city-portal", None, None)
    assert all(r["kind"] == "api" for r in call("GET", "/api/v1/tokens", "op").get_json())
    assert call("DELETE", f"/api/v1/tokens/{row['id']}", "op").status_code == 404
    assert call("DELETE", f"/api/v1/tokens/{row['id']}", "admin").status_code == 200
    assert _post(client, key).status_code == 403 and _count(db) == 0


def test_the_open311_key_command_prints_a_working_key_alone_on_the_last_line(tmp_path):
    env = {"CITYOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}"}
    done = _cli("open311-key", "city-portal", env=env)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    assert key.startswith("o311_") and " " not in key
    bad = _cli("open311-key", "../../etc", env=env)
    assert bad.returncode != 0 and "client name" in bad.stderr and "Traceback" not in bad.stderr
