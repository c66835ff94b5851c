"""Command tiers: the tier an incident is handled at (``incidents.tier_area_code``: the district or street
centre it was passed down to, NULL = the city centre).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``incidents.tier_area_code`` and its index (a tier's queue and per-tier KPIs filter by it)."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("tier_area_code", sa.String(32), nullable=True))
        batch.create_index("ix_incidents_tier_area_code", ["tier_area_code"])


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_tier_area_code")
        batch.drop_column("tier_area_code")
