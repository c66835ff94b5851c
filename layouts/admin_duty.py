"""The duty-rota panel of /admin (issue 17 §4): the rota of a week, and adding or removing one entry."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import dropdown, field, panel

#: Longest user name the panel takes (the column's length).
NAME_CHARS = 64


def section() -> html.Section:
    """The week picker and its rota table; a day, shift, post and user name to add (choices come by callback)."""
    week = field("duty.admin.week", dcc.DatePickerSingle(id=ids.ADMIN_DUTY_WEEK, display_format="YYYY-MM-DD"),
                 ids.ADMIN_DUTY_WEEK)
    form = html.Div(
        [
            field("duty.col.day", dcc.DatePickerSingle(id=ids.ADMIN_DUTY_DAY, display_format="YYYY-MM-DD"),
                  ids.ADMIN_DUTY_DAY),
            field("duty.col.shift", dropdown(id=ids.ADMIN_DUTY_SHIFT, clearable=False), ids.ADMIN_DUTY_SHIFT),
            field("duty.col.post", dropdown(id=ids.ADMIN_DUTY_POST, clearable=False), ids.ADMIN_DUTY_POST),
            field("duty.admin.user", dcc.Input(id=ids.ADMIN_DUTY_USER, type="text", maxLength=NAME_CHARS,
                                               className="console-input"), ids.ADMIN_DUTY_USER),
            html.Button(t("duty.admin.add"), id=ids.ADMIN_DUTY_ADD, className="action-button action-file",
                        **{"data-testid": ids.ADMIN_DUTY_ADD}),
        ],
        className="field-row",
    )
    return panel(
        t("duty.admin.title"),
        [
            week,
            html.Div(id=ids.ADMIN_DUTY_LIST, className="admin-table", **{"data-testid": ids.ADMIN_DUTY_LIST}),
            form,
            html.Div(id=ids.ADMIN_DUTY_MESSAGE, role="status", **{"data-testid": ids.ADMIN_DUTY_MESSAGE}),
            dcc.Store(id=ids.ADMIN_DUTY_CHANGED, data=0),
        ],
        class_name="admin-panel", **{"data-testid": "admin-duty-section"},
    )
