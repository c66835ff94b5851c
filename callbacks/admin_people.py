"""Callbacks of /admin/people: the choices of the user editor, a picked user's values, and save (create or
edit), reset (a new activation code, shown once), disable and enable — each through ``admin.users``."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate

from admin.users import UserForm, create_user, edit_user, people_choices, reset_user, set_user_active, user_values
from callbacks.admin_kit import by_field, done, named, options, refused
from callbacks.common import uow
from callbacks.pagekit import signed_in
from domain.errors import DomainError
from i18n import t
from layouts import ids

FORM = {"type": ids.ADMIN_PEOPLE_FORM, "field": ALL}
ACTIONS = (ids.ADMIN_PEOPLE_SAVE, ids.ADMIN_PEOPLE_RESET, ids.ADMIN_PEOPLE_DISABLE, ids.ADMIN_PEOPLE_ENABLE)


@callback(
    Output(ids.ADMIN_PEOPLE_PICK, "options"),
    Output({"type": ids.ADMIN_PEOPLE_FORM, "field": "grid"}, "options"),
    Output({"type": ids.ADMIN_PEOPLE_FORM, "field": "department"}, "options"),
    Output({"type": ids.ADMIN_PEOPLE_FORM, "field": "area"}, "options"),
    Input(ids.ADMIN_PEOPLE_CHANGED, "data"),
)
def fill(_changed: Any) -> tuple[list[dict[str, str]], ...]:
    """The users to pick, and the grids, departments and scope areas (districts and streets) to choose."""
    with uow() as session:
        choices = people_choices(session)
    departments = [(code, named(code, zh, en)) for code, zh, en in choices.departments]
    return options(choices.users), options(choices.grids), options(departments), options(choices.areas)


@callback(Output(FORM, "value"), Input(ids.ADMIN_PEOPLE_PICK, "value"), prevent_initial_call=True)
def load(username: str | None) -> list[Any]:
    """The picked user's values in the form (empty for a new user)."""
    with uow() as session:
        values = user_values(session, username)
    return [values.get(item["id"]["field"]) for item in ctx.outputs_list]


def form_of(values: dict[str, Any]) -> UserForm:
    """The submitted form as a UserForm."""
    return UserForm(username=(values.get("username") or "").strip(), display_name=values.get("display_name") or "",
                    role=values.get("role") or "", grid=values.get("grid"), department=values.get("department"),
                    area=values.get("area"), phone=values.get("phone"))


def _code_view(username: str, code: str) -> html.Div:
    return html.Div([html.Div(t("admin_people.code_once", name=username)),
                     html.Code(code, className="token-value", **{"data-testid": "admin_people-code-value"})],
                    className="msg msg-ok")


def _act(pressed: str, form: UserForm) -> tuple[html.Div, Any]:
    """Run the pressed action as the signed-in user: (message, activation code view or None)."""
    actor = signed_in()
    with uow() as session:
        if pressed == ids.ADMIN_PEOPLE_SAVE:
            if user_values(session, form.username):
                edit_user(session, actor, form)
                return done(t("admin_people.saved", name=form.username)), None
            new = create_user(session, actor, form)
            return done(t("admin_people.created", name=new.username)), _code_view(new.username, new.activation_code)
        if pressed == ids.ADMIN_PEOPLE_RESET:
            new = reset_user(session, actor, form.username)
            return done(t("admin_people.was_reset", name=new.username)), _code_view(new.username, new.activation_code)
        active = pressed == ids.ADMIN_PEOPLE_ENABLE
        set_user_active(session, actor, form.username, active)
        return done(t("admin_people.enabled" if active else "admin_people.disabled", name=form.username)), None


@callback(
    Output(ids.ADMIN_PEOPLE_MESSAGE, "children"),
    Output(ids.ADMIN_PEOPLE_CODE, "children"),
    Output(ids.ADMIN_PEOPLE_CHANGED, "data"),
    Input(ids.ADMIN_PEOPLE_SAVE, "n_clicks"),
    Input(ids.ADMIN_PEOPLE_RESET, "n_clicks"),
    Input(ids.ADMIN_PEOPLE_DISABLE, "n_clicks"),
    Input(ids.ADMIN_PEOPLE_ENABLE, "n_clicks"),
    State(FORM, "value"),
    State(ids.ADMIN_PEOPLE_CHANGED, "data"),
    prevent_initial_call=True,
)
def change(_save: Any, _reset: Any, _disable: Any, _enable: Any, _values: list[Any],
           changed: int | None) -> tuple[Any, Any, int]:
    """Save, reset, disable or enable the user in the form; a refusal says why and changes nothing."""
    pressed = ctx.triggered_id
    if pressed not in ACTIONS:
        raise PreventUpdate
    try:
        message, code = _act(pressed, form_of(by_field(ctx.states_list[0])))
    except DomainError as exc:
        return refused(exc), None, changed or 0
    return message, code, (changed or 0) + 1
