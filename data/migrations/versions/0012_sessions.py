"""Session epochs and sign-in throttling (issue 14): ``users.session_epoch`` ends every browser session of a
user when it moves on (sign-out, password, role or activity change); ``login_failures`` holds failed
sign-ins per (name, address), from which sign-in is throttled with growing delays.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the epoch column and the failures table."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", data.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failures_name_ip", "login_failures", ["username", "ip"])
    op.create_index("ix_login_failures_ip_at", "login_failures", ["ip", "at"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_login_failures_ip_at", table_name="login_failures")
    op.drop_index("ix_login_failures_name_ip", table_name="login_failures")
    op.drop_table("login_failures")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_epoch")
