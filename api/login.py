"""Browser sign-in, sign-out, the language switch, and the account page where a signed-in user changes
their own password (plain Flask: these pages need no Dash)."""

from __future__ import annotations

import hmac
import math
import secrets
from datetime import timedelta

from flask import Blueprint, jsonify, redirect, render_template, request, session
from flask_login import current_user
from werkzeug.wrappers import Response

from api.auth import (
    ACCOUNT_PATH,
    LoginThrottled,
    authenticate,
    change_own_password,
    safe_next,
    sign_in,
    sign_out,
)
from api.errors import error_response
from data import accounts
from data.accounts import WeakPassword, WrongPassword, password_strength
from i18n import LANGS, current_lang, t

#: The account page's script (show-password toggle, strength hint) is served from ``api/static`` under
#: ``/auth/static``: a public prefix, and 'self' for the Content Security Policy.
login_bp = Blueprint("login", __name__, template_folder="templates", static_folder="static",
                     static_url_path="/auth/static")

#: The session key of the sign-in form's anti-forgery token.
_FORM_KEY = "cityops_form_token"


def _form_token() -> str:
    """The anti-forgery token of this browser's sign-in form: made when the form is first fetched (GET),
    so a client that only ever posts (a script) is never asked for one."""
    if request.method == "GET":
        return session.setdefault(_FORM_KEY, secrets.token_urlsafe(24))
    return session.get(_FORM_KEY, "")


def _form_token_ok() -> bool:
    """False when this browser was given a form token and the form posted does not carry it. A client
    that never fetched the form has no token to match (scripts); a forged post from another site is
    refused by its origin (``api.auth.cross_site_refusal``) and, once the form was shown, by the token."""
    expected = session.get(_FORM_KEY)
    return expected is None or hmac.compare_digest(str(expected), request.form.get("form_token", ""))


def _wait_text(wait: timedelta) -> str:
    """A wait as the sign-in page says it, rounded up: to 5 seconds under two minutes, else to minutes."""
    seconds = math.ceil(wait.total_seconds())
    if seconds < 120:
        return t("sessions.wait_seconds", n=5 * math.ceil(seconds / 5))
    return t("sessions.wait_minutes", n=math.ceil(seconds / 60))


@login_bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    """The sign-in form; a good password starts the session and goes on to the user's page."""
    error = None
    status = 200
    if request.method == "POST" and not _form_token_ok():
        error, status = t("sessions.form_expired"), 400
    elif request.method == "POST":
        try:
            user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        except LoginThrottled as throttled:
            user, error, status = None, t("sessions.throttled", wait=_wait_text(throttled.wait)), 429
        else:
            if user is not None:
                return redirect(sign_in(user))
            error, status = t("login.failed"), 401
    page = render_template("login.html", t=t, lang=current_lang(), langs=LANGS, error=error, form_token=_form_token(),
                           next=safe_next(request.values.get("next", ""), ""))
    return page, status


@login_bp.post("/auth/logout")
def logout() -> Response:
    """End the session, and every other session of the same user (a POST: a link cannot sign one out)."""
    sign_out()
    return redirect("/login")


@login_bp.route("/auth/lang/<lang>")
def switch_language(lang: str) -> Response:
    """Remember the chosen language in the session and go back."""
    if lang in LANGS:
        session["lang"] = lang
    return redirect(safe_next(request.args.get("next", "/")))


# --- the account page: a user's own password (ASVS 2.1.5, 2.1.6, 2.1.8, 2.1.12) --------------------


def _refusal_text(code: str) -> str:
    """What the page says when the policy refuses a new password for ``code``."""
    policy = accounts.PASSWORD_POLICY
    return t(f"account.{code}", n=policy.max_length if code == "too_long" else policy.min_length)


@login_bp.route(ACCOUNT_PATH, methods=["GET", "POST"])
def account() -> Response | tuple[str, int]:
    """The signed-in user's account page: change the password with the current one and a new one."""
    if not current_user.is_authenticated:
        return redirect("/login?next=" + ACCOUNT_PATH)
    error, done, status = None, False, 200
    if request.method == "POST" and not _form_token_ok():
        error, status = t("sessions.form_expired"), 400
    elif request.method == "POST":
        try:
            change_own_password(request.form.get("current", ""), request.form.get("new", ""))
        except LoginThrottled as throttled:
            error, status = t("sessions.throttled", wait=_wait_text(throttled.wait)), 429
        except WrongPassword:
            error, status = t("account.wrong"), 400
        except WeakPassword as weak:
            error, status = _refusal_text(weak.code), 422
        else:
            done = True
    page = render_template("account.html", t=t, lang=current_lang(), error=error, done=done,
                           form_token=_form_token(), user=current_user, policy=accounts.PASSWORD_POLICY)
    return page, status


@login_bp.post(ACCOUNT_PATH + "/strength")
def account_strength() -> Response | tuple[Response, int]:
    """The strength hint of a candidate password, for the account page as the user types:
    ``{"score": 0..4, "ok": bool, "text": str}`` (nothing is stored)."""
    if not current_user.is_authenticated:
        return error_response(401, "unauthorized", "sign in first")
    body = request.get_json(silent=True)
    password = body.get("password") if isinstance(body, dict) else None
    if not isinstance(password, str):
        return error_response(400, "bad_request", 'send {"password": "..."} as JSON')
    strength = password_strength(password, (current_user.username, current_user.display_name))
    text = t(f"account.level.{strength.score}")
    if strength.refusal is not None:
        text = f"{text} · {_refusal_text(strength.refusal)}"
    return jsonify({"score": strength.score, "ok": strength.refusal is None, "text": text})
