"""Reading series for charts longer than a day: hourly rollups, completed by the raw readings not rolled up yet.

``reading_rollups`` holds, per sensor and UTC hour, the count, min, max and total of readings. Two
writers fold readings into it, each exactly once: the rollup job (PostgreSQL) folds every reading up to
its cursor (``job_state`` key ``rollups.cursor``, a reading id) soon after it arrives, and retention
folds the readings it deletes that the rollup job has not reached. So every reading is either in the
rollups (id ≤ the rollup cursor, or deleted) or still raw with an id above the cursor, and

    hourly series = rollups ⊕ the raw readings with id > the rollup cursor, aggregated per hour

is exact on both databases. On PostgreSQL the raw part is the last few minutes of readings, so a
30-day chart reads ~720 rollup rows instead of ~43,200 raw ones. On SQLite (no rollup job) the cursor
stays at 0 and the raw part is every raw reading of the range. A 24 h sparkline of single readings
(``data/map_details.py``) keeps reading raw readings; use ``hourly_series`` beyond a day or two.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from data.models import JobState, Reading, ReadingRollup

ROLLUP_CURSOR_KEY = "rollups.cursor"


@dataclass(frozen=True)
class HourlyPoint:
    """The readings of one sensor in one UTC hour [bucket, bucket + 1 h)."""

    bucket: datetime
    count: int
    min: float
    max: float
    total: float

    @property
    def mean(self) -> float:
        return self.total / self.count

    def merged(self, other: HourlyPoint) -> HourlyPoint:
        """This hour's aggregate together with another part of the same hour."""
        return HourlyPoint(self.bucket, self.count + other.count, min(self.min, other.min),
                           max(self.max, other.max), self.total + other.total)


def rollup_cursor(session: Session) -> int:
    """The id of the last reading folded into the rollups by the rollup job (0: none)."""
    row = session.get(JobState, ROLLUP_CURSOR_KEY)
    return int(row.value.get("reading_id", 0)) if row is not None else 0


def floor_hour(ts: datetime) -> datetime:
    """The start of the UTC hour of an aware time."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_of_ts(session: Session) -> object:
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", Reading.ts)
    return func.date_trunc("hour", Reading.ts)


def _aware(bucket: datetime | str) -> datetime:
    value = datetime.fromisoformat(bucket) if isinstance(bucket, str) else bucket
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def hourly_points(
    session: Session, sensors: Select | Sequence[str], start: datetime, end: datetime
) -> dict[str, list[HourlyPoint]]:
    """Per sensor of ``sensors`` (ids, or a SELECT of sensor ids), the hourly count/min/max/total of its readings
    from the hour of ``start`` to ``end`` (aware times), oldest first; hours without readings are left out."""
    first = floor_hour(start)
    wanted = sensors if isinstance(sensors, Select) else list(sensors)
    points: dict[tuple[str, datetime], HourlyPoint] = {}

    def add(sensor_id: str, point: HourlyPoint) -> None:
        known = points.get((sensor_id, point.bucket))
        points[sensor_id, point.bucket] = point if known is None else known.merged(point)

    for sensor_id, bucket, count, low, high, total in session.execute(
        select(ReadingRollup.sensor_id, ReadingRollup.bucket, ReadingRollup.count, ReadingRollup.min,
               ReadingRollup.max, ReadingRollup.total)
        .where(ReadingRollup.sensor_id.in_(wanted), ReadingRollup.bucket >= first, ReadingRollup.bucket < end)
    ):
        add(sensor_id, HourlyPoint(_aware(bucket), count, low, high, total))
    for sensor_id, point in _raw_hourly(session, wanted, first, end, Reading.id > rollup_cursor(session)):
        add(sensor_id, point)
    series: dict[str, list[HourlyPoint]] = {}
    for sensor_id, bucket in sorted(points):
        series.setdefault(sensor_id, []).append(points[sensor_id, bucket])
    return series


def _raw_hourly(
    session: Session, wanted: Select | list[str], first: datetime, end: datetime, *conditions: Any
) -> Iterator[tuple[str, HourlyPoint]]:
    hour = _hour_of_ts(session)
    for sensor_id, bucket, count, low, high, total in session.execute(
        select(Reading.sensor_id, hour, func.count(), func.min(Reading.value), func.max(Reading.value),
               func.sum(Reading.value))
        .where(Reading.sensor_id.in_(wanted), Reading.ts >= first, Reading.ts < end, *conditions)
        .group_by(Reading.sensor_id, hour)
    ):
        yield sensor_id, HourlyPoint(_aware(bucket), int(count), float(low), float(high), float(total))


def raw_hourly_points(
    session: Session, sensor_ids: Sequence[str], start: datetime, end: datetime, *, up_to_id: int
) -> dict[tuple[str, datetime], HourlyPoint]:
    """(sensor, UTC hour) → the hourly aggregate of the raw readings with id ≤ ``up_to_id`` from the hour of
    ``start`` to ``end``: the part of an hour that a reading-id cursor (the alert engine's) has reached."""
    return {(sensor_id, point.bucket): point for sensor_id, point in
            _raw_hourly(session, list(sensor_ids), floor_hour(start), end, Reading.id <= up_to_id)}


def hourly_series(session: Session, sensor_id: str, start: datetime, end: datetime) -> list[HourlyPoint]:
    """The hourly count/min/max/total of ``sensor_id``'s readings from the hour of ``start`` to ``end``
    (aware times), oldest first; hours without readings are left out."""
    return hourly_points(session, [sensor_id], start, end).get(sensor_id, [])
