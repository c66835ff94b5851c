"""Warning review and warning statistics under /api/v1 (issue 17 §5): ``POST /alerts/{id}/review`` and
``GET /alerts/stats``. Declared with ``api.registry.operation`` like api/feeds.py; the work is done by
``alerts.review``."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from pydantic import BaseModel, Field

from alerts.review import GROUPS, NOTE_MAX, ReviewCommand, ReviewError, review_alert, warning_stats
from api.auth import current_db
from api.errors import ApiError
from api.feeds import ALERT_PATH, AlertOut, alert_to_dict
from api.registry import STAFF, Param, StrictBody, json_body, operation, parse_body
from api.registry import actor as current_actor
from api.v1 import kpi_period
from data.models import Role, utcnow
from dispatch.service import to_iso
from dispatch.tiers import area_of

#: Who reads the warning statistics: the command centre and its leaders.
STATS_ROLES = (Role.ADMIN, Role.OPERATOR, Role.LEADER)


class ReviewIn(StrictBody):
    """A review: ``verdict`` confirmed | false_alarm | exercise; a false alarm's ``reason`` device_fault |
    calibration | environment | test; an optional ``note``."""

    verdict: str = Field(max_length=32)
    reason: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=NOTE_MAX)


class WarningFigures(BaseModel):
    raised: int
    reviewed: int = Field(description="confirmed + false alarms")
    confirmed: int
    false_alarm: int
    false_alarm_rate: float | None = Field(description="false_alarm / reviewed; null when nothing was reviewed")
    false_alarm_reasons: dict[str, int]
    unreviewed: int
    acknowledged: int
    mean_ack_minutes: float | None = Field(description="mean minutes from firing to acknowledgement")
    mean_review_minutes: float | None = Field(description="mean minutes from firing to review")
    exercises: int = Field(description="drills and alerts reviewed as an exercise: in no other figure")


class WarningGroup(WarningFigures):
    key: str | None
    name: dict[str, str] | None


class WarningStatsOut(BaseModel):
    """The warning statistics of the alerts fired in [from, to)."""

    model_config = {"populate_by_name": True}

    from_: str = Field(alias="from")
    to: str
    group: str | None
    total: WarningFigures
    groups: list[WarningGroup] | None = None


@operation("/alerts/<int:alert_id>/review", "POST",
           summary="Review a fired alert: confirmed, false_alarm (with a reason) or exercise",
           tag="alerts", roles=STAFF, body=ReviewIn, response=AlertOut, params=ALERT_PATH,
           errors=(400, 401, 403, 404, 422))
def post_alert_review(alert_id: int) -> Response:
    data = parse_body(ReviewIn, json_body())
    with current_db().uow() as session:
        try:
            alert = review_alert(session, current_actor(), alert_id,
                                 ReviewCommand(data.verdict, data.reason, data.note), utcnow())
        except ReviewError as exc:
            raise ApiError(exc.status, exc.code, str(exc)) from None
        return jsonify(alert_to_dict(alert))


@operation("/alerts/stats", "GET", summary="Warning statistics of the alerts fired in [from, to)", tag="alerts",
           roles=STATS_ROLES,
           response=WarningStatsOut,
           params=(Param("from", "ISO date or time; default today 00:00 in CITYOPS_TZ"),
                   Param("to", "ISO date or time, exclusive; default tomorrow 00:00"),
                   Param("group", f"one of {', '.join(GROUPS)}: figures per group too")),
           errors=(401, 403, 422))
def get_alert_stats() -> Response:
    start, end = kpi_period(request.args.get("from"), request.args.get("to"))
    group = (request.args.get("group") or "").strip() or None
    if group is not None and group not in GROUPS:
        raise ApiError(422, "invalid_parameter", f"group must be one of {', '.join(GROUPS)}")
    with current_db().uow() as session:
        # A command tier's operator or leader reads the warnings of their own area only.
        stats: dict[str, Any] = warning_stats(session, start, end, group, area_code=area_of(current_actor()))
    return jsonify({**stats, "from": to_iso(stats["from"]), "to": to_iso(stats["to"])})
