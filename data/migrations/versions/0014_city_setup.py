"""A real city: a user's area scope (``users add --area``), phone and the one-time activation code of an
imported user (``import users``), and a department's parent (``import departments``).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``users.area_code``, ``users.activation_hash``, ``users.phone`` and ``departments.parent_code``."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("area_code", sa.String(32), nullable=True))
        batch.add_column(sa.Column("activation_hash", sa.String(255), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(32), nullable=True))
    with op.batch_alter_table("departments") as batch:
        batch.add_column(sa.Column("parent_code", sa.String(32), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("parent_code")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("phone")
        batch.drop_column("activation_hash")
        batch.drop_column("area_code")
