"""Late readings never hide an alarm (issue 13, item 1; DESIGN §5).

``sensors.last_received_at``: when the newest reading of the sensor was *received* (kept by the alert
engine as it judges readings); ``stale`` rules compare the wall clock with it, not with the readings' ``ts``,
so a backlog arriving late shows the device alive. ``alerts.peak_level``: the highest level an alert
reached while it fired, so an alert muted by the offline inhibition can still be filed at that level once
its sensor is back, even after it resolved. ``ix_alerts_muted``: the engine looks for those alerts (muted
``inhibited``, no incident yet) on every run; without it that is a scan of every resolved alert.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two columns (filled from what is known) and the index."""
    with op.batch_alter_table("sensors") as batch:
        batch.add_column(sa.Column("last_received_at", data.models.UTCDateTime(), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("peak_level", sa.String(8), nullable=True))
    op.execute(
        "UPDATE sensors SET last_received_at = "
        "(SELECT max(r.received_at) FROM readings r WHERE r.sensor_id = sensors.id)"
    )
    op.execute("UPDATE alerts SET peak_level = level WHERE fired_at IS NOT NULL")
    op.create_index("ix_alerts_muted", "alerts", ["muted"])


def downgrade() -> None:
    """Drop the index and the two columns."""
    op.drop_index("ix_alerts_muted", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("peak_level")
    with op.batch_alter_table("sensors") as batch:
        batch.drop_column("last_received_at")
