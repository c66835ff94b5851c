"""Citizen reports (issue 20): tracking codes and public replies, and the public side's guards.

Revision ID: 0015
Revises: 0014

``incidents.tracking_code`` is the unguessable code a citizen follows a report by (unique; only
citizen reports have one), ``incidents.public_reply`` the reply shown to them. ``rate_buckets`` holds
the token buckets of the public side (per address and per phone) and ``public_challenges`` its
single-use proof-of-work nonces, in the database so that every web worker shares them. Batch mode keeps
the column adds working on SQLite.
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two incident columns and the two tables of the public side."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("tracking_code", sa.String(16), nullable=True))
        batch.add_column(sa.Column("public_reply", sa.Text(), nullable=True))
        batch.create_unique_constraint("uq_incidents_tracking_code", ["tracking_code"])
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "public_challenges",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("difficulty", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_public_challenges_expires_at", "public_challenges", ["expires_at"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_public_challenges_expires_at", table_name="public_challenges")
    op.drop_table("public_challenges")
    op.drop_table("rate_buckets")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_constraint("uq_incidents_tracking_code", type_="unique")
        batch.drop_column("public_reply")
        batch.drop_column("tracking_code")
