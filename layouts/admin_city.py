"""/admin/city (issue 16): the city's departments — code, names, the department above — listed and edited
(categories and their limits are edited on /admin; areas, grids and the rest come in through /admin/import)."""

from __future__ import annotations

from collections.abc import Sequence

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.admin_kit import button, form_dropdown, form_input, message_line, page
from layouts.components import dropdown, empty, panel, table

F = ids.ADMIN_CITY_FORM


def departments_table(rows: Sequence[tuple[str, str, str, str]]) -> html.Table | html.Div:
    """The departments: code, Chinese and English names, the code above (empty: none)."""
    if not rows:
        return empty()
    return table([t("admin.col.code"), t("admin.col.name_zh"), t("admin.col.name_en"), t("admin_city.parent")],
                 rows, row_testid="admin_city-row")


def layout(**_query: str) -> html.Div:
    """The department list and editor; the rows and options arrive through a callback."""
    form = html.Div(
        [
            html.Div(dropdown(id=ids.ADMIN_CITY_PICK, placeholder=t("admin_city.pick"), searchable=True,
                              clearable=True), **{"data-testid": ids.ADMIN_CITY_PICK}),
            html.Div([form_input(F, "code", "admin.col.code", maxLength=32),
                      form_input(F, "name_zh", "admin.col.name_zh", maxLength=128),
                      form_input(F, "name_en", "admin.col.name_en", maxLength=128),
                      form_dropdown(F, "parent", "admin_city.parent", searchable=True, clearable=True)],
                     className="field-row"),
            button("admin_city.save", ids.ADMIN_CITY_SAVE, primary=True),
        ],
        className="admin_city-form",
    )
    return page(
        "/admin/city", "nav.admin_city",
        panel(t("admin_city.title"),
              [html.Div(id=ids.ADMIN_CITY_LIST, className="admin-table", **{"data-testid": ids.ADMIN_CITY_LIST}),
               form, message_line(ids.ADMIN_CITY_MESSAGE), dcc.Store(id=ids.ADMIN_CITY_CHANGED, data=0)],
              class_name="admin-panel", **{"data-testid": "admin_city"}),
    )
