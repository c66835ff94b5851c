"""Command tiers (issue 17 §1): area-scoped operators and leaders see and act on their area only (the one rule,
``dispatch.service.visible_to``), incidents are passed down (下派) and reported up (上报) with history and audit,
and KPIs are read per tier and, for a tier's user, for their area only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import shapely
from flask import Flask
from sqlalchemy import select

import api.v1  # noqa: F401  (declares the incident and KPI routes)
from api.auth import AuthUser, init_auth
from api.errors import register_error_handlers
from api.registry import api_v1
from data.accounts import create_user, issue_token
from data.models import Area, AuditLog, Grid, Incident, User, utcnow
from dispatch import tiers, workflow
from dispatch.kpi import kpi_snapshot
from dispatch.service import (
    InvalidInput,
    NotFound,
    apply_action,
    create_incident,
    list_incidents,
    may_act_on,
    visible_to,
)
from tests.unit.test_dispatch_service import G1_POINT, _area, _grid, make_city

#: A second district D2 → D2S1 → D2S1C1 → grid G3, east of make_city's D1 (grids G1, G2 in street D1S1),
#: and a second street D1S2 of D1 with grid G4 (north of D1S1).
G3_POINT = (117.03, 36.605)
G4_POINT = (117.005, 36.615)


def _extend(session) -> None:
    d1 = session.scalar(select(Area).where(Area.code == "D1"))
    d2 = _area(session, "D2", "district", None, shapely.box(117.02, 36.6, 117.04, 36.61))
    d2s1 = _area(session, "D2S1", "street", d2, shapely.box(117.02, 36.6, 117.04, 36.61))
    d2c = _area(session, "D2S1C1", "community", d2s1, shapely.box(117.02, 36.6, 117.04, 36.61))
    _grid(session, "G3", d2c, shapely.box(117.02, 36.6, 117.04, 36.61))
    d1s2 = _area(session, "D1S2", "street", d1, shapely.box(117.0, 36.61, 117.02, 36.62))
    d1s2c = _area(session, "D1S2C1", "community", d1s2, shapely.box(117.0, 36.61, 117.02, 36.62))
    _grid(session, "G4", d1s2c, shapely.box(117.0, 36.61, 117.02, 36.62))
    for name, role, area in (("op_d1", "operator", "D1"), ("op_d2", "operator", "D2"),
                             ("op_s1", "operator", "D1S1"), ("boss_d2", "leader", "D2")):
        create_user(session, name, role).area_code = area
    session.flush()


def _user(session, name: str) -> User:
    return session.scalar(select(User).where(User.username == name))


def _filed(session, actor, point) -> int:
    incident = create_incident(session, category_code="L01", source="operator", title="tier test",
                               lon=point[0], lat=point[1], actor=actor)
    return apply_action(session, incident.id, "file", version=incident.version, actor=actor).id


# --- the service ---------------------------------------------------------------------------------


@pytest.fixture
def world(session):
    city = make_city(session)
    _extend(session)
    ids = {name: _filed(session, city.admin, point) for name, point in
           (("g1", G1_POINT), ("g3", G3_POINT), ("g4", G4_POINT))}
    return city, ids


def test_a_district_operator_sees_their_district_only_and_the_city_centre_sees_all(session, world):
    _, ids = world
    seen = {name: {i.id for i in list_incidents(session, user=_user(session, name))}
            for name in ("op", "op_d1", "op_d2", "op_s1", "boss_d2")}
    assert seen["op"] == set(ids.values())
    assert seen["op_d1"] == {ids["g1"], ids["g4"]}
    assert seen["op_d2"] == seen["boss_d2"] == {ids["g3"]}
    assert seen["op_s1"] == {ids["g1"]}


def test_the_session_user_carries_the_area_into_the_one_scope_rule(session, world):
    _, ids = world
    signed_in = AuthUser.of(_user(session, "op_d2"))
    assert signed_in.area_code == "D2"
    rows = session.scalars(select(Incident.id).where(visible_to(signed_in))).all()
    assert set(rows) == {ids["g3"]}


def test_an_area_on_a_handler_or_worker_changes_nothing(session, world):
    city, ids = world
    city.gas_handler.area_code = "D2"  # only operators and leaders are command tiers (DESIGN §3)
    assert tiers.area_of(city.gas_handler) is None
    assert {i.id for i in list_incidents(session, user=city.gas_handler)} == set(ids.values())


def test_acting_outside_the_area_is_not_found_and_changes_nothing(session, world):
    _, ids = world
    op_d2 = _user(session, "op_d2")
    incident = session.get(Incident, ids["g1"])
    version = incident.version
    with pytest.raises(NotFound):
        apply_action(session, ids["g1"], "comment", version=version, actor=op_d2, note="not mine")
    assert session.get(Incident, ids["g1"]).version == version
    assert not may_act_on(op_d2, incident, "comment")
    assert may_act_on(_user(session, "op_d1"), incident, "comment")


def test_pass_down_then_report_up_moves_the_tier_with_history_and_audit(session, world):
    city, ids = world
    incident = session.get(Incident, ids["g1"])
    incident = apply_action(session, incident.id, "pass_down", version=incident.version, actor=city.operator,
                            area_code="D1", note="district handles it")
    assert incident.tier_area_code == "D1" and incident.state == "filed"
    op_d1 = _user(session, "op_d1")
    incident = apply_action(session, incident.id, "pass_down", version=incident.version, actor=op_d1,
                            area_code="D1S1")
    assert incident.tier_area_code == "D1S1"
    op_s1 = _user(session, "op_s1")
    incident = apply_action(session, incident.id, "report_up", version=incident.version, actor=op_s1,
                            note="beyond the street's means")
    assert incident.tier_area_code == "D1"
    incident = apply_action(session, incident.id, "report_up", version=incident.version, actor=op_d1)
    assert incident.tier_area_code is None
    moves = [(h.action, h.data["from_tier"], h.data["to_tier"]) for h in incident.history
             if h.action in ("pass_down", "report_up")]
    assert moves == [("pass_down", None, "D1"), ("pass_down", "D1", "D1S1"), ("report_up", "D1S1", "D1"),
                     ("report_up", "D1", None)]
    audited = session.scalars(select(AuditLog.action).where(AuditLog.target == f"incident:{incident.code}",
                                                            AuditLog.action.in_(("incident.pass_down",
                                                                                 "incident.report_up")))).all()
    assert len(audited) == 4


@pytest.mark.parametrize(("actor", "place", "area", "code"), [
    ("op", "g1", None, "area_required"),
    ("op", "g1", "NOPE", "unknown_area"),
    ("op", "g1", "D1S1C1", "invalid_area"),          # a community is no tier
    ("op", "g1", "D2", "area_not_containing"),      # the incident lies in D1
    ("op", "g1", "D1S2", "area_not_containing"),    # another street of D1
    ("op_d1", "g1", "D2", "area_out_of_scope"),     # outside the operator's own area
    ("op_s1", "g1", "D1", "area_out_of_scope"),     # a street centre cannot pass to its district
])
def test_a_bad_pass_down_is_refused_with_its_reason_and_nothing_changes(session, world, actor, place, area, code):
    _, ids = world
    incident = session.get(Incident, ids[place])
    version, history = incident.version, len(incident.history)
    with pytest.raises(InvalidInput) as refused:
        apply_action(session, incident.id, "pass_down", version=version, actor=_user(session, actor), area_code=area)
    assert refused.value.code == code, refused.value
    session.expire_all()
    again = session.get(Incident, ids[place])
    assert (again.version, again.tier_area_code, len(again.history)) == (version, None, history)


def test_report_up_at_the_city_and_pass_down_to_the_current_tier_are_refused(session, world):
    city, ids = world
    incident = session.get(Incident, ids["g1"])
    with pytest.raises(InvalidInput) as at_city:
        apply_action(session, incident.id, "report_up", version=incident.version, actor=city.operator)
    assert at_city.value.code == "already_city"
    incident = apply_action(session, incident.id, "pass_down", version=incident.version, actor=city.operator,
                            area_code="D1S1")
    with pytest.raises(InvalidInput) as same:
        apply_action(session, incident.id, "pass_down", version=incident.version, actor=city.operator,
                     area_code="D1")  # D1 is above the street it is at: that is a report-up, not a pass-down
    assert same.value.code == "not_below_tier"


def test_only_operators_and_admins_move_tiers_and_not_once_closed():
    assert workflow.may("operator", "pass_down") and workflow.may("admin", "report_up")
    assert not any(workflow.may(role, action) for role in ("handler", "worker", "leader")
                   for action in ("pass_down", "report_up"))
    with pytest.raises(workflow.ActionNotAllowed):
        workflow.next_state("closed", "pass_down")


def test_in_scope_with_an_area_needs_the_incident_grid_in_it():
    common = {"user_id": 1, "user_grid_id": None, "user_department_id": None, "department_id": None,
              "assignee_id": None}
    assert workflow.in_scope(workflow.Scope.ALL, grid_id=5, area_grid_ids=frozenset({5}), **common)
    assert not workflow.in_scope(workflow.Scope.ALL, grid_id=6, area_grid_ids=frozenset({5}), **common)
    assert not workflow.in_scope(workflow.Scope.ALL, grid_id=None, area_grid_ids=frozenset({5}), **common)
    assert workflow.in_scope(workflow.Scope.ALL, grid_id=None, **common)


def test_kpis_per_tier_count_what_each_tier_handles(session, world):
    city, ids = world
    incident = session.get(Incident, ids["g3"])
    apply_action(session, incident.id, "pass_down", version=incident.version, actor=city.operator, area_code="D2")
    start, end = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1)
    assert kpi_snapshot(session, start, end, tier="D2")["reported"] == 1
    assert kpi_snapshot(session, start, end, tier="city")["reported"] == 2
    assert kpi_snapshot(session, start, end, tier="D1")["reported"] == 0
    assert kpi_snapshot(session, start, end)["reported"] == 3


# --- the API -------------------------------------------------------------------------------------


@pytest.fixture
def call(db):
    server = Flask(__name__)
    server.secret_key = "test"
    init_auth(server, db)
    register_error_handlers(server)
    server.register_blueprint(api_v1)
    with db.uow() as session:
        city = make_city(session)
        _extend(session)
        ids = {name: _filed(session, city.admin, point) for name, point in (("g1", G1_POINT), ("g3", G3_POINT))}
        tokens = {name: issue_token(session, _user(session, name)) for name in ("op", "op_d1", "op_d2", "boss_d2")}
    client = server.test_client()

    def request(method: str, path: str, user: str, body=None):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {tokens[user]}"}, json=body)

    request.ids = ids  # type: ignore[attr-defined]
    return request


def test_api_a_district_operator_lists_their_district_and_gets_404_elsewhere(call):
    ids = call.ids
    assert [row["id"] for row in call("GET", "/api/v1/incidents", "op_d2").get_json()] == [ids["g3"]]
    assert call("GET", f"/api/v1/incidents/{ids['g3']}", "op_d2").status_code == 200
    other = call("GET", f"/api/v1/incidents/{ids['g1']}", "op_d2")
    assert other.status_code == 404 and "tier test" not in other.get_data(as_text=True)
    acted = call("POST", f"/api/v1/incidents/{ids['g1']}/actions", "op_d2",
                 {"action": "comment", "version": 2, "note": "x"})
    assert acted.status_code == 404
    assert call("GET", f"/api/v1/incidents/{ids['g1']}", "op").status_code == 200


def test_api_pass_down_and_report_up_with_history_and_reasons(call):
    ids = call.ids
    bad = call("POST", f"/api/v1/incidents/{ids['g1']}/actions", "op",
               {"action": "pass_down", "version": 2, "area": "D2"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "area_not_containing"
    outside = call("POST", f"/api/v1/incidents/{ids['g3']}/actions", "op_d2",
                   {"action": "pass_down", "version": 2, "area": "D1S1"})
    assert outside.status_code == 422 and outside.get_json()["error"]["code"] == "area_out_of_scope"
    down = call("POST", f"/api/v1/incidents/{ids['g3']}/actions", "op",
                {"action": "pass_down", "version": 2, "area": "D2"})
    assert down.status_code == 200, down.get_data(as_text=True)
    assert down.get_json()["tier"] == "D2"
    up = call("POST", f"/api/v1/incidents/{ids['g3']}/actions", "op_d2",
              {"action": "report_up", "version": 3, "note": "needs the city"})
    body = up.get_json()
    assert up.status_code == 200 and body["tier"] is None
    assert [(h["action"], h["data"]["to_tier"]) for h in body["history"] if h["action"] in ("pass_down", "report_up")] \
        == [("pass_down", "D2"), ("report_up", None)]


def test_api_kpis_of_a_tier_user_cover_their_area_only(call):
    city_wide = call("GET", "/api/v1/kpi", "op").get_json()
    d2 = call("GET", "/api/v1/kpi", "op_d2").get_json()
    assert city_wide["reported"] == 2 and city_wide["district"] is None
    assert d2["reported"] == 1 and d2["district"] == "D2"
    # Asking for another district does not widen it: the user's own area replaces it.
    assert call("GET", "/api/v1/kpi?district=D1", "boss_d2").get_json()["reported"] == 1
    tier = call("GET", "/api/v1/kpi?tier=nowhere", "op")
    assert tier.status_code == 422 and tier.get_json()["error"]["code"] == "unknown_tier"


# --- the big screen and the console ----------------------------------------------------------------


def _node(layers, code: str):
    return next(a for a in layers.areas if a.code == code)


def test_the_big_screen_of_a_tier_user_is_framed_on_their_area_and_never_leaves_it(session, world):
    from callbacks.bigscreen import scope as bigscreen
    from data.layers import static_layers

    layers = static_layers(session)
    d1, d2, d2s1 = _node(layers, "D1"), _node(layers, "D2"), _node(layers, "D2S1")
    g3 = session.scalar(select(Grid.id).where(Grid.code == "G3"))
    assert bigscreen.screen_scope(layers, None, "D2").kpi == {"district": "D2"}
    assert bigscreen.screen_scope(layers, None, "D2").grid_ids == [g3]
    assert bigscreen.screen_scope(layers, {"level": "district", "id": d1.id}, "D2").kpi == {"district": "D2"}
    assert bigscreen.screen_scope(layers, {"level": "street", "id": d2s1.id}, "D2").kpi == {"street": "D2S1"}
    assert bigscreen.screen_scope(layers, {"level": "district", "id": d1.id}).kpi == {"district": "D1"}  # the city's
    empty = {"district": None, "street": None, "community": None, "grid": None}
    state = bigscreen.keep_to_area(layers, bigscreen.drill_state(layers, dict(empty), None), d2)
    assert [o["value"] for o in state["options"]["district"]] == [d2.id]
    assert state["scope"] == {"level": "district", "id": d2.id, "district": "D2"}
    assert bigscreen.scope_bounds(layers, state["scope"]) == d2.bounds
    chosen = bigscreen.drill_state(layers, {**empty, "district": d1.id}, "district")
    outside = bigscreen.keep_to_area(layers, chosen, d2)
    assert outside["scope"]["id"] == d2.id


def test_the_console_shows_the_tier_and_offers_the_centres_below_it(session, world):
    from callbacks import console

    city, ids = world
    incident = session.get(Incident, ids["g1"])
    offered = {name: [a.code for a in tiers.pass_down_choices(session, _user(session, name), current=None,
                                                              grid_id=incident.grid_id)]
               for name in ("op", "op_d1", "op_s1", "op_d2")}
    assert offered == {"op": ["D1", "D1S1"], "op_d1": ["D1", "D1S1"], "op_s1": ["D1S1"], "op_d2": []}
    assert [b.id["area"] for b in console.pass_down_buttons(session, incident, city.operator)] == ["D1", "D1S1"]
    assert console.pass_down_buttons(session, incident, city.leader) == []  # a leader does not move tiers
    incident = apply_action(session, incident.id, "pass_down", version=incident.version, actor=city.operator,
                            area_code="D1")
    shown = str(console.detail_view(incident, session=session, role="operator", user=city.operator))
    assert "D1 (D1)" in shown
    assert [a.code for a in tiers.pass_down_choices(session, city.operator, current="D1",
                                                    grid_id=incident.grid_id)] == ["D1S1"]


def test_a_tier_desk_hears_only_of_incidents_in_its_area(session, world):
    from dispatch import notifications

    city, ids = world
    incident = session.get(Incident, ids["g1"])
    apply_action(session, incident.id, "escalate", version=incident.version, actor=city.admin, note="hurry")
    heard = {name: [n.incident_id for n in notifications.latest(session, _user(session, name))]
             for name in ("op", "op_d1", "op_d2")}
    assert heard == {"op": [ids["g1"]], "op_d1": [ids["g1"]], "op_d2": []}
    assert notifications.unread_count(session, _user(session, "op_d2")) == 0
    assert notifications.mark_read(session, _user(session, "op_d2")) == 0  # nor marks the city's copy read
    assert notifications.mark_read(session, _user(session, "op_d1")) == 1
