"""Ingestion of sensor readings (DESIGN §4, §5): validate each row, store the good ones, say why not.

Bad rows never stop a batch: each is rejected with a reason, duplicates of (sensor_id, ts) are counted,
and the good rows are written in one statement that skips rows already stored: on SQLite a multi-row
insert; on PostgreSQL a ``COPY`` into a temporary table and one ``INSERT … SELECT … ON CONFLICT DO NOTHING``
(issue 21: psycopg parses long statements and those with many parameters in Python, anew each time, so
the multi-row insert and an ``IN (…)`` of 900 ids cost more than the database's own work), with the sensor
lookup taking its ids as one array parameter (``= ANY(…)``) and the sensors' last values moved in the
same statement as the insert.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, String, any_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from data.models import Reading, Sensor, UTCDateTime, utcnow
from data.partitions import naive_utc
from data.sql import dialect_insert as dialect_insert  # re-exported: it lives in data.sql

#: How far ahead of the server clock a reading's ts may be (sensor clocks drift).
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: Bound parameters per IN (...) query: well under SQLite's and PostgreSQL's limits.
_CHUNK = 900
#: PostgreSQL advisory lock serialising ingestion, so that reading ids become visible in id order and
#: the evaluator's cursor (``id > n``) can never step over a reading committed late. SQLite serialises
#: writers by itself.
INGEST_LOCK_KEY = 0x43_49_54_59_52  # "CITYR"
#: The PostgreSQL path's per-connection staging table ``cityops_ingest_staging``: emptied at every commit
#: (and before each batch, for a second batch in one transaction), never seen by other connections.
_STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS cityops_ingest_staging "
    "(sensor_id text NOT NULL, ts timestamp NOT NULL, value float8 NOT NULL) ON COMMIT DELETE ROWS; "
    "TRUNCATE cityops_ingest_staging"
)
#: Staged rows → ``readings`` (skipping stored (sensor_id, ts)), and each sensor's newest stored reading →
#: its last value unless it already has a newer one: one statement, one round trip; the rows stored are
#: counted, not sent back.
_MOVE = (
    "WITH stored AS ("
    " INSERT INTO readings (sensor_id, ts, value, received_at, simulated)"
    " SELECT sensor_id, ts, value, %s, %s FROM cityops_ingest_staging"
    " ON CONFLICT (sensor_id, ts) DO NOTHING RETURNING sensor_id, ts, value),"
    " newest AS (SELECT DISTINCT ON (sensor_id) sensor_id, ts, value FROM stored ORDER BY sensor_id, ts DESC),"
    " moved AS (UPDATE sensors SET last_ts = newest.ts, last_value = newest.value FROM newest"
    " WHERE sensors.id = newest.sensor_id AND (sensors.last_ts IS NULL OR sensors.last_ts < newest.ts)"
    " RETURNING 1)"
    " SELECT count(*) FROM stored"
)


@dataclass
class IngestResult:
    """The outcome of one batch: how many rows were stored, how many were duplicates, which were rejected."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of ``POST /api/v1/readings``."""
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


class RowError(ValueError):
    """A reading row that cannot be stored; the message is the reason given back to the client."""


def parse_ts(raw: object) -> datetime:
    """An ISO-8601 time with an offset (or an aware datetime) → aware datetime; raises RowError."""
    if isinstance(raw, datetime):
        ts = raw
    elif isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise RowError("ts is not an ISO-8601 time") from None
    else:
        raise RowError("ts must be an ISO-8601 string")
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise RowError("ts has no timezone offset")
    return ts


def _parse_row(row: object, latest_allowed: datetime) -> tuple[str, datetime, float]:
    if not isinstance(row, Mapping):
        raise RowError("row must be an object with sensor_id, ts and value")
    for name in ("sensor_id", "ts", "value"):
        if row.get(name) is None:
            raise RowError(f"missing field {name!r}")
    sensor_id = row["sensor_id"]
    if not isinstance(sensor_id, str) or not sensor_id.strip():
        raise RowError("sensor_id must be a non-empty string")
    value = row["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError("value must be a number")
    value = float(value)
    if not math.isfinite(value):
        raise RowError("value must be a finite number (not NaN or infinity)")
    ts = parse_ts(row["ts"])
    if ts > latest_allowed:
        raise RowError("ts is more than 5 minutes in the future")
    return sensor_id, ts, value


def _known_sensors(session: Session, sensor_ids: set[str]) -> dict[str, datetime | None]:
    """Sensor id → its last_ts, for the ids that exist."""
    known: dict[str, datetime | None] = {}
    ids = sorted(sensor_ids)
    if ids and _is_postgresql(session):  # one array parameter: no long statement for psycopg to parse
        rows = session.execute(select(Sensor.id, Sensor.last_ts)
                               .where(Sensor.id == any_(bindparam("ids", ids, type_=ARRAY(String)))))
        return {sensor_id: last_ts for sensor_id, last_ts in rows}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = session.execute(select(Sensor.id, Sensor.last_ts).where(Sensor.id.in_(chunk)))
        known.update((sensor_id, last_ts) for sensor_id, last_ts in rows)
    return known


def _update_last_values(
    session: Session, stored: Sequence[tuple[str, datetime, float]], known: Mapping[str, datetime | None]
) -> None:
    newest: dict[str, tuple[datetime, float]] = {}
    for sensor_id, ts, value in stored:
        current = newest.get(sensor_id)
        if current is None or ts > current[0]:
            newest[sensor_id] = (ts, value)
    params = [
        {"b_id": sensor_id, "b_ts": ts, "b_value": value}
        for sensor_id, (ts, value) in newest.items()
        if known[sensor_id] is None or ts > known[sensor_id]
    ]
    if not params:
        return
    sensors = Sensor.__table__
    # The WHERE on last_ts keeps a concurrent batch with newer readings from being overwritten.
    stmt = (
        update(sensors)
        .where(sensors.c.id == bindparam("b_id"))
        .where(or_(sensors.c.last_ts.is_(None), sensors.c.last_ts < bindparam("b_ts", type_=UTCDateTime)))
        .values(last_ts=bindparam("b_ts"), last_value=bindparam("b_value"))
    )
    session.execute(stmt, params)
    _expire_last_values(session, newest)


def _expire_last_values(session: Session, sensor_ids: Iterable[str]) -> None:
    """Loaded Sensor objects must not keep the old last_value."""
    for sensor_id in sensor_ids:
        loaded = session.identity_map.get(session.identity_key(Sensor, sensor_id))
        if loaded is not None:
            session.expire(loaded, ["last_ts", "last_value"])


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _copy_insert(
    session: Session, values: Sequence[tuple[str, datetime, float]], received_at: datetime, simulated: bool
) -> int:
    """PostgreSQL: COPY the rows into the staging table, then move them into ``readings`` and the sensors'
    last values in one statement (``_MOVE``); returns how many were stored. The COPY runs before the
    ingest lock is taken, so concurrent batches overlap their transfer and only queue for the insert."""
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        cursor.execute(_STAGE)
        with cursor.copy("COPY cityops_ingest_staging (sensor_id, ts, value) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "timestamp", "float8"])
            for sensor_id, ts, value in values:
                copy.write_row((sensor_id, naive_utc(ts), value))
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK_KEY,))
        cursor.execute(_MOVE, (naive_utc(received_at), simulated))
        return cursor.fetchone()[0]
    finally:
        cursor.close()


def ingest_readings(
    session: Session, rows: Sequence[object], *, now: datetime | None = None, simulated: bool = False
) -> IngestResult:
    """Validate and store readings; returns accepted/duplicate counts and the rejected rows with reasons.

    Each row is ``{"sensor_id": str, "ts": ISO-8601 with offset (or aware datetime), "value": number}``.
    Rejected: malformed rows, non-numbers, NaN/±inf, unknown sensors, times without an offset or more
    than 5 minutes ahead of ``now``. Rows repeating a stored (sensor_id, ts), or one earlier in the
    batch, count as duplicates. Sensors' ``last_value``/``last_ts`` follow their newest reading.
    ``simulated`` marks the stored readings as the simulator's (only ``alerts.simulator`` passes it).
    """
    now = now or utcnow()
    result = IngestResult()
    latest_allowed = now + MAX_CLOCK_SKEW
    parsed: list[tuple[int, str, datetime, float]] = []
    for index, row in enumerate(rows):
        try:
            parsed.append((index, *_parse_row(row, latest_allowed)))
        except RowError as exc:
            result.rejected.append({"index": index, "reason": str(exc)})

    known = _known_sensors(session, {sensor_id for _, sensor_id, _, _ in parsed})
    seen: set[tuple[str, datetime]] = set()
    values: list[dict[str, Any]] = []
    for index, sensor_id, ts, value in parsed:
        if sensor_id not in known:
            result.rejected.append({"index": index, "reason": f"unknown sensor {sensor_id!r}"})
            continue
        key = (sensor_id, ts)
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        values.append({"sensor_id": sensor_id, "ts": ts, "value": value, "received_at": now, "simulated": simulated})
    result.rejected.sort(key=lambda rejection: rejection["index"])
    if not values:
        return result

    if _is_postgresql(session):
        result.accepted = _copy_insert(session, [(v["sensor_id"], v["ts"], v["value"]) for v in values], now,
                                       simulated)
        _expire_last_values(session, {v["sensor_id"] for v in values})
    else:
        stmt = (
            dialect_insert(session, Reading.__table__)
            .on_conflict_do_nothing(index_elements=["sensor_id", "ts"])
            .returning(Reading.__table__.c.sensor_id, Reading.__table__.c.ts, Reading.__table__.c.value)
        )
        stored = session.execute(stmt, values).all()
        result.accepted = len(stored)
        _update_last_values(session, stored, known)
    result.duplicates += len(values) - result.accepted
    return result
