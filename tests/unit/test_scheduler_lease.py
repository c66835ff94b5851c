"""The scheduler lease: one scheduler at a time runs jobs; /healthz status; clean start and stop."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from alerts import scheduler as scheduler_module
from alerts.scheduler import (
    LEASE_TTL,
    SchedulerHandle,
    acquire_lease,
    release_lease,
    run_worker,
    scheduler_status,
    start_scheduler,
)
from alerts.simulator import Simulator
from app import scheduled_jobs
from data.models import JobState, Reading, SchedulerLease, Sensor

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def status(db, now):
    with db.uow() as s:
        return scheduler_status(s, now)


def test_status_is_absent_without_a_lease_running_while_fresh_and_stale_once_expired(db):
    assert status(db, T0) == "absent"
    with db.uow() as s:
        assert acquire_lease(s, "a", T0)
    assert status(db, T0 + LEASE_TTL - timedelta(seconds=1)) == "running"
    assert status(db, T0 + LEASE_TTL + timedelta(seconds=1)) == "stale"
    with db.uow() as s:
        release_lease(s, "a")
    assert status(db, T0) == "absent"


def test_only_one_of_two_schedulers_holds_the_lease_until_it_expires(db):
    with db.uow() as s:
        assert acquire_lease(s, "a", T0)
        assert not acquire_lease(s, "b", T0 + timedelta(seconds=5))
        assert acquire_lease(s, "a", T0 + timedelta(seconds=10))  # renewal pushes expiry on
        assert not acquire_lease(s, "b", T0 + timedelta(seconds=35))
        assert acquire_lease(s, "b", T0 + timedelta(seconds=41))  # a stopped renewing: b takes over
        assert not acquire_lease(s, "a", T0 + timedelta(seconds=42))
        assert s.scalar(select(func.count()).select_from(SchedulerLease)) == 1
        assert s.get(SchedulerLease, "scheduler").holder == "b"


def test_a_scheduler_without_the_lease_runs_no_job(db):
    a = SchedulerHandle(db, "a", simulator=None)
    b = SchedulerHandle(db, "b", simulator=None)
    now = datetime.now(UTC)
    assert a.heartbeat(now) and a.is_leader
    assert not b.heartbeat(now) and not b.is_leader
    assert b.run_job("evaluate", now) is False
    assert a.run_job("evaluate", now) is True
    with db.uow() as s:
        assert s.get(JobState, "alerts.cursor") is not None  # the evaluate job ran for a only

    # a stalls past its lease: b takes it, and a — though it still trusts its lease locally — is refused.
    later = now + LEASE_TTL + timedelta(seconds=1)
    assert b.heartbeat(later) and b.is_leader
    assert a.run_job("evaluate", later) is False
    assert not a.is_leader
    assert a.heartbeat(later) is False


def test_start_registers_the_jobs_runs_them_one_at_a_time_and_shutdown_gives_the_lease_up(db):
    handle = start_scheduler(db, simulator=True, holder="web-1", jobs=scheduled_jobs())
    try:
        assert handle.is_leader and status(db, datetime.now(UTC)) == "running"
        jobs = {job.id: job for job in handle.scheduler.get_jobs()}
        assert set(jobs) == {"lease", "evaluate", "simulate", "sweep", "rules", "retention", "rollups", "partitions",
                             "outbox", "camera_probe", "emergency_live", "kpi_rollup"}
        assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
        assert jobs["lease"].executor == "lease" and jobs["evaluate"].executor == "default"
        assert jobs["camera_probe"].executor == "probe"  # network-bound rounds do not hold up the others
        second = start_scheduler(db, simulator=False, holder="web-2")
        try:
            assert not second.is_leader and "simulate" not in {job.id for job in second.scheduler.get_jobs()}
        finally:
            second.shutdown()
        assert status(db, datetime.now(UTC)) == "running"  # the second did not take or drop it
    finally:
        handle.shutdown()
    assert status(db, datetime.now(UTC)) == "absent"
    assert not handle.scheduler.running


def test_the_simulate_job_writes_readings_through_one_unit_of_work(db):
    with db.uow() as s:
        s.add(Sensor(id="GAS-P-0001", kind="gas_pressure", family="gas", name="g", unit="MPa", lon=0, lat=0,
                     simulated=True))
    handle = SchedulerHandle(db, "a", simulator=Simulator(seed=1))
    handle.heartbeat()
    assert handle.run_job("simulate")
    with db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == 1


def test_run_worker_stops_cleanly_on_sigterm(db, monkeypatch):
    started = []
    real_start = scheduler_module.start_scheduler

    def start_then_get_terminated(*args, **kwargs):
        handle = real_start(*args, **kwargs)
        started.append(handle)
        # Signal handlers are in place by now; deliver SIGTERM from another thread, as `kill` would.
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return handle

    monkeypatch.setattr(scheduler_module, "start_scheduler", start_then_get_terminated)
    previous = signal.getsignal(signal.SIGTERM)
    run_worker(db)
    assert started and started[0].is_leader is False and not started[0].scheduler.running
    assert status(db, datetime.now(UTC)) == "absent"
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_daily_job_runs_at_the_configured_local_hour_on_the_lease_holder_only(db, monkeypatch):
    monkeypatch.setenv("CITYOPS_DAILY_REPORT_HOUR", "8")
    monkeypatch.setenv("CITYOPS_TZ", "Asia/Shanghai")
    from settings import get_settings

    get_settings.cache_clear()
    runs: list[tuple[object, datetime]] = []
    handle = start_scheduler(db, simulator=False, holder="web-1",
                             daily={"daily_report": lambda d, at: runs.append((d, at))})
    other = SchedulerHandle(db, "web-2", simulator=None)
    other.add_daily_job("daily_report", lambda d, at: runs.append(("other", at)), hour=8)
    try:
        job = handle.scheduler.get_job("daily_report")
        assert job.max_instances == 1 and job.coalesce
        # the next run is 08:00 in Shanghai (00:00 UTC), whatever the time now
        fire = job.next_run_time.astimezone(get_settings().zone)
        assert (fire.hour, fire.minute, fire.second) == (8, 0, 0)
        assert handle.run_daily_job("daily_report", T0) is True
        other.heartbeat()
        assert other.run_daily_job("daily_report") is False
    finally:
        handle.shutdown()
    assert runs == [(db, T0)]
