"""dispatch: per-severity limits, working calendar, photos, notifications, hotline fields, duplicates

Revision ID: 0002_dispatch
Revises: 0001
Create Date: 2026-11-23

Hand-written (issue 5). Columns are only added, never changed, so the SQLite branch needs no table
rebuild: SQLite accepts ``ADD COLUMN ... REFERENCES`` for a nullable column.
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0002_dispatch"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("categories", sa.Column("working_hours", sa.Boolean(), nullable=False, server_default="0"))

    for column in (
        sa.Column("severity", sa.String(16), nullable=False, server_default="normal"),
        sa.Column("caller_name", sa.String(64), nullable=True),
        sa.Column("caller_phone", sa.String(32), nullable=True),
        sa.Column("caller_email", sa.String(128), nullable=True),
        sa.Column("hotline_mode", sa.String(16), nullable=True),
        sa.Column("satisfaction", sa.String(16), nullable=True),
        sa.Column("rated_at", data.models.UTCDateTime(), nullable=True),
    ):
        op.add_column("incidents", column)
    if op.get_bind().dialect.name == "sqlite":
        # Alembic refuses constraints in SQLite's ALTER; SQLite itself accepts REFERENCES on a new column.
        op.execute("ALTER TABLE incidents ADD COLUMN duplicate_of_id INTEGER REFERENCES incidents (id)")
    else:
        op.add_column("incidents", sa.Column("duplicate_of_id", sa.Integer(), sa.ForeignKey("incidents.id"),
                                             nullable=True))

    op.create_table(
        "category_limits",
        sa.Column("category_code", sa.String(16), sa.ForeignKey("categories.code", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("severity", sa.String(16), primary_key=True),
        sa.Column("handle_hours", sa.Float(), nullable=False),
        sa.Column("close_hours", sa.Float(), nullable=False),
    )
    op.create_table(
        "work_periods",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
    )
    op.create_index("ix_work_periods_weekday", "work_periods", ["weekday"])
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("workday", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(64), nullable=True),
    )
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("history_id", sa.Integer(), sa.ForeignKey("incident_history.id"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("stored_name", sa.String(96), nullable=False, unique=True),
        sa.Column("thumb_name", sa.String(96), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("uploaded_at", data.models.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_attachments_incident_id", "attachments", ["incident_id"])
    op.create_index("ix_attachments_history_id", "attachments", ["history_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", data.models.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("departments.id"), nullable=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("read_at", data.models.UTCDateTime(), nullable=True),
        sa.Column("read_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
    )
    op.create_index("ix_notifications_at", "notifications", ["at"])
    op.create_index("ix_notifications_department_id", "notifications", ["department_id"])
    op.create_index("ix_notifications_incident_id", "notifications", ["incident_id"])


def downgrade() -> None:
    for table in ("notifications", "attachments", "calendar_days", "work_periods", "category_limits"):
        op.drop_table(table)
    with op.batch_alter_table("incidents") as batch:
        for name in ("duplicate_of_id", "rated_at", "satisfaction", "hotline_mode", "caller_email",
                     "caller_phone", "caller_name", "severity"):
            batch.drop_column(name)
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("working_hours")
