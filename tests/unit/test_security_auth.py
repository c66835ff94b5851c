"""Issue 14, findings 1, 4, 5, 6 and 7, each reproduced as the attacker did it: open redirects after the
browser's own URL clean-up, cross-site writes riding on the session cookie, sessions that outlive sign-out,
user names told apart by timing, and sign-in lockouts that an attacker can impose on others."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from api.auth import safe_next
from data.accounts import (
    THROTTLE,
    create_user,
    issue_token,
    record_sign_in,
    set_active,
    set_password,
    set_role,
    sign_in_wait,
    unlock_sign_in,
)
from data.models import Category, Department, Incident, User, utcnow
from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ATTACKER, OFFICE = "203.0.113.9", "10.0.0.5"
EVIL = "https://evil.example"


def _make_app(db, **settings):
    from app import create_app

    server, _ = create_app(Settings(database_url=str(db.url), secret_key="security", **settings), db)
    server.testing = True
    return server


@pytest.fixture
def server(db):
    with db.uow() as s:
        for role in ("admin", "operator", "leader", "worker"):
            create_user(s, role, role, password=f"{role}-pw")
        department = Department(code="D1", name_zh="城管", name_en="City management")
        s.add(department)
        s.flush()
        s.add(Category(code="C1", name_zh="暴露垃圾", name_en="Exposed rubbish", kind="event",
                       department_id=department.id, handle_hours=4, close_hours=8))
    return _make_app(db)


def _login(client, name: str, *, address: str = "127.0.0.1", password: str | None = None):
    return client.post("/login", data={"username": name, "password": f"{name}-pw" if password is None else password},
                       environ_base={"REMOTE_ADDR": address})


def _signed_in(server, name: str):
    client = server.test_client()
    assert _login(client, name).status_code == 302
    return client


INCIDENT = '{"category": "C1", "title": "forged from another site"}'


# --- 1. open redirects --------------------------------------------------------------------------

#: ``next`` values as they arrive on the wire (already percent-encoded where a browser would encode).
FOREIGN_NEXT = [
    "/%09/evil.example",  # the probe: a tab that the browser drops, leaving //evil.example
    "/%0A/evil.example", "/%0D%0A/evil.example", "%09//evil.example",
    "//evil.example", "/%5Cevil.example", "%5C%5Cevil.example", "/%5C/evil.example",
    "%2F%2Fevil.example", "/%2F/evil.example", "/%252F/evil.example", "/%255Cevil.example",
    "https://evil.example", "https:evil.example", "javascript:alert(1)", "%20//evil.example",
    "evil.example", "/%00/evil.example",
]


@pytest.mark.parametrize("raw_next", FOREIGN_NEXT)
def test_the_language_switch_never_sends_the_browser_to_another_site(server, raw_next):
    response = server.test_client().get(f"/auth/lang/en?next={raw_next}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("raw_next", FOREIGN_NEXT)
def test_signing_in_never_sends_the_browser_to_another_site(server, raw_next):
    response = server.test_client().post(f"/login?next={raw_next}",
                                         data={"username": "operator", "password": "operator-pw"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_the_hidden_next_field_of_the_form_is_checked_the_same_way(server):
    response = server.test_client().post("/login", data={"username": "operator", "password": "operator-pw",
                                                         "next": "/\t/evil.example"})
    assert response.headers["Location"] == "/"
    page = server.test_client().get("/login?next=/%09/evil.example").get_data(as_text=True)
    assert 'name="next" value=""' in page


def test_local_targets_still_work(server):
    assert server.test_client().get("/auth/lang/en?next=/login").headers["Location"] == "/login"
    response = server.test_client().post("/login?next=/console", data={"username": "operator",
                                                                       "password": "operator-pw"})
    assert response.headers["Location"] == "/console"


@pytest.mark.parametrize("raw_path", ["/auth/lang/en?next=/%0A", "/auth/lang/en?next=%0D%0ALocation:%20x",
                                      "/console%0A//evil.example", "/login?next=/%0Aconsole"])
def test_a_newline_in_a_redirect_target_is_no_500(server, raw_path):
    response = server.test_client().get(raw_path)
    assert response.status_code < 500
    assert "\n" not in response.headers.get("Location", "")


def test_signing_in_from_a_page_with_a_newline_in_its_path_comes_back_only_to_our_site(server):
    response = server.test_client().get("/console%0A//evil.example")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(("target", "expected"), [
    ("/console?x=1#top", "/console?x=1#top"), ("/\t\\evil.example", "/"), ("\\/evil.example", "/"),
    ("/\\evil.example", "/"), ("/ /evil.example", "/ /evil.example"), ("", "/"), ("//", "/"),
    ("/%2f%2fevil.example", "/"), ("http:/evil.example", "/"),
    ("/console\r\nSet-Cookie: x=1", "/consoleSet-Cookie: x=1"),  # no header split
])
def test_safe_next_reads_the_target_as_a_browser_does(target, expected):
    assert safe_next(target) == expected


# --- 4. cross-site request forgery ---------------------------------------------------------------


def test_a_cross_site_text_plain_post_creates_no_incident(server, db):
    client = _signed_in(server, "operator")
    response = client.post("/api/v1/incidents", data=INCIDENT, content_type="text/plain",
                           headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    # An older browser that sends no Origin still cannot send JSON across sites without a preflight.
    response = client.post("/api/v1/incidents", data=INCIDENT, content_type="text/plain")
    assert response.status_code == 415
    with db.uow() as s:
        assert s.scalars(select(Incident)).all() == []


def test_a_cross_site_comment_is_refused_but_our_own_page_may_comment(server):
    client = _signed_in(server, "operator")
    created = client.post("/api/v1/incidents", json={"category": "C1", "title": "ours"},
                          headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert created.status_code == 201, created.get_json()
    incident = created.get_json()
    comment = f'{{"action": "comment", "version": {incident["version"]}, "note": "forged"}}'
    path = f"/api/v1/incidents/{incident['id']}/actions"
    assert client.post(path, data=comment, content_type="text/plain").status_code == 415
    assert client.post(path, data=comment, content_type="application/json",
                       headers={"Origin": EVIL}).status_code == 403
    assert client.post(path, data=comment, content_type="application/json",
                       headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert client.post(path, data=comment, content_type="application/json",
                       headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200


def test_bearer_token_calls_are_not_affected_by_the_origin_check(server, db):
    """A bearer token is no cookie a forged page could ride on: any origin may use it. Its body must still
    be declared JSON (ASVS 13.1.5: ``test_asvs_l2.py::test_a_bearer_write_that_is_not_declared_json_is_a_415``)."""
    with db.uow() as s:
        token = issue_token(s, s.scalar(select(User).where(User.username == "operator")))
    response = server.test_client().post("/api/v1/incidents", data=INCIDENT, content_type="application/json",
                                         headers={"Authorization": f"Bearer {token}", "Origin": EVIL})
    assert response.status_code == 201, response.get_json()


def test_a_cross_site_dash_callback_is_refused(server):
    client = _signed_in(server, "operator")
    body = {"output": "console-queue.children", "outputs": {"id": "console-queue", "property": "children"},
            "inputs": [], "changedPropIds": [], "state": []}
    response = client.post("/_dash-update-component", json=body, headers={"Origin": "null"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "cross_site"


def test_a_cross_site_open311_post_with_the_session_is_refused(server):
    client = _signed_in(server, "operator")
    response = client.post("/open311/v2/requests.json", data={"service_code": "C1", "lat": "1", "long": "1"},
                           headers={"Origin": EVIL})
    assert response.status_code == 403


def test_sign_in_from_another_site_is_refused(server):
    response = server.test_client().post("/login", data={"username": "operator", "password": "operator-pw"},
                                         headers={"Origin": EVIL})
    assert response.status_code == 403


def test_the_sign_in_form_carries_a_token_that_a_forged_form_lacks(server):
    client = server.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    assert len(token) > 20
    forged = client.post("/login", data={"username": "operator", "password": "operator-pw"})
    assert forged.status_code == 400
    ok = client.post("/login", data={"username": "operator", "password": "operator-pw", "form_token": token})
    assert ok.status_code == 302


def test_sign_out_is_a_post_from_our_own_site(server):
    client = _signed_in(server, "operator")
    client.get("/auth/logout")  # a link (or an <img> on another site) no longer signs anyone out
    assert client.post("/auth/logout", headers={"Origin": EVIL}).status_code == 403
    assert client.get("/api/v1/incidents").status_code == 200  # still signed in
    response = client.post("/auth/logout", headers={"Origin": "http://localhost"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/api/v1/incidents").status_code == 401


def test_the_shell_signs_out_with_a_form_post():
    from layouts.shell import shell

    frame = shell(username="op", role="operator", lang="zh", nav=[], page_container=None)
    forms = [c for c in frame.children[0].children[2].children if getattr(c, "action", None) == "/auth/logout"]
    assert len(forms) == 1 and forms[0].method == "post"


# --- 5. sessions end with sign-out, password, role and activity changes ---------------------------


def _copy_of(server, client):
    """A second browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    thief = server.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert thief.get("/api/v1/incidents").status_code == 200
    return thief


def test_a_copied_cookie_stops_working_after_sign_out(server):
    client = _signed_in(server, "operator")
    thief = _copy_of(server, client)
    client.post("/auth/logout")
    assert thief.get("/api/v1/incidents").status_code == 401
    assert thief.get("/console").status_code == 302


@pytest.mark.parametrize("change", [
    lambda s, user: set_password(s, user, "a-new-password"),
    lambda s, user: set_role(s, user, "leader"),
    lambda s, user: set_active(s, user, False),
])
def test_password_role_and_activity_changes_end_every_session(server, db, change):
    client = _signed_in(server, "operator")
    other_device = _signed_in(server, "operator")
    with db.uow() as s:
        change(s, s.scalar(select(User).where(User.username == "operator")))
    assert client.get("/api/v1/incidents").status_code == 401
    assert other_device.get("/api/v1/incidents").status_code == 401


def test_signing_in_again_after_a_password_change_works(server, db):
    with db.uow() as s:
        set_password(s, s.scalar(select(User).where(User.username == "operator")), "a-new-password")
    client = server.test_client()
    assert _login(client, "operator", password="a-new-password").status_code == 302
    assert client.get("/api/v1/incidents").status_code == 200


def _age(client, *, seen: float = 0, signed_in: float = 0) -> None:
    """Pretend the session was last used ``seen`` seconds ago and began ``signed_in`` seconds ago."""
    with client.session_transaction() as cookie:
        cookie["cityops_seen"] = time.time() - seen
        cookie["cityops_signed_in"] = time.time() - signed_in


def test_an_idle_session_ends(server):
    client = _signed_in(server, "operator")
    _age(client, seen=29 * 60, signed_in=29 * 60)  # the default idle time is 30 minutes (ASVS 3.3.2)
    assert client.get("/api/v1/incidents").status_code == 200
    _age(client, seen=31 * 60, signed_in=31 * 60)
    assert client.get("/api/v1/incidents").status_code == 401


def test_a_busy_session_still_ends_at_its_absolute_lifetime(server):
    client = _signed_in(server, "operator")
    _age(client, seen=0, signed_in=12 * 3600 + 60)
    assert client.get("/api/v1/incidents").status_code == 401


def test_a_role_may_have_a_longer_lifetime_and_settings_set_the_idle_time(db):
    with db.uow() as s:
        create_user(s, "screen", "leader", password="screen-pw")
        create_user(s, "phone", "worker", password="phone-pw")
    server = _make_app(db, session_idle_minutes=5, session_role_max_hours={"leader": 168})
    screen, phone = _signed_in(server, "screen"), _signed_in(server, "phone")
    _age(screen, seen=60, signed_in=100 * 3600)
    assert screen.get("/api/v1/incidents").status_code == 200
    _age(phone, seen=60, signed_in=13 * 3600)
    assert phone.get("/api/v1/incidents").status_code == 401
    _age(screen, seen=6 * 60, signed_in=3600)
    assert screen.get("/api/v1/incidents").status_code == 401


def test_a_session_cookie_from_before_epochs_is_not_accepted(server, db):
    client = _signed_in(server, "operator")
    with client.session_transaction() as cookie:
        del cookie["cityops_epoch"]
    assert client.get("/api/v1/incidents").status_code == 401


# --- 6. user names are not told apart by timing ---------------------------------------------------


@pytest.fixture
def verify_calls(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = PasswordHasher.verify

    def counting(self, hash_, password):
        calls.append(password)
        return real(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return calls


@pytest.mark.parametrize("username", ["operator", "nobody-by-this-name"])
def test_a_password_is_checked_with_argon2_whether_or_not_the_user_exists(server, verify_calls, username):
    assert _login(server.test_client(), username, password="wrong").status_code == 401
    assert verify_calls == ["wrong"]


def test_a_user_without_a_password_costs_the_same_and_cannot_sign_in(server, db, verify_calls):
    with db.uow() as s:
        create_user(s, "nopass", "operator")
    assert _login(server.test_client(), "nopass", password="").status_code == 401
    assert verify_calls == [""]


# --- 7. throttling, not lockout -------------------------------------------------------------------


def test_an_attacker_elsewhere_never_locks_the_real_user_out(server):
    attacker = server.test_client()
    for _ in range(THROTTLE.free):
        assert _login(attacker, "leader", password="guess", address=ATTACKER).status_code == 401
    assert _login(attacker, "leader", address=ATTACKER).status_code == 429  # even the right password waits
    assert _login(server.test_client(), "leader", address=OFFICE).status_code == 302


def test_twenty_failures_behind_one_nat_do_not_lock_out_every_account(server):
    for number in range(25):
        assert _login(server.test_client(), f"typo{number}", password="x", address=OFFICE).status_code == 401
    assert _login(server.test_client(), "leader", address=OFFICE).status_code == 302
    assert _login(server.test_client(), "operator", address=OFFICE).status_code == 302


def test_the_throttled_page_says_how_long_to_wait(server):
    client = server.test_client()
    for _ in range(THROTTLE.free):
        _login(client, "leader", password="guess", address=ATTACKER)
    client.get("/auth/lang/en")
    page = _login(client, "leader", password="guess", address=ATTACKER).get_data(as_text=True)
    waited = re.search(r"try again in (\d+) seconds", page)
    assert waited is not None and 0 < int(waited.group(1)) <= THROTTLE.base.total_seconds()


def _fail(session, username: str, ip: str, times: int, at) -> None:
    for _ in range(times):
        record_sign_in(session, username, ip, False, at)


def test_the_delay_doubles_with_each_further_failure_up_to_its_cap(session):
    now = utcnow()
    _fail(session, "leader", ATTACKER, THROTTLE.free - 1, now)
    assert sign_in_wait(session, "leader", ATTACKER, now) is None
    waits = []
    for _ in range(12):
        _fail(session, "leader", ATTACKER, 1, now)
        waits.append(sign_in_wait(session, "leader", ATTACKER, now))
    assert waits[:4] == [timedelta(seconds=s) for s in (15, 30, 60, 120)]
    assert waits[-1] == THROTTLE.cap
    assert sign_in_wait(session, "leader", ATTACKER, now + THROTTLE.cap) is None
    assert sign_in_wait(session, "leader", OFFICE, now) is None


def test_failures_are_forgotten_after_a_day_and_after_a_sign_in(session):
    then = utcnow() - THROTTLE.memory - timedelta(minutes=1)
    _fail(session, "leader", ATTACKER, 10, then)
    assert sign_in_wait(session, "leader", ATTACKER, utcnow()) is None
    now = utcnow()
    _fail(session, "leader", OFFICE, THROTTLE.free, now)
    record_sign_in(session, "leader", OFFICE, True, now)
    assert sign_in_wait(session, "leader", OFFICE, now) is None


def test_one_address_has_a_generous_ceiling_over_all_names(session):
    now = utcnow()
    for number in range(THROTTLE.ceiling - 1):
        _fail(session, f"name{number}", ATTACKER, 1, now)
    assert sign_in_wait(session, "leader", ATTACKER, now) is None
    _fail(session, "one-more", ATTACKER, 1, now)
    assert sign_in_wait(session, "leader", ATTACKER, now) == THROTTLE.window
    assert sign_in_wait(session, "leader", OFFICE, now) is None


def test_an_admin_unlocks_a_name(session):
    now = utcnow()
    _fail(session, "leader", ATTACKER, THROTTLE.free + 3, now)
    assert sign_in_wait(session, "leader", ATTACKER, now) is not None
    assert unlock_sign_in(session, "leader") == THROTTLE.free + 3
    assert sign_in_wait(session, "leader", ATTACKER, now) is None


def _cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, input=stdin, timeout=120)


def test_the_unlock_and_password_commands(tmp_path):
    from data.db import Database

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"CITYOPS_DATABASE_URL": url}
    assert _cli("users", "add", "ops1", "--role", "operator", env=env).returncode == 0
    database = Database(url)
    with database.uow() as s:
        _fail(s, "ops1", ATTACKER, THROTTLE.free, utcnow())
    done = _cli("users", "unlock", "ops1", env=env)
    assert done.returncode == 0, done.stderr
    with database.uow() as s:
        assert sign_in_wait(s, "ops1", ATTACKER, utcnow()) is None
        epoch = s.scalar(select(User.session_epoch).where(User.username == "ops1"))
    weak = _cli("users", "password", "ops1", env=env, stdin="n3w-secret\n")
    assert weak.returncode != 0 and "12 characters" in weak.stderr and "Traceback" not in weak.stderr
    done = _cli("users", "password", "ops1", env=env, stdin="quiet lantern over the canal\n")
    assert done.returncode == 0, done.stderr
    with database.uow() as s:
        assert s.scalar(select(User.session_epoch).where(User.username == "ops1")) == epoch + 1
    missing = _cli("users", "unlock", "nobody", env=env)
    assert missing.returncode != 0 and "nobody" in missing.stderr and "Traceback" not in missing.stderr
    database.dispose()


def test_a_non_ascii_local_target_is_no_500(server):
    response = server.test_client().get(f"/auth/lang/en?next={quote('/控制台')}")
    assert response.status_code == 302 and response.headers["Location"].startswith("/")


def _panel_click(client, button: str, username: str):
    """The /admin sign-in panel's callback, as the browser sends it when ``button`` is pressed."""
    body = {"output": "admin-sessions-message.children",
            "outputs": {"id": "admin-sessions-message", "property": "children"},
            "inputs": [{"id": "admin-sessions-unlock", "property": "n_clicks", "value": 1},
                       {"id": "admin-sessions-end", "property": "n_clicks", "value": 1}],
            "state": [{"id": "admin-sessions-user", "property": "value", "value": username}],
            "changedPropIds": [f"{button}.n_clicks"]}
    return client.post("/_dash-update-component", json=body)


def test_an_admin_unlocks_a_name_and_ends_its_sessions_from_the_admin_page(server, db):
    attacker = server.test_client()
    for _ in range(THROTTLE.free):
        _login(attacker, "leader", password="guess", address=ATTACKER)
    assert _login(attacker, "leader", address=ATTACKER).status_code == 429
    leader = _signed_in(server, "leader")
    admin = _signed_in(server, "admin")

    assert _panel_click(_signed_in(server, "operator"), "admin-sessions-unlock", "leader").status_code == 403
    answer = _panel_click(admin, "admin-sessions-unlock", "leader")
    assert answer.status_code == 200 and "leader" in answer.get_data(as_text=True)
    assert _login(attacker, "leader", address=ATTACKER).status_code == 302

    assert leader.get("/api/v1/incidents").status_code == 200
    assert _panel_click(admin, "admin-sessions-end", "leader").status_code == 200
    assert leader.get("/api/v1/incidents").status_code == 401
    assert "msg-error" in _panel_click(admin, "admin-sessions-end", "nobody").get_data(as_text=True)
