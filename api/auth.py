"""Authentication and authorization: Flask-Login sessions, bearer tokens, and the one access guard.

Every page, every Dash callback and every API route is checked here:
- pages and Dash callbacks by ``guard_request`` (a ``before_request`` hook) against ``PAGE_ROLES``;
  a callback belongs to the page whose id prefix its outputs carry (``layouts/ids.py``);
- API routes by ``require_roles`` (401 anonymous, 403 wrong role, JSON error body).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import unquote, urlencode, urlsplit

from flask import Flask, current_app, redirect, request, session
from flask_login import AnonymousUserMixin, LoginManager, current_user, login_user, logout_user

from api.errors import error_response
from data.accounts import (
    WrongPassword,
    change_password,
    end_sessions,
    record_sign_in,
    sign_in_wait,
    user_by_name,
    user_for_token,
    verify_password,
)
from data.audit import write_audit
from data.db import Database
from data.models import Role, User, utcnow
from data.queries import user_by_id
from settings import Settings, get_settings

F = TypeVar("F", bound=Callable[..., Any])

ALL_ROLES = frozenset(r.value for r in Role)

#: Which roles may open each page (and call the callbacks of its components). Keys are page keys;
#: a component id ``console-queue`` belongs to page ``console``.
PAGE_ROLES: dict[str, frozenset[str]] = {
    "bigscreen": frozenset({"admin", "operator", "leader", "handler"}),
    "console": frozenset({"admin", "operator", "handler"}),
    "worker": frozenset({"admin", "worker"}),
    "hotline": frozenset({"admin", "operator"}),
    "briefing": frozenset({"admin", "operator", "leader"}),
    "video": frozenset({"admin", "operator", "leader"}),
    "admin": frozenset({"admin"}),
    # the sub-pages of /admin (issue 16); their component ids carry the prefix ``admin-``
    "admin_people": frozenset({"admin"}),
    "admin_city": frozenset({"admin"}),
    "admin_settings": frozenset({"admin"}),
    "admin_import": frozenset({"admin"}),
    "admin_plans": frozenset({"admin"}),  # the emergency plans' editor (issue 18 §1)
    "admin_channels": frozenset({"admin"}),  # the notification channels (issue 17 §3)
    # the emergency command board /command/<event> (issue 18); its component ids carry ``command-``
    "command": frozenset({"admin", "operator", "leader"}),
    "trends": frozenset({"admin", "operator", "leader"}),  # issue 20: trend analysis
    "shell": ALL_ROLES,
}
PAGE_PATHS: dict[str, str] = {
    "/": "bigscreen",
    "/console": "console",
    "/worker": "worker",
    "/hotline": "hotline",
    "/briefing": "briefing",
    "/video": "video",
    "/admin": "admin",
    "/admin/people": "admin_people",
    "/admin/city": "admin_city",
    "/admin/settings": "admin_settings",
    "/admin/import": "admin_import",
    "/admin/plans": "admin_plans",
    "/admin/channels": "admin_channels",
    "/command": "command",
    "/trends": "trends",
}
#: Pages with a path variable (``dash.register_page(path_template=...)``): ``/command/<event>`` is ``command``.
PAGE_TEMPLATES: dict[str, str] = {"command": "/command/<event>"}


def page_of_path(path: str) -> str | None:
    """The page a path opens: an exact path of ``PAGE_PATHS``, or a path under a page of ``PAGE_TEMPLATES``."""
    path = path.rstrip("/") or "/"
    page = PAGE_PATHS.get(path)
    for name, template in PAGE_TEMPLATES.items():
        prefix = template.split("<", 1)[0]
        if page is None and path.startswith(prefix) and "/" not in path[len(prefix):]:
            page = name
    return page


PUBLIC_PREFIXES = ("/login", "/auth/", "/healthz", "/assets/", "/_dash-component-suites/", "/_favicon",
                   "/open311/", "/static/", "/report/")
#: Public pages outside any prefix: the citizens' reporting page (api/public.py; no sign-in).
PUBLIC_PATHS = frozenset({"/report"})
LANDING = {"worker": "/worker", "handler": "/console"}
#: The page where every signed-in user changes their own password (plain Flask, api/login.py).
ACCOUNT_PATH = "/account"
#: The session cookie's name in HTTPS mode (``CITYOPS_HTTPS``): the ``__Host-`` prefix needs Secure.
HOST_COOKIE = "__Host-cityops"


@dataclass(frozen=True)
class AuthUser:
    """The signed-in user as the web layer sees it (detached from any session)."""

    id: int
    username: str
    display_name: str
    role: str
    grid_id: int | None
    department_id: int | None
    #: A command tier's district or street (``users add --area``); None = the city centre.
    area_code: str | None = None

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)

    @classmethod
    def of(cls, user: User) -> AuthUser:
        return cls(user.id, user.username, user.display_name, user.role, user.grid_id, user.department_id,
                   user.area_code)


class Anonymous(AnonymousUserMixin):
    role = None
    id = None


def current_db() -> Database:
    """The Database of the running app."""
    return current_app.extensions["cityops_db"]


def init_auth(app: Flask, db: Database, settings: Settings | None = None) -> LoginManager:
    """Install Flask-Login (sessions + bearer tokens) and the access guard on ``app``."""
    settings = settings or get_settings()
    lifetimes = SessionLifetimes.of(settings)
    app.extensions["cityops_db"] = db
    app.config.update(
        # Behind HTTPS the cookie carries the __Host- prefix (ASVS 3.4.4): browsers then accept it only
        # when it is Secure, has Path=/ and no Domain, so no sibling host can set or shadow it.
        SESSION_COOKIE_NAME=HOST_COOKIE if settings.https else "session",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=lifetimes.longest,
    )
    manager = LoginManager(app)
    manager.anonymous_user = Anonymous

    @manager.user_loader
    def load_user(user_id: str) -> AuthUser | None:
        with db.uow() as db_session:
            user = user_by_id(db_session, int(user_id)) if user_id.isdigit() else None
            if user is None or not user.active or not lifetimes.session_is_live(user):
                return None
            return AuthUser.of(user)

    @manager.request_loader
    def load_from_token(req) -> AuthUser | None:  # noqa: ANN001
        header = req.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        with db.uow() as session:
            user = user_for_token(session, header[7:].strip())
            return AuthUser.of(user) if user is not None else None

    @manager.unauthorized_handler
    def unauthorized():
        if _is_machine_path(request.path):
            return error_response(401, "unauthorized", "sign in or send a valid bearer token")
        return redirect(_login_url(request.full_path.rstrip("?")))

    app.before_request(guard_request)
    return manager


def _is_machine_path(path: str) -> bool:
    return path.startswith(("/api/", "/_dash-", "/open311/"))


def page_of_component(component_id: str) -> str | None:
    """The page key a component id belongs to (``console-queue`` → ``console``)."""
    prefix = component_id.split("-", 1)[0]
    return prefix if prefix in PAGE_ROLES else None


def _output_components(output_key: str) -> list[str]:
    """The component ids (a pattern id's ``type``) named by Dash's callback key: ``id.prop``, or
    ``..id.prop...id2.prop..`` for several outputs; a duplicate output carries ``@hash`` after its prop."""
    parts = output_key[2:-2].split("...") if output_key.startswith("..") else [output_key]
    components = []
    for part in parts:
        component = part.rsplit(".", 1)[0]
        if component.startswith("{"):
            try:
                pattern = json.loads(component)
            except ValueError:
                pattern = None
            component = str(pattern.get("type", "")) if isinstance(pattern, dict) else ""
        components.append(component)
    return components


def callback_pages(body: dict[str, Any]) -> set[str | None]:
    """The pages whose components a Dash callback request writes to, read from the callback key that Dash
    itself uses to choose the function (so a request cannot name one callback and be judged by another);
    an unreadable key belongs to no page."""
    key = body.get("output")
    if not isinstance(key, str) or not key:
        return {None}
    pages: set[str | None] = set()
    for component in _output_components(key):
        if component in ("_pages_content", "_pages_store"):
            pages.add(_page_from_inputs(body))
        else:
            pages.add(page_of_component(component))
    return pages or {None}


def _page_from_inputs(body: dict[str, Any]) -> str | None:
    for item in body.get("inputs", []) or []:
        if isinstance(item, dict) and item.get("property") == "pathname":
            return page_of_path(urlsplit(str(item.get("value") or "/")).path)
    return None


def allowed(role: str | None, page: str | None) -> bool:
    """True when ``role`` may open ``page`` (unknown pages are denied)."""
    return role is not None and page is not None and role in PAGE_ROLES.get(page, frozenset())


def guard_request():  # noqa: ANN201
    """The one access check for pages and Dash callbacks (API routes use ``require_roles``)."""
    refusal = cross_site_refusal()
    if refusal is not None:
        return refusal
    path = request.path
    if (path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_PATHS or path.startswith(("/api/", "/ogc/", "/tiles/"))
            or path == "/ogc"):
        return None  # the API, OGC API and basemap (/tiles) blueprints check sign-in themselves (401, not a redirect)
    authenticated = current_user.is_authenticated
    role = current_user.role if authenticated else None
    if path == "/_dash-update-component":
        if not authenticated:
            return error_response(401, "unauthorized", "sign in first")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error_response(400, "bad_request", "malformed callback request")
        if not all(allowed(role, page) for page in callback_pages(body)):
            return error_response(403, "forbidden", "this role may not use this view")
        return None
    if path.startswith("/_dash-") or path.startswith("/_reload-hash"):
        if not authenticated:
            return error_response(401, "unauthorized", "sign in first")
        return None
    page = page_of_path(path)
    if not authenticated:
        return redirect(_login_url(path))
    if page is None:
        return None  # Dash answers unknown paths with its own 404 page
    if not allowed(role, page):
        landing = LANDING.get(role or "", "/")
        if landing != path and allowed(role, PAGE_PATHS.get(landing)):
            return redirect(landing)
        return error_response(403, "forbidden", "this role may not open this page")
    return None


def require_roles(*roles: str) -> Callable[[F], F]:
    """Decorate an API view: 401 when anonymous, 403 when the user's role is not in ``roles``."""
    wanted = frozenset(roles) or ALL_ROLES

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return error_response(401, "unauthorized", "send a valid bearer token or sign in")
            if current_user.role not in wanted:
                return error_response(403, "forbidden", f"role {current_user.role!r} may not do this")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


class LoginThrottled(Exception):
    """Too many failed sign-ins for this name from this address (or from this address at all)."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__(f"try again in {wait}")
        self.wait = wait


def _client_address() -> str:
    return request.remote_addr or "unknown"


def _throttle(username: str, ip: str) -> datetime:
    """Raise LoginThrottled (audited) while ``username`` must wait before a password from ``ip`` is checked
    again; returns the time of this attempt."""
    with current_db().uow() as db_session:
        now = utcnow()
        wait = sign_in_wait(db_session, username, ip, now)
        if wait is not None:
            write_audit(db_session, None, "login_throttled", username, ip=ip, at=now)
    if wait is not None:  # raised after the unit of work, so the audit row is kept
        raise LoginThrottled(wait)
    return now


def authenticate(username: str, password: str) -> AuthUser | None:
    """Check a username and password; records the attempt in the audit log.

    Raises LoginThrottled, before the password is even checked, while the failures of this name from
    this address (or of this address) ask for a wait (``data.accounts.ThrottlePolicy``). Unknown names
    cost as much as known ones (the password is checked against a dummy hash) and are throttled alike.
    """
    ip = _client_address()
    now = _throttle(username, ip)
    with current_db().uow() as db_session:
        user = user_by_name(db_session, username)
        ok = verify_password(user.password_hash if user is not None else None, password) and user is not None
        record_sign_in(db_session, username, ip, ok, now)
        write_audit(db_session, user.id if user else None, "login" if ok else "login_failed", username, ip=ip,
                    at=now, detail={"user_agent": request.user_agent.string[:200]})
        return AuthUser.of(user) if ok and user is not None else None


def change_own_password(current: str, new: str) -> None:
    """The signed-in user changes their password (``data.accounts.change_password``): guessing the current
    password is throttled and counted like failed sign-ins (LoginThrottled, WrongPassword); a new password
    the policy refuses raises WeakPassword. Every session of the user ends, except this browser's, which
    is started afresh in the new epoch."""
    ip = _client_address()
    now = _throttle(current_user.username, ip)
    wrong = False
    with current_db().uow() as db_session:
        user = user_by_id(db_session, current_user.id)
        try:
            change_password(db_session, user, current, new)
        except WrongPassword:
            wrong = True  # kept: the unit of work commits the failure, then it is raised
            record_sign_in(db_session, user.username, ip, False, now)
            write_audit(db_session, user.id, "password.change_failed", f"user:{user.username}", ip=ip, at=now)
        else:
            me = AuthUser.of(user)
    if wrong:
        raise WrongPassword("the current password is wrong")
    sign_in(me)


# --- browser sessions: an epoch, an idle timeout and an absolute lifetime ---------------------------

_EPOCH, _SIGNED_IN, _SEEN = "cityops_epoch", "cityops_signed_in", "cityops_seen"
#: Activity is written back into the cookie at most this often (not on every poll of an open page).
_SEEN_RESOLUTION_S = 60


@dataclass(frozen=True)
class SessionLifetimes:
    """How long a browser session may live: idle, and at most after sign-in (per role where set)."""

    idle: timedelta
    longest_by_role: dict[str, timedelta]
    default: timedelta

    @classmethod
    def of(cls, settings: Settings) -> SessionLifetimes:
        return cls(timedelta(minutes=settings.session_idle_minutes),
                   {role: timedelta(hours=hours) for role, hours in settings.session_role_max_hours.items()},
                   timedelta(hours=settings.session_max_hours))

    @property
    def longest(self) -> timedelta:
        """The longest any session may live (the cookie's own expiry)."""
        return max([self.default, *self.longest_by_role.values()])

    def session_is_live(self, user: User) -> bool:
        """True when the browser session of this request still belongs to ``user``: begun in the user's
        current epoch, not idle too long and not too old. Notes the request as activity."""
        now = time.time()
        try:
            epoch, signed_in, seen = int(session[_EPOCH]), float(session[_SIGNED_IN]), float(session[_SEEN])
        except (KeyError, TypeError, ValueError):
            return False  # a cookie from before epochs, or not ours
        lifetime = self.longest_by_role.get(user.role, self.default)
        if (epoch != (user.session_epoch or 0) or now - seen > self.idle.total_seconds()
                or now - signed_in > lifetime.total_seconds()):
            return False
        if now - seen >= _SEEN_RESOLUTION_S:
            session[_SEEN] = now
        return True


def sign_in(user: AuthUser) -> str:
    """Start the browser session for ``user``; returns where to go next."""
    with current_db().uow() as db_session:
        epoch = user_by_id(db_session, user.id).session_epoch or 0
    lang = session.get("lang")
    session.clear()  # nothing of an earlier session (or of someone else's) carries over
    if lang is not None:
        session["lang"] = lang
    login_user(user)
    now = time.time()
    session.update({_EPOCH: epoch, _SIGNED_IN: now, _SEEN: now})
    session.permanent = True
    target = safe_next(request.args.get("next") or request.form.get("next") or "", "")
    path = urlsplit(target).path.rstrip("/") or "/"
    page = PAGE_PATHS.get(path) if target else None
    if (page is not None and allowed(user.role, page)) or (target and path == ACCOUNT_PATH):
        return target
    return LANDING.get(user.role, "/")


def sign_out() -> None:
    """End the browser session, and with it every other session of the same user (a copied cookie
    stops working too)."""
    if current_user.is_authenticated and session.get("_user_id") is not None:
        with current_db().uow() as db_session:
            user = user_by_id(db_session, current_user.id)
            if user is not None:
                end_sessions(db_session, user, reason="logout", actor_id=user.id)
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang is not None:
        session["lang"] = lang


# --- redirects: only to our own paths --------------------------------------------------------------

#: What a browser removes from a URL before it reads it (WHATWG URL: tab, CR and LF anywhere).
_URL_IGNORED = re.compile(r"[\t\r\n]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _stays_on_this_site(target: str) -> bool:
    """True when a browser following ``Location: target`` stays on this origin: a path from the root,
    never ``//host`` (nor ``/\\host``, which browsers read the same), with no scheme and no host."""
    parts = urlsplit(target)
    return (target.startswith("/") and not target.startswith("//") and not parts.scheme
            and not parts.netloc and not _CONTROL.search(target))


def safe_next(target: str, default: str = "/") -> str:
    """``target`` as a browser would read it when it is a path on this site, else ``default``.

    The check runs on what the browser will see, not on the raw string: tabs and newlines dropped,
    backslashes read as slashes — and once more after percent-decoding, so no encoded form of ``//``
    or of a scheme gets through either. (``/%09/evil.example`` is ``//evil.example`` to a browser.)
    """
    seen = _URL_IGNORED.sub("", target).replace("\\", "/").strip(" ")
    decoded = _URL_IGNORED.sub("", unquote(seen)).replace("\\", "/")
    if not seen or not _stays_on_this_site(seen) or not _stays_on_this_site(decoded):
        return default
    return seen


def _login_url(next_path: str) -> str:
    """The sign-in page that comes back to ``next_path`` afterwards (a local path, encoded)."""
    target = safe_next(next_path, "")
    return "/login?" + urlencode({"next": target}) if target else "/login"


# --- cross-site request forgery ---------------------------------------------------------------------

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Where a signed-in browser writes JSON only (the sign-in and sign-out forms are checked by origin).
JSON_PREFIXES = ("/api/", "/open311/", "/_dash-update-component")
_SAME_SITE_FETCH = frozenset({"same-origin", "none"})


def _from_this_origin() -> bool:
    """False when the browser says the request comes from another origin: an ``Origin`` that is not
    ours (``null`` included), or without one a ``Sec-Fetch-Site`` other than same-origin/none. A client
    that sends neither header is no browser (a cross-site page cannot make a browser omit both)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        hosts = {request.host, *(h.strip() for h in request.headers.get("X-Forwarded-Host", "").split(","))}
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc in hosts - {""}
    fetch_site = request.headers.get("Sec-Fetch-Site")
    return fetch_site is None or fetch_site in _SAME_SITE_FETCH


def cross_site_refusal() -> Any:
    """A 403/415 for a write that may have been forged by another site, else None.

    A write that the session cookie authenticates (no ``Authorization`` header: bearer-token calls are
    not affected) must come from this origin and, to the API, Open311 and Dash callbacks, carry
    ``application/json`` — which a cross-site page cannot send without a CORS preflight that this app
    never grants. The sign-in form is checked for its origin even without a session (login CSRF).
    """
    if request.method not in _WRITES or "Authorization" in request.headers:
        return None
    with_session = session.get("_user_id") is not None
    if not with_session and request.path != "/login":
        return None
    if not _from_this_origin():
        return error_response(403, "cross_site", "a write from another site is refused")
    if with_session and request.path.startswith(JSON_PREFIXES) and request.mimetype != "application/json":
        return error_response(415, "unsupported_media_type",
                              "a signed-in browser writes with Content-Type: application/json")
    return None
