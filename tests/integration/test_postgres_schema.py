"""The Alembic migration builds the whole schema on the real PostgreSQL 15 and the model round-trips."""

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from data.models import Base, Reading, Sensor


def test_migration_creates_every_table_on_postgres(pg_db):
    assert pg_db.engine.dialect.name == "postgresql"
    tables = set(inspect(pg_db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_times_are_stored_in_utc_and_read_back_aware(pg_db):
    shanghai = timezone(timedelta(hours=8))
    with pg_db.uow() as s:
        s.add(Sensor(id="S1", kind="gas_pressure", family="gas", name="s", unit="MPa", lon=117.0, lat=36.6))
        s.flush()
        s.add(Reading(sensor_id="S1", ts=datetime(2026, 11, 22, 8, 0, tzinfo=shanghai), value=0.3))
    with pg_db.uow() as s:
        reading = s.scalar(select(Reading))
        assert reading.ts == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
        assert reading.ts.tzinfo is not None


def test_reading_sensor_ts_is_unique_on_postgres(pg_db):
    ts = datetime(2026, 11, 22, tzinfo=UTC)
    with pg_db.uow() as s:
        s.add(Sensor(id="S1", kind="gas_pressure", family="gas", name="s", unit="MPa", lon=117.0, lat=36.6))
        s.flush()
        s.add(Reading(sensor_id="S1", ts=ts, value=0.3))
    try:
        with pg_db.uow() as s:
            s.add(Reading(sensor_id="S1", ts=ts, value=0.4))
        raise AssertionError("a second reading at the same (sensor, ts) was stored")
    except IntegrityError:
        pass


def test_the_migrated_postgres_schema_matches_the_model(pg_db):
    from tests.unit.test_migrations import schema_drift

    assert schema_drift(pg_db) == []
