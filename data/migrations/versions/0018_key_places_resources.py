"""Key places and emergency resources from a city's files (``import key-places``, ``import resources``):
a key place's level, contact and outline, and the ``resources`` table.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``key_places.level``, ``contact_name``, ``contact_phone``, ``geom``; create ``resources``."""
    with op.batch_alter_table("key_places") as batch:
        batch.add_column(sa.Column("level", sa.String(24), nullable=True))
        batch.add_column(sa.Column("contact_name", sa.String(64), nullable=True))
        batch.add_column(sa.Column("contact_phone", sa.String(32), nullable=True))
        batch.add_column(sa.Column("geom", sa.LargeBinary(), nullable=True))
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("contact_name", sa.String(64), nullable=True),
        sa.Column("contact_phone", sa.String(32), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("grid_id", sa.Integer(), sa.ForeignKey("grids.id"), nullable=True),
    )
    op.create_index("ix_resources_kind", "resources", ["kind"])
    op.create_index("ix_resources_status", "resources", ["status"])
    op.create_index("ix_resources_grid_id", "resources", ["grid_id"])
    op.create_index("ix_resources_lon_lat", "resources", ["lon", "lat"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("resources")
    with op.batch_alter_table("key_places") as batch:
        batch.drop_column("geom")
        batch.drop_column("contact_phone")
        batch.drop_column("contact_name")
        batch.drop_column("level")
