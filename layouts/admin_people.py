"""/admin/people (issue 16): create and edit users — role, grid, department, area scope (a district or street
for a command tier), phone — disable or enable them, and reset one with a new one-time activation code."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.admin_kit import button, form_dropdown, form_input, message_line, page
from layouts.components import dropdown, panel

ROLES = ("admin", "operator", "leader", "handler", "worker")
F = ids.ADMIN_PEOPLE_FORM


def layout(**_query: str) -> html.Div:
    """The user editor; the options (users, grids, departments, areas) arrive through a callback."""
    form = html.Div(
        [
            html.Div(dropdown(id=ids.ADMIN_PEOPLE_PICK, placeholder=t("admin_people.pick"), searchable=True,
                              clearable=True), **{"data-testid": ids.ADMIN_PEOPLE_PICK}),
            html.Div([form_input(F, "username", "admin.col.username", maxLength=64),
                      form_input(F, "display_name", "admin.col.display_name", maxLength=128),
                      form_input(F, "phone", "admin_people.phone", maxLength=32)], className="field-row"),
            html.Div([form_dropdown(F, "role", "admin.col.role", clearable=False,
                                    options=[{"label": t(f"role.{r}"), "value": r} for r in ROLES]),
                      form_dropdown(F, "grid", "admin.col.grid", searchable=True, clearable=True),
                      form_dropdown(F, "department", "admin.col.department", searchable=True, clearable=True),
                      form_dropdown(F, "area", "admin_people.area", searchable=True, clearable=True)],
                     className="field-row"),
            html.P(t("admin_people.area_help"), className="field-help"),
            html.Div([button("admin_people.save", ids.ADMIN_PEOPLE_SAVE, primary=True),
                      button("admin_people.reset", ids.ADMIN_PEOPLE_RESET),
                      button("admin_people.disable", ids.ADMIN_PEOPLE_DISABLE),
                      button("admin_people.enable", ids.ADMIN_PEOPLE_ENABLE)], className="field-row"),
        ],
        className="admin_people-form",
    )
    return page(
        "/admin/people", "nav.admin_people",
        panel(t("admin_people.title"),
              [form, message_line(ids.ADMIN_PEOPLE_MESSAGE),
               html.Div(id=ids.ADMIN_PEOPLE_CODE, **{"data-testid": ids.ADMIN_PEOPLE_CODE}),
               dcc.Store(id=ids.ADMIN_PEOPLE_CHANGED, data=0)],
              class_name="admin-panel", **{"data-testid": "admin_people"}),
    )
