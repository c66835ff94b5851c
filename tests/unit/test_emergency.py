"""Emergency response (issue 18): plans as data and their refusals, versions, events from an alert with a plan
activated and its level raised, lowered and ended, the timeline and KPIs, nearest resources and their
assignment, an exercise event kept out of the KPIs, the drill report, and the /api/v1 events and plans routes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

import app as cityops
from alerts.drill import run_drill
from alerts.rules_loader import sync_rule_files
from data.accounts import create_user, issue_token
from data.catalog import load_catalog
from data.emergency_models import EmergencyEvent, EmergencyPlan, EventTimeline, ResourceAssignment
from data.models import Alert, AuditLog, Incident, OutboxMessage, Resource, Sensor, User
from dispatch import emergency, emergency_plans, kpi, outbox, routing
from dispatch.emergency import EmergencyError
from dispatch.emergency_plans import PlanValidationError
from layouts import ids
from settings import Settings, get_settings

PLANS = emergency_plans.PLANS_FOLDER
#: The underpass water-level sensor of the drill and where it stands.
SENSOR = "DRAIN-T-1"
POINT = (117.005, 36.605)


def make_emergency_city(session):
    """The reference catalog, the shipped rules and plans, a drain-level sensor, desk users, resources."""
    routing.clear_cache()
    load_catalog(session)
    sync_rule_files(session)
    loaded, errors = emergency_plans.sync_plan_files(session)
    assert errors == [] and sorted(loaded) == ["bridge_warning", "gas_leak", "heavy_pollution", "waterlogging"]
    session.add(Sensor(id=SENSOR, kind="drain_level", family="lifeline", name="下穿通道积水", unit="m",
                       lon=POINT[0], lat=POINT[1]))
    resources = [("R-PUMP-1", "排涝抢险一队", "rescue_team", 117.006, 36.606),
                 ("R-PUMP-2", "排涝抢险二队", "rescue_team", 117.030, 36.620),
                 ("R-PUMP-3", "排涝抢险三队", "rescue_team", 117.500, 36.900),
                 ("R-CAR-1", "移动泵车", "equipment", 117.004, 36.604),
                 ("R-SHELTER-1", "避难场所", "shelter", 117.005, 36.606)]
    session.add_all(Resource(code=code, name=name, kind=kind, capacity=10, status="available", lon=lon, lat=lat)
                    for code, name, kind, lon, lat in resources)
    users = {
        "admin": create_user(session, "admin", "admin"),
        "op": create_user(session, "op", "operator"),
        "boss": create_user(session, "boss", "leader"),
        "drainer": create_user(session, "drainer", "handler", department_code="drainage"),
        "cop": create_user(session, "cop", "handler", department_code="traffic_police"),
    }
    # a channel for the drainage company, so the notifications are queued in the outbox
    outbox.create_channel(session, outbox.ChannelSpec(url="json://127.0.0.1:9/drain", name="排水值班",
                                                      department="drainage"), actor_id=None)
    session.flush()
    return users


@pytest.fixture(autouse=True)
def _channel_key_and_ports(monkeypatch):
    monkeypatch.setenv("CITYOPS_CHANNEL_KEY", "test-channel-key")
    get_settings.cache_clear()
    cityops.wire()  # the alert engine files its incidents through the wired port


@pytest.fixture
def users(session):
    return make_emergency_city(session)


def _plan_doc(name: str = "waterlogging") -> dict:
    return yaml.safe_load((PLANS / f"{name}.yaml").read_text(encoding="utf-8"))


def _drill_file(tmp_path: Path, name: str, values: list[float], start: datetime) -> Path:
    path = tmp_path / name
    rows = [f"{SENSOR},{(start + timedelta(seconds=30 * i)).isoformat()},{v}" for i, v in enumerate(values)]
    path.write_text("sensor_id,ts,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


# --- plans --------------------------------------------------------------------------------------


def test_every_shipped_plan_validates_and_cites_its_basis(session, users):
    rows = emergency_plans.list_plans(session)
    assert {row.plan_id: row.version for row in rows} == {
        "bridge_warning": 1, "gas_leak": 1, "heavy_pollution": 1, "waterlogging": 1}
    water = emergency_plans.spec_of(next(row for row in rows if row.plan_id == "waterlogging"))
    assert "国家防汛抗旱应急预案" in water.basis
    assert [level.level for level in water.levels] == ["IV", "III", "II", "I"]
    pump = water.level("IV").tasks[0]
    assert (pump.lead, pump.assisting) == ("drainage", ("traffic_police", "subdistrict"))


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda d: d["levels"][0]["tasks"][0].update(lead="no_such_dept"), "levels.0.tasks.0.lead", "unknown department"),
    (lambda d: d["levels"][1]["tasks"][0].update(assisting=["traffic_police", "nobody"]),
     "levels.1.tasks.0.assisting.1", "unknown department"),
    (lambda d: d["levels"][0]["conditions"]["start"][0].update(rule="no-such-rule"),
     "levels.0.conditions.start.0.rule", "unknown alert rule"),
    (lambda d: d["levels"][0]["resources"][0].update(kind="helicopter"), "levels.0.resources.0.kind",
     "unknown resource kind"),
    (lambda d: d["levels"].reverse(), "levels", "out of order"),
    (lambda d: d["levels"].append(copy.deepcopy(d["levels"][0])), "levels", "at most 4"),
    (lambda d: d["levels"][0].pop("public_message"), "levels.0.public_message", "required"),
    (lambda d: d["levels"][0]["tasks"][0].update(deadline_hours=0), "levels.0.tasks.0.deadline_hours", "greater"),
    (lambda d: d.update(category="ZZ9"), "category", "unknown category"),
])
def test_a_bad_plan_is_refused_naming_the_field(session, users, change, field, words):
    doc = _plan_doc()
    change(doc)
    with pytest.raises(PlanValidationError) as refused:
        emergency_plans.validate_plan(doc, emergency_plans.catalog_of(session))
    assert refused.value.field == field
    assert words in str(refused.value)


def test_a_changed_plan_is_a_new_version_and_an_event_keeps_its_own(session, users):
    event = emergency.open_event(session, users["op"], title="积水", scenario="urban_waterlogging",
                                 lon=POINT[0], lat=POINT[1])
    emergency.activate(session, users["op"], event.id, plan_id="waterlogging", level="IV")
    doc = _plan_doc()
    doc["levels"][0]["tasks"][0]["deadline_hours"] = 3
    with pytest.raises(emergency_plans.PlanRefused) as refused:
        emergency_plans.save_plan(session, users["op"], doc)
    assert refused.value.status == 403
    row = emergency_plans.save_plan(session, users["admin"], doc)
    assert row.version == 2
    assert emergency_plans.save_plan(session, users["admin"], doc).version == 2  # the same document again
    assert (event.plan_id, event.plan_version) == ("waterlogging", 1)
    assert emergency.event_plan(session, event).level("IV").tasks[0].deadline_hours == 2
    assert session.scalar(select(func.count()).select_from(EmergencyPlan)) == 5


# --- the waterlogging drill -----------------------------------------------------------------------


def test_waterlogging_drill_from_rising_water_to_level_iii_and_closed(session, db, users, tmp_path):
    session.commit()
    waterlogging_drill(db, session, users["op"], tmp_path)


def waterlogging_drill(db, session, op, tmp_path) -> EmergencyEvent:
    """The done-when drill (issue 18), on SQLite here and on PostgreSQL in tests/integration: rising water-level
    alerts, a level-IV then level-III response with the drainage company leading and the traffic police and the
    street assisting, resources assigned, the event closed, its report and the KPIs left alone."""
    start = datetime.now(UTC) - timedelta(minutes=10)
    # rising water, one reading every 30 s: 18-22 cm for two minutes (yellow: > 15 cm for 1 min), then past 27 cm
    # (orange); between the readings the drill steps the plan: open and activate, then raise
    rising = [0.05, 0.10, 0.18, 0.20, 0.21, 0.22, 0.22, 0.22, 0.28, 0.30, 0.31, 0.33, 0.34]
    steps: list[tuple[str | None, str | None]] = []

    def step(_seconds: float) -> None:
        with db.uow() as s:
            did = emergency.drill_step(s, s.get(User, op.id), plan_id="waterlogging", title="下穿通道积水（演练）")
            level = s.scalar(select(EmergencyEvent.level).order_by(EmergencyEvent.id.desc()).limit(1))
            steps.append((did, level))

    run_drill(db, _drill_file(tmp_path, "rise.csv", rising, start), speed=1e9, now=start, close=False, sleep=step)
    step(0)
    assert [s for s in steps if s[0]] == [("opened", "IV"), ("raised", "III")]
    event = session.scalars(select(EmergencyEvent)).one()
    first = session.scalars(select(Alert).where(Alert.rule_id == "drainage-waterlogging")).first()
    assert first.exercise and first.level == "orange" and first.state == "firing"
    assert (event.lon, event.lat, event.first_alert_at, event.exercise) == (*POINT, first.fired_at, True)
    spec = emergency.event_plan(session, event)
    assert emergency.suggested_level(session, event, spec) == "III"

    timeline_kinds = [entry.kind for entry in emergency.timeline(session, event.id)]
    assert timeline_kinds.index("activate") < timeline_kinds.index("raise")
    incidents = session.scalars(select(Incident).where(Incident.id.in_(emergency.incident_ids(session, event.id)))
                                .order_by(Incident.id)).all()
    assert [(i.exercise, i.state, i.department.code) for i in incidents] == [
        (True, "dispatched", "drainage"), (True, "dispatched", "traffic_police")]
    queued = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "emergency")).all()
    assert len(queued) == 2 and all("【演练】" in m.title and event.code in m.title for m in queued)
    by_task = {}
    for task, link in emergency.event_tasks(session, event.id):
        by_task.setdefault(link.task_key, []).append((task.department.code, task.role, link.level))
    assert by_task == {
        "pump": [("drainage", "lead", "III"), ("traffic_police", "assist", "III"), ("subdistrict", "assist", "III")],
        "underpass": [("traffic_police", "lead", "III"), ("subdistrict", "assist", "III")],
    }

    # resources: the nearest rescue team goes to the pump task; the same team twice is refused
    near = emergency.nearest_resources(session, kind="rescue_team", lon=event.lon, lat=event.lat, n=2)
    assert [n.resource.code for n in near] == ["R-PUMP-1", "R-PUMP-2"]
    pump_lead = next(task for task, link in emergency.event_tasks(session, event.id)
                     if link.task_key == "pump" and task.role == "lead")
    assignment = emergency.assign_resource(session, op, event.id, resource_code="R-PUMP-1", task_id=pump_lead.id)
    with pytest.raises(EmergencyError) as busy:
        emergency.assign_resource(session, op, event.id, resource_code="R-PUMP-1", task_id=pump_lead.id)
    assert (busy.value.status, busy.value.code) == (409, "resource_busy")
    assert [n.resource.code for n in emergency.nearest_resources(
        session, kind="rescue_team", lon=event.lon, lat=event.lat, n=1)] == ["R-PUMP-2"]

    emergency.mark_controlled(session, op, event.id, note="积水回落")
    emergency.close_event(session, op, event.id, reason="积水退至10厘米以下")
    assert session.get(ResourceAssignment, assignment.id).released_at is not None
    assert session.scalar(select(Resource.status).where(Resource.code == "R-PUMP-1")) == "available"
    body = emergency.event_to_dict(session, event)
    assert (body["state"], body["level"], body["exercise"], body["plan_version"]) == ("closed", "III", True, 1)
    kinds = [entry["kind"] for entry in body["timeline"]]
    for kind in ("open", "alert", "activate", "raise", "resource_assign", "controlled", "resource_release", "close"):
        assert kind in kinds
    raise_entry = next(entry for entry in body["timeline"] if entry["kind"] == "raise")
    assert (raise_entry["level_from"], raise_entry["level_to"], raise_entry["actor"]) == ("IV", "III", "op")
    assert body["kpis"]["alert_to_activation_min"] is not None and body["kpis"]["tasks"] == 5
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("event.%"))) >= 8

    report = emergency.drill_report(session, event.id, now=datetime.now(UTC) + timedelta(hours=3))
    assert report["event"]["exercise"] is True
    assert {row["department"] for row in report["late"]} == {"drainage", "traffic_police", "subdistrict"}

    # the exercise's incidents stay out of the real KPIs
    snapshot = kpi.kpi_snapshot(session, start - timedelta(days=1), datetime.now(UTC) + timedelta(hours=1))
    assert (snapshot["reported"], snapshot["filed"]) == (0, 0)
    return event


def test_level_changes_need_a_reason_to_skip_and_closed_events_refuse(session, users):
    op = users["op"]
    event = emergency.open_event(session, op, title="暴雨", scenario="urban_waterlogging", lon=POINT[0], lat=POINT[1])
    with pytest.raises(EmergencyError) as early:
        emergency.change_level(session, op, event.id, level="III", reason="x")
    assert early.value.code == "not_activated"
    emergency.activate(session, op, event.id, plan_id="waterlogging", level="IV")
    with pytest.raises(EmergencyError) as skipped:
        emergency.change_level(session, op, event.id, level="II")
    assert (skipped.value.status, skipped.value.code) == (422, "reason_required")
    with pytest.raises(EmergencyError) as same:
        emergency.change_level(session, op, event.id, level="IV", reason="x")
    assert same.value.code == "same_level"
    emergency.change_level(session, op, event.id, level="II", reason="多处严重内涝，会商直接提升")
    entry = session.scalars(select(EventTimeline).where(EventTimeline.kind == "raise")).one()
    assert (entry.level_from, entry.level_to, entry.data["skipped"]) == ("IV", "II", 1)
    emergency.change_level(session, op, event.id, level="III")
    lowered = session.scalars(select(EventTimeline).where(EventTimeline.kind == "lower")).one()
    assert lowered.data["stood_down"] == ["evacuate"]
    with pytest.raises(EmergencyError) as leader:
        emergency.change_level(session, users["boss"], event.id, level="IV")
    assert leader.value.status == 403
    with pytest.raises(EmergencyError) as no_reason:
        emergency.close_event(session, op, event.id, reason=" ")
    assert no_reason.value.code == "reason_required"
    emergency.close_event(session, op, event.id, reason="结束")
    with pytest.raises(EmergencyError) as closed:
        emergency.change_level(session, op, event.id, level="IV")
    assert (closed.value.status, closed.value.code) == (409, "event_closed")


def test_open_event_refuses_bad_input(session, users):
    op = users["op"]
    with pytest.raises(EmergencyError) as nowhere:
        emergency.open_event(session, op, title="x", scenario="s")
    assert nowhere.value.code == "invalid_location"
    with pytest.raises(EmergencyError) as no_alert:
        emergency.open_event(session, op, title="x", scenario="s", alert_id=999)
    assert no_alert.value.status == 404
    with pytest.raises(EmergencyError) as unknown_plan:
        event = emergency.open_event(session, op, title="x", scenario="s", lon=1, lat=2)
        emergency.activate(session, op, event.id, plan_id="nope", level="IV")
    assert unknown_plan.value.code == "plan_not_found"
    with pytest.raises(EmergencyError) as no_level:
        emergency.activate(session, op, event.id, plan_id="gas_leak", level="I")
    assert no_level.value.code == "unknown_level"


def test_nearest_resources_are_exact_and_ordered(session, users):
    near = emergency.nearest_resources(session, kind=None, lon=POINT[0], lat=POINT[1], n=5)
    distances = [n.distance_m for n in near]
    assert distances == sorted(distances) and len(near) == 5
    assert near[-1].resource.code == "R-PUMP-3"  # 60 km away: the search box grows until it is found
    with pytest.raises(EmergencyError):
        emergency.nearest_resources(session, kind="shelter", lon=POINT[0], lat=POINT[1], n=0)


# --- API ----------------------------------------------------------------------------------------


@pytest.fixture
def api(db):
    with db.uow() as s:
        people = make_emergency_city(s)
        tokens = {name: issue_token(s, people[name]) for name in ("admin", "op", "boss", "drainer")}
    server, _ = cityops.create_app(Settings(database_url=str(db.url), secret_key="emergency"), db)
    server.testing = True
    client = server.test_client()

    def call(method: str, path: str, who: str = "op", **kwargs):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {tokens[who]}"}, **kwargs)

    return call, db


def test_api_plans_and_events(api):
    call, _ = api
    listed = call("GET", "/api/v1/plans")
    assert listed.status_code == 200 and {p["id"] for p in listed.json} >= {"waterlogging", "gas_leak"}
    doc = _plan_doc("gas_leak")
    doc["levels"][0]["tasks"][0]["lead"] = "ghostbusters"
    bad = call("POST", "/api/v1/plans", who="admin", json=doc)
    assert bad.status_code == 422 and "levels.0.tasks.0.lead" in bad.json["error"]["message"]
    assert call("POST", "/api/v1/plans", who="op", json=_plan_doc("gas_leak")).status_code == 403
    doc["levels"][0]["tasks"][0]["lead"] = "gas"
    doc["levels"][0]["tasks"][0]["deadline_hours"] = 1
    saved = call("POST", "/api/v1/plans", who="admin", json=doc)
    assert saved.status_code == 201 and saved.json["version"] == 2

    opened = call("POST", "/api/v1/events", json={"title": "燃气泄漏", "scenario": "gas_leak",
                                                  "lon": POINT[0], "lat": POINT[1]})
    assert opened.status_code == 201, opened.json
    event_id = opened.json["id"]
    activated = call("POST", f"/api/v1/events/{event_id}/level",
                     json={"plan_id": "gas_leak", "level": "IV", "reason": "浓度超标"})
    assert activated.status_code == 200, activated.json
    assert (activated.json["level"], activated.json["plan_version"]) == ("IV", 2)
    assert {(t["department"], t["role"]) for t in activated.json["tasks"]} == {
        ("gas", "lead"), ("subdistrict", "assist")}
    skipped = call("POST", f"/api/v1/events/{event_id}/level", json={"level": "I"})
    assert skipped.status_code == 422
    got = call("GET", f"/api/v1/events/{event_id}", who="boss")
    assert got.status_code == 200
    for key in ("id", "code", "title", "scenario", "level", "state", "exercise", "plan_id", "plan_version",
                "opened_at", "closed_at", "incident_ids", "tasks", "timeline"):
        assert key in got.json
    assert set(got.json["tasks"][0]) >= {"department", "role", "state", "deadline"}
    assert [e["id"] for e in call("GET", "/api/v1/events?state=active").json] == [event_id]
    assert call("GET", "/api/v1/events?state=closed").json == []
    assert call("GET", "/api/v1/events?state=bogus").status_code == 422
    assert call("GET", "/api/v1/events/999").status_code == 404
    assert call("GET", "/api/v1/events", who="drainer").status_code == 403
    near = call("GET", f"/api/v1/resources/nearest?kind=rescue_team&lon={POINT[0]}&lat={POINT[1]}&n=1")
    assert near.status_code == 200 and near.json[0]["code"] == "R-PUMP-1"
    task_id = got.json["tasks"][0]["id"]
    assigned = call("POST", f"/api/v1/events/{event_id}/resources", json={"resource": "R-PUMP-1", "task_id": task_id})
    assert assigned.status_code == 201
    again = call("POST", f"/api/v1/events/{event_id}/resources", json={"resource": "R-PUMP-1", "task_id": task_id})
    assert again.status_code == 409 and again.json["error"]["code"] == "resource_busy"
    released = call("POST", f"/api/v1/events/{event_id}/resources/{assigned.json['id']}/release")
    assert released.status_code == 200 and released.json["released_at"]
    closed = call("POST", f"/api/v1/events/{event_id}/close", json={"reason": "处置完毕"})
    assert closed.status_code == 200 and closed.json["state"] == "closed"
    report = call("GET", f"/api/v1/events/{event_id}/report")
    assert report.status_code == 200 and report.json["event"]["state"] == "closed"
    pdf = call("GET", f"/api/v1/events/{event_id}/report.pdf", who="boss")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


# --- the command board ----------------------------------------------------------------------------

BOARD_OUTPUTS = [(ids.COMMAND_HEADER, "children"), (ids.COMMAND_MAP, "figure"), (ids.COMMAND_TASKS, "children"),
                 (ids.COMMAND_TIMELINE, "children"), (ids.COMMAND_KPIS, "children"), (ids.COMMAND_DUTY, "children"),
                 (ids.COMMAND_RESOURCES, "children"), (ids.COMMAND_CAMERAS, "children"),
                 (ids.COMMAND_SENSORS, "children"),
                 (ids.COMMAND_DIGESTS, "data")]


def board_request(event_id: int, digests: dict | None, tick: int = 1) -> dict:
    """The Dash request of one board refresh, as the browser sends it."""
    return {"output": ".." + "...".join(f"{c}.{p}" for c, p in BOARD_OUTPUTS) + "..",
            "outputs": [{"id": c, "property": p} for c, p in BOARD_OUTPUTS],
            "inputs": [{"id": ids.COMMAND_TICK, "property": "n_intervals", "value": tick}],
            "state": [{"id": ids.COMMAND_EVENT, "property": "data", "value": event_id},
                      {"id": ids.COMMAND_DIGESTS, "property": "data", "value": digests}],
            "changedPropIds": [f"{ids.COMMAND_TICK}.n_intervals"]}


def test_the_command_board_draws_once_then_sends_only_what_changed(db):
    with db.uow() as s:
        people = make_emergency_city(s)
        create_user(s, "deskop", "operator", password="desk-pw")
        create_user(s, "pipes", "handler", department_code="drainage", password="pipes-pw")
        event = emergency.open_event(s, people["op"], title="积水", scenario="urban_waterlogging",
                                     lon=POINT[0], lat=POINT[1])
        emergency.activate(s, people["op"], event.id, plan_id="waterlogging", level="IV")
        event_id = event.id
    server, _ = cityops.create_app(Settings(database_url=str(db.url), secret_key="emergency"), db)
    server.testing = True
    browser = server.test_client()
    assert browser.post("/login", data={"username": "deskop", "password": "desk-pw"}).status_code == 302
    assert browser.get(f"/command/{event_id}").status_code == 200
    routed = browser.post("/_dash-update-component", json=route_request(f"/command/{event_id}"))
    assert routed.status_code == 200 and ids.COMMAND_MAP in routed.get_data(as_text=True)
    first = browser.post("/_dash-update-component", json=board_request(event_id, {}))
    assert first.status_code == 200, first.get_data(as_text=True)[:500]
    answer = first.json["response"]
    figure = answer[ids.COMMAND_MAP]["figure"]
    assert figure["data"][0]["name"] == "area"
    assert figure["data"][4]["lon"] == [POINT[0]]  # the drill's sensor in the area
    assert "R-PUMP-1" in json.dumps(answer[ids.COMMAND_RESOURCES], ensure_ascii=False)
    assert "排水公司" in json.dumps(answer[ids.COMMAND_TASKS], ensure_ascii=False)
    digests = answer[ids.COMMAND_DIGESTS]["data"]
    again = browser.post("/_dash-update-component", json=board_request(event_id, digests, 2))
    assert set(again.json["response"]) == {ids.COMMAND_DIGESTS}  # nothing changed: nothing drawn
    with db.uow() as s:
        emergency.add_note(s, s.get(User, people["op"].id), event_id, "泵车到场")
        sensor = s.get(Sensor, SENSOR)
        sensor.last_value = 0.31
    third = browser.post("/_dash-update-component", json=board_request(event_id, digests, 3))
    changed = third.json["response"]
    # the sensor's new value: the map's sensors and the sensors panel (its live value) redraw
    assert set(changed) == {ids.COMMAND_TIMELINE, ids.COMMAND_MAP, ids.COMMAND_SENSORS, ids.COMMAND_DIGESTS}
    assert "泵车到场" in json.dumps(changed[ids.COMMAND_TIMELINE], ensure_ascii=False)
    assert len(third.data) < 5000  # the map as a Patch of the sensors' look, the timeline whole
    handler = server.test_client()
    assert handler.post("/login", data={"username": "pipes", "password": "pipes-pw"}).status_code == 302
    assert handler.post("/_dash-update-component", json=board_request(event_id, {})).status_code == 403
    assert handler.post("/_dash-update-component", json=route_request(f"/command/{event_id}")).status_code == 403


def route_request(pathname: str) -> dict:
    """The Dash pages router's request for ``pathname``."""
    return {"output": ".._pages_content.children..._pages_store.data..",
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                       {"id": "_pages_location", "property": "search", "value": ""}],
            "state": [], "changedPropIds": ["_pages_location.pathname"],
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}]}


def test_the_drill_command_with_a_plan_runs_the_response(db, tmp_path, monkeypatch):
    with db.uow() as s:
        make_emergency_city(s)
    monkeypatch.setenv("CITYOPS_DATABASE_URL", str(db.url))
    get_settings.cache_clear()
    start = datetime.now(UTC) - timedelta(minutes=10)
    path = _drill_file(tmp_path, "drill.csv", [0.05, 0.18, 0.20, 0.21, 0.22, 0.22, 0.28, 0.30, 0.31, 0.33], start)
    done = CliRunner().invoke(cityops.cli, ["drill", str(path), "--plan", "waterlogging", "--as", "op"])
    assert done.exit_code == 0, done.output
    (line,) = [line for line in done.output.splitlines() if line.startswith("event\t")]
    assert "\tlevel III\t" in line, done.output
    with db.uow() as s:
        event = s.scalars(select(EmergencyEvent)).one()
        assert (event.exercise, event.level, event.plan_id) == (True, "III", "waterlogging")
    refused = CliRunner().invoke(cityops.cli, ["drill", str(path), "--plan", "waterlogging", "--as", "boss"])
    assert refused.exit_code != 0 and "--as boss" in refused.output
