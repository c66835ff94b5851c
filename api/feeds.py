"""Feed and alert routes under /api/v1 (DESIGN §4): readings, sensors, alerts, evaluation and rules.

Declared with ``api.registry.operation`` (blueprint, role guard and OpenAPI in one); one unit of
work per request."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from flask import Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from alerts import rules_store
from alerts.cap import alert_cap
from alerts.engine import evaluate_pending
from alerts.inbox import InboxError
from alerts.inbox import ack_alert as ack_alert_service
from alerts.ingest import parse_ts
from alerts.intake import ingest_from
from alerts.queries import (
    AlertFilter,
    Page,
    alert_by_id,
    alerts_matching,
    all_rules,
    sensor_with_grid,
    sensors_with_grid,
    silences_with_grid,
)
from alerts.rule_changes import add_rule, change_rule, remove_rule
from alerts.rules_store import RuleStoreError
from alerts.sensors import SensorExists, register_sensor
from alerts.silences import SilenceError, add_silence, end_silence
from alerts.triage import TriageError, triage_alert
from api.auth import current_db
from api.errors import ApiError
from api.registry import (
    ADMIN,
    STAFF,
    Counts,
    Names,
    Param,
    StrictBody,
    audit,
    choice_arg,
    created,
    json_body,
    operation,
    page_args,
    parse_body,
    parse_moment,
)
from api.registry import actor as current_actor
from data.models import Alert, Rule, Sensor, Silence, utcnow
from data.queries import user_by_id
from dispatch import routing
from dispatch.service import (
    to_iso,
)
from domain.states import ALERT_LEVELS_DESC

MAX_READINGS = 10_000
MAX_READINGS_BYTES = 2 * 1024 * 1024
ALERT_STATES = ("pending", "firing", "resolved")
ALERT_LEVELS = ALERT_LEVELS_DESC


# --- request and response models ---------------------------------------------------------------

class ReadingIn(BaseModel):
    sensor_id: str
    ts: str = Field(description="ISO-8601 time with offset")
    value: float


class ReadingsRequest(BaseModel):
    """A batch of readings; bad rows are rejected one by one, good rows are kept."""

    readings: list[ReadingIn] = Field(max_length=MAX_READINGS)


class Rejection(BaseModel):
    index: int = Field(description="position of the row in the batch")
    reason: str


class ReadingsResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[Rejection]


class SensorIn(StrictBody):
    id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    kind: str = Field(min_length=1, max_length=32)
    family: str = Field(default="other", min_length=1, max_length=24)
    name: str = Field(min_length=1, max_length=128)
    unit: str = Field(max_length=16)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    status: Literal["online", "offline", "maintenance"] = "online"
    tags: list[str] = Field(default_factory=list)


class SensorOut(BaseModel):
    id: str
    kind: str
    family: str
    name: str
    lon: float
    lat: float
    unit: str
    grid_code: str | None
    status: str
    tags: list[str]
    last_value: float | None
    last_ts: str | None
    simulated: bool = Field(description="a demo sensor fed by the simulator (its readings are invented)")


class AlertOut(BaseModel):
    id: int
    rule_id: str
    sensor_id: str
    state: str
    level: str
    value: float | None
    started_at: str
    fired_at: str | None
    resolved_at: str | None
    acked_at: str | None
    incident_id: int | None
    exercise: bool
    muted: str | None = Field(description="why notification is muted: silence, maintenance, inhibited")
    review: str | None = Field(default=None, description="the review: confirmed, false_alarm or exercise")
    review_reason: str | None = Field(default=None, description="a false alarm's reason")
    reviewed_at: str | None = None
    reviewed_by_id: int | None = None


class SilenceIn(StrictBody):
    """A silence (or maintenance window) for a rule, sensor and/or grid; every criterion given must match."""

    kind: Literal["silence", "maintenance"] = "silence"
    rule_id: str | None = Field(default=None, max_length=64)
    sensor_id: str | None = Field(default=None, max_length=40)
    grid_code: str | None = Field(default=None, max_length=32)
    starts_at: str | None = Field(default=None, description="ISO-8601 with offset; default now")
    ends_at: str | None = Field(default=None, description="ISO-8601 with offset; or give minutes")
    minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 90, description="length from starts_at")
    reason: str | None = Field(default=None, max_length=500)


class SilenceOut(BaseModel):
    id: int
    kind: str
    rule_id: str | None
    sensor_id: str | None
    grid_code: str | None
    starts_at: str
    ends_at: str
    reason: str | None
    active: bool


class TriageIn(StrictBody):
    category: str | None = Field(default=None, max_length=16, description="default: the rule's category")


class TriageOut(BaseModel):
    alert: AlertOut
    incident_id: int
    incident_code: str


class RuleDocument(BaseModel):
    """An alert rule (DESIGN §5): id, name {zh,en}, applies_to, condition, for, clear, incident, labels."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: Names
    applies_to: dict[str, Any]
    condition: dict[str, Any]


class RuleOut(BaseModel):
    id: str
    enabled: bool
    source: str
    updated_at: str
    rule: RuleDocument


class RuleIn(StrictBody):
    rule: dict[str, Any] = Field(description="the rule document (DESIGN §5)")
    enabled: bool = True



# --- readings and sensors -----------------------------------------------------------------------


@operation("/readings", "POST", summary="Ingest a batch of sensor readings", tag="readings", roles=STAFF,
           body=ReadingsRequest, response=ReadingsResult, errors=(400, 401, 403, 413, 422))
def post_readings() -> Response:
    request.max_content_length = MAX_READINGS_BYTES  # Werkzeug answers 413 above it
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("readings"), list):
        raise ApiError(400, "bad_json", 'the body must be {"readings": [...]}')
    rows = body["readings"]
    if len(rows) > MAX_READINGS:
        raise ApiError(413, "payload_too_large", f"at most {MAX_READINGS} readings a request")
    with current_db().uow() as session:
        result = ingest_from(session, current_actor(), rows)
    return jsonify(result.as_dict())


def sensor_to_dict(sensor: Sensor, grid_code: str | None) -> dict[str, Any]:
    """The API representation of a sensor."""
    return {
        "id": sensor.id, "kind": sensor.kind, "family": sensor.family, "name": sensor.name,
        "lon": sensor.lon, "lat": sensor.lat, "unit": sensor.unit, "grid_code": grid_code,
        "status": sensor.status, "tags": list(sensor.tags or []), "last_value": sensor.last_value,
        "last_ts": to_iso(sensor.last_ts), "simulated": bool(sensor.simulated),
    }


@operation("/sensors", "GET", summary="List sensors", tag="sensors", response=SensorOut, many=True,
           params=(Param("kind", "sensor kind"), Param("status", "online, offline..."),
                   Param("limit", "at most 1000", "integer"), Param("offset", "rows to skip", "integer")),
           errors=(401, 422))
def list_sensors() -> Response:
    page = Page(*page_args())
    with current_db().uow() as session:
        rows = sensors_with_grid(session, kind=request.args.get("kind"), status=request.args.get("status"),
                                 page=page)
        return jsonify([sensor_to_dict(sensor, code) for sensor, code in rows])


@operation("/sensors", "POST", summary="Register a sensor (routed to its grid)", tag="sensors", roles=ADMIN,
           body=SensorIn, response=SensorOut, status=201, errors=(400, 401, 403, 409, 422))
def post_sensor() -> tuple[Response, int]:
    data = parse_body(SensorIn, json_body())
    with current_db().uow() as session:
        try:
            sensor = register_sensor(session, current_actor(), data.model_dump(),
                                     routing.grid_of_point(session, data.lon, data.lat))
        except SensorExists as exc:
            raise ApiError(409, exc.code, str(exc)) from None
        return created(sensor_to_dict(*(sensor_with_grid(session, sensor.id) or (sensor, None))))


@operation("/sensors/<sensor_id>", "GET", summary="One sensor", tag="sensors", response=SensorOut,
           params=(Param("sensor_id", "sensor id", where="path"),), errors=(401, 404))
def get_sensor(sensor_id: str) -> Response:
    with current_db().uow() as session:
        row = sensor_with_grid(session, sensor_id)
        if row is None:
            raise ApiError(404, "sensor_not_found", f"no sensor {sensor_id!r}")
        return jsonify(sensor_to_dict(*row))


# --- alerts -------------------------------------------------------------------------------------


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    """The API representation of an alert."""
    return {
        "id": alert.id, "rule_id": alert.rule_id, "sensor_id": alert.sensor_id, "state": alert.state,
        "level": alert.level, "value": alert.value, "started_at": to_iso(alert.started_at),
        "fired_at": to_iso(alert.fired_at), "resolved_at": to_iso(alert.resolved_at),
        "acked_at": to_iso(alert.acked_at), "incident_id": alert.incident_id,
        "exercise": bool(alert.exercise), "muted": alert.muted, "review": alert.review,
        "review_reason": alert.review_reason, "reviewed_at": to_iso(alert.reviewed_at),
        "reviewed_by_id": alert.reviewed_by_id,
    }


@operation("/alerts", "GET", summary="List alerts, newest first", tag="alerts", response=AlertOut, many=True,
           params=(Param("state", "pending, firing or resolved (comma-separated)"),
                   Param("level", "red, orange, yellow or blue (comma-separated)"),
                   Param("since", "ISO time: alerts started at or after it"),
                   Param("family", "sensor family (comma-separated), e.g. gas,air"),
                   Param("grid", "unit grid code of the sensor"),
                   Param("exercise", "true: drill alerts only; false: real ones only"),
                   Param("limit", "at most 1000", "integer"), Param("offset", "rows to skip", "integer")),
           errors=(401, 422))
def list_alerts() -> Response:
    exercise = choice_arg("exercise", ("true", "false"))
    where = AlertFilter(
        states=choice_arg("state", ALERT_STATES) or (), levels=choice_arg("level", ALERT_LEVELS) or (),
        families=[f.strip() for f in request.args.get("family", "").split(",") if f.strip()],
        grid_code=request.args.get("grid") or None,
        exercise=exercise[0] == "true" if exercise and len(exercise) == 1 else None,
        since=parse_moment(request.args["since"], "since") if request.args.get("since") else None,
    )
    page = Page(*page_args())
    with current_db().uow() as session:
        return jsonify([alert_to_dict(a) for a in alerts_matching(session, where, page)])


@operation("/alerts/<int:alert_id>/ack", "POST", summary="Acknowledge an alert (mutes, never loses it)",
           tag="alerts", roles=STAFF, response=AlertOut,
           params=(Param("alert_id", "alert id", "integer", "path"),), errors=(401, 403, 404))
def ack_alert(alert_id: int) -> Response:
    with current_db().uow() as session:
        try:
            alert, _ = ack_alert_service(session, current_actor(), alert_id)
        except InboxError as exc:
            raise ApiError(404, exc.code, str(exc)) from None
        return jsonify(alert_to_dict(alert))


ALERT_PATH = (Param("alert_id", "alert id", "integer", "path"),)


@operation("/alerts/<int:alert_id>/cap", "GET", summary="The alert as an OASIS CAP 1.2 XML document",
           tag="alerts", params=ALERT_PATH, errors=(401, 404))
def get_alert_cap(alert_id: int) -> Response:
    with current_db().uow() as session:
        alert = alert_by_id(session, alert_id)
        if alert is None:
            raise ApiError(404, "alert_not_found", f"no alert {alert_id}")
        document = alert_cap(session, alert)
    return Response(document, mimetype="application/xml",
                    headers={"Content-Disposition": f'inline; filename="alert-{alert_id}.cap.xml"'})


@operation("/alerts/<int:alert_id>/incident", "POST", summary="Triage: turn a fired alert into an incident",
           tag="alerts", roles=STAFF, body=TriageIn, response=TriageOut, status=201, params=ALERT_PATH,
           errors=(400, 401, 403, 404, 409, 422))
def post_alert_incident(alert_id: int) -> tuple[Response, int]:
    raw = json_body()
    data = parse_body(TriageIn, {} if raw is None else raw)
    with current_db().uow() as session:
        actor = user_by_id(session, current_actor().id)
        try:
            alert, incident = triage_alert(session, alert_id, actor=actor, category=data.category)
        except TriageError as exc:
            raise ApiError(exc.status, exc.code, str(exc)) from None
        return created({"alert": alert_to_dict(alert), "incident_id": incident.id, "incident_code": incident.code})


# --- silences and maintenance windows -----------------------------------------------------------


def silence_to_dict(silence: Silence, grid_code: str | None, now: datetime) -> dict[str, Any]:
    """The API representation of a silence."""
    return {
        "id": silence.id, "kind": silence.kind, "rule_id": silence.rule_id, "sensor_id": silence.sensor_id,
        "grid_code": grid_code, "starts_at": to_iso(silence.starts_at), "ends_at": to_iso(silence.ends_at),
        "reason": silence.reason, "active": silence.starts_at <= now < silence.ends_at,
    }


def _silence_window(data: SilenceIn, now: datetime) -> tuple[datetime, datetime]:
    starts_at = parse_iso(data.starts_at, "starts_at") if data.starts_at else now
    if data.ends_at and data.minutes:
        raise ApiError(422, "invalid_field", "ends_at: give ends_at or minutes, not both")
    if data.ends_at:
        return starts_at, parse_iso(data.ends_at, "ends_at")
    if data.minutes:
        return starts_at, starts_at + timedelta(minutes=data.minutes)
    raise ApiError(422, "invalid_field", "ends_at: give ends_at or minutes")


def parse_iso(raw: str, name: str) -> datetime:
    """An ISO-8601 time that must carry an offset; 422 naming ``name`` otherwise."""
    try:
        return parse_ts(raw)
    except ValueError as exc:
        raise ApiError(422, "invalid_field", f"{name}: {exc}") from None


@operation("/silences", "POST", summary="Silence alerts (or declare a maintenance window) for a while",
           tag="alerts", roles=STAFF, body=SilenceIn, response=SilenceOut, status=201,
           errors=(400, 401, 403, 404, 422))
def post_silence() -> tuple[Response, int]:
    data = parse_body(SilenceIn, json_body())
    now = utcnow()
    starts_at, ends_at = _silence_window(data, now)
    with current_db().uow() as session:
        try:
            silence = add_silence(
                session, current_actor(), kind=data.kind, rule_id=data.rule_id, sensor_id=data.sensor_id,
                grid_code=data.grid_code, starts_at=starts_at, ends_at=ends_at, reason=data.reason, now=now,
            )
        except SilenceError as exc:
            status = 404 if exc.code.startswith("unknown_") else 422
            raise ApiError(status, exc.code, str(exc)) from None
        return created(silence_to_dict(silence, data.grid_code, now))


@operation("/silences", "GET", summary="Silences and maintenance windows, newest first", tag="alerts",
           roles=STAFF, response=SilenceOut, many=True,
           params=(Param("active", "true: only those in force now"),
                   Param("limit", "at most 1000", "integer"), Param("offset", "rows to skip", "integer")),
           errors=(401, 403, 422))
def list_silences() -> Response:
    now = utcnow()
    active_only = choice_arg("active", ("true", "false")) == ["true"]
    page = Page(*page_args())
    with current_db().uow() as session:
        rows = silences_with_grid(session, now=now, active_only=active_only, page=page)
        return jsonify([silence_to_dict(silence, code, now) for silence, code in rows])


@operation("/silences/<int:silence_id>", "DELETE", summary="End a silence now (it is kept for the record)",
           tag="alerts", roles=STAFF, status=204,
           params=(Param("silence_id", "silence id", "integer", "path"),), errors=(401, 403, 404))
def delete_silence(silence_id: int) -> tuple[str, int]:
    with current_db().uow() as session:
        if end_silence(session, current_actor(), silence_id, utcnow()) is None:
            raise ApiError(404, "silence_not_found", f"no silence {silence_id}")
    return "", 204


@operation("/evaluate", "POST", summary="Evaluate every reading not yet evaluated, now", tag="alerts",
           roles=ADMIN, response=Counts, errors=(401, 403))
def evaluate_now() -> Response:
    with current_db().uow() as session:
        counts = evaluate_pending(session)
        audit(session, "alerts.evaluate", "rules", counts)
        return jsonify(counts)


# --- rules --------------------------------------------------------------------------------------


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The API representation of a stored rule."""
    return {"id": rule.id, "enabled": bool(rule.enabled), "source": rule.source,
            "updated_at": to_iso(rule.updated_at), "rule": rule.body}


def _rule_body() -> RuleIn:
    return parse_body(RuleIn, json_body())


def _store_call(change: Any) -> Any:
    """Run a rules_store change, turning its refusal into the API error."""
    try:
        return change()
    except RuleStoreError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None


RULE_PATH = (Param("rule_id", "rule id", where="path"),)


@operation("/rules", "GET", summary="List alert rules", tag="rules", roles=STAFF, response=RuleOut, many=True,
           errors=(401, 403))
def list_rules() -> Response:
    with current_db().uow() as session:
        return jsonify([rule_to_dict(r) for r in all_rules(session)])


@operation("/rules", "POST", summary="Add an alert rule", tag="rules", roles=ADMIN, body=RuleIn,
           response=RuleOut, status=201, errors=(400, 401, 403, 409, 422))
def post_rule() -> tuple[Response, int]:
    data = _rule_body()
    with current_db().uow() as session:
        rule = _store_call(lambda: add_rule(session, current_actor(), dict(data.rule), enabled=data.enabled))
        return created(rule_to_dict(rule))


@operation("/rules/<rule_id>", "GET", summary="One alert rule", tag="rules", roles=STAFF, response=RuleOut,
           params=RULE_PATH, errors=(401, 403, 404))
def get_rule(rule_id: str) -> Response:
    with current_db().uow() as session:
        return jsonify(rule_to_dict(_store_call(lambda: rules_store.stored_rule(session, rule_id))))


@operation("/rules/<rule_id>", "PUT",
           summary="Replace an alert rule defined through the API (a file rule: switch it on or off)",
           tag="rules", roles=ADMIN, body=RuleIn, response=RuleOut, params=RULE_PATH,
           errors=(400, 401, 403, 404, 409, 422))
def put_rule(rule_id: str) -> Response:
    data = _rule_body()
    with current_db().uow() as session:
        rule = _store_call(lambda: change_rule(session, current_actor(), rule_id, dict(data.rule),
                                               enabled=data.enabled))
        return jsonify(rule_to_dict(rule))


@operation("/rules/<rule_id>", "DELETE", summary="Delete an alert rule defined through the API", tag="rules",
           roles=ADMIN, status=204, params=RULE_PATH, errors=(401, 403, 404, 409))
def delete_rule(rule_id: str) -> tuple[str, int]:
    with current_db().uow() as session:
        _store_call(lambda: remove_rule(session, current_actor(), rule_id))
    return "", 204
