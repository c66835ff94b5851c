"""Marking one's notifications read (the console badge, ``POST /api/v1/notifications/read``): the one door
that marks them through ``dispatch.notifications`` and writes the audit row when anything changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from data.audit import write_audit
from dispatch import notifications


def mark_notifications_read(session: Session, user: Any, notification_ids: Sequence[int] | None = None) -> int:
    """Mark ``user``'s notifications (all, or the given ids) read; returns how many changed. Audited as
    ``notifications.read`` on the user when any did."""
    marked = notifications.mark_read(session, user, notification_ids)
    if marked:
        write_audit(session, user.id, "notifications.read", f"user:{user.username}", detail={"marked": marked})
    return marked
