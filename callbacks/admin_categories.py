"""Callbacks of the category and calendar section of /admin: pick a category to edit (or type a new
code), save it with its per-severity limits and working-hours flag, and save the working week and the
holidays. Refusals are shown translated and change nothing."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx
from dash.exceptions import PreventUpdate

from admin import settings as admin_settings
from admin.categories import save_category
from callbacks.common import uow
from callbacks.pagekit import Outcome, name_of, outcome_view, refusal_message, signed_in
from data.queries import all_categories, all_departments, category_by_code
from dispatch.categories import CategoryChange, limits_of
from dispatch.working_hours import format_days, format_week, stored_week
from domain.errors import DomainError
from i18n import t
from layouts import ids
from layouts.admin_categories import OVERRIDES


def _by_field(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {entry["id"]["field"]: entry.get("value") for entry in entries}


@callback(
    Output(ids.ADMIN_CATEGORIES_PICK, "options"),
    Output({"type": ids.ADMIN_CATEGORIES_FORM, "field": "department"}, "options"),
    Output(ids.ADMIN_CATEGORIES_WEEK, "value"),
    Output(ids.ADMIN_CATEGORIES_HOLIDAYS, "value"),
    Input(ids.ADMIN_CATEGORIES_RESULT, "data"),
)
def fill(_result: Any) -> tuple[Any, ...]:
    """The categories to pick, the departments, and the stored calendar in its text form."""
    with uow() as session:
        categories = [{"label": f"{c.code} {name_of(c)}", "value": c.code}
                      for c in all_categories(session)]
        departments = [{"label": name_of(d), "value": d.code}
                       for d in all_departments(session)]
        return categories, departments, format_week(stored_week(session)), format_days(session)


def category_values(session: Any, code: str | None) -> dict[str, Any]:
    """The form's values for category ``code`` (empty for a new one)."""
    category = category_by_code(session, code)
    if category is None:
        return {}
    values = {"code": category.code, "name_zh": category.name_zh, "name_en": category.name_en,
              "kind": category.kind, "department": category.department.code,
              "handle_hours": category.handle_hours, "close_hours": category.close_hours,
              "working_hours": ["yes"] if category.working_hours else []}
    for severity, (handle, close) in limits_of(session, [category.code]).get(category.code, {}).items():
        values[f"{severity}_handle_hours"], values[f"{severity}_close_hours"] = handle, close
    return values


@callback(Output({"type": ids.ADMIN_CATEGORIES_FORM, "field": ALL}, "value"), Input(ids.ADMIN_CATEGORIES_PICK, "value"),
          prevent_initial_call=True)
def load(code: str | None) -> list[Any]:
    """Fill the form with the picked category."""
    with uow() as session:
        values = category_values(session, code)
    return [values.get(item["id"]["field"]) for item in ctx.outputs_list]


def change_of(values: dict[str, Any]) -> CategoryChange:
    """The submitted form as a CategoryChange (a severity with both limits empty has none)."""
    limits = {}
    for severity in OVERRIDES:
        handle, close = values.get(f"{severity}_handle_hours"), values.get(f"{severity}_close_hours")
        if handle not in (None, "") or close not in (None, ""):
            limits[severity] = (handle, close)
    return CategoryChange(
        code=(values.get("code") or "").strip().upper(), name_zh=values.get("name_zh") or "",
        name_en=values.get("name_en") or "", kind=values.get("kind") or "", department=values.get("department") or "",
        handle_hours=values.get("handle_hours"), close_hours=values.get("close_hours"),  # type: ignore[arg-type]
        working_hours=bool(values.get("working_hours")), limits=limits,
    )


@callback(
    Output(ids.ADMIN_CATEGORIES_MESSAGE, "children"),
    Output(ids.ADMIN_CATEGORIES_RESULT, "data"),
    Input(ids.ADMIN_CATEGORIES_SAVE, "n_clicks"),
    State({"type": ids.ADMIN_CATEGORIES_FORM, "field": ALL}, "value"),
    State(ids.ADMIN_CATEGORIES_RESULT, "data"),
    prevent_initial_call=True,
)
def save(clicks: int | None, _values: list[Any], result: int | None) -> tuple[Any, Any]:
    """Create or update the category in the form."""
    if not clicks:
        raise PreventUpdate
    change = change_of(_by_field(ctx.states_list[0]))
    try:
        with uow() as session:
            save_category(session, signed_in(), change, create=category_by_code(session, change.code) is None)
    except DomainError as exc:  # admin.categories: checked, audited
        return outcome_view(Outcome(False, refusal_message(exc))), (result or 0)
    return outcome_view(Outcome(True, t("admin.categories.saved", code=change.code))), (result or 0) + 1


@callback(
    Output(ids.ADMIN_CATEGORIES_MESSAGE, "children", allow_duplicate=True),
    Output(ids.ADMIN_CATEGORIES_RESULT, "data", allow_duplicate=True),
    Input(ids.ADMIN_CATEGORIES_CAL_SAVE, "n_clicks"),
    State(ids.ADMIN_CATEGORIES_WEEK, "value"),
    State(ids.ADMIN_CATEGORIES_HOLIDAYS, "value"),
    State(ids.ADMIN_CATEGORIES_RESULT, "data"),
    prevent_initial_call=True,
)
def save_calendar(clicks: int | None, week: str | None, holidays: str | None, result: int | None) -> tuple[Any, Any]:
    """Replace the working week and the holidays (both are checked before either is saved)."""
    if not clicks:
        raise PreventUpdate
    try:
        with uow() as session:
            days = admin_settings.save_calendar(session, signed_in(), week or "", holidays or "")  # checked, audited
    except DomainError as exc:
        return outcome_view(Outcome(False, refusal_message(exc))), (result or 0)
    return outcome_view(Outcome(True, t("admin.categories.calendar_saved", n=days))), (result or 0) + 1
