"""Joint handling (issue 17 §2) on the real PostgreSQL: migration 0023 makes ``joint_tasks`` (one task per
department and incident, enforced by the database), a joint dispatch → each department's task → the resolution
rule, the KPI engine's department rows on the tasks (FILTER aggregates on PostgreSQL), and a task card sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from data.accounts import create_user
from data.joint_models import JointTask
from data.models import Department, utcnow
from dispatch import joint
from dispatch.kpi import kpi_by
from dispatch.service import sweep_cards
from tests.unit.test_dispatch_service import _act, _new, make_city

pytestmark = pytest.mark.integration


def test_joint_dispatch_resolution_rule_figures_and_cards_on_postgres(pg_db):
    with pg_db.uow() as session:
        city = make_city(session)
        session.add(Department(code="fire", name_zh="消防", name_en="Fire brigade"))
        session.flush()
        fireman = create_user(session, "fireman", "handler", department_code="fire")
        incident = _act(session, _new(session, city), "file", city.operator)
        incident = _act(session, incident, "dispatch", city.operator, department_code="gas", assisting=["fire"])
        incident = _act(session, incident, "resolve", fireman)
        assert incident.state == "in_progress"
        sweep_cards(session, utcnow() + timedelta(hours=3))  # past the 2-h limit: the open lead task is red
        incident_id = incident.id
    with pg_db.uow() as session:
        assert {t.department_code: t.card for t in joint.tasks_of(session, incident_id)} == {"gas": "red",
                                                                                           "fire": "none"}
        rows = {row["code"]: row for row in kpi_by(session, datetime(2000, 1, 1, tzinfo=UTC),
                                                      datetime(2100, 1, 1, tzinfo=UTC), "department")}
        assert rows["fire"]["handled"] == 1 and rows["fire"]["handled_on_time"] == 1  # its assisting task
        assert rows["gas"]["dispatched"] == 1 and rows["gas"]["handled"] == 0 and rows["gas"]["red_cards"] == 1
        gas_handler = session.get(type(city.gas_handler), city.gas_handler.id)
        incident = _act(session, session.get(type(incident), incident_id), "resolve", gas_handler)
        assert incident.state == "resolved"
    with pytest.raises(IntegrityError), pg_db.uow() as session:  # one task per department and incident
        task = joint.tasks_of(session, incident_id)[0]
        session.add(JointTask(incident_id=incident_id, department_id=task.department_id, role="assist",
                              state="open", assigned_at=utcnow(), card="none", version=1, updated_at=utcnow()))
        session.flush()
