"""The dispatch channels over HTTP: photo upload and serving, video detections, duplicates, ratings,
notifications and category administration under /api/v1, and Open311 GeoReport v2 at /open311/v2."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from api.open311 import open311_bp
from data.accounts import issue_open311_key
from data.catalog import load_catalog
from data.models import Camera, Doorplate, Incident, VideoPlatform
from dispatch.service import create_incident
from settings import get_settings
from tests.unit import test_api_v1 as v1
from tests.unit.test_dispatch_channels import jpeg
from tests.unit.test_dispatch_service import G1_POINT, G2_POINT, OUTSIDE

# The /api/v1 test app, its users' tokens and the request helper (fixtures of test_api_v1).
app, tokens, call = v1.app, v1.tokens, v1.call
_act, _error, _report = v1._act, v1._error, v1._report


@pytest.fixture(autouse=True)
def uploads(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYOPS_UPLOADS_DIR", str(tmp_path / "uploads"))
    get_settings.cache_clear()
    yield tmp_path / "uploads"
    get_settings.cache_clear()


@pytest.fixture
def open311_app(app: Flask) -> Flask:
    app.register_blueprint(open311_bp)
    return app


def _upload(call, incident_id: int, user: str, data: bytes, name: str = "x.jpg"):
    return call("POST", f"/api/v1/incidents/{incident_id}/photos", user, body=None,
                data={"photo": (io.BytesIO(data), name)}, content_type="multipart/form-data")


# --- photos -------------------------------------------------------------------------------------


def test_a_worker_uploads_a_photo_and_resolves_with_it_and_only_signed_in_viewers_get_it(call, uploads):
    incident = _report(call)
    for action, user in (("file", "op"), ("dispatch", "op"), ("start", "w1")):
        response = _act(call, incident, action, user)
        assert response.status_code == 200, response.get_data(as_text=True)
        incident = response.get_json()
    uploaded = _upload(call, incident["id"], "w1", jpeg(gps=True), name="../../etc/passwd.jpg")
    assert uploaded.status_code == 201, uploaded.get_data(as_text=True)
    photo = uploaded.get_json()
    assert not list(uploads.rglob("*passwd*"))  # the client's name is never used
    resolved = _act(call, incident, "resolve", "w1", note="done", photo_ids=[photo["id"]])
    assert resolved.status_code == 200, resolved.get_data(as_text=True)
    body = resolved.get_json()
    assert body["history"][-1]["data"]["photos"] == [photo["id"]]
    assert [p["id"] for p in body["photos"]] == [photo["id"]]
    full = call("GET", photo["url"], "op")
    assert full.status_code == 200 and full.mimetype == "image/jpeg"
    assert full.headers["X-Content-Type-Options"] == "nosniff" and b"PhoneCam" not in full.data
    thumb = call("GET", photo["thumbnail_url"], "gasman")  # the gas handler's department has it
    assert thumb.status_code == 200 and len(thumb.data) < len(full.data) + 1
    _error(call("GET", photo["url"]), 401)
    _error(call("GET", photo["url"], "w2"), 404)  # another grid's worker does not see the incident
    _error(call("GET", "/api/v1/attachments/999"), 401)
    _error(call("GET", "/api/v1/attachments/999", "op"), 404, "attachment_not_found")


def test_bad_photos_get_413_415_or_422_and_are_not_stored(call, uploads):
    incident = _report(call)
    _error(_upload(call, incident["id"], "op", b"%PDF-1.4 nope"), 415, "photo_type")
    _error(_upload(call, incident["id"], "op", b"\xff\xd8\xff\xe0garbage"), 422, "photo_corrupt")
    _error(_upload(call, incident["id"], "op", b"\xff\xd8\xff" + b"0" * (5 * 1024 * 1024)), 413, "photo_too_large")
    _error(call("POST", f"/api/v1/incidents/{incident['id']}/photos", "op"), 400, "photo_required")
    assert not uploads.exists() or not list(uploads.rglob("*.*"))


# --- detections, duplicates, ratings, notifications --------------------------------------------


def test_a_camera_detection_creates_a_video_incident_with_its_snapshot(db, call):
    with db.uow() as s:
        load_catalog(s)
        platform = VideoPlatform(code="VP", name="p")
        s.add(platform)
        s.flush()
        s.add(Camera(code="CAM-7", name="河道 7", platform_id=platform.id, type="dome", algorithms=["river_litter"],
                     lon=G2_POINT[0], lat=G2_POINT[1]))
    snapshot = base64.b64encode(jpeg()).decode()
    response = call("POST", "/api/v1/detections", "op",
                    {"camera": "CAM-7", "kind": "river_litter", "confidence": 0.88, "snapshot": snapshot,
                     "detected_at": "2026-11-22T09:00:00+08:00"})
    assert response.status_code == 201, response.get_data(as_text=True)
    incident = response.get_json()
    assert (incident["source"], incident["category"], incident["grid_code"]) == ("video", "V03", "G2")
    assert incident["reported_at"] == "2026-11-22T09:00:00+08:00"
    assert [p["kind"] for p in incident["photos"]] == ["snapshot"]
    _error(call("POST", "/api/v1/detections", "w1", {"camera": "CAM-7", "kind": "river_litter"}), 403)
    _error(call("POST", "/api/v1/detections", "op", {"camera": "CAM-7", "kind": "waterlogging"}), 422,
           "algorithm_not_enabled")
    _error(call("POST", "/api/v1/detections", "op", {"camera": "CAM-7", "kind": "river_litter",
                                                     "snapshot": "@@@"}), 422, "invalid_field")
    _error(call("POST", "/api/v1/detections", "op", {"camera": "NOPE", "kind": "river_litter"}), 422,
           "unknown_camera")


def test_duplicates_are_listed_and_merged_through_the_api(call):
    first = _report(call)
    second = _report(call, point=(G1_POINT[0] + 0.0002, G1_POINT[1]))
    assert second["duplicate_of"] == first["id"]
    found = call("GET", f"/api/v1/incidents/{second['id']}/duplicates", "op").get_json()
    assert [(d["code"], round(d["distance_m"])) for d in found] == [(first["code"], 18)]
    merged = _act(call, second, "merge", "op", target_id=first["id"])
    assert merged.status_code == 200 and merged.get_json()["merged_into"] == first["id"]


def test_escalation_reaches_the_department_handler_and_can_be_marked_read(call):
    incident = _report(call)
    incident = _act(call, incident, "file", "op").get_json()
    assert _act(call, incident, "escalate", "boss", note="加快").status_code == 200
    mine = call("GET", "/api/v1/notifications?unread=1", "gasman").get_json()
    assert [(n["kind"], n["incident_code"], n["note"]) for n in mine] == [("escalate", incident["code"], "加快")]
    assert call("GET", "/api/v1/notifications", "w1").get_json() == []
    assert call("POST", "/api/v1/notifications/read", "gasman", {}).get_json() == {"marked": 1}
    assert call("GET", "/api/v1/notifications?unread=1", "gasman").get_json() == []
    assert len(call("GET", "/api/v1/notifications?unread=1", "op").get_json()) == 1


def test_ratings_are_for_closed_hotline_cases_only(db, call):
    incident = _report(call)
    _error(call("POST", f"/api/v1/incidents/{incident['id']}/rating", "op", {"satisfaction": "satisfied"}), 422,
           "not_ratable")
    _error(call("POST", f"/api/v1/incidents/{incident['id']}/rating", "op", {"satisfaction": "great"}), 422,
           "invalid_field")
    _error(call("POST", f"/api/v1/incidents/{incident['id']}/rating", "w1", {"satisfaction": "satisfied"}), 403)


def test_categories_carry_severity_limits_and_working_hours_and_can_be_changed(call):
    body = {"code": "S0199", "name": {"zh": "测试", "en": "Test"}, "kind": "event", "department": "roads",
            "handle_hours": 8, "close_hours": 24, "working_hours": True,
            "limits": {"urgent": {"handle_hours": 2, "close_hours": 6}}}
    created = call("POST", "/api/v1/categories", "admin", body)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["limits"] == {"urgent": {"handle_hours": 2.0, "close_hours": 6.0}}
    changed = call("PUT", "/api/v1/categories/S0199", "admin", {**body, "limits": {}, "working_hours": False})
    assert changed.status_code == 200 and changed.get_json()["limits"] == {}
    listed = {c["code"]: c for c in call("GET", "/api/v1/categories", "op").get_json()}
    assert listed["S0199"]["working_hours"] is False
    _error(call("PUT", "/api/v1/categories/S0198", "admin", {**body, "code": "S0198"}), 404)
    _error(call("PUT", "/api/v1/categories/S0199", "admin", {**body, "department": "nope"}), 422)
    _error(call("PUT", "/api/v1/categories/S0199", "op", body), 403)
    bad = {**body, "limits": {"urgent": {"handle_hours": 6, "close_hours": 2}}}
    _error(call("PUT", "/api/v1/categories/S0199", "admin", bad), 422)


def test_people_cannot_report_outside_the_city_through_the_api(call):
    response = call("POST", "/api/v1/incidents", "w1", {"category": "L01", "title": "x", "lon": OUTSIDE[0],
                                                        "lat": OUTSIDE[1]})
    _error(response, 422, "outside_city")


# --- Open311 ------------------------------------------------------------------------------------


@pytest.fixture
def o311(open311_app, tokens, db):
    with db.uow() as s:
        load_catalog(s)
        s.add(Doorplate(code="DP-9", address="示范路 9 号", lon=G2_POINT[0], lat=G2_POINT[1]))
        tokens["portal"] = issue_open311_key(s, "portal")  # an Open311 client's key (API tokens are refused)
    client = open311_app.test_client()
    return client


def test_open311_lists_the_public_services_and_their_definition(o311):
    services = o311.get("/open311/v2/services.json").get_json()
    codes = {s["service_code"] for s in services}
    assert {"S0101", "B0101"} <= codes and not any(c[0] in "LEV" for c in codes)
    lamp = next(s for s in services if s["service_code"] == "B0110")
    assert lamp["service_name"] == "路灯" and lamp["metadata"] is True and lamp["type"] == "realtime"
    definition = o311.get("/open311/v2/services/S0101.json").get_json()
    assert definition["service_code"] == "S0101"
    assert [v["key"] for v in definition["attributes"][0]["values"]] == ["normal", "urgent", "critical"]
    xml = ET.fromstring(o311.get("/open311/v2/services.xml").data)
    assert xml.tag == "services" and len(xml.findall("service")) == len(services)
    missing = o311.get("/open311/v2/services/L01.json")
    assert missing.status_code == 404 and missing.get_json()[0]["code"] == 404


def test_an_open311_round_trip_from_post_to_closed(o311, tokens, call, db):
    posted = o311.post("/open311/v2/requests.json", data={
        "api_key": tokens["portal"], "service_code": "S0101", "lat": str(G1_POINT[1]), "long": str(G1_POINT[0]),
        "description": "路口有一堆垃圾", "first_name": "San", "last_name": "Zhang", "phone": "13900001111",
        "email": "z@example.org", "attribute[severity]": "urgent"})
    assert posted.status_code == 201, posted.get_data(as_text=True)
    [receipt] = posted.get_json()
    code = receipt["service_request_id"]
    with db.uow() as s:
        incident = s.query(Incident).filter_by(code=code).one()
        assert (incident.source, incident.severity, incident.caller_phone) == ("open311", "urgent", "13900001111")
        incident_id = incident.id
    [shown] = o311.get(f"/open311/v2/requests/{code}.json").get_json()
    assert (shown["status"], shown["service_code"], shown["lat"], shown["long"]) == \
        ("open", "S0101", G1_POINT[1], G1_POINT[0])
    assert "13900001111" not in o311.get(f"/open311/v2/requests/{code}.json").get_data(as_text=True)
    incident = call("GET", f"/api/v1/incidents/{incident_id}", "op").get_json()
    assert incident["caller"] == {"name": "San Zhang", "phone": "139****1111"}
    for action, user in (("file", "op"), ("dispatch", "op"), ("start", "w1"), ("resolve", "w1")):
        incident = _act(call, incident, action, user).get_json()
    incident = _act(call, incident, "close", "op", note="已清运").get_json()
    [closed] = o311.get(f"/open311/v2/requests/{code}.json").get_json()
    assert (closed["status"], closed["status_notes"]) == ("closed", None)  # the close note is internal
    xml = ET.fromstring(o311.get(f"/open311/v2/requests/{code}.xml").data)
    assert xml.find("request/status").text == "closed"


def test_open311_search_filters_by_id_service_dates_and_status(o311, tokens, db):
    with db.uow() as s:
        base = datetime.now(UTC) - timedelta(days=2)
        made = [create_incident(s, category_code=c, source="open311", title=c, lon=G1_POINT[0], lat=G1_POINT[1],
                                reported_at=base + timedelta(hours=i), check_duplicates=False)
                for i, c in enumerate(("S0101", "B0110", "S0101"))]
        made[2].state = "closed"
        old = create_incident(s, category_code="S0101", source="open311", title="old", lon=G1_POINT[0],
                              lat=G1_POINT[1], reported_at=base - timedelta(days=200))
        codes = [i.code for i in made]
        old_code = old.code

    def search(query: str) -> list[str]:
        response = o311.get(f"/open311/v2/requests.json?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return sorted(r["service_request_id"] for r in response.get_json())

    assert search("") == sorted(codes)  # the last 90 days
    assert search("service_code=S0101") == sorted([codes[0], codes[2]])
    assert search("status=open") == sorted(codes[:2])
    assert search("status=closed") == [codes[2]]
    assert search("status=open,closed") == sorted(codes)
    assert search(f"service_request_id={old_code},{codes[1]}") == sorted([old_code, codes[1]])
    start = (base + timedelta(minutes=30)).isoformat()
    end = (base + timedelta(hours=1, minutes=30)).isoformat()
    assert search(f"start_date={start.replace('+', '%2B')}&end_date={end.replace('+', '%2B')}") == [codes[1]]
    for query in ("status=pending", "start_date=yesterday", "start_date=2026-01-01T00:00:00",
                  "start_date=2020-01-01T00:00:00Z&end_date=2021-01-01T00:00:00Z"):
        response = o311.get(f"/open311/v2/requests.json?{query}")
        assert response.status_code == 400 and response.get_json()[0]["code"] == 400, query


@pytest.mark.parametrize(("form", "status", "words"), [
    ({"service_code": "S0101", "lat": "36.605", "long": "117.005"}, 403, "X-Api-Key header) is required"),
    ({"api_key": "cot_forged", "service_code": "S0101", "lat": "36.605", "long": "117.005"}, 403, "not valid"),
    ({"api_key": "{portal}", "service_code": "NOPE", "lat": "36.605", "long": "117.005"}, 404, "service_code"),
    ({"api_key": "{portal}", "service_code": "L01", "lat": "36.605", "long": "117.005"}, 404, "service_code"),
    ({"api_key": "{portal}", "service_code": "S0101"}, 400, "location is required"),
    ({"api_key": "{portal}", "service_code": "S0101", "lat": "36.605"}, 400, "together"),
    ({"api_key": "{portal}", "service_code": "S0101", "lat": "north", "long": "117.005"}, 400, "not a number"),
    ({"api_key": "{portal}", "service_code": "S0101", "lat": "30.0", "long": "120.0"}, 400, "outside"),
    ({"api_key": "{portal}", "service_code": "S0101", "address_id": "DP-404"}, 400, "address_id"),
    ({"api_key": "{portal}", "service_code": "S0101", "lat": "36.605", "long": "117.005",
      "attribute[severity]": "meh"}, 400, "severity"),
])
def test_bad_open311_requests_get_the_specs_error_and_write_nothing(o311, tokens, db, form, status, words):
    data = {k: v.format(**tokens) for k, v in form.items()}
    response = o311.post("/open311/v2/requests.json", data=data)
    assert response.status_code == status, response.get_data(as_text=True)
    [error] = response.get_json()
    assert error["code"] == status and words in error["description"]
    xml = o311.post("/open311/v2/requests.xml", data=data)
    assert xml.status_code == status and ET.fromstring(xml.data).find("error/code").text == str(status)
    with db.uow() as s:
        assert s.query(Incident).count() == 0


def test_an_open311_request_placed_by_doorplate_takes_its_address_and_point(o311, tokens, db):
    posted = o311.post("/open311/v2/requests.json", json={"api_key": tokens["portal"], "service_code": "B0110",
                                                          "address_id": "DP-9"})
    assert posted.status_code == 201, posted.get_data(as_text=True)
    [shown] = o311.get(f"/open311/v2/requests/{posted.get_json()[0]['service_request_id']}.json").get_json()
    assert (shown["address"], shown["long"], shown["lat"]) == ("示范路 9 号", G2_POINT[0], G2_POINT[1])
    assert o311.get("/open311/v2/requests/SJ-NOPE.json").status_code == 404
