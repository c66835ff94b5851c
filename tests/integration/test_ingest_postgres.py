"""Reading ingestion on PostgreSQL (issue 21: COPY into a staging table, then INSERT … SELECT … ON CONFLICT):
the same contract as on SQLite — every test of ``tests/unit/test_ingest.py`` runs here against a real,
day-partitioned ``readings`` — and what only this path can get wrong: the per-connection staging table
across batches, transactions and rollbacks, and the columns it fills."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from alerts.ingest import ingest_readings
from data.models import Reading, Sensor
from tests.unit.test_ingest import *  # noqa: F403 — the SQLite contract tests, collected again here
from tests.unit.test_ingest import NOW, row, stored


@pytest.fixture
def session(pg_db):
    """A session on a migrated PostgreSQL schema that commits at the end of the test."""
    with pg_db.uow() as s:
        yield s


def test_two_batches_in_one_transaction_do_not_see_each_others_staged_rows(session, sensors):
    first = ingest_readings(session, [row(0.30, ts=NOW - timedelta(seconds=i)) for i in range(5)], now=NOW)
    second = ingest_readings(session, [row(0.40, sensor_id="GAS-P-0002")], now=NOW)
    assert (first.accepted, second.accepted, second.duplicates) == (5, 1, 0)
    assert stored(session) == 6


def test_a_batch_after_a_rolled_back_one_on_the_same_connection_is_stored(pg_db):
    with pg_db.uow() as s:
        s.add(Sensor(id="PG-1", kind="gas_pressure", family="gas", name="pg", unit="MPa", lon=120.0, lat=30.0))
    with pytest.raises(RuntimeError), pg_db.uow() as s:  # the staging table made here is rolled back with it
        assert ingest_readings(s, [{"sensor_id": "PG-1", "ts": NOW.isoformat(), "value": 1.0}], now=NOW).accepted == 1
        raise RuntimeError("the request failed after ingesting")
    with pg_db.uow() as s:
        again = ingest_readings(s, [{"sensor_id": "PG-1", "ts": NOW.isoformat(), "value": 2.0}], now=NOW)
        assert (again.accepted, again.duplicates) == (1, 0)
    with pg_db.uow() as s:
        assert s.scalars(select(Reading.value)).all() == [2.0]
        assert s.get(Sensor, "PG-1").last_value == 2.0
        # The staging table is emptied at commit: nothing from the batches is left in it.
        assert s.execute(text("SELECT count(*) FROM cityops_ingest_staging")).scalar() == 0


def test_received_at_and_the_simulated_flag_are_stored_with_each_reading(session, sensors):
    ingest_readings(session, [row(0.30)], now=NOW)
    ingest_readings(session, [row(0.31, ts=NOW - timedelta(seconds=1))], now=NOW + timedelta(seconds=3),
                    simulated=True)
    got = session.execute(select(Reading.value, Reading.received_at, Reading.simulated).order_by(Reading.ts)).all()
    assert [tuple(r) for r in got] == [(0.31, NOW + timedelta(seconds=3), True), (0.30, NOW, False)]


def test_the_newest_reading_of_a_batch_in_any_order_sets_last_value_for_many_sensors(session, sensors):
    rows = [row(float(i), sensor_id=f"GAS-P-000{1 + i % 2}", ts=NOW - timedelta(seconds=100 - i)) for i in range(100)]
    rows.reverse()
    assert ingest_readings(session, rows, now=NOW).accepted == 100
    session.expire_all()
    assert [(s.id, s.last_value, s.last_ts) for s in session.scalars(select(Sensor).order_by(Sensor.id))] == [
        ("GAS-P-0001", 98.0, NOW - timedelta(seconds=2)), ("GAS-P-0002", 99.0, NOW - timedelta(seconds=1))]
