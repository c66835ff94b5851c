"""Readings partitioned by time on PostgreSQL: daily RANGE (ts) partitions, a DEFAULT partition, bigint ids.

Revision ID: 0008
Revises: 0007

Why daily partitions. A city of a few thousand sensors each reporting about once a minute writes
5,000 × 1,440 ≈ 7.2 million readings a day, ≈ 216 million in the 30 days of the default retention
(``CITYOPS_RETENTION_DAYS``) and 2.6 billion a year of ids (hence ``bigint``: ``integer`` ids would run
out within a year). At ≈ 80 bytes a row plus its two indexes a day is ≈ 1 GB, so:

- daily: ~31 live partitions of ~7 M rows. Retention drops one whole partition a day, so raw data
  is kept at most one day longer than the retention. Each partition and its indexes fit in memory
  while it is being written, and the planner prunes to the 1–2 partitions of a 24 h chart;
- weekly: 50 M-row partitions, up to 7 extra days kept (+23 % storage), and every drop or rebuild of
  a partition handles a week at once;
- monthly: 216 M-row partitions, up to a whole extra month kept (twice the storage), which defeats
  the point of partitioning for a 30-day retention.

Some tens of partitions cost nothing measurable in planning; thousands would. So: one partition per
UTC day (``readings_pYYYYMMDD``), plus ``readings_default`` so that no reading is ever rejected for
want of a partition. The upgrade makes a partition for every day of the existing readings of the last
``DAILY_HISTORY_DAYS`` days and the next ``data.partitions.AHEAD_DAYS`` days; older readings (an
imported history of years would otherwise make thousands of partitions) share one partition
``readings_pYYYYMMDD_YYYYMMDD``, which retention drops as a whole once they are evaluated and folded
into the hourly rollups. The scheduler's partition job keeps partitions ahead from then on.

PostgreSQL wants the partition key in every unique index: the primary key becomes (id, ts) and
(sensor_id, ts) stays unique. Ids keep their sequence (``readings_id_seq``, now bigint), so new ids
continue after the largest one and the alert engine's id cursor stays valid. The table is rebuilt
under an ACCESS EXCLUSIVE lock: on a large table, run the upgrade in a maintenance window.

SQLite keeps its plain table: both upgrade and downgrade are no-ops there. The downgrade turns the
partitioned table back into a plain one with every row (ids must still fit in ``integer``).
"""

from datetime import UTC, datetime

from alembic import op
from sqlalchemy import Connection

from data.partitions import AHEAD_DAYS, DAY, day_start, days_between, ensure_partitions, is_partitioned

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = "id, sensor_id, ts, value, received_at"
#: Existing readings younger than this get daily partitions (twice the default retention); older ones one.
DAILY_HISTORY_DAYS = 62


def _sequence(bind: Connection) -> str:
    """The (schema-qualified) name of the sequence behind readings.id."""
    return bind.exec_driver_sql("SELECT pg_get_serial_sequence('readings', 'id')").scalar_one()


def _set_aside(bind: Connection, old: str) -> str:
    """Rename ``readings`` to ``old`` with its index names, detaching the id sequence; returns the sequence."""
    sequence = _sequence(bind)
    bind.exec_driver_sql("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")
    bind.exec_driver_sql(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    bind.exec_driver_sql(f"ALTER TABLE readings RENAME TO {old}")
    bind.exec_driver_sql(f"ALTER INDEX readings_pkey RENAME TO {old}_pkey")
    bind.exec_driver_sql(f"ALTER INDEX uq_readings_sensor_ts RENAME TO {old}_sensor_ts")
    return sequence


def _finish(bind: Connection, old: str, sequence: str, *, primary_key: str, id_type: str) -> None:
    """Copy every row of ``old`` into the new ``readings``, drop ``old``, add the keys and hand the sequence over."""
    bind.exec_driver_sql(f"INSERT INTO readings ({COLUMNS}) SELECT {COLUMNS} FROM {old}")
    bind.exec_driver_sql(f"DROP TABLE {old}")
    # Keys and the foreign key after the copy: building an index once is faster than maintaining it.
    bind.exec_driver_sql(f"ALTER TABLE readings ADD CONSTRAINT readings_pkey PRIMARY KEY ({primary_key})")
    bind.exec_driver_sql("ALTER TABLE readings ADD CONSTRAINT uq_readings_sensor_ts UNIQUE (sensor_id, ts)")
    bind.exec_driver_sql(
        "ALTER TABLE readings ADD CONSTRAINT readings_sensor_id_fkey FOREIGN KEY (sensor_id) REFERENCES sensors (id)"
    )
    bind.exec_driver_sql(f"ALTER SEQUENCE {sequence} AS {id_type} OWNED BY readings.id")
    # New ids continue after the largest one, even if a row was ever stored with an explicit id.
    bind.exec_driver_sql(
        f"SELECT setval('{sequence}', max(id)) FROM readings "
        f"HAVING max(id) > (SELECT last_value FROM {sequence})"
    )
    bind.exec_driver_sql("ANALYZE readings")


def upgrade() -> None:
    """PostgreSQL: rebuild ``readings`` as a table partitioned by day on ts, keeping every row and id."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or is_partitioned(bind):
        return
    first, last = bind.exec_driver_sql("SELECT min(ts), max(ts) FROM readings").one()
    today = day_start(datetime.now(UTC))
    daily_from = max(day_start(first or today), today - DAY * DAILY_HISTORY_DAYS)
    days = days_between(min(daily_from, today), max(last or today, today) + DAY * AHEAD_DAYS)
    older = [(day_start(first), daily_from)] if first is not None and day_start(first) < daily_from else []

    sequence = _set_aside(bind, "readings_unpartitioned")
    bind.exec_driver_sql(
        "CREATE TABLE readings (LIKE readings_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (ts)"
    )
    bind.exec_driver_sql("ALTER TABLE readings ALTER COLUMN id TYPE bigint")
    bind.exec_driver_sql("CREATE TABLE readings_default PARTITION OF readings DEFAULT")
    ensure_partitions(bind, days, ranges=older)
    _finish(bind, "readings_unpartitioned", sequence, primary_key="id, ts", id_type="bigint")


def downgrade() -> None:
    """PostgreSQL: back to one plain table (integer ids, primary key id) with every row."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not is_partitioned(bind):
        return
    sequence = _set_aside(bind, "readings_partitioned")
    bind.exec_driver_sql("CREATE TABLE readings (LIKE readings_partitioned INCLUDING DEFAULTS)")
    bind.exec_driver_sql("ALTER TABLE readings ALTER COLUMN id TYPE integer")
    _finish(bind, "readings_partitioned", sequence, primary_key="id", id_type="integer")
