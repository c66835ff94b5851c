"""The 12345 city hotline seat: a call becomes a work order located by a searched doorplate address,
answered directly (直办: filed and closed at once) or transferred (转办: filed and dispatched to the
category's department). Once closed, the caller gets a reply (统一回复) and a follow-up call (回访:
reached or not, 满意/基本满意/不满意, a dissatisfied caller's order reopened for rework); transferred orders
near or past their deadline make the chase ledger (催办台账) by department. ``screen_hotline`` gives the big
screen's hotline panel its figures."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from data.layers import per_minute
from data.models import Department, Doorplate, HotlineFollowup, Incident, IncidentHistory, utcnow
from dispatch import sla
from dispatch.kpi import counted_incidents
from dispatch.out_of_hours import out_of_hours_figures
from dispatch.service import (
    FOLLOWUP_STATES,
    REPLY_SOURCES,
    SATISFACTION,
    ActionNotAllowed,
    Actor,
    Caller,
    InvalidInput,
    NotFound,
    answer_directly,
    apply_action,
    caller_to_dict,
    create_incident,
    reopen_for_rework,
    settle_followup,
    to_iso,
)
from dispatch.workflow import OPEN_STATES, SOURCES, Action
from dispatch.working_hours import load_calendar

PHONE = re.compile(r"^\+?[0-9][0-9 -]{2,19}$")
TITLE_CHARS = 60
CONTENT_MAX = 4000
SEARCH_MIN_CHARS = 2


def search_doorplates(session: Session, text: str | None, *, limit: int = 8) -> list[Doorplate]:
    """Doorplates whose address or code contains ``text`` (at least two characters), by address."""
    text = (text or "").strip()
    if len(text) < SEARCH_MIN_CHARS:
        return []
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = (select(Doorplate)
             .where(or_(Doorplate.address.like(pattern, escape="\\"), Doorplate.code.like(pattern, escape="\\")))
             .order_by(Doorplate.address, Doorplate.id).limit(limit))
    return list(session.scalars(query))


@dataclass(frozen=True)
class HotlineCall:
    """What the hotline seat types in while on the phone."""

    caller: str
    phone: str
    content: str
    category: str
    doorplate: str | None = None
    mode: str = "transfer"
    answer: str | None = None
    severity: str = "normal"


def _title(content: str) -> str:
    first = content.strip().splitlines()[0].strip()
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"


def take_call(session: Session, call: HotlineCall, *, actor: Actor) -> Incident:
    """Record a hotline call as a work order and answer or transfer it; refusals change nothing."""
    caller, phone, content = call.caller.strip(), re.sub(r"\s", "", call.phone or ""), (call.content or "").strip()
    if not caller:
        raise InvalidInput("caller_required", "the caller's name is required")
    if not PHONE.match(phone):
        raise InvalidInput("invalid_phone", "the phone number is not valid")
    if not content or len(content) > CONTENT_MAX:
        raise InvalidInput("content_required", f"the call's content (1 to {CONTENT_MAX} characters) is required")
    if call.mode not in ("direct", "transfer"):
        raise InvalidInput("invalid_mode", "mode must be direct or transfer")
    lon = lat = address = None
    if call.doorplate:
        plate = session.scalar(select(Doorplate).where(Doorplate.code == call.doorplate))
        if plate is None:
            raise InvalidInput("unknown_doorplate", f"no doorplate {call.doorplate!r}")
        lon, lat, address = plate.lon, plate.lat, plate.address
    elif call.mode == "transfer":
        raise InvalidInput("location_required", "a transferred order needs a doorplate address")
    incident = create_incident(
        session, category_code=call.category, source="hotline", title=_title(content), description=content,
        lon=lon, lat=lat, address=address, actor=actor, severity=call.severity,
        caller=Caller(name=caller[:64], phone=phone, hotline_mode=call.mode),
    )
    if call.mode == "direct":
        return answer_directly(session, incident, actor=actor, answer=call.answer or "")
    incident = apply_action(session, incident.id, Action.FILE, version=incident.version, actor=actor,
                            note=call.answer)
    return apply_action(session, incident.id, Action.DISPATCH, version=incident.version, actor=actor)


# --- follow-up calls (回访) ------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowupResult:
    """What the seat records of one follow-up call."""

    reached: bool
    satisfaction: str | None = None
    reason: str | None = None
    reopen: bool = False


def order_by_code(session: Session, code: str) -> Incident:
    """The hotline order (or any incident) called ``code``; NotFound otherwise."""
    incident = session.scalar(select(Incident).where(Incident.code == (code or "").strip()))
    if incident is None:
        raise NotFound("incident_not_found", f"no order {code!r}")
    return incident


def list_followups(session: Session, *, state: str | None = "pending", limit: int = 100) -> list[HotlineFollowup]:
    """Follow-up calls in ``state`` (None: all), the oldest pending first, the latest done first."""
    if state is not None and state not in FOLLOWUP_STATES:
        raise InvalidInput("invalid_state", f"state must be one of {', '.join(FOLLOWUP_STATES)}")
    query = select(HotlineFollowup).options(selectinload(HotlineFollowup.incident))
    if state is not None:
        query = query.where(HotlineFollowup.state == state)
    order = (HotlineFollowup.created_at.asc() if state == "pending"
             else func.coalesce(HotlineFollowup.called_at, HotlineFollowup.created_at).desc())
    return list(session.scalars(query.order_by(order, HotlineFollowup.id).limit(limit)))


def record_followup(session: Session, code: str, result: FollowupResult, *, actor: Actor) -> HotlineFollowup:
    """Record the pending follow-up call of order ``code``: reached or not and, when reached, the caller's
    satisfaction; a dissatisfied caller gives a reason and may have the order reopened for rework (返工)."""
    incident = order_by_code(session, code)
    if result.satisfaction is not None and result.satisfaction not in SATISFACTION:
        raise InvalidInput("invalid_satisfaction", f"satisfaction must be one of {', '.join(SATISFACTION)}")
    if result.satisfaction == "dissatisfied" and not (result.reason or "").strip():
        raise InvalidInput("reason_required", "a dissatisfied caller's reason is required")
    if result.reopen and result.satisfaction != "dissatisfied":
        raise InvalidInput("invalid_reopen", "only a dissatisfied caller's order is reopened")
    pending = session.scalar(select(HotlineFollowup.id).where(HotlineFollowup.incident_id == incident.id,
                                                              HotlineFollowup.state == "pending"))
    if pending is None:
        raise ActionNotAllowed("no_pending_followup", f"order {incident.code} has no pending follow-up call")
    followup = settle_followup(session, incident, actor=actor, reached=result.reached,
                               satisfaction=result.satisfaction, reason=result.reason)
    if result.reopen:
        reopen_for_rework(session, incident, actor=actor, note=result.reason)
        followup.reopened = True
        session.flush()
    return followup


def followup_to_dict(followup: HotlineFollowup, viewer: Actor | None = None) -> dict[str, Any]:
    """The API representation of a follow-up call, with its order (the caller as ``viewer`` may see them)."""
    incident = followup.incident
    return {
        "id": followup.id, "code": incident.code, "incident_id": incident.id, "title": incident.title,
        "hotline_mode": incident.hotline_mode, "caller": caller_to_dict(incident, viewer.role if viewer else None),
        "closed_at": to_iso(incident.closed_at), "reply": incident.public_reply,
        "state": followup.state, "created_at": to_iso(followup.created_at), "called_at": to_iso(followup.called_at),
        "reached": followup.reached, "satisfaction": followup.satisfaction, "reason": followup.reason,
        "reopened": bool(followup.reopened),
    }


def awaiting_reply(session: Session, *, limit: int = 100) -> list[Incident]:
    """Closed hotline orders and citizen reports whose caller has not had the reply to their latest
    closing (统一回复), the longest waiting first."""
    query = (select(Incident)
             .where(Incident.source.in_(REPLY_SOURCES), Incident.state == "closed", Incident.exercise.is_(False),
                    or_(Incident.replied_at.is_(None), Incident.replied_at < Incident.closed_at))
             .order_by(Incident.closed_at, Incident.id).limit(limit))
    return list(session.scalars(query))


# --- the chase ledger (催办台账) --------------------------------------------------------------------

#: A ledger order is ``overdue`` (red card: past its deadline) or ``near`` (yellow: < 20 % of its limit left).
CHASE_STATUS = {sla.CARD_RED: "overdue", sla.CARD_YELLOW: "near"}


def chase_ledger(session: Session, *, now: datetime | None = None,
                 department: str | None = None) -> list[dict[str, Any]]:
    """Open transferred hotline orders near or past their deadline (the card rule of DESIGN §6, as of
    ``now``), by department — most overdue first — with how often and when each was last chased."""
    now = now or utcnow()
    chases = (select(IncidentHistory.incident_id, func.count().label("chases"),
                     func.max(IncidentHistory.at).label("last_chased_at"))
              .where(IncidentHistory.action == "chase").group_by(IncidentHistory.incident_id).subquery())
    query = (select(Incident, chases.c.chases, chases.c.last_chased_at)
             .outerjoin(chases, chases.c.incident_id == Incident.id)
             .where(Incident.source == "hotline", Incident.hotline_mode == "transfer",
                    Incident.state.in_(OPEN_STATES), Incident.exercise.is_(False))
             .options(selectinload(Incident.department)))
    if department:
        known = session.scalar(select(Department.id).where(Department.code == department))
        if known is None:
            raise InvalidInput("unknown_department", f"no department {department!r}")
        query = query.where(Incident.department_id == known)
    groups: dict[str | None, dict[str, Any]] = {}
    for incident, count, last in session.execute(query):
        card = sla.incident_card(now, incident.reported_at, incident.handle_deadline, incident.close_deadline,
                                 resolved=incident.state == "resolved")
        if card not in CHASE_STATUS:
            continue
        dept = incident.department
        code = dept.code if dept is not None else None
        group = groups.setdefault(code, {
            "department": code, "name": {"zh": dept.name_zh, "en": dept.name_en} if dept is not None else None,
            "overdue": 0, "near": 0, "chases": 0, "orders": []})
        status = CHASE_STATUS[card]
        group[status] += 1
        group["chases"] += count or 0
        deadline = incident.close_deadline if incident.state == "resolved" else incident.handle_deadline
        group["orders"].append({
            "id": incident.id, "code": incident.code, "title": incident.title, "state": incident.state,
            "status": status, "deadline": to_iso(deadline), "reported_at": to_iso(incident.reported_at),
            "chases": count or 0, "last_chased_at": to_iso(last),
        })
    for group in groups.values():
        group["orders"].sort(key=lambda o: (o["status"] != "overdue", o["deadline"] or ""))
    return sorted(groups.values(), key=lambda g: (-g["overdue"], -g["near"], g["department"] or "\uffff"))


def screen_hotline(session: Session, snapshot: dict[str, Any], start: datetime, end: datetime, now: datetime, *,
                   grid_ids: list[int] | None = None) -> dict[str, Any]:
    """The big screen's hotline panel (issue 20): the ``hotline`` figures of the tiles' KPI snapshot of
    [start, end) — the one formula — with the transferred rate beside the direct rate, and the cohort's
    hotline orders and citizen reports made outside working hours (``dispatch.out_of_hours``, on the KPI
    cohort: no drills, duplicates once), read at most once a minute (``data.layers.per_minute``)."""
    figures = dict(snapshot.get("hotline") or {})
    orders = figures.get("orders") or 0
    figures["transferred_rate"] = round(figures.get("transferred", 0) / orders, 4) if orders else None

    def outside() -> dict[str, Any]:
        cohort = [Incident.reported_at >= start, Incident.reported_at < end, *counted_incidents()]
        if grid_ids is not None:
            cohort.append(Incident.grid_id.in_(grid_ids))
        return out_of_hours_figures(session, load_calendar(session), cohort, start, end, SOURCES)

    key = ("hotline-out-of-hours", start, tuple(grid_ids) if grid_ids is not None else None)
    by_source = per_minute(session, key, now, outside)["out_of_hours_by_source"]
    figures["out_of_hours"] = by_source.get("hotline", 0)
    figures["citizen_out_of_hours"] = by_source.get("citizen", 0)
    return figures
