"""Retention of raw readings and the hourly rollups (count, min, max, sum per sensor and hour).

Every reading is folded into ``reading_rollups`` exactly once (see ``data/readings.py``):

- ``roll_up_new_readings`` (PostgreSQL, a scheduler job every few minutes) folds the readings after its
  cursor with one ``INSERT … SELECT date_trunc('hour', ts) … GROUP BY … ON CONFLICT`` merge, so charts
  longer than a day read rollups instead of raw rows;
- ``roll_up_old_readings`` (the batch path: SQLite, and PostgreSQL's DEFAULT partition) folds the old
  readings it deletes that the rollup job has not reached, in Python, then deletes them in batches;
- on PostgreSQL ``apply_retention`` drops a whole expired daily partition (``DROP TABLE``: no row-by-row
  DELETE, no dead tuples to vacuum) once every reading in it is both evaluated and rolled up.

Only readings the alert engine has already evaluated (id ≤ its cursor) are ever removed, so retention
can never make the engine miss a reading.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import TableClause, delete, func, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerts.engine import CURSOR_KEY, claim_cursor
from alerts.ingest import dialect_insert
from data.models import JobState, Reading, ReadingRollup
from data.partitions import (
    PARENT,
    PARTITION_LOCK_ARGS,
    default_partition,
    is_partitioned,
    list_partitions,
    max_id,
    naive_utc,
    set_lock_timeout,
)
from data.readings import ROLLUP_CURSOR_KEY

log = logging.getLogger(__name__)

DEFAULT_RETENTION = timedelta(days=30)
#: Readings folded per call: bounds memory and the length of the transaction.
BATCH = 50_000
#: Reading ids the rollup job folds at most per run (a city writes ~5,000 a minute): bounds one statement
#: while it catches up, e.g. after the upgrade that partitioned a table already holding readings.
ROLLUP_MAX_IDS = 2_000_000
#: How long retention waits for the lock that drops partitions; on timeout it tries again next run.
DROP_LOCK_TIMEOUT = "5s"
_LOCK_NOT_AVAILABLE = "55P03"
_IN_CHUNK = 400


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _cursor(row: JobState | None) -> int:
    return int(row.value.get("reading_id", 0)) if row is not None else 0


def roll_up_old_readings(
    session: Session,
    now: datetime,
    *,
    keep: timedelta = DEFAULT_RETENTION,
    batch: int = BATCH,
    source: TableClause | None = None,
) -> dict[str, int]:
    """Fold up to ``batch`` evaluated readings older than ``now - keep`` into rollups and delete them.

    ``source`` is the table read and deleted from: ``readings`` by default, the DEFAULT partition when
    PostgreSQL's retention calls it. Readings the rollup job has already folded (id ≤ its cursor) are
    deleted without being folded twice. Returns ``{"deleted": n, "buckets": m}``; call again while
    ``deleted == batch``.
    """
    table = Reading.__table__ if source is None else source
    evaluated = _cursor(session.get(JobState, CURSOR_KEY))
    rolled = _cursor(claim_cursor(session, ROLLUP_CURSOR_KEY))
    old = session.execute(
        select(table.c.id, table.c.sensor_id, table.c.ts, table.c.value)
        .where(table.c.ts < now - keep, table.c.id <= evaluated)
        .order_by(table.c.id)
        .limit(batch)
    ).all()
    if not old:
        return {"deleted": 0, "buckets": 0}
    buckets: dict[tuple[str, datetime], list[float]] = {}
    for reading_id, sensor_id, ts, value in old:
        if reading_id <= rolled:
            continue
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
    if values:
        stmt = dialect_insert(session, ReadingRollup.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["sensor_id", "bucket"],
            set_={name: getattr(stmt.excluded, name) for name in ("count", "min", "max", "total")},
        )
        session.execute(stmt, values)
    ids = [row.id for row in old]
    for start in range(0, len(ids), _IN_CHUNK * 2):
        session.execute(delete(table).where(table.c.id.in_(ids[start : start + _IN_CHUNK * 2])))
    session.expire_all()
    return {"deleted": len(ids), "buckets": len(values)}


def roll_up_new_readings(session: Session, *, max_ids: int = ROLLUP_MAX_IDS) -> dict[str, int]:
    """PostgreSQL: fold the readings after the rollup cursor (at most ``max_ids`` ids) into the hourly
    rollups with one ``INSERT … SELECT … GROUP BY … ON CONFLICT`` merge, and move the cursor past them.

    Returns ``{"readings": n, "buckets": m, "cursor": id}``. Does nothing on SQLite, where retention folds
    readings as it deletes them. Relies, as the alert engine does, on ingestion making ids visible in id
    order (its advisory lock), so that the cursor never steps over a reading committed late.
    """
    if session.get_bind().dialect.name != "postgresql":
        return {"readings": 0, "buckets": 0, "cursor": 0}
    cursor_row = claim_cursor(session, ROLLUP_CURSOR_KEY)
    start = _cursor(cursor_row)
    newest = session.scalar(select(func.max(Reading.id)).where(Reading.id > start))
    if newest is None:
        return {"readings": 0, "buckets": 0, "cursor": start}
    upper = min(newest, start + max_ids)
    hour = func.date_trunc("hour", Reading.ts).label("bucket")
    fresh = (
        select(Reading.sensor_id, hour, func.count().label("n"), func.min(Reading.value).label("low"),
               func.max(Reading.value).label("high"), func.sum(Reading.value).label("total"))
        .where(Reading.id > start, Reading.id <= upper)
        .group_by(Reading.sensor_id, hour)
        .cte("fresh")
    )
    rollups = ReadingRollup.__table__
    merge = postgresql.insert(rollups).from_select(
        ["sensor_id", "bucket", "count", "min", "max", "total"],
        select(fresh.c.sensor_id, fresh.c.bucket, fresh.c.n, fresh.c.low, fresh.c.high, fresh.c.total),
    )
    merge = merge.on_conflict_do_update(
        index_elements=["sensor_id", "bucket"],
        set_={
            "count": rollups.c["count"] + merge.excluded["count"],
            "min": func.least(rollups.c["min"], merge.excluded["min"]),
            "max": func.greatest(rollups.c["max"], merge.excluded["max"]),
            "total": rollups.c["total"] + merge.excluded["total"],
        },
    )
    readings, buckets = session.execute(
        select(func.coalesce(func.sum(fresh.c.n), 0), func.count()).select_from(fresh).add_cte(merge.cte("merge"))
    ).one()
    cursor_row.value = {"reading_id": upper}
    return {"readings": int(readings), "buckets": int(buckets), "cursor": upper}


def drop_expired_partitions(session: Session, now: datetime, *, keep: timedelta = DEFAULT_RETENTION) -> list[str]:
    """PostgreSQL: drop every daily partition wholly older than ``now - keep`` whose readings are all
    evaluated by the alert engine and folded into the rollups (max id ≤ both cursors); a partition holding
    a reading above either cursor waits for a later run. Returns the names dropped.

    The drop takes ACCESS EXCLUSIVE on ``readings`` until commit (so call it last in the transaction), and
    waits at most ``DROP_LOCK_TIMEOUT`` for it behind running queries; after a timeout nothing is dropped.
    """
    conn = session.connection()
    cutoff = naive_utc(now - keep)
    expired = [p for p in list_partitions(conn) if p.end is not None and p.end <= cutoff]
    if not expired or not conn.execute(
        text(f"SELECT pg_try_advisory_xact_lock({PARTITION_LOCK_ARGS})")
    ).scalar():
        return []
    done = min(_cursor(session.get(JobState, CURSOR_KEY)), _cursor(claim_cursor(session, ROLLUP_CURSOR_KEY)))
    ready = [p for p in expired if (max_id(conn, p) or 0) <= done]
    if len(ready) < len(expired):
        log.info("retention: %d expired partition(s) wait for evaluation or rollup", len(expired) - len(ready))
    if not ready:
        return []
    dropped: list[str] = []
    try:
        with session.begin_nested():
            previous = set_lock_timeout(conn, DROP_LOCK_TIMEOUT)
            conn.exec_driver_sql(f'LOCK TABLE ONLY "{PARENT}" IN ACCESS EXCLUSIVE MODE')
            set_lock_timeout(conn, previous)
            for partition in ready:
                if (max_id(conn, partition) or 0) <= done:  # again, now that no reading can arrive
                    conn.exec_driver_sql(f'DROP TABLE "{partition.name}"')
                    dropped.append(partition.name)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        log.warning("retention: readings busy for %s, no partition dropped this time", DROP_LOCK_TIMEOUT)
        return []
    return dropped


def apply_retention(
    session: Session, now: datetime, *, keep: timedelta = DEFAULT_RETENTION, batch: int = BATCH
) -> dict[str, int]:
    """The scheduler's retention job. SQLite (or an unpartitioned table): ``roll_up_old_readings``.
    Partitioned PostgreSQL: the batch path on the DEFAULT partition only, then ``drop_expired_partitions``
    (last: it holds the table lock until commit). Returns ``{"deleted": n, "buckets": m}`` and, on
    PostgreSQL, ``"partitions"``: how many partitions were dropped."""
    if not is_partitioned(session):
        return roll_up_old_readings(session, now, keep=keep, batch=batch)
    counts = roll_up_old_readings(session, now, keep=keep, batch=batch, source=default_partition)
    return {**counts, "partitions": len(drop_expired_partitions(session, now, keep=keep))}
