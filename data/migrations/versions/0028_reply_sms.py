"""Replies reach the caller by SMS (issue 20 §2): ``outbox_messages.recipient``, the caller's phone a reply
message is addressed to, put for ``{phone}`` in the callers' channel URL when it is sent (``dispatch.outbox``).

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable column (every existing message goes to its channel's own URL)."""
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("recipient", sa.String(32), nullable=True))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("recipient")
