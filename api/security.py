"""HTTP hardening of the web server (issue 14): the security headers of every answer (a Content Security
Policy that Dash, Plotly and MapLibre work under, no framing, no sniffing, no cross-site referrer; HSTS and
``Secure`` cookies behind HTTPS), the Dash callback list shown per role, and a 4xx with a reason — never
a 500 — for a malformed Dash callback request or an unknown Dash file.
"""

from __future__ import annotations

import json

import dash
from dash.exceptions import CallbackException, DependencyException
from flask import Flask, Response, request
from flask_login import current_user

from api.auth import allowed, callback_pages
from api.errors import error_response
from dispatch.video import gateway_origin
from settings import get_settings

#: The messages of Dash's own checks that a callback request matches the callback it names ("for security",
#: dash/_validate.py): the request is wrong, not the server.
DASH_REQUEST_MISMATCH = ("Inputs do not match callback definition", "Output does not match callback definition",
                         "Wrong length output_spec")

#: HSTS: a year, subdomains included (the city serves nothing over plain HTTP behind this name).
HSTS = "max-age=31536000; includeSubDomains"

#: Where a page may load from: only this origin, except
#: - script-src: Dash's inline scripts by their hashes (``Dash.csp_hashes``; no 'unsafe-inline', no eval);
#: - style-src 'unsafe-inline': Plotly and MapLibre inject <style> elements and style attributes at run time;
#: - worker-src / child-src blob:: MapLibre (Plotly's map traces) runs its tile workers from a blob: URL;
#: - img-src data: blob: and font-src data:: Plotly's and MapLibre's generated images and icons;
#: - the video gateway's and platforms' origins (``video_sources``) in connect-src, media-src and img-src.
#: Nothing may frame a page (frame-ancestors, with X-Frame-Options for older browsers).
POLICY = {
    "default-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "child-src": "'self' blob:",
    "media-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def video_sources() -> list[str]:
    """The origins the video wall plays from (issue 19): the media gateway's (CITYOPS_VIDEO_GATEWAY and its
    sub-stream template CITYOPS_VIDEO_GATEWAY_SUB) and
    CITYOPS_VIDEO_ORIGINS; hls.js fetches playlists and segments (connect-src), <video> plays them
    (media-src), MJPEG and snapshots are images (img-src)."""
    settings = get_settings()
    templates = [settings.video_gateway, settings.video_gateway_sub, *settings.video_origins]
    origins = [gateway_origin(url) for url in templates]
    return list(dict.fromkeys(origin for origin in origins if origin))


def content_security_policy(script_hashes: list[str]) -> str:
    """The CSP header value, with ``script_hashes`` (e.g. ``'sha256-…'``) allowed as inline scripts."""
    directives = {**POLICY, "script-src": " ".join(["'self'", *script_hashes])}
    for name in ("connect-src", "media-src", "img-src"):
        directives[name] = " ".join([directives[name], *video_sources()])
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def install_security(server: Flask, app: dash.Dash, *, https: bool) -> None:
    """Add the security headers to every answer of ``server`` (HSTS and ``Secure`` cookies when ``https``:
    browsers reach it over HTTPS only), show each role only the Dash callbacks of its pages, refuse a
    malformed callback request with a 400 naming what is wrong, and answer unknown
    ``/_dash-component-suites/…`` files with a 404."""
    if https:
        server.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)

    @server.errorhandler(DependencyException)
    def _unknown_dash_file(_exc: DependencyException) -> Response:
        return error_response(404, "not_found", f"no such file {request.path}")

    @server.errorhandler(CallbackException)
    def _mismatched_callback(exc: CallbackException) -> Response | CallbackException:
        if str(exc) not in DASH_REQUEST_MISMATCH:
            raise exc  # a callback's own failure is the server's
        return error_response(400, "bad_callback", str(exc).lower())

    @server.before_request
    def _refuse_malformed_callbacks() -> Response | None:
        if request.path != "/_dash-update-component" or request.method != "POST":
            return None
        body = request.get_json(silent=True)
        key = body.get("output") if isinstance(body, dict) else None
        spec = app.callback_map.get(key) if isinstance(key, str) else None
        reason = callback_shape_error(body, spec) if spec is not None else None  # unknown ones: 404 (app.py)
        return error_response(400, "bad_callback", reason) if reason else None

    @server.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        # Dash's pages (no blueprint) hold its inline scripts, which grow at the first request (its page
        # router adds one): hash them as the page being answered holds them. Other pages run none.
        dash_page = response.mimetype == "text/html" and request.blueprint is None
        hashes = app.csp_hashes() if dash_page else []
        headers.setdefault("Content-Security-Policy", content_security_policy(hashes))
        if https:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if request.path == "/_dash-dependencies" and response.status_code == 200:
            _only_callbacks_of_open_pages(response)
        return response


def _entries_well_formed(entries: object) -> bool:
    """Dash's request entries: each ``{"id", "property", ...}``, or a list of them (a wildcard's matches)."""
    items = entries if isinstance(entries, list) else [entries]
    return all(isinstance(entry, dict) and "id" in entry and isinstance(entry.get("property"), str)
               for item in items for entry in (item if isinstance(item, list) else [item]))


def callback_shape_error(body: dict, spec: dict) -> str | None:
    """Why the Dash callback request ``body`` cannot be a call of the callback ``spec`` (its callback-map
    entry), or None: the inputs and state one entry per declared dependency, every entry with an id and a
    property, the outputs given."""
    for part in ("inputs", "state"):
        entries, wanted = body.get(part, []), len(spec.get(part, []))
        if not isinstance(entries, list) or len(entries) != wanted:
            return f"{part}: this callback takes {wanted} entries"
        if not _entries_well_formed(entries):
            return f"{part}: every entry needs an id and a property"
    outputs = body.get("outputs")
    if not isinstance(outputs, dict | list) or not _entries_well_formed(outputs):
        return "outputs: every entry needs an id and a property"
    if not isinstance(body.get("changedPropIds", []), list):
        return "changedPropIds must be a list"
    return None


def _only_callbacks_of_open_pages(response: Response) -> None:
    """Drop from Dash's callback list every callback that writes to a page the user may not open (the
    same reading of the callback key as the access guard's): a worker's browser never learns the admin
    page's callbacks."""
    role = current_user.role if current_user.is_authenticated else None
    callbacks = json.loads(response.get_data())
    shown = [spec for spec in callbacks
             if all(page is None or allowed(role, page)
                    for page in callback_pages({"output": spec.get("output")}))]
    response.set_data(json.dumps(shown))
