"""Video AI and snapshots (issue 19 §4): the detection kinds as data (checked YAML, every kind mapped to a
category that exists), the minimum confidence, the debounce of repeated detections into one incident with all
snapshots, false detections and their figures; snapshots of a playing camera attached to an incident or an
emergency event, refused for an offline or unknown camera and a bad image."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import func, select

import api.cameras  # noqa: F401  (declares the camera, snapshot and detection routes)
from data.accounts import user_by_name
from data.catalog import CATEGORY_BY_CODE, load_catalog
from data.emergency_models import EventTimeline
from data.models import Attachment, AuditLog, Camera, Incident, VideoPlatform
from data.video_models import EventSnapshot, VideoDetection
from dispatch import emergency
from dispatch.video_ai.detections import record_detection
from dispatch.video_ai.kinds import KINDS_FILE, load_kinds, parse_kinds
from tests.unit import test_api_v1 as v1
from tests.unit.test_channels_api import uploads  # noqa: F401  (autouse: photos go to a temporary folder)
from tests.unit.test_dispatch_channels import jpeg
from tests.unit.test_dispatch_service import G2_POINT

app, tokens, call = v1.app, v1.tokens, v1.call
_error, _report = v1._error, v1._report

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


# --- the kinds file --------------------------------------------------------------------------------


def test_the_shipped_kinds_map_to_categories_that_exist():
    kinds = load_kinds()
    assert len(kinds) >= 15
    assert {"waterlogging", "construction_safety", "river_litter", "illegal_parking", "street_vending",
            "fire_smoke", "crowd_density"} <= set(kinds)
    missing = {code: kind.category for code, kind in kinds.items() if kind.category not in CATEGORY_BY_CODE}
    assert missing == {}
    assert all(0 < kind.min_confidence < 1 and kind.window_minutes >= 1 for kind in kinds.values())


@pytest.mark.parametrize(("change", "needle"), [
    (lambda k: k.append(dict(k[0])), "unique"),
    (lambda k: k[0].update(min_confidence=1.5), "min_confidence"),
    (lambda k: k[0].update(window_minutes=0), "window_minutes"),
    (lambda k: k[0].update(colour="red"), "colour"),
    (lambda k: k[0].update(code="Fire Smoke"), "code"),
])
def test_a_wrong_kinds_file_is_refused_naming_what_is_wrong(change, needle):
    document = yaml.safe_load(KINDS_FILE.read_text(encoding="utf-8"))
    change(document["kinds"])
    with pytest.raises(ValidationError) as refused:
        parse_kinds(yaml.safe_dump(document, allow_unicode=True))
    assert needle in str(refused.value)


# --- detections: threshold, debounce, false --------------------------------------------------------


@pytest.fixture
def cams(db, tokens):
    """Two online cameras at G2 running every algorithm (they list none), and the catalog."""
    with db.uow() as s:
        load_catalog(s)
        platform = VideoPlatform(code="VP", name="p")
        s.add(platform)
        s.flush()
        s.add_all([Camera(code=code, name=f"路口 {code}", platform_id=platform.id, type="dome", status="online",
                          lon=G2_POINT[0], lat=G2_POINT[1]) for code in ("CAM-1", "CAM-2")])
    return ("CAM-1", "CAM-2")


def _detect(db, camera="CAM-1", kind="illegal_parking", minutes=0, confidence=0.9, snapshot=True):
    with db.uow() as s:
        outcome = record_detection(s, camera_code=camera, kind=kind, confidence=confidence,
                                   detected_at=T0 + timedelta(minutes=minutes), snapshot=jpeg() if snapshot else None,
                                   actor=user_by_name(s, "op"))
        return outcome.outcome, outcome.incident.id if outcome.incident else None, outcome.detection.id


def test_repeats_within_the_window_become_one_incident_with_all_snapshots(db, cams):
    first = _detect(db)
    assert first[0] == "filed"
    assert _detect(db, minutes=4)[:2] == ("attached", first[1])
    assert _detect(db, minutes=9)[:2] == ("attached", first[1])  # the window follows the latest repeat
    assert _detect(db, minutes=18)[:2] == ("attached", first[1])
    later = _detect(db, minutes=40)  # 22 minutes after the last one: a new incident
    other_kind = _detect(db, kind="street_vending", minutes=41)
    other_camera = _detect(db, camera="CAM-2", minutes=41)
    assert len({first[1], later[1], other_kind[1], other_camera[1]}) == 4
    with db.uow() as s:
        snapshots = s.scalars(select(Attachment.kind).where(Attachment.incident_id == first[1])).all()
        assert snapshots == ["snapshot"] * 4
        incident = s.get(Incident, first[1])
        assert (incident.category_code, incident.source) == ("S0503", "video")
        assert s.scalar(select(func.count()).select_from(Incident)) == 4
        assert s.scalar(select(func.count()).select_from(AuditLog)
                        .where(AuditLog.action == "detection.attach")) == 3


def test_below_the_minimum_confidence_a_detection_is_recorded_but_files_nothing(db, cams):
    assert _detect(db, confidence=0.2)[:2] == ("below_threshold", None)
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 0
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
        assert s.scalar(select(VideoDetection.outcome)) == "below_threshold"
    assert _detect(db, confidence=0.7)[0] == "filed"  # at the threshold (illegal_parking: 0.7) it files


def test_a_closed_incident_is_not_joined(db, cams):
    first = _detect(db)
    with db.uow() as s:
        s.get(Incident, first[1]).state = "closed"
    assert _detect(db, minutes=2)[0] == "filed"


def test_false_detections_are_marked_once_and_counted(db, cams, call):
    filed = _detect(db)
    repeat = _detect(db, minutes=1)
    low = _detect(db, confidence=0.1, minutes=2)
    listed = call("GET", f"/api/v1/detections?incident={filed[1]}", "op").get_json()
    assert [(d["id"], d["outcome"], d["camera"]) for d in listed] == [(repeat[2], "attached", "CAM-1"),
                                                                     (filed[2], "filed", "CAM-1")]
    assert [d["id"] for d in call("GET", "/api/v1/detections?camera=CAM-1&kind=illegal_parking&limit=1",
                                  "boss").get_json()] == [low[2]]
    _error(call("GET", "/api/v1/detections?incident=x", "op"), 422)
    marked = call("POST", f"/api/v1/detections/{filed[2]}/false", "op", {"reason": "a parked bus"})
    assert marked.status_code == 200, marked.get_json()
    assert marked.get_json()["false_reason"] == "a parked bus" and marked.get_json()["camera"] == "CAM-1"
    _error(call("POST", f"/api/v1/detections/{filed[2]}/false", "op", {}), 409, "already_false")
    _error(call("POST", "/api/v1/detections/999999/false", "op", {}), 404, "detection_not_found")
    _error(call("POST", f"/api/v1/detections/{low[2]}/false", "w1", {}), 403)
    stats = call("GET", "/api/v1/detections/stats?from=2026-12-01&to=2026-12-31", "op").get_json()
    assert stats == [{"kind": "illegal_parking", "received": 3, "filed": 1, "attached": 1, "below_threshold": 1,
                      "false": 1, "false_rate": 0.5}]
    # a detection marked false no longer holds the window open: with the repeat at +1 min marked too, the
    # next detection files a new incident
    assert call("POST", f"/api/v1/detections/{repeat[2]}/false", "op", {}).status_code == 200
    fresh = _detect(db, minutes=3)
    assert fresh[0] == "filed" and fresh[1] != filed[1]
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "detection.false")) == 2


def test_the_detection_api_keeps_its_contract_and_refuses_unknown_kinds_and_cameras(db, cams, call):
    snapshot = base64.b64encode(jpeg()).decode()
    filed = call("POST", "/api/v1/detections", "op", {"camera": "CAM-1", "kind": "fire_smoke", "confidence": 0.8,
                                                      "snapshot": snapshot})
    assert filed.status_code == 201 and filed.get_json()["category"] == "S0406"
    again = call("POST", "/api/v1/detections", "op", {"camera": "CAM-1", "kind": "fire_smoke", "confidence": 0.9,
                                                     "snapshot": snapshot}).get_json()
    assert again["id"] == filed.get_json()["id"] and len(again["photos"]) == 2  # debounced, both snapshots
    assert (filed.get_json()["detection"]["outcome"], again["detection"]["outcome"]) == ("filed", "attached")
    low = call("POST", "/api/v1/detections", "op", {"camera": "CAM-1", "kind": "fire_smoke", "confidence": 0.1})
    assert low.status_code == 201 and low.get_json()["filed"] is False
    assert low.get_json()["detection"]["outcome"] == "below_threshold"
    # the id each answer gives is the detection's own: the platform marks it false by that id
    marked = call("POST", f"/api/v1/detections/{again['detection']['id']}/false", "op", {"reason": "steam"})
    assert marked.status_code == 200 and marked.get_json()["outcome"] == "attached"
    listed = call("GET", f"/api/v1/detections?incident={again['id']}", "op").get_json()
    assert {d["id"] for d in listed} == {filed.get_json()["detection"]["id"], again["detection"]["id"]}
    _error(call("POST", "/api/v1/detections", "op", {"camera": "CAM-1", "kind": "unicorn"}), 422)
    _error(call("POST", "/api/v1/detections", "op", {"camera": "NOPE", "kind": "fire_smoke"}), 422, "unknown_camera")
    kinds = call("GET", "/api/v1/detection-kinds", "op").get_json()
    assert {"code": "fire_smoke", "category": "S0406"}.items() <= next(
        k for k in kinds if k["code"] == "fire_smoke").items()


# --- snapshots -------------------------------------------------------------------------------------


def _image() -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg(320, 180)).decode()


def test_a_snapshot_is_attached_to_an_incident_as_a_photo(db, cams, call):
    incident = _report(call)
    made = call("POST", "/api/v1/cameras/CAM-1/snapshots", "op", {"incident": incident["code"], "image": _image()})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["target"] == "incident"
    photo = call("GET", made.get_json()["url"], "op")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    shown = call("GET", f"/api/v1/incidents/{incident['id']}", "op").get_json()
    assert [p["kind"] for p in shown["photos"]] == ["snapshot"]
    with db.uow() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "photo.snapshot")).one()
        assert audit.target == f"incident:{incident['code']}" and audit.detail["camera"] == "CAM-1"


def test_snapshots_of_offline_or_unknown_cameras_and_bad_images_are_refused(db, cams, call, uploads):  # noqa: F811
    incident = _report(call)
    with db.uow() as s:
        s.scalar(select(Camera).where(Camera.code == "CAM-2")).status = "offline"
    body = {"incident": incident["code"], "image": _image()}
    _error(call("POST", "/api/v1/cameras/CAM-2/snapshots", "op", body), 409, "camera_offline")
    _error(call("POST", "/api/v1/cameras/NOPE/snapshots", "op", body), 404, "camera_not_found")
    _error(call("POST", "/api/v1/cameras/CAM-1/snapshots", "op", {**body, "incident": "NO-SUCH"}), 404,
           "incident_not_found")
    _error(call("POST", "/api/v1/cameras/CAM-1/snapshots", "op",
                {**body, "image": base64.b64encode(b"GIF89a....").decode()}), 415, "photo_type")
    _error(call("POST", "/api/v1/cameras/CAM-1/snapshots", "op", {**body, "image": "@@@"}), 422, "invalid_field")
    _error(call("POST", "/api/v1/cameras/CAM-1/snapshots", "op", {**body, "event": 1}), 422)
    _error(call("POST", "/api/v1/cameras/CAM-1/snapshots", "op", {"image": _image()}), 422)
    _error(call("POST", "/api/v1/cameras/CAM-1/snapshots", "w1", body), 403)
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
    assert not uploads.exists() or not list(uploads.rglob("*.*"))


def test_a_snapshot_of_an_event_is_kept_and_noted_in_its_timeline(db, cams, call):
    with db.uow() as s:
        event = emergency.open_event(s, user_by_name(s, "op"), title="内涝", scenario="flood", lon=G2_POINT[0],
                                     lat=G2_POINT[1])
        event_id = event.id
    made = call("POST", "/api/v1/cameras/CAM-1/snapshots", "op", {"event": event_id, "image": _image()})
    assert made.status_code == 201, made.get_json()
    picture = call("GET", made.get_json()["url"], "boss")
    assert picture.status_code == 200 and picture.data.startswith(b"\xff\xd8\xff")
    with db.uow() as s:
        snapshot = s.get(EventSnapshot, made.get_json()["id"])
        entry = s.get(EventTimeline, snapshot.timeline_id)
        assert (entry.event_id, entry.kind, entry.data) == (event_id, "note", {"snapshot": snapshot.id,
                                                                               "camera": "CAM-1"})
        assert "CAM-1" in entry.note
        emergency.close_event(s, user_by_name(s, "op"), event_id, reason="退水")
    _error(call("POST", "/api/v1/cameras/CAM-1/snapshots", "op", {"event": event_id, "image": _image()}), 409,
           "event_closed")
    _error(call("POST", "/api/v1/cameras/CAM-1/snapshots", "op", {"event": 424242, "image": _image()}), 404,
           "event_not_found")
