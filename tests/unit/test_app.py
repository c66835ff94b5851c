"""The composition root: login, the one access guard over pages and Dash callbacks, /healthz, CLI errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from data.accounts import create_user
from settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(db):
    from app import create_app

    with db.uow() as s:
        for role in ("admin", "operator", "leader", "handler", "worker"):
            create_user(s, role, role, password=f"{role}-pw")
    server, _ = create_app(Settings(database_url=str(db.url), secret_key="test", demo=False), db)
    server.testing = True
    return server.test_client()


def _login(client, name: str) -> None:
    response = client.post("/login", data={"username": name, "password": f"{name}-pw"})
    assert response.status_code == 302, response.data


def _callback_body(output_id: str) -> dict:
    return {"output": f"{output_id}.children", "outputs": {"id": output_id, "property": "children"},
            "inputs": [], "changedPropIds": [], "state": []}


def test_login_page_has_the_test_hooks(client):
    html = client.get("/login").get_data(as_text=True)
    for hook in ("login-username", "login-password", "login-submit"):
        assert f'data-testid="{hook}"' in html


def test_wrong_password_is_refused_and_audited(client, db):
    from sqlalchemy import select

    from data.models import AuditLog

    assert client.post("/login", data={"username": "operator", "password": "nope"}).status_code == 401
    with db.uow() as s:
        assert s.scalar(select(AuditLog.action).order_by(AuditLog.id.desc())) == "login_failed"


def test_anonymous_is_sent_to_login_for_pages_and_refused_for_callbacks(client):
    assert client.get("/console").status_code == 302
    assert client.get("/console").headers["Location"].startswith("/login")
    response = client.post("/_dash-update-component", json=_callback_body("console-queue"))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_anonymous_api_call_is_refused(client):
    assert client.post("/api/v1/readings", json={"readings": []}).status_code == 401


@pytest.mark.parametrize(("role", "page", "allowed"), [
    ("operator", "console", True), ("worker", "console", False), ("worker", "worker", True),
    ("leader", "admin", False), ("admin", "admin", True), ("handler", "bigscreen", True),
    ("worker", "bigscreen", False), ("leader", "briefing", True),
])
def test_callbacks_are_guarded_by_the_page_of_their_outputs(client, role, page, allowed):
    _login(client, role)
    response = client.post("/_dash-update-component", json=_callback_body(f"{page}-nothing"))
    if allowed:
        assert response.status_code != 403
    else:
        assert response.status_code == 403


def test_page_content_callback_is_guarded_by_the_requested_path(client):
    _login(client, "worker")
    body = {"output": "..._pages_content.children..._pages_store.data...",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/admin"},
                       {"id": "_pages_location", "property": "search", "value": ""}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}
    assert client.post("/_dash-update-component", json=body).status_code == 403


def test_worker_opening_the_big_screen_lands_on_their_task_page(client):
    _login(client, "worker")
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/worker"


def test_session_cookie_is_httponly_and_samesite(client):
    response = client.post("/login", data={"username": "admin", "password": "admin-pw"})
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_healthz_reports_db_and_scheduler(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["db"] == "ok"
    assert body["scheduler"] in ("running", "absent", "stale")


def _cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, input=stdin, timeout=120)


def test_malformed_database_url_gives_one_clear_line(tmp_path):
    done = _cli("db", "upgrade", env={"CITYOPS_DATABASE_URL": "not a url"})
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "CITYOPS_DATABASE_URL" in done.stderr and "Traceback" not in done.stderr


def test_unreachable_database_gives_one_clear_line():
    done = _cli("db", "upgrade", env={"CITYOPS_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"})
    assert done.returncode != 0
    assert "cannot connect" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr


def test_port_in_use_gives_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _cli("serve", "--port", str(port), "--no-scheduler",
                    env={"CITYOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "CITYOPS_SECRET_KEY": "k"})
    assert done.returncode != 0
    assert f"127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


def test_users_token_prints_the_token_alone_on_the_last_line(tmp_path):
    env = {"CITYOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'u.db'}"}
    added = _cli("users", "add", "ops1", "--role", "operator", "--password-stdin", env=env,
                 stdin="quiet lantern over the canal\n")  # the password policy holds in the CLI
    assert added.returncode == 0, added.stderr
    done = _cli("users", "token", "ops1", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("cot_")


def test_unknown_role_is_refused(tmp_path):
    done = _cli("users", "add", "x", "--role", "king", env={"CITYOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'u.db'}"})
    assert done.returncode != 0 and "king" in done.stderr


def test_kpi_cli_prints_json_with_the_contract_keys(tmp_path):
    done = _cli("kpi", "--json", env={"CITYOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"})
    assert done.returncode == 0, done.stderr
    snapshot = json.loads(done.stdout)
    assert {"reported", "closure_rate", "alerts_firing", "by_source"} <= snapshot.keys()
    assert snapshot["closure_rate"] is None


@pytest.mark.parametrize(("name", "value"), [("CITYOPS_TZ", "Mars/Base"), ("CITYOPS_LANG", "fr"),
                                             ("CITYOPS_DATABASE_URL", "sqlite:////proc/none/x.db")])
def test_bad_settings_give_one_clear_line(name, value):
    done = _cli("db", "upgrade", env={name: value})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0, done.stderr


def test_unknown_api_paths_are_a_json_404_not_the_page_shell(client):
    _login(client, "admin")
    for path in ("/api/v1/nothing-here", "/api/v1/reports/..%2F..%2Fetc%2Fpasswd", "/open311/v2/nope"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"


def test_sign_in_is_throttled_after_five_failures_even_with_the_right_password(client, db):
    from sqlalchemy import func, select

    from data.models import AuditLog

    for _ in range(5):
        assert client.post("/login", data={"username": "operator", "password": "nope"}).status_code == 401
    blocked = client.post("/login", data={"username": "operator", "password": "operator-pw"})
    assert blocked.status_code == 429
    assert "15" in blocked.get_data(as_text=True)
    assert client.post("/login", data={"username": "leader", "password": "leader-pw"}).status_code == 302
    with db.uow() as s:
        assert s.scalar(select(func.count()).where(AuditLog.action == "login_throttled")) == 1
