"""The waterlogging drill of issue 18 on PostgreSQL: rising water-level alerts (exercise), a level-IV then
level-III response (drainage company lead, traffic police and street assisting), resources assigned (the
partial unique index refuses a second open assignment), the event closed; the same scenario as the SQLite test."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

import app as cityops
from data.emergency_models import ResourceAssignment
from data.models import Resource
from dispatch import emergency
from settings import get_settings
from tests.unit.test_emergency import make_emergency_city, waterlogging_drill


@pytest.fixture(autouse=True)
def _channel_key_and_ports(monkeypatch):
    monkeypatch.setenv("CITYOPS_CHANNEL_KEY", "test-channel-key")
    get_settings.cache_clear()
    cityops.wire()


def test_waterlogging_drill_on_postgresql(pg_db, tmp_path):
    with pg_db.uow() as session:
        users = make_emergency_city(session)
    with pg_db.uow() as session:
        op = session.merge(users["op"])
        event = waterlogging_drill(pg_db, session, op, tmp_path)
        assert event.state == "closed"


def test_the_database_refuses_a_second_open_assignment_of_a_resource(pg_db, tmp_path):
    with pg_db.uow() as session:
        users = make_emergency_city(session)
    with pg_db.uow() as session:
        op = session.merge(users["op"])
        event = emergency.open_event(session, op, title="t", scenario="urban_waterlogging", lon=117.005, lat=36.605)
        emergency.activate(session, op, event.id, plan_id="waterlogging", level="IV")
        task, _ = emergency.event_tasks(session, event.id)[0]
        resource = session.query(Resource).filter_by(code="R-PUMP-1").one()
        session.add(ResourceAssignment(resource_id=resource.id, event_id=event.id, task_id=task.id))
        session.flush()
        session.add(ResourceAssignment(resource_id=resource.id, event_id=event.id, task_id=task.id))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
