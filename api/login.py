"""Browser sign-in, sign-out and the language switch (plain Flask: the login page needs no Dash)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session
from flask_login import logout_user
from werkzeug.wrappers import Response

from api.auth import LoginThrottled, authenticate, sign_in
from i18n import LANGS, current_lang, t

login_bp = Blueprint("login", __name__, template_folder="templates")


def _local(target: str, default: str = "/") -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirects)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else default


@login_bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    """The sign-in form; a good password starts the session and goes on to the user's page."""
    error = None
    status = 200
    if request.method == "POST":
        try:
            user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        except LoginThrottled:
            user, error, status = None, t("login.throttled"), 429
        else:
            if user is not None:
                return redirect(sign_in(user))
            error, status = t("login.failed"), 401
    page = render_template("login.html", t=t, lang=current_lang(), langs=LANGS, error=error,
                           next=_local(request.values.get("next", ""), ""))
    return page, status


@login_bp.route("/auth/logout")
def logout() -> Response:
    """End the session."""
    logout_user()
    return redirect("/login")


@login_bp.route("/auth/lang/<lang>")
def switch_language(lang: str) -> Response:
    """Remember the chosen language in the session and go back."""
    if lang in LANGS:
        session["lang"] = lang
    return redirect(_local(request.args.get("next", "/")))
