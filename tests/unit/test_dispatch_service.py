"""The dispatch service on a real (SQLite) database: routing, actions, versions, scopes, cards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import shapely
from sqlalchemy import func, select

from data.accounts import create_user
from data.models import Area, AuditLog, Category, Department, Grid, Incident, IncidentHistory, User
from dispatch import routing
from dispatch.service import (
    ActionNotAllowed,
    InvalidInput,
    NotFound,
    StaleVersion,
    apply_action,
    create_incident,
    get_incident,
    incident_to_dict,
    list_incidents,
    sweep_cards,
    tasks_for_worker,
)

# Two side-by-side unit grids: G1 west of lon 117.01, G2 east of it.
G1_POINT = (117.005, 36.605)
G2_POINT = (117.015, 36.605)
OUTSIDE = (120.0, 30.0)


@dataclass
class City:
    """The small city every dispatch test works in."""

    gas: Department
    roads: Department
    g1: Grid
    g2: Grid
    admin: User
    operator: User
    leader: User
    gas_handler: User
    roads_handler: User
    worker1: User
    worker2: User


def _shape(box: shapely.Geometry) -> dict:
    """The WKB and bounding-box columns of a polygon."""
    minx, miny, maxx, maxy = box.bounds
    return {"geom": shapely.to_wkb(box), "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def _area(session, code: str, level: str, parent: Area | None, box: shapely.Geometry) -> Area:
    area = Area(code=code, name=code, level=level, parent_id=parent.id if parent else None, **_shape(box))
    session.add(area)
    session.flush()
    return area


def _grid(session, code: str, community: Area, box: shapely.Geometry) -> Grid:
    grid = Grid(code=code, name=code, community_id=community.id, **_shape(box))
    session.add(grid)
    session.flush()
    return grid


def make_city(session) -> City:
    """Departments, categories, a district → street → community → two grids, and one user per role."""
    routing.clear_cache()
    gas = Department(code="gas", name_zh="燃气公司", name_en="Gas company")
    roads = Department(code="roads", name_zh="市政", name_en="Roads")
    session.add_all([gas, roads])
    session.flush()
    session.add_all([
        Category(code="L01", name_zh="燃气泄漏", name_en="Gas leak", kind="event", department_id=gas.id,
                 handle_hours=2, close_hours=4),
        Category(code="S0101", name_zh="暴露垃圾", name_en="Exposed litter", kind="event",
                 department_id=roads.id, handle_hours=24, close_hours=48),
    ])
    whole = shapely.box(117.0, 36.6, 117.02, 36.61)
    district = _area(session, "D1", "district", None, whole)
    street = _area(session, "D1S1", "street", district, whole)
    community = _area(session, "D1S1C1", "community", street, whole)
    g1 = _grid(session, "G1", community, shapely.box(117.0, 36.6, 117.01, 36.61))
    g2 = _grid(session, "G2", community, shapely.box(117.01, 36.6, 117.02, 36.61))
    city = City(
        gas=gas, roads=roads, g1=g1, g2=g2,
        admin=create_user(session, "admin", "admin"),
        operator=create_user(session, "op", "operator"),
        leader=create_user(session, "boss", "leader"),
        gas_handler=create_user(session, "gasman", "handler", department_code="gas"),
        roads_handler=create_user(session, "roadman", "handler", department_code="roads"),
        worker1=create_user(session, "w1", "worker", grid_code="G1"),
        worker2=create_user(session, "w2", "worker", grid_code="G2"),
    )
    session.flush()
    return city


@pytest.fixture
def city(session) -> City:
    return make_city(session)


def _new(session, city, category="L01", point=G1_POINT, **kwargs) -> Incident:
    kwargs.setdefault("source", "patrol")
    kwargs.setdefault("title", "smell of gas")
    return create_incident(session, category_code=category, lon=point[0], lat=point[1],
                           actor=city.worker1, **kwargs)


def _act(session, incident, action, actor, **kwargs) -> Incident:
    return apply_action(session, incident.id, action, version=incident.version, actor=actor, **kwargs)


def test_create_routes_to_grid_worker_and_department_and_sets_deadlines(session, city):
    reported = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
    incident = _new(session, city, point=G2_POINT, reported_at=reported)
    assert (incident.state, incident.version) == ("reported", 1)
    assert incident.grid_id == city.g2.id
    assert incident.assignee_id == city.worker2.id
    assert incident.department_id == city.gas.id
    assert incident.handle_deadline == reported + timedelta(hours=2)
    assert incident.close_deadline == reported + timedelta(hours=4)
    # the code carries the local (Asia/Shanghai) report date and is unique
    assert incident.code == f"SJ20261122-{incident.id:06d}"
    assert [h.action for h in incident.history] == ["create"]


def test_codes_are_unique(session, city):
    codes = {_new(session, city).code for _ in range(5)}
    assert len(codes) == 5


def test_a_point_outside_every_grid_has_no_grid_but_keeps_its_department(session, city):
    incident = _new(session, city, point=OUTSIDE)
    assert incident.grid_id is None and incident.assignee_id is None
    assert incident.department_id == city.gas.id


def test_auto_file_files_at_report_time_with_two_history_rows(session, city):
    reported = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)
    incident = create_incident(session, category_code="L01", source="alert", title="gas high",
                               lon=G1_POINT[0], lat=G1_POINT[1], reported_at=reported, auto_file=True)
    assert incident.state == "filed" and incident.filed_at == reported
    assert [(h.action, h.from_state, h.to_state) for h in incident.history] == [
        ("create", None, "reported"), ("file", "reported", "filed")]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"category_code": "NOPE"}, "unknown_category"),
        ({"source": "carrier-pigeon"}, "unknown_source"),
        ({"title": "  "}, "invalid_title"),
        ({"lon": float("nan")}, "invalid_location"),
        ({"lat": None}, "invalid_location"),
        ({"lon": 200.0}, "invalid_location"),
        ({"reported_at": datetime(2026, 1, 1)}, "naive_time"),
    ],
)
def test_bad_input_to_create_is_refused_with_a_code(session, city, kwargs, code):
    args = {"category_code": "L01", "source": "operator", "title": "t", "lon": 117.005, "lat": 36.605,
            **kwargs}
    with pytest.raises(InvalidInput) as info:
        create_incident(session, **args)
    assert info.value.code == code


def test_the_full_loop_sets_every_timestamp_and_history(session, city):
    incident = _new(session, city)
    incident = _act(session, incident, "file", city.operator)
    incident = _act(session, incident, "dispatch", city.operator, department_code="gas", note="go")
    incident = _act(session, incident, "start", city.gas_handler)
    incident = _act(session, incident, "resolve", city.gas_handler, note="valve closed")
    first_resolved = incident.first_resolved_at
    incident = _act(session, incident, "close", city.operator)
    assert incident.state == "closed" and incident.version == 6
    for stamp in ("filed_at", "dispatched_at", "started_at", "resolved_at", "first_resolved_at", "closed_at"):
        assert getattr(incident, stamp) is not None, stamp
    assert incident.first_resolved_at == first_resolved
    rows = session.scalars(
        select(IncidentHistory).where(IncidentHistory.incident_id == incident.id).order_by(IncidentHistory.id)
    ).all()
    assert [(r.action, r.from_state, r.to_state) for r in rows] == [
        ("create", None, "reported"),
        ("file", "reported", "filed"),
        ("dispatch", "filed", "dispatched"),
        ("start", "dispatched", "in_progress"),
        ("resolve", "in_progress", "resolved"),
        ("close", "resolved", "closed"),
    ]
    assert rows[2].note == "go" and rows[2].data["department"] == "gas"
    assert rows[4].actor_id == city.gas_handler.id
    audits = session.scalars(select(AuditLog.action).where(AuditLog.target == f"incident:{incident.code}"))
    assert list(audits) == ["incident.create", "incident.file", "incident.dispatch", "incident.start",
                            "incident.resolve", "incident.close"]


def test_return_counts_rework_and_keeps_the_first_resolution_time(session, city):
    incident = _new(session, city)
    for action, actor in [("file", city.operator), ("dispatch", city.operator), ("start", city.worker1),
                          ("resolve", city.worker1)]:
        incident = _act(session, incident, action, actor)
    first = incident.first_resolved_at
    incident = _act(session, incident, "return", city.operator, note="still smells")
    assert (incident.state, incident.rework_count, incident.resolved_at) == ("dispatched", 1, None)
    incident = _act(session, incident, "start", city.worker1)
    incident = _act(session, incident, "resolve", city.worker1)
    assert incident.first_resolved_at == first
    assert incident.resolved_at > first


def test_a_stale_version_is_refused_and_changes_nothing(session, city):
    incident = _new(session, city)
    apply_action(session, incident.id, "file", version=1, actor=city.operator)
    with pytest.raises(StaleVersion):
        apply_action(session, incident.id, "reject", version=1, actor=city.operator)
    assert (incident.state, incident.version) == ("filed", 2)


def test_a_concurrent_write_between_read_and_write_is_caught_by_compare_and_set(db, session, city):
    incident = _new(session, city)
    session.commit()
    with db.uow() as other:  # someone else files it meanwhile, straight in the table
        other.execute(Incident.__table__.update().where(Incident.id == incident.id).values(version=2))
    # our session still holds version 1 in its identity map, so only the database can notice
    assert incident.version == 1
    with pytest.raises(StaleVersion):
        apply_action(session, incident.id, "file", version=1, actor=city.operator)


def test_wrong_state_is_refused(session, city):
    incident = _new(session, city)
    with pytest.raises(ActionNotAllowed) as info:
        _act(session, incident, "close", city.operator)
    assert info.value.code == "invalid_transition"


def test_a_leader_may_escalate_but_not_file(session, city):
    incident = _new(session, city)
    with pytest.raises(ActionNotAllowed) as info:
        _act(session, incident, "file", city.leader)
    assert info.value.code == "forbidden_action"
    incident = _act(session, incident, "escalate", city.leader, note="hurry")
    assert incident.escalated and incident.state == "reported"
    assert incident.history[-1].data["notify"] == {"role": "leader", "department": "gas"}


def _dispatched(session, city, **kwargs) -> Incident:
    incident = _new(session, city, **kwargs)
    incident = _act(session, incident, "file", city.operator)
    return _act(session, incident, "dispatch", city.operator)


def test_a_worker_acts_only_in_their_grid_or_on_their_assignments(session, city):
    incident = _dispatched(session, city)  # in G1
    with pytest.raises(ActionNotAllowed) as info:
        _act(session, incident, "start", city.worker2)
    assert info.value.code == "out_of_scope"
    incident = _act(session, incident, "start", city.worker1)
    assert incident.state == "in_progress"
    other = _dispatched(session, city)
    other = _act(session, other, "dispatch", city.operator, assignee="w2")  # re-dispatch to w2
    assert _act(session, other, "start", city.worker2).state == "in_progress"


def test_a_handler_acts_only_on_their_departments_incidents(session, city):
    incident = _dispatched(session, city)
    with pytest.raises(ActionNotAllowed) as info:
        _act(session, incident, "start", city.roads_handler)
    assert info.value.code == "out_of_scope"
    assert _act(session, incident, "start", city.gas_handler).state == "in_progress"


def test_dispatch_to_another_department_and_unknown_names_are_refused(session, city):
    incident = _act(session, _new(session, city), "file", city.operator)
    with pytest.raises(InvalidInput, match="department"):
        _act(session, incident, "dispatch", city.operator, department_code="nowhere")
    with pytest.raises(InvalidInput, match="nobody"):
        _act(session, incident, "dispatch", city.operator, assignee="nobody")
    assert incident.version == 2  # refused input consumed no version
    incident = _act(session, incident, "dispatch", city.operator, department_code="roads")
    assert incident.department_id == city.roads.id


def test_a_handler_requests_a_postponement_and_an_operator_approves_it(session, city):
    incident = _dispatched(session, city)
    handle, close = incident.handle_deadline, incident.close_deadline
    incident = _act(session, incident, "postpone", city.gas_handler, hours=6, note="parts on order")
    assert (incident.handle_deadline, incident.close_deadline) == (handle, close)
    assert incident.history[-1].data == {"hours": 6.0, "status": "requested"}
    incident = _act(session, incident, "postpone", city.operator)  # approves the pending 6 h
    assert incident.handle_deadline == handle + timedelta(hours=6)
    assert incident.close_deadline == close + timedelta(hours=6)
    assert incident.history[-1].data["status"] == "approved"
    with pytest.raises(InvalidInput) as info:  # nothing pending any more
        _act(session, incident, "postpone", city.operator)
    assert info.value.code == "hours_required"
    with pytest.raises(InvalidInput) as info:
        _act(session, incident, "postpone", city.operator, hours=-1)
    assert info.value.code == "invalid_hours"


def test_merge_marks_a_duplicate_and_points_at_the_original(session, city):
    original = _new(session, city)
    duplicate = _new(session, city)
    with pytest.raises(InvalidInput):
        _act(session, duplicate, "merge", city.operator, target_id=duplicate.id)
    duplicate = _act(session, duplicate, "merge", city.operator, target_id=original.id)
    assert duplicate.state == "rejected" and duplicate.merged_into_id == original.id
    assert duplicate.rejected_at is not None


def test_a_comment_needs_a_note_and_keeps_the_state(session, city):
    incident = _new(session, city)
    with pytest.raises(InvalidInput):
        _act(session, incident, "comment", city.leader)
    incident = _act(session, incident, "comment", city.leader, note="seen")
    assert incident.state == "reported" and incident.version == 2


def test_unknown_incident_is_not_found(session, city):
    with pytest.raises(NotFound):
        apply_action(session, 999, "file", version=1, actor=city.operator)


def test_sweep_cards_colours_open_incidents_by_their_deadlines(session, city):
    reported = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)  # L01: handle 2 h, close 4 h

    def filed() -> Incident:
        return create_incident(session, category_code="L01", source="alert", title="gas", lon=G1_POINT[0],
                               lat=G1_POINT[1], reported_at=reported, auto_file=True)

    yellow, red, unfiled = filed(), filed(), _new(session, city, reported_at=reported)
    red.handle_deadline = reported + timedelta(minutes=30)
    yellow.card = red.card = "none"  # whatever creation computed against the wall clock
    session.flush()
    result = sweep_cards(session, reported + timedelta(hours=1, minutes=40))
    assert result == {"checked": 2, "changed": 2, "yellow": 1, "red": 1}
    session.expire_all()
    assert (yellow.card, red.card, unfiled.card) == ("yellow", "red", "none")
    again = sweep_cards(session, reported + timedelta(hours=1, minutes=40))
    assert again["changed"] == 0


def test_incident_to_dict_gives_the_contract_fields_with_offsets(session, city):
    incident = _dispatched(session, city, reported_at=datetime(2026, 11, 22, 1, 30, tzinfo=UTC))
    body = incident_to_dict(incident)
    for key in ("id", "code", "state", "version", "category", "source", "lon", "lat", "grid_code",
                "department", "assignee", "reported_at", "filed_at", "dispatched_at", "resolved_at",
                "closed_at", "handle_deadline", "close_deadline", "card", "history"):
        assert key in body, key
    assert body["reported_at"] == "2026-11-22T09:30:00+08:00"
    assert (body["grid_code"], body["department"], body["assignee"]) == ("G1", "gas", "w1")
    assert [h["action"] for h in body["history"]] == ["create", "file", "dispatch"]
    assert body["history"][1]["actor"] == "op"


def test_lists_are_scoped_by_role_and_newest_first(session, city):
    base = datetime(2026, 11, 22, tzinfo=UTC)
    in_g1 = _new(session, city, reported_at=base)
    in_g2 = _new(session, city, point=G2_POINT, reported_at=base + timedelta(hours=1))
    litter = _new(session, city, category="S0101", reported_at=base + timedelta(hours=2))
    assert [i.id for i in list_incidents(session, user=city.operator)] == [litter.id, in_g2.id, in_g1.id]
    assert [i.id for i in list_incidents(session, user=city.worker1)] == [litter.id, in_g1.id]
    assert [i.id for i in list_incidents(session, user=city.roads_handler)] == [litter.id]
    assert [i.id for i in list_incidents(session, user=city.operator, grid_code="G2")] == [in_g2.id]
    assert [i.id for i in list_incidents(session, user=city.operator, category="S0101")] == [litter.id]
    assert [i.id for i in list_incidents(session, user=city.operator, department_code="gas", limit=1)] == [
        in_g2.id]
    assert list_incidents(session, user=city.operator, state="filed") == []
    with pytest.raises(NotFound):
        get_incident(session, in_g2.id, user=city.worker1)
    assert get_incident(session, in_g1.id, user=city.worker1).id == in_g1.id


def test_worker_tasks_are_their_dispatched_work_by_deadline(session, city):
    base = datetime(2026, 11, 22, tzinfo=UTC)
    later = _dispatched(session, city, category="S0101", reported_at=base)  # 24 h limit
    sooner = _dispatched(session, city, reported_at=base)  # 2 h limit
    _new(session, city)  # reported only: not a task yet
    assert [i.id for i in tasks_for_worker(session, city.worker1)] == [sooner.id, later.id]
    assert tasks_for_worker(session, city.worker2) == []


def test_the_grid_index_is_reused_until_the_grids_change(session, city):
    first = routing.grid_index(session)
    assert routing.grid_index(session) is first
    community_id = city.g1.community_id
    box = shapely.box(117.02, 36.6, 117.03, 36.61)
    _grid(session, "G3", session.get(Area, community_id), box)
    rebuilt = routing.grid_index(session)
    assert rebuilt is not first and len(rebuilt) == 3
    assert routing.grid_of_point(session, 117.025, 36.605) == session.scalar(
        select(Grid.id).where(Grid.code == "G3"))
    assert session.scalar(select(func.count()).select_from(Grid)) == 3
