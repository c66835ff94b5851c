"""Emergency response (issue 18): ``emergency_plans`` (plan versions), ``emergency_events`` with
``event_incidents``, ``event_alerts`` and ``event_timeline``, and ``resource_assignments``
(a resource has at most one open assignment: a partial unique index).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

T = data.models.UTCDateTime


def upgrade() -> None:
    """Create the six tables."""
    op.create_table(
        "emergency_plans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("scenario", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.UniqueConstraint("plan_id", "version", name="uq_emergency_plans_id_version"),
    )
    op.create_index("ix_emergency_plans_plan_id", "emergency_plans", ["plan_id"])
    op.create_table(
        "emergency_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("scenario", sa.String(64), nullable=False),
        sa.Column("level", sa.String(4), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("exercise", sa.Boolean(), nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=True),
        sa.Column("plan_version", sa.Integer(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.Column("opened_at", T(), nullable=False),
        sa.Column("opened_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("first_alert_at", T(), nullable=True),
        sa.Column("activated_at", T(), nullable=True),
        sa.Column("controlled_at", T(), nullable=True),
        sa.Column("closed_at", T(), nullable=True),
    )
    op.create_index("ix_emergency_events_state", "emergency_events", ["state"])
    op.create_table(
        "event_incidents",
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("emergency_events.id"), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), primary_key=True, unique=True),
        sa.Column("level", sa.String(4), nullable=True),
        sa.Column("task_key", sa.String(64), nullable=True),
        sa.Column("added_at", T(), nullable=False),
    )
    op.create_table(
        "event_alerts",
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("emergency_events.id"), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), primary_key=True),
        sa.Column("added_at", T(), nullable=False),
    )
    op.create_table(
        "event_timeline",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("emergency_events.id"), nullable=False),
        sa.Column("at", T(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("level_from", sa.String(4), nullable=True),
        sa.Column("level_to", sa.String(4), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
    )
    op.create_index("ix_event_timeline_event_id", "event_timeline", ["event_id"])
    op.create_table(
        "resource_assignments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("resource_id", sa.Integer(), sa.ForeignKey("resources.id"), nullable=False),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("emergency_events.id"), nullable=False),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("joint_tasks.id"), nullable=False),
        sa.Column("assigned_at", T(), nullable=False),
        sa.Column("assigned_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("released_at", T(), nullable=True),
        sa.Column("released_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
    )
    op.create_index("ix_resource_assignments_event_id", "resource_assignments", ["event_id"])
    op.create_index("uq_resource_assignments_open", "resource_assignments", ["resource_id"], unique=True,
                    sqlite_where=sa.text("released_at IS NULL"), postgresql_where=sa.text("released_at IS NULL"))


def downgrade() -> None:
    """Drop them again."""
    for table in ("resource_assignments", "event_timeline", "event_alerts", "event_incidents",
                  "emergency_events", "emergency_plans"):
        op.drop_table(table)
