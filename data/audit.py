"""The audit row of a write, as every service writes it (``audit_log``: who, what, on what, with which detail).

The one writer the services of ``dispatch``, ``alerts`` and ``admin`` share, so an audit row looks the same
whichever door the write came through (API, page, CLI, job). The request's address is filled in by the web
layer when there is a request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from data.models import AuditLog


def write_audit(session: Session, actor: Any | None, action: str, target: str, *,
                detail: dict[str, Any] | None = None, at: datetime | None = None) -> AuditLog:
    """Add the audit row of ``actor``'s (None: the system's) ``action`` (e.g. ``alert.ack``) on ``target``
    (e.g. ``alert:12``); returns it, not yet flushed."""
    row = AuditLog(user_id=getattr(actor, "id", None), action=action, target=target[:128], detail=detail)
    if at is not None:
        row.at = at
    session.add(row)
    return row
