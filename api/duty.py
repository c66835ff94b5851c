"""The duty rota, who is on duty now, the shift log and the handover under /api/v1/duty (issue 17 §4).
Declared with ``api.registry.operation``; the work is done by ``dispatch.duty``; the handover's print view is
``reports.handover``."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from flask import Response, jsonify, request
from pydantic import BaseModel, Field

from api.auth import current_db
from api.errors import ApiError
from api.registry import Param, StrictBody, created, int_arg, json_body, operation, parse_body
from api.registry import actor as current_actor
from data.models import utcnow
from dispatch import duty
from reports.handover import render_handover
from settings import get_settings

HANDOVER_ID = Param("handover_id", "handover id", "integer", "path")
ENTRY_ID = Param("entry_id", "rota entry id", "integer", "path")
#: The longest span of days one rota read covers.
ROTA_DAYS_MAX = 62


class OnDuty(BaseModel):
    post: str = Field(description="shift_lead | duty_officer | duty_leader")
    username: str | None
    name: str | None


class ShiftOut(BaseModel):
    day: str
    shift: str
    starts_at: str
    ends_at: str


class DutyNowOut(BaseModel):
    """The shift in progress and who holds each duty post in it."""

    shift: ShiftOut
    on_duty: list[OnDuty]


class RotaIn(StrictBody):
    """A rota entry: a local day, a shift (day | night), a post and a user name."""

    date: dt.date
    shift: str = Field(max_length=16)
    post: str = Field(max_length=32)
    username: str = Field(min_length=1, max_length=64)


class RotaOut(BaseModel):
    id: int
    day: str
    shift: str
    post: str
    username: str
    name: str
    starts_at: str
    ends_at: str


class LogIn(StrictBody):
    """A shift-log entry: ``kind`` event | instruction | open_matter."""

    kind: str = Field(max_length=16)
    text: str = Field(max_length=duty.TEXT_MAX)


class LogOut(BaseModel):
    id: int
    day: str
    shift: str
    kind: str
    text: str
    author: str | None
    at: str


class HandoverIn(StrictBody):
    note: str = Field(max_length=duty.TEXT_MAX)


class HandoverOut(BaseModel):
    """A handover note with its shift, crew, log and open matters, and who of the next shift took over."""

    id: int
    day: str
    shift: str
    starts_at: str
    ends_at: str
    note: str
    author: str | None
    at: str
    acked_by: str | None
    acked_at: str | None
    crew: list[RotaOut]
    log: list[LogOut]
    open_matters: list[LogOut]


def _refused(exc: duty.DutyError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _day_arg(name: str, default: dt.date) -> dt.date:
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be a date YYYY-MM-DD") from None


@operation("/duty/now", "GET", summary="The shift in progress and who is on duty", tag="duty", response=DutyNowOut,
           errors=(401,))
def get_duty_now() -> Response:
    with current_db().uow() as session:
        return jsonify(duty.on_duty_now(session))


@operation("/duty/rota", "GET", summary="The duty rota of a span of days (default: this week from today)",
           tag="duty", roles=duty.READ_ROLES, response=RotaOut, many=True,
           params=(Param("from", "first day, YYYY-MM-DD"), Param("to", "last day, YYYY-MM-DD")),
           errors=(401, 403, 422))
def get_duty_rota() -> Response:
    first = _day_arg("from", utcnow().astimezone(get_settings().zone).date())
    last = _day_arg("to", first + timedelta(days=6))
    if not timedelta(0) <= last - first <= timedelta(days=ROTA_DAYS_MAX):
        raise ApiError(422, "invalid_parameter", f"to: from 0 to {ROTA_DAYS_MAX} days after from")
    with current_db().uow() as session:
        return jsonify([duty.rota_to_dict(row) for row in duty.rota_between(session, first, last)])


@operation("/duty/rota", "POST", summary="Put a user on a duty post for one shift (admin; audited)", tag="duty",
           roles=duty.ROTA_ROLES, body=RotaIn, response=RotaOut, status=201, errors=(400, 401, 403, 409, 422))
def post_duty_rota() -> tuple[Response, int]:
    data = parse_body(RotaIn, json_body())
    with current_db().uow() as session:
        try:
            row = duty.add_rota_entry(session, current_actor(),
                                      duty.RotaEntryIn(data.date, data.shift, data.post, data.username))
        except duty.DutyError as exc:
            raise _refused(exc) from None
        return created(duty.rota_to_dict(row))


@operation("/duty/rota/<int:entry_id>", "DELETE", summary="Take an entry off the duty rota (admin; audited)",
           tag="duty", roles=duty.ROTA_ROLES, response=RotaOut, params=(ENTRY_ID,), errors=(401, 403, 404))
def delete_duty_rota(entry_id: int) -> Response:
    with current_db().uow() as session:
        try:
            row = duty.remove_rota_entry(session, current_actor(), entry_id)
        except duty.DutyError as exc:
            raise _refused(exc) from None
        return jsonify(duty.rota_to_dict(row))


@operation("/duty/log", "GET", summary="The log of the shift in progress", tag="duty", roles=duty.READ_ROLES,
           response=LogOut, many=True, errors=(401, 403))
def get_duty_log() -> Response:
    with current_db().uow() as session:
        return jsonify([duty.log_to_dict(row) for row in duty.shift_log(session, duty.slot_at(utcnow()))])


@operation("/duty/log", "POST", summary="Record an event, instruction or open matter in the shift log",
           tag="duty", roles=duty.DESK_ROLES, body=LogIn, response=LogOut, status=201,
           errors=(400, 401, 403, 422))
def post_duty_log() -> tuple[Response, int]:
    data = parse_body(LogIn, json_body())
    with current_db().uow() as session:
        try:
            row = duty.add_log_entry(session, current_actor(), data.kind, data.text)
        except duty.DutyError as exc:
            raise _refused(exc) from None
        return created(duty.log_to_dict(row))


@operation("/duty/handover", "GET", summary="The latest handovers, newest first", tag="duty",
           roles=duty.READ_ROLES, response=HandoverOut, many=True, params=(Param("limit", "at most 1..200"),),
           errors=(401, 403, 422))
def get_duty_handovers() -> Response:
    limit = int_arg("limit", 20, 1, 200)
    with current_db().uow() as session:
        return jsonify([duty.handover_to_dict(session, row) for row in duty.handovers(session, limit)])


@operation("/duty/handover", "POST", summary="Hand over the shift in progress (one note per shift)", tag="duty",
           roles=duty.DESK_ROLES, body=HandoverIn, response=HandoverOut, status=201,
           errors=(400, 401, 403, 409, 422))
def post_duty_handover() -> tuple[Response, int]:
    data = parse_body(HandoverIn, json_body())
    with current_db().uow() as session:
        try:
            row = duty.hand_over(session, current_actor(), data.note)
        except duty.DutyError as exc:
            raise _refused(exc) from None
        return created(duty.handover_to_dict(session, row))


@operation("/duty/handover/<int:handover_id>/ack", "POST", summary="The next shift acknowledges a handover",
           tag="duty", roles=duty.DESK_ROLES, response=HandoverOut, params=(HANDOVER_ID,),
           errors=(401, 403, 404, 409))
def post_duty_handover_ack(handover_id: int) -> Response:
    with current_db().uow() as session:
        try:
            row = duty.acknowledge_handover(session, current_actor(), handover_id)
        except duty.DutyError as exc:
            raise _refused(exc) from None
        return jsonify(duty.handover_to_dict(session, row))


@operation("/duty/handover/<int:handover_id>/print", "GET", summary="A handover's printable page (HTML)",
           tag="duty", roles=duty.READ_ROLES, params=(HANDOVER_ID,), errors=(401, 403, 404))
def get_duty_handover_print(handover_id: int) -> Response:
    with current_db().uow() as session:
        try:
            record = duty.handover_to_dict(session, duty.get_handover(session, handover_id))
        except duty.DutyError as exc:
            raise _refused(exc) from None
    return Response(render_handover(record), mimetype="text/html")
