"""Time partitions of ``readings`` on PostgreSQL: one partition per UTC day, and a DEFAULT partition.

Layout (made by migration 0008, which explains the daily width): ``readings`` is PARTITIONED BY RANGE (ts);
``readings_pYYYYMMDD`` holds the readings of [day, day + 1 day) — ``ts`` is stored as naive UTC, so days
are UTC days — and ``readings_default`` takes whatever no partition covers, so no reading is ever rejected
for want of a partition. The primary key is (id, ts) and (sensor_id, ts) is unique: PostgreSQL wants
the partition key in every unique index. Partitions are made in the schema ``readings`` lives in (the
first of the search_path), never in a hard-coded one.

``maintain_partitions`` (a scheduler job) keeps ``AHEAD_DAYS`` days of partitions ready and moves
readings that landed in DEFAULT for a live day into that day's new partition. A partition is made as
a plain table (``LIKE readings``), filled from DEFAULT, then ATTACHed: attaching takes only SHARE UPDATE
EXCLUSIVE on the parent (``CREATE TABLE … PARTITION OF`` would take ACCESS EXCLUSIVE), so reads and
ingestion go on; only the DEFAULT partition is locked, while its rows are moved and checked. Makers of
partitions serialise on one advisory lock and skip days already covered, so running it twice, or
from two processes at once, makes every partition once.

Everything here is a no-op on SQLite and on a ``readings`` table that is not partitioned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Float, Integer, String, column, table, text
from sqlalchemy.orm import Session

from data.models import UTCDateTime

PARENT = "readings"
DEFAULT_PARTITION = "readings_default"
PREFIX = "readings_p"
DAY = timedelta(days=1)
#: Days of partitions kept ready after today (a worker may be down this long before DEFAULT fills up).
AHEAD_DAYS = 7
#: Transaction-level advisory lock taken by whoever makes or drops partitions of ``readings``: the class of
#: the two-key lock whose second key is the hash of the schema, so CityOps databases living in different
#: schemas of one PostgreSQL database (the integration tests run side by side so) never wait on each other.
PARTITION_LOCK_CLASS = 0x43_49_54_50  # "CITP"
#: The lock's arguments in SQL (``pg_advisory_xact_lock`` / ``pg_try_advisory_xact_lock``).
PARTITION_LOCK_ARGS = f"{PARTITION_LOCK_CLASS}, hashtext(current_schema())"
#: How long maintenance waits for a table lock before giving up until its next run.
LOCK_TIMEOUT = "5s"
_BOUNDS = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")
_PARTITION_NAME = re.compile(rf"{DEFAULT_PARTITION}|{PREFIX}\d{{8}}(_\d{{8}})?")

#: The DEFAULT partition as a table for SQLAlchemy Core reads and deletes (retention's row path).
default_partition = table(
    DEFAULT_PARTITION,
    column("id", Integer()), column("sensor_id", String()), column("ts", UTCDateTime()), column("value", Float()),
)


@dataclass(frozen=True)
class Partition:
    """One partition of ``readings``: its range [start, end) in naive UTC; both None for DEFAULT."""

    name: str
    start: datetime | None
    end: datetime | None

    @property
    def is_default(self) -> bool:
        return self.start is None and self.end is None

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether this partition takes any ts of [start, end) (DEFAULT never counts)."""
        return not self.is_default and self.start < end and start < self.end


def _connection(bind: Connection | Session) -> Connection:
    return bind.connection() if isinstance(bind, Session) else bind


def naive_utc(ts: datetime) -> datetime:
    """An aware time as the naive UTC value stored in ``ts`` columns."""
    return ts.astimezone(UTC).replace(tzinfo=None)


def day_start(ts: datetime) -> datetime:
    """The naive UTC midnight starting the day (partition) of ``ts`` (aware, or naive UTC)."""
    naive = naive_utc(ts) if ts.tzinfo is not None else ts
    return naive.replace(hour=0, minute=0, second=0, microsecond=0)


def partition_name(start: datetime, end: datetime | None = None) -> str:
    """``readings_pYYYYMMDD`` for the UTC day starting at ``start``; ``readings_pYYYYMMDD_YYYYMMDD`` for any
    other range [start, end) (the one partition the upgrade makes for old readings)."""
    if end is None or end == start + DAY:
        return f"{PREFIX}{start:%Y%m%d}"
    return f"{PREFIX}{start:%Y%m%d}_{end:%Y%m%d}"


def is_partitioned(bind: Connection | Session) -> bool:
    """Whether ``readings`` (in the search_path) is a partitioned PostgreSQL table."""
    conn = _connection(bind)
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:name)"), {"name": PARENT})
    return kind.scalar() == "p"


def list_partitions(bind: Connection | Session) -> list[Partition]:
    """The partitions of ``readings``, by start (DEFAULT last); bounds it cannot read are left out."""
    rows = _connection(bind).execute(text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:name)"
    ), {"name": PARENT})
    found: list[Partition] = []
    for name, bound in rows:
        if bound == "DEFAULT":
            found.append(Partition(name, None, None))
        elif match := _BOUNDS.fullmatch(bound):
            start, end = (datetime.fromisoformat(value) for value in match.groups())
            found.append(Partition(name, start, end))
    return sorted(found, key=lambda p: (p.is_default, p.start or datetime.min))


def parent_columns(conn: Connection) -> str:
    """The columns of ``readings`` as a quoted SQL list, read from the catalog: a moved row keeps every column
    the schema has at that revision (``LIKE`` copies no defaults, so a column left out would be NULL)."""
    names = conn.execute(text(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:name) AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum"
    ), {"name": PARENT}).scalars()
    return ", ".join(f'"{name}"' for name in names)


def _make_partition(conn: Connection, start: datetime, end: datetime, *, has_default: bool) -> int:
    """Make the partition of [start, end): a plain table filled with DEFAULT's rows of that range, then
    attached. Returns how many rows it took from DEFAULT."""
    name = partition_name(start, end)
    conn.exec_driver_sql(f'CREATE TABLE IF NOT EXISTS "{name}" (LIKE "{PARENT}")')
    moved = 0
    if has_default:
        columns = parent_columns(conn)
        moved = conn.execute(text(
            f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE ts >= :start AND ts < :end '  # noqa: S608
            f"RETURNING {columns}) INSERT INTO \"{name}\" ({columns}) SELECT {columns} FROM moved"
        ), {"start": start, "end": end}).rowcount
    conn.exec_driver_sql(
        f"ALTER TABLE \"{PARENT}\" ATTACH PARTITION \"{name}\" FOR VALUES FROM ('{start.isoformat(' ')}') "
        f"TO ('{end.isoformat(' ')}')"
    )
    return moved


def ensure_partitions(
    bind: Connection | Session, days: Iterable[datetime], *, ranges: Iterable[tuple[datetime, datetime]] = ()
) -> dict[str, int]:
    """Make the partitions of the UTC days starting at ``days`` (naive UTC midnights), and of ``ranges``
    ([start, end) pairs), that no partition overlaps yet, moving their rows out of DEFAULT. Idempotent;
    concurrent callers wait for each other.

    Returns ``{"created": n, "moved": m}`` (m = rows taken from DEFAULT)."""
    conn = _connection(bind)
    lock_partitions(conn)
    existing = list_partitions(conn)
    wanted = {(day, day + DAY) for day in days} | set(ranges)
    todo = sorted(r for r in wanted if not any(p.overlaps(*r) for p in existing))
    if not todo:
        return {"created": 0, "moved": 0}
    has_default = any(p.is_default for p in existing)
    if has_default:
        # Before anything else: no reading may land in DEFAULT between the move and the attach, and the
        # attach would take this lock anyway (ingestion locks the parent first, so no deadlock).
        conn.exec_driver_sql(f'LOCK TABLE "{DEFAULT_PARTITION}" IN ACCESS EXCLUSIVE MODE')
    moved = sum(_make_partition(conn, start, end, has_default=has_default) for start, end in todo)
    return {"created": len(todo), "moved": moved}


def lock_partitions(bind: Connection | Session) -> None:
    """Wait for the advisory lock of partition makers, held to the end of the transaction (re-entrant).
    Take it before reading DEFAULT: a reader of DEFAULT waiting for it would block its holder's attach."""
    _connection(bind).execute(text(f"SELECT pg_advisory_xact_lock({PARTITION_LOCK_ARGS})"))


def set_lock_timeout(bind: Connection | Session, value: str) -> str:
    """Set ``lock_timeout`` for the rest of the transaction (or savepoint); returns the previous value."""
    conn = _connection(bind)
    previous = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
    conn.execute(text("SELECT set_config('lock_timeout', :value, true)"), {"value": value})
    return previous


def maintain_partitions(
    session: Session, now: datetime, *, keep: timedelta, ahead_days: int = AHEAD_DAYS
) -> dict[str, int]:
    """The scheduler's partition job: make the partitions of today and the next ``ahead_days`` days, and of
    every day younger than ``keep`` (the retention) that has readings sitting in DEFAULT, moving them there.

    Returns ``{"created": n, "moved": m}``; nothing (zeros) on SQLite or an unpartitioned table."""
    conn = session.connection()
    if not is_partitioned(conn):
        return {"created": 0, "moved": 0}
    set_lock_timeout(conn, LOCK_TIMEOUT)
    lock_partitions(conn)
    today = day_start(now)
    horizon = today + DAY * (ahead_days + 1)
    days = {today + DAY * i for i in range(ahead_days + 1)}
    stranded = conn.execute(text(
        f"SELECT DISTINCT date_trunc('day', ts) FROM \"{DEFAULT_PARTITION}\" "  # noqa: S608
        "WHERE ts >= :since AND ts < :horizon"
    ), {"since": naive_utc(now - keep), "horizon": horizon}).scalars()
    days.update(stranded)
    return ensure_partitions(conn, days)


def max_id(bind: Connection | Session, partition: Partition) -> int | None:
    """The highest reading id in ``partition`` (its primary key index answers), None when it is empty."""
    return _connection(bind).exec_driver_sql(f'SELECT max(id) FROM "{partition.name}"').scalar()  # noqa: S608


def days_between(first: datetime, last: datetime) -> list[datetime]:
    """The naive UTC midnights of every day from the day of ``first`` to the day of ``last``, both included."""
    start, stop = day_start(first), day_start(last)
    return [start + DAY * i for i in range((stop - start) // DAY + 1)]


def include_name(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    """Alembic ``include_name`` filter: the partitions of ``readings`` are not tables of the model."""
    return not (type_ == "table" and name is not None and _PARTITION_NAME.fullmatch(name))

