"""The console's alert inbox: open alerts filtered by level, family and area; acknowledge, silence and
to-incident by an operator; a handler sees the list but may not act."""

from __future__ import annotations

from sqlalchemy import func, select

from alerts.inbox import open_alerts
from callbacks import alert_inbox
from data.models import Alert, Area, Incident, Sensor
from layouts import ids
from tests.unit import test_pages as pages
from tests.unit.test_alert_ops import HIGH, S1, S2, evaluate, feed, put_rule
from tests.unit.test_dispatch_service import G1_POINT, G2_POINT, make_city
from tests.unit.test_pages import cells, clicked, signed_in, texts, walk, with_testid

server = pages.server  # fixtures: the Flask server with the pages, and Dash's callback context
callback_context = pages.callback_context


def _city(db):
    with db.uow() as s:
        city = make_city(s)
        for sensor_id, (lon, lat), grid in ((S1, G1_POINT, city.g1), (S2, G2_POINT, city.g2)):
            s.add(Sensor(id=sensor_id, kind="gas_pressure", family="gas", name=f"{sensor_id} 调压站", unit="MPa",
                         lon=lon, lat=lat, grid_id=grid.id))
        s.add(Sensor(id="GAS-P-0009", kind="gas_pressure", family="gas", name="城外站", unit="MPa", lon=100.0,
                     lat=30.0, grid_id=None))
    put_rule(db, HIGH)
    feed(db, S1, [0.47])  # red: files its incident by itself
    feed(db, S2, [0.41])  # yellow: waits for triage
    feed(db, "GAS-P-0009", [0.43])  # orange, outside every grid
    evaluate(db)
    return city


def _alert_id(db, sensor: str) -> int:
    with db.uow() as s:
        return s.scalar(select(Alert.id).where(Alert.sensor_id == sensor))


def test_open_alerts_are_filtered_by_level_family_and_area(db):
    _city(db)
    with db.uow() as s:
        district = s.scalar(select(Area.id).where(Area.code == "D1"))
        every = open_alerts(s)
        assert [r.sensor_id for r in every] and {r.sensor_id for r in every} == {S1, S2, "GAS-P-0009"}
        assert [r.sensor_id for r in open_alerts(s, levels=["yellow"])] == [S2]
        assert open_alerts(s, families=["air"]) == []
        assert {r.sensor_id for r in open_alerts(s, area_id=district)} == {S1, S2}
        red = next(r for r in every if r.sensor_id == S1)
        assert red.incident_code is not None and red.rule_zh == "压力超限" and red.grid_code == "G1"


def test_an_operator_acknowledges_silences_and_files_an_alert_from_the_inbox(server, db):
    city = _city(db)
    yellow = _alert_id(db, S2)
    with signed_in(server, city.operator):
        view = alert_inbox.show_inbox(0, None, None, None, 0)
        rows = {cells(r)[2]: r for r in with_testid(view, ids.CONSOLE_ALERT_ROW)}
        assert len(rows) == 3
        row = rows[f"{S2} 调压站 ({S2})"]
        buttons = [c.id["action"] for c in walk(row) if isinstance(getattr(c, "id", None), dict)]
        assert buttons == ["ack", "silence", "incident", "review"]  # review: the review dropdown (issue 17)

        clicked({"type": ids.CONSOLE_ALERT_ACTION, "action": "ack", "alert": yellow})
        message, result = alert_inbox.on_alert_action([1], 0)
        assert result == 1 and "msg-ok" in message.className
        clicked({"type": ids.CONSOLE_ALERT_ACTION, "action": "silence", "alert": yellow})
        alert_inbox.on_alert_action([1], 1)
        clicked({"type": ids.CONSOLE_ALERT_ACTION, "action": "incident", "alert": yellow})
        message, _ = alert_inbox.on_alert_action([1], 2)
        assert "msg-ok" in message.className
        clicked({"type": ids.CONSOLE_ALERT_ACTION, "action": "incident", "alert": yellow})
        message, _ = alert_inbox.on_alert_action([1], 3)
        assert "msg-error" in message.className and texts(message) == ["该告警已有事件"]
    with db.uow() as s:
        alert = s.get(Alert, yellow)
        assert alert.acked_by == city.operator.id and alert.muted == "silence" and alert.incident_id is not None
        assert s.get(Incident, alert.incident_id).category_code == "L01"


def test_a_handler_sees_the_inbox_without_buttons_and_cannot_act(server, db):
    city = _city(db)
    yellow = _alert_id(db, S2)
    with signed_in(server, city.gas_handler):
        view = alert_inbox.show_inbox(0, ["yellow"], None, None, 0)
        assert len(with_testid(view, ids.CONSOLE_ALERT_ROW)) == 1
        assert not [c for c in walk(view) if isinstance(getattr(c, "id", None), dict)]
        clicked({"type": ids.CONSOLE_ALERT_ACTION, "action": "incident", "alert": yellow})
        message, _ = alert_inbox.on_alert_action([1], 0)
    assert "msg-error" in message.className
    with db.uow() as s:
        assert s.get(Alert, yellow).incident_id is None
        assert s.scalar(select(func.count()).select_from(Incident)) == 2  # the red and orange alerts' own

