"""The 12345 city hotline seat: a call becomes a work order located by a searched doorplate address,
answered directly (直办: filed and closed at once) or transferred (转办: filed and dispatched to the
category's department), and rated by the caller (满意/基本满意/不满意) once it is closed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from data.models import Doorplate, Incident
from dispatch.service import Actor, Caller, InvalidInput, answer_directly, apply_action, create_incident
from dispatch.workflow import Action

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
