"""The core routes under /api/v1 (DESIGN §4): incident categories, incidents and their actions, KPIs.

Declared with ``api.registry.operation`` (blueprint, role guard and OpenAPI in one); responses are
built by the dispatch layer. One unit of work per request."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any, Literal

from flask import Response, jsonify, request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

import api.areas  # also declares GET /api/v1/areas
import api.channels  # also declares the photo, detection, duplicate, rating and notification routes
from admin.categories import save_category
from api.auth import current_db
from api.errors import ApiError
from api.registry import (
    ADMIN,
    STAFF,
    Names,
    Param,
    StrictBody,
    choice_arg,
    created,
    json_body,
    operation,
    page_args,
    parse_body,
    parse_moment,
)
from api.registry import actor as current_actor
from data.models import Category, Role
from data.queries import all_categories, category_by_code
from dispatch.categories import CategoryChange, limits_of
from dispatch.kpi import SCOPE_HELP, SCOPES, kpi_compare, kpi_snapshot
from dispatch.service import (
    DESCRIPTION_MAX,
    NOTE_MAX,
    PUBLIC_DESCRIPTION_MAX,
    apply_action,
    create_incident,
    get_incident,
    incident_to_dict,
    list_incidents,
    set_public_description,
)
from dispatch.sla import SEVERITIES
from dispatch.tiers import kpi_area
from dispatch.workflow import SOURCES, Action
from domain.errors import Invalid
from settings import get_settings

CARDS = ("none", "yellow", "red")


# --- request and response models (validation and the OpenAPI schemas) ---------------------------

class LimitsIn(StrictBody):
    handle_hours: float = Field(gt=0)
    close_hours: float = Field(gt=0)


class CategoryIn(StrictBody):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,15}$")
    name: Names
    kind: Literal["component", "event"]
    major: str | None = Field(default=None, max_length=64)
    department: str = Field(description="department code")
    handle_hours: float = Field(gt=0)
    close_hours: float = Field(gt=0)
    working_hours: bool = Field(default=False, description="count the limits in working hours only")
    limits: dict[Literal[SEVERITIES], LimitsIn] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="per-severity limits overriding handle_hours/close_hours")


class CategoryOut(BaseModel):
    code: str
    name: Names
    kind: str
    major: str | None
    department: str
    handle_hours: float
    close_hours: float
    working_hours: bool
    limits: dict[str, LimitsIn]


class IncidentIn(StrictBody):
    category: str = Field(description="category code")
    title: str = Field(min_length=1, max_length=255)
    lon: float | None = None
    lat: float | None = None
    source: Literal[SOURCES] | None = Field(  # type: ignore[valid-type]
        default=None, description="default: patrol for workers, operator otherwise"
    )
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    address: str | None = Field(default=None, max_length=255)
    reported_at: AwareDatetime | None = None
    auto_file: bool = Field(default=False, description="file at once (operators and admins)")
    exercise: bool = False
    severity: Literal[SEVERITIES] = "normal"  # type: ignore[valid-type]


class ActionIn(StrictBody):
    action: Action
    version: int = Field(description="the version the client saw; 409 when it is stale")
    note: str | None = Field(default=None, max_length=NOTE_MAX)
    department: str | None = Field(default=None, description="dispatch: department code")
    assignee: str | None = Field(default=None, description="dispatch: username")
    hours: float | None = Field(default=None, description="postpone: hours to extend")
    target_id: int | None = Field(default=None, description="merge: id of the original incident")
    area: str | None = Field(default=None, max_length=32,
                             description="pass_down: the district or street code to pass the incident to")
    photo_ids: list[int] = Field(default_factory=list, description="your photos uploaded to this incident")
    # issue 17 §2 (dispatch/joint.py): the assisting departments (协办) besides the lead ``department``
    assisting: list[str] | None = Field(
        default=None, max_length=50,
        description="dispatch: assisting department codes (协办), each with its own task; null keeps the "
                    "incident's; return: give ``department`` to return that department's task only")


class TaskOut(BaseModel):
    """One department's task on a jointly handled incident (issue 17 §2)."""

    id: int
    incident_id: int
    department: str
    department_name: Names
    role: Literal["lead", "assist"]
    state: Literal["open", "in_progress", "resolved", "returned"]
    assigned_at: str
    handle_deadline: str | None
    card: Literal["none", "yellow", "red"]
    started_at: str | None
    resolved_at: str | None
    returned_count: int
    note: str | None
    version: int


class HistoryOut(BaseModel):
    at: str
    action: str
    actor: str | None
    from_state: str | None
    to_state: str
    note: str | None
    data: dict[str, Any] | None


class IncidentOut(BaseModel):
    id: int
    code: str
    state: Literal["reported", "filed", "rejected", "dispatched", "in_progress", "resolved", "closed"]
    version: int
    category: str
    category_name: Names | None
    source: str
    title: str
    description: str | None
    public_description: str | None = Field(description="what Open311 shows (set by the citizen or an operator)")
    address: str | None
    lon: float | None
    lat: float | None
    grid_code: str | None
    department: str | None
    department_name: Names | None
    assignee: str | None
    reported_at: str
    filed_at: str | None
    rejected_at: str | None
    dispatched_at: str | None
    started_at: str | None
    resolved_at: str | None
    first_resolved_at: str | None
    closed_at: str | None
    handle_deadline: str | None
    close_deadline: str | None
    card: Literal["none", "yellow", "red"]
    tier: str | None = Field(description="the district or street centre handling it (下派); null = the city centre")
    escalated: bool
    rework_count: int
    merged_into: int | None
    exercise: bool
    severity: str
    duplicate_of: int | None
    caller: dict[str, str | None] | None = Field(description="hotline/Open311 caller; the phone masked")
    hotline_mode: str | None
    satisfaction: str | None
    photos: list[api.channels.AttachmentOut]
    history: list[HistoryOut]
    tasks: list[TaskOut] = Field(default_factory=list,
                                 description="lead and assisting departments' tasks (主办/协办); empty: one department")


class AlertCounts(BaseModel):
    red: int
    orange: int
    yellow: int
    blue: int


class SourceCounts(BaseModel):
    alert: int
    patrol: int
    hotline: int
    open311: int
    video: int
    operator: int


class HotlineFigures(BaseModel):
    """The 12345 hotline figures of a KPI snapshot (DESIGN §7 ``hotline``)."""

    orders: int
    direct: int = Field(description="answered directly (直办)")
    transferred: int = Field(description="transferred (转办)")
    direct_rate: float | None
    satisfaction_rate: float | None = Field(description="satisfied + basically satisfied over reached follow-ups")
    mean_handle_workdays: float | None = Field(description="call → closing, in working days of the calendar")
    on_time_reply_rate: float | None = Field(description="replies given by the closing deadline over replies due")
    repeat_calls: int = Field(description="same phone or address within 30 days before")


class KpiSnapshotOut(BaseModel):
    """The KPI snapshot (DESIGN §7); rates are fractions 0..1 or null when the denominator is 0 (shown
    as "—"). The scope keys echo the request (null = not narrowed)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    as_of: str
    district: str | None
    street: str | None
    community: str | None
    grid: str | None
    department: str | None
    category: str | None
    source: str | None
    tier: str | None
    reported: int
    filed: int
    filing_rate: float | None
    dispatched: int
    handled: int
    handled_on_time: int
    handling_rate: float | None
    closed: int
    closed_on_time: int
    closure_rate: float | None
    on_time_closure_rate: float | None
    due: int
    std_closure_rate: float | None
    std_on_time_closure_rate: float | None
    rework_rate: float | None
    open: int
    yellow_cards: int
    red_cards: int
    mean_handle_hours: float | None
    alerts_firing: AlertCounts = Field(description="firing alerts; narrowed by the area scopes only")
    by_source: SourceCounts
    hotline: HotlineFigures = Field(description="the cohort's 12345 hotline orders (issue 20)")
    out_of_hours: int | None = Field(default=None, description="with out_of_hours=1: the cohort reported "
                                     "outside working hours (issue 20)")
    out_of_hours_by_source: SourceCounts | None = Field(default=None, description="with out_of_hours=1: "
                                                        "the same, per source")


class KpiOut(KpiSnapshotOut):
    """The KPI snapshot, with the equally long period before it when asked for (``previous=1``)."""

    previous: KpiSnapshotOut | None = Field(default=None, description="the snapshot of the period before")


# --- categories ---------------------------------------------------------------------------------


def category_to_dict(category: Category, limits: dict[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """The API representation of an incident category (with its per-severity limits)."""
    return {
        "code": category.code, "name": {"zh": category.name_zh, "en": category.name_en},
        "kind": category.kind, "major": category.major, "department": category.department.code,
        "handle_hours": category.handle_hours, "close_hours": category.close_hours,
        "working_hours": bool(category.working_hours),
        "limits": {s: {"handle_hours": h, "close_hours": c} for s, (h, c) in (limits or {}).items()},
    }


@operation("/categories", "GET", summary="List incident categories", tag="categories",
           response=CategoryOut, many=True, errors=(401,))
def list_categories() -> Response:
    with current_db().uow() as session:
        categories = all_categories(session)
        limits = limits_of(session)
        return jsonify([category_to_dict(c, limits.get(c.code)) for c in categories])


@operation("/categories", "POST", summary="Add an incident category", tag="categories", roles=ADMIN,
           body=CategoryIn, response=CategoryOut, status=201, errors=(400, 401, 403, 409, 422))
def post_category() -> tuple[Response, int]:
    return created(_save_category(parse_body(CategoryIn, json_body()), create=True))


@operation("/categories/<code>", "PUT", summary="Change an incident category", tag="categories", roles=ADMIN,
           body=CategoryIn, response=CategoryOut, params=(Param("code", "category code", "string", "path"),),
           errors=(400, 401, 403, 404, 422))
def put_category(code: str) -> Response:
    data = parse_body(CategoryIn, json_body())
    if data.code != code:
        raise ApiError(422, "invalid_field", "code: the body's code must be the one in the path")
    return jsonify(_save_category(data, create=False))


def _save_category(data: CategoryIn, *, create: bool) -> dict[str, Any]:
    if data.close_hours < data.handle_hours:
        raise ApiError(422, "invalid_field", "close_hours: must not be shorter than handle_hours")
    change = CategoryChange(
        code=data.code, name_zh=data.name.zh, name_en=data.name.en, kind=data.kind, major=data.major,
        department=data.department, handle_hours=data.handle_hours, close_hours=data.close_hours,
        working_hours=data.working_hours,
        limits={s: (v.handle_hours, v.close_hours) for s, v in data.limits.items()},
    )
    with current_db().uow() as session:
        exists = category_by_code(session, data.code) is not None
        if create and exists:
            raise ApiError(409, "category_exists", f"category {data.code!r} exists already")
        if not create and not exists:
            raise ApiError(404, "category_not_found", f"no category {data.code!r}")
        try:  # the same door as the admin page: permission, checks, audit row
            category = save_category(session, current_actor(), change, create=create)
        except Invalid as exc:
            field = "department" if exc.code == "unknown_department" else "limits"
            raise ApiError(422, "invalid_field", f"{field}: {exc.message}") from None
        return category_to_dict(category, limits_of(session, [category.code]).get(category.code))


# --- incidents ----------------------------------------------------------------------------------


@operation("/incidents", "GET", summary="List the incidents the user may see, newest first",
           tag="incidents", response=IncidentOut, many=True,
           params=(Param("state", "comma-separated states"), Param("card", "none, yellow or red"),
                   Param("grid_code", "unit grid code"), Param("department", "department code"),
                   Param("source", "comma-separated sources"), Param("category", "category code"),
                   Param("limit", "at most 1000", "integer"), Param("offset", "rows to skip", "integer")),
           errors=(401, 422))
def get_incidents() -> Response:
    states = ("reported", "filed", "rejected", "dispatched", "in_progress", "resolved", "closed")
    limit, offset = page_args()
    with current_db().uow() as session:
        viewer = current_actor()
        incidents = list_incidents(
            session,
            user=viewer,
            state=choice_arg("state", states),
            card=choice_arg("card", CARDS),
            grid_code=request.args.get("grid_code") or None,
            department_code=request.args.get("department") or None,
            source=choice_arg("source", SOURCES),
            category=request.args.get("category") or None,
            limit=limit,
            offset=offset,
        )
        return jsonify([incident_to_dict(i, viewer) for i in incidents])


@operation("/incidents", "POST", summary="Report an incident (routed to grid, worker and department)",
           tag="incidents", roles=(Role.ADMIN, Role.OPERATOR, Role.HANDLER, Role.WORKER), body=IncidentIn,
           response=IncidentOut, status=201, errors=(400, 401, 403, 422))
def post_incident() -> tuple[Response, int]:
    data = parse_body(IncidentIn, json_body())
    actor = current_actor()  # auto_file by a role without it: the service's Forbidden (403), one door
    default_source = "patrol" if actor.role == Role.WORKER else "operator"
    with current_db().uow() as session:
        incident = create_incident(
            session, category_code=data.category, source=data.source or default_source, title=data.title,
            lon=data.lon, lat=data.lat, reported_at=data.reported_at, actor=actor,
            description=data.description, auto_file=data.auto_file, exercise=data.exercise,
            address=data.address, severity=data.severity, inside_city=True,
        )
        return created(incident_to_dict(incident, actor))


@operation("/incidents/<int:incident_id>", "GET", summary="One incident with its history", tag="incidents",
           response=IncidentOut, params=(Param("incident_id", "incident id", "integer", "path"),),
           errors=(401, 404))
def get_one_incident(incident_id: int) -> Response:
    with current_db().uow() as session:
        viewer = current_actor()
        return jsonify(incident_to_dict(get_incident(session, incident_id, user=viewer), viewer))


@operation("/incidents/<int:incident_id>/actions", "POST", summary="Take a workflow action on an incident",
           tag="incidents", body=ActionIn, response=IncidentOut,
           params=(Param("incident_id", "incident id", "integer", "path"),),
           errors=(400, 401, 404, 409, 422))
def post_action(incident_id: int) -> Response:
    data = parse_body(ActionIn, json_body())
    actor = current_actor()
    with current_db().uow() as session:
        get_incident(session, incident_id, user=actor)  # 404 for what the user may not see
        incident = apply_action(
            session, incident_id, data.action, version=data.version, actor=actor, note=data.note,
            department_code=data.department, assignee=data.assignee, hours=data.hours,
            target_id=data.target_id, attachment_ids=data.photo_ids, area_code=data.area,
            assisting=data.assisting,  # issue 17 §2
        )
        return jsonify(incident_to_dict(incident, actor))


class PublicDescriptionIn(StrictBody):
    public_description: str | None = Field(
        default=None, max_length=PUBLIC_DESCRIPTION_MAX,
        description="what Open311 shows of the incident (no caller data, no internal notes); empty withdraws it")


@operation("/incidents/<int:incident_id>/public-description", "PUT",
           summary="Publish the description Open311 shows of an incident (operators and admins)", tag="incidents",
           roles=STAFF, body=PublicDescriptionIn, response=IncidentOut,
           params=(Param("incident_id", "incident id", "integer", "path"),), errors=(400, 401, 403, 404, 422))
def put_public_description(incident_id: int) -> Response:
    data = parse_body(PublicDescriptionIn, json_body())
    actor = current_actor()
    with current_db().uow() as session:
        incident = set_public_description(session, incident_id, data.public_description, actor=actor)
        return jsonify(incident_to_dict(incident, actor))


# --- KPIs ---------------------------------------------------------------------------------------

#: The ``previous`` flag's accepted spellings.
FLAG_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}


def kpi_period(raw_from: str | None, raw_to: str | None) -> tuple[datetime, datetime]:
    """The [from, to) of a KPI request; the default is today in CITYOPS_TZ."""
    zone = get_settings().zone
    today = datetime.now(zone).date()
    start = parse_moment(raw_from, "from") if raw_from else datetime.combine(today, time(), zone)
    end = parse_moment(raw_to, "to") if raw_to else datetime.combine(today + timedelta(days=1), time(), zone)
    if start > end:
        raise ApiError(422, "invalid_period", "from is after to")
    return start, end


def kpi_answer(session: Session, args: Mapping[str, str | None]) -> dict[str, Any]:
    """The answer to a KPI request given as its query arguments (``from``, ``to``, the scopes of
    dispatch.kpi.SCOPES, ``previous``, ``out_of_hours``); the API and ``python app.py kpi`` both answer with it.

    Raises ApiError (a bad time, period or flag) or UnknownFilter (a scope naming nothing): both 422.
    """
    start, end = kpi_period(args.get("from"), args.get("to"))
    previous = FLAG_VALUES.get((args.get("previous") or "").strip().lower())
    if previous is None:
        raise ApiError(422, "invalid_parameter", "previous must be 1 or 0")
    out_of_hours = FLAG_VALUES.get((args.get("out_of_hours") or "").strip().lower())
    if out_of_hours is None:
        raise ApiError(422, "invalid_parameter", "out_of_hours must be 1 or 0")
    scope = {key: args.get(key) or None for key in SCOPES}
    if not previous:
        return kpi_snapshot(session, start, end, out_of_hours=out_of_hours, **scope)
    both = kpi_compare(session, start, end, out_of_hours=out_of_hours, **scope)
    return {**both["current"], "previous": both["previous"]}


@operation("/kpi", "GET", summary="The KPI snapshot of incidents reported in [from, to)", tag="kpi",
           response=KpiOut,
           params=(Param("from", "ISO date or time; default today 00:00 in CITYOPS_TZ"),
                   Param("to", "ISO date or time, exclusive; default tomorrow 00:00"),
                   *(Param(key, f"only incidents of this {text} (unknown: 422)") for key, text in SCOPE_HELP.items()),
                   Param("previous", "1 = add `previous`: the snapshot of the equally long period just before"),
                   Param("out_of_hours", "1 = add `out_of_hours` and `out_of_hours_by_source`: the cohort reported "
                         "outside working hours (holidays and make-up days of the working calendar)")),
           errors=(401, 422))
def get_kpi() -> Response:
    with current_db().read_uow() as session:
        # A command tier's user reads their area only: their area replaces that level's scope, the others narrow it.
        return jsonify(kpi_answer(session, {**request.args, **kpi_area(session, current_actor())}))
