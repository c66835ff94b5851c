"""Sensors and readings marked simulated (issue 13): the simulator drives only demo-city sensors, and its
readings say they are invented.

Revision ID: 0011
Revises: 0010

Both columns are ``boolean NOT NULL DEFAULT false``: every sensor and reading stored before this revision
was imported or measured, and every ingest path that does not name the column (bulk inserts, COPY, MQTT)
keeps writing measured readings. On PostgreSQL ``readings`` is partitioned (0008): ADD COLUMN on the parent
reaches every partition, and with a constant default it rewrites none of them (PostgreSQL ≥ 11), so the
upgrade is quick however many readings there are. On SQLite batch mode adds the columns in place, because
the default is a plain literal ('0', which both databases read as false): an expression default would make
batch mode rebuild ``sensors``, and dropping the old table fails the foreign keys of a city with readings.
The demo city's sensors are recognised by the simulator's own mark only from the next seeding on: a
database seeded before this revision has no way to tell its demo sensors from imported ones, so they stay
unsimulated (the safe side) until ``python app.py seed --reset``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = ("sensors", "readings")


def upgrade() -> None:
    """Add ``simulated`` (default false) to sensors and readings."""
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("simulated", sa.Boolean(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Drop ``simulated`` from sensors and readings, in place: a batch rebuild of ``sensors`` on SQLite would
    drop the table that readings, alerts and silences reference (SQLite ≥ 3.35 drops a plain column itself)."""
    for name in reversed(TABLES):
        op.drop_column(name, "simulated")
