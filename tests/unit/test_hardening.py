"""Issue 14, findings 10–12, on the real app through Flask's test client: the security headers of every
answer (a CSP that names each inline script Dash serves, no framing, nosniff, same-origin referrer; HSTS
and Secure cookies behind HTTPS), limits on free text, 4xx (never 500) for hostile input, what is shown to
whom (the OpenAPI document, Dash's callback list), and data files only their owner can read."""

from __future__ import annotations

import base64
import hashlib
import re
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from data.accounts import create_user, issue_token
from data.db import Database
from data.files import write_private
from dispatch import photos
from dispatch.service import (
    DESCRIPTION_MAX,
    NOTE_MAX,
    InvalidInput,
    apply_action,
    create_incident,
    get_incident,
)
from settings import Settings
from tests.unit.test_dispatch_channels import jpeg
from tests.unit.test_dispatch_service import G1_POINT, make_city

PASSWORD = "hardening-password"


@pytest.fixture
def city_app(db: Database, tmp_path) -> tuple[Any, dict[str, str]]:
    """The full app on a small city; bearer tokens by user name; password users ``pw-<role>``."""
    from app import create_app

    with db.uow() as s:
        city = make_city(s)
        tokens = {u.username: issue_token(s, u) for u in (city.admin, city.operator, city.worker1)}
        for role in ("admin", "worker"):
            create_user(s, f"pw-{role}", role, password=PASSWORD)
    server, _ = create_app(Settings(database_url=str(db.url), secret_key="hardening",
                                    reports_dir=str(tmp_path / "reports"), uploads_dir=str(tmp_path / "up")), db)
    server.testing = True
    return server, tokens


def signed_in(server: Any, role: str) -> FlaskClient:
    client = server.test_client()
    answer = client.post("/login", data={"username": f"pw-{role}", "password": PASSWORD})
    assert answer.status_code == 302, answer.data
    return client


def bearer(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


# --- finding 10: security headers ------------------------------------------------------------------


def test_every_answer_carries_the_security_headers(city_app):
    server, tokens = city_app
    admin = signed_in(server, "admin")
    answers = [admin.get(path) for path in ("/", "/console", "/_dash-layout", "/_dash-dependencies",
                                              "/assets/cityops.css", "/no/such/page")]
    anonymous = server.test_client()
    answers += [anonymous.get(path) for path in ("/login", "/healthz", "/api/v1/kpi", "/console")]
    answers.append(anonymous.get("/api/v1/kpi", headers=bearer(tokens, "op")))
    for answer in answers:
        headers = answer.headers
        assert headers["X-Content-Type-Options"] == "nosniff", answer.request.path
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
        policy = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
        assert "'unsafe-eval'" not in policy and "'unsafe-inline'" not in policy.split("script-src")[1]
        assert "Strict-Transport-Security" not in headers  # plain HTTP: no HSTS


def test_the_csp_allows_exactly_the_inline_scripts_dash_serves(city_app):
    server, _ = city_app
    page = signed_in(server, "admin").get("/")
    html = re.sub(r"<!--.*?-->", "", page.get_data(as_text=True), flags=re.S)  # IE's conditional comment
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", html, re.S)
    assert len(inline) >= 2  # Dash's clientside callbacks and its renderer
    script_src = page.headers["Content-Security-Policy"].split("script-src", 1)[1].split(";")[0]
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src, script[:80]


def test_behind_https_cookies_are_secure_and_hsts_is_sent(db):
    from app import create_app

    with db.uow() as s:
        create_user(s, "pw-admin", "admin", password=PASSWORD)
    server, _ = create_app(Settings(database_url=str(db.url), secret_key="tls", https=True), db)
    client = server.test_client()
    answer = client.post("/login", data={"username": "pw-admin", "password": PASSWORD},
                         base_url="https://cityops.example")
    assert answer.status_code == 302
    assert "Secure" in answer.headers["Set-Cookie"] and "HttpOnly" in answer.headers["Set-Cookie"]
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")


# --- finding 11: limits and 4xx for hostile input ---------------------------------------------------


def test_a_description_or_note_past_its_limit_is_a_422_naming_it(city_app):
    server, tokens = city_app
    client = server.test_client()
    incident = {"category": "L01", "title": "gas", "lon": G1_POINT[0], "lat": G1_POINT[1]}
    for text in ("x" * (DESCRIPTION_MAX + 1), "x" * 2_000_000):
        answer = client.post("/api/v1/incidents", json={**incident, "description": text}, headers=bearer(tokens, "op"))
        assert answer.status_code == 422, answer.status_code
        assert answer.get_json()["error"]["message"].startswith("description")
    created = client.post("/api/v1/incidents", json={**incident, "description": "x" * DESCRIPTION_MAX},
                          headers=bearer(tokens, "op"))
    assert created.status_code == 201
    body = created.get_json()
    for text in ("n" * (NOTE_MAX + 1), "n" * 2_000_000):
        answer = client.post(f"/api/v1/incidents/{body['id']}/actions", headers=bearer(tokens, "op"),
                             json={"action": "comment", "version": body["version"], "note": text})
        assert answer.status_code == 422 and answer.get_json()["error"]["message"].startswith("note")


def test_the_service_refuses_long_text_from_every_edge_before_changing_anything(session):
    city = make_city(session)
    point = {"lon": G1_POINT[0], "lat": G1_POINT[1]}
    with pytest.raises(InvalidInput) as refused:
        create_incident(session, category_code="L01", source="operator", title="t", actor=city.operator,
                        description="d" * (DESCRIPTION_MAX + 1), **point)
    assert refused.value.code == "description_too_long"
    incident = create_incident(session, category_code="L01", source="operator", title="t", actor=city.operator,
                               **point)
    with pytest.raises(InvalidInput) as refused:
        apply_action(session, incident.id, "comment", version=incident.version, actor=city.operator,
                     note="n" * (NOTE_MAX + 1))
    assert refused.value.code == "note_too_long"
    assert get_incident(session, incident.id, user=city.operator).version == incident.version


def test_the_pages_text_fields_carry_the_same_limits():
    from layouts import console, hotline, worker

    limits = {}

    def walk(node: Any) -> None:
        if node is None or isinstance(node, str | int | float):
            return
        if isinstance(node, list | tuple):
            for child in node:
                walk(child)
            return
        if getattr(node, "maxLength", None) is not None and isinstance(getattr(node, "id", None), str):
            limits[node.id] = node.maxLength
        walk(getattr(node, "children", None))

    for module in (console, hotline, worker):
        walk(module.layout())
    assert limits["console-note"] == NOTE_MAX and limits["worker-patrol-note"] == NOTE_MAX
    assert limits["hotline-content"] == DESCRIPTION_MAX and limits["hotline-answer"] == NOTE_MAX


def test_a_deeply_nested_callback_body_is_a_400(city_app):
    server, _ = city_app
    deep = "[" * 100_000 + "]" * 100_000
    for client in (signed_in(server, "worker"), signed_in(server, "admin")):
        answer = client.post("/_dash-update-component", data=deep, content_type="application/json")
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "bad_json"


def _well_formed_call(client: FlaskClient, output: str) -> dict[str, Any]:
    """A call of the callback ``output`` as the browser makes it, from Dash's callback list."""
    spec = next(d for d in client.get("/_dash-dependencies").get_json() if d["output"] == output)
    component, prop = output.rsplit(".", 1)
    return {"output": output, "outputs": {"id": component, "property": prop}, "changedPropIds": [],
            "inputs": [{**i, "value": None} for i in spec["inputs"]],
            "state": [{**i, "value": None} for i in spec["state"]]}


@pytest.mark.parametrize(("change", "says"), [
    (lambda b: b.pop("inputs"), "inputs"),
    (lambda b: b.update(inputs="x"), "inputs"),
    (lambda b: b["inputs"].pop(), "inputs"),
    (lambda b: b["inputs"].__setitem__(0, 7), "inputs"),
    (lambda b: b.update(state=[{"id": "x"}, 1, 2, 3]), "state"),
    (lambda b: b.pop("outputs"), "outputs"),
    (lambda b: b.update(outputs={"id": "admin-rules-message", "property": "children"}), "output does not match"),
    (lambda b: b.update(changedPropIds="x"), "changedPropIds"),
])
def test_a_malformed_callback_request_is_a_400_with_the_reason(city_app, change, says):
    server, _ = city_app
    client = signed_in(server, "admin")
    body = _well_formed_call(client, "admin-users.children")
    assert client.post("/_dash-update-component", json=body).status_code < 400
    change(body)
    answer = client.post("/_dash-update-component", json=body)
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert says in answer.get_json()["error"]["message"]


@pytest.mark.parametrize("target", ["/a%0d%0aSet-Cookie:%20x=1", "/%0a/evil.example", "/console%0d", "%0a"])
def test_a_newline_in_next_is_never_a_500(city_app, target):
    server, _ = city_app
    client = server.test_client()
    answers = [client.get(f"/auth/lang/en?next={target}"), client.get(f"/login?next={target}"),
               client.post(f"/login?next={target}", data={"username": "pw-admin", "password": PASSWORD})]
    for answer in answers:
        assert answer.status_code < 500, (answer.request.path, answer.status_code)
        assert not re.search(r"[\r\n\t]", answer.headers.get("Location", ""))


@pytest.mark.parametrize("path", ["/_dash-component-suites/nope/x.js", "/_dash-component-suites/dash/nope.js",
                                  "/_dash-component-suites/dash/../../app.py", "/_dash-component-suites/dash/x/y.css",
                                  "/_dash-component-suites/plotly/x.v1m2.js"])
def test_an_unknown_dash_file_is_a_404(city_app, path):
    server, _ = city_app
    assert server.test_client().get(path).status_code == 404


# --- finding 12: exposure -------------------------------------------------------------------------


def test_the_openapi_document_is_for_signed_in_users_and_tokens_only(city_app):
    server, tokens = city_app
    client = server.test_client()
    assert client.get("/api/v1/openapi.json").status_code == 401
    assert client.get("/api/v1/openapi.json", headers=bearer(tokens, "w1")).status_code == 200
    assert signed_in(server, "worker").get("/api/v1/openapi.json").get_json()["openapi"].startswith("3.1")


def _outputs(client: FlaskClient) -> str:
    answer = client.get("/_dash-dependencies")
    assert answer.status_code == 200
    return " ".join(spec["output"] for spec in answer.get_json())


def test_dash_callbacks_are_listed_to_signed_in_users_of_their_pages_only(city_app):
    server, _ = city_app
    assert server.test_client().get("/_dash-dependencies").status_code == 401
    worker, admin = _outputs(signed_in(server, "worker")), _outputs(signed_in(server, "admin"))
    assert "admin-" in admin and "console-" in admin and "worker-" in admin
    assert "worker-" in worker and "_pages_content" in worker and "shell-clock" in worker
    assert not re.search(r"\b(admin|console|bigscreen|hotline|briefing)-", worker)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_file_and_its_folders_are_private(tmp_path):
    path = tmp_path / "var" / "data" / "cityops.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    database.dispose()
    assert mode(path) == 0o600 and mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    wal = path.with_name("cityops.db-wal")
    assert not wal.exists() or mode(wal) == 0o600
    old = tmp_path / "old.db"  # made world-readable by an earlier version: tightened at the next start
    old.touch(mode=0o644)
    old.chmod(0o644)
    Database(f"sqlite:///{old}").dispose()
    assert mode(old) == 0o600


def test_photos_and_reports_are_private(session, tmp_path):
    city = make_city(session)
    incident = create_incident(session, category_code="L01", source="operator", title="t", actor=city.operator,
                               lon=G1_POINT[0], lat=G1_POINT[1])
    folder = tmp_path / "uploads"
    attachment = photos.store_photo(session, jpeg(), incident_id=incident.id, uploaded_by=city.operator.id,
                                    folder=folder)
    stored = photos.photo_file(attachment, folder=folder)
    assert mode(stored) == 0o600 and mode(folder) == 0o700
    assert all(mode(p) == (0o700 if p.is_dir() else 0o600) for p in folder.rglob("*"))
    report = write_private(tmp_path / "reports" / f"daily-{date(2026, 1, 1)}.pdf", b"%PDF")
    assert mode(report) == 0o600 and mode(report.parent) == 0o700 and report.read_bytes() == b"%PDF"
