"""Issue 4's tables and queries on the real PostgreSQL: silences and mutes, auto-filing, retention upserts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from alerts.retention import roll_up_old_readings
from alerts.silences import create_silence
from data.models import Reading, ReadingRollup, Sensor
from dispatch import routing
from tests.unit.test_alert_ops import HIGH, OFFLINE, S1, S2, T0, alert_of, evaluate, feed, put_rule
from tests.unit.test_dispatch_service import G1_POINT, G2_POINT, make_city


def build_city(pg_db):
    with pg_db.uow() as s:
        grids = make_city(s)
        for sensor_id, (lon, lat), grid in ((S1, G1_POINT, grids.g1), (S2, G2_POINT, grids.g2)):
            s.add(Sensor(id=sensor_id, kind="gas_pressure", family="gas", name=sensor_id, unit="MPa",
                         lon=lon, lat=lat, grid_id=grid.id))
    routing.clear_cache()
    put_rule(pg_db, HIGH)
    put_rule(pg_db, OFFLINE)


def test_silence_mutes_and_unsilenced_red_alert_files_on_postgres(pg_db):
    build_city(pg_db)
    with pg_db.uow() as s:
        create_silence(s, grid_code="G1", starts_at=T0, ends_at=T0 + timedelta(hours=1), now=T0)
    feed(pg_db, S1, [0.47])
    feed(pg_db, S2, [0.47])
    assert evaluate(pg_db, now=T0 + timedelta(minutes=1))["incidents"] == 1
    assert (alert_of(pg_db, sensor=S1).muted, alert_of(pg_db, sensor=S2).incident_id is not None) == ("silence", True)


def test_retention_upserts_rollups_on_postgres(pg_db):
    build_city(pg_db)
    old = T0 - timedelta(days=40)
    feed(pg_db, S1, [0.30, 0.32], start=old, step=600)
    evaluate(pg_db)
    with pg_db.uow() as s:
        assert roll_up_old_readings(s, T0, keep=timedelta(days=30)) == {"deleted": 2, "buckets": 1}
    feed(pg_db, S1, [0.34], start=old + timedelta(minutes=30))  # a late reading of the same hour
    evaluate(pg_db)
    with pg_db.uow() as s:
        roll_up_old_readings(s, T0, keep=timedelta(days=30))
        (rollup,) = s.scalars(select(ReadingRollup)).all()
        assert (rollup.count, rollup.min, rollup.max) == (3, 0.30, 0.34)
        assert s.scalar(select(func.count()).select_from(Reading)) == 0
