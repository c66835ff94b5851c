# ruff: noqa: F811  (pytest fixtures imported from test_api_v1 are parameters here)
"""Warning review (issue 17 §5): confirmed, false alarm with a reason, exercise — who and when, audited, bad
input refused naming the field — and the warning statistics against hand-computed figures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import shapely
from dash._callback_context import context_value
from dash._utils import AttributeDict
from dash.exceptions import PreventUpdate
from sqlalchemy import func, select

from alerts.review import ReviewCommand, ReviewError, false_alarm_flags, review_alert, warning_stats
from callbacks import admin_rules, alert_inbox
from data.accounts import create_user
from data.areas import grids_of_area
from data.models import Alert, AuditLog, Grid, Sensor, User
from dispatch.briefing import build_briefing, period_of, warning_rows
from layouts import ids
from reports.render import render_html
from tests.unit import test_pages as pages
from tests.unit.test_alert_ops import HIGH, put_rule
from tests.unit.test_api_v1 import _error, app, call, tokens  # noqa: F401  (fixtures)
from tests.unit.test_dispatch_service import G1_POINT, _area, _grid, make_city
from tests.unit.test_pages import cells, signed_in, texts, walk, with_testid

server = pages.server  # fixtures: the Flask server with the pages, and Dash's callback context
callback_context = pages.callback_context

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
DAY = (T0, T0 + timedelta(days=1))


def _sensor(s, sensor_id: str, family: str, grid_id: int | None) -> None:
    s.add(Sensor(id=sensor_id, kind=f"{family}_k", family=family, name=f"{sensor_id} 站", unit="u",
                 lon=G1_POINT[0], lat=G1_POINT[1], grid_id=grid_id))
    s.flush()


def _alert(s, sensor: str, *, rule="hi", level="red", fired=T0, pending=False, exercise=False,
           acked_after: float | None = None) -> Alert:
    """An alert fired at ``fired`` (acknowledged ``acked_after`` minutes later when given)."""
    alert = Alert(rule_id=rule, sensor_id=sensor, state="pending" if pending else "firing", level=level,
                  peak_level=None if pending else level, started_at=fired - timedelta(minutes=2),
                  fired_at=None if pending else fired, exercise=exercise,
                  acked_at=None if acked_after is None else fired + timedelta(minutes=acked_after))
    s.add(alert)
    s.flush()
    return alert


def make_world(db):
    """make_city (district D1 with grids G1, G2) plus a district D2 with grid G3, and sensors: gas in G1,
    water in G3, and a gas sensor outside every grid."""
    with db.uow() as s:
        city = make_city(s)
        box = shapely.box(117.1, 36.6, 117.12, 36.61)
        street = _area(s, "D2S1", "street", _area(s, "D2", "district", None, box), box)
        g3 = _grid(s, "G3", _area(s, "D2S1C1", "community", street, box), box)
        _sensor(s, "GAS-1", "gas", city.g1.id)
        _sensor(s, "WAT-3", "water", g3.id)
        _sensor(s, "GAS-X", "gas", None)
        scoped = create_user(s, "d2op", "operator")
        scoped.area_code = "D2"
    return city


@pytest.fixture
def world(db):
    return make_world(db)


def _review(db, actor, alert_id, verdict, reason=None, note=None, now=T0 + timedelta(minutes=30)):
    with db.uow() as s:
        return review_alert(s, actor, alert_id, ReviewCommand(verdict, reason, note), now)


def _new_alert(db, sensor="GAS-1", **kwargs) -> int:
    with db.uow() as s:
        return _alert(s, sensor, **kwargs).id


# --- the review ---------------------------------------------------------------------------------


def test_an_operator_reviews_a_false_alarm_and_who_when_and_why_are_recorded_and_audited(db, world):
    alert_id = _new_alert(db)
    _review(db, world.operator, alert_id, " False_Alarm ", " Device_Fault ", "  探头进水  ")
    with db.uow() as s:
        alert = s.get(Alert, alert_id)
        assert (alert.review, alert.review_reason, alert.review_note) == ("false_alarm", "device_fault", "探头进水")
        assert alert.reviewed_by_id == world.operator.id and alert.reviewed_at == T0 + timedelta(minutes=30)
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "alert.review")).one()
        assert audit.user_id == world.operator.id and audit.target == f"alert:{alert_id}"
        assert audit.detail["verdict"] == "false_alarm" and audit.detail["reason"] == "device_fault"


def test_a_second_review_replaces_the_first_and_the_audit_keeps_both(db, world):
    alert_id = _new_alert(db)
    _review(db, world.operator, alert_id, "false_alarm", "test")
    _review(db, world.admin, alert_id, "confirmed")
    with db.uow() as s:
        alert = s.get(Alert, alert_id)
        assert (alert.review, alert.review_reason, alert.reviewed_by_id) == ("confirmed", None, world.admin.id)
        details = s.scalars(select(AuditLog.detail).where(AuditLog.action == "alert.review")
                            .order_by(AuditLog.id)).all()
        assert [d["verdict"] for d in details] == ["false_alarm", "confirmed"]
        assert details[1]["previous"] == {"verdict": "false_alarm", "reason": "test"}


@pytest.mark.parametrize(
    ("verdict", "reason", "status", "code", "field"),
    [
        ("maybe", None, 422, "invalid_verdict", "verdict"),
        ("", None, 422, "invalid_verdict", "verdict"),
        ("false_alarm", None, 422, "reason_required", "reason"),
        ("false_alarm", "  ", 422, "reason_required", "reason"),
        ("false_alarm", "bad_luck", 422, "invalid_reason", "reason"),
        ("confirmed", "device_fault", 422, "invalid_reason", "reason"),
    ],
)
def test_bad_review_input_is_refused_naming_the_field_and_nothing_is_written(db, world, verdict, reason, status,
                                                                             code, field):
    alert_id = _new_alert(db)
    with pytest.raises(ReviewError) as refused:
        _review(db, world.operator, alert_id, verdict, reason)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert str(refused.value).startswith(f"{field}:")
    with db.uow() as s:
        assert s.get(Alert, alert_id).review is None
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "alert.review")) == 0


def test_a_note_longer_than_2000_characters_is_refused(db, world):
    alert_id = _new_alert(db)
    with pytest.raises(ReviewError) as refused:
        _review(db, world.operator, alert_id, "confirmed", note="长" * 2001)
    assert refused.value.code == "note_too_long" and str(refused.value).startswith("note:")
    assert _review(db, world.operator, alert_id, "confirmed", note="长" * 2000).review_note == "长" * 2000


def test_a_pending_alert_cannot_be_reviewed(db, world):
    alert_id = _new_alert(db, pending=True)
    with pytest.raises(ReviewError) as refused:
        _review(db, world.operator, alert_id, "confirmed")
    assert (refused.value.status, refused.value.code) == (422, "alert_not_fired")
    assert str(refused.value).startswith("state:")


def test_only_operators_and_admins_review_and_a_district_operator_only_in_their_district(db, world):
    in_d1, in_d2 = _new_alert(db, "GAS-1"), _new_alert(db, "WAT-3")
    for actor in (world.leader, world.gas_handler, world.worker1):
        with pytest.raises(ReviewError) as refused:
            _review(db, actor, in_d1, "confirmed")
        assert refused.value.status == 403
    with db.uow() as s:
        scoped = s.scalar(select(User).where(User.username == "d2op"))
        s.expunge(scoped)
    with pytest.raises(ReviewError) as refused:
        _review(db, scoped, in_d1, "confirmed")
    assert (refused.value.status, refused.value.code) == (404, "alert_not_found")
    assert _review(db, scoped, in_d2, "confirmed").review == "confirmed"
    with pytest.raises(ReviewError) as refused:
        _review(db, world.operator, 999_999, "confirmed")
    assert refused.value.status == 404


# --- the statistics -----------------------------------------------------------------------------


def stats_world(db, world):
    """Hand-made alerts of 2 Nov (UTC), with the figures worked out by hand in the tests below:

    GAS-1 (gas, D1): a red confirmed (acked after 4 min, reviewed after 30), a red false alarm/device fault
    (acked after 10, reviewed after 60), an orange unreviewed (acked after 1);
    WAT-3 (water, D2): a yellow false alarm/environment (never acked, reviewed after 90), a yellow drill,
    a yellow reviewed as an exercise; GAS-X (gas, no district): a blue confirmed (reviewed after 20);
    outside the day: a red fired the day before, and a pending one (never fired).
    """
    ops = world.operator
    ids = {}
    with db.uow() as s:
        ids["c1"] = _alert(s, "GAS-1", acked_after=4).id
        ids["f1"] = _alert(s, "GAS-1", fired=T0 + timedelta(hours=1), acked_after=10).id
        _alert(s, "GAS-1", level="orange", fired=T0 + timedelta(hours=2), acked_after=1)
        ids["f2"] = _alert(s, "WAT-3", rule="water", level="yellow", fired=T0 + timedelta(hours=3)).id
        _alert(s, "WAT-3", rule="water", level="yellow", fired=T0 + timedelta(hours=4), exercise=True, acked_after=2)
        ids["x"] = _alert(s, "WAT-3", rule="water", level="yellow", fired=T0 + timedelta(hours=5)).id
        ids["c2"] = _alert(s, "GAS-X", level="blue", fired=T0 + timedelta(hours=6)).id
        ids["old"] = _alert(s, "GAS-1", fired=T0 - timedelta(hours=1)).id
        _alert(s, "GAS-1", pending=True, fired=T0 + timedelta(hours=7))
    _review(db, ops, ids["c1"], "confirmed", now=T0 + timedelta(minutes=30))
    _review(db, ops, ids["f1"], "false_alarm", "device_fault", now=T0 + timedelta(hours=1, minutes=60))
    _review(db, ops, ids["f2"], "false_alarm", "environment", now=T0 + timedelta(hours=3, minutes=90))
    _review(db, ops, ids["x"], "exercise", now=T0 + timedelta(hours=5, minutes=5))
    _review(db, ops, ids["c2"], "confirmed", now=T0 + timedelta(hours=6, minutes=20))
    _review(db, ops, ids["old"], "false_alarm", "test", now=T0 + timedelta(hours=8))


def test_warning_statistics_of_a_day_match_the_hand_computed_figures(db, world):
    stats_world(db, world)
    with db.uow() as s:
        total = warning_stats(s, *DAY)["total"]
    # raised: c1, f1, orange, f2, c2 = 5 (the drill, the exercise review, the day before and the pending are out)
    assert total == {
        "raised": 5, "reviewed": 4, "confirmed": 2, "false_alarm": 2, "false_alarm_rate": 0.5,
        "false_alarm_reasons": {"device_fault": 1, "calibration": 0, "environment": 1, "test": 0},
        "unreviewed": 1, "acknowledged": 3,
        "mean_ack_minutes": 5.0,  # (4 + 10 + 1) / 3
        "mean_review_minutes": 50.0,  # (30 + 60 + 90 + 20) / 4
        "exercises": 2,
    }


def test_warning_statistics_per_family_district_and_level(db, world):
    stats_world(db, world)
    with db.uow() as s:
        family = {g["key"]: g for g in warning_stats(s, *DAY, "family")["groups"]}
        district = warning_stats(s, *DAY, "district")["groups"]
        level = {g["key"]: g for g in warning_stats(s, *DAY, "level")["groups"]}
    assert (family["gas"]["raised"], family["gas"]["confirmed"], family["gas"]["false_alarm"]) == (4, 2, 1)
    assert (family["water"]["raised"], family["water"]["false_alarm"], family["water"]["exercises"]) == (1, 1, 2)
    assert family["water"]["mean_ack_minutes"] is None and family["water"]["false_alarm_rate"] == 1.0
    # D1: c1, f1, orange; D2: f2; no district: c2 (listed last)
    assert [(g["key"], g["raised"], g["reviewed"]) for g in district] == [("D1", 3, 2), ("D2", 1, 1), (None, 1, 1)]
    assert district[1]["name"] == {"zh": "D2", "en": "D2"} and district[2]["name"] is None
    assert district[0]["mean_review_minutes"] == 45.0  # (30 + 60) / 2
    assert {k: g["raised"] for k, g in level.items()} == {"red": 2, "orange": 1, "yellow": 1, "blue": 1}


def test_a_district_operator_reads_the_figures_of_their_district_only(db, world):
    stats_world(db, world)
    with db.uow() as s:
        total = warning_stats(s, *DAY, area_code="D2")["total"]
        # the big screen's scope gives the unit grids: the same figures
        by_grids = warning_stats(s, *DAY, grid_ids=s.scalars(grids_of_area("D2")).all())["total"]
        nowhere = warning_stats(s, *DAY, grid_ids=[])["total"]
    assert (total["raised"], total["false_alarm"], total["exercises"]) == (1, 1, 2)
    assert by_grids == total and nowhere["raised"] == 0


def test_false_alarms_count_against_the_sensor_and_the_rule(db, world):
    stats_world(db, world)
    with db.uow() as s:
        rules = {g["key"]: g for g in warning_stats(s, *DAY, "rule")["groups"]}
        sensors = {g["key"]: g for g in warning_stats(s, *DAY, "sensor")["groups"]}
    assert (rules["hi"]["raised"], rules["hi"]["reviewed"], rules["hi"]["false_alarm"]) == (4, 3, 1)
    assert rules["hi"]["false_alarm_rate"] == 0.3333
    assert (sensors["WAT-3"]["raised"], sensors["WAT-3"]["false_alarm"]) == (1, 1)
    assert sensors["GAS-1"]["name"] == {"zh": "GAS-1 站", "en": "GAS-1 站"}


@pytest.mark.parametrize(("false", "confirmed", "flagged"), [(2, 3, True), (1, 4, False), (3, 1, False)])
def test_a_rule_is_flagged_at_30_percent_false_alarms_of_at_least_5_reviews(db, world, false, confirmed, flagged):
    ids = []
    with db.uow() as s:
        for minute in range(false + confirmed):
            ids.append(_alert(s, "GAS-1", fired=T0 + timedelta(minutes=minute)).id)
    for n, alert_id in enumerate(ids):
        _review(db, world.operator, alert_id, *(("false_alarm", "calibration") if n < false else ("confirmed",)))
    with db.uow() as s:
        flags = false_alarm_flags(s, *DAY)
    assert ("hi" in flags) is flagged
    if flagged:
        assert (flags["hi"]["reviewed"], flags["hi"]["false_alarm"], flags["hi"]["false_alarm_rate"]) == (5, 2, 0.4)


def test_the_statistics_refuse_a_bad_period_or_group(db, world):
    with db.uow() as s, pytest.raises(ValueError):
        warning_stats(s, DAY[1], DAY[0])
    with db.uow() as s, pytest.raises(ValueError):
        warning_stats(s, *DAY, "colour")


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def api_alert(db, tokens):
    """A fired alert of a sensor in G1, for the API tests (make_city comes from the tokens fixture)."""
    with db.uow() as s:
        grid = s.scalar(select(Grid.id).where(Grid.code == "G1"))
        _sensor(s, "GAS-1", "gas", grid)
        return _alert(s, "GAS-1", fired=datetime.now(UTC) - timedelta(minutes=5)).id


def test_the_review_route_records_the_review(call, api_alert):
    response = call("POST", f"/api/v1/alerts/{api_alert}/review", "op",
                    {"verdict": "false_alarm", "reason": "calibration", "note": "零点漂移"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["review"], body["review_reason"]) == ("false_alarm", "calibration") and body["reviewed_at"]
    (listed,) = call("GET", "/api/v1/alerts", "op").get_json()
    assert listed["review"] == "false_alarm"


@pytest.mark.parametrize(
    ("user", "body", "status", "code", "starts"),
    [
        ("op", {"verdict": "perhaps"}, 422, "invalid_verdict", "verdict:"),
        ("op", {"verdict": "false_alarm"}, 422, "reason_required", "reason:"),
        ("op", {"verdict": "false_alarm", "reason": "gremlins"}, 422, "invalid_reason", "reason:"),
        ("op", {"reason": "test"}, 422, "invalid_field", "verdict:"),
        ("op", {"verdict": "confirmed", "colour": "red"}, 422, "invalid_field", "colour:"),
        ("op", {"verdict": 3}, 422, "invalid_field", "verdict:"),
        ("boss", {"verdict": "confirmed"}, 403, None, ""),
        ("gasman", {"verdict": "confirmed"}, 403, None, ""),
    ],
)
def test_a_bad_review_request_is_a_clear_4xx(call, api_alert, user, body, status, code, starts):
    error = _error(call("POST", f"/api/v1/alerts/{api_alert}/review", user, body), status, code)
    assert error["message"].startswith(starts)


def test_reviewing_a_missing_or_pending_alert_is_refused(call, db, api_alert):
    _error(call("POST", "/api/v1/alerts/999999/review", "op", {"verdict": "confirmed"}), 404, "alert_not_found")
    with db.uow() as s:
        pending = _alert(s, "GAS-1", pending=True).id
    error = _error(call("POST", f"/api/v1/alerts/{pending}/review", "op", {"verdict": "confirmed"}), 422,
                   "alert_not_fired")
    assert error["message"].startswith("state:")


def test_the_stats_route_answers_the_figures_per_group(call, api_alert):
    call("POST", f"/api/v1/alerts/{api_alert}/review", "op", {"verdict": "confirmed"})
    response = call("GET", "/api/v1/alerts/stats?group=family", "boss")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["group"] == "family" and body["from"].endswith("+08:00")
    assert (body["total"]["raised"], body["total"]["confirmed"]) == (1, 1)
    assert [(g["key"], g["raised"]) for g in body["groups"]] == [("gas", 1)]
    past = call("GET", "/api/v1/alerts/stats?from=2020-01-01&to=2020-01-02", "op").get_json()
    assert past["total"]["raised"] == 0 and "groups" not in past


@pytest.mark.parametrize(
    ("query", "user", "status", "code"),
    [
        ("group=colour", "op", 422, "invalid_parameter"),
        ("from=yesterday", "op", 422, "invalid_time"),
        ("from=2026-12-02&to=2026-12-01", "op", 422, "invalid_period"),
        ("", "gasman", 403, None),
        ("", "w1", 403, None),
    ],
)
def test_a_bad_stats_request_is_a_clear_4xx(call, api_alert, query, user, status, code):
    _error(call("GET", f"/api/v1/alerts/stats?{query}", user), status, code)


# --- the console's inbox, /admin's rules, the briefing -------------------------------------------


def _choose(alert_id: int, choice: str | None) -> None:
    """What Dash tells the review callback when ``choice`` is picked in an alert's review dropdown (None: a
    re-render)."""
    component = {"type": ids.CONSOLE_ALERT_REVIEW, "action": "review", "alert": alert_id}
    prop_id = f"{json.dumps(component, sort_keys=True)}.value"
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": choice}]))


def test_an_operator_reviews_from_the_inbox_and_the_review_shows_in_the_row(server, db, world):
    alert_id = _new_alert(db, fired=datetime.now(UTC) - timedelta(minutes=3))
    pending = _new_alert(db, "WAT-3", pending=True)
    with signed_in(server, world.operator):
        view = alert_inbox.show_inbox(0, None, None, None, 0)
        rows = {cells(r)[2]: r for r in with_testid(view, ids.CONSOLE_ALERT_ROW)}
        review_ids = [c.id["alert"] for c in walk(view) if isinstance(getattr(c, "id", None), dict)
                      and c.id["type"] == ids.CONSOLE_ALERT_REVIEW]
        assert review_ids == [alert_id] and pending not in review_ids  # nothing to review before it fires
        _choose(alert_id, None)
        with pytest.raises(PreventUpdate):  # a re-render is not a choice
            alert_inbox.on_alert_review([None], 0)
        _choose(alert_id, "false_alarm:environment")
        message, result = alert_inbox.on_alert_review(["false_alarm:environment"], 0)
        assert result == 1 and "msg-ok" in message.className
        row = next(r for r in with_testid(alert_inbox.show_inbox(0, None, None, None, 1), ids.CONSOLE_ALERT_ROW)
                   if "GAS-1" in cells(r)[2])
        assert "已复核：误报 · 环境干扰" in cells(row)[6]
    assert len(rows) == 2
    with db.uow() as s:
        alert = s.get(Alert, alert_id)
        assert (alert.review, alert.review_reason, alert.reviewed_by_id) == ("false_alarm", "environment",
                                                                             world.operator.id)


def test_a_handler_sees_no_review_choice_and_a_forged_one_is_refused(server, db, world):
    alert_id = _new_alert(db, fired=datetime.now(UTC) - timedelta(minutes=3))
    with signed_in(server, world.gas_handler):
        view = alert_inbox.show_inbox(0, None, None, None, 0)
        assert not [c for c in walk(view) if isinstance(getattr(c, "id", None), dict)]
        _choose(alert_id, "confirmed")
        message, _ = alert_inbox.on_alert_review(["confirmed"], 0)
        assert "msg-error" in message.className and texts(message) == ["您的角色不能执行此操作"]
    with signed_in(server, world.operator):
        _choose(alert_id, "maybe")
        message, _ = alert_inbox.on_alert_review(["maybe"], 0)
        assert "msg-error" in message.className
    with db.uow() as s:
        assert s.get(Alert, alert_id).review is None


def test_admin_rules_flags_a_rule_with_many_false_alarms_with_its_figures(server, db, world):
    fired = datetime.now(UTC) - timedelta(days=1)
    with db.uow() as s:
        noisy = [_alert(s, "GAS-1", rule="hi", fired=fired + timedelta(minutes=m)).id for m in range(6)]
        calm = [_alert(s, "WAT-3", rule="water", fired=fired + timedelta(minutes=m)).id for m in range(5)]
    for n, alert_id in enumerate(noisy[:5]):  # 2 false of 5 reviewed: 40 %; the sixth is unreviewed
        _review(db, world.operator, alert_id, *(("false_alarm", "device_fault") if n < 2 else ("confirmed",)))
    for n, alert_id in enumerate(calm):  # 1 false of 5: 20 %
        _review(db, world.operator, alert_id, *(("false_alarm", "test") if n < 1 else ("confirmed",)))
    put_rule(db, HIGH)
    put_rule(db, {**HIGH, "id": "water", "applies_to": {"kinds": ["water_k"]}})
    with signed_in(server, world.admin):
        listing, _ = admin_rules.list_rules(1, None)
    rows = {cells(r)[0]: cells(r) for r in with_testid(listing, "admin-rules-row")}
    assert rows["hi"][-1] == "误报率高 40.0%（误报 2 / 复核 5，共 6 条）"
    assert rows["water"][-1] == "—"


def test_the_printed_briefing_has_the_warning_table(db, world):
    stats_world(db, world)
    period, previous = period_of("day", date(2026, 11, 2))
    with db.uow() as s:
        briefing = build_briefing(s, period, previous, T0 + timedelta(days=3))
    # the local day of 2 Nov (Asia/Shanghai) is 1 Nov 16:00 – 2 Nov 16:00 UTC: c1, f1, orange, f2, c2 and also the
    # alert of 1 Nov 23:00 UTC (false alarm, test); gas has all but f2
    assert (briefing.warnings["total"]["raised"], briefing.warnings["total"]["false_alarm"]) == (6, 3)
    assert [(g["key"], g["raised"]) for g in briefing.warnings["groups"]] == [("gas", 5), ("water", 1)]
    html = render_html(briefing, "en")
    table = html[html.index('data-testid="briefing-warnings"'):]
    table = table[:table.index("</table>")]
    assert "<td>gas</td>" not in table and "<td>Total</td>" in table
    assert '<td class="num">6</td>' in table
    # the page and the workbook list the same rows (dispatch.briefing.warning_rows)
    rows = warning_rows(briefing.warnings, "en")
    assert rows[-1][:5] == ["Total", "6", "5", "2", "3"] and [r[1] for r in rows[:-1]] == ["5", "1"]
    assert all(f"<td>{row[0]}</td>" in table for row in rows)
    assert warning_rows({"total": {"raised": 0}}) == []
