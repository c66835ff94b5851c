"""A joint task's own card notifies (issue 17 §2–3): when the card sweep turns one department's task yellow or
red, that department's channels get exactly one message through the durable outbox, naming the incident and
the department; a re-run of the sweep sends nothing more, another department hears nothing of it, and a
channel above the card's colour does not hear it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from data.models import OutboxMessage, User
from dispatch import joint
from dispatch.service import sweep_cards
from tests.unit import test_joint
from tests.unit.test_dispatch_service import _act, _new
from tests.unit.test_notify_outbox import T0, Webhook, add_channel, deliver

#: The joint-handling tests' city: the test city with a fire brigade and its handler.
city = test_joint.city


@pytest.fixture(autouse=True)
def channel_key(monkeypatch) -> None:
    monkeypatch.setenv("CITYOPS_CHANNEL_KEY", "test-channel-key")


@pytest.fixture
def hooks() -> Iterator[dict[str, Webhook]]:
    """A running webhook receiver for the fire brigade and one for the gas company."""
    receivers = {"fire": Webhook(), "gas": Webhook()}
    for hook in receivers.values():
        hook.start()
    yield receivers
    for hook in receivers.values():
        hook.stop()


def _joint_case(session, city, hooks):
    """Filed and dispatched to the gas company (lead) with the fire brigade assisting; gas resolves its task
    at once, so only the fire brigade's task can go yellow or red (L01: 2 h to handle). The dispatch's own
    messages (each department hears of its dispatch) are delivered and forgotten."""
    incident = _act(session, _new(session, city), "file", city.operator)
    incident = _act(session, incident, "dispatch", city.operator, department_code="gas", assisting=["fire"])
    incident = _act(session, incident, "resolve", city.gas_handler)
    deliver(session, T0)
    for hook in hooks.values():
        hook.received.clear()
    return incident


def _sweep_and_deliver(session, moment) -> None:
    sweep_cards(session, moment)
    sweep_cards(session, moment + timedelta(minutes=1))  # the same card again: no new event
    deliver(session, max(T0, moment) + timedelta(minutes=2))


def test_a_late_assisting_task_notifies_its_department_once_naming_the_incident_and_department(session, city, hooks):
    add_channel(session, city, hooks["fire"].url, department="fire")
    add_channel(session, city, hooks["gas"].url, department="gas")
    incident = _joint_case(session, city, hooks)
    task = joint.task_of(session, incident.id, session.scalar(select(User.department_id)
                                                              .where(User.username == "fireman")))
    _sweep_and_deliver(session, task.assigned_at + timedelta(hours=3))  # past the task's 2-h deadline: red
    session.refresh(task)
    assert task.card == "red"
    (message,) = hooks["fire"].received
    assert incident.code in message["title"] and incident.code in message["message"]
    assert ("消防" in message["title"] or "Fire brigade" in message["title"])
    assert "红牌" in message["title"] or "Red card" in message["title"]
    # The gas company's task was resolved in time: it hears no task card (only its incident's own red card).
    assert all("消防" not in m["message"] and "Fire brigade" not in m["message"] for m in hooks["gas"].received)
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("task_card_%"))).all()
    assert [(row.kind, row.state) for row in rows] == [("task_card_red", "sent")]
    assert rows[0].idempotency_key.startswith(f"task:{task.id}:card:red:")


def test_yellow_then_red_are_two_messages_each_sent_once(session, city, hooks):
    add_channel(session, city, hooks["fire"].url, department="fire")
    incident = _joint_case(session, city, hooks)
    task = joint.tasks_of(session, incident.id)[1]
    assert task.role == "assist"
    _sweep_and_deliver(session, task.assigned_at + timedelta(minutes=100))  # 20 min of 2 h left: yellow
    _sweep_and_deliver(session, task.assigned_at + timedelta(hours=3))
    titles = [m["title"] for m in hooks["fire"].received]
    assert len(titles) == 2
    assert ("黄牌" in titles[0] or "Yellow" in titles[0]) and ("红牌" in titles[1] or "Red" in titles[1])


def test_a_channel_above_the_cards_colour_does_not_hear_a_yellow_task_card(session, city, hooks):
    add_channel(session, city, hooks["fire"].url, department="fire", min_level="red")
    incident = _joint_case(session, city, hooks)
    task = joint.tasks_of(session, incident.id)[1]
    _sweep_and_deliver(session, task.assigned_at + timedelta(minutes=100))
    assert hooks["fire"].received == []
    assert session.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("task_card_%"))).all() == []
