"""The scheduler: rule evaluation (with the stale-sensor sweep), the demo feed, rule-file reloading, the
hourly rollups and retention of raw readings, camera health and the MQTT feed, guarded by a database lease;
plus the periodic jobs the composition root adds (``app.scheduled_jobs``: the overdue-card sweep, the
notification outbox, the partitions of readings) and the daily ones (the briefing).

APScheduler job stores cannot be shared between processes, so exactly one scheduler may run jobs: the
one holding the ``scheduler_lease`` row. Every scheduler renews or tries to take the lease on a
heartbeat; one that does not hold it runs no jobs (and keeps no MQTT session: the feed's client id is
fixed, so it follows the lease). Each job is one unit of work (``db.uow()``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from alerts.camera_probe import probe_job_for
from alerts.engine import EngineMemory, evaluate_pending
from alerts.ingest import dialect_insert
from alerts.mqtt import FeedGroup, MqttFeed, start_feeds
from alerts.retention import apply_retention, roll_up_new_readings
from alerts.rules_loader import RULES_FOLDER, sync_rule_files
from alerts.simulator import Simulator, simulate_tick
from data.db import Database
from data.models import SchedulerLease, utcnow
from settings import get_settings

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_TTL = timedelta(seconds=30)
#: Renew well within the TTL so one slow renewal does not lose the lease.
HEARTBEAT_S = 10.0
RULES_S = 30.0
RETENTION_S = 3600.0
#: Readings wait at most this long to reach the hourly rollups that charts longer than a day read.
ROLLUPS_S = 300.0
#: This process stops trusting its lease this long before the lease expires in the database.
_SAFETY_MARGIN_S = 5.0

STATUS_RUNNING = "running"
STATUS_STALE = "stale"
STATUS_ABSENT = "absent"

_lease = SchedulerLease.__table__


def default_holder() -> str:
    """An id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(session: Session, holder: str, now: datetime, *, ttl: timedelta = LEASE_TTL) -> bool:
    """Take or renew the lease for ``holder``; False while another holder's lease is unexpired."""
    values = {"holder": holder, "heartbeat_at": now, "expires_at": now + ttl}
    # RETURNING rather than rowcount, which drivers may leave at -1 (psycopg does for ON CONFLICT).
    renewed = session.execute(
        update(_lease)
        .where(_lease.c.name == LEASE_NAME, or_(_lease.c.holder == holder, _lease.c.expires_at <= now))
        .values(**values)
        .returning(_lease.c.name)
    ).first()
    if renewed is not None:
        return True
    inserted = session.execute(
        dialect_insert(session, _lease)
        .values(name=LEASE_NAME, **values)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(_lease.c.name)
    ).first()
    return inserted is not None


def holds_lease(session: Session, holder: str, now: datetime) -> bool:
    """Whether ``holder`` holds an unexpired lease."""
    row = session.execute(
        select(_lease.c.holder, _lease.c.expires_at).where(_lease.c.name == LEASE_NAME)
    ).one_or_none()
    return row is not None and row.holder == holder and row.expires_at > now


def release_lease(session: Session, holder: str) -> None:
    """Give the lease up (if ``holder`` has it) so another scheduler can take over at once."""
    session.execute(delete(_lease).where(_lease.c.name == LEASE_NAME, _lease.c.holder == holder))


def scheduler_status(session: Session, now: datetime | None = None) -> str:
    """For /healthz: ``running`` (lease held and fresh), ``stale`` (lease expired) or ``absent`` (none)."""
    now = now or utcnow()
    expires_at = session.scalar(select(_lease.c.expires_at).where(_lease.c.name == LEASE_NAME))
    if expires_at is None:
        return STATUS_ABSENT
    return STATUS_RUNNING if expires_at > now else STATUS_STALE


Job = Callable[[Session, datetime], object]
#: A job that opens its own units of work (e.g. writing the daily report files).
DailyJob = Callable[[Database, datetime], object]


class SchedulerHandle:
    """A BackgroundScheduler whose work jobs run only while this process holds the lease."""

    def __init__(
        self, db: Database, holder: str, *, simulator: Simulator | None, mqtt_url: str | None = None,
        jobs: Mapping[str, tuple[float, Job]] | None = None,
    ) -> None:
        self.db = db
        self.holder = holder
        self.simulator = simulator
        settings = get_settings()
        self.retention = timedelta(days=settings.retention_days)
        self.mqtt_url = mqtt_url
        self.mqtt_client_id = settings.mqtt_client_id
        self.mqtt_feeds = settings.mqtt_feeds
        self.feed: MqttFeed | FeedGroup | None = None
        self._rule_files: tuple = ()
        #: The evaluator's state, kept from one evaluate job to the next (checked against the cursor each run).
        self.engine_memory = EngineMemory()
        self.intervals: dict[str, float] = {
            "evaluate": settings.evaluate_interval_s, "rules": RULES_S, "retention": RETENTION_S,
            "rollups": ROLLUPS_S,
        }
        self.jobs: dict[str, Job] = {
            "evaluate": lambda session, now: evaluate_pending(session, now=now, memory=self.engine_memory),
            "rules": self.reload_rules,
            "retention": lambda session, now: apply_retention(session, now, keep=self.retention),
            # PostgreSQL only (a no-op on SQLite): fold new readings into hourly rollups.
            "rollups": lambda session, now: roll_up_new_readings(session),
            "camera_probe": probe_job_for(settings).run,
        }
        for name, (seconds, job) in (jobs or {}).items():  # the composition root's jobs (app.scheduled_jobs)
            self.intervals[name], self.jobs[name] = seconds, job
        self.intervals["camera_probe"] = settings.camera_probe_seconds
        if simulator is not None:
            interval = settings.simulator_interval_s
            self.intervals["simulate"] = interval
            self.jobs["simulate"] = lambda session, now: simulate_tick(
                session, now, simulator=simulator, interval_s=interval
            )
        self.daily_jobs: dict[str, DailyJob] = {}
        self._trusted_until = 0.0  # time.monotonic() deadline of the lease as this process knows it
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            # Work jobs share one thread so they never contend with each other for the database; the
            # heartbeat has its own so a long evaluation cannot cost the lease.
            # camera health (network-bound, up to minutes a round) has its own thread too.
            executors={"default": ThreadPoolExecutor(1), "lease": ThreadPoolExecutor(1),
                       "probe": ThreadPoolExecutor(1)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 30},
        )
        self.scheduler.add_job(self.heartbeat, "interval", seconds=HEARTBEAT_S, id="lease", executor="lease")
        for name, seconds in self.intervals.items():
            self.scheduler.add_job(self.run_job, "interval", seconds=seconds, id=name, args=[name],
                                   executor="probe" if name == "camera_probe" else "default")

    @property
    def is_leader(self) -> bool:
        """Whether this process believes it holds the lease (jobs re-check it in the database)."""
        return time.monotonic() < self._trusted_until

    def heartbeat(self, now: datetime | None = None) -> bool:
        """Renew or try to take the lease; returns whether this process holds it."""
        asked_at = time.monotonic()
        was_leader = self.is_leader
        try:
            with self.db.uow() as session:
                held = acquire_lease(session, self.holder, now or utcnow())
        except SQLAlchemyError:
            log.exception("scheduler %s: cannot renew the lease", self.holder)
            held = False
        self._trusted_until = asked_at + LEASE_TTL.total_seconds() - _SAFETY_MARGIN_S if held else 0.0
        if held != was_leader:
            log.info("scheduler %s %s the lease", self.holder, "holds" if held else "does not hold")
        self._follow_lease(held)
        return held

    def _follow_lease(self, held: bool) -> None:
        """The MQTT feed (its processes, with CITYOPS_MQTT_FEEDS > 1) runs exactly while this process holds
        the lease."""
        if held and self.feed is None and self.mqtt_url:
            try:
                self.feed = start_feeds(self.db, self.mqtt_url, client_id=self.mqtt_client_id,
                                        feeds=self.mqtt_feeds)
            except ValueError:
                log.exception("scheduler %s: no MQTT feed", self.holder)
                self.mqtt_url = None
        elif not held and self.feed is not None:
            self.feed.stop()
            self.feed = None

    def reload_rules(self, session: Session, now: datetime) -> list[str] | None:
        """Load ``alerts/rules/*.yaml`` again when a file was added, removed or changed since last time."""
        signature = tuple(
            (path.name, path.stat().st_mtime_ns, path.stat().st_size)
            for path in sorted([*RULES_FOLDER.glob("*.yaml"), *RULES_FOLDER.glob("*.yml")])
        )
        if signature == self._rule_files:
            return None
        loaded = sync_rule_files(session, RULES_FOLDER)
        self._rule_files = signature
        return loaded

    def run_job(self, name: str, now: datetime | None = None) -> bool:
        """Run job ``name`` in one unit of work if this process holds the lease; returns whether it ran."""
        if not self.is_leader:
            return False
        now = now or utcnow()
        with self.db.uow() as session:
            if not holds_lease(session, self.holder, now):
                self._trusted_until = 0.0
                return False
            self.jobs[name](session, now)
        return True

    def add_daily_job(self, name: str, job: DailyJob, *, hour: int, minute: int = 0) -> None:
        """Run ``job`` every day at ``hour:minute`` local time (CITYOPS_TZ), on the lease holder only."""
        self.daily_jobs[name] = job
        self.scheduler.add_job(
            self.run_daily_job, CronTrigger(hour=hour, minute=minute, timezone=get_settings().zone),
            id=name, args=[name], misfire_grace_time=3600,
        )

    def run_daily_job(self, name: str, now: datetime | None = None) -> bool:
        """Run the daily job ``name`` if this process holds the lease; returns whether it ran."""
        if not self.is_leader:
            return False
        now = now or utcnow()
        with self.db.uow() as session:
            if not holds_lease(session, self.holder, now):
                self._trusted_until = 0.0
                return False
        self.daily_jobs[name](self.db, now)
        return True

    def start(self) -> None:
        """Take the lease if free, then start the background thread."""
        self.heartbeat()
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop the jobs (waiting for a running one), the MQTT feed, and give the lease up."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self._trusted_until = 0.0
        self._follow_lease(False)
        try:
            with self.db.uow() as session:
                release_lease(session, self.holder)
        except SQLAlchemyError:
            log.exception("scheduler %s: cannot release the lease; it expires by itself", self.holder)


def start_scheduler(
    db: Database, *, simulator: bool, holder: str | None = None, daily: Mapping[str, DailyJob] | None = None,
    jobs: Mapping[str, tuple[float, Job]] | None = None,
) -> SchedulerHandle:
    """Start the scheduler jobs (``evaluate``, ``rules``, ``retention``, ``rollups``, ``camera_probe``, ``lease``;
    ``simulate`` with ``simulator``; each of ``jobs`` (name → (seconds, job)) at its interval; each of ``daily``
    at CITYOPS_DAILY_REPORT_HOUR local time) and, while the lease is held, the MQTT feed when CITYOPS_MQTT_URL
    is set. The composition root passes ``jobs`` and ``daily`` (``app.scheduled_jobs``, ``app._daily_jobs``)."""
    settings = get_settings()
    handle = SchedulerHandle(
        db, holder or default_holder(), simulator=Simulator() if simulator else None, mqtt_url=settings.mqtt_url,
        jobs=jobs,
    )
    for name, job in (daily or {}).items():
        handle.add_daily_job(name, job, hour=settings.daily_report_hour)
    handle.start()
    return handle


def run_worker(db: Database, *, simulator: bool = False, daily: Mapping[str, DailyJob] | None = None,
               jobs: Mapping[str, tuple[float, Job]] | None = None) -> None:
    """``python app.py worker``: run the scheduler until SIGTERM or SIGINT, then stop cleanly."""
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker: %s received, stopping", signal.Signals(signum).name)
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    handle = start_scheduler(db, simulator=simulator, daily=daily, jobs=jobs)
    log.info("worker %s started (lease %s)", handle.holder, "held" if handle.is_leader else "waiting")
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        handle.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
