"""Open311 client keys and public descriptions (issue 14, findings 2 and 3).

Revision ID: 0013
Revises: 0012

``api_tokens.kind`` tells an API bearer token (``api``, every token stored before this revision) from an
Open311 ``api_key`` (``open311``) issued to a client application named in ``api_tokens.client``; such a
key belongs to no user, so ``user_id`` becomes nullable. ``incidents.public_description`` holds the
description that the citizen (an Open311 POST) or an operator made public: Open311 reads show only it.
Existing incidents get none (nothing stored before was published on purpose), except Open311 requests,
whose description the citizen wrote to be published. Batch mode keeps it working on SQLite.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the token kind and client, let a token have no user, and add the public description."""
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="api"))
        batch.add_column(sa.Column("client", sa.String(64), nullable=True))
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("public_description", sa.Text(), nullable=True))
    op.execute("UPDATE incidents SET public_description = description WHERE source = 'open311'")


def downgrade() -> None:
    """Drop them again (Open311 keys, which have no user, are deleted first)."""
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("public_description")
    op.execute("DELETE FROM api_tokens WHERE user_id IS NULL")
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("client")
        batch.drop_column("kind")
