"""Warning review (issue 17 §5): an operator reviews each fired alert as ``confirmed``, ``false_alarm`` (with a
reason) or ``exercise``; who and when are recorded (``alerts.review``, ``review_reason``, ``review_note``,
``reviewed_at``, ``reviewed_by_id``). ``ix_alerts_fired_at``: the warning statistics read the alerts fired in
a period.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the review columns, the reviewer's foreign key and the index on ``fired_at``."""
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("review", sa.String(16), nullable=True))
        batch.add_column(sa.Column("review_reason", sa.String(16), nullable=True))
        batch.add_column(sa.Column("review_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reviewed_at", data.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("reviewed_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_alerts_reviewed_by_id", "users", ["reviewed_by_id"], ["id"])
        batch.create_index("ix_alerts_fired_at", ["fired_at"])


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_fired_at")
        batch.drop_constraint("fk_alerts_reviewed_by_id", type_="foreignkey")
        for column in ("reviewed_by_id", "reviewed_at", "review_note", "review_reason", "review"):
            batch.drop_column(column)
