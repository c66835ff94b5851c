"""Authentication and authorization: Flask-Login sessions, bearer tokens, and the one access guard.

Every page, every Dash callback and every API route is checked here:
- pages and Dash callbacks by ``guard_request`` (a ``before_request`` hook) against ``PAGE_ROLES``;
  a callback belongs to the page whose id prefix its outputs carry (``layouts/ids.py``);
- API routes by ``require_roles`` (401 anonymous, 403 wrong role, JSON error body).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, current_app, redirect, request
from flask_login import AnonymousUserMixin, LoginManager, current_user, login_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.errors import error_response
from data.accounts import user_by_name, user_for_token, verify_password
from data.db import Database
from data.models import AuditLog, Role, User, utcnow

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
    "admin": frozenset({"admin"}),
    "shell": ALL_ROLES,
}
PAGE_PATHS: dict[str, str] = {
    "/": "bigscreen",
    "/console": "console",
    "/worker": "worker",
    "/hotline": "hotline",
    "/briefing": "briefing",
    "/admin": "admin",
}
PUBLIC_PREFIXES = ("/login", "/auth/", "/healthz", "/assets/", "/_dash-component-suites/", "/_favicon",
                   "/open311/", "/static/")
LANDING = {"worker": "/worker", "handler": "/console"}


@dataclass(frozen=True)
class AuthUser:
    """The signed-in user as the web layer sees it (detached from any session)."""

    id: int
    username: str
    display_name: str
    role: str
    grid_id: int | None
    department_id: int | None

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)

    @classmethod
    def of(cls, user: User) -> AuthUser:
        return cls(user.id, user.username, user.display_name, user.role, user.grid_id, user.department_id)


class Anonymous(AnonymousUserMixin):
    role = None
    id = None


def current_db() -> Database:
    """The Database of the running app."""
    return current_app.extensions["cityops_db"]


def init_auth(app: Flask, db: Database) -> LoginManager:
    """Install Flask-Login (sessions + bearer tokens) and the access guard on ``app``."""
    app.extensions["cityops_db"] = db
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
    )
    manager = LoginManager(app)
    manager.anonymous_user = Anonymous

    @manager.user_loader
    def load_user(user_id: str) -> AuthUser | None:
        with db.uow() as session:
            user = session.get(User, int(user_id)) if user_id.isdigit() else None
            return AuthUser.of(user) if user is not None and user.active else None

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
        return redirect(f"/login?next={request.full_path.rstrip('?')}")

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


def _callback_pages(body: dict[str, Any]) -> set[str | None]:
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
            return PAGE_PATHS.get(urlsplit(str(item.get("value") or "/")).path.rstrip("/") or "/")
    return None


def allowed(role: str | None, page: str | None) -> bool:
    """True when ``role`` may open ``page`` (unknown pages are denied)."""
    return role is not None and page is not None and role in PAGE_ROLES.get(page, frozenset())


def guard_request():  # noqa: ANN201
    """The one access check for pages and Dash callbacks (API routes use ``require_roles``)."""
    path = request.path
    if path.startswith(PUBLIC_PREFIXES) or path.startswith("/api/"):
        return None
    authenticated = current_user.is_authenticated
    role = current_user.role if authenticated else None
    if path == "/_dash-update-component":
        if not authenticated:
            return error_response(401, "unauthorized", "sign in first")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error_response(400, "bad_request", "malformed callback request")
        if not all(allowed(role, page) for page in _callback_pages(body)):
            return error_response(403, "forbidden", "this role may not use this view")
        return None
    if path.startswith("/_dash-") or path.startswith("/_reload-hash"):
        if not authenticated:
            return error_response(401, "unauthorized", "sign in first")
        return None
    page = PAGE_PATHS.get(path.rstrip("/") or "/")
    if not authenticated:
        return redirect(f"/login?next={path}")
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
    """Too many failed sign-ins for this name or from this address; try again later."""


#: Failed sign-ins allowed per user name, and per address, within THROTTLE_WINDOW.
THROTTLE_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)


def _recent_failures(session: Session, username: str, ip: str | None, now: datetime) -> int:
    """Failed sign-ins for ``username`` or from ``ip`` within the window (read from the audit log, so
    every web process sees the same count)."""
    since = now - THROTTLE_WINDOW
    by_name = session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "login_failed", AuditLog.at >= since, AuditLog.target == username[:128]))
    by_ip = session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "login_failed", AuditLog.at >= since, AuditLog.ip == ip)) if ip else 0
    return max(by_name or 0, (by_ip or 0) // 4)  # an address may be shared by a whole office


def authenticate(username: str, password: str) -> AuthUser | None:
    """Check a username and password; records the attempt in the audit log.

    Raises LoginThrottled after THROTTLE_FAILURES failures for the name (or four times as many from
    the address) within THROTTLE_WINDOW — before the password is even checked.
    """
    ip = request.remote_addr
    with current_db().uow() as session:
        now = utcnow()
        throttled = _recent_failures(session, username, ip, now) >= THROTTLE_FAILURES
        if throttled:
            session.add(AuditLog(action="login_throttled", target=username[:128], ip=ip, at=now))
    if throttled:  # raised after the unit of work, so the audit row is kept
        raise LoginThrottled(username)
    with current_db().uow() as session:
        user = user_by_name(session, username)
        ok = user is not None and verify_password(user.password_hash, password)
        session.add(AuditLog(user_id=user.id if user else None,
                             action="login" if ok else "login_failed",
                             target=username[:128], ip=ip, at=now,
                             detail={"user_agent": request.user_agent.string[:200]}))
        return AuthUser.of(user) if ok and user is not None else None


def sign_in(user: AuthUser) -> str:
    """Start the browser session for ``user``; returns where to go next."""
    login_user(user)
    target = request.args.get("next") or request.form.get("next") or ""
    page = PAGE_PATHS.get(urlsplit(target).path.rstrip("/") or "/") if target.startswith("/") else None
    if page is not None and allowed(user.role, page) and not target.startswith("//"):
        return target
    return LANDING.get(user.role, "/")


def callback_body_pages(raw: bytes) -> set[str | None]:
    """The pages a raw Dash callback body writes to (used by tests of the guard)."""
    return _callback_pages(json.loads(raw))
