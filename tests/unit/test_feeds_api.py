# ruff: noqa: F811  (pytest fixtures imported from test_api_v1 are parameters here)
"""The alert routes of /api/v1 added by issue 4: silences, CAP, triage, filters (Flask test client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from tests.unit.test_alert_ops import CAP_XSD, HIGH
from tests.unit.test_api_v1 import _error, app, call, tokens  # noqa: F401  (fixtures)
from tests.unit.test_dispatch_service import G1_POINT

SENSOR = {"id": "GAS-P-0009", "kind": "gas_pressure", "family": "gas", "name": "调压站", "unit": "MPa",
          "lon": G1_POINT[0], "lat": G1_POINT[1]}


@pytest.fixture
def firing(call):
    """A sensor, the HIGH rule and one red firing alert; returns the alert."""
    assert call("POST", "/api/v1/sensors", "admin", SENSOR).status_code == 201
    assert call("POST", "/api/v1/rules", "admin", {"rule": HIGH}).status_code == 201
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    readings = [{"sensor_id": SENSOR["id"], "ts": ts.isoformat(), "value": 0.41}]
    assert call("POST", "/api/v1/readings", "op", {"readings": readings}).get_json()["accepted"] == 1
    assert call("POST", "/api/v1/evaluate", "admin").get_json()["fired"] == 1
    (alert,) = call("GET", "/api/v1/alerts?state=firing", "op").get_json()
    return alert


def test_a_silence_mutes_the_alert_at_once_and_deleting_it_unmutes(call, firing):
    response = call("POST", "/api/v1/silences", "op", {"sensor_id": SENSOR["id"], "minutes": 30, "reason": "检修"})
    assert response.status_code == 201, response.get_data(as_text=True)
    silence = response.get_json()
    assert silence["active"] and silence["kind"] == "silence"
    (alert,) = call("GET", "/api/v1/alerts", "op").get_json()
    assert alert["muted"] == "silence" and alert["state"] == "firing"
    assert [s["id"] for s in call("GET", "/api/v1/silences?active=true", "op").get_json()] == [silence["id"]]
    assert call("DELETE", f"/api/v1/silences/{silence['id']}", "op").status_code == 204
    assert call("GET", "/api/v1/silences?active=true", "op").get_json() == []
    assert call("GET", "/api/v1/alerts", "op").get_json()[0]["muted"] is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"minutes": 30}, 422, "invalid_field"),
        ({"sensor_id": "GAS-P-0009"}, 422, "invalid_field"),
        ({"sensor_id": "GAS-P-0009", "ends_at": "2030-01-01T00:00:00"}, 422, "invalid_field"),
        ({"sensor_id": "NOPE", "minutes": 5}, 404, "unknown_sensor"),
        ({"grid_code": "G9", "minutes": 5}, 404, "unknown_grid"),
        ({"sensor_id": "GAS-P-0009", "minutes": 5, "kind": "holiday"}, 422, "invalid_field"),
    ],
)
def test_a_bad_silence_is_a_clear_4xx(call, firing, body, status, code):
    _error(call("POST", "/api/v1/silences", "op", body), status, code)


def test_silences_are_for_staff(call, firing):
    _error(call("POST", "/api/v1/silences", "boss", {"sensor_id": SENSOR["id"], "minutes": 5}), 403)


def test_the_cap_route_answers_valid_cap_xml(call, firing):
    response = call("GET", f"/api/v1/alerts/{firing['id']}/cap", "boss")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    schema = etree.XMLSchema(etree.parse(str(CAP_XSD)))
    schema.assertValid(etree.fromstring(response.data))
    _error(call("GET", "/api/v1/alerts/999/cap", "boss"), 404, "alert_not_found")


def test_triage_turns_a_yellow_alert_into_a_reported_incident_once(call, firing):
    response = call("POST", f"/api/v1/alerts/{firing['id']}/incident", "op")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["alert"]["incident_id"] == body["incident_id"]
    incident = call("GET", f"/api/v1/incidents/{body['incident_id']}", "op").get_json()
    assert (incident["state"], incident["source"], incident["grid_code"]) == ("reported", "alert", "G1")
    _error(call("POST", f"/api/v1/alerts/{firing['id']}/incident", "op"), 409, "alert_has_incident")
    _error(call("POST", "/api/v1/alerts/999/incident", "op"), 404, "alert_not_found")


def test_alerts_filter_by_family_grid_and_exercise(call, firing):
    assert len(call("GET", "/api/v1/alerts?family=gas&grid=G1&exercise=false", "op").get_json()) == 1
    assert call("GET", "/api/v1/alerts?family=air", "op").get_json() == []
    assert call("GET", "/api/v1/alerts?grid=G2", "op").get_json() == []
    assert call("GET", "/api/v1/alerts?exercise=true", "op").get_json() == []
    _error(call("GET", "/api/v1/alerts?exercise=maybe", "op"), 422)
