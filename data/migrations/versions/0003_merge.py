"""Join the alert-engine and dispatch branches into one head.

Revision ID: 0003
Revises: 0002_alerts, 0002_dispatch
"""

revision = "0003"
down_revision = ("0002_alerts", "0002_dispatch")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: this revision only merges two branches."""


def downgrade() -> None:
    """Nothing to change: this revision only merges two branches."""
