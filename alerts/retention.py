"""Retention of raw readings: readings older than the retention age are folded into hourly rollups
(count, min, max, sum per sensor and hour) and then deleted, in one unit of work.

Only readings the alert engine has already evaluated (id ≤ its cursor) are ever removed, so retention
can never make the engine miss a reading.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from alerts.engine import CURSOR_KEY
from alerts.ingest import dialect_insert
from data.models import JobState, Reading, ReadingRollup

DEFAULT_RETENTION = timedelta(days=30)
#: Readings folded per call: bounds memory and the length of the transaction.
BATCH = 50_000
_IN_CHUNK = 400


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def roll_up_old_readings(
    session: Session, now: datetime, *, keep: timedelta = DEFAULT_RETENTION, batch: int = BATCH
) -> dict[str, int]:
    """Fold up to ``batch`` evaluated readings older than ``now - keep`` into rollups and delete them.

    Returns ``{"deleted": n, "buckets": m}``; call again while ``deleted == batch``.
    """
    cursor_row = session.get(JobState, CURSOR_KEY)
    cursor = int(cursor_row.value.get("reading_id", 0)) if cursor_row else 0
    old = session.execute(
        select(Reading.id, Reading.sensor_id, Reading.ts, Reading.value)
        .where(Reading.ts < now - keep, Reading.id <= cursor)
        .order_by(Reading.id)
        .limit(batch)
    ).all()
    if not old:
        return {"deleted": 0, "buckets": 0}
    buckets: dict[tuple[str, datetime], list[float]] = {}
    for _, sensor_id, ts, value in old:
        agg = buckets.get((sensor_id, _hour(ts)))
        if agg is None:
            buckets[sensor_id, _hour(ts)] = [1, value, value, value]
        else:
            agg[0] += 1
            agg[1], agg[2], agg[3] = min(agg[1], value), max(agg[2], value), agg[3] + value
    keys = list(buckets)
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        for row in session.scalars(
            select(ReadingRollup).where(tuple_(ReadingRollup.sensor_id, ReadingRollup.bucket).in_(chunk))
        ):
            agg = buckets[row.sensor_id, row.bucket]
            agg[0] += row.count
            agg[1], agg[2], agg[3] = min(agg[1], row.min), max(agg[2], row.max), agg[3] + row.total
    values = [
        {"sensor_id": sensor_id, "bucket": bucket, "count": agg[0], "min": agg[1], "max": agg[2], "total": agg[3]}
        for (sensor_id, bucket), agg in buckets.items()
    ]
    stmt = dialect_insert(session, ReadingRollup.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["sensor_id", "bucket"],
        set_={name: getattr(stmt.excluded, name) for name in ("count", "min", "max", "total")},
    )
    session.execute(stmt, values)
    ids = [row.id for row in old]
    for start in range(0, len(ids), _IN_CHUNK * 2):
        session.execute(delete(Reading).where(Reading.id.in_(ids[start : start + _IN_CHUNK * 2])))
    session.expire_all()
    return {"deleted": len(ids), "buckets": len(values)}
