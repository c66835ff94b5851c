"""Live evaluation of real emergency events (issue 18, ``dispatch.emergency_live``) and the events' version
check: rising alerts raise a real event at once; the level goes down (and the response ends) only after its
condition has held for the hold time, never on an alert that comes and goes; moves the plan wants confirmed
are suggested once; exercise events are left to the drill; a stale version is refused with nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

import app as cityops
from data.accounts import issue_token
from data.emergency_models import EmergencyEvent
from data.models import Alert, AuditLog, Resource
from dispatch import emergency, emergency_live, emergency_plans
from dispatch.emergency import EmergencyError
from settings import Settings, get_settings
from tests.unit.test_emergency import POINT, SENSOR, _plan_doc, make_emergency_city

RULE = "drainage-waterlogging"
HOLD = 10  # minutes
T0 = datetime(2026, 7, 20, 6, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _hold_and_ports(monkeypatch):
    monkeypatch.setenv("CITYOPS_EMERGENCY_HOLD_MINUTES", str(HOLD))
    monkeypatch.setenv("CITYOPS_CHANNEL_KEY", "test-channel-key")
    get_settings.cache_clear()
    cityops.wire()


@pytest.fixture
def users(session):
    return make_emergency_city(session)


def fire(session, level: str, *, exercise: bool = False, at: datetime = T0) -> Alert:
    alert = Alert(rule_id=RULE, sensor_id=SENSOR, state="firing", level=level, started_at=at, fired_at=at,
                  exercise=exercise)
    session.add(alert)
    session.flush()
    return alert


def resolve(session, alert: Alert, at: datetime) -> None:
    alert.state, alert.resolved_at = "resolved", at
    session.flush()


def real_event(session, op, *, plan: str = "waterlogging", level: str = "IV") -> EmergencyEvent:
    event = emergency.open_event(session, op, title="下穿通道积水", scenario="urban_waterlogging", lon=POINT[0],
                                 lat=POINT[1], now=T0)
    return emergency.activate(session, op, event.id, plan_id=plan, level=level, now=T0)


def tick(session, minutes: float) -> dict[str, int]:
    return emergency_live.evaluate_events(session, T0 + timedelta(minutes=minutes))


def kinds(session, event) -> list[str]:
    return [entry.kind for entry in emergency.timeline(session, event.id)]


def unconfirmed_plan(session, admin) -> None:
    """The waterlogging plan as a new version whose every move the system makes itself."""
    doc = _plan_doc()
    for level in doc["levels"]:
        level.pop("confirm", None)
    emergency_plans.save_plan(session, admin, doc)


def test_rising_alerts_raise_a_real_event_by_the_system(session, users):
    event = real_event(session, users["op"])
    yellow = fire(session, "yellow")
    assert tick(session, 1) == {}
    resolve(session, yellow, T0 + timedelta(minutes=2))
    fire(session, "orange", at=T0 + timedelta(minutes=2))
    assert tick(session, 3) == {"raised": 1}
    assert event.level == "III"
    entry = emergency.timeline(session, event.id)[-1]
    assert (entry.kind, entry.actor_id, entry.level_from, entry.level_to) == ("raise", None, "IV", "III")
    assert "drainage-waterlogging" in entry.note or "积水" in entry.note  # the reason names the condition
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "event.raise")).one()
    assert audit.user_id is None and audit.target == f"event:{event.code}"
    by_task = {link.task_key for _, link in emergency.event_tasks(session, event.id) if link.level == "III"}
    assert by_task == {"pump", "underpass"}  # the level's tasks, dispatched by the system
    assert tick(session, 4) == {}  # still orange: nothing more to do


def test_a_move_the_plan_wants_confirmed_is_suggested_once(session, users):
    event = real_event(session, users["op"], level="III")
    fire(session, "red")
    assert tick(session, 1) == {"suggested": 1}
    assert tick(session, 2) == {}
    suggestions = [e for e in emergency.timeline(session, event.id) if e.kind == "suggest"]
    assert [(e.level_from, e.level_to, e.data["move"]) for e in suggestions] == [("III", "II", "raise")]
    assert event.level == "III"


def test_resolved_alerts_lower_then_end_the_response_after_the_hold_time(session, users):
    unconfirmed_plan(session, users["admin"])
    event = real_event(session, users["op"])
    orange = fire(session, "orange")
    assert tick(session, 0) == {"raised": 1}
    task, _ = emergency.event_tasks(session, event.id)[0]
    emergency.assign_resource(session, users["op"], event.id, resource_code="R-PUMP-1", task_id=task.id,
                              now=T0 + timedelta(minutes=1))
    resolve(session, orange, T0 + timedelta(minutes=5))
    assert tick(session, 6) == {"calming": 1}
    assert tick(session, 6 + HOLD - 1) == {}
    assert event.level == "III"
    assert tick(session, 6 + HOLD) == {"lowered": 1}
    assert event.level == "IV" and event.calm_since is None  # the count starts again at the new level
    assert tick(session, 17) == {"calming": 1}  # IV's end: no yellow alert left
    assert tick(session, 17 + HOLD - 1) == {}
    assert tick(session, 17 + HOLD) == {"ended": 1}
    assert event.state == "closed"
    assert kinds(session, event)[-3:] == ["lower", "resource_release", "close"]
    close = emergency.timeline(session, event.id)[-1]
    assert close.actor_id is None and close.note
    assert session.scalar(select(Resource.status).where(Resource.code == "R-PUMP-1")) == "available"
    assert tick(session, 60) == {}  # a closed event is not evaluated


def test_an_alert_that_comes_and_goes_does_not_flap_the_level(session, users):
    event = real_event(session, users["op"], level="III")
    orange = fire(session, "orange")
    resolve(session, orange, T0 + timedelta(minutes=1))
    assert tick(session, 2) == {"calming": 1}
    again = fire(session, "orange", at=T0 + timedelta(minutes=2 + HOLD - 2))
    assert tick(session, 2 + HOLD - 1) == {"calm_broken": 1}
    resolve(session, again, T0 + timedelta(minutes=2 + HOLD))
    assert tick(session, 2 + HOLD) == {"calming": 1}
    assert tick(session, 2 + HOLD + HOLD - 1) == {}  # past the first count, not the second
    assert event.level == "III"
    assert "lower" not in kinds(session, event) and "raise" not in kinds(session, event)
    assert tick(session, 2 + 2 * HOLD) == {"lowered": 1}


def test_exercise_events_are_left_to_the_drill(session, users):
    op = users["op"]
    drill = emergency.open_event(session, op, title="演练", scenario="urban_waterlogging", lon=POINT[0],
                                 lat=POINT[1], exercise=True, now=T0)
    emergency.activate(session, op, drill.id, plan_id="waterlogging", level="IV", now=T0)
    fire(session, "orange", exercise=True)
    fire(session, "red")  # a real alert is no exercise's business either
    before = kinds(session, drill)
    assert tick(session, 1) == {}
    assert tick(session, 1 + 2 * HOLD) == {}
    assert (drill.level, drill.state, drill.calm_since) == ("IV", "active", None)
    assert kinds(session, drill) == before
    assert emergency.drill_step(session, op, plan_id="waterlogging", title="演练") == "raised"  # as before


def test_a_commanders_write_in_between_makes_the_system_try_again_next_tick(session, users):
    event = real_event(session, users["op"])
    fire(session, "orange")
    spec = emergency.event_plan(session, event)
    seen = event.version
    emergency.mark_controlled(session, users["op"], event.id, note="现场可控", version=seen)
    with pytest.raises(EmergencyError) as stale:
        emergency.change_level(session, None, event.id, level="III", reason="auto", version=seen)
    assert (stale.value.status, stale.value.code) == (409, "stale_version")
    assert event.level == "IV" and spec is not None
    assert tick(session, 1) == {"raised": 1}  # the next tick reads the new version


def test_a_refused_move_leaves_the_other_events_to_their_own_evaluation(session, users, monkeypatch):
    first, second = real_event(session, users["op"]), real_event(session, users["op"])
    fire(session, "orange")
    change_level = emergency.change_level

    def racing(session, actor, event_id, **kwargs):
        if event_id == first.id:  # a commander's write got in first
            raise EmergencyError(409, "stale_version", "changed meanwhile")
        return change_level(session, actor, event_id, **kwargs)

    monkeypatch.setattr(emergency, "change_level", racing)
    assert tick(session, 1) == {"refused": 1, "raised": 1}
    assert (first.level, second.level) == ("IV", "III")


# --- the version check ----------------------------------------------------------------------------------


def test_a_stale_version_is_refused_and_nothing_changes(session, users):
    op = users["op"]
    event = real_event(session, op)
    seen = event.version
    emergency.change_level(session, op, event.id, level="III", version=seen)
    entries = len(emergency.timeline(session, event.id))
    audits = session.scalar(select(func.count()).select_from(AuditLog))
    for write in (
        lambda: emergency.change_level(session, op, event.id, level="II", reason="x", version=seen),
        lambda: emergency.mark_controlled(session, op, event.id, version=seen),
        lambda: emergency.close_event(session, op, event.id, reason="x", version=seen),
        lambda: emergency.assign_resource(session, op, event.id, resource_code="R-PUMP-1",
                                          task_id=emergency.event_tasks(session, event.id)[0][0].id, version=seen),
    ):
        with pytest.raises(EmergencyError) as stale:
            write()
        assert (stale.value.status, stale.value.code) == (409, "stale_version")
    assert (event.level, event.state, event.controlled_at, event.version) == ("III", "active", None, seen + 1)
    assert len(emergency.timeline(session, event.id)) == entries
    assert session.scalar(select(func.count()).select_from(AuditLog)) == audits


@pytest.fixture
def api(db):
    with db.uow() as s:
        people = make_emergency_city(s)
        tokens = {name: issue_token(s, people[name]) for name in ("op", "admin")}
    server, _ = cityops.create_app(Settings(database_url=str(db.url), secret_key="live"), db)
    server.testing = True
    client = server.test_client()

    def call(method: str, path: str, who: str = "op", headers: dict | None = None, **kwargs):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {tokens[who]}", **(headers or {})},
                           **kwargs)

    return call


def test_two_commanders_the_second_stale_gets_409_and_nothing_changes(api):
    call = api
    opened = call("POST", "/api/v1/events", json={"title": "积水", "scenario": "urban_waterlogging",
                                                  "lon": POINT[0], "lat": POINT[1]})
    event_id, shown = opened.json["id"], opened.json["version"]
    first = call("POST", f"/api/v1/events/{event_id}/level",
                 json={"plan_id": "waterlogging", "level": "IV", "version": shown})
    assert first.status_code == 200 and first.json["version"] == shown + 1
    assert first.headers["ETag"] == f'"{shown + 1}"'
    second = call("POST", f"/api/v1/events/{event_id}/close", who="admin", json={"reason": "结束", "version": shown})
    assert second.status_code == 409 and second.json["error"]["code"] == "stale_version"
    by_header = call("POST", f"/api/v1/events/{event_id}/level", who="admin", headers={"If-Match": f'"{shown}"'},
                     json={"level": "III"})
    assert by_header.status_code == 409
    after = call("GET", f"/api/v1/events/{event_id}")
    assert (after.json["state"], after.json["level"], after.json["version"]) == ("active", "IV", shown + 1)
    assert [e["kind"] for e in after.json["timeline"]].count("close") == 0
    current = after.headers["ETag"]
    raised = call("POST", f"/api/v1/events/{event_id}/level", who="admin", headers={"If-Match": current},
                  json={"level": "III"})
    assert raised.status_code == 200 and raised.json["level"] == "III"
    assert call("POST", f"/api/v1/events/{event_id}/controlled", headers={"If-Match": "not-a-version"},
                json={}).status_code == 422


# --- the plan's live parts and the job's place in the scheduler ---------------------------------------------


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda d: d["levels"][1]["conditions"]["lower"][0].update(rule="no-such-rule"),
     "levels.1.conditions.lower.0.rule", "unknown alert rule"),
    (lambda d: d["levels"][0].update(confirm=["later"]), "levels.0.confirm.0", "raise"),
])
def test_a_bad_live_part_of_a_plan_is_refused_naming_the_field(session, users, change, field, words):
    doc = _plan_doc()
    change(doc)
    with pytest.raises(emergency_plans.PlanValidationError) as refused:
        emergency_plans.validate_plan(doc, emergency_plans.catalog_of(session))
    assert refused.value.field == field and words in str(refused.value)


def test_the_live_evaluation_is_a_scheduler_job_at_the_configured_interval(monkeypatch):
    monkeypatch.setenv("CITYOPS_EMERGENCY_LIVE_INTERVAL_S", "12")
    get_settings.cache_clear()
    assert cityops.scheduled_jobs(get_settings())["emergency_live"] == (12.0, emergency_live.evaluate_events)
