"""Open311 GeoReport v2 (DESIGN §4) at ``/open311/v2``: services, service definitions, service requests.

A service is a public incident category (components ``B…`` and events ``S…``; the machine categories
of lifeline, environment and video are not offered to citizens). A service request is an incident of
source ``open311``; its ``service_request_id`` is the incident code.

``api_key`` (required to POST) is an Open311 key issued to a client application (``python app.py
open311-key NAME``), revoked like any token; it opens nothing but creating and reading Open311 requests,
and an ordinary API token is refused here (as an Open311 key is on /api/v1). A client may send the key
in the ``X-Api-Key`` header instead, which keeps it out of URLs and logs. Reading (GET) is public,
as in the specification, unless ``CITYOPS_OPEN311_PUBLIC_READS=0`` (then it needs an Open311 key too).
Reads show only requests of the published services, and only their public fields: the description the
citizen or an operator made public, and the location only of a request made public so — never who
called, their phone, the report's own text or the operators' notes.

Every route answers JSON, or XML when the format extension is ``.xml``; errors use the
specification's shape ``[{"code": 400, "description": "..."}]`` (``<errors><error>…`` in XML).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from api.auth import current_db
from data.accounts import open311_client_for_key
from data.models import Category, Incident, IncidentState, utcnow
from data.queries import category_by_code, doorplate_by_code
from dispatch.categories import reportable, reportable_categories
from dispatch.open311_intake import Open311Request, file_open311_request
from dispatch.queries import Open311Search, open311_request, open311_requests
from dispatch.service import DESCRIPTION_MAX, Caller, InvalidInput, to_iso
from dispatch.sla import SEVERITIES
from dispatch.workflow import TERMINAL_STATES
from i18n import current_lang, t
from settings import get_settings

open311_bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

FORMATS = ("json", "xml")
MAX_REQUESTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
MAX_WINDOW = timedelta(days=90)


class Open311Error(Exception):
    """An error answered in the Open311 shape with HTTP ``status``."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# --- output -------------------------------------------------------------------------------------


def _xml(root: str, item: str, rows: Iterable[dict[str, Any]]) -> bytes:
    top = ET.Element(root)
    for row in rows:
        element = ET.SubElement(top, item)
        for key, value in row.items():
            child = ET.SubElement(element, key)
            if isinstance(value, list):
                for entry in value:
                    sub = ET.SubElement(child, key[:-1] if key.endswith("s") else "value")
                    for k, v in entry.items():
                        if isinstance(v, list):
                            values = ET.SubElement(sub, k)
                            for pair in v:
                                node = ET.SubElement(values, "value")
                                for kk, vv in pair.items():
                                    ET.SubElement(node, kk).text = _text(vv)
                        else:
                            ET.SubElement(sub, k).text = _text(v)
            else:
                child.text = _text(value)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _answer(fmt: str, root: str, item: str, rows: list[dict[str, Any]], status: int = 200) -> Response:
    if fmt == "xml":
        return Response(_xml(root, item, rows), status=status, mimetype="text/xml")
    response = jsonify(rows)
    response.status_code = status
    return response


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"unknown format {fmt!r}; use .json or .xml")
    return fmt


@open311_bp.errorhandler(Open311Error)
def _error(exc: Open311Error) -> Response:
    fmt = "xml" if request.path.endswith(".xml") else "json"
    return _answer(fmt, "errors", "error", [{"code": exc.status, "description": exc.description}], exc.status)


# --- services -----------------------------------------------------------------------------------


def _name(category: Category) -> str:
    return category.name_en if current_lang() == "en" else category.name_zh


def _service(session: Session, code: str) -> Category:
    category = category_by_code(session, code)
    if category is None or not reportable(category.code):
        raise Open311Error(404, f"unknown service_code {code!r}")
    return category


def service_to_dict(category: Category) -> dict[str, Any]:
    """One entry of services.json."""
    return {
        "service_code": category.code, "service_name": _name(category),
        "description": f"{_name(category)} ({category.major})" if category.major else _name(category),
        "metadata": True, "type": "realtime", "keywords": category.major or "", "group": category.major or "",
    }


@open311_bp.get("/services.<fmt>")
def services(fmt: str) -> Response:
    _check_format(fmt)
    with current_db().uow() as session:
        rows = [service_to_dict(c) for c in reportable_categories(session)]
    return _answer(fmt, "services", "service", rows)


@open311_bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str) -> Response:
    _check_format(fmt)
    with current_db().uow() as session:
        category = _service(session, code)
        body = {
            "service_code": category.code,
            "attributes": [{
                "variable": True, "code": "severity", "datatype": "singlevaluelist", "required": False,
                "datatype_description": None, "order": 1, "description": t("open311.severity"),
                "values": [{"key": s, "name": t(f"severity.{s}")} for s in SEVERITIES],
            }],
        }
    if fmt == "xml":
        return Response(_xml("service_definitions", "service_definition", [body]), mimetype="text/xml")
    return jsonify(body)


# --- requests -----------------------------------------------------------------------------------


def open311_status(state: str) -> str:
    """Open311's two statuses: ``closed`` once closed or not taken up (rejected, merged), else ``open``."""
    return "closed" if state in TERMINAL_STATES else "open"


def _status_notes(incident: Incident) -> str | None:
    """A fixed public note for a request not taken up; the operators' own notes stay internal."""
    if incident.state == IncidentState.REJECTED:
        return t("open311.merged") if incident.merged_into_id else t("open311.rejected")
    return None


def published(incident: Incident) -> bool:
    """True when the request's place may be shown: the citizen sent it through Open311, or an operator
    published a description of it. A hotline call's or a patrol's place may be someone's home."""
    return incident.source == "open311" or incident.public_description is not None


def request_to_dict(incident: Incident) -> dict[str, Any]:
    """One service request as Open311 shows it: public fields only (never the caller, the report's own
    text, the operators' notes or photos kept for signed-in staff)."""
    shown = published(incident)
    return {
        "service_request_id": incident.code,
        "status": open311_status(incident.state),
        "status_notes": _status_notes(incident),
        "service_name": _name(incident.category),
        "service_code": incident.category_code,
        "description": incident.public_description,
        "agency_responsible": (incident.department.name_en if current_lang() == "en" else incident.department.name_zh)
        if incident.department is not None else None,
        "service_notice": None,
        "requested_datetime": to_iso(incident.reported_at),
        "updated_datetime": to_iso(incident.updated_at),
        "expected_datetime": to_iso(incident.close_deadline),
        "address": incident.address if shown else None,
        "address_id": None,
        "zipcode": None,
        "lat": incident.lat if shown else None,
        "long": incident.lon if shown else None,
        "media_url": None,
    }


def _w3c(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise Open311Error(400, f"{name} is not a W3C date-time: {raw!r}") from None
    if moment.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone offset")
    return moment


def _list_arg(name: str) -> list[str]:
    return [v.strip() for v in (request.args.get(name) or "").split(",") if v.strip()]


#: The header a client may send its key in instead of ``api_key`` (ASVS 13.1.3: out of URLs and proxy logs).
KEY_HEADER = "X-Api-Key"


def _api_key(params: Mapping[str, str]) -> str:
    """The Open311 key of this request: the ``X-Api-Key`` header, else the ``api_key`` parameter."""
    return (request.headers.get(KEY_HEADER) or params.get("api_key") or "").strip()


def _check_read_access(session: Session) -> None:
    """Reads are public unless CITYOPS_OPEN311_PUBLIC_READS is off; then they need an Open311 key."""
    if get_settings().open311_public_reads:
        return
    key = _api_key(request.args)
    if not key:
        raise Open311Error(403, "api_key (or the X-Api-Key header) is required to read service requests")
    if open311_client_for_key(session, key) is None:
        raise Open311Error(403, "api_key is not valid")


def _search(session: Session) -> list[Incident]:
    ids = _list_arg("service_request_id")
    if ids:  # the specification: the other filters are ignored when ids are given
        return open311_requests(session, Open311Search(ids=ids))
    statuses = _list_arg("status")
    if any(s not in ("open", "closed") for s in statuses):
        raise Open311Error(400, "status must be open and/or closed")
    end = _w3c(request.args.get("end_date"), "end_date")
    start = _w3c(request.args.get("start_date"), "start_date")
    end = end or (start + DEFAULT_WINDOW if start else utcnow())
    start = start or end - DEFAULT_WINDOW
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > MAX_WINDOW:
        raise Open311Error(400, f"the date range may span at most {MAX_WINDOW.days} days")
    closed = statuses[0] == "closed" if len(set(statuses)) == 1 else None
    return open311_requests(session, Open311Search(service_codes=_list_arg("service_code"), closed=closed,
                                                   start=start, end=end, limit=MAX_REQUESTS))


@open311_bp.get("/requests.<fmt>")
def get_requests(fmt: str) -> Response:
    _check_format(fmt)
    with current_db().uow() as session:
        _check_read_access(session)
        rows = [request_to_dict(i) for i in _search(session)]
    return _answer(fmt, "service_requests", "request", rows)


@open311_bp.get("/requests/<request_id>.<fmt>")
def get_request(request_id: str, fmt: str) -> Response:
    _check_format(fmt)
    with current_db().uow() as session:
        _check_read_access(session)
        incident = open311_request(session, request_id)
        if incident is None:
            raise Open311Error(404, f"no service request {request_id!r}")
        rows = [request_to_dict(incident)]
    return _answer(fmt, "service_requests", "request", rows)


def _params() -> dict[str, str]:
    """The POST parameters: form fields (the specification) or a JSON object."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise Open311Error(400, "the body must be form fields or a JSON object")
        return {str(k): "" if v is None else str(v) for k, v in body.items()}
    return {k: v for k, v in request.form.items()}


def _number(params: dict[str, str], name: str) -> float | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} is not a number") from None


def _location(session: Session, params: dict[str, str]) -> tuple[float | None, float | None, str | None]:
    lat, lon = _number(params, "lat"), _number(params, "long")
    address = params.get("address_string", "").strip()[:255] or None
    address_id = params.get("address_id", "").strip()
    if address_id:
        plate = doorplate_by_code(session, address_id)
        if plate is None:
            raise Open311Error(400, f"unknown address_id {address_id!r}")
        return plate.lon, plate.lat, plate.address
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long must be given together")
    if lat is None and address is None:
        raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
    return lon, lat, address


@open311_bp.post("/requests.<fmt>")
def post_request(fmt: str) -> tuple[Response, int] | Response:
    _check_format(fmt)
    params = _params()
    key = _api_key(params)
    if not key:
        raise Open311Error(403, "api_key (or the X-Api-Key header) is required")
    severity = params.get("attribute[severity]", "").strip() or "normal"
    if severity not in SEVERITIES:
        raise Open311Error(400, f"attribute[severity] must be one of {', '.join(SEVERITIES)}")
    description = params.get("description", "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise Open311Error(400, f"description may have at most {DESCRIPTION_MAX} characters")
    with current_db().uow() as session:
        client = open311_client_for_key(session, key)
        if client is None:
            raise Open311Error(403, "api_key is not valid (an Open311 key from `python app.py open311-key`)")
        category = _service(session, params.get("service_code", "").strip())
        lon, lat, address = _location(session, params)
        name = " ".join(p for p in (params.get("first_name", "").strip(), params.get("last_name", "").strip()) if p)
        command = Open311Request(
            client=client, category_code=category.code,
            title=(description.splitlines()[0][:120] if description else _name(category)),
            description=description or None, lon=lon, lat=lat, address=address, severity=severity,
            caller=Caller(name=name[:64] or None, phone=params.get("phone", "").strip()[:32] or None,
                          email=params.get("email", "").strip()[:128] or None),
        )
        try:
            incident = file_open311_request(session, command)
        except InvalidInput as exc:
            raise Open311Error(400, exc.message) from None
        body = [{"service_request_id": incident.code, "service_notice": t("open311.notice"), "account_id": None}]
    return _answer(fmt, "service_requests", "request", body, 201)
