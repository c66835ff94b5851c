"""The workflow under random action sequences (a hypothesis state machine) and under two concurrent
closes of one incident, on a real (SQLite) database through the dispatch service."""

from __future__ import annotations

import threading
from collections.abc import Callable
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import select

from data.db import Database
from data.models import Incident, IncidentHistory, IncidentState
from dispatch.service import ServiceError, StaleVersion, apply_action, create_incident
from dispatch.workflow import Action, ActionNotAllowed
from tests.unit.test_dispatch_service import G1_POINT, City, make_city

VALID_STATES = {s.value for s in IncidentState}
ROLES = ("admin", "operator", "leader", "gas_handler", "roads_handler", "worker1", "worker2")


def close_concurrently(database: Database, incident_id: int, actor: object) -> list[str]:
    """Two sessions read the resolved incident, then both try to close it at the same moment."""
    with database.uow() as s:
        version = s.get(Incident, incident_id).version
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def close(note: str) -> None:
        barrier.wait()
        try:
            with database.uow() as s:
                apply_action(s, incident_id, "close", version=version, actor=actor, note=note)
            outcomes.append("closed")
        except StaleVersion:
            outcomes.append("stale")

    threads = [threading.Thread(target=close, args=(f"closer {i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def resolved_incident(database: Database) -> tuple[int, City]:
    with database.uow() as s:
        city = make_city(s)
        incident = create_incident(s, category_code="L01", source="patrol", title="t", lon=G1_POINT[0],
                                   lat=G1_POINT[1])
        for action, actor in (("file", city.operator), ("dispatch", city.operator), ("start", city.worker1),
                              ("resolve", city.worker1)):
            incident = apply_action(s, incident.id, action, version=incident.version, actor=actor)
        return incident.id, city


def check_one_close(database: Database, run: Callable[[], list[str]], incident_id: int) -> None:
    assert run() == ["closed", "stale"]
    with database.uow() as s:
        incident = s.get(Incident, incident_id)
        closes = s.scalars(select(IncidentHistory).where(IncidentHistory.incident_id == incident_id,
                                                         IncidentHistory.action == "close")).all()
        assert (incident.state, incident.version, len(closes)) == ("closed", 6, 1)


def test_two_concurrent_closes_exactly_one_wins_on_sqlite(db):
    incident_id, city = resolved_incident(db)
    check_one_close(db, lambda: close_concurrently(db, incident_id, city.operator), incident_id)


@pytest.fixture(scope="module")
def machine_db(tmp_path_factory):
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('machine') / 'm.db'}")
    database.migrate()
    with database.uow() as s:
        city = make_city(s)
    yield database, city
    database.dispose()


def test_no_action_sequence_reaches_an_invalid_state(machine_db):
    database, city = machine_db

    class Workflow(RuleBasedStateMachine):
        """One incident, random actions by random roles at the right or a stale version."""

        @initialize()
        def report(self) -> None:
            with database.uow() as s:
                incident = create_incident(s, category_code="L01", source="patrol", title="t", lon=G1_POINT[0],
                                           lat=G1_POINT[1], check_duplicates=False)
                self.id, self.version, self.history = incident.id, incident.version, 1
                self.original = create_incident(s, category_code="L01", source="patrol", title="o",
                                                check_duplicates=False, lon=None, lat=None).id

        @rule(action=st.sampled_from(list(Action)), role=st.sampled_from(ROLES), stale=st.booleans(),
              hours=st.sampled_from([None, 2.0]))
        def act(self, action: Action, role: str, stale: bool, hours: float | None) -> None:
            actor = getattr(city, role)
            try:
                with database.uow() as s:
                    apply_action(s, self.id, action, version=self.version - 1 if stale else self.version, actor=actor,
                                 note="n", department_code="gas" if action == Action.DISPATCH else None,
                                 hours=hours, target_id=self.original if action == Action.MERGE else None)
            except StaleVersion:
                assert stale
            except (ActionNotAllowed, ServiceError):
                pass
            else:
                assert not stale
                self.history += 1

        @invariant()
        def consistent(self) -> None:
            with database.uow() as s:
                incident = s.get(Incident, self.id)
                history = s.scalars(select(IncidentHistory).where(IncidentHistory.incident_id == self.id)
                                    .order_by(IncidentHistory.id)).all()
                assert incident.state in VALID_STATES
                assert incident.version >= self.version  # never decreases
                assert incident.version == len(history)  # one version per recorded action
                assert len(history) == self.history
                assert history[-1].to_state == incident.state
                if incident.state == IncidentState.CLOSED:
                    close = next(h for h in history if h.action == "close")
                    assert incident.closed_at is not None and close.actor_id is not None
                if incident.state == IncidentState.REJECTED:
                    assert incident.rejected_at is not None
                    assert incident.filed_at is None or incident.merged_into_id is not None
                for before, after in pairwise(history):
                    assert after.from_state == before.to_state  # no jump the history does not show
                self.version = incident.version

    Workflow.TestCase.settings = settings(max_examples=40, stateful_step_count=15, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
    Workflow.TestCase().runTest()
