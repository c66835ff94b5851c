"""Notification channels and the outbox (issue 17): notifications that reach people.

Revision ID: 0016
Revises: 0015

``notification_channels`` holds the Apprise URLs (encrypted, with a masked copy) of departments, users
and duty posts; ``outbox_messages`` one message per (event, channel), unique by its idempotency key and
written in the event's transaction; ``delivery_attempts`` every try at sending one.
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables."""
    op.create_table(
        "notification_channels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("url_encrypted", sa.Text(), nullable=False),
        sa.Column("url_masked", sa.Text(), nullable=False),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("departments.id"), nullable=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("duty_post", sa.String(32), nullable=True),
        sa.Column("min_level", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
    )
    for column in ("department_id", "user_id", "duty_post"):
        op.create_index(f"ix_notification_channels_{column}", "notification_channels", [column])
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("channel_id", sa.Integer(), sa.ForeignKey("notification_channels.id"), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    for column in ("channel_id", "incident_id", "alert_id"):
        op.create_index(f"ix_outbox_messages_{column}", "outbox_messages", [column])
    op.create_index("ix_outbox_messages_state_next", "outbox_messages", ["state", "next_attempt_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("outbox_messages.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_delivery_attempts_message_id", "delivery_attempts", ["message_id"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("delivery_attempts")
    op.drop_table("outbox_messages")
    op.drop_table("notification_channels")
