"""The public side (issue 20, DESIGN §4): the citizens' reporting page ``/report`` and its API under
``/api/v1/public`` — the only parts of CityOps meant to face the open internet.

Nothing here signs anyone in or acts in anyone's name: a request carrying a session or a bearer token
is refused (the page's own script sends no cookies), so no staff authority can be exercised or confused
from this side. Every write is guarded by a token bucket per address (and per phone), by a single-use
proof-of-work challenge, and by the size and type checks of the photos; the pages are plain HTML with
one small script of ours — no Dash callback is reachable from them.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, session
from werkzeug.datastructures import FileStorage

from api.auth import current_db
from api.errors import ApiError, error_response
from data.models import utcnow
from dispatch import citizen, photos
from dispatch.service import InvalidInput, NotFound
from i18n import LANGS, current_lang, t
from settings import get_settings

public_bp = Blueprint("public", __name__, template_folder="templates",
                      static_folder="public_static", static_url_path="/report/static")

PREFIX = "/api/v1/public"
#: Refusals the page explains in the citizen's language (others show the API's English message).
ERROR_TEXTS = ("location_required", "unknown_doorplate", "outside_city", "description_required", "invalid_phone",
               "photo_too_large", "photo_type", "photo_corrupt", "too_many_photos", "too_many_requests",
               "pow_invalid", "payload_too_large")


class TooManyRequests(Exception):
    """A token bucket is empty: answer 429 with ``Retry-After``."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many requests")
        self.retry_after = max(1, int(retry_after))


@public_bp.errorhandler(TooManyRequests)
def _too_many(exc: TooManyRequests) -> Response:
    response = error_response(429, "too_many_requests",
                              f"too many requests from this address or phone; try again in {exc.retry_after} s")
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@public_bp.before_request
def _no_credentials() -> Response | None:
    """The public API takes no sign-in: a session or a bearer token is refused, never used. (The pages act
    on nothing, so a signed-in colleague may still open them; their script sends no cookies.)"""
    if not request.path.startswith(PREFIX):
        return None
    if "Authorization" in request.headers or session.get("_user_id") is not None:
        return error_response(403, "credentials_refused",
                              "the public side accepts no sign-in; send the request without cookies or tokens")
    return None


def client_address() -> str:
    """The citizen's address: the DMZ proxy's header when one is configured, else the connection's."""
    header = get_settings().public_client_ip_header
    forwarded = request.headers.get(header, "").split(",")[0].strip() if header else ""
    return (forwarded or request.remote_addr or "unknown")[:64]


def _charge(key: str, per_hour: int) -> None:
    """Take a token from bucket ``key`` in a unit of work of its own (kept even when the request then
    fails), or refuse with 429."""
    with current_db().uow() as db_session:
        wait = citizen.take_token(db_session, key, per_hour, utcnow())
    if wait is not None:
        raise TooManyRequests(wait)


# --- API ------------------------------------------------------------------------------------------


@public_bp.get(f"{PREFIX}/categories")
def categories() -> Response:
    """The public categories: ``[{"code", "name": {"zh", "en"}}]``."""
    with current_db().uow() as db_session:
        rows = [{"code": code, "name": {lang: t(f"citizen.category.{code}", lang) for lang in LANGS}}
                for code, _category in citizen.public_categories(db_session)]
    return jsonify(rows)


@public_bp.get(f"{PREFIX}/challenge")
def challenge() -> Response:
    """A single-use proof-of-work challenge for the next report."""
    _charge(f"challenge:ip:{client_address()}", get_settings().public_challenges_per_hour_ip)
    with current_db().uow() as db_session:
        issued = citizen.issue_challenge(db_session, get_settings().public_pow_bits, utcnow())
    return jsonify(issued.to_dict())


def _fields() -> tuple[dict[str, Any], list[bytes]]:
    """The report's fields and photos: a JSON object, or multipart form fields with ``photo`` files."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json", "the body must be a JSON object")
        return body, []
    files: list[FileStorage] = request.files.getlist("photo")
    if len(files) > citizen.MAX_PHOTOS:
        raise ApiError(422, "too_many_photos", f"at most {citizen.MAX_PHOTOS} photos")
    return request.form.to_dict(), [f.read(photos.MAX_BYTES + 1) for f in files if f.filename or f.content_length]


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ApiError(422, f"invalid_{name}", f"{name} must be a string")
    return str(value)


def _number(fields: dict[str, Any], name: str) -> float | None:
    value = _text(fields, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ApiError(422, "invalid_location", f"{name} is not a number") from None


def _report(fields: dict[str, Any]) -> citizen.CitizenReport:
    return citizen.CitizenReport(
        category=_text(fields, "category") or "", description=_text(fields, "description") or "",
        lon=_number(fields, "lon"), lat=_number(fields, "lat"), doorplate=_text(fields, "doorplate"),
        name=_text(fields, "name"), phone=_text(fields, "phone"))


@public_bp.post(f"{PREFIX}/reports")
def create_report() -> tuple[Response, int]:
    """File a citizen's report → 201 ``{"tracking_code"}``; 422 names what is wrong, 413 a photo too large,
    429 too many reports from this address or phone. Nothing is stored unless everything is right."""
    settings, ip = get_settings(), client_address()
    _charge(f"report:ip:{ip}", settings.public_reports_per_hour_ip)
    fields, uploads = _fields()
    report = _report(fields)
    citizen.check_report(report)
    refusal: InvalidInput | None = None
    with current_db().uow() as db_session:  # committed even when refused: one try per challenge
        try:
            citizen.redeem_challenge(db_session, _text(fields, "challenge"), _text(fields, "counter"), utcnow())
        except InvalidInput as exc:
            refusal = exc
    if refusal is not None:
        raise refusal
    phone = citizen.normalise_phone(report.phone)
    if phone is not None:
        _charge(citizen.phone_key(phone), settings.public_reports_per_hour_phone)
    try:
        cleaned = citizen.clean_photos(uploads)
    except photos.PhotoRejected as exc:
        raise ApiError(413 if exc.status == 413 else 422, exc.code, exc.message) from None
    with current_db().uow() as db_session:
        incident = citizen.submit_report(db_session, report, cleaned, ip=ip)
        code = incident.tracking_code
    return jsonify({"tracking_code": code}), 201


@public_bp.get(f"{PREFIX}/reports/<tracking_code>")
def read_report(tracking_code: str) -> Response:
    """The public view of a report: status word, category, times and the public reply; 404 otherwise."""
    _charge(f"lookup:ip:{client_address()}", get_settings().public_lookups_per_hour_ip)
    with current_db().uow() as db_session:
        return jsonify(citizen.public_report(db_session, tracking_code))


# --- pages ----------------------------------------------------------------------------------------


def _page_lang() -> str:
    wanted = request.args.get("lang", "")
    return wanted if wanted in LANGS else current_lang()


def _render(template: str, status: int = 200, **values: Any) -> tuple[str, int]:
    lang = _page_lang()
    return render_template(template, lang=lang, langs=LANGS, t=lambda key, **kw: t(key, lang, **kw),
                           **values), status


@public_bp.get("/report")
def report_page() -> tuple[str, int] | Response:
    """The phone-first reporting form (no sign-in); ``?code=`` (the look-up form) goes to that report."""
    lang = _page_lang()
    looked_up = re.sub(r"[^0-9A-Za-z]", "", request.args.get("code", ""))[:16]
    if looked_up:
        return redirect(f"/report/{looked_up.upper()}?lang={lang}")
    with current_db().uow() as db_session:
        choices = [(code, t(f"citizen.category.{code}", lang)) for code, _c in citizen.public_categories(db_session)]
    texts = {key: t(f"citizen.js.{key}", lang) for key in (
        "solving", "sending", "locating", "located", "no_geolocation", "location_failed", "too_many_photos",
        "failed", "network", "location_required")}
    texts.update({f"error.{code}": t(f"citizen.error.{code}", lang) for code in ERROR_TEXTS})
    doorplate = (request.args.get("doorplate") or "").strip()[:40]
    return _render("report.html", choices=choices, texts=texts, doorplate=doorplate,
                   max_photos=citizen.MAX_PHOTOS, description_max=citizen.DESCRIPTION_MAX)


@public_bp.get("/report/<tracking_code>")
def report_status_page(tracking_code: str) -> tuple[str, int]:
    """A report's public status and reply; an unknown code reads as not found, nothing more."""
    try:
        _charge(f"lookup:ip:{client_address()}", get_settings().public_lookups_per_hour_ip)
        with current_db().uow() as db_session:
            shown = citizen.public_report(db_session, tracking_code)
    except NotFound:
        return _render("report_status.html", 404, report=None)
    except TooManyRequests:
        abort(429)
    return _render("report_status.html", report=shown)


def public_routes() -> dict[str, str]:
    """Every route of this blueprint with why anyone may call it (for the access tests and the README)."""
    return {
        f"{PREFIX}/categories": "public side: the citizen-facing categories",
        f"{PREFIX}/challenge": "public side: a proof-of-work challenge (rate-limited per address)",
        f"{PREFIX}/reports": "public side: file a citizen report (PoW, rate limits, photo checks; no sign-in)",
        f"{PREFIX}/reports/<tracking_code>": "public side: a report's status and public reply, nothing personal",
        "/report": "public side: the reporting page (plain HTML, no Dash)",
        "/report/<tracking_code>": "public side: a report's status page",
        "/report/static/<path:filename>": "public side: the reporting page's script and style",
    }

