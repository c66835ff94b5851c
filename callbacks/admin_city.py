"""Callbacks of /admin/city: the departments listed, a picked department's values, and save (create or
edit) through ``admin.departments``."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx
from dash.exceptions import PreventUpdate

from admin.departments import DepartmentForm, department_values, list_departments, save_department
from callbacks.admin_kit import by_field, done, named, refused
from callbacks.common import uow
from callbacks.pagekit import DASH, signed_in
from domain.errors import DomainError
from i18n import t
from layouts import ids
from layouts.admin_city import departments_table

FORM = {"type": ids.ADMIN_CITY_FORM, "field": ALL}


@callback(
    Output(ids.ADMIN_CITY_LIST, "children"),
    Output(ids.ADMIN_CITY_PICK, "options"),
    Output({"type": ids.ADMIN_CITY_FORM, "field": "parent"}, "options"),
    Input(ids.ADMIN_CITY_CHANGED, "data"),
)
def fill(_changed: Any) -> tuple[Any, list[dict[str, str]], list[dict[str, str]]]:
    """The departments: the table, and the options to pick one and to choose a parent."""
    with uow() as session:
        rows = [(d.code, d.name_zh, d.name_en, d.parent_code or DASH) for d in list_departments(session)]
    choices = [{"label": named(code, zh, en), "value": code} for code, zh, en, _ in rows]
    return departments_table(rows), choices, choices


@callback(Output(FORM, "value"), Input(ids.ADMIN_CITY_PICK, "value"), prevent_initial_call=True)
def load(code: str | None) -> list[Any]:
    """The picked department's values in the form (empty for a new one)."""
    with uow() as session:
        values = department_values(session, code)
    return [values.get(item["id"]["field"]) for item in ctx.outputs_list]


@callback(
    Output(ids.ADMIN_CITY_MESSAGE, "children"),
    Output(ids.ADMIN_CITY_CHANGED, "data"),
    Input(ids.ADMIN_CITY_SAVE, "n_clicks"),
    State(FORM, "value"),
    State(ids.ADMIN_CITY_CHANGED, "data"),
    prevent_initial_call=True,
)
def save(clicks: int | None, _values: list[Any], changed: int | None) -> tuple[Any, int]:
    """Create the department in the form, or change it when its code exists."""
    if not clicks:
        raise PreventUpdate
    values = by_field(ctx.states_list[0])
    form = DepartmentForm(code=(values.get("code") or "").strip(), name_zh=values.get("name_zh") or "",
                          name_en=values.get("name_en") or "", parent=values.get("parent"))
    try:
        with uow() as session:
            create = not department_values(session, form.code)
            save_department(session, signed_in(), form, create=create)
    except DomainError as exc:
        return refused(exc), changed or 0
    return done(t("admin_city.created" if create else "admin_city.saved", code=form.code)), (changed or 0) + 1
