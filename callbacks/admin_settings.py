"""Callbacks of /admin/settings: the settings in force in the form, save or reset one setting, save the working
week and holidays — each through ``admin.settings`` (checked, audited)."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx
from dash.exceptions import PreventUpdate

from admin.settings import change_setting, reset_setting, save_calendar
from callbacks.admin_kit import done, refused
from callbacks.common import uow
from callbacks.pagekit import clicked_id, signed_in
from data.effective_settings import effective_settings
from dispatch.working_hours import format_days, format_week, stored_week
from domain.errors import DomainError
from i18n import t
from layouts import ids
from layouts.admin_settings import settings_form

#: The rates a grade may weigh, in the order the form lists them.
WEIGHT_KPIS = ("closure_rate", "on_time_closure_rate", "std_closure_rate", "std_on_time_closure_rate",
               "handling_rate", "filing_rate", "rework_rate")


@callback(
    Output(ids.ADMIN_SETTINGS_FORM, "children"),
    Output(ids.ADMIN_SETTINGS_WEEK, "value"),
    Output(ids.ADMIN_SETTINGS_HOLIDAYS, "value"),
    Input(ids.ADMIN_SETTINGS_CHANGED, "data"),
)
def fill(_changed: Any) -> tuple[Any, str, str]:
    """The settings in force (overridden or default) and the stored working calendar in its text form."""
    with uow() as session:
        rules = effective_settings(session)
        week, days = format_week(stored_week(session)), format_days(session)
    form = settings_form(rules.kpi_targets, rules.grade_weights, rules.grade_thresholds, WEIGHT_KPIS, rules.overridden)
    return form, week, days


def _number(value: Any) -> Any:
    return None if value in (None, "") else value


def value_of(key: str, entries: list[dict[str, Any]]) -> Any:
    """The submitted value of the setting ``key`` from the form's numbers (a weight left empty: not weighed)."""
    items = {entry["id"]["item"]: _number(entry.get("value")) for entry in entries if entry["id"]["key"] == key}
    if key == "kpi_targets":
        kpis = sorted({item.split(".", 1)[0] for item in items})
        return {kpi: [items.get(f"{kpi}.amber"), items.get(f"{kpi}.red")] for kpi in kpis}
    if key == "grade_weights":
        return {kpi: weight for kpi, weight in items.items() if weight is not None}
    return [items.get("a"), items.get("b")]


@callback(
    Output(ids.ADMIN_SETTINGS_MESSAGE, "children"),
    Output(ids.ADMIN_SETTINGS_CHANGED, "data"),
    Input({"type": ids.ADMIN_SETTINGS_SAVE, "key": ALL}, "n_clicks"),
    Input({"type": ids.ADMIN_SETTINGS_RESET, "key": ALL}, "n_clicks"),
    State({"type": ids.ADMIN_SETTINGS_VALUE, "key": ALL, "item": ALL}, "value"),
    State(ids.ADMIN_SETTINGS_CHANGED, "data"),
    prevent_initial_call=True,
)
def change(_save: Any, _reset: Any, _values: list[Any], changed: int | None) -> tuple[Any, int]:
    """Save the setting whose button was pressed, or reset it to its environment default."""
    pressed = clicked_id()
    if pressed is None:
        raise PreventUpdate  # the buttons were re-rendered, not clicked
    key = pressed["key"]
    try:
        with uow() as session:
            if pressed["type"] == ids.ADMIN_SETTINGS_SAVE:
                change_setting(session, signed_in(), key, value_of(key, ctx.states_list[0]))
                message = t("admin_settings.saved", name=t(f"admin_settings.{key}"))
            else:
                reset_setting(session, signed_in(), key)
                message = t("admin_settings.was_reset", name=t(f"admin_settings.{key}"))
    except DomainError as exc:
        return refused(exc), changed or 0
    return done(message), (changed or 0) + 1


@callback(
    Output(ids.ADMIN_SETTINGS_MESSAGE, "children", allow_duplicate=True),
    Output(ids.ADMIN_SETTINGS_CHANGED, "data", allow_duplicate=True),
    Input(ids.ADMIN_SETTINGS_CALENDAR_SAVE, "n_clicks"),
    State(ids.ADMIN_SETTINGS_WEEK, "value"),
    State(ids.ADMIN_SETTINGS_HOLIDAYS, "value"),
    State(ids.ADMIN_SETTINGS_CHANGED, "data"),
    prevent_initial_call=True,
)
def change_calendar(clicks: int | None, week: str | None, holidays: str | None, changed: int | None) -> tuple[Any, int]:
    """Replace the working week and the holidays (both checked before either is saved)."""
    if not clicks:
        raise PreventUpdate
    try:
        with uow() as session:
            days = save_calendar(session, signed_in(), week or "", holidays or "")
    except DomainError as exc:
        return refused(exc), changed or 0
    return done(t("admin.categories.calendar_saved", n=days)), (changed or 0) + 1
