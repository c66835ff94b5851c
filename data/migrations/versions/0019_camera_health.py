"""Camera health and patrol plans (issue 19): when a camera's status last changed, the incident of its current
outage, and the ``patrol_plans`` table.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``cameras.status_changed_at`` and ``cameras.offline_incident_id``; create ``patrol_plans``."""
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("status_changed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("offline_incident_id", sa.Integer(), nullable=True))
    op.create_table(
        "patrol_plans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("camera_codes", sa.JSON(), nullable=False),
        sa.Column("dwell_s", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("patrol_plans")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("offline_incident_id")
        batch.drop_column("status_changed_at")
