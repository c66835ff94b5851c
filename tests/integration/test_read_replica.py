"""Reads on a real PostgreSQL streaming replica (issue 21, README "Read replica"): ``scripts/replica`` runs a
hot standby of the test cluster on ``CITYOPS_TEST_REPLICA``'s port (5433); a CityOps schema migrated on the
primary appears there, and ``Database(url, read_url)`` sends ``read_uow()`` to it.

Asserted: ``uow()`` runs on the primary and ``read_uow()`` on the replica (``inet_server_port()``), where a
write is refused; a write on the primary is read back through ``read_uow()`` once the replica has replayed
it; the lag figure grows while the replica's replay is paused and the row appears once it resumes; the KPI
API reads through the replica and the incident API (which must read its own writes) does not; /healthz and
the big screen's notice report a lag over 10 s; the static-layers cache is shared by the primary and the
replica; without a read URL ``read_uow()`` is the primary's.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

import api.v1  # noqa: F401  (declares the /kpi and /incidents routes on api_v1)
from api.auth import init_auth
from api.errors import register_error_handlers
from api.health import health_bp
from api.registry import api_v1
from callbacks.common import replica_notice
from data.accounts import create_user, issue_token, user_by_name
from data.db import Database
from data.layers import static_layers
from data.models import User
from tests.integration.conftest import psycopg_url
from tests.stack import ROOT, wait_for

pytestmark = pytest.mark.integration

#: The replica of the test cluster (``scripts/replica``); its database ``test`` mirrors the primary's.
REPLICA_URL = os.environ.get("CITYOPS_TEST_REPLICA", "postgresql://postgres@127.0.0.1:5433/test")


def _replica_running() -> bool:
    engine = create_engine(psycopg_url(REPLICA_URL))
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one())
    except DBAPIError:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def replica() -> str:
    """The replica's URL, started by ``scripts/replica`` (idempotent) when it does not answer yet."""
    if not _replica_running():
        subprocess.run([str(ROOT / "scripts" / "replica")], check=True, timeout=300)
    return REPLICA_URL


@pytest.fixture
def db(pg_db: Database, replica: str) -> Iterator[Database]:
    """``pg_db`` (a migrated schema on the primary) with reads on the replica, once its schema is there."""
    replica_port = make_url(replica).port
    read_url = make_url(pg_db.url).set(port=replica_port).render_as_string(hide_password=False)
    database = Database(pg_db.url, read_url)
    assert wait_for(lambda: _user_count(database) is not None, timeout=30), "the schema never reached the replica"
    try:
        yield database
    finally:
        database.dispose()


def _user_count(database: Database) -> int | None:
    try:
        with database.read_uow() as session:
            return len(session.scalars(select(User.id)).all())
    except DBAPIError:  # the migration not replayed yet
        return None


def _port(session) -> int:
    return session.scalar(text("SELECT inet_server_port()"))


def _sees_user(database: Database, username: str) -> bool:
    with database.read_uow() as session:
        return user_by_name(session, username) is not None


def test_reads_go_to_the_replica_writes_to_the_primary(db, replica):
    primary_port, replica_port = make_url(db.url).port or 5432, make_url(replica).port
    assert db.has_replica
    with db.uow() as session:
        assert _port(session) == primary_port
        create_user(session, "replica-probe", "operator")
    with db.read_uow() as session:
        assert _port(session) == replica_port
        assert session.scalar(text("SELECT pg_is_in_recovery()")) is True
    with pytest.raises(DBAPIError, match="read-only"), db.read_uow() as session:
        create_user(session, "never-written", "operator")
        session.flush()
    assert wait_for(lambda: _sees_user(db, "replica-probe"), timeout=30)


def test_the_lag_grows_while_replay_is_paused_and_the_write_arrives_after(db, replica, monkeypatch):
    monkeypatch.setattr("data.db.LAG_CACHE_S", 0.0)  # measure on every call
    assert db.replica_lag() >= 0.0
    control = create_engine(psycopg_url(replica), isolation_level="AUTOCOMMIT")
    try:
        with control.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_pause()"))
        with db.uow() as session:
            create_user(session, "written-while-paused", "operator")
        assert wait_for(lambda: db.replica_lag() > 0.0, timeout=30)
        assert not _sees_user(db, "written-while-paused")
    finally:
        with control.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
        control.dispose()
    assert wait_for(lambda: _sees_user(db, "written-while-paused"), timeout=30)


def test_the_primary_and_its_replica_share_one_static_layers_cache(db):
    """The big screen reads the replica, the map's live deltas the primary: one cached copy of the static
    layers serves both (before, each alternation threw the other's out and rebuilt it)."""
    with db.uow() as on_primary:
        layers = static_layers(on_primary)
    with db.read_uow() as on_replica:
        assert _port(on_replica) != _port_of(db.engine)
        assert static_layers(on_replica) is layers


def _port_of(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT inet_server_port()")).scalar_one()


def test_the_primary_reports_no_lag(pg_db):
    """The lag query itself on a server not in recovery: 0 (and no replica: None)."""
    assert pg_db.replica_lag() is None
    alias = Database(pg_db.url, pg_db.url)  # a "replica" that is the primary itself
    try:
        assert alias.replica_lag() == 0.0
    finally:
        alias.dispose()


@pytest.fixture
def client(db):
    server = Flask(__name__)
    server.secret_key = "replica"
    init_auth(server, db)
    register_error_handlers(server)
    server.register_blueprint(health_bp)
    server.register_blueprint(api_v1)
    with db.uow() as session:
        create_user(session, "operator", "operator")
        token = issue_token(session, user_by_name(session, "operator"))
    statements: list[str] = []
    event.listen(db.read_engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    test_client = server.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return test_client, statements, server


def test_the_kpi_api_reads_the_replica_and_the_incident_api_the_primary(client):
    http, statements, _server = client
    assert http.get("/api/v1/incidents").status_code == 200
    assert not any("incidents" in s for s in statements)
    answer = http.get("/api/v1/kpi")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert any("incidents" in s for s in statements)


def test_healthz_and_the_screen_notice_report_a_lag_over_10_seconds(client, db):
    http, _statements, server = client
    health = http.get("/healthz").get_json()
    assert health["replica"] in ("ok", "lagging") and health["replica_lag_s"] >= 0
    db._lag = (time.monotonic(), 42.4)  # as if just measured 42 s behind (a paused replay takes that long)
    health = http.get("/healthz").get_json()
    assert (health["status"], health["replica"], health["replica_lag_s"]) == ("ok", "lagging", 42.4)
    with server.test_request_context():
        notice = replica_notice()
    assert notice is not None and "42" in notice.children
    db._lag = (time.monotonic(), 3.0)
    assert http.get("/healthz").get_json()["replica"] == "ok"
    with server.test_request_context():
        assert replica_notice() is None


def test_without_a_read_url_reads_stay_on_the_primary(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'one.db'}")
    try:
        assert not database.has_replica and database.read_engine is database.engine
        assert database.replica_lag() is None
        database.migrate()
        with database.uow() as session:
            create_user(session, "own-write", "operator")
        assert _sees_user(database, "own-write")
    finally:
        database.dispose()
