"""Settings in the database (issue 16): ``settings`` holds the administrator's overrides of the KPI targets,
grade weights and grade thresholds (the CITYOPS_* environment variables stay the first-start defaults).

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table of overrides."""
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", data.models.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.Integer(), sa.ForeignKey("users.id")),
    )


def downgrade() -> None:
    """Drop it: the environment variables govern again."""
    op.drop_table("settings")
