"""The /api/v1 blueprint and /healthz through Flask's test client, with the real bearer-token auth."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from flask import Flask
from openapi_spec_validator import validate as validate_openapi
from sqlalchemy import insert, select

import api.v1  # noqa: F401  (declares the incident and KPI routes)
from api.auth import init_auth
from api.errors import register_error_handlers
from api.feeds import MAX_READINGS
from api.health import health_bp
from api.registry import api_v1, openapi_path
from data.accounts import issue_token
from data.models import Alert, Department, Grid, Incident, Sensor, utcnow
from dispatch.kpi import SCOPES
from tests.unit.test_app import _cli
from tests.unit.test_dispatch_service import G1_POINT, G2_POINT, make_city
from tests.unit.test_kpi import END as KPI_END
from tests.unit.test_kpi import START as KPI_START
from tests.unit.test_kpi import scoped_rows
from tests.unit.test_rules_schema import CONTRACT_EXAMPLE as RULE

USERS = ("admin", "op", "boss", "gasman", "w1", "w2")


@pytest.fixture
def app(db) -> Flask:
    server = Flask(__name__)
    server.secret_key = "test"
    init_auth(server, db)
    register_error_handlers(server)
    server.register_blueprint(health_bp)
    server.register_blueprint(api_v1)
    return server


@pytest.fixture
def tokens(db) -> dict[str, str]:
    with db.uow() as session:
        city = make_city(session)
        users = {u.username: u for u in (city.admin, city.operator, city.leader, city.gas_handler,
                                          city.worker1, city.worker2)}
        return {name: issue_token(session, users[name]) for name in USERS}


@pytest.fixture
def call(app, tokens):
    client = app.test_client()

    def request(method: str, path: str, user: str | None = None, body=None, **kwargs):
        headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        return client.open(path, method=method, headers=headers, json=body, **kwargs)

    return request


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) >= {"code", "message"}
    if code is not None:
        assert error["code"] == code, error
    return error


def _report(call, user="op", point=G1_POINT, **extra):
    body = {"category": "L01", "title": "gas smell", "lon": point[0], "lat": point[1], **extra}
    response = call("POST", "/api/v1/incidents", user, body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _act(call, incident: dict, action: str, user: str, **extra):
    return call("POST", f"/api/v1/incidents/{incident['id']}/actions", user,
                {"action": action, "version": incident["version"], **extra})


# --- auth and errors ----------------------------------------------------------------------------


def test_anonymous_requests_get_a_json_401(call):
    _error(call("GET", "/api/v1/incidents"), 401, "unauthorized")
    _error(call("POST", "/api/v1/readings", body={"readings": []}), 401)


def test_an_unknown_token_is_anonymous(app):
    response = app.test_client().get("/api/v1/kpi", headers={"Authorization": "Bearer cot_forged"})
    _error(response, 401)


def test_a_wrong_role_gets_a_json_403(call):
    _error(call("POST", "/api/v1/evaluate", "w1"), 403, "forbidden")
    _error(call("POST", "/api/v1/readings", "boss", {"readings": []}), 403)
    _error(call("POST", "/api/v1/categories", "op", {}), 403)
    _error(call("POST", "/api/v1/incidents", "boss", {"category": "L01", "title": "x"}), 403)


def test_unknown_routes_and_methods_answer_in_the_json_shape(call):
    _error(call("GET", "/api/v1/nothing-here", "op"), 404, "not_found")
    _error(call("DELETE", "/api/v1/kpi", "op"), 405, "method_not_allowed")


def test_malformed_json_is_a_400_not_a_500(call):
    response = call("POST", "/api/v1/incidents", "op", data="{not json", content_type="application/json")
    _error(response, 400, "bad_json")
    _error(call("POST", "/api/v1/incidents/1/actions", "op", [1, 2]), 400)


# --- incidents ----------------------------------------------------------------------------------


def test_the_happy_path_file_dispatch_start_resolve_close(call):
    incident = _report(call, description="near the school")
    assert (incident["state"], incident["version"], incident["grid_code"]) == ("reported", 1, "G1")
    assert (incident["department"], incident["assignee"], incident["source"]) == ("gas", "w1", "operator")
    steps = [("file", "op", {}), ("dispatch", "op", {"department": "gas", "note": "urgent"}),
             ("start", "gasman", {}), ("resolve", "gasman", {"note": "valve shut"}), ("close", "op", {})]
    for action, user, extra in steps:
        response = _act(call, incident, action, user, **extra)
        assert response.status_code == 200, response.get_data(as_text=True)
        incident = response.get_json()
    assert (incident["state"], incident["version"]) == ("closed", 6)
    assert [h["action"] for h in incident["history"]] == ["create", "file", "dispatch", "start", "resolve",
                                                          "close"]
    assert incident["history"][3]["actor"] == "gasman"
    for stamp in ("filed_at", "dispatched_at", "resolved_at", "closed_at"):
        datetime.fromisoformat(incident[stamp])  # ISO-8601 ...
        assert incident[stamp][-6] in "+-", stamp  # ... with an offset
    fetched = call("GET", f"/api/v1/incidents/{incident['id']}", "op").get_json()
    assert fetched == incident


def test_a_stale_version_is_a_409(call):
    incident = _report(call)
    assert _act(call, incident, "file", "op").status_code == 200
    _error(_act(call, incident, "reject", "op"), 409, "stale_version")


def test_an_action_from_the_wrong_state_is_a_422(call):
    incident = _report(call)
    _error(_act(call, incident, "close", "op"), 422, "invalid_transition")


def test_an_action_the_users_role_may_not_take_is_a_422(call):
    incident = _report(call)
    _error(_act(call, incident, "file", "boss"), 422, "forbidden_action")
    assert _act(call, incident, "escalate", "boss").get_json()["escalated"] is True


def test_a_worker_cannot_see_or_act_on_another_grids_incident(call):
    incident = _report(call, point=G2_POINT)
    _error(call("GET", f"/api/v1/incidents/{incident['id']}", "w1"), 404)
    _error(_act(call, incident, "comment", "w1", note="hi"), 404)
    assert call("GET", "/api/v1/incidents", "w1").get_json() == []
    assert [i["id"] for i in call("GET", "/api/v1/incidents", "w2").get_json()] == [incident["id"]]


def test_a_worker_reports_a_patrol_incident_but_may_not_file_it(call):
    incident = _report(call, user="w1")
    assert incident["source"] == "patrol"
    _error(call("POST", "/api/v1/incidents", "w1", {"category": "L01", "title": "x", "auto_file": True}), 403)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"action": "file"}, "version"),
        ({"action": "fly", "version": 1}, "action"),
        ({"action": "file", "version": 1, "colour": "red"}, "colour"),
    ],
)
def test_invalid_action_bodies_are_a_422_naming_the_field(call, body, fragment):
    incident = _report(call)
    response = call("POST", f"/api/v1/incidents/{incident['id']}/actions", "op", body)
    error = _error(response, 422, "invalid_field")
    assert fragment in error["message"]


def test_creating_with_an_unknown_category_is_a_422(call):
    response = call("POST", "/api/v1/incidents", "op", {"category": "ZZZ", "title": "x"})
    _error(response, 422, "unknown_category")


def test_unknown_incident_is_a_404(call):
    _error(call("GET", "/api/v1/incidents/424242", "op"), 404, "incident_not_found")
    _error(call("POST", "/api/v1/incidents/424242/actions", "op", {"action": "file", "version": 1}), 404)


def test_list_filters_and_bad_filters(call):
    first = _report(call)
    second = _report(call, point=G2_POINT)
    _act(call, second, "file", "op")
    ids = [i["id"] for i in call("GET", "/api/v1/incidents?state=filed", "op").get_json()]
    assert ids == [second["id"]]
    ids = [i["id"] for i in call("GET", "/api/v1/incidents?grid_code=G1", "op").get_json()]
    assert ids == [first["id"]]
    _error(call("GET", "/api/v1/incidents?state=lost", "op"), 422, "invalid_parameter")
    _error(call("GET", "/api/v1/incidents?limit=abc", "op"), 422, "invalid_parameter")
    _error(call("GET", "/api/v1/incidents?limit=100000", "op"), 422, "invalid_parameter")


# --- readings and sensors -----------------------------------------------------------------------


def _sensor(call, sensor_id="gp-1"):
    body = {"id": sensor_id, "kind": "gas_pressure", "family": "lifeline", "name": "Gas main 1",
            "unit": "MPa", "lon": G1_POINT[0], "lat": G1_POINT[1]}
    return call("POST", "/api/v1/sensors", "admin", body)


def test_sensors_are_created_routed_listed_and_not_duplicated(call):
    response = _sensor(call)
    assert response.status_code == 201
    assert response.get_json()["grid_code"] == "G1"
    _error(_sensor(call), 409, "sensor_exists")
    assert [s["id"] for s in call("GET", "/api/v1/sensors?kind=gas_pressure", "op").get_json()] == ["gp-1"]
    assert call("GET", "/api/v1/sensors/gp-1", "op").get_json()["status"] == "online"
    _error(call("GET", "/api/v1/sensors/nope", "op"), 404)
    _error(call("POST", "/api/v1/sensors", "admin", {"id": "x"}), 422, "invalid_field")


def test_a_readings_batch_keeps_good_rows_and_rejects_bad_ones_with_reasons(call):
    _sensor(call)
    ts = (utcnow() - timedelta(minutes=10)).isoformat()
    rows = [
        {"sensor_id": "gp-1", "ts": ts, "value": 0.31},
        {"sensor_id": "ghost", "ts": ts, "value": 0.31},
        {"sensor_id": "gp-1", "ts": "2026-11-22T08:00:00", "value": 0.3},  # no offset
        {"sensor_id": "gp-1", "ts": ts, "value": "high"},
        {"sensor_id": "gp-1", "ts": (utcnow() - timedelta(minutes=9)).isoformat(), "value": 0.32},
    ]
    response = call("POST", "/api/v1/readings", "op", {"readings": rows})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3]
    assert all(r["reason"] for r in body["rejected"])
    again = call("POST", "/api/v1/readings", "op", {"readings": rows[:1]}).get_json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)


def test_a_readings_body_that_is_not_a_batch_is_a_400(call):
    _error(call("POST", "/api/v1/readings", "op", {"rows": []}), 400, "bad_json")


def test_more_than_ten_thousand_readings_is_a_413(call):
    rows = [{"sensor_id": "s", "ts": "2026-11-22T00:00:00+00:00", "value": 1}] * (MAX_READINGS + 1)
    _error(call("POST", "/api/v1/readings", "op", {"readings": rows}), 413, "payload_too_large")


def test_a_body_over_two_megabytes_is_a_413(call):
    body = json.dumps({"readings": [], "padding": "x" * (2 * 1024 * 1024)})
    response = call("POST", "/api/v1/readings", "op", data=body, content_type="application/json")
    _error(response, 413)


# --- categories ---------------------------------------------------------------------------------


def test_categories_are_listed_and_added_by_admins(call):
    codes = [c["code"] for c in call("GET", "/api/v1/categories", "w1").get_json()]
    assert codes == ["L01", "S0101"]
    body = {"code": "B0110", "name": {"zh": "路灯", "en": "Street lamp"}, "kind": "component",
            "department": "roads", "handle_hours": 24, "close_hours": 72}
    created = call("POST", "/api/v1/categories", "admin", body)
    assert created.status_code == 201 and created.get_json()["department"] == "roads"
    _error(call("POST", "/api/v1/categories", "admin", body), 409, "category_exists")
    _error(call("POST", "/api/v1/categories", "admin", {**body, "code": "B0111", "department": "x"}), 422)
    _error(call("POST", "/api/v1/categories", "admin", {**body, "code": "B0112", "close_hours": 1}), 422)


# --- KPIs ---------------------------------------------------------------------------------------


def test_kpi_defaults_to_today_and_has_the_contract_keys(call):
    _report(call)
    body = call("GET", "/api/v1/kpi", "boss").get_json()
    for key in ("reported", "filed", "filing_rate", "dispatched", "handled", "handled_on_time",
                "handling_rate", "closed", "closed_on_time", "closure_rate", "on_time_closure_rate", "due",
                "std_closure_rate", "std_on_time_closure_rate", "rework_rate", "open", "yellow_cards",
                "red_cards", "mean_handle_hours", "alerts_firing", "by_source"):
        assert key in body, key
    assert body["reported"] == 1 and body["by_source"]["operator"] == 1
    assert body["filing_rate"] == 0.0 and body["closure_rate"] is None


def test_kpi_adds_the_out_of_hours_figure_when_asked(call):
    _report(call)
    plain = call("GET", "/api/v1/kpi", "boss").get_json()
    assert "out_of_hours" not in plain
    body = call("GET", "/api/v1/kpi?out_of_hours=1&previous=1", "boss").get_json()
    # the one incident was reported just now: out of hours or not, it is counted once, by its source
    assert body["out_of_hours"] == sum(body["out_of_hours_by_source"].values()) in (0, 1)
    assert set(body["out_of_hours_by_source"]) <= set(body["by_source"]) | {"operator"}
    assert "out_of_hours" in body["previous"] and body["previous"]["out_of_hours"] == 0
    _error(call("GET", "/api/v1/kpi?out_of_hours=maybe", "op"), 422, "invalid_parameter")


def test_kpi_accepts_dates_and_times_and_refuses_bad_periods(call):
    _report(call)
    assert call("GET", "/api/v1/kpi?from=2020-01-01&to=2020-02-01", "op").get_json()["reported"] == 0
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    assert call("GET", f"/api/v1/kpi?from=2020-01-01&to={tomorrow}", "op").get_json()["reported"] == 1
    # an unencoded "+08:00" arrives as " 08:00" and is still understood
    assert call("GET", "/api/v1/kpi?from=2020-01-01T00:00:00+08:00", "op").status_code == 200
    _error(call("GET", "/api/v1/kpi?from=yesterday", "op"), 422, "invalid_time")
    _error(call("GET", "/api/v1/kpi?from=2026-02-01&to=2026-01-01", "op"), 422, "invalid_period")
    _error(call("GET", "/api/v1/kpi?district=Atlantis", "op"), 422, "unknown_district")


def test_kpi_scopes_the_previous_period_and_null_rates(call):
    _report(call)  # G1, gas, L01, operator
    _report(call, point=G2_POINT, source="hotline")
    _report(call, point=G2_POINT, source="hotline", exercise=True)  # a drill: never counted

    def kpi(query: str) -> dict:
        response = call("GET", f"/api/v1/kpi?{query}", "boss")
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    assert kpi("grid=G1")["reported"] == 1
    assert kpi("district=D1")["reported"] == kpi("")["reported"] == 2
    assert kpi("street=D1S1&community=D1S1C1&department=gas&category=L01")["reported"] == 2
    assert kpi("source=hotline")["by_source"] == {"alert": 0, "patrol": 0, "hotline": 1, "open311": 0,
                                                  "video": 0, "operator": 0, "citizen": 0}
    assert kpi("category=S0101")["reported"] == 0 and kpi("category=S0101")["filing_rate"] is None
    body = kpi("previous=1&grid=G2")
    assert (body["grid"], body["reported"], body["previous"]["grid"]) == ("G2", 1, "G2")
    assert body["previous"]["to"] == body["from"] and body["previous"]["reported"] == 0
    assert body["previous"]["closure_rate"] is None and "previous" not in body["previous"]
    assert "previous" not in kpi("previous=0")


@pytest.mark.parametrize(("query", "code"), [
    ("street=Nowhere", "unknown_street"), ("community=X", "unknown_community"), ("grid=G9", "unknown_grid"),
    ("department=fire", "unknown_department"), ("category=X01", "unknown_category"),
    ("source=fax", "unknown_source"), ("district=D1S1", "unknown_district"), ("previous=maybe", "invalid_parameter"),
    ("to=2026-13-01", "invalid_time"), ("from=2026-01-02T10:00:00%2B08:00&to=2026-01-02", "invalid_period"),
])
def test_kpi_bad_input_is_a_422_with_the_reason(call, query, code):
    error = _error(call("GET", f"/api/v1/kpi?{query}", "op"), 422, code)
    assert error["message"]


def test_kpi_openapi_declares_every_scope_and_previous(call):
    document = call("GET", "/api/v1/openapi.json", "op").get_json()
    params = {p["name"] for p in document["paths"]["/api/v1/kpi"]["get"]["parameters"]}
    assert params == {"from", "to", *SCOPES, "previous", "out_of_hours"}
    assert "previous" in document["components"]["schemas"]["KpiOut"]["properties"]
    assert "out_of_hours" in document["components"]["schemas"]["KpiOut"]["properties"]


def test_the_kpi_command_answers_exactly_like_the_api(db, call):
    shift = timedelta(days=2 * 365)  # a period surely over: "as of" is its end for both
    with db.uow() as session:
        departments = {d.code: d for d in session.scalars(select(Department))}
        grids = dict(session.execute(select(Grid.code, Grid.id)).all())
        rows = scoped_rows(SimpleNamespace(gas=departments["gas"], roads=departments["roads"]), grids)
        session.execute(insert(Incident), [
            {k: v - shift if isinstance(v, datetime) else v for k, v in row.items()} for row in rows])
    period = {"from": (KPI_START - shift).isoformat(), "to": (KPI_END - shift).isoformat()}
    env = {"CITYOPS_DATABASE_URL": str(db.url)}
    for scope in ({"district": "D1", "source": "patrol"}, {"grid": "G2", "previous": "1"},
                  {"street": "D1S1", "department": "roads", "category": "L01"}):
        api_body = call("GET", "/api/v1/kpi?" + urlencode(period | scope), "op").get_json()
        assert api_body["reported"] > 0
        options = [f"--{key}={value}" for key, value in (period | scope).items() if key != "previous"]
        done = _cli("kpi", "--json", *options, *(["--previous"] if "previous" in scope else []), env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == api_body
    done = _cli("kpi", "--street", "Nowhere", env=env)
    assert done.returncode != 0 and done.stderr.strip() == "cityops: no street 'Nowhere'"


# --- alerts, evaluation, rules ------------------------------------------------------------------


def _alerts(db):
    with db.uow() as session:
        session.add(Sensor(id="gp-9", kind="gas_pressure", family="lifeline", name="g", unit="MPa",
                           lon=G1_POINT[0], lat=G1_POINT[1]))
        session.flush()
        started = datetime(2026, 11, 20, tzinfo=UTC)
        for level, state, day in [("red", "firing", 0), ("yellow", "resolved", 1)]:
            session.add(Alert(rule_id="r1", sensor_id="gp-9", state=state, level=level,
                              started_at=started + timedelta(days=day)))


def test_alerts_are_filtered_and_acknowledged(db, call):
    _alerts(db)
    assert [a["level"] for a in call("GET", "/api/v1/alerts", "boss").get_json()] == ["yellow", "red"]
    firing = call("GET", "/api/v1/alerts?state=firing&level=red,orange", "op").get_json()
    assert [a["level"] for a in firing] == ["red"]
    assert call("GET", "/api/v1/alerts?since=2026-11-21T00:00:00Z", "op").get_json()[0]["level"] == "yellow"
    _error(call("GET", "/api/v1/alerts?level=purple", "op"), 422)
    acked = call("POST", f"/api/v1/alerts/{firing[0]['id']}/ack", "op")
    assert acked.status_code == 200 and acked.get_json()["acked_at"] is not None
    _error(call("POST", f"/api/v1/alerts/{firing[0]['id']}/ack", "w1"), 403)
    _error(call("POST", "/api/v1/alerts/999/ack", "op"), 404)


def test_evaluate_runs_the_engine_for_admins(call):
    response = call("POST", "/api/v1/evaluate", "admin")
    assert response.status_code == 200
    assert response.get_json()["readings"] == 0


def test_rules_are_validated_stored_replaced_and_deleted(call):
    created = call("POST", "/api/v1/rules", "admin", {"rule": RULE})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["rule"]["for"] == "2m"
    _error(call("POST", "/api/v1/rules", "admin", {"rule": RULE}), 409)
    bad = {**RULE, "id": "bad", "condition": {**RULE["condition"], "op": "~"}}
    assert "condition" in _error(call("POST", "/api/v1/rules", "admin", {"rule": bad}), 422)["message"]
    replaced = call("PUT", "/api/v1/rules/gas-pressure-high", "admin", {"rule": RULE, "enabled": False})
    assert replaced.get_json()["enabled"] is False
    _error(call("PUT", "/api/v1/rules/other", "admin", {"rule": RULE}), 422)
    assert [r["id"] for r in call("GET", "/api/v1/rules", "op").get_json()] == ["gas-pressure-high"]
    assert call("DELETE", "/api/v1/rules/gas-pressure-high", "admin").status_code == 204
    _error(call("GET", "/api/v1/rules/gas-pressure-high", "op"), 404)


# --- OpenAPI and health -------------------------------------------------------------------------


def test_openapi_is_valid_3_1_and_lists_every_route_of_the_blueprint(app, call):
    response = call("GET", "/api/v1/openapi.json", "op")  # signed-in users only (issue 14)
    assert response.status_code == 200
    document = response.get_json()
    validate_openapi(document)
    assert document["openapi"].startswith("3.1")
    routes = {(openapi_path(rule.rule.removeprefix("/api/v1")), method.lower())
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api_v1.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented - routes == {("/healthz", "get")}
    assert routes <= documented
    assert len(routes) >= 20
    for schema in ("ReadingsRequest", "ReadingsResult", "IncidentOut", "ActionIn", "KpiOut", "ErrorBody"):
        assert schema in document["components"]["schemas"], schema
    action = document["paths"]["/api/v1/incidents/{incident_id}/actions"]["post"]
    assert {"200", "409", "422"} <= action["responses"].keys()


def test_healthz_reports_the_database_and_an_absent_scheduler(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "db": "ok", "scheduler": "absent"}


def test_healthz_is_503_when_the_database_fails(app, db, tmp_path):
    broken = type(db)(f"sqlite:///{tmp_path}")  # a directory cannot be opened as a database
    app.extensions["cityops_db"] = broken
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["db"] == "error"
    broken.dispose()
