"""Emergency events get a ``version`` (compare-and-set of every state write) and ``calm_since`` (the live
evaluation's hold time); on PostgreSQL with PostGIS, ``resources`` gets a GiST index on its point as a
geography, so the nearest resources are found by KNN (``<->``) and ``ST_DWithin`` (``dispatch.emergency``).

The index is on an expression, not a generated column, so the ORM, the importers and the other PostGIS
columns of 0007 (``data.spatial``) are untouched; everywhere else (SQLite, PostgreSQL without PostGIS) it is
not made and the nearest resources are found by the portable growing box, with the same answer.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

import data.models

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# Frozen here as this revision made it; dispatch/emergency.py queries the same expression (KNN_POINT).
INDEX = "ix_resources_geog"
EXPRESSION = "(CAST(ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geography))"


def _postgis() -> bool:
    """PostgreSQL whose search path names the PostGIS types (0007 installs the extension where it can)."""
    bind = op.get_bind()
    return bind.dialect.name == "postgresql" and bind.scalar(text("SELECT to_regtype('geography') IS NOT NULL"))


def upgrade() -> None:
    """Add the two columns (existing events start at version 1) and, with PostGIS, the KNN index."""
    # Plain ADD COLUMNs (no table rebuild on SQLite, where the events' links reference the table); the server
    # default gives the existing events their version 1, and stays as harmless as the model's own default.
    with op.batch_alter_table("emergency_events") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("calm_since", data.models.UTCDateTime(), nullable=True))
    if _postgis():
        op.execute(f"CREATE INDEX {INDEX} ON resources USING gist {EXPRESSION}")


def downgrade() -> None:
    """Drop the index (where it exists) and the columns."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    with op.batch_alter_table("emergency_events") as batch:
        batch.drop_column("calm_since")
        batch.drop_column("version")
