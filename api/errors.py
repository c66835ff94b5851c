"""JSON errors of the machine interfaces: ``{"error": {"code", "message"}}`` under /api and /open311.

``ApiError`` is raised by views; domain refusals (``domain.errors.DomainError`` and its kinds, which the
dispatch, alerts and admin services raise) answer with the status they carry (forbidden 403, not found 404,
conflict or stale version 409, not allowed or invalid 422), so views need not translate them.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from dispatch.kpi import UnknownFilter
from domain.errors import DomainError

log = logging.getLogger(__name__)

MACHINE_PREFIXES = ("/api/", "/open311/")

#: Error codes of the HTTP statuses the API answers with.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An API refusal: HTTP ``status``, machine-readable ``code``, English ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> Response:
    """The JSON error body with its status."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _is_machine_path() -> bool:
    return request.path.startswith(MACHINE_PREFIXES)


def register_error_handlers(app: Flask) -> None:
    """Answer errors under /api and /open311 in the JSON error shape; other paths keep Flask's pages."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(DomainError)
    def _refused(exc: DomainError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(UnknownFilter)
    def _unprocessable(exc: UnknownFilter) -> Response:
        return error_response(422, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response | HTTPException:
        if not _is_machine_path() or (exc.code or 500) < 400:  # redirects stay redirects
            return exc
        status = exc.code or 500
        response = error_response(status, STATUS_CODES.get(status, "error"), exc.description or exc.name)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError) -> Response | RecursionError:
        # The JSON parser recurses once per nesting level: a hostile body of 50,000 brackets ends here.
        if not request.path.startswith((*MACHINE_PREFIXES, "/_dash-")):
            raise exc
        log.warning("refused a body nested too deeply on %s %s", request.method, request.path, exc_info=exc)
        return error_response(400, "bad_json", "the body is nested too deeply")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response | Exception:
        if not _is_machine_path():
            raise exc
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "the server failed; the error was logged")
