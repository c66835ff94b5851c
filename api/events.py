"""Emergency events and plans under /api/v1 (issue 18, DESIGN §4): ``GET /events?state=``, ``GET /events/{id}``,
``GET/POST /plans`` as the contract says, and the event's writes (open, activate or change the level, note,
under control, close, link incidents and alerts, assign and release resources), the nearest resources of a kind,
and the drill report. Declared with ``api.registry.operation``; the work is done by ``dispatch.emergency`` and
``dispatch.emergency_plans``.

The writes that change an event's state (level, under control, close, assign and release resources) take the
``version`` the client showed — in the body, as ``/api/v1/incidents/{id}/actions`` does, or as ``If-Match`` —
and answer 409 ``stale_version`` when the event moved on meanwhile (nothing is changed); an event's answers
carry its ``version`` (and GET an ``ETag``). Without a version the write applies to the event as it is."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import current_db
from api.errors import ApiError
from api.registry import Param, StrictBody, created, int_arg, json_body, operation, parse_body
from api.registry import actor as current_actor
from dispatch import emergency, emergency_plans
from dispatch.emergency import EmergencyError
from reports.event_report import render_event_pdf

EVENT_ID = Param("event_id", "event id", "integer", "path")
ASSIGNMENT_ID = Param("assignment_id", "resource assignment id", "integer", "path")
TEXT_MAX = emergency.NOTE_MAX


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class EventOut(_Open):
    """An event: ``id, code, title, scenario, level`` (I|II|III|IV, I the highest; null before activation),
    ``state`` (active|closed), ``exercise``, ``plan_id``, ``plan_version``, ``opened_at``, ``closed_at``,
    ``incident_ids``, ``tasks`` [{department, role (lead|assist), state, deadline}], ``timeline``, ``kpis``."""

    id: int
    code: str
    title: str
    scenario: str
    level: str | None
    state: str
    exercise: bool
    plan_id: str | None
    plan_version: int | None
    opened_at: str
    closed_at: str | None
    incident_ids: list[int]
    version: int = Field(description="send it back with a write: 409 when the event changed meanwhile")


class PlanOut(BaseModel):
    """A plan's newest version and its validated document."""

    id: str
    version: int
    scenario: str
    source: str
    created_at: str
    document: dict[str, Any]


class PlanIn(_Open):
    """A plan document (see dispatch/plans/*.yaml); validated, a 422 names the offending field."""


class EventIn(StrictBody):
    """Open an event by hand (lon, lat), from an alert or from an incident."""

    title: str = Field(min_length=1, max_length=emergency.TITLE_MAX)
    scenario: str = Field(min_length=1, max_length=64)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    radius_m: float | None = Field(default=None, gt=0, le=emergency.RADIUS_MAX_M)
    alert_id: int | None = None
    incident_id: int | None = None
    exercise: bool = False


class Versioned(StrictBody):
    """A write guarded by the event's version (or send ``If-Match: "<version>"``)."""

    version: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                description="the event's version the client saw; 409 when it is stale")


class LevelIn(Versioned):
    """Activate ``plan_id`` at ``level`` (first time), or raise/lower to ``level``; skipping a level needs a reason."""

    level: str = Field(max_length=4)
    plan_id: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=TEXT_MAX)


class NoteIn(StrictBody):
    note: str | None = Field(default=None, max_length=TEXT_MAX)


class ControlledIn(Versioned):
    note: str | None = Field(default=None, max_length=TEXT_MAX)


class ReasonIn(Versioned):
    reason: str = Field(max_length=TEXT_MAX)


class LinkIn(StrictBody):
    incident_id: int | None = None
    alert_id: int | None = None


class AssignIn(Versioned):
    resource: str = Field(min_length=1, max_length=40, description="the resource's code")
    task_id: int = Field(description="a department task of the event (its id in the event's tasks)")


class AssignmentOut(_Open):
    id: int
    resource: str | None
    task_id: int | None
    assigned_at: str
    released_at: str | None


class NearbyOut(BaseModel):
    code: str
    name: str
    kind: str
    status: str
    capacity: int
    lon: float
    lat: float
    distance_m: float


def _seen(body: Versioned | None) -> int | None:
    """The version the client saw: the body's ``version``, else ``If-Match`` (``"3"``, ``W/"3"`` or ``3``)."""
    if body is not None and body.version is not None:
        return body.version
    raw = (request.headers.get("If-Match") or "").strip()
    if not raw or raw == "*":
        return None
    try:
        return int(raw.removeprefix("W/").strip('"'))
    except ValueError:
        raise ApiError(422, "invalid_field", "If-Match: the event's version, e.g. \"3\"") from None


def _with_etag(response: Response, body: dict[str, Any]) -> Response:
    response.headers["ETag"] = f'"{body["version"]}"'
    return response


def _refused(exc: EmergencyError | emergency_plans.PlanRefused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _float_arg(name: str, low: float, high: float) -> float:
    raw = request.args.get(name)
    try:
        value = float(raw) if raw not in (None, "") else None
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ApiError(422, "invalid_parameter", f"{name} must be a number between {low} and {high}")
    return value


def _event_answer(event_id: int, write: Any) -> Response:
    """Run ``write(session)`` in one unit of work and answer with the event afterwards."""
    with current_db().uow() as session:
        try:
            write(session)
            body = emergency.event_to_dict(session, emergency.get_event(session, event_id))
            return _with_etag(jsonify(body), body)
        except EmergencyError as exc:
            raise _refused(exc) from None


@operation("/plans", "GET", summary="Emergency plans (newest version of each)", tag="emergency",
           roles=emergency_plans.PLAN_READ_ROLES, response=PlanOut, many=True, errors=(401, 403))
def get_plans() -> Response:
    with current_db().uow() as session:
        return jsonify([emergency_plans.plan_to_dict(row) for row in emergency_plans.list_plans(session)])


@operation("/plans", "POST", summary="Save a plan as its next version (admin; validated, 422 names the field)",
           tag="emergency", roles=emergency_plans.PLAN_WRITE_ROLES, body=PlanIn, response=PlanOut, status=201,
           errors=(400, 401, 403, 415, 422))
def post_plan() -> tuple[Response, int]:
    data = json_body()
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    with current_db().uow() as session:
        try:
            row = emergency_plans.save_plan(session, current_actor(), data)
        except emergency_plans.PlanRefused as exc:
            raise _refused(exc) from None
        return created(emergency_plans.plan_to_dict(row))


@operation("/events", "GET", summary="Emergency events, newest first", tag="emergency", roles=emergency.READ_ROLES,
           response=EventOut, many=True, params=(Param("state", "active | closed"),), errors=(401, 403, 422))
def get_events() -> Response:
    state = request.args.get("state") or None
    with current_db().uow() as session:
        try:
            rows = emergency.list_events(session, current_actor(), state)
        except EmergencyError as exc:
            raise _refused(exc) from None
        return jsonify([emergency.event_to_dict(session, row, full=False) for row in rows])


@operation("/events/<int:event_id>", "GET", summary="An emergency event with its tasks, timeline and KPIs",
           tag="emergency", roles=emergency.READ_ROLES, response=EventOut, params=(EVENT_ID,),
           errors=(401, 403, 404))
def get_event(event_id: int) -> Response:
    with current_db().uow() as session:
        try:
            body = emergency.event_to_dict(session, emergency.get_event(session, event_id))
        except EmergencyError as exc:
            raise _refused(exc) from None
        return _with_etag(jsonify(body), body)


@operation("/events", "POST", summary="Open an emergency event (by hand, from an alert or an incident)",
           tag="emergency", roles=emergency.WRITE_ROLES, body=EventIn, response=EventOut, status=201,
           errors=(400, 401, 403, 404, 415, 422))
def post_event() -> tuple[Response, int]:
    data = parse_body(EventIn, json_body())
    with current_db().uow() as session:
        try:
            event = emergency.open_event(session, current_actor(), **data.model_dump())
        except EmergencyError as exc:
            raise _refused(exc) from None
        return created(emergency.event_to_dict(session, event))


@operation("/events/<int:event_id>/level", "POST",
           summary="Activate a plan at a level, or raise/lower the level (who, when, why)", tag="emergency",
           roles=emergency.WRITE_ROLES, body=LevelIn, response=EventOut, params=(EVENT_ID,),
           errors=(400, 401, 403, 404, 409, 415, 422))
def post_event_level(event_id: int) -> Response:
    data = parse_body(LevelIn, json_body())
    version = _seen(data)

    def write(session: Any) -> None:
        event = emergency.get_event(session, event_id)
        if event.activated_at is None:
            if not data.plan_id:
                raise EmergencyError(422, "plan_required", "plan_id: the plan to activate is required")
            emergency.activate(session, current_actor(), event_id, plan_id=data.plan_id, level=data.level,
                               reason=data.reason, version=version)
        else:
            emergency.change_level(session, current_actor(), event_id, level=data.level, reason=data.reason,
                                   version=version)

    return _event_answer(event_id, write)


@operation("/events/<int:event_id>/notes", "POST", summary="A note in the event's timeline", tag="emergency",
           roles=emergency.WRITE_ROLES, body=NoteIn, response=EventOut, params=(EVENT_ID,),
           errors=(400, 401, 403, 404, 409, 415, 422))
def post_event_note(event_id: int) -> Response:
    data = parse_body(NoteIn, json_body())
    return _event_answer(event_id, lambda s: emergency.add_note(s, current_actor(), event_id, data.note or ""))


@operation("/events/<int:event_id>/controlled", "POST", summary="Record that the event is under control",
           tag="emergency", roles=emergency.WRITE_ROLES, body=ControlledIn, response=EventOut, params=(EVENT_ID,),
           errors=(400, 401, 403, 404, 409, 415, 422))
def post_event_controlled(event_id: int) -> Response:
    data = parse_body(ControlledIn, json_body() or {})
    version = _seen(data)
    return _event_answer(event_id, lambda s: emergency.mark_controlled(s, current_actor(), event_id, data.note,
                                                                       version=version))


@operation("/events/<int:event_id>/close", "POST", summary="End the response and close the event (a reason)",
           tag="emergency", roles=emergency.WRITE_ROLES, body=ReasonIn, response=EventOut, params=(EVENT_ID,),
           errors=(400, 401, 403, 404, 409, 415, 422))
def post_event_close(event_id: int) -> Response:
    data = parse_body(ReasonIn, json_body())
    version = _seen(data)
    return _event_answer(event_id, lambda s: emergency.close_event(s, current_actor(), event_id, reason=data.reason,
                                                                   version=version))


@operation("/events/<int:event_id>/links", "POST", summary="Add an incident or an alert to the event",
           tag="emergency", roles=emergency.WRITE_ROLES, body=LinkIn, response=EventOut, params=(EVENT_ID,),
           errors=(400, 401, 403, 404, 409, 415, 422))
def post_event_link(event_id: int) -> Response:
    data = parse_body(LinkIn, json_body())
    if (data.incident_id is None) == (data.alert_id is None):
        raise ApiError(422, "invalid_field", "give exactly one of incident_id or alert_id")

    def write(session: Any) -> None:
        if data.incident_id is not None:
            emergency.link_incident(session, current_actor(), event_id, data.incident_id)
        else:
            emergency.link_alert(session, current_actor(), event_id, data.alert_id)

    return _event_answer(event_id, write)


@operation("/events/<int:event_id>/resources", "POST", summary="Assign a resource to a task of the event",
           tag="emergency", roles=emergency.WRITE_ROLES, body=AssignIn, response=AssignmentOut, status=201,
           params=(EVENT_ID,), errors=(400, 401, 403, 404, 409, 415, 422))
def post_event_resource(event_id: int) -> tuple[Response, int]:
    data = parse_body(AssignIn, json_body())
    version = _seen(data)
    with current_db().uow() as session:
        try:
            row = emergency.assign_resource(session, current_actor(), event_id, resource_code=data.resource,
                                            task_id=data.task_id, version=version)
        except EmergencyError as exc:
            raise _refused(exc) from None
        return created(emergency.assignment_to_dict(session, row))


@operation("/events/<int:event_id>/resources/<int:assignment_id>/release", "POST",
           summary="Release a resource from the event", tag="emergency", roles=emergency.WRITE_ROLES,
           body=Versioned, response=AssignmentOut, params=(EVENT_ID, ASSIGNMENT_ID),
           errors=(400, 401, 403, 404, 409, 415, 422))
def post_event_release(event_id: int, assignment_id: int) -> Response:
    raw = json_body()
    version = _seen(parse_body(Versioned, raw) if raw is not None else None)
    with current_db().uow() as session:
        try:
            row = emergency.release_resource(session, current_actor(), event_id, assignment_id, version=version)
        except EmergencyError as exc:
            raise _refused(exc) from None
        return jsonify(emergency.assignment_to_dict(session, row))


@operation("/events/<int:event_id>/report", "GET",
           summary="The event's (drill's) report: what happened when, and what was late", tag="emergency",
           roles=emergency.READ_ROLES, params=(EVENT_ID,), errors=(401, 403, 404))
def get_event_report(event_id: int) -> Response:
    with current_db().uow() as session:
        try:
            return jsonify(emergency.drill_report(session, event_id))
        except EmergencyError as exc:
            raise _refused(exc) from None


@operation("/resources/nearest", "GET", summary="The nearest resources of a kind from a point (road-free)",
           tag="emergency", roles=emergency.READ_ROLES, response=NearbyOut, many=True,
           params=(Param("kind", "rescue_team | equipment | supplies | shelter"), Param("lon", "longitude"),
                   Param("lat", "latitude"), Param("n", "how many, 1..50"), Param("all", "1: busy ones too")),
           errors=(401, 403, 422))
def get_nearest_resources() -> Response:
    lon, lat = _float_arg("lon", -180, 180), _float_arg("lat", -90, 90)
    n = int_arg("n", 5, 1, emergency.NEAREST_MAX)
    with current_db().uow() as session:
        try:
            found = emergency.nearest_resources(session, kind=request.args.get("kind") or None, lon=lon, lat=lat,
                                                n=n, available_only=request.args.get("all") != "1")
        except EmergencyError as exc:
            raise _refused(exc) from None
        return jsonify([{"code": near.resource.code, "name": near.resource.name, "kind": near.resource.kind,
                         "status": near.resource.status, "capacity": near.resource.capacity,
                         "lon": near.resource.lon, "lat": near.resource.lat,
                         "distance_m": round(near.distance_m, 1)} for near in found])


@operation("/events/<int:event_id>/report.pdf", "GET", summary="The event report (PDF) for the after-action review",
           tag="emergency", roles=emergency.READ_ROLES, params=(EVENT_ID,), errors=(401, 403, 404))
def get_event_report_pdf(event_id: int) -> Response:
    with current_db().uow() as session:
        try:
            event = emergency.event_to_dict(session, emergency.get_event(session, event_id))
            report = emergency.drill_report(session, event_id)
        except EmergencyError as exc:
            raise _refused(exc) from None
    pdf = render_event_pdf(event, report, emergency.now_iso())
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{event["code"]}.pdf"'})
