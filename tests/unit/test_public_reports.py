"""The public side (issue 20, section 1): a citizen files a report without signing in and follows it by its
tracking code; the open side is guarded by rate limits, a single-use proof of work and photo checks, and
never shows personal data or internal notes."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from api.public import public_bp, public_routes
from data.models import Attachment, Doorplate, Grid, Incident, PublicChallenge, User, utcnow
from dispatch import citizen
from dispatch.kpi import kpi_snapshot
from dispatch.service import apply_action, caller_to_dict
from dispatch.workflow import Action
from settings import get_settings
from tests.unit import test_api_v1 as v1
from tests.unit.test_dispatch_channels import jpeg
from tests.unit.test_dispatch_service import G1_POINT

app, tokens, call = v1.app, v1.tokens, v1.call
BITS = 4
DESCRIPTION = "小区门口垃圾堆了三天没人清"


@pytest.fixture(autouse=True)
def _public_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("CITYOPS_PUBLIC_POW_BITS", str(BITS))
    monkeypatch.setenv("CITYOPS_PUBLIC_REPORTS_PER_HOUR_IP", "4")
    monkeypatch.setenv("CITYOPS_PUBLIC_REPORTS_PER_HOUR_PHONE", "2")
    monkeypatch.setenv("CITYOPS_UPLOADS_DIR", str(tmp_path / "uploads"))
    get_settings.cache_clear()


@pytest.fixture
def client(app: Flask, tokens):
    app.register_blueprint(public_bp)
    return app.test_client()


def _solved(client, ip: str = "198.51.100.7") -> dict[str, str]:
    challenge = client.get("/api/v1/public/challenge", environ_base={"REMOTE_ADDR": ip}).get_json()
    assert challenge["difficulty"] == BITS
    return {"challenge": challenge["nonce"], "counter": citizen.solve(challenge["nonce"], challenge["difficulty"])}


def _fields(**extra: str) -> dict[str, str]:
    return {"category": "rubbish", "description": DESCRIPTION, "lon": str(G1_POINT[0]), "lat": str(G1_POINT[1]),
            "name": "张建国", "phone": "13812345678", **extra}


def _post(client, fields: dict, *, photos=(), ip: str = "198.51.100.7", pow_: bool = True):
    data = {**fields, **(_solved(client, ip) if pow_ else {})}
    if photos:
        data["photo"] = [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]
    return client.post("/api/v1/public/reports", data=data, content_type="multipart/form-data",
                       environ_base={"REMOTE_ADDR": ip})


def _incidents(db) -> int:
    with db.uow() as s:
        return s.scalar(select(func.count(Incident.id)))


def test_a_citizen_report_is_routed_as_a_citizen_incident_and_followed_by_its_code(client, db):
    answer = _post(client, _fields(), photos=[jpeg(gps=True)])
    assert answer.status_code == 201, answer.get_data(as_text=True)
    code = answer.get_json()["tracking_code"]
    assert citizen.TRACKING_CODE.match(code)
    with db.uow() as s:
        incident = s.scalar(select(Incident).where(Incident.tracking_code == code))
        assert incident.source == "citizen" and incident.state == "reported"
        assert incident.grid.code == "G1" and incident.department.code == "roads"  # routed like any intake
        assert incident.category_code == "S0101" and incident.close_deadline is not None
        assert caller_to_dict(incident, "worker") == {"name": "张**", "phone": "138****5678"}
        photo = s.scalar(select(Attachment).where(Attachment.incident_id == incident.id))
        assert photo is not None and photo.uploaded_by is None
    shown = client.get(f"/api/v1/public/reports/{code}").get_json()
    assert shown == {"tracking_code": code, "status": "received", "category": "rubbish",
                     "category_name": {"zh": "暴露垃圾", "en": "Exposed litter"},
                     "reported_at": shown["reported_at"], "closed_at": None, "reply": None}


def test_the_public_view_never_shows_personal_data_or_internal_notes(client, db):
    code = _post(client, _fields()).get_json()["tracking_code"]
    with db.uow() as s:
        incident = s.scalar(select(Incident).where(Incident.tracking_code == code))
        admin = s.scalar(select(User).where(User.username == "admin"))
        incident = apply_action(s, incident.id, Action.FILE, version=incident.version, actor=admin,
                                note="内部备注：住户13900001111投诉多次")
        incident.public_reply = "已安排环卫清运"
    for path in (f"/api/v1/public/reports/{code}", f"/report/{code}"):
        body = client.get(path).get_data(as_text=True)
        for private in ("张建国", "13812345678", "5678", DESCRIPTION, "内部备注", "13900001111", str(G1_POINT[0])):
            assert private not in body, (path, private)
    shown = client.get(f"/api/v1/public/reports/{code}").get_json()
    assert shown["status"] == "accepted" and shown["reply"] == "已安排环卫清运"


def test_an_unknown_or_malformed_code_is_a_404_that_reveals_nothing(client):
    bodies = set()
    for code in ("ABCDEFGHJK", "nope", "'; DROP TABLE incidents;--"):
        answer = client.get(f"/api/v1/public/reports/{code}")
        assert answer.status_code == 404
        bodies.add(answer.get_data(as_text=True))
    assert len(bodies) == 1
    assert client.get("/report/ABCDEFGHJK").status_code == 404


def test_no_location_and_no_doorplate_is_a_422_and_stores_nothing(client, db):
    answer = _post(client, _fields(lon="", lat=""))
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "location_required"
    assert _incidents(db) == 0


def test_a_doorplate_places_the_report(client, db):
    with db.uow() as s:
        s.add(Doorplate(code="DP-7", address="幸福路8号", lon=G1_POINT[0], lat=G1_POINT[1]))
    answer = _post(client, _fields(lon="", lat="", doorplate="DP-7"))
    assert answer.status_code == 201
    with db.uow() as s:
        incident = s.scalar(select(Incident))
        assert (incident.address, incident.grid.code) == ("幸福路8号", "G1")
    unknown = _post(client, _fields(lon="", lat="", doorplate="NO-SUCH"))
    assert unknown.status_code == 422 and unknown.get_json()["error"]["code"] == "unknown_doorplate"
    assert _incidents(db) == 1


@pytest.mark.parametrize(("photo", "status", "code"), [
    (b"MZ\x90\x00 not an image at all", 422, "photo_type"),
    (b"\xff\xd8\xff\xe0 truncated jpeg", 422, "photo_corrupt"),
    (b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024), 413, "photo_too_large"),
])
def test_a_bad_photo_is_refused_and_nothing_is_stored(client, db, photo, status, code):
    answer = _post(client, _fields(), photos=[photo])
    assert answer.status_code == status and answer.get_json()["error"]["code"] == code
    assert _incidents(db) == 0


def test_more_than_three_photos_are_refused(client, db):
    answer = _post(client, _fields(), photos=[jpeg()] * 4)
    assert answer.status_code == 422 and _incidents(db) == 0


def test_flooding_from_one_address_gets_429_with_retry_after(client, db):
    statuses = [_post(client, _fields(phone=f"1390000000{i}")).status_code for i in range(6)]
    assert statuses == [201, 201, 201, 201, 429, 429]
    refused = _post(client, _fields(phone="13900000009"))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert _post(client, _fields(phone="13900000009"), ip="203.0.113.9").status_code == 201  # another address
    assert _incidents(db) == 5


def test_flooding_with_one_phone_gets_429_from_any_address(client):
    statuses = [_post(client, _fields(), ip=f"203.0.113.{i}").status_code for i in range(3)]
    assert statuses == [201, 201, 429]


def test_challenges_and_lookups_per_address_follow_their_settings(client, monkeypatch):
    monkeypatch.setenv("CITYOPS_PUBLIC_CHALLENGES_PER_HOUR_IP", "2")
    monkeypatch.setenv("CITYOPS_PUBLIC_LOOKUPS_PER_HOUR_IP", "3")
    get_settings.cache_clear()
    ip = {"REMOTE_ADDR": "198.51.100.44"}
    challenges = [client.get("/api/v1/public/challenge", environ_base=ip).status_code for _ in range(3)]
    lookups = [client.get("/api/v1/public/reports/0000000000", environ_base=ip).status_code for _ in range(4)]
    assert (challenges, lookups) == ([200, 200, 429], [404, 404, 404, 429])
    other = {"REMOTE_ADDR": "203.0.113.44"}  # another address has its own buckets
    assert client.get("/api/v1/public/challenge", environ_base=other).status_code == 200


def test_the_bucket_refills_over_the_hour(db):
    now = utcnow()
    with db.uow() as s:
        assert [citizen.take_token(s, "k", 2, now) for _ in range(2)] == [None, None]
        wait = citizen.take_token(s, "k", 2, now)
        assert wait == 1800  # one token back in half an hour
        assert citizen.take_token(s, "k", 2, now + timedelta(minutes=31)) is None


def test_a_report_needs_a_solved_single_use_challenge(client, db):
    missing = _post(client, _fields(), pow_=False)
    assert missing.status_code == 422 and missing.get_json()["error"]["code"] == "pow_required"
    solved = _solved(client)
    wrong = next(str(c) for c in range(1000) if not citizen.solves(solved["challenge"], str(c), BITS))
    bad = client.post("/api/v1/public/reports", data={**_fields(), "challenge": solved["challenge"],
                                                      "counter": wrong})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "pow_invalid"
    # the failed try spent the challenge: even the right counter no longer works
    again = client.post("/api/v1/public/reports", data={**_fields(), **solved})
    assert again.status_code == 422 and again.get_json()["error"]["code"] == "pow_invalid"
    fresh = _solved(client)
    assert client.post("/api/v1/public/reports", data={**_fields(), **fresh}).status_code == 201
    reused = client.post("/api/v1/public/reports", data={**_fields(), **fresh})
    assert reused.status_code == 422 and reused.get_json()["error"]["code"] == "pow_invalid"
    assert _incidents(db) == 1


def test_an_expired_challenge_is_refused(client, db):
    solved = _solved(client)
    with db.uow() as s:
        s.get(PublicChallenge, solved["challenge"]).expires_at = utcnow() - timedelta(seconds=1)
    answer = client.post("/api/v1/public/reports", data={**_fields(), **solved})
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "pow_invalid"


def test_the_public_side_refuses_credentials(client, tokens):
    answer = client.get("/api/v1/public/categories", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "credentials_refused"


def test_json_reports_and_the_category_list(client):
    categories = client.get("/api/v1/public/categories").get_json()
    assert categories == [{"code": "rubbish", "name": {"zh": "垃圾乱堆", "en": "Rubbish"}}]  # make_city has S0101
    answer = client.post("/api/v1/public/reports", data=json.dumps({**_fields(), **_solved(client)}),
                         content_type="application/json")
    assert answer.status_code == 201
    unknown = client.post("/api/v1/public/reports", json={**_fields(category="road_damage"), **_solved(client)})
    assert unknown.status_code == 422 and unknown.get_json()["error"]["code"] == "unknown_category"


def test_by_source_counts_citizen_reports(client, db):
    assert _post(client, _fields()).status_code == 201
    with db.uow() as s:
        now = utcnow()
        figures = kpi_snapshot(s, now - timedelta(days=1), now + timedelta(minutes=1))
    assert figures["by_source"]["citizen"] == 1


def test_the_report_page_is_public_and_prefills_the_doorplate(client):
    page = client.get("/report?doorplate=DP-7&lang=en")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'value="DP-7"' in body and "Report a problem" in body and "/report/static/report.js" in body
    assert client.get("/report").get_data(as_text=True).count("随手拍") >= 1
    assert client.get("/report/static/report.js").status_code == 200
    assert client.get("/report?code=abcdefghjk").headers["Location"].startswith("/report/ABCDEFGHJK")


def test_every_public_route_is_listed_with_a_reason(client):
    server = client.application
    rules = {r.rule for r in server.url_map.iter_rules() if r.endpoint.startswith("public.")}
    assert rules == set(public_routes())


def test_the_doorplate_qr_sheet_links_each_doorplate_to_the_report_page(db, tokens):
    from reports.doorplate_qr import community_doorplates, qr_sheet_html, qr_sheet_pdf, report_url

    with db.uow() as s:
        g1 = s.scalar(select(Grid).where(Grid.code == "G1"))
        s.add(Doorplate(code="DP-7", address="幸福路8号", lon=G1_POINT[0], lat=G1_POINT[1], grid_id=g1.id))
    with db.uow() as s:
        area, plates = community_doorplates(s, "D1S1C1")
        assert [p.code for p in plates] == ["DP-7"]
        html = qr_sheet_html(area, plates, "https://report.city.example/")
        assert "DP-7" in html and html.count("<svg") == 1
        assert report_url("https://report.city.example/", "DP 7") == "https://report.city.example/report?doorplate=DP%207"
        pdf, count = qr_sheet_pdf(s, "D1S1C1", "https://report.city.example")
        assert pdf.startswith(b"%PDF") and count == 1


def test_a_signed_in_browser_may_open_the_page_but_its_session_is_refused_by_the_api(client):
    with client.session_transaction() as browser_session:
        browser_session["_user_id"] = "1"
    assert client.get("/report").status_code == 200
    refused = client.get("/api/v1/public/challenge")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "credentials_refused"
