"""Callbacks of the sign-in panel of /admin (issue 14): unlock a throttled name, end a user's sessions."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate

from callbacks.common import uow
from callbacks.pagekit import signed_in
from data.accounts import AccountError, any_user_by_name, end_sessions, unlock_sign_in
from i18n import t
from layouts import ids


@callback(
    Output(ids.ADMIN_SESSIONS_MESSAGE, "children"),
    Input(ids.ADMIN_SESSIONS_UNLOCK, "n_clicks"),
    Input(ids.ADMIN_SESSIONS_END, "n_clicks"),
    State(ids.ADMIN_SESSIONS_USER, "value"),
    prevent_initial_call=True,
)
def act_on_user(_unlock: Any, _end: Any, username: str | None) -> html.Div:
    """Unlock the named user's sign-in (from every address), or end every session of that user."""
    if ctx.triggered_id not in (ids.ADMIN_SESSIONS_UNLOCK, ids.ADMIN_SESSIONS_END):
        raise PreventUpdate
    name = (username or "").strip()
    try:
        with uow() as session:
            user = any_user_by_name(session, name)
            if ctx.triggered_id == ids.ADMIN_SESSIONS_UNLOCK:
                unlock_sign_in(session, user.username, actor_id=signed_in().id)
                text = t("sessions.admin.unlocked", user=user.username)
            else:
                end_sessions(session, user, reason="admin", actor_id=signed_in().id)
                text = t("sessions.admin.ended", user=user.username)
    except AccountError:
        return html.Div(t("sessions.admin.no_user", user=name), className="msg msg-error", role="alert")
    return html.Div(text, className="msg msg-ok", role="status")
