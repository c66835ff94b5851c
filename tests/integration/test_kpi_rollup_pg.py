"""Daily KPI rollups on the real PostgreSQL 15 (issue 21): its triggers are its own (plpgsql, statement
triggers with transition tables), so the property test of tests/unit/test_kpi_rollup.py runs here too; a
write, a bulk insert and a TRUNCATE drop the rows they could change; and a roll waits for an incident
write in flight, then counts it."""

from __future__ import annotations

import threading
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from sqlalchemy import insert, select, text, update

from data.models import Incident, KpiDaily
from dispatch.kpi import day_start, kpi_snapshot, local_day
from dispatch.kpi_rollup import roll_days, roll_job, triggers_present
from tests.unit.test_kpi_rollup import DAY, _at, _incident, check, prepare, scenarios


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_a_snapshot_helped_by_the_rollups_has_exactly_the_raw_figures_on_postgresql(pg_db, scenario):
    prepare(pg_db)
    check(pg_db, scenario)


def _days(db) -> set:
    with db.uow() as s:
        return {local_day(d) for d in s.scalars(select(KpiDaily.day_start))}


def test_writes_drop_the_rows_they_could_change_on_postgresql(pg_db):
    prepare(pg_db)
    now = _at(DAY + timedelta(days=200))
    with pg_db.uow() as s:
        assert triggers_present(s)
        s.execute(insert(Incident), [_incident(1, _at(DAY)), _incident(2, _at(DAY + timedelta(days=80)))])
        roll_days(s, DAY - timedelta(days=2), DAY + timedelta(days=90), now)
    assert len(_days(pg_db)) == 93
    with pg_db.uow() as s:
        s.execute(update(Incident).where(Incident.id == 1).values(state="dispatched"))
    kept = _days(pg_db)
    assert DAY not in kept and DAY + timedelta(days=30) not in kept
    assert DAY - timedelta(days=1) in kept and DAY + timedelta(days=34) in kept
    with pg_db.uow() as s:  # one statement, many rows: one DELETE for all
        s.execute(insert(Incident), [_incident(10 + i, _at(DAY + timedelta(days=60 + i))) for i in range(3)])
    kept = _days(pg_db)
    assert DAY + timedelta(days=60) not in kept and DAY + timedelta(days=59) in kept
    with pg_db.uow() as s:
        s.execute(text("TRUNCATE incidents CASCADE"))
    assert _days(pg_db) == set()


def test_a_roll_waits_for_an_incident_write_in_flight_and_counts_it(pg_db):
    prepare(pg_db)
    now = _at(DAY + timedelta(days=30))
    start, end = day_start(DAY), day_start(DAY + timedelta(days=1))
    with pg_db.uow() as s:
        s.execute(insert(Incident), [_incident(1, _at(DAY), source="patrol")])
    writer = pg_db.engine.connect()
    writer.begin()
    writer.execute(update(Incident).where(Incident.id == 1).values(source="video"))  # not committed yet
    done = threading.Event()

    def roll() -> None:
        with pg_db.uow() as s:
            roll_job(s, now)
        done.set()

    thread = threading.Thread(target=roll)
    thread.start()
    assert not done.wait(1.0)  # the roll waits for the write
    writer.commit()
    writer.close()
    thread.join(30)
    assert done.is_set()
    with pg_db.uow() as s:
        assert s.scalar(select(KpiDaily.day_start).where(KpiDaily.day_start == start)) is not None
        assert kpi_snapshot(s, start, end, now=now)["by_source"]["video"] == 1
        assert kpi_snapshot(s, start, end, now=now) == kpi_snapshot(s, start, end, now=now, rollups=False)
