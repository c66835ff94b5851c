"""Hotline replies, follow-up calls and chase actions (issue 20, parts 2 and 3).

Revision ID: 0017
Revises: 0016

``incidents.replied_at`` is when the reply (统一回复, its text in ``public_reply`` of 0015) was given to
the caller; two indexes find a hotline order's earlier calls from the same phone or about the same
address (repeat calls); ``hotline_followups`` holds the follow-up calls (回访) of closed hotline orders. Chase actions
(催办) are history rows of their order and need no table. ``incidents.satisfaction`` widens to 24
characters: ``basically_satisfied`` did not fit PostgreSQL's varchar(16). Batch mode keeps the column
changes working on SQLite.
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the reply time, widen the rating and create the follow-up calls."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("replied_at", UTCDateTime(), nullable=True))
        batch.alter_column("satisfaction", existing_type=sa.String(16), type_=sa.String(24), existing_nullable=True)
    op.create_index("ix_incidents_caller_phone_reported", "incidents", ["caller_phone", "reported_at"])
    op.create_index("ix_incidents_address_reported", "incidents", ["address", "reported_at"])
    op.create_table(
        "hotline_followups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reached", sa.Boolean(), nullable=True),
        sa.Column("satisfaction", sa.String(24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("called_at", UTCDateTime(), nullable=True),
        sa.Column("called_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reopened", sa.Boolean(), server_default="0", nullable=False),
    )
    op.create_index("ix_hotline_followups_incident_id", "hotline_followups", ["incident_id"])
    op.create_index("ix_hotline_followups_state_created", "hotline_followups", ["state", "created_at"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_hotline_followups_state_created", table_name="hotline_followups")
    op.drop_index("ix_hotline_followups_incident_id", table_name="hotline_followups")
    op.drop_table("hotline_followups")
    op.drop_index("ix_incidents_address_reported", table_name="incidents")
    op.drop_index("ix_incidents_caller_phone_reported", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.alter_column("satisfaction", existing_type=sa.String(24), type_=sa.String(16), existing_nullable=True)
        batch.drop_column("replied_at")
