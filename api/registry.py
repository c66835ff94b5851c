"""The API registry: the /api/v1 blueprint, ``operation(...)`` to declare a route, the shared request
helpers and models, and the OpenAPI 3.1 document built from every declared route.

Route modules (api/v1.py and the others) declare their views with ``operation``; it registers the
view on the blueprint, guards it with ``require_roles`` and records what the OpenAPI document says
about it — so the document cannot forget a route. Request bodies are pydantic models (a 422 names
the offending field).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

from flask import Blueprint, Response, current_app, g, has_app_context, jsonify, request
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import models_json_schema
from sqlalchemy.orm import Session

from api.auth import ALL_ROLES, require_roles
from api.errors import ApiError
from data.audit import REQUEST_ORIGIN, write_audit
from data.models import Role
from settings import get_settings

PREFIX = "/api/v1"
api_v1 = Blueprint("api_v1", __name__, url_prefix=PREFIX)
MAX_PAGE = 1000
STAFF = (Role.ADMIN, Role.OPERATOR)
ADMIN = (Role.ADMIN,)
#: The integers a database column can hold (64-bit): a larger one in a request is refused, not stored.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


# --- shared models ------------------------------------------------------------------------------


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable error code, e.g. stale_version")
    message: str = Field(description="English explanation for developers")


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorDetail


class HealthOut(BaseModel):
    """``GET /healthz`` (no auth; 503 with db "error" when the database fails)."""

    status: Literal["ok", "error"]
    db: Literal["ok", "error"]
    scheduler: Literal["running", "absent", "stale"]
    #: Only with a read replica (``CITYOPS_DATABASE_READ_URL``, issue 21): "lagging" when more than 10 s behind.
    replica: Literal["ok", "lagging", "error"] | None = None
    replica_lag_s: float | None = None


class Names(BaseModel):
    """A name in both languages."""

    zh: str = Field(min_length=1, max_length=128)
    en: str = Field(min_length=1, max_length=128)


class Counts(BaseModel):
    """Counts by name."""

    model_config = ConfigDict(extra="allow")


# --- route declaration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A query or path parameter, for the OpenAPI document."""

    name: str
    description: str
    type: str = "string"
    where: str = "query"


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says about one route and method."""

    rule: str
    method: str
    endpoint: str
    summary: str
    tag: str
    roles: tuple[str, ...] | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    many: bool
    status: int
    params: tuple[Param, ...]
    errors: tuple[int, ...]


OPERATIONS: list[Operation] = []


@api_v1.url_value_preprocessor
def _refuse_oversized_ids(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An integer path id outside 64 bits names no row: 404 (the database could not even compare it)."""
    for name, value in (values or {}).items():
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise ApiError(404, "not_found", f"no such {name.removesuffix('_id')}")


def operation(
    rule: str,
    method: str,
    *,
    summary: str,
    tag: str,
    roles: tuple[str, ...] | None = tuple(sorted(ALL_ROLES)),
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    many: bool = False,
    status: int = 200,
    params: tuple[Param, ...] = (),
    errors: tuple[int, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view on ``api_v1`` (guarded by ``roles``; None = public) and document it."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        guarded = require_roles(*roles)(view) if roles is not None else view
        api_v1.add_url_rule(rule, endpoint=view.__name__, view_func=guarded, methods=[method])
        OPERATIONS.append(
            Operation(rule, method, view.__name__, summary, tag, roles, body, response, many, status,
                      params, errors)
        )
        return view

    return decorate


# --- request helpers ----------------------------------------------------------------------------


def actor() -> Any:
    """The signed-in user (a detached AuthUser)."""
    return current_user._get_current_object()


def _oversized_integer(data: object) -> str | None:
    """Where in ``data`` (a parsed JSON body) the first integer outside 64 bits is, e.g. ``ids.3``."""
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            return where or "body"
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend((f"{where}.{key}" if where else str(key), child) for key, child in children)
    return None


def parse_body(model: type[BaseModel], data: object) -> Any:
    """Validate ``data`` against ``model``; a 422 names the first offending field (also an integer too
    large for the database anywhere in the body)."""
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    oversized = _oversized_integer(data)
    if oversized is not None:
        raise ApiError(422, "invalid_field", f"{oversized}: integer out of range")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(422, "invalid_field", f"{where}: {first['msg']}") from None


def json_body() -> object:
    """The parsed JSON body of a write (None when there is no body, or it is not valid JSON: ``parse_body``
    answers 400). A body must be declared ``Content-Type: application/json`` (ASVS 13.1.5, 13.2.5) — from a
    bearer-token client as from a browser — else 415; the photo uploads read images, not this."""
    if not request.get_data(cache=True):
        return None
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body with Content-Type: application/json")
    return request.get_json(silent=True)


def int_arg(name: str, default: int, low: int = 0, high: int = MAX_PAGE) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(422, "invalid_parameter", f"{name} must be between {low} and {high}")
    return value


def page_args() -> tuple[int, int]:
    """The ``limit`` (1..1000, default 100) and ``offset`` query parameters."""
    return int_arg("limit", 100, 1), int_arg("offset", 0, 0, 10**9)


def choice_arg(name: str, choices: tuple[str, ...]) -> list[str] | None:
    """A comma-separated filter whose values must be among ``choices``."""
    raw = request.args.get(name)
    if not raw:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    unknown = [v for v in values if v not in choices]
    if unknown:
        raise ApiError(422, "invalid_parameter", f"{name} must be among {', '.join(choices)}")
    return values


def parse_moment(raw: str, name: str) -> datetime:
    """An ISO-8601 date (local midnight) or time (local when it has no offset) from a query string.

    A ``+`` of an offset that arrived as a space (an unencoded query string) is restored.
    """
    text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", raw.strip())
    zone = get_settings().zone
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "invalid_time", f"{name} is not an ISO-8601 date or time: {raw!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def audit(session: Session, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """Record a write of the signed-in user in the audit log: who, what (action, target, detail), from
    where (the remote address); when is the row's own time."""
    write_audit(session, actor().id, action, target, detail=detail)


def created(body: dict[str, Any]) -> tuple[Response, int]:
    return jsonify(body), 201


# --- where a request's writes come from ------------------------------------------------------------
#
# Every write is audited by its service, through ``data.audit.write_audit`` (the one writer of audit rows,
# checked by the audit walk in tests/unit/test_audit_walk.py). The web layer only says where a request came
# from: for the length of each request (API call, page, Dash callback) ``REQUEST_ORIGIN`` holds its address,
# and every row written meanwhile carries it. Writes outside requests (scheduler, simulator, CLI) have none.


@api_v1.before_app_request
def _note_request_origin() -> None:
    g.audit_origin_token = REQUEST_ORIGIN.set(request.remote_addr)


@api_v1.teardown_app_request
def _forget_request_origin(_error: BaseException | None) -> None:
    token = g.pop("audit_origin_token", None)
    if token is not None:
        REQUEST_ORIGIN.reset(token)


# --- OpenAPI ------------------------------------------------------------------------------------


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: ``/incidents/<int:id>`` → ``/api/v1/incidents/{id}``."""
    return PREFIX + re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _content(model: type[BaseModel], many: bool = False) -> dict[str, Any]:
    schema = {"type": "array", "items": _ref(model)} if many else _ref(model)
    return {"application/json": {"schema": schema}}


def _operation_doc(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": op.endpoint, "summary": op.summary, "tags": [op.tag]}
    if op.roles is not None:
        doc["description"] = f"Roles: {', '.join(op.roles)}."
    else:
        doc["security"] = []
    if op.params:
        doc["parameters"] = [
            {"name": p.name, "in": p.where, "required": p.where == "path", "description": p.description,
             "schema": {"type": p.type}}
            for p in op.params
        ]
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": _content(op.body)}
    success: dict[str, Any] = {"description": "success"}
    if op.response is not None:
        success["content"] = _content(op.response, op.many)
    doc["responses"] = {str(op.status): success} | {
        str(status): {"description": "error", "content": _content(ErrorBody)} for status in op.errors
    }
    return doc


def schema_models() -> list[type[BaseModel]]:
    """Every model a declared route reads or answers with, plus the error and health bodies."""
    models: dict[str, type[BaseModel]] = {ErrorBody.__name__: ErrorBody, HealthOut.__name__: HealthOut}
    for op in OPERATIONS:
        for model in (op.body, op.response):
            if model is not None:
                models.setdefault(model.__name__, model)
    return list(models.values())


def _session_cookie_name() -> str:
    """The browser session cookie's name (``__Host-cityops`` behind HTTPS, see ``api.auth.init_auth``)."""
    return str(current_app.config["SESSION_COOKIE_NAME"]) if has_app_context() else "session"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route of this blueprint, and of /healthz."""
    _, definitions = models_json_schema(
        [(model, "validation") for model in schema_models()], ref_template="#/components/schemas/{model}"
    )
    health = {"operationId": "healthz", "summary": "Liveness of the web process, database and scheduler",
              "tags": ["meta"], "security": [],
              "responses": {"200": {"description": "healthy", "content": _content(HealthOut)},
                            "503": {"description": "the database fails", "content": _content(HealthOut)}}}
    paths: dict[str, dict[str, Any]] = {"/healthz": {"get": health}}
    for op in OPERATIONS:
        paths.setdefault(openapi_path(op.rule), {})[op.method.lower()] = _operation_doc(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "CityOps API", "version": "1.0.0",
                 "description": "City operations command centre: readings, alerts, incidents, KPIs."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (users token)"},
                "session": {"type": "apiKey", "in": "cookie", "name": _session_cookie_name()},
            },
        },
    }


@operation("/openapi.json", "GET", summary="This OpenAPI document (signed-in users and tokens only)", tag="meta")
def get_openapi() -> Response:
    return jsonify(openapi_document())

