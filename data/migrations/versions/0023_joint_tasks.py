"""Joint handling (issue 17 §2, 主办/协办): ``joint_tasks``, one task per department named on an incident
(lead or assist), with its own handling deadline, card and progress.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``joint_tasks``."""
    op.create_table(
        "joint_tasks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("departments.id"), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("assigned_at", data.models.UTCDateTime(), nullable=False),
        sa.Column("handle_deadline", data.models.UTCDateTime(), nullable=True),
        sa.Column("card", sa.String(8), nullable=False),
        sa.Column("started_at", data.models.UTCDateTime(), nullable=True),
        sa.Column("resolved_at", data.models.UTCDateTime(), nullable=True),
        sa.Column("returned_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", data.models.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("incident_id", "department_id", name="uq_joint_tasks_incident_department"),
    )
    op.create_index("ix_joint_tasks_incident_id", "joint_tasks", ["incident_id"])
    op.create_index("ix_joint_tasks_department_id", "joint_tasks", ["department_id"])


def downgrade() -> None:
    """Drop ``joint_tasks``."""
    op.drop_index("ix_joint_tasks_department_id", table_name="joint_tasks")
    op.drop_index("ix_joint_tasks_incident_id", table_name="joint_tasks")
    op.drop_table("joint_tasks")
