"""The reads of the dispatch side that the API and the pages need — incidents for Open311 and the hotline
seat, attachments an actor may see, cameras and patrol plans — each a function named by what it answers,
so api/ and callbacks/ build no queries themselves (DESIGN §2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, or_, select
from sqlalchemy.orm import Session, selectinload

from data.models import Attachment, Camera, Incident, PatrolPlan, VideoPlatform
from dispatch.categories import reportable_categories
from dispatch.service import Actor, get_incident
from dispatch.workflow import TERMINAL_STATES

# --- Open311 ------------------------------------------------------------------------------------


def _open311_readable(session: Session) -> Select[tuple[Incident]]:
    """The incidents Open311 shows at all: real ones (no exercises) of the published services."""
    services = [c.code for c in reportable_categories(session)]
    return select(Incident).where(Incident.exercise.is_(False), Incident.category_code.in_(services)).options(
        selectinload(Incident.category), selectinload(Incident.department))


@dataclass(frozen=True)
class Open311Search:
    """An Open311 search: by request ids (the other fields then ignored), else by services, open or
    closed (None: both) and the reporting window."""

    ids: Sequence[str] = ()
    service_codes: Sequence[str] = ()
    closed: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 1000


def open311_requests(session: Session, search: Open311Search) -> list[Incident]:
    """The service requests Open311 answers ``search`` with, newest first."""
    query = _open311_readable(session)
    if search.ids:  # the specification: the other filters are ignored when ids are given
        return list(session.scalars(query.where(Incident.code.in_(search.ids)).order_by(Incident.reported_at.desc())))
    if search.service_codes:
        query = query.where(Incident.category_code.in_(search.service_codes))
    if search.closed is not None:
        query = query.where(Incident.state.in_(TERMINAL_STATES) if search.closed
                            else Incident.state.not_in(TERMINAL_STATES))
    if search.start is not None:
        query = query.where(Incident.reported_at >= search.start)
    if search.end is not None:
        query = query.where(Incident.reported_at <= search.end)
    return list(session.scalars(query.order_by(Incident.reported_at.desc()).limit(search.limit)))


def open311_request(session: Session, code: str) -> Incident | None:
    """One service request Open311 may show, by its code, or None."""
    return session.scalar(_open311_readable(session).where(Incident.code == code))


# --- the hotline seat ---------------------------------------------------------------------------


def recent_hotline_orders(session: Session, limit: int) -> list[Incident]:
    """The latest ``limit`` hotline orders (category loaded), newest first."""
    return list(session.scalars(
        select(Incident).where(Incident.source == "hotline").options(selectinload(Incident.category))
        .order_by(Incident.reported_at.desc(), Incident.id.desc()).limit(limit)
    ))


# --- attachments --------------------------------------------------------------------------------


def visible_attachment(session: Session, attachment_id: int, *, user: Actor) -> Attachment | None:
    """The attachment, when its incident is one ``user`` may see; None when there is no such attachment.
    An incident the user may not see raises ``NotFound`` (as ``get_incident`` does)."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        return None
    get_incident(session, attachment.incident_id, user=user)
    return attachment


# --- cameras and patrol plans -------------------------------------------------------------------


def _camera_rows() -> Select[tuple[Camera, str]]:
    return select(Camera, VideoPlatform.code).join(VideoPlatform, VideoPlatform.id == Camera.platform_id)


def cameras_with_platform(session: Session, where: Sequence[ColumnElement[bool]] = (), *,
                          statuses: Sequence[str] = (), limit: int = 100, offset: int = 0) -> list[Row[Any]]:
    """Cameras (with their platform's code) meeting ``where`` (e.g. ``data.layers.in_bbox``) and of
    ``statuses`` when given, by id."""
    query = _camera_rows().where(*where)
    if statuses:
        query = query.where(Camera.status.in_(statuses))
    return list(session.execute(query.order_by(Camera.id).limit(limit).offset(offset)).all())


def camera_with_platform(session: Session, code: str) -> Row[Any] | None:
    """One camera and its platform's code, or None."""
    return session.execute(_camera_rows().where(Camera.code == code)).first()


def cameras_by_code(session: Session, codes: Sequence[str]) -> dict[str, Camera]:
    """The cameras of ``codes`` that exist, by code."""
    if not codes:
        return {}
    return {c.code: c for c in session.scalars(select(Camera).where(Camera.code.in_(codes)))}


def cameras_matching(session: Session, text: str, limit: int) -> list[Row[Any]]:
    """Cameras (code, name) whose code starts with, or whose name contains, ``text``, by code."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(session.execute(
        select(Camera.code, Camera.name)
        .where(or_(Camera.code.like(f"{escaped}%", escape="\\"), Camera.name.like(f"%{escaped}%", escape="\\")))
        .order_by(Camera.code).limit(limit)
    ).all())


def camera_name(session: Session, code: str) -> str | None:
    """The name of camera ``code``, or None."""
    return session.scalar(select(Camera.name).where(Camera.code == code))


def patrol_plans(session: Session) -> list[PatrolPlan]:
    """The shared patrol plans of the video wall, by name."""
    return list(session.scalars(select(PatrolPlan).order_by(PatrolPlan.name)))


def patrol_plan_by_name(session: Session, name: str | None) -> PatrolPlan | None:
    """One patrol plan by name, or None (also for no name)."""
    return session.scalar(select(PatrolPlan).where(PatrolPlan.name == name)) if name else None
