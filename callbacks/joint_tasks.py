"""Console parts of joint handling (issue 17 §2, 主办/协办): the departments' tasks in the incident's detail
(role, progress, own deadline and card), the assisting-departments choice of the dispatch form, a handler's
start/resolve buttons following their own department's task, and an operator's return of one task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import ALL, Input, Output, State, callback, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import uow
from callbacks.dispatchkit import act_on_shown
from callbacks.pagekit import DASH, clicked_id, local_time, name_of
from data.models import Incident, IncidentState
from data.queries import all_departments
from dispatch import joint
from dispatch.sla import CARD_NONE
from dispatch.workflow import Action, may
from i18n import t
from layouts import ids
from layouts.components import CARD_COLOURS, badge, table

#: The incident states in which a department works its task.
WORKING_STATES = (IncidentState.DISPATCHED, IncidentState.IN_PROGRESS)


def _return_button(task: joint.JointTask) -> html.Button:
    code = task.department_code
    return html.Button(t("joint.return_task"), id={"type": ids.CONSOLE_TASK_RETURN, "department": code},
                       className="action-button action-return", **{"data-testid": f"joint-return-{code}"})


def tasks_view(incident: Incident, role: str | None) -> html.Div | None:
    """The departments' tasks of ``incident`` (None when one department handles it): each department, lead
    or assisting, its progress, deadline and card; an operator may return a resolved task."""
    tasks = joint.loaded_tasks(incident)
    if not tasks:
        return None
    returns = may(role, Action.RETURN)
    headers = [t(f"joint.col.{c}") for c in ("department", "role", "state", "deadline", "card", "resolved")]
    rows = [[name_of(task.department), t(f"joint.role.{task.role}"), t(f"joint.state.{task.state}"),
             local_time(task.handle_deadline, "%m-%d %H:%M"),
             badge(t(f"card.{task.card}"), CARD_COLOURS.get(task.card, CARD_COLOURS[CARD_NONE])),
             local_time(task.resolved_at, "%m-%d %H:%M") if task.resolved_at else DASH,
             _return_button(task) if returns and task.state == joint.TASK_RESOLVED else ""]
            for task in tasks]
    return html.Div([html.H4(t("joint.tasks"), className="detail-subtitle"),
                     table([*headers, ""], rows, row_testid="joint-task-row")],
                    className="joint-tasks", **{"data-testid": "joint-tasks"})


def task_actions(incident: Incident, user: Any, actions: Sequence[Action]) -> list[Action]:
    """The desk ``actions`` with start/resolve following the user's own department's task on a jointly
    handled incident: start while it is open or returned, resolve until it is resolved; none without a task."""
    tasks = joint.loaded_tasks(incident)
    if not tasks:
        return list(actions)
    mine = next((task for task in tasks if task.department_id == user.department_id), None)
    allowed = set()
    if mine is not None and incident.state in WORKING_STATES:
        if mine.state in (joint.TASK_OPEN, joint.TASK_RETURNED) and may(user.role, Action.START):
            allowed.add(Action.START)
        if mine.state in joint.WORKABLE and may(user.role, Action.RESOLVE):
            allowed.add(Action.RESOLVE)
    work = [a for a in (Action.START, Action.RESOLVE) if a in allowed]  # first, as on the desk
    return [*work, *(a for a in actions if a not in (Action.START, Action.RESOLVE))]


def history_detail(data: dict[str, Any] | None) -> str | None:
    """What a history row's data says about the departments: who leads and assists (a dispatch, an
    assignment, a linkage rule), or whose task moved (a start, a resolve, a return); None otherwise."""
    data = data or {}
    if data.get("lead") and "assisting" in data:
        return t("joint.history_assigned", lead=data["lead"], assisting=", ".join(data["assisting"]) or DASH)
    if data.get("tasks"):
        return t("joint.history_tasks", departments=", ".join(task["department"] for task in data["tasks"]))
    return None


@callback(
    Output(ids.CONSOLE_ASSISTING, "options"),
    Output(ids.CONSOLE_ASSISTING, "value"),
    Input(ids.CONSOLE_INCIDENT, "data"),
)
def fill_assisting(incident: dict[str, int] | None) -> tuple[Any, Any]:
    """The departments to choose as assisting ones, and the incident's current assisting departments."""
    if not incident:
        return no_update, []
    with uow() as session:
        options = [{"label": name_of(d), "value": d.code} for d in all_departments(session)]
        current = [task.department_code for task in joint.tasks_of(session, int(incident["id"]))
                   if task.role == joint.ROLE_ASSIST]
    return options, current


@callback(
    Output(ids.CONSOLE_MESSAGE, "children", allow_duplicate=True),
    Output(ids.CONSOLE_RESULT, "data", allow_duplicate=True),
    Output(ids.CONSOLE_NOTE, "value", allow_duplicate=True),
    Input({"type": ids.CONSOLE_TASK_RETURN, "department": ALL}, "n_clicks"),
    State(ids.CONSOLE_INCIDENT, "data"),
    State(ids.CONSOLE_NOTE, "value"),
    State(ids.CONSOLE_RESULT, "data"),
    prevent_initial_call=True,
)
def return_task(_clicks: list[int | None], incident: dict[str, int] | None, note: str | None,
                result: int | None) -> tuple[Any, ...]:
    """Return the clicked department's resolved task for rework, at the version shown; the others keep theirs."""
    clicked = clicked_id()
    if clicked is None or not incident:
        raise PreventUpdate
    return act_on_shown(incident, Action.RETURN, note, result, lambda code: t("joint.task_returned", code=code),
                        department_code=str(clicked["department"]))
