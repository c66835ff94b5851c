"""Daily KPI rollups (issue 21): writing the ``kpi_daily`` rows that ``dispatch.kpi.kpi_snapshot`` sums
instead of aggregating a whole year of incidents.

A row holds a local day's sums as of the moment it was rolled (``dispatch.kpi.daily_sums``: the snapshot's
own aggregate query grouped by day) and ``max_time``, the latest time of the day's incidents that the
figures compare with their "as of" moment. A row is *ready* when ``max_time`` had passed when it was
rolled; only a ready row is ever used (``dispatch.kpi.usable`` then checks that ``max_time`` has happened
as of the snapshot too). A day not yet ready is stored all the same, with its ``max_time``, so that the
job comes back to it only once that moment has passed. Triggers on ``incidents`` (migration 0029) delete
the rows a write to an incident could change; the job writes them again.

Concurrency: a row must not be computed from incidents that change before it is stored. On PostgreSQL the
roll takes ``LOCK TABLE incidents IN SHARE MODE`` first (incident writes wait for the few milliseconds a
day takes; those in flight commit first, and READ COMMITTED then reads them); on SQLite the roll's first
statement is a write, so it holds the database's one write lock from the start.

``roll_job`` is the scheduler job (``kpi_rollup``, every ``ROLL_S`` seconds): it rolls the days that have
no ready row, oldest first, at most ``DAYS_PER_RUN`` a run; ``roll_days`` rolls any days at once (the
benchmark, tests, a backfill).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, func, insert, or_, select, text
from sqlalchemy.orm import Session

from data.models import Incident, KpiDaily
from dispatch.kpi import (
    ONE_DAY,
    calendar_key,
    counted_incidents,
    daily_sums,
    day_start,
    local_day,
    measure_labels,
    ready_row,
    usable,
)
from dispatch.working_hours import load_calendar

#: How often the scheduler runs ``roll_job``.
ROLL_S = 300.0
#: Days rolled at most per run of the job: incident writes wait while it rolls (a day ≈ 15–30 ms at a million
#: incidents on this busy 2-core machine; a two-year backfill takes a few hours of runs, or one ``roll_days``).
DAYS_PER_RUN = 14
#: The triggers of migration 0029 are named with this prefix.
TRIGGER_PREFIX = "kpi_daily_forget"


def triggers_present(session: Session) -> bool:
    """Whether the triggers that keep the rows true are on ``incidents`` (a batch alteration of the table on
    SQLite would drop them)."""
    if session.get_bind().dialect.name == "sqlite":
        found = session.scalar(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                                    "AND tbl_name = 'incidents' AND name LIKE :prefix"),
                               {"prefix": f"{TRIGGER_PREFIX}%"})
        return found == 3
    found = session.scalar(text("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'incidents'::regclass "
                                "AND tgname LIKE :prefix"), {"prefix": f"{TRIGGER_PREFIX}%"})
    return found == 4


def roll_days(session: Session, first: date, last: date, now: datetime) -> int:
    """Write the rows of the local days ``first``..``last`` as of ``now`` (replacing any); returns how many
    are ready (usable once their ``max_time`` has happened for a snapshot)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE incidents IN SHARE MODE"))
    # On SQLite this first write takes the write lock: no incident changes until the rows are stored.
    session.execute(delete(KpiDaily).where(KpiDaily.day_start < day_start(last + ONE_DAY),
                                           KpiDaily.day_end > day_start(first)))
    key = calendar_key(load_calendar(session))
    days = daily_sums(session, first, last, now)
    session.execute(insert(KpiDaily), [
        {"day_start": day.start, "day_end": day.end, "rolled_at": now, "max_time": day.max_time,
         "calendar_key": key, "sums": day.sums} for day in days])
    return sum(usable(day.max_time, now, now) for day in days)


def _due_days(session: Session, now: datetime) -> list[date]:
    """The days from the first counted incident's to yesterday without a ready row that could be used (none,
    of another calendar, or not ready when rolled but ready now), oldest first."""
    first_reported = session.scalar(select(func.min(Incident.reported_at)).where(*counted_incidents()))
    if first_reported is None:
        return []
    first, last = local_day(first_reported), local_day(now) - ONE_DAY
    key, labels = calendar_key(load_calendar(session)), measure_labels(session)
    # a ready row of this calendar and formula, or a row of this calendar not ready and not due yet
    fine = {row.day_start for row in session.execute(
        select(KpiDaily.day_start, KpiDaily.sums).where(
            KpiDaily.day_end > day_start(first), KpiDaily.calendar_key == key,
            or_(ready_row(), KpiDaily.max_time >= now)))
        if labels <= row.sums.keys()}
    due = []
    day = first
    while day <= last and len(due) < DAYS_PER_RUN:
        if day_start(day) not in fine:
            due.append(day)
        day += ONE_DAY
    return due


def roll_job(session: Session, now: datetime) -> int:
    """The scheduler job: roll the due days (``_due_days``), each run of consecutive ones at once; returns the
    ready rows written. Without the triggers no row can be trusted: it deletes them all and rolls nothing."""
    if not triggers_present(session):
        session.execute(delete(KpiDaily))
        return 0
    due = _due_days(session, now)
    ready = 0
    while due:
        run = [due.pop(0)]
        while due and due[0] == run[-1] + ONE_DAY:
            run.append(due.pop(0))
        ready += roll_days(session, run[0], run[-1], now)
    return ready
