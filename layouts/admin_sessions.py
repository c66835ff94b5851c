"""The sign-in panel of /admin (issue 14): forget a name's failed sign-ins (unlock), or end every browser
session of a user."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import field, panel

#: Longest user name the panel takes (the column's length).
NAME_CHARS = 64


def section() -> html.Section:
    """A user name, the two actions on it and their message."""
    name = dcc.Input(id=ids.ADMIN_SESSIONS_USER, type="text", maxLength=NAME_CHARS, className="console-input")
    form = html.Div(
        [
            field("sessions.admin.user", name, ids.ADMIN_SESSIONS_USER),
            *[html.Button(t(key), id=cid, className="action-button action-file", **{"data-testid": cid})
              for key, cid in (("sessions.admin.unlock", ids.ADMIN_SESSIONS_UNLOCK),
                               ("sessions.admin.end", ids.ADMIN_SESSIONS_END))],
        ],
        className="field-row",
    )
    message = html.Div(id=ids.ADMIN_SESSIONS_MESSAGE, role="status", **{"data-testid": ids.ADMIN_SESSIONS_MESSAGE})
    return panel(t("sessions.admin.title"), [html.P(t("sessions.admin.help")), form, message],
                 class_name="admin-panel", **{"data-testid": "admin-sessions-section"})
