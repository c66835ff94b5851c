"""What every admin service shares: the permission check and the audit row of a change."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from data.audit import write_audit
from domain.permissions import Permission, require


class Actor(Protocol):
    """Who makes the change: a ``data.models.User`` or the web layer's ``AuthUser``."""

    id: int
    role: str


def check(actor: Actor | None, permission: Permission) -> None:
    """Nothing when ``actor`` holds ``permission``; ``domain.errors.Forbidden`` otherwise (nobody: refused)."""
    require(getattr(actor, "role", None), permission)


def audit(session: Session, actor: Actor | None, action: str, target: str,
          detail: dict[str, Any] | None = None) -> None:
    """The audit row of an administrator's change (``action`` e.g. ``user.create``, ``target`` e.g. ``user:li``)."""
    write_audit(session, getattr(actor, "id", None), action, target, detail=detail)
