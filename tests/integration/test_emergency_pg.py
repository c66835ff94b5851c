"""The waterlogging drill of issue 18 on PostgreSQL: rising water-level alerts (exercise), a level-IV then
level-III response (drainage company lead, traffic police and street assisting), resources assigned (the
partial unique index refuses a second open assignment), the event closed; the same scenario as the SQLite test.
Also (migration 0026): the nearest resources by PostGIS KNN equal the portable search's, the live evaluation
raises a real event, and of two concurrent writes from one event version the second is refused."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

import app as cityops
from data.emergency_models import EmergencyEvent, ResourceAssignment
from data.models import Alert, Resource, User, utcnow
from dispatch import emergency
from dispatch.emergency_live import evaluate_events
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


# --- nearest resources by KNN (migration 0026) ----------------------------------------------------------


def _scatter(session, rng: random.Random) -> None:
    """300 resources around the demo city, some sharing a place (ties broken by code), of every kind and status."""
    kinds = ("rescue_team", "equipment", "supplies", "shelter")
    places = [(117.0 + rng.uniform(-0.3, 0.3), 36.6 + rng.uniform(-0.3, 0.3)) for _ in range(240)]
    places += [places[rng.randrange(len(places))] for _ in range(60)]
    session.add_all(Resource(code=f"K-{i:03d}", name=f"r{i}", kind=rng.choice(kinds), capacity=1,
                             status=rng.choice(("available", "available", "deployed")), lon=lon, lat=lat)
                    for i, (lon, lat) in enumerate(places))
    session.flush()


def test_knn_on_postgis_gives_the_same_nearest_resources_as_the_portable_search(pg_db):
    with pg_db.uow() as session:
        if not emergency.knn_available(session):
            pytest.skip("PostgreSQL without PostGIS (scripts/services installs it)")
        rng = random.Random(18)
        _scatter(session, rng)
        for _ in range(80):
            lon, lat = 117.0 + rng.uniform(-0.5, 0.5), 36.6 + rng.uniform(-0.5, 0.5)
            n, kind = rng.randint(1, 25), rng.choice((None, "rescue_team", "shelter"))
            base = select(Resource)
            if kind:
                base = base.where(Resource.kind == kind)
            if rng.random() < 0.5:
                base = base.where(Resource.status == "available")
            knn = emergency._nearest_by_knn(session, base, lon, lat, n)
            box = emergency._nearest_by_box(session, base, lon, lat, n)
            assert [near.resource.code for near in knn] == [near.resource.code for near in box]
            assert [near.distance_m for near in knn] == [near.distance_m for near in box]
        found = emergency.nearest_resources(session, kind=None, lon=117.0, lat=36.6, n=50, available_only=False)
        assert len(found) == 50 and found == emergency._nearest_by_box(session, select(Resource), 117.0, 36.6, 50)


def test_the_knn_query_is_answered_by_the_gist_index(pg_db):
    with pg_db.uow() as session:
        if not emergency.knn_available(session):
            pytest.skip("PostgreSQL without PostGIS (scripts/services installs it)")
        _scatter(session, random.Random(7))
        session.execute(text("ANALYZE resources"))
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(session.scalars(text(
            f"EXPLAIN SELECT code FROM resources ORDER BY {emergency.KNN_POINT} <-> "
            "geography(ST_SetSRID(ST_MakePoint(117.0, 36.6), 4326)) LIMIT 5")))
        assert "ix_resources_geog" in plan


# --- live evaluation and the version check on PostgreSQL ----------------------------------------------------


def test_live_evaluation_raises_a_real_event_on_postgresql(pg_db):
    with pg_db.uow() as session:
        users = make_emergency_city(session)
    with pg_db.uow() as session:
        op = session.merge(users["op"])
        event = emergency.open_event(session, op, title="积水", scenario="urban_waterlogging", lon=117.005, lat=36.605)
        emergency.activate(session, op, event.id, plan_id="waterlogging", level="IV")
        now = utcnow()
        session.add(Alert(rule_id="drainage-waterlogging", sensor_id="DRAIN-T-1", state="firing", level="orange",
                          started_at=now, fired_at=now))
        event_id = event.id
    with pg_db.uow() as session:
        assert evaluate_events(session, utcnow()) == {"raised": 1}
    with pg_db.uow() as session:
        assert session.get(EmergencyEvent, event_id).level == "III"


def test_of_two_concurrent_level_changes_from_one_version_the_second_is_refused(pg_db):
    with pg_db.uow() as session:
        users = make_emergency_city(session)
        event = emergency.open_event(session, users["op"], title="积水", scenario="urban_waterlogging",
                                     lon=117.005, lat=36.605)
        emergency.activate(session, users["op"], event.id, plan_id="waterlogging", level="IV")
        event_id = event.id
    with pg_db.uow() as first, pg_db.uow() as second:
        mine, theirs = first.get(EmergencyEvent, event_id), second.get(EmergencyEvent, event_id)
        assert mine.version == theirs.version == 2  # both commanders show version 2
        emergency.change_level(first, first.get(User, users["op"].id), event_id, level="III")
        first.commit()
        with pytest.raises(emergency.EmergencyError) as stale:  # the compare-and-set in SQL refuses it
            emergency.mark_controlled(second, second.get(User, users["admin"].id), event_id, note="late")
        assert stale.value.code == "stale_version"
        second.rollback()
    with pg_db.uow() as session:
        event = session.get(EmergencyEvent, event_id)
        assert (event.level, event.controlled_at, event.version) == ("III", None, 3)
