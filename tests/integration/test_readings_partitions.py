"""Readings partitioned by day on the real PostgreSQL (migration 0008, data/partitions.py): where rows
land, DEFAULT, partition maintenance, the migration from 0007 and back, the rollup job, retention by
dropping whole partitions, uniqueness and ingestion. Each test has its own schema (search_path), so
every name here is resolved in the current schema."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from alerts.engine import evaluate_pending
from alerts.ingest import ingest_readings
from alerts.retention import apply_retention, roll_up_new_readings
from alerts.scheduler import SchedulerHandle
from app import scheduled_jobs
from data.db import alembic_config
from data.models import Reading, ReadingRollup, Sensor
from data.partitions import (
    AHEAD_DAYS,
    DAY,
    DEFAULT_PARTITION,
    day_start,
    ensure_partitions,
    list_partitions,
    lock_partitions,
    maintain_partitions,
    naive_utc,
    partition_name,
)
from data.readings import rollup_cursor
from tests.integration.conftest import _schema_database
from tests.unit.test_reading_series import check_hourly_series

KEEP = timedelta(days=30)
NOW = datetime.now(UTC)
S1, S2 = "GAS-P-0001", "GAS-P-0002"


def add_sensors(db, ids=(S1, S2)):
    with db.uow() as s:
        for sensor_id in ids:
            s.add(Sensor(id=sensor_id, kind="gas_pressure", family="gas", name=sensor_id, unit="MPa",
                         lon=117.0, lat=36.6))


def sql(db, query, **params):
    with db.engine.connect() as conn:
        return conn.execute(text(query), params).all()


def put(db, *rows):
    """Store readings (sensor, ts, value) as the ORM does, whatever their ts; returns their ids."""
    with db.uow() as s:
        readings = [Reading(sensor_id=k, ts=ts, value=v) for k, ts, v in rows]
        s.add_all(readings)
        s.flush()
        return [r.id for r in readings]


def put_raw(db, *rows):
    """Store readings (sensor, ts, value) in plain SQL naming only the columns of every revision: on a
    downgraded schema (the model describes head's, whose later columns the ORM would name); returns ids."""
    with db.engine.begin() as conn:
        return [conn.execute(text("INSERT INTO readings (sensor_id, ts, value, received_at) "
                                  "VALUES (:k, :ts, :v, :ts) RETURNING id"),
                             {"k": k, "ts": naive_utc(ts), "v": v}).scalar_one() for k, ts, v in rows]


def home(db, reading_id):
    """The partition holding a reading."""
    return sql(db, "SELECT tableoid::regclass::text FROM readings WHERE id = :id", id=reading_id)[0][0]


def evaluate(db, now=NOW):
    with db.uow() as s:
        return evaluate_pending(s, now=now)["cursor"]


def roll_up(db):
    with db.uow() as s:
        return roll_up_new_readings(s)


def retain(db, now=NOW):
    with db.uow() as s:
        return apply_retention(s, now, keep=KEEP)


def partition_names(db):
    with db.engine.connect() as conn:
        return {p.name for p in list_partitions(conn)}


def make_day(db, day):
    with db.uow() as s:
        return ensure_partitions(s, [day])


def alembic(db, action, revision):
    with db.engine.begin() as connection:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        getattr(command, action)(cfg, revision)


def raw_aggregates(db, start, end):
    """(sensor, hour) → (count, min, max, total) computed from the raw readings of [start, end)."""
    rows = sql(db, "SELECT sensor_id, date_trunc('hour', ts), count(*), min(value), max(value), sum(value) "
                   "FROM readings WHERE ts >= :start AND ts < :end GROUP BY 1, 2", start=start, end=end)
    return {(k, h.replace(tzinfo=UTC)): (n, lo, hi, total) for k, h, n, lo, hi, total in rows}


def rollups(db):
    with db.uow() as s:
        return {(r.sensor_id, r.bucket): (r.count, r.min, r.max, r.total) for r in s.scalars(select(ReadingRollup))}


def assert_same_aggregates(actual, expected):
    assert actual.keys() == expected.keys()
    for key, (n, lo, hi, total) in expected.items():
        assert actual[key][:3] == (n, lo, hi), key
        assert actual[key][3] == pytest.approx(total, abs=1e-9), key


# --- layout ----------------------------------------------------------------------------------------


def test_readings_is_partitioned_by_day_with_keys_foreign_key_and_default(pg_db):
    (kind, key), = sql(pg_db, "SELECT c.relkind, pg_get_partkeydef(c.oid) FROM pg_class c "
                              "WHERE c.oid = to_regclass('readings')")
    assert (kind, key) == ("p", "RANGE (ts)")
    today = day_start(NOW)
    expected = {partition_name(today + DAY * i) for i in range(AHEAD_DAYS + 1)} | {DEFAULT_PARTITION}
    assert partition_names(pg_db) >= expected
    schema = sql(pg_db, "SELECT current_schema()")[0][0]
    homes = sql(pg_db, "SELECT DISTINCT n.nspname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.inhparent = to_regclass('readings')")
    assert homes == [(schema,)]  # made in this test's schema, not in public
    constraints = dict(sql(pg_db, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                  "WHERE conrelid = to_regclass('readings')"))
    assert constraints["readings_pkey"] == "PRIMARY KEY (id, ts)"
    assert constraints["uq_readings_sensor_ts"] == "UNIQUE (sensor_id, ts)"
    assert constraints["readings_sensor_id_fkey"] == "FOREIGN KEY (sensor_id) REFERENCES sensors(id)"
    assert sql(pg_db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                      "WHERE attrelid = to_regclass('readings') AND attname = 'id'") == [("bigint",)]
    with pytest.raises(IntegrityError):  # the foreign key holds on every partition
        put(pg_db, ("NOPE", NOW, 1.0))


def test_rows_land_in_their_days_partition_and_far_ones_in_default_without_loss(pg_db):
    add_sensors(pg_db)
    today, tomorrow = day_start(NOW), day_start(NOW) + DAY
    far_past, far_future = datetime(2001, 1, 1, tzinfo=UTC), NOW + timedelta(days=400)
    ids = put(pg_db, (S1, today.replace(tzinfo=UTC) + timedelta(hours=23, minutes=59, seconds=59), 1.0),
              (S1, tomorrow.replace(tzinfo=UTC), 2.0), (S1, far_past, 3.0), (S1, far_future, 4.0))
    assert [home(pg_db, i) for i in ids] == [
        partition_name(today), partition_name(tomorrow), DEFAULT_PARTITION, DEFAULT_PARTITION]
    with pg_db.uow() as s:
        assert s.scalars(select(Reading.value).order_by(Reading.ts)).all() == [3.0, 1.0, 2.0, 4.0]
        assert s.scalar(select(Reading.value).where(Reading.ts == far_past)) == 3.0  # pruned to DEFAULT, found


def test_maintenance_makes_partitions_ahead_once_and_moves_rows_out_of_default(pg_db):
    add_sensors(pg_db)
    later = NOW + timedelta(days=5)
    beyond = day_start(NOW) + DAY * (AHEAD_DAYS + 3)  # not made by the migration
    assert partition_name(beyond) not in partition_names(pg_db)
    stranded, ancient = put(pg_db, (S1, beyond.replace(tzinfo=UTC) + timedelta(hours=6), 5.0),
                            (S2, datetime(2001, 1, 1, tzinfo=UTC), 6.0))
    assert home(pg_db, stranded) == DEFAULT_PARTITION
    with pg_db.uow() as s:
        assert maintain_partitions(s, later, keep=KEEP) == {"created": 5, "moved": 1}
    names = partition_names(pg_db)
    assert {partition_name(day_start(later) + DAY * i) for i in range(AHEAD_DAYS + 1)} <= names
    assert home(pg_db, stranded) == partition_name(beyond)  # same id, moved
    assert home(pg_db, ancient) == DEFAULT_PARTITION  # older than the retention: left for retention
    assert sql(pg_db, "SELECT count(*) FROM readings") == [(2,)]
    with pg_db.uow() as s:
        assert maintain_partitions(s, later, keep=KEEP) == {"created": 0, "moved": 0}
    assert partition_names(pg_db) == names


def test_concurrent_maintenance_makes_each_partition_once(pg_db):
    later = NOW + timedelta(days=20)
    barrier, results, errors = threading.Barrier(3), [], []

    def run():
        try:
            with pg_db.uow() as s:
                barrier.wait()
                results.append(maintain_partitions(s, later, keep=KEEP))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(r["created"] for r in results) == [0, 0, AHEAD_DAYS + 1]
    with pg_db.engine.connect() as conn:
        days = [p for p in list_partitions(conn) if not p.is_default]
    assert len({p.start for p in days}) == len(days)


# --- migration ------------------------------------------------------------------------------------


def test_migration_from_0007_keeps_every_row_and_id_and_ids_go_on_after_the_largest(pg_db):
    add_sensors(pg_db)
    alembic(pg_db, "downgrade", "0007")
    assert sql(pg_db, "SELECT relkind FROM pg_class WHERE oid = to_regclass('readings')") == [("r",)]
    assert sql(pg_db, "SELECT to_regclass('readings_default')") == [(None,)]
    start = NOW - timedelta(days=3)
    sql_rows = [(S1 if i % 2 else S2, start + timedelta(minutes=97 * i), i / 7) for i in range(60)]
    sql_rows.append((S1, datetime(2019, 5, 4, tzinfo=UTC), -1.0))
    ids = put_raw(pg_db, *sql_rows)
    with pg_db.uow() as s:  # gaps in the ids, and a sequence that has moved past the largest id
        s.execute(text("DELETE FROM readings WHERE id % 5 = 0"))
        s.execute(text("SELECT nextval(pg_get_serial_sequence('readings', 'id')) FROM generate_series(1, 3)"))
    before = sql(pg_db, "SELECT id, sensor_id, ts, value, received_at FROM readings ORDER BY id")
    assert len(before) == 61 - len([i for i in ids if i % 5 == 0])

    alembic(pg_db, "upgrade", "head")
    assert sql(pg_db, "SELECT relkind FROM pg_class WHERE oid = to_regclass('readings')") == [("p",)]
    assert sql(pg_db, "SELECT id, sensor_id, ts, value, received_at FROM readings ORDER BY id") == before
    assert sql(pg_db, f"SELECT count(*) FROM {DEFAULT_PARTITION}") == [(0,)]  # every day got its partition
    (archive,) = sql(pg_db, "SELECT tableoid::regclass::text FROM readings WHERE ts < '2020-01-01'")
    assert archive == (partition_name(datetime(2019, 5, 4), day_start(NOW) - timedelta(days=62)),)  # one, not 2,600
    (new_id,) = put(pg_db, (S2, NOW, 9.0))
    assert new_id == max(ids) + 3 + 1

    alembic(pg_db, "downgrade", "0007")  # and back: a plain table with every row
    assert sql(pg_db, "SELECT relkind FROM pg_class WHERE oid = to_regclass('readings')") == [("r",)]
    assert sql(pg_db, "SELECT id FROM readings ORDER BY id") == [(row[0],) for row in before] + [(new_id,)]
    assert put_raw(pg_db, (S2, NOW + timedelta(seconds=1), 9.5)) == [new_id + 1]
    alembic(pg_db, "upgrade", "head")
    assert sql(pg_db, "SELECT count(*) FROM readings") == [(len(before) + 2,)]


# --- rollups and retention ------------------------------------------------------------------------


def old_day_with_readings(db):
    """A partition 40 days old holding readings of two sensors over five hours; returns its day."""
    add_sensors(db)
    day = day_start(NOW - timedelta(days=40))
    make_day(db, day)
    start = day.replace(tzinfo=UTC) + timedelta(hours=7)
    put(db, *[(S1 if i % 3 else S2, start + timedelta(minutes=4 * i), round(0.3 + ((i * 37) % 11) / 100, 2))
              for i in range(75)])
    return day


def test_retention_drops_an_expired_evaluated_rolled_up_partition_and_its_rollups_equal_the_raw_rows(pg_db):
    day = old_day_with_readings(pg_db)
    first_hour = day.replace(tzinfo=UTC) + timedelta(hours=7)
    with pg_db.uow() as s:  # an earlier fold already holds readings of the first hour
        s.add(ReadingRollup(sensor_id=S1, bucket=first_hour, count=2, min=0.1, max=0.9, total=1.0))
    put(pg_db, (S1, NOW, 0.5))  # today's partition must stay
    expected = raw_aggregates(pg_db, day, day + DAY)
    n, lo, hi, total = expected[S1, first_hour]
    expected[S1, first_hour] = (n + 2, min(lo, 0.1), max(hi, 0.9), total + 1.0)
    evaluate(pg_db)
    assert retain(pg_db)["partitions"] == 0  # evaluated, but not rolled up yet
    assert roll_up(pg_db)["readings"] == 76
    counts = retain(pg_db)
    assert counts["partitions"] == 1
    assert partition_name(day) not in partition_names(pg_db)
    assert partition_name(day_start(NOW)) in partition_names(pg_db)
    assert sql(pg_db, "SELECT count(*) FROM readings") == [(1,)]
    old = {key: value for key, value in rollups(pg_db).items() if key[1] < NOW - KEEP}
    assert_same_aggregates(old, expected)


def test_partition_work_in_another_schema_does_not_hold_up_retention_here(pg_db):
    """The partition makers' advisory lock is per schema: another CityOps database in the same PostgreSQL
    database (the integration tests run two side by side) holding it must not make retention skip here (the
    lock was database-wide, and retention under a parallel run dropped nothing now and then)."""
    day = old_day_with_readings(pg_db)
    evaluate(pg_db)
    roll_up(pg_db)
    with _schema_database() as other, other.uow() as s:
        lock_partitions(s)  # the other database is making or dropping its partitions right now
        assert retain(pg_db)["partitions"] == 1
    assert partition_name(day) not in partition_names(pg_db)


def test_a_partition_with_an_unevaluated_reading_is_not_dropped_until_it_is_evaluated(pg_db):
    day = old_day_with_readings(pg_db)
    evaluate(pg_db)
    (late,) = put(pg_db, (S2, day.replace(tzinfo=UTC) + timedelta(hours=20), 0.77))  # a late reading: id > cursor
    roll_up(pg_db)
    with pg_db.uow() as s:
        assert rollup_cursor(s) == late
    assert retain(pg_db)["partitions"] == 0
    assert partition_name(day) in partition_names(pg_db)
    assert sql(pg_db, "SELECT count(*) FROM readings") == [(76,)]
    assert evaluate(pg_db) == late
    assert retain(pg_db)["partitions"] == 1
    assert sql(pg_db, "SELECT count(*) FROM readings") == [(0,)]
    assert sum(count for count, *_ in rollups(pg_db).values()) == 76


def test_rollup_job_folds_each_reading_once_in_bounded_steps_and_retention_of_default_does_not_refold(pg_db):
    add_sensors(pg_db)
    rows = [(S1, NOW - timedelta(minutes=m), float(m)) for m in range(1, 40)]
    rows.append((S2, datetime(2001, 1, 1, 0, 30, tzinfo=UTC), 2.0))  # in DEFAULT
    put(pg_db, *rows)
    with pg_db.uow() as s:
        first = roll_up_new_readings(s, max_ids=25)
    assert first["readings"] == 25
    second = roll_up(pg_db)
    assert (second["readings"], roll_up(pg_db)["readings"]) == (15, 0)
    evaluate(pg_db)
    counts = retain(pg_db)  # deletes the DEFAULT reading, already folded: not added again
    assert (counts["deleted"], counts["buckets"]) == (1, 0)
    expected = raw_aggregates(pg_db, NOW - timedelta(days=1), NOW + timedelta(minutes=1))
    expected[S2, datetime(2001, 1, 1, tzinfo=UTC)] = (1, 2.0, 2.0, 2.0)
    assert_same_aggregates(rollups(pg_db), expected)


def test_hourly_series_merges_rollups_and_raw_readings_on_postgres(pg_db):
    check_hourly_series(pg_db, NOW, roll_up_new=roll_up_new_readings)
    with pg_db.uow() as s:
        assert rollup_cursor(s) > 0  # the recent readings were read from rollups, the last ones raw


# --- uniqueness and ingestion ------------------------------------------------------------------------


def test_sensor_ts_stays_unique_and_ingest_upserts_across_partitions(pg_db):
    add_sensors(pg_db)
    yesterday = NOW - timedelta(days=1)
    make_day(pg_db, day_start(yesterday))
    rows = [{"sensor_id": S1, "ts": ts.isoformat(), "value": v} for ts, v in ((yesterday, 0.31), (NOW, 0.33))]
    with pg_db.uow() as s:
        result = ingest_readings(s, rows, now=NOW)
    assert (result.accepted, result.duplicates) == (2, 0)
    with pg_db.uow() as s:
        again = ingest_readings(s, [*rows, {"sensor_id": S1, "ts": NOW.isoformat(), "value": 0.99},
                                    {"sensor_id": S2, "ts": NOW.isoformat(), "value": 0.4}], now=NOW)
    assert (again.accepted, again.duplicates) == (1, 3)
    with pg_db.uow() as s:
        assert s.get(Sensor, S1).last_value == 0.33
        values = dict(s.execute(select(Reading.ts, Reading.value).where(Reading.sensor_id == S1)).all())
    assert values == {yesterday: 0.31, NOW: 0.33}
    with pytest.raises(IntegrityError):
        put(pg_db, (S1, yesterday, 0.5))
    with pytest.raises(IntegrityError):  # the same (sensor, ts) in DEFAULT is refused too
        put(pg_db, (S2, datetime(2001, 1, 1, tzinfo=UTC), 1.0), (S2, datetime(2001, 1, 1, tzinfo=UTC), 2.0))
    homes = {home(pg_db, i) for (i,) in sql(pg_db, "SELECT id FROM readings")}
    assert homes == {partition_name(day_start(yesterday)), partition_name(day_start(NOW))}


def test_ids_stay_increasing_across_partitions_for_the_engine_cursor(pg_db):
    add_sensors(pg_db)
    ids = put(pg_db, (S1, NOW, 1.0), (S1, NOW - timedelta(days=1), 2.0), (S1, datetime(2001, 1, 1, tzinfo=UTC), 3.0),
              (S1, NOW - timedelta(hours=1), 4.0))
    assert ids == sorted(ids) and len(set(ids)) == 4
    with pg_db.uow() as s:
        assert evaluate_pending(s, now=NOW, batch_size=2)["readings"] == 4
    by_sensor = defaultdict(list)
    for reading_id, sensor_id in sql(pg_db, "SELECT id, sensor_id FROM readings ORDER BY id"):
        by_sensor[sensor_id].append(reading_id)
    assert by_sensor[S1] == ids


def test_the_scheduler_runs_the_partition_rollup_and_retention_jobs_on_postgres(pg_db):
    day = old_day_with_readings(pg_db)
    evaluate(pg_db)
    handle = SchedulerHandle(pg_db, "worker-1", simulator=None, jobs=scheduled_jobs())
    assert handle.heartbeat()
    later = NOW + timedelta(days=3)
    with pg_db.uow() as s:  # the job as registered (its lease check is run_job's, tested elsewhere)
        handle.jobs["partitions"](s, later)
    assert partition_name(day_start(later) + DAY * AHEAD_DAYS) in partition_names(pg_db)
    assert handle.run_job("rollups") and handle.run_job("retention")
    assert partition_name(day) not in partition_names(pg_db)
    assert sum(count for count, *_ in rollups(pg_db).values()) == 75


# --- the simulated flag (issue 13 item 6, migration 0011) -------------------------------------------


def test_the_simulated_flag_reaches_every_partition_and_survives_a_move_out_of_default(pg_db):
    add_sensors(pg_db)
    # ADD COLUMN on the parent reached DEFAULT and every daily partition: NOT NULL, measured by default.
    partitions = partition_names(pg_db)
    flags = sql(pg_db, "SELECT c.relname, a.attnotnull FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                       "WHERE a.attname = 'simulated' AND NOT a.attisdropped AND c.relname = ANY(:names)",
                names=sorted(partitions))
    assert dict(flags) == dict.fromkeys(partitions, True)

    beyond = (day_start(NOW) + DAY * (AHEAD_DAYS + 3)).replace(tzinfo=UTC)  # no partition yet: lands in DEFAULT
    later = NOW + timedelta(days=5)  # maintenance then, when that day is within its horizon
    with pg_db.uow() as s:
        assert ingest_readings(s, [{"sensor_id": S1, "ts": beyond, "value": 0.3}], now=beyond).accepted == 1
        assert ingest_readings(s, [{"sensor_id": S2, "ts": beyond, "value": 0.4}], now=beyond,
                               simulated=True).accepted == 1
    with pg_db.engine.begin() as conn:  # a bulk path that names no flag (COPY, old scripts): measured
        conn.execute(text("INSERT INTO readings (sensor_id, ts, value, received_at) VALUES (:k, :ts, 0.5, :ts)"),
                     {"k": S1, "ts": beyond + timedelta(minutes=1)})
    assert {home(pg_db, i) for (i,) in sql(pg_db, "SELECT id FROM readings")} == {DEFAULT_PARTITION}
    with pg_db.uow() as s:
        assert maintain_partitions(s, later, keep=KEEP)["moved"] == 3
    moved = sql(pg_db, "SELECT sensor_id, value, simulated, tableoid::regclass::text FROM readings ORDER BY value")
    assert moved == [(S1, 0.3, False, partition_name(day_start(beyond))),
                     (S2, 0.4, True, partition_name(day_start(beyond))),
                     (S1, 0.5, False, partition_name(day_start(beyond)))]
