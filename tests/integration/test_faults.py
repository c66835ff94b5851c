"""Faults (issue 7): each test breaks one real part while the system works and then asserts that nothing
was lost and nothing was doubled.

- Mosquitto stopped and started again (same persistence file) while a sensor publishes with QoS 1.
- Every PostgreSQL connection of the app terminated: the next requests and scheduler jobs recover
  without a restart, and a write made right after the drop is stored once.
- SQLite under concurrent web writes (readings, incidents and their actions through the API) and a
  scheduler thread (simulator, evaluation, card sweep): no 500 and no "database is locked" reaches a user.

The SIGKILLed scheduler is tests/integration/test_scheduler_kill.py.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from flask.testing import FlaskClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, func, select, text

from alerts.mqtt import TOPIC_PREFIX, MqttFeed
from alerts.rules_loader import RULES_FOLDER, sync_rule_files
from alerts.rules_schema import rule_document, validate_rule
from alerts.scheduler import SchedulerHandle
from app import scheduled_jobs
from data.accounts import create_user, issue_token
from data.db import Database
from data.demo import seed_demo_city
from data.models import Alert, Category, Grid, Incident, IncidentHistory, Reading, Rule, Sensor, utcnow
from settings import Settings
from tests.integration.conftest import PG_URL, psycopg_url
from tests.integration.test_mqtt import wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
LOCKED = "database is locked"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_sensor(db: Database, prefix: str) -> str:
    """A new gas-pressure sensor; returns its id."""
    sensor_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with db.uow() as s:
        s.add(Sensor(id=sensor_id, kind="gas_pressure", family="gas", name=prefix, unit="MPa", lon=117.0, lat=36.6))
    return sensor_id


def readings_of(db: Database, sensor_id: str) -> list[tuple[datetime, float]]:
    with db.uow() as s:
        return [tuple(row) for row in s.execute(
            select(Reading.ts, Reading.value).where(Reading.sensor_id == sensor_id).order_by(Reading.ts))]


def app_client(db: Database) -> FlaskClient:
    """A test client of the real app (``create_app``) on ``db``."""
    from app import create_app

    server, _ = create_app(Settings(database_url=str(db.url), secret_key="faults"), db)
    server.testing = True
    return server.test_client()


def admin_token(db: Database) -> dict[str, str]:
    """The bearer header of a new admin."""
    with db.uow() as s:
        token = issue_token(s, create_user(s, f"faults-{uuid.uuid4().hex[:6]}", "admin"))
    return {"Authorization": f"Bearer {token}"}


# --- Mosquitto restarted while sensors publish ------------------------------------------------------


@dataclass
class Broker:
    """A private Mosquitto on a free port with a persistence file in ``folder``; stop() is a SIGTERM."""

    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {self.folder}/\npersistence_file mosquitto.db\n"
            # Above the default 1,000 so that a long outage of the subscriber drops nothing; and stay root
            # when started as root (the default would switch to the 'mosquitto' user, who cannot write here).
            "max_queued_messages 100000\nuser root\n"
        )
        log = (self.folder / "mosquitto.log").open("a")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def listening() -> bool:
            assert self.proc.poll() is None, (self.folder / "mosquitto.log").read_text()
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", self.port)) == 0

        assert wait_for(listening, 10), "mosquitto did not start"

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves its sessions and queued messages to the persistence file and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    assert Path(MOSQUITTO).exists(), "mosquitto is not installed (apt-get install -y mosquitto)"
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Broker(folder)
    broker.start()
    yield broker
    broker.stop()


class Publisher(threading.Thread):
    """A sensor gateway publishing ``count`` distinct readings with QoS 1, one every ``pace_s``.

    paho keeps every QoS 1 message until its PUBACK — published while disconnected, it is queued; in
    flight when the link drops, it is sent again (DUP) after the reconnect — so the publisher's part of
    at-least-once is paho's own queue. ``acked`` holds the message ids the broker acknowledged.
    """

    def __init__(self, port: int, sensor_id: str, count: int, start: datetime, pace_s: float) -> None:
        super().__init__(name="publisher", daemon=True)
        self.sensor_id, self.count, self.t0, self.pace_s = sensor_id, count, start, pace_s
        self.sent = 0
        self.mids: list[int] = []
        self.acked: set[int] = set()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{uuid.uuid4().hex[:8]}",
                                  clean_session=False)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def value(self, i: int) -> float:
        return round(0.25 + (i % 97) / 1000, 3)

    def run(self) -> None:
        for i in range(self.count):
            payload = {"ts": (self.t0 + timedelta(seconds=i)).isoformat(), "value": self.value(i)}
            self.mids.append(self.client.publish(TOPIC_PREFIX + self.sensor_id, json.dumps(payload), qos=1).mid)
            self.sent = i + 1
            time.sleep(self.pace_s)

    def all_acked(self) -> bool:
        return not self.is_alive() and set(self.mids) <= self.acked

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_mosquitto_restarted_while_sensors_publish_loses_and_doubles_nothing(request, engine, db, broker):
    """The broker is stopped (SIGTERM) and started again on the same persistence file in the middle of a
    stream of QoS 1 readings. Proves, for the whole path publisher (paho's queue) → Mosquitto (persistent
    session and queue of our subscriber) → MqttFeed (ack after commit) → database (unique sensor_id, ts):
    every reading is stored, each once. Not covered: a broker killed with SIGKILL (Mosquitto writes its
    persistence file only on exit and every ``autosave_interval``) or a publisher process dying with
    messages in its memory queue."""
    count = 600
    db = db if engine == "sqlite" else request.getfixturevalue("pg_db")  # PostgreSQL: readings partitioned by day
    sensor_id = add_sensor(db, "MQF")
    feed = MqttFeed(db, broker.url, client_id=f"cityops-faults-{uuid.uuid4().hex[:8]}").start()
    publisher = None
    try:
        assert feed.connected.wait(10)
        time.sleep(0.2)  # the SUBACK
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        publisher = Publisher(broker.port, sensor_id, count, t0, pace_s=0.005)
        publisher.start()
        assert wait_for(lambda: publisher.sent >= count // 4, 10)
        broker.stop()
        sent_at_stop = publisher.sent
        assert wait_for(lambda: not feed.connected.is_set(), 5), "the feed did not notice the broker stopping"
        time.sleep(0.5)  # the publisher goes on publishing into paho's queue meanwhile
        sent_at_start = publisher.sent
        broker.start()
        assert wait_for(feed.connected.is_set, 20), "the feed did not reconnect"
        assert wait_for(publisher.all_acked, 30), f"{len(set(publisher.mids) - publisher.acked)} never acknowledged"
        assert wait_for(lambda: len(readings_of(db, sensor_id)) >= count, 30)
        time.sleep(0.5)  # late redeliveries, if any, land now
    finally:
        feed.stop()
        if publisher is not None:
            publisher.close()

    assert 0 < sent_at_stop < sent_at_start < count  # the restart fell in the middle of the stream
    stored = readings_of(db, sensor_id)
    expected = [(t0 + timedelta(seconds=i), publisher.value(i)) for i in range(count)]
    assert stored == expected  # every reading once, with its value
    # What arrived beyond one message per reading were redeliveries, absorbed as duplicates.
    assert feed.counts["accepted"] == count
    assert feed.counts["messages"] - count == feed.counts["duplicates"]


# --- PostgreSQL connections dropped -----------------------------------------------------------------

FAULT_RULE = validate_rule({
    "id": "faults-gas-high",
    "name": {"zh": "故障测试", "en": "Fault test"},
    "applies_to": {"kinds": ["gas_pressure"]},
    "condition": {"type": "threshold", "op": ">", "levels": {"red": 0.45}},
    "clear": {"op": "<", "value": 0.38},
})


def terminate_backends(application_name: str) -> int:
    """Terminate every PostgreSQL backend of ``application_name`` (as an administrator would, or a
    failover); returns how many were terminated."""
    admin = create_engine(psycopg_url(PG_URL))
    try:
        with admin.begin() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = :name"
            ), {"name": application_name}).all())
    finally:
        admin.dispose()


def post_reading(client: FlaskClient, headers: dict[str, str], sensor_id: str, ts: datetime, value: float) -> dict:
    response = client.post("/api/v1/readings", headers=headers,
                           json={"readings": [{"sensor_id": sensor_id, "ts": ts.isoformat(), "value": value}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_postgres_connections_dropped_the_app_recovers_without_a_restart(pg_app_db):
    """Every connection of the app's pool is terminated by the server; the next API requests and the next
    scheduler job succeed on new connections (``pool_pre_ping``) and each write lands exactly once."""
    db, application_name = pg_app_db
    sensor_id = add_sensor(db, "PGF")
    with db.uow() as s:
        s.add(Rule(id=FAULT_RULE.id, body=rule_document(FAULT_RULE), enabled=True, source="api", updated_at=utcnow()))
    client, headers = app_client(db), admin_token(db)
    handle = SchedulerHandle(db, f"faults-{uuid.uuid4().hex[:6]}", simulator=None, jobs=scheduled_jobs())
    assert handle.heartbeat()
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=5)

    assert post_reading(client, headers, sensor_id, t0, 0.30)["accepted"] == 1
    assert client.get(f"/api/v1/sensors/{sensor_id}", headers=headers).status_code == 200

    assert terminate_backends(application_name) >= 1  # the pool's idle connections are gone
    assert post_reading(client, headers, sensor_id, t0 + timedelta(seconds=10), 0.50) == {
        "accepted": 1, "duplicates": 0, "rejected": []}
    assert client.get(f"/api/v1/sensors/{sensor_id}", headers=headers).get_json()["last_value"] == 0.50

    assert terminate_backends(application_name) >= 1
    assert handle.run_job("evaluate")  # the scheduler's next job, on a new connection
    firing = client.get("/api/v1/alerts?state=firing", headers=headers)
    assert firing.status_code == 200
    assert [(a["sensor_id"], a["value"]) for a in firing.get_json()] == [(sensor_id, 0.50)]

    assert terminate_backends(application_name) >= 1
    assert handle.heartbeat()  # the lease is renewed too
    assert [value for _, value in readings_of(db, sensor_id)] == [0.30, 0.50]
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1


# --- SQLite under concurrent web and scheduler writes ----------------------------------------------


@dataclass
class WebWriter:
    """One web client writing for a few seconds: batches of readings; incidents it reports, files and
    comments on; and comments on one incident ``shared`` with the other writers, at the version it last
    saw (so that they race: each comment is accepted once or refused with 409, never both or neither).

    Records every answer's status, the bodies of refusals, and what the server accepted."""

    client: FlaskClient
    headers: dict[str, str]
    number: int
    sensors: list[str]
    category: str
    point: tuple[float, float]
    shared: int
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    refusals: list[str] = field(default_factory=list)
    accepted_readings: int = 0
    actions: Counter[int] = field(default_factory=Counter)  # incident id → accepted actions
    error: BaseException | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.client.open(path, method=method, headers=self.headers, json=body)
        kind = "shared" if path.startswith(f"/api/v1/incidents/{self.shared}/") else method
        self.statuses[kind, response.status_code] += 1
        if response.status_code >= 300:
            self.refusals.append(response.get_data(as_text=True))
            return None
        return response.get_json()

    def readings(self, at: datetime) -> None:
        rows = [{"sensor_id": sensor, "ts": (at + timedelta(milliseconds=i)).isoformat(), "value": 0.3}
                for i, sensor in enumerate(self.sensors)]
        answer = self.call("POST", "/api/v1/readings", {"readings": rows})
        if answer is not None:
            self.accepted_readings += answer["accepted"]

    def act(self, incident: dict[str, Any], action: str) -> dict[str, Any] | None:
        done = self.call("POST", f"/api/v1/incidents/{incident['id']}/actions",
                         {"action": action, "version": incident["version"], "note": f"{action} by {self.number}"})
        if done is not None:
            self.actions[incident["id"]] += 1
        return done

    def incident(self, n: int) -> None:
        incident = self.call("POST", "/api/v1/incidents", {
            "category": self.category, "title": f"faults-{self.number}-{n}", "lon": self.point[0],
            "lat": self.point[1]})
        for action in ("file", "comment"):
            if incident is not None:
                incident = self.act(incident, action)

    def run(self, seconds: float, base: datetime) -> None:
        try:
            deadline, n = time.monotonic() + seconds, 0
            while time.monotonic() < deadline:
                self.readings(base + timedelta(minutes=n))
                self.incident(n)
                shared = self.call("GET", f"/api/v1/incidents/{self.shared}")
                self.act(shared, "comment")
                n += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


def run_scheduler(handle: SchedulerHandle, stop: threading.Event, runs: Counter[str], errors: list) -> None:
    """The scheduler's write jobs back to back (as its one job thread would, without the pauses)."""
    try:
        while not stop.is_set():
            for name in ("simulate", "evaluate", "sweep"):
                runs[name] += handle.run_job(name)
    except BaseException as exc:  # reported by the test
        errors.append(exc)


def test_sqlite_concurrent_web_and_scheduler_writes_never_reach_a_user_as_locked(db, caplog):
    """Four web clients and the scheduler write to one SQLite file at once for a few seconds. No request
    fails (no 500, no "database is locked" in any answer or log line; the only refusals are the 409s of
    the race on the shared incident) and every accepted write is stored exactly once: readings,
    incidents, and each incident's history."""
    from alerts.simulator import Simulator

    seed_demo_city(db, scale=0.02, seed=7, demo_passwords=False)
    with db.uow() as s:
        sync_rule_files(s, RULES_FOLDER)
        sensors = list(s.scalars(select(Sensor.id).order_by(Sensor.id).limit(20)))
        category = s.scalar(select(Category.code).where(Category.kind == "event").order_by(Category.code))
        grid = s.execute(select(Grid.minx, Grid.miny, Grid.maxx, Grid.maxy).limit(1)).one()
    point = ((grid.minx + grid.maxx) / 2, (grid.miny + grid.maxy) / 2)
    headers = admin_token(db)
    client = app_client(db)
    shared = client.post("/api/v1/incidents", headers=headers, json={
        "category": category, "title": "faults-shared", "lon": point[0], "lat": point[1]}).get_json()["id"]
    handle = SchedulerHandle(db, "faults-sqlite", simulator=Simulator(), jobs=scheduled_jobs())
    assert handle.heartbeat()
    base = utcnow().replace(microsecond=0) - timedelta(days=2)
    writers = [WebWriter(client, headers, n, sensors, category, point, shared) for n in range(4)]
    stop, runs, scheduler_errors = threading.Event(), Counter(), []
    caplog.set_level(logging.WARNING)
    scheduler = threading.Thread(target=run_scheduler, args=(handle, stop, runs, scheduler_errors))
    threads = [threading.Thread(target=w.run, args=(4.0, base + timedelta(hours=w.number))) for w in writers]
    for thread in (scheduler, *threads):
        thread.start()
    for thread in threads:
        thread.join(60)
    stop.set()
    scheduler.join(60)

    assert not scheduler_errors and all(w.error is None for w in writers), (
        scheduler_errors, [w.error for w in writers])
    statuses = sum((w.statuses for w in writers), Counter())
    assert {status for kind, status in statuses if kind != "shared"} <= {200, 201}, statuses
    assert {status for kind, status in statuses if kind == "shared"} <= {200, 409}, statuses
    refusals = [body for w in writers for body in w.refusals]
    assert all("stale_version" in body for body in refusals), refusals[:3]
    assert not [r.getMessage() for r in caplog.records if LOCKED in r.getMessage() or LOCKED in str(r.exc_info)]
    assert min(runs.values()) >= 3 and statuses["POST", 201] >= 8, (runs, statuses)  # both sides really worked

    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Reading).where(
            Reading.ts >= base, Reading.ts < base + timedelta(days=1))) == sum(w.accepted_readings for w in writers)
        stored = dict(s.execute(
            select(Incident.id, func.count(IncidentHistory.id))
            .join(IncidentHistory, IncidentHistory.incident_id == Incident.id)
            .where(Incident.title.like("faults-%")).group_by(Incident.id)
        ).all())
    accepted = sum((w.actions for w in writers), Counter())
    # Each incident: its creation and every accepted action, once; the incidents refused nothing.
    assert stored == {i: accepted[i] + 1 for i in stored}
    assert len(stored) == statuses["POST", 201] + 1
