"""The command board's sensors and alerts (issue 18 §3): which sensors show their trend (alerting first, the most
severe first, then the nearest, capped), the last hour's trend in fixed slots, the area's firing alerts as their
own map layer coloured by level and patched when they change, and the sensors panel's sparklines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

import app as cityops
from data.accounts import create_user
from data.models import Alert, Reading, Sensor
from dispatch import emergency, event_sensors
from layouts import command as view
from layouts import ids
from layouts.components import LEVEL_COLOURS
from settings import Settings
from tests.unit.test_emergency import (  # noqa: F401 (the autouse fixture: a channel key, the wired ports)
    POINT,
    SENSOR,
    _channel_key_and_ports,
    board_request,
    make_emergency_city,
)

NOW = datetime(2026, 12, 6, 10, 7, 30, tzinfo=UTC)


def _sensor(sensor_id: str, dx: float, level: str | None = None) -> dict:
    return {"id": sensor_id, "name": sensor_id, "unit": "m", "value": 0.1, "level": level, "lon": POINT[0] + dx,
            "lat": POINT[1]}


def test_alerting_sensors_come_first_by_severity_then_the_nearest_up_to_the_cap():
    sensors = [_sensor("far", 0.01), _sensor("near", 0.001), _sensor("yellow-far", 0.02, "yellow"),
               _sensor("red-far", 0.03, "red"), _sensor("mid", 0.005)]
    picked = event_sensors.trend_sensors(sensors, *POINT, limit=4)
    assert [s["id"] for s in picked] == ["red-far", "yellow-far", "near", "mid"]


def _readings(session, sensor_id: str, points: list[tuple[datetime, float]]) -> None:
    session.add_all(Reading(sensor_id=sensor_id, ts=ts, value=value) for ts, value in points)
    session.flush()


def test_the_trend_is_the_last_hour_in_slots_with_its_change(session):
    make_emergency_city(session)
    start = event_sensors._window_start(NOW, event_sensors.TREND_WINDOW, event_sensors.TREND_SLOTS)
    assert start == datetime(2026, 12, 6, 9, 10, tzinfo=UTC)  # 12 slots of 5 min, the last one holds 10:07:30
    _readings(session, SENSOR, [(NOW - timedelta(hours=2), 9.0),  # before the window: left out
                                (start + timedelta(minutes=1), 0.10), (start + timedelta(minutes=2), 0.20),
                                (start + timedelta(minutes=31), 0.25), (NOW - timedelta(seconds=5), 0.40)])
    session.add(Sensor(id="DRAIN-QUIET", kind="drain_level", family="lifeline", name="无读数", unit="m",
                       lon=POINT[0] + 0.002, lat=POINT[1]))
    session.flush()
    sensors = [_sensor(SENSOR, 0.0), _sensor("DRAIN-QUIET", 0.002)]
    trend, quiet = event_sensors.sensor_trends(session, sensors, *POINT, NOW)
    assert trend["id"] == SENSOR
    assert trend["points"][0] == 0.15  # the mean of the first slot's two readings
    assert trend["points"][6] == 0.25 and trend["points"][11] == 0.40
    assert [p is None for p in trend["points"]].count(True) == 9
    assert trend["change"] == 0.25  # last slot minus first
    assert quiet["points"] == [None] * 12 and quiet["change"] is None
    # a later tick in the same slot, without new readings, draws the same trend (the board sends nothing)
    assert event_sensors.sensor_trends(session, sensors, *POINT, NOW + timedelta(seconds=80)) == [trend, quiet]


def test_the_alerts_layer_holds_the_areas_firing_alerts_most_severe_first(session):
    make_emergency_city(session)
    session.add(Sensor(id="DRAIN-OUT", kind="drain_level", family="lifeline", name="区域外", unit="m",
                       lon=POINT[0] + 1, lat=POINT[1]))
    session.flush()
    rows = [("drainage-level-rising", SENSOR, "firing", "yellow", False),
            ("drainage-waterlogging", SENSOR, "firing", "orange", False),
            ("drainage-waterlogging", SENSOR, "resolved", "red", False),  # over
            ("drainage-waterlogging", SENSOR, "firing", "red", True),  # a drill's
            ("drainage-waterlogging", "DRAIN-OUT", "firing", "red", False)]  # outside the area
    session.add_all(Alert(rule_id=rule, sensor_id=sensor, state=state, level=level, value=0.3, started_at=NOW,
                          fired_at=NOW, exercise=exercise) for rule, sensor, state, level, exercise in rows)
    session.flush()
    alerts = event_sensors.area_alerts(session, [_sensor(SENSOR, 0.0)], exercise=False)
    assert [(a["rule_id"], a["level"]) for a in alerts] == [("drainage-waterlogging", "orange"),
                                                            ("drainage-level-rising", "yellow")]
    assert alerts[0]["rule"]["zh"] == "道路积水（内涝）" and (alerts[0]["lon"], alerts[0]["lat"]) == POINT
    drill = event_sensors.area_alerts(session, [_sensor(SENSOR, 0.0)], exercise=True)
    assert [a["level"] for a in drill] == ["red"]
    assert event_sensors.area_alerts(session, [], exercise=False) == []


def test_a_sparkline_breaks_where_no_reading_came():
    uri = view.sparkline_svg([0.1, 0.2, None, 0.4])
    assert uri.startswith("data:image/svg+xml;utf8,%3Csvg")
    path = uri.split("d='", 1)[1].split("'", 1)[0]
    assert path.count("M") == 2 and path.count("L") == 1  # two pieces: before and after the gap
    assert "d=''" in view.sparkline_svg([None, None])
    assert "#" not in uri and "<" not in uri  # escaped for a data URI


def test_the_board_draws_the_alerts_layer_and_patches_it_when_an_alert_changes(db):
    with db.uow() as s:
        people = make_emergency_city(s)
        create_user(s, "deskop", "operator", password="desk-pw")
        event = emergency.open_event(s, people["op"], title="积水", scenario="urban_waterlogging",
                                     lon=POINT[0], lat=POINT[1])
        emergency.activate(s, people["op"], event.id, plan_id="waterlogging", level="IV")
        event_id = event.id
        now = datetime.now(UTC)
        _readings(s, SENSOR, [(now - timedelta(minutes=40), 0.12), (now - timedelta(minutes=1), 0.31)])
        s.add(Alert(rule_id="drainage-waterlogging", sensor_id=SENSOR, state="firing", level="orange", value=0.31,
                    started_at=now, fired_at=now))
        s.execute(update(Sensor).where(Sensor.id == SENSOR).values(last_value=0.31))
    server, _ = cityops.create_app(Settings(database_url=str(db.url), secret_key="board"), db)
    browser = server.test_client()
    assert browser.post("/login", data={"username": "deskop", "password": "desk-pw"}).status_code == 302
    first = browser.post("/_dash-update-component", json=board_request(event_id, {})).json["response"]
    layer = first[ids.COMMAND_MAP]["figure"]["data"][6]
    assert (layer["lon"], layer["lat"]) == ([POINT[0]], [POINT[1]])
    assert layer["marker"]["color"] == [LEVEL_COLOURS["orange"]]
    panel = json.dumps(first[ids.COMMAND_SENSORS], ensure_ascii=False)
    assert "区域内预警 1 条" in panel and "level-orange" in panel and "↑+0.19m" in panel
    digests = first[ids.COMMAND_DIGESTS]["data"]
    with db.uow() as s:
        s.execute(update(Alert).values(level="red"))
    raised = browser.post("/_dash-update-component", json=board_request(event_id, digests, 2))
    patch = json.dumps(raised.json["response"][ids.COMMAND_MAP]["figure"])
    assert "__dash_patch_update" in patch and LEVEL_COLOURS["red"] in patch
    assert ids.COMMAND_SENSORS in raised.json["response"]  # the counts moved from orange to red
    digests = raised.json["response"][ids.COMMAND_DIGESTS]["data"]
    with db.uow() as s:
        s.execute(update(Alert).values(state="resolved"))
    cleared = browser.post("/_dash-update-component", json=board_request(event_id, digests, 3)).json["response"]
    operations = cleared[ids.COMMAND_MAP]["figure"]["operations"]
    assert {"operation": "Assign", "location": ["data", 6, "lon"], "params": {"value": []}} in operations
