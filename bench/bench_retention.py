"""Retention of one day of readings on PostgreSQL (issue 8): folding the day with the rollup job's one
INSERT … SELECT and dropping its partition, against the batch path (fold in Python, DELETE by id in
batches of 50,000) on the same rows. Prints seconds.

    .venv/bin/python bench/bench_retention.py [--rows 2000000] [--sensors 2000]

Runs in a schema of its own in CITYOPS_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test), dropped after.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select, text

from alerts.engine import CURSOR_KEY
from alerts.retention import DEFAULT_RETENTION, apply_retention, roll_up_new_readings, roll_up_old_readings
from data.db import Database
from data.models import JobState, Reading, ReadingRollup, Sensor
from data.partitions import day_start, ensure_partitions
from data.readings import ROLLUP_CURSOR_KEY

PG_URL = os.environ.get("CITYOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test").replace(
    "postgresql://", "postgresql+psycopg://", 1)
NOW = datetime.now(UTC)
DAY_START = day_start(NOW - timedelta(days=40))


def fill(db: Database, rows: int, sensors: int) -> int:
    """``rows`` readings of ``sensors`` sensors spread over DAY_START's day; the engine has evaluated them all.
    Returns the id before the first of them."""
    with db.uow() as s:
        ensure_partitions(s, [DAY_START])
        before = s.scalar(select(func.coalesce(func.max(Reading.id), 0)))
        per_sensor = rows // sensors
        s.execute(text(
            "INSERT INTO readings (sensor_id, ts, value, received_at) "
            "SELECT 'B-' || (i % :n), :day + (i / :n) * (:step * interval '1 second'), random() * 100, :day "
            "FROM generate_series(0, :rows - 1) i"
        ), {"n": sensors, "day": DAY_START, "step": 86400 / per_sensor, "rows": per_sensor * sensors})
        last = s.scalar(select(func.max(Reading.id)))
        s.merge(JobState(key=CURSOR_KEY, value={"reading_id": last}))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE readings"))
    return before


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--sensors", type=int, default=2_000)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        db.migrate()
        with db.uow() as s:
            s.add_all(Sensor(id=f"B-{i}", kind="ph", family="water", name=f"B-{i}", unit="", lon=117.0, lat=36.6)
                      for i in range(args.sensors))
        print(f"{args.rows:,} readings of {args.sensors:,} sensors in the day of {DAY_START:%Y-%m-%d} (40 days old)")

        fill(db, args.rows, args.sensors)

        def fold() -> None:
            while True:
                with db.uow() as s:
                    if roll_up_new_readings(s)["readings"] == 0:
                        return

        def drop() -> None:
            with db.uow() as s:
                assert apply_retention(s, NOW)["partitions"] == 1

        print(f"partition path: rollup job (INSERT … SELECT … ON CONFLICT) {timed(fold):7.2f} s")
        print(f"partition path: retention (DROP the day's partition)       {timed(drop):7.2f} s")
        with db.uow() as s:
            folded = s.scalar(select(func.sum(ReadingRollup.count)))
            s.execute(text("DELETE FROM reading_rollups"))

        before = fill(db, args.rows, args.sensors)
        with db.uow() as s:  # the batch path folds what it deletes: the rollup job has not seen these rows
            s.merge(JobState(key=ROLLUP_CURSOR_KEY, value={"reading_id": before}))

        def batches() -> None:
            while True:
                with db.uow() as s:
                    if roll_up_old_readings(s, NOW, keep=DEFAULT_RETENTION)["deleted"] == 0:
                        return

        print(f"batch path: fold in Python + DELETE by id (50,000 a batch)  {timed(batches):7.2f} s")
        with db.uow() as s:
            assert s.scalar(select(func.sum(ReadingRollup.count))) == folded == args.rows // args.sensors * args.sensors
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
