"""Late readings never hide an alarm (issue 13, item 1; DESIGN §5).

A gas-pressure data logger loses its link, the offline rule fires, then the logger uploads 40 minutes of
backlog at once. ``stale`` judges the time a reading was *received*, so the backlog brings the sensor back;
the value alert it contains is one episode, reaches red, resolves, and gets its incident.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from alerts.engine import evaluate_pending
from alerts.inbox import open_alerts
from alerts.ingest import ingest_readings
from alerts.rules_loader import RULES_FOLDER, sync_rule_files
from alerts.silences import MAINTENANCE, create_silence
from alerts.triage import triage_alert
from data.models import Alert, Incident, Rule, Sensor, utcnow
from tests.unit.test_api_v1 import app, call, tokens  # noqa: F401  (fixtures)
from tests.unit.test_dispatch_service import G1_POINT, make_city

GAS = "GAS-LATE-01"
#: The backlog, one reading a minute from 40 to 10 minutes ago: over orange (0.42) and red (0.45), then
#: below the clear level (0.38) and back to normal.
BACKLOG = [0.30, 0.31, 0.33, 0.36, 0.39, 0.41, 0.43, 0.44, 0.46, 0.48, 0.47, 0.44, 0.41, 0.37, 0.33,
           0.31, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30]


def _gas_sensor_that_went_silent(db, now):
    """A gas sensor that reported normally until 45 minutes ago; the offline rule has fired since."""
    with db.uow() as s:
        sync_rule_files(s, RULES_FOLDER)
        s.add(Sensor(id=GAS, kind="gas_pressure", family="gas", name="中压A 管网 1", unit="MPa",
                     lon=G1_POINT[0], lat=G1_POINT[1]))
    for minutes in range(70, 44, -1):  # received as they were measured
        ts = now - timedelta(minutes=minutes)
        with db.uow() as s:
            ingest_readings(s, [{"sensor_id": GAS, "ts": ts.isoformat(), "value": 0.30}], now=ts)
    with db.uow() as s:
        evaluate_pending(s, now=now - timedelta(minutes=44))
    with db.uow() as s:
        evaluate_pending(s, now=now - timedelta(minutes=25))
    with db.uow() as s:
        assert s.get(Sensor, GAS).status == "offline"


def _backlog(now):
    start = now - timedelta(minutes=40)
    return [{"sensor_id": GAS, "ts": (start + timedelta(minutes=i)).isoformat(), "value": value}
            for i, value in enumerate(BACKLOG)]


def _post_backlog(call, rows, chunk):  # noqa: F811
    """The logger uploads its backlog in requests of ``chunk`` rows, the engine evaluating after each."""
    for first in range(0, len(rows), chunk):
        response = call("POST", "/api/v1/readings", "admin", {"readings": rows[first : first + chunk]})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["accepted"] == len(rows[first : first + chunk])
        response = call("POST", "/api/v1/evaluate", "admin")
        assert response.status_code == 200, response.get_data(as_text=True)


def _pressure_alerts(db):
    with db.uow() as s:
        return s.scalars(select(Alert).where(Alert.rule_id == "gas-pressure-high").order_by(Alert.id)).all()


def _assert_one_red_episode_with_its_incident(db, now):
    (alert,) = _pressure_alerts(db)  # one alert for the episode
    assert alert.state == "resolved"
    assert alert.peak_level == "red"  # 0.46-0.48 MPa, over the red limit of 0.45
    assert alert.fired_at == now - timedelta(minutes=40 - 6)  # 0.43: a minute after 0.41 began the breach
    assert alert.resolved_at == now - timedelta(minutes=40 - 13)  # 0.37, the first value below 0.38
    assert alert.incident_id is not None
    with db.uow() as s:
        incident = s.get(Incident, alert.incident_id)
        assert (incident.source, incident.category_code, incident.state) == ("alert", "L01", "filed")
        assert incident.description.startswith("gas-pressure-high red")
        assert s.get(Sensor, GAS).status == "online"  # the backlog's arrival shows the device is alive
        offline = s.scalars(select(Alert).where(Alert.rule_id == "gas-sensor-offline")).one()
        assert offline.state == "resolved"


def test_a_backlog_arriving_at_once_is_one_red_episode_that_gets_its_incident(db, call):  # noqa: F811
    now = utcnow()
    _gas_sensor_that_went_silent(db, now)
    _post_backlog(call, _backlog(now), chunk=len(BACKLOG))
    _assert_one_red_episode_with_its_incident(db, now)


def test_a_backlog_uploaded_in_chunks_is_one_red_episode_that_gets_its_incident(db, call):  # noqa: F811
    # Today's failure: judged by ts, the first chunks (newest ts 31 and 21 minutes old) left the sensor
    # "offline", the alert fired and resolved muted by the inhibition, and nothing ever filed it.
    now = utcnow()
    _gas_sensor_that_went_silent(db, now)
    _post_backlog(call, _backlog(now), chunk=10)
    _assert_one_red_episode_with_its_incident(db, now)


def _feed(db, values, start, received):
    rows = [{"sensor_id": GAS, "ts": (start + timedelta(minutes=i)).isoformat(), "value": v}
            for i, v in enumerate(values)]
    with db.uow() as s:
        assert ingest_readings(s, rows, now=received).accepted == len(rows)


def _evaluate(db, now):
    with db.uow() as s:
        return evaluate_pending(s, now=now)


def _new_gas_sensor(db):
    with db.uow() as s:
        make_city(s)
        sync_rule_files(s, RULES_FOLDER)
        s.add(Sensor(id=GAS, kind="gas_pressure", family="gas", name="中压A 管网 1", unit="MPa",
                     lon=G1_POINT[0], lat=G1_POINT[1]))


def test_an_alert_inhibited_while_it_fired_is_filed_at_its_peak_once_the_sensor_is_back(db):
    _new_gas_sensor(db)
    t0 = utcnow() - timedelta(hours=2)
    _feed(db, [0.30, 0.43, 0.47, 0.37], t0, received=t0 + timedelta(minutes=3))
    # The engine runs only 20 minutes later (the worker was down): the sensor has been silent for 17
    # minutes, so it is offline and the red episode it sent before falling silent is inhibited.
    _evaluate(db, t0 + timedelta(minutes=20))
    (alert,) = _pressure_alerts(db)
    assert (alert.state, alert.peak_level, alert.muted, alert.incident_id) == ("resolved", "red", "inhibited", None)
    # Still offline: nothing is filed yet.
    _evaluate(db, t0 + timedelta(minutes=25))
    assert _pressure_alerts(db)[0].incident_id is None
    # It reports again: back online, and the red alert it sent gets its incident.
    _feed(db, [0.30], t0 + timedelta(minutes=26), received=t0 + timedelta(minutes=26))
    counts = _evaluate(db, t0 + timedelta(minutes=26))
    assert counts["incidents"] == 1
    (alert,) = _pressure_alerts(db)
    assert alert.incident_id is not None and alert.muted == "inhibited"  # the record of why nobody heard it
    # Filed once: a later run files nothing more.
    assert _evaluate(db, t0 + timedelta(minutes=27))["incidents"] == 0


def test_an_alert_that_ended_under_maintenance_still_gets_no_incident(db):
    _new_gas_sensor(db)
    t0 = utcnow() - timedelta(hours=2)
    with db.uow() as s:
        create_silence(s, kind=MAINTENANCE, sensor_id=GAS, starts_at=t0, ends_at=t0 + timedelta(minutes=10), now=t0)
    _feed(db, [0.30, 0.43, 0.47, 0.37], t0, received=t0 + timedelta(minutes=3))
    _evaluate(db, t0 + timedelta(minutes=4))
    _feed(db, [0.30], t0 + timedelta(minutes=11), received=t0 + timedelta(minutes=11))
    _evaluate(db, t0 + timedelta(minutes=11))
    (alert,) = _pressure_alerts(db)
    assert (alert.state, alert.muted, alert.incident_id) == ("resolved", "maintenance", None)


def test_an_inhibited_alert_of_a_triage_rule_waits_in_the_inbox_once_the_sensor_is_back(db):
    _new_gas_sensor(db)
    with db.uow() as s:  # the same limits, for operator triage (研判) instead of auto-filing
        body = dict(s.get(Rule, "gas-pressure-high").body)
        s.get(Rule, "gas-pressure-high").enabled = False
        s.add(Rule(id="gas-triage", body={**body, "id": "gas-triage", "incident": {"category": "L01"}},
                   enabled=True, source="api"))
    t0 = utcnow() - timedelta(hours=2)
    _feed(db, [0.30, 0.43, 0.47, 0.37], t0, received=t0 + timedelta(minutes=3))
    _evaluate(db, t0 + timedelta(minutes=20))  # offline: inhibited, and not in the inbox while offline
    with db.uow() as s:
        assert [r.rule_id for r in open_alerts(s, families=["gas"])] == ["gas-sensor-offline"]
    _feed(db, [0.30], t0 + timedelta(minutes=26), received=t0 + timedelta(minutes=26))
    assert _evaluate(db, t0 + timedelta(minutes=26))["incidents"] == 0  # the rule leaves it to an operator
    with db.uow() as s:
        (row,) = open_alerts(s, families=["gas"])
        assert (row.rule_id, row.state, row.muted, row.incident_id) == ("gas-triage", "resolved", "inhibited", None)
        _, incident = triage_alert(s, row.id)
        assert incident.state == "reported"
    with db.uow() as s:
        assert open_alerts(s, families=["gas"]) == []  # it has its incident now
