"""alerts: silences and maintenance windows, muted alerts, hourly reading rollups for retention

Revision ID: 0002_alerts
Revises: 0001
Create Date: 2026-11-23

Hand-written (issue 4). Only additions: a nullable column on ``alerts`` (SQLite accepts it with ADD
COLUMN) and two new tables.
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0002_alerts"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("muted", sa.String(16), nullable=True))
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=True),
        sa.Column("sensor_id", sa.String(40), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", data.models.UTCDateTime(), nullable=False),
        sa.Column("ends_at", data.models.UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", data.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["sensor_id"], ["sensors.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])
    op.create_table(
        "reading_rollups",
        sa.Column("sensor_id", sa.String(40), nullable=False),
        sa.Column("bucket", data.models.UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["sensor_id"], ["sensors.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sensor_id", "bucket"),
    )


def downgrade() -> None:
    op.drop_table("reading_rollups")
    op.drop_index("ix_silences_ends_at", table_name="silences")
    op.drop_table("silences")
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.drop_column("muted")
