"""The console parts of joint handling (issue 17 §2): the tasks table of the detail (with an operator's return
button on a resolved task only), a handler's start/resolve buttons following their own task, and the
history line of a joint dispatch."""

from __future__ import annotations

from sqlalchemy import select

from callbacks import joint_tasks
from data.models import User
from dispatch.workflow import Action
from i18n import t
from tests.unit.test_joint import _act, _joint_dispatch, city  # noqa: F401  (the city fixture)

DESK = [Action.START, Action.RESOLVE, Action.COMMENT]


def _text(component) -> str:
    """Every string inside a Dash component tree."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    children = getattr(component, "children", None)
    return _text(children) if children is not None else ""


def _ids(component) -> list:
    found = [component.id] if getattr(component, "id", None) is not None else []
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children] if children is not None else []:
        found += _ids(child)
    return found


def test_the_detail_lists_each_departments_task_and_an_operator_returns_a_resolved_one(session, city):  # noqa: F811
    fireman = session.scalar(select(User).where(User.username == "fireman"))
    incident = _joint_dispatch(session, city, assisting=("fire",))
    incident = _act(session, incident, "resolve", fireman)
    view = joint_tasks.tasks_view(incident, "operator")
    text = _text(view)
    assert t("joint.role.lead") in text and t("joint.role.assist") in text
    assert t("joint.state.resolved") in text and t("joint.state.open") in text
    returns = [i for i in _ids(view) if isinstance(i, dict)]
    assert returns == [{"type": "console-task-return", "department": "fire"}]
    assert not [i for i in _ids(joint_tasks.tasks_view(incident, "handler")) if isinstance(i, dict)]
    plain = _act(session, _act(session, _joint_dispatch(session, city, assisting=()), "start", city.gas_handler),
                 "comment", city.gas_handler, note="x")
    assert joint_tasks.tasks_view(plain, "operator") is None


def test_a_handlers_buttons_follow_their_own_task(session, city):  # noqa: F811
    fireman = session.scalar(select(User).where(User.username == "fireman"))
    incident = _joint_dispatch(session, city, assisting=("fire",))
    assert joint_tasks.task_actions(incident, fireman, DESK) == DESK
    incident = _act(session, incident, "start", fireman)
    # the incident is in progress: the desk offers resolve only, and the lead may still start its own task
    assert joint_tasks.task_actions(incident, fireman, [Action.RESOLVE, Action.COMMENT]) == [
        Action.RESOLVE, Action.COMMENT]
    assert joint_tasks.task_actions(incident, city.gas_handler, [Action.RESOLVE, Action.COMMENT]) == [
        Action.START, Action.RESOLVE, Action.COMMENT]
    incident = _act(session, incident, "resolve", fireman)
    assert joint_tasks.task_actions(incident, fireman, [Action.RESOLVE, Action.COMMENT]) == [Action.COMMENT]
    assert joint_tasks.task_actions(incident, city.roads_handler, [Action.RESOLVE]) == []


def test_history_lines_name_the_departments():
    assert joint_tasks.history_detail({"lead": "gas", "assisting": ["fire"]}) == t(
        "joint.history_assigned", lead="gas", assisting="fire")
    assert joint_tasks.history_detail({"tasks": [{"department": "fire", "role": "assist", "state": "resolved"}]}) \
        == t("joint.history_tasks", departments="fire")
    assert joint_tasks.history_detail({"assignee": "w1"}) is None
