"""The audit row of a write, as every service writes it (``audit_log``: who, what, on what, with which detail,
from where) — the one writer of audit rows.

Every door (API, page, CLI, job) reaches a write through a service, and the service writes its row here, so a
row looks the same whichever door the write came through. Where the write came from is the request's address:
the web layer puts it in ``REQUEST_ORIGIN`` for the length of a request (``api.registry``), and every row
written meanwhile carries it; rows written outside a request (scheduler, CLI) have none. No other module
constructs ``AuditLog`` rows (``tests/unit/test_layering.py`` checks it).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from data.models import AuditLog

#: The address of the request being served, if any (set and reset by the web layer).
REQUEST_ORIGIN: ContextVar[str | None] = ContextVar("cityops_request_origin", default=None)


def write_audit(session: Session, actor: Any | int | None, action: str, target: str, *,
                detail: dict[str, Any] | None = None, at: datetime | None = None, ip: str | None = None) -> AuditLog:
    """Add the audit row of ``actor``'s action (a user or their id; None: the system's), e.g. ``alert.ack``
    on ``target`` (e.g. ``alert:12``, cut to 128 characters); ``ip`` defaults to the request's address.
    Returns it, not yet flushed."""
    user_id = actor if isinstance(actor, int) or actor is None else getattr(actor, "id", None)
    row = AuditLog(user_id=user_id, action=action, target=target[:128], detail=detail,
                   ip=ip if ip is not None else REQUEST_ORIGIN.get())
    if at is not None:
        row.at = at
    session.add(row)
    return row
