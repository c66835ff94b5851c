"""The video tables of issue 19 §4 (migration 0027): ``video_detections``, every video-AI detection received
(filed as an incident, attached to the open incident of the same camera and kind, or only recorded below its
kind's minimum confidence; markable as false), and ``event_snapshots``, camera snapshots taken for an
emergency event (events have no attachments of their own; the event's timeline names each snapshot).

The services that write them are ``dispatch.video_ai.detections`` and ``dispatch.video_ai.snapshots``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from data.models import Base, UTCDateTime, utcnow


class VideoDetection(Base):
    """One detection of a video-AI kind by a camera; ``outcome`` ``filed`` (a new incident), ``attached`` (to the
    open incident of the same camera and kind within the kind's window) or ``below_threshold`` (no incident)."""

    __tablename__ = "video_detections"
    __table_args__ = (Index("ix_video_detections_camera_kind_at", "camera_id", "kind", "detected_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"))
    kind: Mapped[str] = mapped_column(String(40))
    confidence: Mapped[float | None] = mapped_column(Float)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    false_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    false_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    false_reason: Mapped[str | None] = mapped_column(String(255))


class EventSnapshot(Base):
    """A camera snapshot of an emergency event: the re-encoded image and its thumbnail in the upload folder,
    the camera, who took it and the timeline entry that records it."""

    __tablename__ = "event_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("emergency_events.id"), index=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"))
    timeline_id: Mapped[int | None] = mapped_column(ForeignKey("event_timeline.id"))
    stored_name: Mapped[str] = mapped_column(String(96), unique=True)
    thumb_name: Mapped[str] = mapped_column(String(96))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    taken_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
