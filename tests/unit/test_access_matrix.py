"""Access tests as data (issue 14, "hold the line"): every route, and every callback that shows incidents, ×
every role × an incident in the user's scope and one outside it → the expected status, computed from the
permission tables and not written out by hand.

The tables the expectations come from:
- ``api.registry.OPERATIONS`` — which roles may call each /api/v1 route (401 anonymous, 403 other roles);
- ``api.auth.PAGE_ROLES`` — which roles may use each page and its callbacks;
- ``dispatch.workflow.PERMISSIONS`` / ``TRANSITIONS`` / ``in_scope`` — which role may take which action over
  which incidents. A user *sees* the incidents of the widest scope their role acts in (a worker: own grid and
  assignments, a handler: own department, the others: all); an incident outside it answers 404, exactly
  like an id that names nothing, and never appears in a list.

So a new route fails here until it has a rule: every rule of Flask's url_map must be an OPERATION, a page,
a route of a blueprint with its own role guard (OGC API), or listed below as public or as a Dash route;
every path variable of an OPERATION must have a scope rule;
every route on one incident must have a probe. ``tests/unit/test_authorization_matrix.py`` calls every
route and callback once per role (the role guard); this module adds the object: in scope or not.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import shapely
from sqlalchemy import select

import app as composition_root  # noqa: F401  (imports every route module: OPERATIONS is whole at collection)
import dispatch.workflow as workflow
from api.auth import ALL_ROLES, PAGE_PATHS, PAGE_ROLES
from api.layers import LAYER_ROLES
from api.public import public_routes
from api.registry import OPERATIONS, PREFIX, Operation
from data.accounts import create_user, issue_open311_key, issue_token, set_password
from data.models import Area, Incident, Role, User
from dispatch import photos, tiers
from dispatch.categories import reportable
from dispatch.service import Caller, apply_action, create_incident
from dispatch.workflow import PERMISSIONS, TRANSITIONS, Action, Scope
from layouts import ids
from settings import Settings, get_settings
from tests.unit.test_authorization_matrix import _outputs_of, _wildcard
from tests.unit.test_dispatch_channels import jpeg
from tests.unit.test_dispatch_service import G1_POINT, G2_POINT, _area, make_city

ROLES = tuple(r.value for r in Role)
#: One user per role (from ``make_city``): a handler of the gas company, a worker of grid G1.
PERSONAS: dict[str, str] = {"admin": "admin", "operator": "op", "leader": "boss", "handler": "gasman",
                            "worker": "w1", "tier_operator": "op_tier"}
#: Personas that are not named after their role: an operator of a command tier (issue 17, ``users add --area``)
#: scoped to street D1S1, which holds grid G1 (the IN place) but not G2 (the fixture moves G2 to street D1S2).
PERSONA_ROLES: dict[str, str] = {"tier_operator": "operator"}
TIER_AREAS: dict[str, str] = {"tier_operator": "D1S1"}
#: The grids of each tier's area (filled by the ``app`` fixture, read by ``within``).
AREA_GRIDS: dict[str, frozenset[int]] = {}


def role_of(persona: str | None) -> str | None:
    """The role of ``persona`` (a persona is named after its role unless PERSONA_ROLES says otherwise)."""
    return PERSONA_ROLES.get(persona or "", persona)


#: Incidents in and out of a narrow scope: gas in G1 (the gas handler's, worker w1's) and roads in G2 (neither).
IN, OUT = "in", "out"
PLACES = {IN: ("L01", G1_POINT), OUT: ("S0101", G2_POINT)}
#: The street of each place (a pass-down target that holds it; the tier operator's street holds IN only).
STREETS = {IN: "D1S1", OUT: "D1S2"}
#: Near the G1/G2 border: an incident, an open duplicate in the same grid and one across the border (< 50 m).
BORDER = {"near": (117.0099, 36.605), "near-same-grid": (117.0098, 36.605), "near-other-grid": (117.0101, 36.605)}
PASSWORD = "matrix-sentinel-Passphrase-2026"  # meets the real policy: the fixture is module-wide

# --- the route inventory ----------------------------------------------------------------------------

#: Routes anyone may call, and why.
PUBLIC_ROUTES: dict[str, str] = {
    "/healthz": "liveness for load balancers (DESIGN §4)",
    "/login": "the sign-in form",
    "/auth/logout": "ends the caller's own session (a POST checked by origin)",
    "/auth/lang/<lang>": "the language switch; redirects only to our own paths",
    "/static/<path:filename>": "Flask's static files (none hold data)",
    "/assets/<path:filename>": "CSS, scripts and fonts of the pages",
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": "Dash's own JavaScript",
    "/_favicon.ico": "the icon",
    "/auth/static/<path:filename>": "the password forms' script (show the password, the strength hint)",
    "/open311/v2/services.<fmt>": "Open311: the published services",
    "/open311/v2/services/<code>.<fmt>": "Open311: one service's definition",
    "/open311/v2/requests.<fmt>": "Open311: public fields of published requests (GET); POST needs an Open311 key",
    "/open311/v2/requests/<request_id>.<fmt>": "Open311: public fields of one published request",
    **public_routes(),  # the citizens' reporting page and /api/v1/public (api/public.py gives each reason)
}
#: Every signed-in user's own routes (any role; anonymous users are sent to sign in): their account.
SELF_ROUTES: dict[str, str] = {
    "/account": "change one's own password (the current one is required)",
    "/account/strength": "the strength hint of a candidate password (nothing stored)",
}
#: Dash's own routes: signed-in users only (401 otherwise); callbacks are then guarded by PAGE_ROLES.
DASH_ROUTES = ("/_dash-layout", "/_dash-dependencies", "/_dash-update-component", "/_reload-hash")
#: The page routes: Dash's router answers every page path of PAGE_PATHS; the guard applies PAGE_ROLES.
PAGE_ROUTES = ("/", "/<path:path>")
#: Blueprints outside /api/v1 that guard every route of theirs with one set of roles (401 anonymous, 403 other
#: roles): OGC API – Features reads the map layers, so it admits the roles of the map layers.
GUARDED_BLUEPRINTS: dict[str, frozenset[str]] = {"ogc": frozenset(LAYER_ROLES),
                                                 "tiles": ALL_ROLES}  # the basemap: every signed-in user

#: The scope rule of each path variable of an /api/v1 route: "incident" (the incident, or the incident a
#: photo belongs to, must be in the user's scope: checked here), "owner" (one's own token, an admin any:
#: tests/unit/test_tokens.py), or None (city-wide data: every role the route admits sees every row).
OBJECT_SCOPES: dict[str, str | None] = {
    "incident_id": "incident", "attachment_id": "incident", "token_id": "owner",
    "alert_id": None, "rule_id": None, "sensor_id": None, "silence_id": None, "code": None, "name": None,
    # the duty rota and the shift handovers are the command centre's own, one for the whole city
    "entry_id": None, "handover_id": None,
    # notification channels are the administrator's (api/notify.py admits admins only), city-wide
    "channel_id": None,
    # emergency events and their resource assignments are the command centre's, city-wide (issue 18)
    "event_id": None, "assignment_id": None,
    # video-AI detections and the events' camera snapshots are the command centre's, city-wide (issue 19)
    "detection_id": None, "snapshot_id": None,
}


def _variables(rule: str) -> list[str]:
    return re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule)


def test_every_route_of_the_app_has_an_access_rule(app):
    server, _, _ = app
    declared = {(PREFIX + op.rule, op.method) for op in OPERATIONS}
    unlisted, stale = [], set(PUBLIC_ROUTES) | set(DASH_ROUTES) | set(PAGE_ROUTES) | set(SELF_ROUTES)
    for rule in server.url_map.iter_rules():
        stale.discard(rule.rule)
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        if (rule.rule in PUBLIC_ROUTES or rule.rule in DASH_ROUTES or rule.rule in PAGE_ROUTES
                or rule.rule in SELF_ROUTES):
            continue
        if rule.endpoint.split(".")[0] in GUARDED_BLUEPRINTS:
            continue
        if not all((rule.rule, method) in declared for method in methods):
            unlisted.append((rule.rule, methods, rule.endpoint))
    assert not unlisted, f"routes without an access rule (declare them with operation() or list them): {unlisted}"
    assert not stale, f"listed routes that no longer exist: {stale}"
    assert set(PAGE_PATHS.values()) <= set(PAGE_ROLES), "a page without roles"


def test_every_path_variable_of_the_api_has_a_scope_rule():
    missing = {(op.method, op.rule, name) for op in OPERATIONS for name in _variables(op.rule)
               if name not in OBJECT_SCOPES}
    assert not missing, f"say in OBJECT_SCOPES how these objects are scoped: {missing}"


def test_the_personas_cover_every_role_and_every_role_has_permissions():
    assert {role_of(p) for p in PERSONAS} == set(ROLES)
    assert set(PERMISSIONS) == set(ROLES)


@pytest.mark.parametrize("rule", [*PUBLIC_ROUTES])
def test_public_routes_answer_without_sign_in(app, rule):
    server, _, _ = app
    path = re.sub(r"<[^<>]+>", "x", rule).replace(".x", ".json")
    path = {"/auth/lang/x": "/auth/lang/en", "/open311/v2/services/x.json": "/open311/v2/services/S0101.json",
            "/auth/logout": "/auth/logout"}.get(path, path)
    method = "POST" if rule == "/auth/logout" else "GET"
    status = server.test_client().open(path, method=method).status_code
    assert status not in (401, 403) and status < 500, (rule, status)


def test_the_account_routes_are_every_signed_in_users_own(app, browsers):
    server, _, _ = app
    anonymous = server.test_client()
    assert anonymous.get("/account").status_code == 302
    assert anonymous.post("/account/strength", json={"password": "x"}).status_code in (302, 401)
    for persona, browser in browsers.items():
        assert browser.get("/account").status_code == 200, persona
        assert browser.post("/account/strength", json={"password": "x"}).status_code == 200, persona


@pytest.mark.parametrize("rule", DASH_ROUTES)
def test_dash_routes_need_a_sign_in(app, rule):
    server, _, _ = app
    method = "POST" if rule == "/_dash-update-component" else "GET"
    assert server.test_client().open(rule, method=method, json={}).status_code == 401


def _blueprint_rules(server: Any) -> list[tuple[str, str]]:
    return sorted((rule.rule, rule.endpoint.split(".")[0]) for rule in server.url_map.iter_rules()
                  if rule.endpoint.split(".")[0] in GUARDED_BLUEPRINTS)


@pytest.mark.parametrize("persona", [None, *PERSONAS])
def test_guarded_blueprints_admit_their_roles_only(app, client, persona):
    server, _, world = app
    checked = 0
    for rule, blueprint in _blueprint_rules(server):
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: "incidents" if m.group(1) == "collection_id" else "999999",
                      rule)
        status = world.call(client, "GET", path, persona).status_code
        if persona is None:
            assert status == 401, (rule, status)
        elif role_of(persona) in GUARDED_BLUEPRINTS[blueprint]:
            assert status not in (401, 403) and status < 500, (rule, persona, status)
        else:
            assert status == 403, (rule, persona, status)
        checked += 1
    assert checked >= 1


# --- the scope rule, from the permission table -------------------------------------------------------

#: Scopes from the narrowest to the widest.
_WIDTH = (Scope.OWN, Scope.DEPARTMENT, Scope.ALL)


def read_scope(role: str) -> Scope | None:
    """The incidents a role sees: the widest scope it takes any action in (None: it sees none)."""
    scopes = set(PERMISSIONS.get(role, {}).values())
    return max(scopes, key=_WIDTH.index) if scopes else None


def within(scope: Scope | None, user: User, incident: Incident) -> bool:
    area = tiers.area_of(user)
    return scope is not None and workflow.in_scope(
        scope, user_id=user.id, user_grid_id=user.grid_id, user_department_id=user.department_id,
        grid_id=incident.grid_id, department_id=incident.department_id, assignee_id=incident.assignee_id,
        area_grid_ids=AREA_GRIDS[area] if area is not None else None)


def sees(user: User, incident: Incident) -> bool:
    return within(read_scope(user.role), user, incident)


def may(user: User, incident: Incident, action: str) -> bool:
    return within(workflow.scope_of(user.role, action), user, incident)


def test_the_read_scope_is_narrower_for_handlers_and_workers_only():
    assert {role: read_scope(role) for role in ROLES} == {
        "admin": Scope.ALL, "operator": Scope.ALL, "leader": Scope.ALL,
        "handler": Scope.DEPARTMENT, "worker": Scope.OWN}


# --- the app, its users and incidents ----------------------------------------------------------------


@dataclass
class World:
    db: Any
    users: dict[str, User]
    tokens: dict[str, str]
    open311_key: str
    incidents: dict[str, Incident]
    photos: dict[str, int]

    def call(self, client: Any, method: str, path: str, persona: str | None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[persona]}"} if persona else {}
        return client.open(path, method=method, headers=headers, **kwargs)

    def reload(self, incident_id: int) -> Incident:
        with self.db.uow() as s:
            incident = s.get(Incident, incident_id)
            s.expunge(incident)
            return incident

    def all_incidents(self) -> list[Incident]:
        with self.db.uow() as s:
            rows = list(s.scalars(select(Incident)))
            s.expunge_all()
            return rows


def _split_street(session: Any, city: Any) -> None:
    """Move grid G2 (the OUT place) into a new street D1S2 of district D1, so that street D1S1 (a tier's area)
    holds IN and not OUT."""
    district = session.scalar(select(Area).where(Area.code == "D1"))
    east = shapely.box(117.01, 36.6, 117.02, 36.61)
    community = _area(session, "D1S2C1", "community", _area(session, "D1S2", "street", district, east), east)
    city.g2.community_id = community.id
    session.flush()


def _report(session: Any, name: str, category: str, point: tuple[float, float], **extra: Any) -> Incident:
    return create_incident(session, category_code=category, source=extra.pop("source", "operator"),
                           title=f"matrix {name}", lon=point[0], lat=point[1], **extra)


def _walk(session: Any, incident: Incident, admin: User, path: list[str]) -> Incident:
    for action in path:
        incident = apply_action(session, incident.id, action, version=incident.version, actor=admin,
                                note="matrix", hours=1.0)
    return incident


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, World]]:
    from app import create_app
    from data.db import Database

    folder = tmp_path_factory.mktemp("access")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CITYOPS_UPLOADS_DIR", str(folder / "uploads"))
        get_settings.cache_clear()
        db = Database(f"sqlite:///{folder / 'a.db'}")
        db.migrate()
        with db.uow() as s:
            city = make_city(s)
            _split_street(s, city)
            for persona, area in TIER_AREAS.items():
                create_user(s, PERSONAS[persona], role_of(persona)).area_code = area
                AREA_GRIDS[area] = tiers.area_grid_ids(s, area)
            users = {role: s.scalar(select(User).where(User.username == name)) for role, name in PERSONAS.items()}
            for user in users.values():
                set_password(s, user, PASSWORD)
            tokens = {role: issue_token(s, user) for role, user in users.items()}
            key = issue_open311_key(s, "matrix-app")
            dispatched = [Action.FILE, Action.DISPATCH]
            incidents = {place: _walk(s, _report(s, place, category, point), city.admin, dispatched)
                         for place, (category, point) in PLACES.items()}
            for name, point in BORDER.items():
                incidents[name] = _walk(s, _report(s, name, "L01", point), city.admin, dispatched)
            incidents["hotline"] = _report(s, "hotline", "S0101", G1_POINT, source="hotline",
                                           description="matrix internal text", caller=Caller(
                                               name="Matrix Caller", phone="13800001111"))
            incidents["exercise"] = _report(s, "exercise", "S0101", G1_POINT, exercise=True)
            stored = {place: photos.store_photo(s, jpeg(), incident_id=incidents[place].id, uploaded_by=None).id
                      for place in PLACES}
            s.flush()
            for incident in incidents.values():
                s.refresh(incident)
            s.expunge_all()
        server, dash_app = create_app(Settings(database_url=str(db.url), secret_key="access-matrix"), db)
        server.testing = True
        server.test_client().get("/healthz")  # Dash fills its callback map on the first request
        yield server, dash_app, World(db, users, tokens, key, incidents, stored)
        db.dispose()


@pytest.fixture(scope="module")
def client(app: tuple[Any, Any, World]) -> Any:
    return app[0].test_client()


# --- routes on one incident: probes ------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """How to call a route on one incident without breaking the others, and what it answers once the role
    and the scope let the call through: ``ok`` when ``permits`` (None: seeing is enough), else ``refused``."""

    body: Callable[[World, str], dict[str, Any]]
    ok: int
    permits: Callable[[User, Incident], bool] | None = None
    refused: tuple[int, str] = (422, "forbidden_action")


def _photo(_world: World, _place: str) -> dict[str, Any]:
    return {"data": {"photo": (io.BytesIO(jpeg()), "p.jpg")}, "content_type": "multipart/form-data"}


def _comment(world: World, place: str) -> dict[str, Any]:
    incident = world.reload(world.incidents[place].id)
    return {"json": {"action": "comment", "version": incident.version, "note": "matrix"}}


def _none(_world: World, _place: str) -> dict[str, Any]:
    return {}


#: Every /api/v1 route on one incident (or on a photo of one) → its probe. A new route without a probe fails.
PROBES: dict[tuple[str, str], Probe] = {
    ("GET", "/incidents/<int:incident_id>"): Probe(_none, 200),
    ("GET", "/incidents/<int:incident_id>/duplicates"): Probe(_none, 200),
    ("GET", "/incidents/<int:incident_id>/notifications"): Probe(_none, 200),
    ("POST", "/incidents/<int:incident_id>/actions"): Probe(
        _comment, 200, lambda u, i: may(u, i, Action.COMMENT)),
    # dispatch.photos.may_add_photo; the reporter may too, but no persona reported these incidents
    ("POST", "/incidents/<int:incident_id>/photos"): Probe(
        _photo, 201, lambda u, i: any(may(u, i, a) for a in photos.PHOTO_ACTIONS)),
    ("PUT", "/incidents/<int:incident_id>/public-description"): Probe(
        lambda _w, _p: {"json": {"public_description": "matrix public text"}}, 200,
        lambda u, i: may(u, i, Action.FILE)),
    # Ratings are for closed hotline and Open311 incidents: a dispatched one is refused once it is seen.
    ("POST", "/incidents/<int:incident_id>/rating"): Probe(
        lambda _w, _p: {"json": {"satisfaction": "satisfied"}}, 200, lambda _u, _i: False, (422, "not_ratable")),
    ("GET", "/attachments/<int:attachment_id>"): Probe(_none, 200),
    ("GET", "/attachments/<int:attachment_id>/thumbnail"): Probe(_none, 200),
}


def _incident_operations() -> list[Operation]:
    return [op for op in OPERATIONS if any(OBJECT_SCOPES.get(v) == "incident" for v in _variables(op.rule))]


def test_every_route_on_an_incident_has_a_probe():
    routes = {(op.method, op.rule) for op in _incident_operations()}
    assert not routes - set(PROBES), f"add a probe to PROBES for: {routes - set(PROBES)}"
    assert not set(PROBES) - routes, f"probes of routes that no longer exist: {set(PROBES) - routes}"


def expected_status(op: Operation, persona: str | None, user: User | None,
                    incident: Incident) -> tuple[int, str | None]:
    """The answer of ``op`` on ``incident`` for ``persona`` by the tables: (status, error code or None)."""
    if op.roles is not None and persona is None:
        return 401, "unauthorized"
    if op.roles is not None and role_of(persona) not in op.roles:
        return 403, "forbidden"
    assert user is not None
    if not sees(user, incident):
        return 404, None
    probe = PROBES[(op.method, op.rule)]
    if probe.permits is None or probe.permits(user, incident):
        return probe.ok, None
    return probe.refused


def _path(op: Operation, world: World, place: str) -> str:
    target = world.photos[place] if "attachment_id" in op.rule else world.incidents[place].id
    return PREFIX + re.sub(r"<[^<>]+>", str(target), op.rule)


@pytest.mark.parametrize("place", [IN, OUT])
@pytest.mark.parametrize("persona", [None, *PERSONAS])
@pytest.mark.parametrize("op", _incident_operations(), ids=lambda op: f"{op.method} {op.rule}")
def test_routes_on_one_incident_by_role_and_scope(app, client, op, persona, place):
    _, _, world = app
    user = world.users.get(persona or "")
    incident = world.reload(world.incidents[place].id)
    status, code = expected_status(op, persona, user, incident)
    response = world.call(client, op.method, _path(op, world, place), persona,
                          **PROBES[(op.method, op.rule)].body(world, place))
    assert response.status_code == status, (persona, place, response.get_data(as_text=True)[:300])
    if code is not None and response.is_json:
        assert response.get_json()["error"]["code"] == code
    if status == 404:  # nothing of the incident shows: not its code, title or version
        text = response.get_data(as_text=True)
        assert incident.code not in text and incident.title not in text


# --- every action × role × scope ---------------------------------------------------------------------


def _path_to(action: str) -> list[str]:
    """The shortest chain of actions from ``reported`` to a state where ``action`` applies (TRANSITIONS)."""
    frontier: list[tuple[str, list[str]]] = [(workflow.S.REPORTED, [])]
    seen = {workflow.S.REPORTED}
    while frontier:
        state, path = frontier.pop(0)
        if (state, action) in TRANSITIONS:
            return path
        for (origin, step), to_state in TRANSITIONS.items():
            if origin == state and to_state not in seen and step != Action.MERGE:
                seen.add(to_state)
                frontier.append((to_state, [*path, step]))
    raise AssertionError(f"no state allows {action}")


def expected_action(persona: str | None, user: User | None, incident: Incident, action: str) -> tuple[int, str | None]:
    if persona is None:
        return 401, "unauthorized"
    assert user is not None
    if not sees(user, incident):
        return 404, None
    scope = workflow.scope_of(user.role, action)
    if scope is None:
        return 422, "forbidden_action"
    if not within(scope, user, incident):
        return 422, "out_of_scope"
    return 200, None


@pytest.mark.parametrize("place", [IN, OUT])
@pytest.mark.parametrize("persona", [None, *PERSONAS])
@pytest.mark.parametrize("action", [a.value for a in Action])
def test_every_action_by_role_and_scope(app, client, action, persona, place):
    """A fresh incident is walked (by an admin) to the first state where ``action`` applies; then the persona
    takes it through the API. A refusal leaves the incident as it was."""
    _, _, world = app
    category, point = PLACES[place]
    with world.db.uow() as s:
        admin = s.scalar(select(User).where(User.username == "admin"))
        incident = _walk(s, _report(s, f"{action}-{persona}-{place}", category, point), admin, _path_to(action))
        if action == Action.REPORT_UP:  # handled by its street's centre, so that there is a tier above
            incident.tier_area_code = STREETS[place]
        incident_id, version = incident.id, incident.version
    incident = world.reload(incident_id)
    user = world.users.get(persona or "")
    status, code = expected_action(persona, user, incident, action)
    body = {"action": action, "version": version, "note": "matrix", "hours": 1.0,
            "target_id": world.incidents[IN].id if action == Action.MERGE else None,
            "area": STREETS[place] if action == Action.PASS_DOWN else None}
    response = world.call(client, "POST", f"{PREFIX}/incidents/{incident_id}/actions", persona, json=body)
    assert response.status_code == status, (persona, place, response.get_data(as_text=True)[:300])
    if code is not None:
        assert response.get_json()["error"]["code"] == code
    if status != 200:
        assert world.reload(incident_id).version == version


# --- lists: nothing outside the scope ----------------------------------------------------------------


def _roles(guard: str) -> frozenset[str] | None:
    """The roles a list route admits: ``GET <rule>`` of OPERATIONS, or a guarded blueprint's."""
    if guard in GUARDED_BLUEPRINTS:
        return GUARDED_BLUEPRINTS[guard]
    roles = next(o.roles for o in OPERATIONS if (o.method, o.rule) == ("GET", guard))
    return frozenset(roles) if roles is not None else None


def _open_on_map(incident: Incident) -> bool:
    return incident.state in ("reported", *workflow.OPEN_STATES) and incident.merged_into_id is None


#: Every list of incidents → (whose rule admits the caller, which incidents it lists at all, one it must list
#: when in scope — so that the check cannot pass on an empty answer).
LISTS: dict[str, tuple[str, Callable[[Incident], bool], str]] = {
    f"{PREFIX}/incidents?limit=1000": ("/incidents", lambda i: True, IN),
    f"{PREFIX}/layers/incidents?limit=10000": ("/layers/incidents", _open_on_map, IN),
    f"{PREFIX}/incidents/<near>/duplicates": (
        "/incidents/<int:incident_id>/duplicates", lambda i: i.category_code == "L01", "near-same-grid"),
    "/ogc/collections/incidents/items?limit=10000": ("ogc", _open_on_map, IN),
}


def _listed_ids(response: Any, path: str) -> set[int]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    body = response.get_json()
    if path.startswith("/ogc/"):
        return {int(f["id"]) for f in body["features"]}
    if path.startswith(f"{PREFIX}/layers/"):
        return {int(f["properties"]["id"]) for f in body["features"]}
    return {int(row["id"]) for row in body}


@pytest.mark.parametrize("persona", [*PERSONAS])
@pytest.mark.parametrize("route", [*LISTS])
def test_lists_of_incidents_hold_only_incidents_in_scope(app, client, route, persona):
    _, _, world = app
    guard, lists, must = LISTS[route]
    roles = _roles(guard)
    user = world.users[persona]
    path = route.replace("<near>", str(world.incidents["near"].id))
    if roles is not None and role_of(persona) not in roles:
        assert world.call(client, "GET", path, persona).status_code == 403
        return
    shown = _listed_ids(world.call(client, "GET", path, persona), path)
    by_id = {i.id: i for i in world.all_incidents()}
    outside = sorted(by_id[i].code for i in shown if not sees(user, by_id[i]))
    assert not outside, f"{persona} is shown incidents outside their scope: {outside}"
    expected = world.incidents[must]
    if sees(user, expected) and lists(expected):
        assert expected.id in shown


@pytest.mark.parametrize("place", [IN, OUT])
@pytest.mark.parametrize("persona", [*PERSONAS])
def test_an_ogc_incident_item_is_served_only_in_scope(app, client, persona, place):
    _, _, world = app
    incident = world.reload(world.incidents[place].id)
    response = world.call(client, "GET", f"/ogc/collections/incidents/items/{incident.id}", persona)
    if role_of(persona) not in GUARDED_BLUEPRINTS["ogc"]:
        assert response.status_code == 403
    elif sees(world.users[persona], incident):
        assert response.status_code == 200
    else:
        assert response.status_code == 404 and incident.code not in response.get_data(as_text=True)


# --- Open311: only published services, only public fields; its keys are their own kind -----------------


def _open311_codes(response: Any) -> set[str]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return {row["service_request_id"] for row in response.get_json()}


def test_open311_reads_show_only_published_requests_and_no_caller_data(app, client):
    _, _, world = app
    listing = client.get("/open311/v2/requests.json")
    shown = _open311_codes(listing)
    by_code = {i.code: i for i in world.all_incidents()}
    hidden = sorted(code for code in shown if not reportable(by_code[code].category_code) or by_code[code].exercise)
    assert not hidden, f"Open311 shows internal or exercise requests: {hidden}"
    assert world.incidents["hotline"].code in shown and world.incidents[OUT].code in shown
    for name, published in (("hotline", True), (OUT, True), (IN, False), ("exercise", False)):
        status = client.get(f"/open311/v2/requests/{world.incidents[name].code}.json").status_code
        assert status == (200 if published else 404), name
    text = listing.get_data(as_text=True) + client.get(
        f"/open311/v2/requests/{world.incidents['hotline'].code}.json").get_data(as_text=True)
    for secret in ("Matrix Caller", "13800001111", "0001111", "matrix internal text", "matrix hotline"):
        assert secret not in text, secret


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.roles is not None],
                         ids=lambda op: f"{op.method} {op.rule}")
def test_an_open311_key_opens_no_api_route(app, client, op):
    _, _, world = app
    path = PREFIX + re.sub(r"<(int:)?[^<>]+>", lambda m: "999999" if m.group(1) else "x", op.rule)
    response = client.open(path, method=op.method, headers={"Authorization": f"Bearer {world.open311_key}"}, json={})
    assert response.status_code == 401


# --- callbacks that show incidents ---------------------------------------------------------------------

#: Callbacks that take an incident (by id) or list incidents: (page, an output they write, the input that
#: carries the incident id and how its value is built — None for a list).
INCIDENT_CALLBACKS: dict[str, tuple[str, str, str | None, Callable[[int], Any] | None]] = {
    "bigscreen detail": ("bigscreen", f"{ids.BIGSCREEN_DETAIL}.children", f"{ids.BIGSCREEN_SELECTED}.data",
                         lambda i: {"kind": "incident", "id": i}),
    "console detail": ("console", f"{ids.CONSOLE_DETAIL}.children", f"{ids.CONSOLE_SELECTED}.data", lambda i: i),
    "console queue": ("console", f"{ids.CONSOLE_QUEUE}.children", None, None),
    "worker tasks": ("worker", f"{ids.WORKER_TASKS}.children", None, None),
}


def shown(incident: Incident, text: str) -> bool:
    """True when a callback's answer names ``incident``: its code, or its title as a whole string."""
    return incident.code in text or f'"{incident.title}"' in text


def _callback_key(dash_app: Any, output: str) -> str:
    for key in dash_app.callback_map:
        if output in key.strip(".").split("...") or key.split("@")[0] == output:
            return key
    raise AssertionError(f"no callback writes {output}: update INCIDENT_CALLBACKS")


def _entries(specs: list[dict[str, Any]], value_of: dict[str, Any]) -> list[Any]:
    entries: list[Any] = []
    for spec in specs:
        if isinstance(spec["id"], str) and spec["id"].startswith("{"):
            entries.append([])  # a pattern-matching input with no matches
            continue
        entries.append({"id": spec["id"], "property": spec["property"],
                        "value": value_of.get(f"{spec['id']}.{spec['property']}")})
    return entries


def _outputs(key: str) -> Any:
    """The ``outputs`` of a callback request, from Dash's callback key (a pattern-matching output: no match)."""
    outputs = [[] if _wildcard(o["id"]) else o for o in _outputs_of(key)]
    return outputs if len(outputs) > 1 else outputs[0]


def _request(key: str, spec: dict[str, Any], values: dict[str, Any], changed: list[str]) -> dict[str, Any]:
    return {"output": key, "outputs": _outputs(key), "inputs": _entries(spec.get("inputs", []), values),
            "state": _entries(spec.get("state", []), values), "changedPropIds": changed}


@pytest.fixture(scope="module")
def browsers(app: tuple[Any, Any, World]) -> dict[str, Any]:
    """A signed-in browser (session cookie) per persona."""
    server, _, world = app
    signed_in = {}
    for persona, user in world.users.items():
        browser = server.test_client()
        response = browser.post("/login", data={"username": user.username, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        signed_in[persona] = browser
    return signed_in


@pytest.mark.parametrize("persona", [*PERSONAS])
@pytest.mark.parametrize("name", [*INCIDENT_CALLBACKS])
def test_callbacks_show_only_incidents_in_scope(app, browsers, name, persona):
    _, dash_app, world = app
    page, output, id_input, value = INCIDENT_CALLBACKS[name]
    key = _callback_key(dash_app, output)
    spec = dash_app.callback_map[key]
    user = world.users[persona]

    def answer(incident: Incident | None) -> Any:
        values = {id_input: value(incident.id)} if id_input and value and incident else {}
        body = _request(key, spec, values, [id_input] if id_input else [])
        return browsers[persona].post("/_dash-update-component", json=body)

    if role_of(persona) not in PAGE_ROLES[page]:
        assert answer(world.incidents[IN]).status_code == 403
        return
    places = (IN, OUT) if id_input else (None,)
    for place in places:
        response = answer(world.incidents[place] if place else None)
        assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
        text = response.get_data(as_text=True)
        for incident in world.all_incidents():
            if place is not None and incident.id != world.incidents[place].id:
                continue
            shows = shown(incident, text)
            if not sees(user, incident):
                assert not shows, f"{name} shows {persona} {incident.code} ({incident.title}) outside their scope"
        if place == IN:
            assert shown(world.incidents[IN], text), f"{name} shows nothing"


@pytest.mark.parametrize("persona", [p for p in PERSONAS if read_scope(role_of(p)) is not Scope.ALL or p in TIER_AREAS])
def test_no_callback_shows_a_narrowly_scoped_user_an_incident_outside_their_scope(app, browsers, persona):
    """Every server-side callback of the pages the role may use, called as on a fresh page: no answer names an
    incident the user does not see (a new callback that lists incidents is held to the rule too)."""
    _, dash_app, world = app
    user = world.users[persona]
    hidden = [i for i in world.all_incidents() if not sees(user, i)]
    assert hidden
    called = 0
    for key, spec in dash_app.callback_map.items():
        if "callback" not in spec or key.startswith(".._pages_content"):
            continue
        response = browsers[persona].post("/_dash-update-component", json=_request(key, spec, {}, []))
        if response.status_code == 403:
            continue  # a page the role may not use (test_authorization_matrix checks which)
        called += 1
        text = response.get_data(as_text=True)
        named = [i.code for i in hidden if shown(i, text)]
        assert not named, f"{key} shows {persona} incidents outside their scope: {named}"
    assert called >= 5
