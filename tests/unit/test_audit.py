"""The audit log on SQLite: append-only in the database itself (migration 0005), wiped only by the explicit
demo reset, written for every login and every write with who, when, what and from where, and searchable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError

from data.accounts import AuditQuery, create_user, issue_token, search_audit
from data.db import Database
from data.demo import seed_demo_city, wipe_audit_log
from data.models import AuditLog, User
from settings import Settings
from tests.unit.city_copies import city_copy, seeded_template

TRIGGERS = {"audit_log_no_update", "audit_log_no_delete"}


def _triggers(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                     "AND tbl_name = 'audit_log'")))


def _add_rows(db: Database, count: int = 3) -> None:
    with db.uow() as s:
        s.add_all(AuditLog(action=f"test.{i}", target="t") for i in range(count))


# --- append-only ---------------------------------------------------------------------------------


def test_the_migration_guards_the_audit_log_with_triggers(db):
    assert _triggers(db) == TRIGGERS


def test_audit_rows_can_be_added_but_never_changed_or_deleted(db):
    _add_rows(db)
    for statement in (update(AuditLog).values(action="forged"), delete(AuditLog),
                      delete(AuditLog).where(AuditLog.action == "test.1")):
        with pytest.raises(IntegrityError, match="append-only"), db.uow() as s:
            s.execute(statement)
    with pytest.raises(IntegrityError, match="append-only"), db.uow() as s:
        s.scalars(select(AuditLog)).first().target = "changed"
    with db.uow() as s:
        assert sorted(s.scalars(select(AuditLog.action))) == ["test.0", "test.1", "test.2"]
        assert set(s.scalars(select(AuditLog.target))) == {"t"}


def test_the_demo_reset_wipes_the_log_records_it_and_keeps_the_guard(db):
    seed_demo_city(db, scale=0.02, seed=3, demo_passwords=False)
    _add_rows(db, 4)
    seed_demo_city(db, scale=0.02, seed=3, reset=True, demo_passwords=False)
    with db.uow() as s:
        [row] = s.scalars(select(AuditLog)).all()
        assert (row.action, row.detail) == ("demo.reset", {"audit_rows_deleted": 4})
        assert s.scalar(select(func.count()).select_from(User)) > 0
    assert _triggers(db) == TRIGGERS
    with pytest.raises(IntegrityError), db.uow() as s:
        s.execute(delete(AuditLog))


def test_a_wipe_rolled_back_leaves_rows_and_guard_in_place(db):
    _add_rows(db)
    with pytest.raises(RuntimeError), db.uow() as s:
        assert wipe_audit_log(s) == 3
        raise RuntimeError("the reset failed later on")
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)) == 3
    assert _triggers(db) == TRIGGERS


# --- every login and every write, with who and from where ---------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return seeded_template(tmp_path_factory.mktemp("audit-city"), seed=11)


@pytest.fixture
def city(template, tmp_path) -> Iterator[Database]:
    yield from city_copy(template, tmp_path)


@pytest.fixture
def app(city) -> Flask:
    from app import create_app

    with city.uow() as s:
        create_user(s, "op1", "operator", password="op1-password")
    server, _ = create_app(Settings(database_url=str(city.url), secret_key="audit"), city)
    server.testing = True
    return server


def _token(db: Database, username: str) -> dict[str, str]:
    with db.uow() as s:
        token = issue_token(s, s.scalar(select(User).where(User.username == username)))
    return {"Authorization": f"Bearer {token}"}


def _rows(db: Database, since_id: int = 0) -> list[tuple[str, str | None, str | None, str | None, dict | None]]:
    with db.uow() as s:
        return [(a.action, a.target, a.ip, name, a.detail) for a, name in s.execute(
            select(AuditLog, User.username).outerjoin(User, User.id == AuditLog.user_id)
            .where(AuditLog.id > since_id).order_by(AuditLog.id))]


def _last_id(db: Database) -> int:
    with db.uow() as s:
        return s.scalar(select(func.max(AuditLog.id))) or 0


def test_sign_ins_are_audited_with_name_address_and_browser(app, city):
    client = app.test_client()
    start = _last_id(city)
    headers = {"User-Agent": "pytest-browser/1.0"}
    assert client.post("/login", data={"username": "op1", "password": "bad"}, headers=headers).status_code == 401
    assert client.post("/login", data={"username": "op1", "password": "op1-password"},
                       headers=headers, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 302
    failed, ok = _rows(city, start)
    assert failed[:4] == ("login_failed", "op1", "127.0.0.1", "op1")
    assert ok[:4] == ("login", "op1", "10.1.2.3", "op1")
    assert ok[4] == {"user_agent": "pytest-browser/1.0"}


def test_a_service_write_is_audited_with_the_request_address(app, city):
    headers = _token(city, "op1")
    start = _last_id(city)
    body = {"category": "S0101", "title": "暴露垃圾", "lon": 117.02, "lat": 36.67}
    response = app.test_client().post("/api/v1/incidents", json=body, headers=headers,
                                      environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 201, response.get_json()
    rows = _rows(city, start)
    assert [r[0] for r in rows] == ["incident.create"]  # the service's own row; no generic one besides it
    assert rows[0][1:4] == (f"incident:{response.get_json()['code']}", "192.0.2.7", "op1")


def test_a_reading_batch_is_audited_by_its_service_and_gets_no_generic_row(app, city):
    # The service writes its own row (alerts.intake, issue 15); the generic one is for writes without
    # (the /sneaky route below).
    headers = _token(city, "op1")
    start = _last_id(city)
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [{"sensor_id": "GAS-P-0001", "ts": (now - timedelta(seconds=i)).isoformat(), "value": 0.3}
                for i in range(3)]
    response = app.test_client().post("/api/v1/readings", json={"readings": readings}, headers=headers)
    assert response.get_json()["accepted"] == 3
    [(action, target, ip, user, detail)] = _rows(city, start)
    assert (action, target, ip, user) == ("readings.ingest", "readings", "127.0.0.1", "op1")
    assert detail["accepted"] == 3


def test_reads_refusals_and_token_use_write_no_audit_rows(app, city):
    headers = _token(city, "op1")
    client = app.test_client()
    start = _last_id(city)
    assert client.get("/api/v1/incidents", headers=headers).status_code == 200  # touches the token's last use
    assert client.post("/api/v1/readings", json={"readings": "nope"}, headers=headers).status_code == 400
    assert client.post("/api/v1/readings", json={"readings": [{"sensor_id": "nope"}]},
                       headers=headers).get_json()["accepted"] == 0
    assert _rows(city, start) == []


def test_every_audit_row_is_written_by_the_one_writer():
    """Audit rows are built in one place (``data.audit.write_audit``, which stamps the request's address): a
    module that built ``AuditLog`` rows itself would write rows the walk cannot vouch for."""
    root = Path(__file__).resolve().parents[2]
    builders = sorted(
        str(path.relative_to(root))
        for package in ("admin", "alerts", "api", "callbacks", "data", "dispatch", "reports")
        for path in (root / package).rglob("*.py")
        if re.search(r"(?<!class )\bAuditLog\(", path.read_text(encoding="utf-8"))
        and path.relative_to(root).as_posix() != "data/audit.py"
        and "migrations" not in path.parts)
    assert builders == []


# --- search --------------------------------------------------------------------------------------


def test_the_audit_search_filters_pages_and_lists_newest_first(db):
    base = datetime(2026, 3, 1, tzinfo=UTC)
    with db.uow() as s:
        ana = create_user(s, "ana", "admin")
        bo = create_user(s, "bo", "operator")
        s.add_all([AuditLog(at=base + timedelta(hours=i), user_id=(ana if i % 2 else bo).id,
                            action="rule.update" if i % 3 else "incident.file", target=f"rule:r{i}")
                   for i in range(30)])
    with db.uow() as s:
        everything = search_audit(s, AuditQuery(), limit=10)
        assert everything.total == 30 and len(everything.rows) == 10
        assert everything.rows[0][0].target == "rule:r29" and everything.rows[0][1] == "ana"
        assert search_audit(s, AuditQuery(), limit=10, offset=20).rows[-1][0].target == "rule:r0"
        assert search_audit(s, AuditQuery(user="AN")).total == 15
        assert search_audit(s, AuditQuery(action="incident.")).total == 10
        assert search_audit(s, AuditQuery(target="r1")).total == 11  # r1, r10..r19
        window = search_audit(s, AuditQuery(since=base + timedelta(hours=5), until=base + timedelta(hours=8)))
        assert [a.target for a, _ in window.rows] == ["rule:r7", "rule:r6", "rule:r5"]
        assert search_audit(s, AuditQuery(target="%")).total == 0  # wildcards are matched literally
        assert search_audit(s, AuditQuery(user="bo", action="rule", target="r2")).total == 5  # 2, 20, 22, 26, 28
