"""Briefing downloads under /api/v1: a briefing of any period as PDF or XLSX, and the archived files
the 08:00 job and the CLI wrote to the reports folder; the trend analysis, the monthly report and the
urgent report of one incident (issue 20)."""

from __future__ import annotations

import re
from datetime import date

from flask import Response, jsonify, request, send_file

from api.auth import current_db
from api.errors import ApiError
from api.registry import Param, operation
from api.v1 import kpi_period
from data.models import Role, utcnow
from data.report_files import archived_path, list_reports
from dispatch.briefing import PERIOD_KINDS, build_briefing, build_monthly, period_of, urgent_report
from dispatch.trends import trends
from i18n import LANGS, current_lang
from reports.monthly import render_monthly, render_urgent
from reports.render import FORMATS, render, title_of

BRIEFING_ROLES = (Role.ADMIN, Role.OPERATOR, Role.LEADER)
MEDIA = {"pdf": "application/pdf",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _day(name: str, default: date | None = None) -> date:
    raw = request.args.get(name)
    if not raw:
        if default is None:
            raise ApiError(422, "invalid_parameter", f"{name} is required")
        return default
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise ApiError(422, "invalid_parameter", f"{name} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} is not a real date: {raw}") from None


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.args.get(name) or default
    if value not in choices:
        raise ApiError(422, "invalid_parameter", f"{name} must be one of {', '.join(choices)}")
    return value


@operation("/briefing", "GET", summary="A briefing of a period as PDF or XLSX", tag="reports",
           roles=BRIEFING_ROLES, errors=(401, 403, 422),
           params=(Param("kind", "day, week, month, quarter or custom"), Param("date", "a day in the period"),
                   Param("until", "the last day of a custom period"), Param("format", "pdf or xlsx"),
                   Param("lang", "zh or en")))
def get_briefing() -> Response:
    kind = _choice("kind", PERIOD_KINDS, "day")
    fmt = _choice("format", FORMATS, "pdf")
    lang = _choice("lang", LANGS, current_lang())
    now = utcnow()
    day = _day("date", now.date())
    until = _day("until") if kind == "custom" else None
    try:
        period, previous = period_of(kind, day, until=until)
    except ValueError as exc:
        raise ApiError(422, "invalid_period", str(exc)) from None
    with current_db().read_uow() as session:
        briefing = build_briefing(session, period, previous, now)
    data = render(briefing, fmt, lang)
    name = f"{title_of(kind, 'en').lower().replace(' ', '-')}-{day.isoformat()}.{fmt}"
    response = Response(data, mimetype=MEDIA[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@operation("/reports", "GET", summary="The archived briefing files, newest first", tag="reports",
           roles=BRIEFING_ROLES, errors=(401, 403))
def get_reports() -> Response:
    return jsonify([{"name": r.name, "size": r.size, "modified": r.modified.isoformat()} for r in list_reports()])


@operation("/reports/<name>", "GET", summary="Download one archived briefing file", tag="reports",
           roles=BRIEFING_ROLES, errors=(401, 403, 404), params=(Param("name", "file name", where="path"),))
def get_report(name: str) -> Response:
    path = archived_path(name)
    if path is None:
        raise ApiError(404, "not_found", f"no report {name!r}")
    return send_file(path.resolve(), mimetype=MEDIA[path.suffix[1:]], as_attachment=True, download_name=name)


# --- issue 20: trends, the monthly report (月报) and the urgent report (快报) ---------------------------


def _download(data: bytes, fmt: str, name: str) -> Response:
    response = Response(data, mimetype=MEDIA[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@operation("/trends", "GET", summary="Trend analysis: rising categories, hot spots, repeated addresses",
           tag="reports", roles=BRIEFING_ROLES, errors=(401, 403, 422),
           params=(Param("from", "ISO date or time (the weeks are counted back from `to`)"),
                   Param("to", "ISO date or time, exclusive; default tomorrow 00:00")))
def get_trends() -> Response:
    _, end = kpi_period(request.args.get("from"), request.args.get("to"))
    with current_db().read_uow() as session:
        return jsonify(trends(session, min(end, utcnow())).to_dict())


@operation("/reports/monthly", "GET", summary="The monthly report (月报) as PDF or XLSX", tag="reports",
           roles=BRIEFING_ROLES, errors=(401, 403, 422),
           params=(Param("month", "YYYY-MM; default this month"), Param("format", "pdf or xlsx"),
                   Param("lang", "zh or en")))
def get_monthly_report() -> Response:
    fmt = _choice("format", FORMATS, "pdf")
    lang = _choice("lang", LANGS, current_lang())
    raw = request.args.get("month")
    now = utcnow()
    if raw and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", raw):
        raise ApiError(422, "invalid_parameter", "month must be YYYY-MM")
    day = date.fromisoformat(f"{raw}-01") if raw else now.date()
    with current_db().uow() as session:
        report = build_monthly(session, day, now)
    return _download(render_monthly(report, fmt, lang), fmt, f"monthly-{day.strftime('%Y-%m')}")


@operation("/reports/urgent/<code>", "GET", summary="The urgent report (快报) of one incident as PDF or XLSX",
           tag="reports", roles=BRIEFING_ROLES, errors=(401, 403, 404, 422),
           params=(Param("code", "the incident's code", where="path"), Param("format", "pdf or xlsx"),
                   Param("lang", "zh or en")))
def get_urgent_report(code: str) -> Response:
    fmt = _choice("format", FORMATS, "pdf")
    lang = _choice("lang", LANGS, current_lang())
    with current_db().uow() as session:
        report = urgent_report(session, code)
    return _download(render_urgent(report, fmt, lang), fmt, f"urgent-{report['code']}")
