"""Notifications of the dispatch loop: an escalation (督办) notifies the incident's department and the
desk; a postponement request waits at the desk for an operator's approval. Handlers see their
department's copies, operators and admins the desk's, leaders the desk's escalations. Escalations and
postponement requests also go out through the notification channels (``dispatch.outbox``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, false, func, select, update
from sqlalchemy.orm import Session, selectinload

from data.models import Department, Incident, Notification, Role, utcnow
from dispatch import outbox, tiers

#: What a notification is about.
KINDS = ("escalate", "postpone_request", "duplicate")
#: The kinds that also reach people outside the app through their channels.
OUTBOX_KINDS = ("escalate", "postpone_request")


def notify(
    session: Session, kind: str, incident: Incident, *, actor_id: int | None, note: str | None = None,
    department_id: int | None = None,
) -> list[Notification]:
    """Notify the desk about ``incident`` and, when ``department_id`` is given, that department too."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    now = utcnow()
    rows = [Notification(at=now, kind=kind, incident_id=incident.id, department_id=audience, actor_id=actor_id,
                         note=note) for audience in dict.fromkeys((None, department_id))]
    session.add_all(rows)
    if kind in OUTBOX_KINDS:
        department = session.get(Department, department_id) if department_id is not None else incident.department
        outbox.on_incident_event(session, kind, incident, department=department, note=note,
                                 to_department=department_id is not None)
    return rows


def _for(user: Any) -> ColumnElement[bool]:
    """The notifications addressed to ``user``: a handler's department's copies, the desk's copies for
    operators and admins (and the escalations among them for leaders). Each audience has its own
    copy, so reading one never hides it from another."""
    desk = Notification.department_id.is_(None)
    if tiers.area_of(user) is not None:
        # A command tier's desk (issue 17) hears only of the incidents it may see: the one scope rule.
        from dispatch.service import visible_to  # the service imports this module

        desk = desk & Notification.incident_id.in_(select(Incident.id).where(visible_to(user)))
    if user.role in (Role.ADMIN, Role.OPERATOR):
        return desk
    if user.role == Role.HANDLER and user.department_id is not None:
        return Notification.department_id == user.department_id
    if user.role == Role.LEADER:
        return desk & (Notification.kind == "escalate")
    return false()


def unread_count(session: Session, user: Any) -> int:
    """How many unread notifications ``user`` has."""
    return session.scalar(
        select(func.count(Notification.id)).where(_for(user), Notification.read_at.is_(None))
    ) or 0


def latest(session: Session, user: Any, *, limit: int = 20, unread_only: bool = False) -> list[Notification]:
    """``user``'s newest notifications (with their incident loaded)."""
    query = select(Notification).where(_for(user)).options(selectinload(Notification.incident))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.at.desc(), Notification.id.desc()).limit(limit)))


def mark_read(session: Session, user: Any, notification_ids: Sequence[int] | None = None) -> int:
    """Mark ``user``'s notifications (all, or the given ids) read; returns how many changed."""
    unread = select(Notification.id).where(_for(user), Notification.read_at.is_(None))
    if notification_ids is not None:
        unread = unread.where(Notification.id.in_(list(notification_ids)))
    # The ids first: a command tier's audience is a recursive query, and SQLite counts no rows of an UPDATE
    # that starts with its WITH clause.
    wanted = list(session.scalars(unread))
    if not wanted:
        return 0
    result = session.execute(update(Notification).where(Notification.id.in_(wanted), Notification.read_at.is_(None))
                             .values(read_at=utcnow(), read_by=user.id).execution_options(synchronize_session=False))
    return result.rowcount or 0


def notification_to_dict(row: Notification) -> dict[str, Any]:
    """The API representation of a notification."""
    from dispatch.service import to_iso

    return {
        "id": row.id, "at": to_iso(row.at), "kind": row.kind, "incident_id": row.incident_id,
        "incident_code": row.incident.code if row.incident is not None else None, "note": row.note,
        "read": row.read_at is not None,
    }
