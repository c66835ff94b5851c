"""Notification channels under /api/v1/channels (DESIGN §4, admin only) and the delivery status of an
incident's or an alert's notifications. The channels and the outbox themselves are ``dispatch.outbox``.

(``api/channels.py`` holds the intake channels — photos, detections, duplicates, ratings — not these.)
"""

from __future__ import annotations

from typing import Literal

from flask import Response, jsonify
from pydantic import BaseModel, Field

from alerts.queries import alert_by_id
from api.auth import current_db
from api.errors import ApiError
from api.registry import ADMIN, STAFF, Param, StrictBody, created, json_body, operation, parse_body
from api.registry import actor as current_actor
from dispatch import outbox
from dispatch.service import get_incident

CHANNEL_ID = Param("channel_id", "channel id", "integer", "path")
Level = Literal["blue", "yellow", "orange", "red"]


class ChannelIn(StrictBody):
    """A channel: an Apprise URL for exactly one of a department, a user or a duty post."""

    url: str = Field(min_length=1, max_length=2000, description="an Apprise URL (json://, mailto://, wecombot://...)")
    name: str = Field(min_length=1, max_length=outbox.NAME_MAX)
    department: str | None = Field(default=None, max_length=32, description="department code")
    user: str | None = Field(default=None, max_length=64, description="user name")
    duty_post: str | None = Field(default=None, max_length=32, description="duty post code")
    min_level: Level = Field(default="blue", description="alerts and cards below this level are not sent")


class ChannelOut(BaseModel):
    """A channel as listed: its URL with passwords and tokens masked."""

    id: int
    name: str
    url: str = Field(description="masked")
    department: str | None
    user: str | None
    duty_post: str | None
    min_level: str
    created_at: str


class DeliveryOut(BaseModel):
    """One notification of an incident or alert to one channel."""

    channel: str
    channel_id: int
    kind: str
    state: Literal["pending", "sent", "cancelled", "failed"]
    attempts: int
    sent_at: str | None
    last_error: str | None


@operation("/channels", "GET", summary="Notification channels (URLs masked)", tag="channels", roles=ADMIN,
           response=ChannelOut, many=True, errors=(401, 403))
def get_channels() -> Response:
    with current_db().uow() as session:
        return jsonify([outbox.channel_to_dict(row) for row in outbox.list_channels(session)])


@operation("/channels", "POST", summary="Add a notification channel (an Apprise URL, stored encrypted)",
           tag="channels", roles=ADMIN, body=ChannelIn, response=ChannelOut, status=201,
           errors=(400, 401, 403, 409, 422))
def post_channel() -> tuple[Response, int]:
    data = parse_body(ChannelIn, json_body())
    spec = outbox.ChannelSpec(url=data.url, name=data.name, department=data.department, user=data.user,
                              duty_post=data.duty_post, min_level=data.min_level)
    with current_db().uow() as session:
        try:
            row = outbox.create_channel(session, spec, actor_id=current_actor().id)
        except outbox.ChannelError as exc:
            raise ApiError(409 if exc.code == "channel_key_missing" else 422, exc.code, exc.message) from None
        return created(outbox.channel_to_dict(row))


@operation("/channels/<int:channel_id>", "DELETE", summary="Delete a notification channel (its unsent messages "
           "are cancelled)", tag="channels", roles=ADMIN, response=ChannelOut, params=(CHANNEL_ID,),
           errors=(401, 403, 404))
def delete_channel(channel_id: int) -> Response:
    with current_db().uow() as session:
        row = outbox.delete_channel(session, channel_id, actor_id=current_actor().id)
        if row is None:
            raise ApiError(404, "channel_not_found", f"no channel {channel_id}")
        return jsonify(outbox.channel_to_dict(row))


@operation("/incidents/<int:incident_id>/notifications", "GET", summary="Delivery status of an incident's "
           "notifications", tag="channels", response=DeliveryOut, many=True,
           params=(Param("incident_id", "incident id", "integer", "path"),), errors=(401, 404))
def get_incident_notifications(incident_id: int) -> Response:
    with current_db().uow() as session:
        get_incident(session, incident_id, user=current_actor())  # NotFound (404) when it is not theirs to see
        return jsonify(outbox.deliveries(session, incident_id=incident_id))


@operation("/alerts/<int:alert_id>/notifications", "GET", summary="Delivery status of an alert's notifications",
           tag="channels", roles=STAFF, response=DeliveryOut, many=True,
           params=(Param("alert_id", "alert id", "integer", "path"),), errors=(401, 403, 404))
def get_alert_notifications(alert_id: int) -> Response:
    with current_db().uow() as session:
        if alert_by_id(session, alert_id) is None:
            raise ApiError(404, "alert_not_found", f"no alert {alert_id}")
        return jsonify(outbox.deliveries(session, alert_id=alert_id))
