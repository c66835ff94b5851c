"""After a hotline call: the reply to the caller (统一回复), the follow-up call (回访) with its sample, the
dissatisfied caller's order reopened for rework, and the chase ledger (催办台账) — in the service and
under /api/v1 (``api/hotline.py``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from data.models import Doorplate, HotlineFollowup, Incident, User, utcnow
from dispatch.hotline import FollowupResult, HotlineCall, chase_ledger, list_followups, record_followup, take_call
from dispatch.kpi import kpi_snapshot
from dispatch.service import (
    ActionNotAllowed,
    InvalidInput,
    apply_action,
    chase,
    rate_incident,
    reopen_for_rework,
    reply_to_caller,
)
from settings import get_settings
from tests.unit import test_api_v1 as v1
from tests.unit.test_dispatch_service import G1_POINT, make_city

app, tokens, call, _error = v1.app, v1.tokens, v1.call, v1._error


@pytest.fixture
def city(session):
    city = make_city(session)
    session.add(Doorplate(code="DP-1", address="和平路 1 号", lon=G1_POINT[0], lat=G1_POINT[1], grid_id=city.g1.id))
    session.flush()
    return city


def transfer(session, city, phone: str = "13512345678") -> Incident:
    """A transferred call (S0101 → roads), dispatched."""
    return take_call(session, HotlineCall(caller="钱", phone=phone, content="楼下垃圾没人清", category="S0101",
                                          doorplate="DP-1"), actor=city.operator)


def close(session, city, incident: Incident) -> Incident:
    """Work a dispatched order to its closing: the roads handler starts and resolves, the desk closes."""
    for action, actor in (("start", city.roads_handler), ("resolve", city.roads_handler), ("close", city.operator)):
        incident = apply_action(session, incident.id, action, version=incident.version, actor=actor, note="ok")
    return incident


def pending(session, incident: Incident) -> list[HotlineFollowup]:
    return list(session.scalars(select(HotlineFollowup).where(HotlineFollowup.incident_id == incident.id,
                                                              HotlineFollowup.state == "pending")))


def figures(session, incident: Incident) -> dict:
    moment = incident.reported_at
    return kpi_snapshot(session, moment - timedelta(hours=1), moment + timedelta(hours=1))["hotline"]


# --- replies ------------------------------------------------------------------------------------


def test_a_direct_answer_is_the_callers_reply_given_as_it_closes(session, city):
    incident = take_call(session, HotlineCall(caller="孙", phone="13512340000", content="问开放时间", category="S0101",
                                              mode="direct", answer="9 点开放"), actor=city.operator)
    assert (incident.public_reply, incident.replied_at) == ("9 点开放", incident.closed_at)
    assert len(pending(session, incident)) == 1  # and a follow-up call is due
    assert figures(session, incident)["on_time_reply_rate"] == 1.0


def test_a_transferred_order_is_replied_to_once_it_is_closed_and_once_per_closing(session, city):
    incident = transfer(session, city)
    with pytest.raises(ActionNotAllowed) as early:
        reply_to_caller(session, incident.id, "已处理", actor=city.operator)
    assert early.value.code == "not_repliable"
    assert figures(session, incident)["on_time_reply_rate"] is None  # nothing due yet
    incident = close(session, city, incident)
    with pytest.raises(InvalidInput):
        reply_to_caller(session, incident.id, "  ", actor=city.operator)
    with pytest.raises(ActionNotAllowed) as handler:
        reply_to_caller(session, incident.id, "已处理", actor=city.roads_handler)
    assert handler.value.code == "forbidden_action"
    replied = reply_to_caller(session, incident.id, "垃圾已清运", actor=city.operator)
    assert replied.public_reply == "垃圾已清运" and replied.replied_at >= replied.closed_at
    assert replied.history[-1].action == "reply" and replied.history[-1].note == "垃圾已清运"
    with pytest.raises(ActionNotAllowed) as again:
        reply_to_caller(session, incident.id, "再说一次", actor=city.operator)
    assert again.value.code == "already_replied"
    assert figures(session, incident)["on_time_reply_rate"] == 1.0


# --- follow-up calls ----------------------------------------------------------------------------


def test_closing_a_hotline_order_creates_one_follow_up_task_and_other_sources_none(session, city):
    incident = close(session, city, transfer(session, city))
    assert [f.state for f in pending(session, incident)] == ["pending"]
    assert [f.incident_id for f in list_followups(session)] == [incident.id]
    other = apply_action(session, incident.id, "comment", version=incident.version, actor=city.operator, note="x")
    assert len(pending(session, other)) == 1


def test_a_reached_caller_rates_the_order_and_an_unreached_one_does_not(session, city):
    first = close(session, city, transfer(session, city, phone="13500000001"))
    second = close(session, city, transfer(session, city, phone="13500000002"))
    record_followup(session, first.code, FollowupResult(reached=True, satisfaction="basically_satisfied"),
                    actor=city.operator)
    record_followup(session, second.code, FollowupResult(reached=False), actor=city.operator)
    assert (first.satisfaction, second.satisfaction) == ("basically_satisfied", None)
    assert list_followups(session) == []
    assert {(f.reached, f.satisfaction) for f in list_followups(session, state="done")} == {
        (True, "basically_satisfied"), (False, None)}
    assert figures(session, first)["satisfaction_rate"] == 1.0  # 1 satisfied of 1 reached
    with pytest.raises(ActionNotAllowed) as done:  # the task is done: no second result
        record_followup(session, first.code, FollowupResult(reached=True, satisfaction="satisfied"),
                        actor=city.operator)
    assert done.value.code == "no_pending_followup"


@pytest.mark.parametrize(("result", "code"), [
    (FollowupResult(reached=True), "invalid_satisfaction"),
    (FollowupResult(reached=True, satisfaction="great"), "invalid_satisfaction"),
    (FollowupResult(reached=False, satisfaction="satisfied"), "invalid_satisfaction"),
    (FollowupResult(reached=True, satisfaction="dissatisfied"), "reason_required"),
    (FollowupResult(reached=True, satisfaction="satisfied", reopen=True), "invalid_reopen"),
])
def test_a_follow_up_result_that_makes_no_sense_is_refused_and_changes_nothing(session, city, result, code):
    incident = close(session, city, transfer(session, city))
    with pytest.raises(InvalidInput) as refused:
        record_followup(session, incident.code, result, actor=city.operator)
    assert refused.value.code == code
    assert len(pending(session, incident)) == 1 and incident.satisfaction is None


def test_only_the_desk_records_follow_up_calls(session, city):
    incident = close(session, city, transfer(session, city))
    with pytest.raises(ActionNotAllowed) as refused:
        record_followup(session, incident.code, FollowupResult(reached=False), actor=city.roads_handler)
    assert refused.value.code == "forbidden_action"


def test_a_dissatisfied_caller_has_the_order_reopened_for_rework_and_called_again(session, city):
    incident = close(session, city, transfer(session, city))
    followup = record_followup(session, incident.code, FollowupResult(
        reached=True, satisfaction="dissatisfied", reason="垃圾还在", reopen=True), actor=city.operator)
    assert followup.reopened and followup.reason == "垃圾还在"
    assert (incident.state, incident.rework_count, incident.closed_at) == ("dispatched", 1, None)
    assert [h.action for h in incident.history[-2:]] == ["followup", "return"]
    assert incident.history[-1].from_state == "closed"
    kpi = kpi_snapshot(session, incident.reported_at - timedelta(hours=1), incident.reported_at + timedelta(hours=1))
    assert (kpi["closed"], kpi["open"]) == (0, 1)
    incident = close(session, city, incident)  # reworked and closed again: a new reply and call are due
    assert kpi_snapshot(session, incident.reported_at - timedelta(hours=1),
                        incident.reported_at + timedelta(hours=1))["rework_rate"] == 1.0
    reply_to_caller(session, incident.id, "已重新清运", actor=city.operator)
    record_followup(session, incident.code, FollowupResult(reached=True, satisfaction="satisfied"), actor=city.operator)
    assert incident.satisfaction == "satisfied"
    assert figures(session, incident)["satisfaction_rate"] == 1.0  # the latest reached call counts


def test_only_a_closed_hotline_order_is_reopened(session, city):
    incident = transfer(session, city)
    with pytest.raises(ActionNotAllowed):
        reopen_for_rework(session, incident, actor=city.operator, note="x")
    incident = close(session, city, incident)
    with pytest.raises(ActionNotAllowed) as handler:
        reopen_for_rework(session, incident, actor=city.roads_handler, note="x")
    assert handler.value.code == "forbidden_action"


def test_a_rating_from_the_console_is_the_follow_up_call_reaching_the_caller(session, city):
    incident = close(session, city, transfer(session, city))
    rate_incident(session, incident.id, "satisfied", actor=city.operator)
    assert pending(session, incident) == []
    assert [(f.reached, f.satisfaction) for f in list_followups(session, state="done")] == [(True, "satisfied")]
    with pytest.raises(ActionNotAllowed) as again:
        rate_incident(session, incident.id, "dissatisfied", actor=city.operator)
    assert again.value.code == "already_rated"


def test_a_sample_share_of_zero_creates_no_follow_up_tasks(session, city, monkeypatch):
    monkeypatch.setenv("CITYOPS_HOTLINE_FOLLOWUP_SHARE", "0")
    get_settings.cache_clear()
    incident = close(session, city, transfer(session, city))
    assert pending(session, incident) == []


def test_a_sample_share_picks_about_that_share_of_orders_by_id():
    from dispatch.service import _sampled

    picked = sum(_sampled(i, 0.3) for i in range(1, 10_001))
    assert 2_800 < picked < 3_200
    assert all(_sampled(i, 1.0) for i in range(1, 1000)) and not any(_sampled(i, 0.0) for i in range(1, 1000))


# --- the chase ledger ---------------------------------------------------------------------------


def test_the_chase_ledger_lists_open_transferred_orders_near_or_past_their_deadline_by_department(session, city):
    now = utcnow()
    late, near, calm = (transfer(session, city, phone=f"1350000000{i}") for i in range(3))
    late.reported_at, late.handle_deadline = now - timedelta(hours=30), now - timedelta(hours=6)
    near.reported_at, near.handle_deadline = now - timedelta(hours=20), now + timedelta(hours=2)
    direct = take_call(session, HotlineCall(caller="孙", phone="13512340000", content="问", category="S0101",
                                            mode="direct", answer="答"), actor=city.operator)
    session.flush()
    chase(session, late.id, "请今天处理", actor=city.operator)
    chase(session, late.id, None, actor=city.operator)
    ledger = chase_ledger(session, now=now)
    assert [(g["department"], g["overdue"], g["near"], g["chases"]) for g in ledger] == [("roads", 1, 1, 2)]
    orders = ledger[0]["orders"]
    assert [(o["code"], o["status"], o["chases"]) for o in orders] == [(late.code, "overdue", 2),
                                                                       (near.code, "near", 0)]
    assert calm.code not in {o["code"] for o in orders}
    assert chase_ledger(session, now=now, department="gas") == []
    with pytest.raises(InvalidInput):
        chase_ledger(session, now=now, department="nope")
    with pytest.raises(ActionNotAllowed) as refused:
        chase(session, direct.id, None, actor=city.operator)
    assert refused.value.code == "not_chaseable"
    with pytest.raises(ActionNotAllowed):
        chase(session, late.id, None, actor=city.roads_handler)


# --- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture
def closed_order(db, tokens) -> str:
    """The code of a closed transferred order (the city of ``tokens``), its follow-up call pending."""
    with db.uow() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        s.add(Doorplate(code="DP-1", address="和平路 1 号", lon=G1_POINT[0], lat=G1_POINT[1]))
        s.flush()
        incident = take_call(s, HotlineCall(caller="钱", phone="13512345678", content="垃圾", category="S0101",
                                            doorplate="DP-1"), actor=users["op"])
        for action in ("start", "resolve", "close"):
            incident = apply_action(s, incident.id, action, version=incident.version, actor=users["admin"])
        return incident.code


def test_the_desk_lists_and_records_follow_up_calls_over_http(call, closed_order):
    listed = call("GET", "/api/v1/followups", "op")
    assert listed.status_code == 200, listed.get_data(as_text=True)
    [task] = listed.get_json()
    assert (task["code"], task["state"], task["caller"]["phone"]) == (closed_order, "pending", "135****5678")
    _error(call("GET", "/api/v1/followups", "w1"), 403)
    _error(call("GET", "/api/v1/followups?state=lost", "op"), 422, "invalid_state")
    _error(call("POST", f"/api/v1/followups/{closed_order}", "op", {"reached": True, "satisfaction": "great"}), 422,
           "invalid_field")
    _error(call("POST", f"/api/v1/followups/{closed_order}", "op", {"reached": True, "satisfaction": "dissatisfied"}),
           422, "reason_required")
    _error(call("POST", "/api/v1/followups/SJ-nope", "op", {"reached": False}), 404, "incident_not_found")
    _error(call("POST", f"/api/v1/followups/{closed_order}", "gasman", {"reached": False}), 403)
    _error(call("POST", f"/api/v1/followups/{closed_order}", "op", ["x"]), 400)
    done = call("POST", f"/api/v1/followups/{closed_order}", "op",
                {"reached": True, "satisfaction": "dissatisfied", "reason": "没修好", "reopen": True})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert (done.get_json()["state"], done.get_json()["reopened"]) == ("done", True)
    assert call("GET", "/api/v1/followups", "op").get_json() == []
    assert [f["code"] for f in call("GET", "/api/v1/followups?state=done", "op").get_json()] == [closed_order]


def test_replies_and_chases_over_http(call, closed_order):
    replied = call("POST", f"/api/v1/hotline/replies/{closed_order}", "op", {"text": "已清运"})
    assert replied.status_code == 200 and replied.get_json()["reply"] == "已清运"
    _error(call("POST", f"/api/v1/hotline/replies/{closed_order}", "op", {"text": "again"}), 422, "already_replied")
    _error(call("POST", f"/api/v1/hotline/replies/{closed_order}", "op", {"text": ""}), 422, "invalid_field")
    _error(call("POST", "/api/v1/hotline/replies/nope", "op", {"text": "x"}), 404)
    _error(call("POST", f"/api/v1/hotline/chases/{closed_order}", "op", {}), 422, "not_chaseable")  # closed
    assert call("GET", "/api/v1/hotline/chases", "op").get_json() == []
    _error(call("GET", "/api/v1/hotline/chases?department=nope", "op"), 422, "unknown_department")
    _error(call("GET", "/api/v1/hotline/chases", "boss"), 403)
    kpi = call("GET", "/api/v1/kpi?from=2000-01-01&to=2100-01-01", "boss").get_json()
    assert kpi["hotline"]["orders"] == 1 and kpi["hotline"]["on_time_reply_rate"] == 1.0
