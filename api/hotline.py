"""/api/v1 routes of the 12345 hotline after intake: follow-up calls (回访), replies to callers (统一回复)
and the chase ledger (催办台账). Staff only (operators and admins); declared with
``api.registry.operation`` like api/v1.py; the rules live in dispatch/hotline.py and dispatch/service.py."""

from __future__ import annotations

from typing import Literal

from flask import Response, jsonify, request
from pydantic import BaseModel, Field

from api.auth import current_db
from api.registry import STAFF, Names, Param, StrictBody, int_arg, json_body, operation, parse_body
from api.registry import actor as current_actor
from dispatch.hotline import (
    FollowupResult,
    chase_ledger,
    followup_to_dict,
    list_followups,
    order_by_code,
    record_followup,
)
from dispatch.service import FOLLOWUP_STATES, NOTE_MAX, SATISFACTION, chase, reply_to_caller, to_iso

ORDER_CODE = Param("code", "the order's code, e.g. SJ20261122-000123", "string", "path")


class FollowupIn(StrictBody):
    reached: bool = Field(description="whether the call reached the caller")
    satisfaction: Literal[SATISFACTION] | None = Field(  # type: ignore[valid-type]
        default=None, description="the reached caller's satisfaction")
    reason: str | None = Field(default=None, max_length=NOTE_MAX, description="why (required when dissatisfied)")
    reopen: bool = Field(default=False, description="return a dissatisfied caller's order for rework (返工)")


class FollowupOut(BaseModel):
    id: int
    code: str
    incident_id: int
    title: str
    hotline_mode: str | None
    caller: dict[str, str | None] | None = Field(description="the caller; the phone masked")
    closed_at: str | None
    reply: str | None
    state: Literal[FOLLOWUP_STATES]  # type: ignore[valid-type]
    created_at: str
    called_at: str | None
    reached: bool | None
    satisfaction: str | None
    reason: str | None
    reopened: bool


class ReplyIn(StrictBody):
    text: str = Field(min_length=1, max_length=NOTE_MAX, description="the reply given to the caller")


class ReplyOut(BaseModel):
    code: str
    reply: str
    replied_at: str


class ChaseIn(StrictBody):
    note: str | None = Field(default=None, max_length=NOTE_MAX)


class ChaseOut(BaseModel):
    code: str
    chases: int = Field(description="how often the order has been chased, this time included")
    last_chased_at: str


class ChaseOrderOut(BaseModel):
    id: int
    code: str
    title: str
    state: str
    status: Literal["overdue", "near"]
    deadline: str | None
    reported_at: str | None
    chases: int
    last_chased_at: str | None


class ChaseDepartmentOut(BaseModel):
    department: str | None
    name: Names | None
    overdue: int
    near: int
    chases: int
    orders: list[ChaseOrderOut]


@operation("/followups", "GET", summary="Follow-up calls (回访) of closed hotline orders", tag="hotline",
           roles=STAFF, response=FollowupOut, many=True,
           params=(Param("state", f"one of {', '.join(FOLLOWUP_STATES)}; default pending"),
                   Param("limit", "at most this many (1..1000, default 100)", "integer")),
           errors=(401, 403, 422))
def get_followups() -> Response:
    state = request.args.get("state") or "pending"
    limit = int_arg("limit", 100, 1)
    with current_db().uow() as session:
        viewer = current_actor()
        return jsonify([followup_to_dict(f, viewer) for f in list_followups(session, state=state, limit=limit)])


@operation("/followups/<code>", "POST", summary="Record the pending follow-up call of a hotline order",
           tag="hotline", roles=STAFF, body=FollowupIn, response=FollowupOut, params=(ORDER_CODE,),
           errors=(400, 401, 403, 404, 422))
def post_followup(code: str) -> Response:
    data = parse_body(FollowupIn, json_body())
    result = FollowupResult(reached=data.reached, satisfaction=data.satisfaction, reason=data.reason,
                            reopen=data.reopen)
    with current_db().uow() as session:
        viewer = current_actor()
        followup = record_followup(session, code, result, actor=viewer)
        return jsonify(followup_to_dict(followup, viewer))


@operation("/hotline/replies/<code>", "POST",
           summary="Record the reply (统一回复) to the caller of a closed hotline order or citizen report",
           tag="hotline", roles=STAFF, body=ReplyIn, response=ReplyOut, params=(ORDER_CODE,),
           errors=(400, 401, 403, 404, 422))
def post_reply(code: str) -> Response:
    data = parse_body(ReplyIn, json_body())
    with current_db().uow() as session:
        incident = reply_to_caller(session, order_by_code(session, code).id, data.text, actor=current_actor())
        return jsonify({"code": incident.code, "reply": incident.public_reply,
                        "replied_at": to_iso(incident.replied_at)})


@operation("/hotline/chases", "GET",
           summary="The chase ledger (催办台账): open transferred orders near or past their deadline, by department",
           tag="hotline", roles=STAFF, response=ChaseDepartmentOut, many=True,
           params=(Param("department", "only this department (code)"),), errors=(401, 403, 422))
def get_chases() -> Response:
    with current_db().uow() as session:
        return jsonify(chase_ledger(session, department=request.args.get("department") or None))


@operation("/hotline/chases/<code>", "POST", summary="Chase (催办) the department of an open transferred order",
           tag="hotline", roles=STAFF, body=ChaseIn, response=ChaseOut, status=201, params=(ORDER_CODE,),
           errors=(400, 401, 403, 404, 422))
def post_chase(code: str) -> tuple[Response, int]:
    data = parse_body(ChaseIn, json_body() or {})
    with current_db().uow() as session:
        incident = chase(session, order_by_code(session, code).id, data.note, actor=current_actor())
        chases = [h for h in incident.history if h.action == "chase"]
        return jsonify({"code": incident.code, "chases": len(chases), "last_chased_at": to_iso(chases[-1].at)}), 201
