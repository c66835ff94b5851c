"""The production profile (issue 8, README "Production profile") as real processes on a fresh PostgreSQL
schema: gunicorn with two web workers through ``wsgi:server`` and one ``python app.py worker``.

Asserted: /healthz answers ok; requests are served by both web workers (gunicorn's access log names the
serving process, ``%(p)s``, and both are children of the gunicorn master) and a session signed in by one
worker is accepted by the other (one secret key); a bearer token printed by ``app.py users token`` works;
while both web workers serve, nobody holds the scheduler lease (a scheduler takes a free lease as it
starts), and once the worker runs, exactly one lease row exists and its holder is the worker process.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from alerts.scheduler import LEASE_NAME
from data.accounts import create_user
from data.db import Database
from data.models import SchedulerLease
from tests.stack import Processes, free_port, gunicorn_args, healthz

pytestmark = pytest.mark.integration

USER, PASSWORD = "prod-admin", "prod-profile-password"
#: One access-log line per request: the serving worker's pid as ``<pid>``, the status and the request line.
ACCESS_FORMAT = "%(p)s %(s)s %(r)s"
ACCESS_LINE = re.compile(r"<(\d+)> (\d{3}) (\S+) (\S+) \S+")


def children(pid: int) -> set[int]:
    """The live (not zombie) child processes of ``pid``, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if int(ppid) == pid and state != "Z":
            found.add(int(stat.parent.name))
    return found


def served_by(access_log: Path, path: str) -> set[int]:
    """The pids of the web workers that answered ``GET path`` with 200, by the access log."""
    text = access_log.read_text() if access_log.exists() else ""
    return {int(m[1]) for m in map(ACCESS_LINE.fullmatch, text.splitlines())
            if m and m[2] == "200" and m[3] == "GET" and m[4] == path}


def lease_holders(db: Database) -> list[tuple[str, str]]:
    with db.uow() as s:
        return [tuple(row) for row in s.execute(select(SchedulerLease.name, SchedulerLease.holder))]


def test_gunicorn_web_workers_and_one_scheduler_worker(pg_db: Database, tmp_path):
    with pg_db.uow() as s:
        create_user(s, USER, "admin", password=PASSWORD)
    env = {**os.environ, "CITYOPS_DATABASE_URL": str(pg_db.url), "CITYOPS_SECRET_KEY": secrets.token_hex(16),
           "CITYOPS_REPORTS_DIR": str(tmp_path / "reports"), "CITYOPS_UPLOADS_DIR": str(tmp_path / "uploads")}
    # No demo mode, and no MQTT feed: the feed's client id is one per deployment (CITYOPS_MQTT_CLIENT_ID), so a
    # test must not take it over from a CityOps running against this machine's broker.
    for name in ("CITYOPS_MQTT_URL", "CITYOPS_DEMO"):
        env.pop(name, None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    access_log = tmp_path / "access.log"

    with Processes(tmp_path, env) as procs:
        web = procs.start("gunicorn", *gunicorn_args(f"127.0.0.1:{port}", 2, "--access-logfile", str(access_log),
                                                     "--access-logformat", ACCESS_FORMAT, "--no-control-socket"))
        token_cli = procs.start("token", "app.py", "users", "token", USER, pipe=True)

        def until(condition: Callable[[], object], what: str) -> None:
            procs.until(condition, what, ignore=("token",))

        until(lambda: healthz(base) is not None, "gunicorn does not answer /healthz")
        assert healthz(base) == {"status": "ok", "db": "ok", "scheduler": "absent"}

        # A browser session signed in by one worker, used concurrently until both workers have served it.
        login = requests.post(f"{base}/login", data={"username": USER, "password": PASSWORD},
                              allow_redirects=False, timeout=10)
        assert login.status_code == 302, login.text
        cookies = login.cookies.get_dict()
        assert requests.get(f"{base}/api/v1/kpi", timeout=10).status_code == 401

        def kpi_calls() -> set[int]:
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda _: requests.get(f"{base}/api/v1/kpi", cookies=cookies, timeout=30),
                                        range(16)))
            refused = [a for a in answers if a.status_code != 200]
            assert not refused, f"{refused[0].status_code} {refused[0].text}"
            return served_by(access_log, "/api/v1/kpi")

        until(lambda: len(kpi_calls()) == 2, "the session's requests were not served by both web workers")
        assert served_by(access_log, "/api/v1/kpi") == children(web.pid)
        # Both web workers are up and serving: had either started a scheduler, it would hold the free lease.
        assert healthz(base) == {"status": "ok", "db": "ok", "scheduler": "absent"}
        assert lease_holders(pg_db) == []

        worker = procs.start("worker", "app.py", "worker")
        out, _ = token_cli.communicate(timeout=60)
        assert token_cli.returncode == 0, out
        token = out.strip().splitlines()[-1]
        answer = requests.get(f"{base}/api/v1/kpi", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert "closure_rate" in answer.json()

        until(lambda: (healthz(base) or {}).get("scheduler") == "running", "the worker took no lease")
        holders = lease_holders(pg_db)
        assert len(holders) == 1 and holders[0][0] == LEASE_NAME, holders
        assert holders[0][1].split(":")[-2] == str(worker.pid)  # host:pid:nonce of `python app.py worker`
        assert len(children(web.pid)) == 2
    assert worker.returncode == 0, procs.logs()
    assert lease_holders(pg_db) == []  # the worker gave the lease up as it stopped on SIGTERM
