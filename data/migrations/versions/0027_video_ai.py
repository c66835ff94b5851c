"""Video AI and snapshots (issue 19 §4): ``video_detections`` (every detection, its outcome — filed, attached
to the open incident of its camera and kind, or below its kind's minimum confidence — and whether it was
marked false) and ``event_snapshots`` (camera snapshots of emergency events).

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

import data.models

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

T = data.models.UTCDateTime


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "video_detections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera_id", sa.Integer(), sa.ForeignKey("cameras.id"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("detected_at", T(), nullable=False),
        sa.Column("recorded_at", T(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("attachment_id", sa.Integer(), sa.ForeignKey("attachments.id"), nullable=True),
        sa.Column("false_at", T(), nullable=True),
        sa.Column("false_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("false_reason", sa.String(255), nullable=True),
    )
    op.create_index("ix_video_detections_camera_kind_at", "video_detections", ["camera_id", "kind", "detected_at"])
    op.create_index("ix_video_detections_detected_at", "video_detections", ["detected_at"])
    op.create_index("ix_video_detections_incident_id", "video_detections", ["incident_id"])
    op.create_table(
        "event_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("emergency_events.id"), nullable=False),
        sa.Column("camera_id", sa.Integer(), sa.ForeignKey("cameras.id"), nullable=False),
        sa.Column("timeline_id", sa.Integer(), sa.ForeignKey("event_timeline.id"), nullable=True),
        sa.Column("stored_name", sa.String(96), nullable=False, unique=True),
        sa.Column("thumb_name", sa.String(96), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("taken_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("taken_at", T(), nullable=False),
    )
    op.create_index("ix_event_snapshots_event_id", "event_snapshots", ["event_id"])


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_index("ix_event_snapshots_event_id", table_name="event_snapshots")
    op.drop_table("event_snapshots")
    for name in ("ix_video_detections_incident_id", "ix_video_detections_detected_at",
                 "ix_video_detections_camera_kind_at"):
        op.drop_index(name, table_name="video_detections")
    op.drop_table("video_detections")
