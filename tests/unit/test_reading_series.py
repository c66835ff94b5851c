"""Hourly reading series (rollups ⊕ raw readings not rolled up yet) and retention's rollup bookkeeping on
SQLite; ``check_hourly_series`` is shared with the PostgreSQL tests."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from alerts.engine import evaluate_pending
from alerts.ingest import ingest_readings
from alerts.retention import apply_retention, roll_up_new_readings, roll_up_old_readings
from data.models import JobState, Reading, ReadingRollup, Sensor
from data.partitions import maintain_partitions
from data.readings import ROLLUP_CURSOR_KEY, hourly_series, rollup_cursor

S1, S2 = "WQ-0001", "WQ-0002"
KEEP = timedelta(days=30)


def add_sensors(db):
    with db.uow() as s:
        for sensor_id in (S1, S2):
            s.add(Sensor(id=sensor_id, kind="ph", family="water", name=sensor_id, unit="", lon=117.0, lat=36.6))


def ingest(db, rows, now):
    with db.uow() as s:
        result = ingest_readings(s, [{"sensor_id": k, "ts": ts, "value": v} for k, ts, v in rows], now=now)
        assert result.accepted == len(rows)


def evaluate(db, now):
    with db.uow() as s:
        return evaluate_pending(s, now=now)["cursor"]


def aggregates(rows, sensor_id, start, end):
    """The expected hourly series, straight from the readings written."""
    hours = defaultdict(list)
    for k, ts, v in rows:
        if k == sensor_id and start.replace(minute=0, second=0, microsecond=0) <= ts < end:
            hours[ts.replace(minute=0, second=0, microsecond=0)].append(v)
    return {h: (len(vs), min(vs), max(vs), round(sum(vs), 9)) for h, vs in sorted(hours.items())}


def series(db, sensor_id, start, end):
    with db.uow() as s:
        return {p.bucket: (p.count, p.min, p.max, round(p.total, 9)) for p in hourly_series(s, sensor_id, start, end)}


def check_hourly_series(db, now, *, roll_up_new):
    """Readings 40 days old (folded and deleted by retention, one late reading of an old hour still raw),
    readings of the last two days (rolled up by ``roll_up_new`` where it does anything, later ones still
    raw): the hourly series equals the aggregates of every reading written, whatever is rolled up."""
    add_sensors(db)
    old = (now - timedelta(days=40)).replace(minute=0, second=0, microsecond=0)
    recent = (now - timedelta(hours=30)).replace(minute=0, second=0, microsecond=0)
    first = [(S1, old + timedelta(minutes=10 * i), 7.0 + i / 10) for i in range(12)]  # two old hours
    first += [(S2, old + timedelta(minutes=5), 1.5)]
    first += [(S1, recent + timedelta(minutes=20 * i), 6.5 + (i % 5) / 4) for i in range(60)]  # 20 hours
    ingest(db, first, now)
    evaluate(db, now)
    with db.uow() as s:
        assert apply_retention(s, now, keep=KEEP)["deleted"] == 13
    with db.uow() as s:
        roll_up_new(s)
    late = [(S1, old + timedelta(minutes=55, seconds=30), 9.25), (S1, recent + timedelta(minutes=5), 4.0),
            (S1, now - timedelta(minutes=3), 8.0)]
    ingest(db, late, now)
    written = first + late
    start, end = now - timedelta(days=45), now + timedelta(minutes=1)
    expected = aggregates(written, S1, start, end)
    assert series(db, S1, start, end) == expected
    assert len(expected) == 2 + 20 + 1
    assert expected[old][0] == 7  # six folded readings and the late one, in one hour
    assert series(db, S2, start, end) == {old: (1, 1.5, 1.5, 1.5)}
    window = (now - timedelta(hours=24), now)  # a window that cuts into an hour starts at that hour
    assert series(db, S1, *window) == aggregates(written, S1, *window)
    return expected


def test_hourly_series_merges_rollups_and_raw_readings_on_sqlite(db):
    now = datetime.now(UTC)
    check_hourly_series(db, now, roll_up_new=roll_up_new_readings)
    with db.uow() as s:
        assert rollup_cursor(s) == 0  # SQLite has no rollup job: recent readings stay raw
        assert s.scalar(select(func.count()).select_from(ReadingRollup)) == 3  # the 40-day-old hours


def test_retention_does_not_fold_twice_what_the_rollup_job_folded(db):
    """A reading with id ≤ the rollup cursor is already in the rollups: deleting it must not add it again."""
    add_sensors(db)
    now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    old = now - timedelta(days=40)
    ingest(db, [(S1, old, 1.0), (S1, old + timedelta(minutes=1), 3.0)], now)
    cursor = evaluate(db, now)
    with db.uow() as s:  # as if the rollup job had folded the first reading
        first_id = s.scalar(select(func.min(Reading.id)))
        s.merge(JobState(key=ROLLUP_CURSOR_KEY, value={"reading_id": first_id}))
        s.add(ReadingRollup(sensor_id=S1, bucket=old, count=1, min=1.0, max=1.0, total=1.0))
    assert cursor > first_id
    with db.uow() as s:
        assert roll_up_old_readings(s, now, keep=KEEP) == {"deleted": 2, "buckets": 1}
    with db.uow() as s:
        rollup = s.get(ReadingRollup, (S1, old))
        assert (rollup.count, rollup.min, rollup.max, rollup.total) == (2, 1.0, 3.0, 4.0)
        assert s.scalar(select(func.count()).select_from(Reading)) == 0


def test_partition_and_rollup_jobs_do_nothing_on_sqlite(db):
    add_sensors(db)
    now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    ingest(db, [(S1, now, 1.0)], now)
    with db.uow() as s:
        assert maintain_partitions(s, now, keep=KEEP) == {"created": 0, "moved": 0}
        assert roll_up_new_readings(s) == {"readings": 0, "buckets": 0, "cursor": 0}
        assert s.scalar(select(func.count()).select_from(ReadingRollup)) == 0


@pytest.mark.parametrize("span", [timedelta(hours=1), timedelta(days=30)])
def test_hourly_series_of_a_sensor_without_readings_is_empty(db, span):
    add_sensors(db)
    now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    with db.uow() as s:
        assert hourly_series(s, S1, now - span, now) == []
