"""Duty rota, shift log and handover (issue 17 §4): ``duty_rota`` (who holds which duty post in which shift of
which day, with the shift's span in UTC), ``duty_log`` (a shift's events, instructions and open matters) and
``duty_handovers`` (a shift's handover note and the next shift's acknowledgement).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables."""
    op.create_table(
        "duty_rota",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shift", sa.String(16), nullable=False),
        sa.Column("post", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("starts_at", data.models.UTCDateTime(), nullable=False),
        sa.Column("ends_at", data.models.UTCDateTime(), nullable=False),
        sa.Column("created_at", data.models.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("day", "shift", "post", name="uq_duty_rota_day_shift_post"),
    )
    op.create_index("ix_duty_rota_user_id", "duty_rota", ["user_id"])
    op.create_index("ix_duty_rota_span", "duty_rota", ["starts_at", "ends_at"])
    op.create_table(
        "duty_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shift", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("at", data.models.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_duty_log_day_shift", "duty_log", ["day", "shift"])
    op.create_table(
        "duty_handovers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shift", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("at", data.models.UTCDateTime(), nullable=False),
        sa.Column("acked_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("acked_at", data.models.UTCDateTime(), nullable=True),
        sa.UniqueConstraint("day", "shift", name="uq_duty_handovers_day_shift"),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("duty_handovers")
    op.drop_index("ix_duty_log_day_shift", table_name="duty_log")
    op.drop_table("duty_log")
    op.drop_index("ix_duty_rota_span", table_name="duty_rota")
    op.drop_index("ix_duty_rota_user_id", table_name="duty_rota")
    op.drop_table("duty_rota")
