"""The audit walk (issue 15): every write route of the API (POST/PUT/PATCH/DELETE under /api/v1 and
/open311, read from the Flask url_map) and every write callback of the pages is performed once by a user
allowed to do it, and each must leave its own audit row — who (the user), what (the action) and on what
(the target). A write route or write callback the walk does not know fails the test: a new write path
must be added here, with the audit row its service writes."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import pytest
import yaml
from dash._callback_context import context_value
from dash._utils import AttributeDict
from flask import Flask
from flask import session as flask_session
from flask_login import login_user
from sqlalchemy import func, select

from alerts.rules_loader import sync_rule_files
from api.auth import AuthUser
from data.accounts import issue_open311_key, issue_token
from data.catalog import load_catalog
from data.db import Database
from data.models import (
    Alert,
    AuditLog,
    Camera,
    Doorplate,
    Incident,
    Resource,
    Rule,
    Sensor,
    User,
    VideoPlatform,
    utcnow,
)
from dispatch import duty, emergency_plans
from dispatch.hotline import HotlineCall, take_call
from dispatch.service import apply_action, create_incident
from layouts import ids
from settings import Settings, get_settings
from tests.unit.test_dispatch_channels import jpeg
from tests.unit.test_dispatch_service import G1_POINT, G2_POINT, make_city
from tests.unit.test_rules_schema import CONTRACT_EXAMPLE as RULE

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WRITE_PREFIXES = ("/api/v1", "/open311")
USERS = ("admin", "op", "boss", "gasman", "w1", "w2")


# --- the city and the app -------------------------------------------------------------------------


@dataclass
class Walk:
    """The app on a small SQLite city, its users' ids and tokens, and the steps' helpers."""

    db: Database
    server: Flask
    dash_app: dash.Dash
    ids: dict[str, int]
    tokens: dict[str, str]

    def request(self, method: str, path: str, user: str | None, body: Any = None, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {self.tokens[user]}"} if user else {})}
        if body is not None:
            kwargs["json"] = body
        response = self.server.test_client().open(path, method=method, headers=headers, **kwargs)
        assert response.status_code < 400, (method, path, response.status_code, response.get_data(as_text=True))
        return response

    def last_audit_id(self) -> int:
        with self.db.uow() as s:
            return s.scalar(select(func.max(AuditLog.id))) or 0

    def audit_rows_after(self, last: int) -> list[tuple[int | None, str, str]]:
        with self.db.uow() as s:
            return [(r.user_id, r.action, r.target) for r in
                    s.scalars(select(AuditLog).where(AuditLog.id > last).order_by(AuditLog.id))]

    @contextmanager
    def expect_audit(self, user: str | None, action: str, target: str) -> Iterator[None]:
        """The block must write an audit row by ``user`` (None: nobody signed in) of ``action`` (a prefix when
        it ends with a dot, e.g. ``event.``) whose target starts with ``target``."""
        last = self.last_audit_id()
        yield
        rows = self.audit_rows_after(last)
        who = self.ids[user] if user else None

        def named(row_action: str) -> bool:
            return row_action.startswith(action) if action.endswith(".") else row_action == action

        assert any(r[0] == who and named(r[1]) and r[2].startswith(target) for r in rows), (
            f"expected an audit row ({user}, {action}, {target}…), got {rows}")

    def audited(self, method: str, path: str, user: str | None, action: str, target: str, body: Any = None,
                **kwargs: Any) -> Any:
        with self.expect_audit(user, action, target):
            return self.request(method, path, user, body, **kwargs)

    # prerequisites, written through the services (their audit rows come before a step's own)

    def incident(self, category: str = "L01", point: tuple[float, float] = G1_POINT, *, to: str = "reported",
                 source: str = "operator") -> tuple[int, int, str]:
        """A new incident (id, version, code), taken as far as ``to`` (filed, dispatched or started)."""
        with self.db.uow() as s:
            users = {u.username: u for u in s.scalars(select(User))}
            incident = create_incident(s, category_code=category, source=source, title="walk", lon=point[0],
                                       lat=point[1], actor=users["op"], check_duplicates=False)
            path = ("file", "dispatch", "start")
            for action in path[: {"reported": 0, "filed": 1, "dispatched": 2, "started": 3}[to]]:
                incident = apply_action(s, incident.id, action, version=incident.version,
                                        actor=users["admin"])
            return incident.id, incident.version, incident.code

    def hotline_order(self, *, closed: bool) -> str:
        """A transferred hotline order (closed: its follow-up call pending)."""
        with self.db.uow() as s:
            users = {u.username: u for u in s.scalars(select(User))}
            incident = take_call(s, HotlineCall(caller="钱", phone="13512345678", content="垃圾", category="S0101",
                                                doorplate="DP-1"), actor=users["op"])
            if closed:
                for action in ("start", "resolve", "close"):
                    incident = apply_action(s, incident.id, action, version=incident.version, actor=users["admin"])
            return incident.code

    def alert(self, *, fired: bool = True) -> int:
        """A firing alert of the gas sensor."""
        now = utcnow()
        with self.db.uow() as s:
            alert = Alert(rule_id=RULE["id"], sensor_id="GAS-1", state="firing" if fired else "pending", level="red",
                          value=9.0, started_at=now - timedelta(minutes=5), fired_at=now if fired else None)
            s.add(alert)
            s.flush()
            return alert.id


@pytest.fixture(scope="module")
def walk(tmp_path_factory) -> Iterator[Walk]:
    from app import create_app

    folder = tmp_path_factory.mktemp("walk")
    db = Database(f"sqlite:///{folder / 'walk.db'}")
    db.migrate()
    with db.uow() as s:
        city = make_city(s)
        load_catalog(s)
        users = {u.username: u for u in (city.admin, city.operator, city.leader, city.gas_handler, city.worker1,
                                          city.worker2, city.roads_handler)}
        tokens = {name: issue_token(s, user) for name, user in users.items()}
        ids = {name: user.id for name, user in users.items()}
        s.add(Doorplate(code="DP-1", address="和平路 1 号", lon=G1_POINT[0], lat=G1_POINT[1]))
        s.add(Sensor(id="GAS-1", kind="gas_pressure", family="gas", name="gas 1", unit="kPa", lon=G1_POINT[0],
                     lat=G1_POINT[1], grid_id=city.g1.id))
        s.add(Rule(id=RULE["id"], body=dict(RULE), enabled=True, source="api"))
        platform = VideoPlatform(code="VP", name="p")
        s.add(platform)
        s.flush()
        s.add(Camera(code="CAM-7", name="河道 7", platform_id=platform.id, type="dome", algorithms=["river_litter"],
                     lon=G2_POINT[0], lat=G2_POINT[1]))
        sync_rule_files(s)
        emergency_plans.sync_plan_files(s)
        s.add_all(Resource(code=f"R-PUMP-{i}", name=f"排涝抢险{i}队", kind="rescue_team", capacity=10,
                           status="available", lon=G1_POINT[0], lat=G1_POINT[1]) for i in (1, 2))
    settings = Settings(database_url=str(db.url), secret_key="walk" * 8, demo=False,
                        uploads_dir=str(folder / "uploads"), reports_dir=str(folder / "reports"))
    server, dash_app = create_app(settings, db)
    server.testing = True
    server.test_client().get("/healthz")  # Dash fills its callback map on the first request
    yield Walk(db, server, dash_app, ids, tokens)
    db.dispose()


@pytest.fixture(autouse=True)
def _walk_settings(monkeypatch, tmp_path) -> Iterator[None]:
    monkeypatch.setenv("CITYOPS_UPLOADS_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("CITYOPS_PUBLIC_POW_BITS", "2")
    monkeypatch.setenv("CITYOPS_CHANNEL_KEY", "walk-channel-key")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --- the API's write routes -----------------------------------------------------------------------


def _incident_actions(w: Walk) -> None:
    incident_id, version, code = w.incident()
    w.audited("POST", f"/api/v1/incidents/{incident_id}/actions", "op", "incident.file", f"incident:{code}",
              {"action": "file", "version": version})


def _post_incident(w: Walk) -> None:
    with w.expect_audit("op", "incident.create", "incident:"):
        w.request("POST", "/api/v1/incidents", "op",
                  {"category": "L01", "title": "gas smell", "lon": G1_POINT[0], "lat": G1_POINT[1]})


def _photo(w: Walk) -> None:
    incident_id, _, code = w.incident(to="started")
    w.audited("POST", f"/api/v1/incidents/{incident_id}/photos", "w1", "photo.upload", f"incident:{code}",
              data={"photo": (io.BytesIO(jpeg()), "x.jpg")}, content_type="multipart/form-data")


def _public_description(w: Walk) -> None:
    incident_id, _, code = w.incident(to="filed")
    w.audited("PUT", f"/api/v1/incidents/{incident_id}/public-description", "op", "incident.publish",
              f"incident:{code}", {"public_description": "路面修复中"})


def _rating(w: Walk) -> None:
    code = w.hotline_order(closed=True)
    with w.db.uow() as s:
        incident_id = s.scalar(select(Incident.id).where(Incident.code == code))
    w.audited("POST", f"/api/v1/incidents/{incident_id}/rating", "op", "incident.followup", f"incident:{code}",
              {"satisfaction": "satisfied"})


def _detection(w: Walk) -> None:
    w.audited("POST", "/api/v1/detections", "op", "incident.create", "incident:",
              {"camera": "CAM-7", "kind": "river_litter", "confidence": 0.9,
               "snapshot": base64.b64encode(jpeg()).decode()})


def _camera_snapshot(w: Walk) -> None:
    _, _, code = w.incident()
    w.audited("POST", "/api/v1/cameras/CAM-7/snapshots", "op", "photo.snapshot", f"incident:{code}",
              {"incident": code, "image": base64.b64encode(jpeg()).decode()})


def _false_detection(w: Walk) -> None:
    from data.video_models import VideoDetection

    w.request("POST", "/api/v1/detections", "op", {"camera": "CAM-7", "kind": "river_litter", "confidence": 0.1})
    with w.db.uow() as s:
        detection_id = s.scalar(select(func.max(VideoDetection.id)))
    w.audited("POST", f"/api/v1/detections/{detection_id}/false", "op", "detection.false",
              f"detection:{detection_id}", {"reason": "walk"})


def _notifications_read(w: Walk) -> None:
    incident_id, version, _ = w.incident(to="filed")
    w.request("POST", f"/api/v1/incidents/{incident_id}/actions", "boss",
              {"action": "escalate", "version": version, "note": "快"})
    w.audited("POST", "/api/v1/notifications/read", "gasman", "notifications.read", "user:", {})


def _followup(w: Walk) -> None:
    code = w.hotline_order(closed=True)
    w.audited("POST", f"/api/v1/followups/{code}", "op", "incident.followup", f"incident:{code}",
              {"reached": True, "satisfaction": "satisfied"})


def _reply(w: Walk) -> None:
    code = w.hotline_order(closed=True)
    w.audited("POST", f"/api/v1/hotline/replies/{code}", "op", "incident.reply", f"incident:{code}", {"text": "已清运"})


def _chase(w: Walk) -> None:
    code = w.hotline_order(closed=False)
    w.audited("POST", f"/api/v1/hotline/chases/{code}", "op", "incident.chase", f"incident:{code}", {"note": "快"})


def _ack(w: Walk) -> None:
    alert_id = w.alert()
    w.audited("POST", f"/api/v1/alerts/{alert_id}/ack", "op", "alert.ack", f"alert:{alert_id}")


def _triage(w: Walk) -> None:
    alert_id = w.alert()
    w.audited("POST", f"/api/v1/alerts/{alert_id}/incident", "op", "alert.triage", f"alert:{alert_id}",
              {"category": "L01"})


def _review(w: Walk) -> None:
    alert_id = w.alert()
    w.audited("POST", f"/api/v1/alerts/{alert_id}/review", "op", "alert.review", f"alert:{alert_id}",
              {"verdict": "confirmed"})


def _post_silence(w: Walk) -> None:
    w.audited("POST", "/api/v1/silences", "op", "silence.create", "silence:",
              {"kind": "silence", "sensor_id": "GAS-1", "minutes": 30, "reason": "walk"})


def _delete_silence(w: Walk) -> None:
    made = w.request("POST", "/api/v1/silences", "op", {"kind": "silence", "sensor_id": "GAS-1", "minutes": 30,
                                                        "reason": "walk"}).get_json()
    w.audited("DELETE", f"/api/v1/silences/{made['id']}", "op", "silence.end", f"silence:{made['id']}")


def _readings(w: Walk) -> None:
    w.audited("POST", "/api/v1/readings", "op", "readings.ingest", "readings",
              {"readings": [{"sensor_id": "GAS-1", "ts": datetime.now(UTC).isoformat(), "value": 1.0}]})


def _evaluate(w: Walk) -> None:
    w.audited("POST", "/api/v1/evaluate", "admin", "alerts.evaluate", "rules")


def _rule_doc(rule_id: str) -> dict[str, Any]:
    return {"rule": {**RULE, "id": rule_id}, "enabled": True}


def _post_rule(w: Walk) -> None:
    w.audited("POST", "/api/v1/rules", "admin", "rule.create", "rule:walk-new", _rule_doc("walk-new"))


def _put_rule(w: Walk) -> None:
    w.audited("PUT", f"/api/v1/rules/{RULE['id']}", "admin", "rule.update", f"rule:{RULE['id']}", _rule_doc(RULE["id"]))


def _delete_rule(w: Walk) -> None:
    w.request("POST", "/api/v1/rules", "admin", _rule_doc("walk-gone"))
    w.audited("DELETE", "/api/v1/rules/walk-gone", "admin", "rule.delete", "rule:walk-gone")


def _post_sensor(w: Walk) -> None:
    w.audited("POST", "/api/v1/sensors", "admin", "sensor.create", "sensor:WALK-1",
              {"id": "WALK-1", "kind": "gas_pressure", "family": "gas", "name": "walk", "unit": "kPa",
               "lon": G1_POINT[0], "lat": G1_POINT[1]})


def _category_body(code: str) -> dict[str, Any]:
    return {"code": code, "name": {"zh": "测试", "en": "Test"}, "kind": "event", "department": "roads",
            "handle_hours": 8, "close_hours": 24}


def _post_category(w: Walk) -> None:
    w.audited("POST", "/api/v1/categories", "admin", "category.create", "category:S0198", _category_body("S0198"))


def _put_category(w: Walk) -> None:
    w.audited("PUT", "/api/v1/categories/S0101", "admin", "category.edit", "category:S0101", _category_body("S0101"))


def _post_channel(w: Walk) -> None:
    w.audited("POST", "/api/v1/channels", "admin", "channel.create", "channel:",
              {"url": "json://127.0.0.1:9/walk", "name": "walk", "department": "gas"})


def _delete_channel(w: Walk) -> None:
    made = w.request("POST", "/api/v1/channels", "admin", {"url": "json://127.0.0.1:9/gone", "name": "gone",
                                                           "department": "gas"}).get_json()
    w.audited("DELETE", f"/api/v1/channels/{made['id']}", "admin", "channel.", f"channel:{made['id']}")


def _slot_entry(username: str, post: str, later: int = 0) -> dict[str, str]:
    slot = duty.slot_at(datetime.now(UTC) + timedelta(days=30 + later))
    return {"date": slot.day.isoformat(), "shift": slot.shift.code, "post": post, "username": username}


def _post_rota(w: Walk) -> None:
    w.audited("POST", "/api/v1/duty/rota", "admin", "duty.rota.add", "duty_rota:", _slot_entry("op", "duty_officer"))


def _delete_rota(w: Walk) -> None:
    made = w.request("POST", "/api/v1/duty/rota", "admin", _slot_entry("admin", "shift_lead", 1)).get_json()
    w.audited("DELETE", f"/api/v1/duty/rota/{made['id']}", "admin", "duty.rota.remove", f"duty_rota:{made['id']}")


def _duty_log(w: Walk) -> None:
    w.audited("POST", "/api/v1/duty/log", "op", "duty.log.add", "duty_log:", {"kind": "event", "text": "walk"})


def _handover(w: Walk) -> None:
    w.audited("POST", "/api/v1/duty/handover", "op", "duty.handover", "duty_handover:", {"note": "all quiet"})


def _handover_ack(w: Walk) -> None:
    listed = w.request("GET", "/api/v1/duty/handover", "boss").get_json()  # one handover a shift
    made = listed[0] if listed else w.request("POST", "/api/v1/duty/handover", "op", {"note": "quiet"}).get_json()
    w.audited("POST", f"/api/v1/duty/handover/{made['id']}/ack", "admin", "duty.handover.ack",
              f"duty_handover:{made['id']}")


def _patrol_plan(w: Walk) -> None:
    w.audited("POST", "/api/v1/patrol-plans", "op", "patrol_plan.save", "patrol_plan:",
              {"name": "walk", "cameras": ["CAM-7"], "dwell_s": 10})


def _delete_token(w: Walk) -> None:
    with w.db.uow() as s:
        issue_token(s, s.get(User, w.ids["op"]))
    listed = w.request("GET", "/api/v1/tokens", "op").get_json()
    token_id = max(t["id"] for t in listed)
    w.audited("DELETE", f"/api/v1/tokens/{token_id}", "op", "token.revoke", f"token:{token_id}")


def _public_report(w: Walk) -> None:
    from dispatch import citizen

    client = w.server.test_client()
    challenge = client.get("/api/v1/public/challenge").get_json()
    data = {"category": "rubbish", "description": "小区门口垃圾", "lon": str(G1_POINT[0]), "lat": str(G1_POINT[1]),
            "name": "张", "phone": "13812345678", "challenge": challenge["nonce"],
            "counter": citizen.solve(challenge["nonce"], challenge["difficulty"])}
    with w.expect_audit(None, "citizen.report", "incident:"):
        response = client.post("/api/v1/public/reports", data=data, content_type="multipart/form-data")
        assert response.status_code == 201, response.get_data(as_text=True)


def _open311(w: Walk) -> None:
    with w.db.uow() as s:
        key = issue_open311_key(s, "walk-client")
    with w.expect_audit(None, "open311.request", "incident:"):
        w.request("POST", "/open311/v2/requests.json", None, headers={"X-Api-Key": key},
                  data={"service_code": "S0101", "lat": str(G1_POINT[1]), "long": str(G1_POINT[0]),
                        "description": "垃圾"})


def _plan_doc() -> dict[str, Any]:
    return yaml.safe_load((emergency_plans.PLANS_FOLDER / "gas_leak.yaml").read_text(encoding="utf-8"))


def _post_plan(w: Walk) -> None:
    doc = _plan_doc()
    doc["levels"][0]["tasks"][0]["deadline_hours"] = 1  # a changed plan: a new version
    w.audited("POST", "/api/v1/plans", "admin", "plan.save", "plan:gas_leak", doc)


def _event(w: Walk, *, activate: bool = False) -> dict[str, Any]:
    event = w.request("POST", "/api/v1/events", "op", {"title": "燃气泄漏", "scenario": "gas_leak",
                                                       "lon": G1_POINT[0], "lat": G1_POINT[1]}).get_json()
    if activate:
        event = w.request("POST", f"/api/v1/events/{event['id']}/level", "op",
                          {"plan_id": "gas_leak", "level": "IV", "reason": "walk"}).get_json()
    return event


def _event_step(path: str, body: dict[str, Any] | None = None, *, activate: bool = False
                ) -> Callable[[Walk], None]:
    def step(w: Walk) -> None:
        event = _event(w, activate=activate)
        w.audited("POST", f"/api/v1/events/{event['id']}{path}", "op", "event.", f"event:{event['code']}", body)
    return step


def _post_event(w: Walk) -> None:
    w.audited("POST", "/api/v1/events", "op", "event.", "event:", {"title": "燃气泄漏", "scenario": "gas_leak",
                                                                  "lon": G1_POINT[0], "lat": G1_POINT[1]})


def _event_link(w: Walk) -> None:
    incident_id, _, _ = w.incident()
    _event_step("/links", {"incident_id": incident_id})(w)


def _assign(w: Walk, event: dict[str, Any]) -> dict[str, Any]:
    busy = {a.get("resource") for a in event.get("assignments", []) or []}
    free = next(code for code in ("R-PUMP-1", "R-PUMP-2") if code not in busy)
    return w.request("POST", f"/api/v1/events/{event['id']}/resources", "op",
                     {"resource": free, "task_id": event["tasks"][0]["id"]}).get_json()


def _event_resource(w: Walk) -> None:
    event = _event(w, activate=True)
    with w.expect_audit("op", "event.", f"event:{event['code']}"):
        assignment = _assign(w, event)
    w.request("POST", f"/api/v1/events/{event['id']}/resources/{assignment['id']}/release", "op")


def _event_release(w: Walk) -> None:
    event = _event(w, activate=True)
    assignment = _assign(w, event)
    w.audited("POST", f"/api/v1/events/{event['id']}/resources/{assignment['id']}/release", "op", "event.",
              f"event:{event['code']}")


#: Each write route of the API (method, Flask rule) → the step that performs it once and checks its row.
API_WALK: dict[tuple[str, str], Callable[[Walk], None]] = {
    ("POST", "/api/v1/incidents"): _post_incident,
    ("POST", "/api/v1/incidents/<int:incident_id>/actions"): _incident_actions,
    ("POST", "/api/v1/incidents/<int:incident_id>/photos"): _photo,
    ("PUT", "/api/v1/incidents/<int:incident_id>/public-description"): _public_description,
    ("POST", "/api/v1/incidents/<int:incident_id>/rating"): _rating,
    ("POST", "/api/v1/detections"): _detection,
    ("POST", "/api/v1/cameras/<code>/snapshots"): _camera_snapshot,
    ("POST", "/api/v1/detections/<int:detection_id>/false"): _false_detection,
    ("POST", "/api/v1/notifications/read"): _notifications_read,
    ("POST", "/api/v1/followups/<code>"): _followup,
    ("POST", "/api/v1/hotline/replies/<code>"): _reply,
    ("POST", "/api/v1/hotline/chases/<code>"): _chase,
    ("POST", "/api/v1/alerts/<int:alert_id>/ack"): _ack,
    ("POST", "/api/v1/alerts/<int:alert_id>/incident"): _triage,
    ("POST", "/api/v1/alerts/<int:alert_id>/review"): _review,
    ("POST", "/api/v1/silences"): _post_silence,
    ("DELETE", "/api/v1/silences/<int:silence_id>"): _delete_silence,
    ("POST", "/api/v1/readings"): _readings,
    ("POST", "/api/v1/evaluate"): _evaluate,
    ("POST", "/api/v1/rules"): _post_rule,
    ("PUT", "/api/v1/rules/<rule_id>"): _put_rule,
    ("DELETE", "/api/v1/rules/<rule_id>"): _delete_rule,
    ("POST", "/api/v1/sensors"): _post_sensor,
    ("POST", "/api/v1/categories"): _post_category,
    ("PUT", "/api/v1/categories/<code>"): _put_category,
    ("POST", "/api/v1/channels"): _post_channel,
    ("DELETE", "/api/v1/channels/<int:channel_id>"): _delete_channel,
    ("POST", "/api/v1/duty/rota"): _post_rota,
    ("DELETE", "/api/v1/duty/rota/<int:entry_id>"): _delete_rota,
    ("POST", "/api/v1/duty/log"): _duty_log,
    ("POST", "/api/v1/duty/handover"): _handover,
    ("POST", "/api/v1/duty/handover/<int:handover_id>/ack"): _handover_ack,
    ("POST", "/api/v1/patrol-plans"): _patrol_plan,
    ("DELETE", "/api/v1/tokens/<int:token_id>"): _delete_token,
    ("POST", "/api/v1/public/reports"): _public_report,
    ("POST", "/open311/v2/requests.<fmt>"): _open311,
    ("POST", "/api/v1/plans"): _post_plan,
    ("POST", "/api/v1/events"): _post_event,
    ("POST", "/api/v1/events/<int:event_id>/level"): _event_step(
        "/level", {"plan_id": "gas_leak", "level": "IV", "reason": "walk"}),
    ("POST", "/api/v1/events/<int:event_id>/notes"): _event_step("/notes", {"note": "walk"}),
    ("POST", "/api/v1/events/<int:event_id>/controlled"): _event_step("/controlled", {"note": "walk"},
                                                                       activate=True),
    ("POST", "/api/v1/events/<int:event_id>/close"): _event_step("/close", {"reason": "walk"}, activate=True),
    ("POST", "/api/v1/events/<int:event_id>/links"): _event_link,
    ("POST", "/api/v1/events/<int:event_id>/resources"): _event_resource,
    ("POST", "/api/v1/events/<int:event_id>/resources/<int:assignment_id>/release"): _event_release,
}


def _write_routes(server: Flask) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in server.url_map.iter_rules() if rule.rule.startswith(WRITE_PREFIXES)
            for method in (rule.methods or set()) & WRITE_METHODS}


def test_the_walk_covers_every_write_route_of_the_api(walk):
    routes = _write_routes(walk.server)
    missing = sorted(routes - set(API_WALK))
    assert not missing, f"write routes the audit walk does not perform (add a step): {missing}"
    gone = sorted(set(API_WALK) - routes)
    assert not gone, f"steps for routes that no longer exist: {gone}"


@pytest.mark.parametrize("route", sorted(API_WALK), ids=lambda r: f"{r[0]} {r[1]}")
def test_every_write_route_writes_its_audit_row(walk, route):
    API_WALK[route](walk)


# --- the pages' write callbacks ---------------------------------------------------------------------


@contextmanager
def on_page(w: Walk, user: str) -> Iterator[None]:
    """A Dash callback request by ``user`` (the callback context is set by ``press``)."""
    with w.server.test_request_context("/_dash-update-component", method="POST"):
        flask_session["lang"] = "en"
        with w.db.uow() as s:
            login_user(AuthUser.of(s.get(User, w.ids[user])))
        token = context_value.set(AttributeDict())
        try:
            yield
        finally:
            context_value.reset(token)


def press(component_id: Any, states: list[Any] | None = None, prop: str = "n_clicks", value: Any = 1) -> None:
    """What Dash tells a callback when ``component_id`` was clicked (or chosen), with the states ``states``."""
    key = json.dumps(component_id, sort_keys=True, separators=(",", ":")) if isinstance(component_id, dict) \
        else component_id
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": f"{key}.{prop}", "value": value}],
                                    states_list=states or [], outputs_list=[]))


def form(id_type: str, **values: Any) -> list[dict[str, Any]]:
    return [{"id": {"type": id_type, "field": k}, "property": "value", "value": v} for k, v in values.items()]


def _shown(w: Walk, incident_id: int) -> dict[str, int]:
    with w.db.uow() as s:
        return {"id": incident_id, "version": s.get(Incident, incident_id).version}


def _console_action(w: Walk) -> None:
    from callbacks import console

    incident_id, _, code = w.incident()
    with on_page(w, "op"), w.expect_audit("op", "incident.file", f"incident:{code}"):
        press({"type": ids.CONSOLE_ACTION, "action": "file"})
        console.take_action([1], _shown(w, incident_id), "  walk  ", None, 0, None, None, None, None)


def _console_bulk(w: Walk) -> None:
    from callbacks import console

    incident_id, version, code = w.incident(to="filed")
    check = {"type": ids.CONSOLE_CHECK, "id": incident_id}
    with on_page(w, "op"), w.expect_audit("op", "incident.dispatch", f"incident:{code}"):
        press({"type": ids.CONSOLE_BULK, "action": "dispatch"},
              [[{"id": check, "property": "value", "value": [incident_id]}]])
        console.take_bulk_action([1], [[incident_id]], {str(incident_id): version}, None, 0)


def _console_rate(w: Walk) -> None:
    from callbacks import console

    with w.db.uow() as s:
        incident = take_call(s, HotlineCall(caller="赵", phone="13700001111", content="咨询", category="S0101",
                                            mode="direct", answer="已答复"), actor=s.get(User, w.ids["op"]))
        incident_id, code = incident.id, incident.code
    with on_page(w, "op"), w.expect_audit("op", "incident.followup", f"incident:{code}"):
        press({"type": ids.CONSOLE_RATING, "value": "satisfied"})
        console.rate([1], _shown(w, incident_id), 0)


def _console_pass_down(w: Walk) -> None:
    from callbacks import console

    incident_id, _, code = w.incident(to="filed")
    with on_page(w, "op"), w.expect_audit("op", "incident.pass_down", f"incident:{code}"):
        press({"type": console.CONSOLE_TIER, "area": "D1"})
        console.pass_down([1], _shown(w, incident_id), None, 0)


def _console_notices(w: Walk) -> None:
    from callbacks import console

    incident_id, version, _ = w.incident(to="filed")
    w.request("POST", f"/api/v1/incidents/{incident_id}/actions", "boss",
              {"action": "escalate", "version": version, "note": "快"})
    with on_page(w, "gasman"), w.expect_audit("gasman", "notifications.read", "user:gasman"):
        press(ids.CONSOLE_NOTICE_READ)
        console.show_notices(1, 1, False)


def _inbox_action(action: str, audit_action: str) -> Callable[[Walk], None]:
    def step(w: Walk) -> None:
        from callbacks import alert_inbox

        alert_id = w.alert()
        target = "silence:" if action == "silence" else f"alert:{alert_id}"
        with on_page(w, "op"), w.expect_audit("op", audit_action, target):
            press({"type": ids.CONSOLE_ALERT_ACTION, "action": action, "alert": alert_id})
            alert_inbox.on_alert_action([1], 0)
    return step


def _inbox_review(w: Walk) -> None:
    from callbacks import alert_inbox

    alert_id = w.alert()
    with on_page(w, "op"), w.expect_audit("op", "alert.review", f"alert:{alert_id}"):
        press({"type": ids.CONSOLE_ALERT_REVIEW, "action": "review", "alert": alert_id}, prop="value",
              value="confirmed")
        alert_inbox.on_alert_review(["confirmed"], 0)


def _hotline_call(w: Walk) -> None:
    from callbacks import hotline

    with on_page(w, "op"), w.expect_audit("op", "incident.create", "incident:"):
        press(ids.HOTLINE_SUBMIT)
        hotline.submit_call(1, "钱", "13512345678", "路灯坏了", "S0101", "DP-1", "transfer", None, 0)


def _hotline_followup(w: Walk) -> None:
    from callbacks import hotline

    code = w.hotline_order(closed=True)
    with on_page(w, "op"), w.expect_audit("op", "incident.followup", f"incident:{code}"):
        press(ids.HOTLINE_FOLLOWUP_SUBMIT)
        hotline.submit_followup(1, code, "satisfied", None, [], 0)


def _hotline_reply(w: Walk) -> None:
    from callbacks import hotline

    code = w.hotline_order(closed=True)
    with on_page(w, "op"), w.expect_audit("op", "incident.reply", f"incident:{code}"):
        press(ids.HOTLINE_REPLY_SUBMIT)
        hotline.submit_reply(1, code, "已清运", 0)


def _hotline_chase(w: Walk) -> None:
    from callbacks import hotline

    code = w.hotline_order(closed=False)
    with on_page(w, "op"), w.expect_audit("op", "incident.chase", f"incident:{code}"):
        press({"type": ids.HOTLINE_CHASE, "code": code})
        hotline.chase_order([1], 0)


def _worker_action(w: Walk) -> None:
    from callbacks import worker

    incident_id, version, code = w.incident(to="dispatched")
    with on_page(w, "w1"), w.expect_audit("w1", "incident.start", f"incident:{code}"):
        press({"type": ids.WORKER_ACTION, "id": incident_id, "action": "start"})
        worker.take_task_action([1], [], [], {str(incident_id): version}, 0)


def _worker_patrol(w: Walk) -> None:
    from callbacks import worker

    photo = "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode()
    with on_page(w, "w1"), w.expect_audit("w1", "photo.upload", "incident:"), \
            w.expect_audit("w1", "incident.create", "incident:"):
        press(ids.WORKER_PATROL_SUBMIT)
        worker.submit_patrol(1, "S0101", "井盖旁有垃圾", photo, {"lon": G1_POINT[0], "lat": G1_POINT[1]})


def _admin_tokens(w: Walk) -> None:
    from callbacks import admin

    with on_page(w, "admin"), w.expect_audit("admin", "token.issue", "token:"):
        press(ids.ADMIN_TOKENS_ISSUE)
        admin.change_tokens(1, [], "w2", 0)


def _admin_sessions(w: Walk) -> None:
    from callbacks import admin_sessions

    with on_page(w, "admin"), w.expect_audit("admin", "sessions.end", "user:w2"):
        press(ids.ADMIN_SESSIONS_END)
        admin_sessions.act_on_user(None, 1, "w2")


def _admin_category(w: Walk) -> None:
    from callbacks import admin_categories

    values = {"code": "S0197", "name_zh": "测试", "name_en": "Test", "kind": "event", "department": "roads",
              "handle_hours": 8, "close_hours": 24, "working_hours": []}
    with on_page(w, "admin"), w.expect_audit("admin", "category.", "category:S0197"):
        press(ids.ADMIN_CATEGORIES_SAVE, [form(ids.ADMIN_CATEGORIES_FORM, **values)])
        admin_categories.save(1, [], 0)


def _admin_calendar(w: Walk) -> None:
    from callbacks import admin_categories

    with on_page(w, "admin"), w.expect_audit("admin", "calendar.", ""):
        press(ids.ADMIN_CATEGORIES_CAL_SAVE)
        admin_categories.save_calendar(1, "1-5 09:00-12:00", "2026-10-01 国庆节", 0)


def _admin_rule(w: Walk) -> None:
    from callbacks import admin_rules

    text = yaml.safe_dump({**RULE, "id": "walk-page"}, allow_unicode=True)
    with on_page(w, "admin"), w.expect_audit("admin", "rule.create", "rule:walk-page"):
        press(ids.ADMIN_RULES_SAVE)
        admin_rules.change_rule(1, None, None, text, ["on"], 0)


def _admin_duty(w: Walk) -> None:
    from callbacks import admin_duty

    entry = _slot_entry("w2", "duty_officer", 3)
    with on_page(w, "admin"), w.expect_audit("admin", "duty.rota.add", "duty_rota:"):
        press(ids.ADMIN_DUTY_ADD)
        admin_duty.edit_rota(1, [], entry["date"], entry["shift"], entry["post"], entry["username"], 0)


def _video_plan(w: Walk) -> None:
    from callbacks import video

    with on_page(w, "op"), w.expect_audit("op", "patrol_plan.save", "patrol_plan:"):
        video.save_plan(1, "walk page", 5, ["CAM-7"] + [None] * 15, 4)


def _admin_people(w: Walk) -> None:
    from callbacks import admin_people

    values = {"username": "zhao", "display_name": "赵六", "role": "worker", "grid": "G2", "department": None,
              "area": None, "phone": None}
    with on_page(w, "admin"), w.expect_audit("admin", "user.create", "user:zhao"):
        press(ids.ADMIN_PEOPLE_SAVE, [form(ids.ADMIN_PEOPLE_FORM, **values)])
        admin_people.change(1, None, None, None, [], 0)


def _admin_city(w: Walk) -> None:
    from callbacks import admin_city

    with on_page(w, "admin"), w.expect_audit("admin", "department.create", "department:water"):
        press(ids.ADMIN_CITY_SAVE, [form(ids.ADMIN_CITY_FORM, code="water", name_zh="水务局", name_en="Water",
                                         parent=None)])
        admin_city.save(1, [], 0)


def _admin_setting(w: Walk) -> None:
    from callbacks import admin_settings
    from tests.unit.test_admin_pages import settings_states

    with on_page(w, "admin"), w.expect_audit("admin", "setting.", "setting:kpi_targets"):
        press({"type": ids.ADMIN_SETTINGS_SAVE, "key": "kpi_targets"},
              [settings_states(kpi_targets__closure_rate_dot_amber=0.98)])
        admin_settings.change([1], [None], [], 0)


def _admin_setting_calendar(w: Walk) -> None:
    from callbacks import admin_settings

    with on_page(w, "admin"), w.expect_audit("admin", "calendar.", ""):
        press(ids.ADMIN_SETTINGS_CALENDAR_SAVE)
        admin_settings.change_calendar(1, "1-5 08:30-12:00", "2026-10-02 国庆节", 0)


def _admin_plan(w: Walk) -> None:
    from callbacks import admin_plans

    doc = _plan_doc()
    doc["levels"][0]["tasks"][0]["deadline_hours"] = 2  # an edited plan: a new version
    with on_page(w, "admin"), w.expect_audit("admin", "plan.save", "plan:gas_leak"):
        press(ids.ADMIN_PLANS_SAVE)
        admin_plans.check_or_save(None, 1, yaml.safe_dump(doc, allow_unicode=True), 0)


def _admin_channel_add(w: Walk) -> None:
    from callbacks import admin_channels

    with on_page(w, "admin"), w.expect_audit("admin", "channel.create", "channel:"):
        press(ids.ADMIN_CHANNELS_ADD)
        admin_channels.change(1, None, "walk page", "department", "gas", "json://127.0.0.1:9/page", "blue", None, 0)


def _admin_channel_delete(w: Walk) -> None:
    from callbacks import admin_channels
    from dispatch import outbox

    with w.db.uow() as s:
        made = outbox.create_channel(s, outbox.ChannelSpec(url="json://127.0.0.1:9/gone", name="gone",
                                                           duty_post="duty_officer"), actor_id=w.ids["admin"])
        made_id = made.id
    with on_page(w, "admin"), w.expect_audit("admin", "channel.delete", f"channel:{made_id}"):
        press(ids.ADMIN_CHANNELS_CONFIRM, prop="submit_n_clicks")
        admin_channels.change(None, 1, None, None, None, None, None, made_id, 0)


def _admin_import(w: Walk) -> None:
    from callbacks import admin_import

    csv = "data:text/csv;base64," + base64.b64encode("code,name_zh,name_en\nparks,园林局,Parks\n".encode()).decode()
    with on_page(w, "admin"), w.expect_audit("admin", "admin.import", "file:depts.csv"):
        press(ids.ADMIN_IMPORT_RUN)
        admin_import.run(None, 1, csv, "depts.csv", "departments", None, None)


def _joint_return(w: Walk) -> None:
    from callbacks import joint_tasks

    with w.db.uow() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        incident = create_incident(s, category_code="L01", source="operator", title="walk", lon=G1_POINT[0],
                                   lat=G1_POINT[1], actor=users["op"], check_duplicates=False)
        incident = apply_action(s, incident.id, "file", version=incident.version, actor=users["op"])
        incident = apply_action(s, incident.id, "dispatch", version=incident.version, actor=users["op"],
                                department_code="gas", assisting=["roads"])
        incident = apply_action(s, incident.id, "resolve", version=incident.version, actor=users["roadman"])
        incident_id, code = incident.id, incident.code
    with on_page(w, "op"), w.expect_audit("op", "incident.return", f"incident:{code}"):
        press({"type": ids.CONSOLE_TASK_RETURN, "department": "roads"})
        joint_tasks.return_task([1], _shown(w, incident_id), "再看看", 0)


#: Each write callback of the pages (module.function) → the step that performs it once and checks its row.
PAGE_WALK: dict[str, Callable[[Walk], None]] = {
    "callbacks.console.take_action": _console_action,
    "callbacks.console.take_bulk_action": _console_bulk,
    "callbacks.console.rate": _console_rate,
    "callbacks.console.pass_down": _console_pass_down,
    "callbacks.console.show_notices": _console_notices,
    "callbacks.alert_inbox.on_alert_action": _inbox_action("ack", "alert.ack"),
    "callbacks.alert_inbox.on_alert_action#silence": _inbox_action("silence", "silence.create"),
    "callbacks.alert_inbox.on_alert_action#incident": _inbox_action("incident", "alert.triage"),
    "callbacks.alert_inbox.on_alert_review": _inbox_review,
    "callbacks.hotline.submit_call": _hotline_call,
    "callbacks.hotline.submit_followup": _hotline_followup,
    "callbacks.hotline.submit_reply": _hotline_reply,
    "callbacks.hotline.chase_order": _hotline_chase,
    "callbacks.worker.take_task_action": _worker_action,
    "callbacks.worker.submit_patrol": _worker_patrol,
    "callbacks.admin.change_tokens": _admin_tokens,
    "callbacks.admin_sessions.act_on_user": _admin_sessions,
    "callbacks.admin_categories.save": _admin_category,
    "callbacks.admin_categories.save_calendar": _admin_calendar,
    "callbacks.admin_rules.change_rule": _admin_rule,
    "callbacks.admin_duty.edit_rota": _admin_duty,
    "callbacks.video.save_plan": _video_plan,
    "callbacks.admin_people.change": _admin_people,
    "callbacks.admin_city.save": _admin_city,
    "callbacks.admin_settings.change": _admin_setting,
    "callbacks.admin_settings.change_calendar": _admin_setting_calendar,
    "callbacks.admin_import.run": _admin_import,
    "callbacks.admin_plans.check_or_save": _admin_plan,
    "callbacks.admin_channels.change": _admin_channel_add,
    "callbacks.admin_channels.change#delete": _admin_channel_delete,
    "callbacks.joint_tasks.return_task": _joint_return,
}

#: The callbacks that only read (draw, fill, search, select, refresh): they write nothing, so they have no step.
READ_CALLBACKS = frozenset({
    "callbacks.admin.search_audit_log", "callbacks.admin.show_admin", "callbacks.admin.show_tokens",
    "callbacks.admin.show_users", "callbacks.admin_categories.fill", "callbacks.admin_categories.load",
    "callbacks.admin_city.fill", "callbacks.admin_city.load", "callbacks.admin_duty.show_rota",
    "callbacks.admin_import.show_file", "callbacks.admin_people.fill", "callbacks.admin_people.load",
    "callbacks.admin_plans.download", "callbacks.admin_plans.list_plans", "callbacks.admin_plans.list_versions",
    "callbacks.admin_plans.open_version", "callbacks.admin_channels.ask_delete",
    "callbacks.admin_channels.list_channels", "callbacks.admin_channels.list_targets",
    "callbacks.admin_rules.list_rules", "callbacks.admin_rules.load_rule", "callbacks.admin_settings.fill",
    "callbacks.alert_inbox.fill_filters", "callbacks.alert_inbox.show_inbox",
    "callbacks.bigscreen.citymap.drill_down", "callbacks.bigscreen.citymap.load_dense",
    "callbacks.bigscreen.citymap.load_map", "callbacks.bigscreen.citymap.recolour_grids",
    "callbacks.bigscreen.detail.select", "callbacks.bigscreen.detail.show_detail", "callbacks.bigscreen.live.refresh",
    "callbacks.bigscreen.panels.refresh_panels", "callbacks.bigscreen.panels.show_duty",
    "callbacks.bigscreen.patrol.patrol_list", "callbacks.bigscreen.patrol.patrol_tick",
    "callbacks.briefing.show_briefing", "callbacks.command.list_events", "callbacks.command.refresh_board",
    "callbacks.console.fill_options", "callbacks.console.select_incident",
    "callbacks.console.show_badge", "callbacks.console.show_detail", "callbacks.console.show_queue",
    "callbacks.hotline.fill_categories", "callbacks.hotline.search_address", "callbacks.hotline.show_aftercare",
    "callbacks.hotline.show_figures", "callbacks.hotline.show_recent", "callbacks.joint_tasks.fill_assisting",
    "callbacks.maplive.refresh_live", "callbacks.video.draw_wall", "callbacks.video.put_camera",
    "callbacks.video.drop_camera", "callbacks.video.list_cameras", "callbacks.video.wall_map",
    "callbacks.video.run_plan", "callbacks.video.search_cameras", "callbacks.worker.show_point",
    "callbacks.worker.show_tasks", "callbacks.worker.tap_map", "callbacks.worker.toggle_patrol",
    "callbacks.trends.show_trends",  # issue 20: the trend analysis page reads only
    "callbacks.bigscreen.panels.show_warnings",  # issue 17 §5: the big screen's warning statistics read only
    "callbacks.console.show_replica_lag",  # issue 21: the console's replica-lag notice reads only
})


def _callback_names(dash_app: dash.Dash) -> set[str]:
    """The server-side callbacks of the pages, as module.function (Dash's own page router left out)."""
    names = set()
    for spec in dash_app.callback_map.values():
        function = spec.get("callback")
        while function is not None and hasattr(function, "__wrapped__"):
            function = function.__wrapped__
        if function is not None and function.__module__.startswith("callbacks."):
            names.add(f"{function.__module__}.{function.__qualname__}")
    return names


def test_the_walk_knows_every_callback_of_the_pages(walk):
    names = _callback_names(walk.dash_app)
    walked = {name.split("#")[0] for name in PAGE_WALK}
    unknown = sorted(names - walked - READ_CALLBACKS)
    assert not unknown, f"callbacks the audit walk does not know (a write: add a step; a read: list it): {unknown}"
    gone = sorted((walked | READ_CALLBACKS) - names)
    assert not gone, f"the walk lists callbacks that no longer exist: {gone}"
    assert not walked & READ_CALLBACKS


GAPS: dict[str, str] = {}  # known gaps: none (a gap would be an xfail naming the service that writes no row)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=GAPS[n], strict=True))
                                  if n in GAPS else n for n in sorted(PAGE_WALK)])
def test_every_write_callback_writes_its_audit_row(walk, name):
    PAGE_WALK[name](walk)
