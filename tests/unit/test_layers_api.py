"""GET /api/v1/layers/{kind}?bbox=: WGS-84 GeoJSON FeatureCollections, bounded by a limit, for the
roles that see the big-screen map; a bad bbox is a 422."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import api.layers  # declares the layer routes
import api.v1  # noqa: F401  (declares /api/v1/incidents, whose scope the layers follow)
from api.auth import init_auth
from api.errors import register_error_handlers
from api.registry import api_v1, openapi_document
from data.accounts import issue_token, user_by_name
from data.db import Database
from data.models import Alert, Category, Department, Grid, Incident, Sensor, utcnow
from tests.unit.city_copies import city_copy, seeded_template


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = seeded_template(tmp_path_factory.mktemp("layers"), seed=5)
    db = Database(f"sqlite:///{path}")
    with db.uow() as s:
        grid = s.scalars(select(Grid).order_by(Grid.id)).first()
        sensor = s.scalars(select(Sensor).order_by(Sensor.id)).first()
        category = s.scalars(select(Category)).first()
        lon, lat = (grid.minx + grid.maxx) / 2, (grid.miny + grid.maxy) / 2
        now = utcnow()
        s.add_all([
            Incident(code="E-OPEN", state="dispatched", category_code=category.code, source="operator", title="open",
                     lon=lon, lat=lat, grid_id=grid.id, reported_at=now, card="yellow"),
            Incident(code="E-CLOSED", state="closed", category_code=category.code, source="operator", title="done",
                     lon=lon, lat=lat, grid_id=grid.id, reported_at=now, closed_at=now),
            Alert(rule_id="r1", sensor_id=sensor.id, state="firing", level="orange", value=1.0, started_at=now,
                  fired_at=now),
            Alert(rule_id="r2", sensor_id=sensor.id, state="firing", level="red", value=2.0, started_at=now,
                  fired_at=now),
        ])
    db.dispose()
    return path


@pytest.fixture
def city(template, tmp_path):
    yield from city_copy(template, tmp_path)


def api_client(db: Database) -> FlaskClient:
    """A test client of the HTTP API alone (auth, error handlers, /api/v1) on ``db``."""
    server = Flask(__name__)
    server.secret_key = "test"
    init_auth(server, db)
    register_error_handlers(server)
    server.register_blueprint(api_v1)
    return server.test_client()


@pytest.fixture
def get(city):
    client = api_client(city)
    with city.uow() as s:
        tokens = {name: issue_token(s, user_by_name(s, name)) for name in ("operator", "worker", "handler")}

    def request(path: str, user: str | None = "operator"):
        headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        return client.get(path, headers=headers)

    return request


def first_grid(city) -> Grid:
    with city.uow() as s:
        return s.scalars(select(Grid).order_by(Grid.id)).first()


def test_doorplates_in_a_bbox_are_points_inside_it_without_personal_data(get, city):
    grid = first_grid(city)
    bbox = (grid.minx, grid.miny, grid.maxx, grid.maxy)
    response = get("/api/v1/layers/doorplates?bbox=" + ",".join(map(str, bbox)))
    assert response.status_code == 200
    body = response.get_json()
    assert body["type"] == "FeatureCollection" and body["features"] and not body["truncated"]
    for feature in body["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert feature["geometry"]["type"] == "Point"
        assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]
        assert {"code", "address", "grid_code", "households"} <= feature["properties"].keys()
        assert not {"contact_name", "contact_phone"} & feature["properties"].keys()


def test_a_city_wide_request_is_bounded_by_the_limit(get):
    body = get("/api/v1/layers/doorplates?limit=5").get_json()
    assert body["numberReturned"] == 5 and body["truncated"] is True and body["limit"] == 5
    assert get("/api/v1/layers/doorplates").get_json()["numberReturned"] == 2000  # the default limit


@pytest.mark.parametrize("query", ["bbox=1,2,3", "bbox=a,b,c,d", "bbox=117.1,36,117.0,37", "bbox=0,0,200,10",
                                   "bbox=1,2,3,nan", "limit=0", "limit=10001", "limit=x"])
def test_bad_bbox_or_limit_is_a_422(get, query):
    response = get(f"/api/v1/layers/cameras?{query}")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] in ("invalid_bbox", "invalid_parameter")


def test_grids_are_polygons_with_their_open_incidents_and_cards(get, city):
    grid = first_grid(city)
    body = get(f"/api/v1/layers/grids?bbox={grid.minx},{grid.miny},{grid.maxx},{grid.maxy}").get_json()
    by_code = {f["properties"]["code"]: f for f in body["features"]}
    assert by_code[grid.code]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert by_code[grid.code]["properties"]["open_incidents"] == 1
    assert by_code[grid.code]["properties"]["cards"] == 1


def test_incidents_are_open_ones_unless_a_state_is_asked(get):
    codes = {f["properties"]["code"] for f in get("/api/v1/layers/incidents").get_json()["features"]}
    assert codes == {"E-OPEN"}
    closed = get("/api/v1/layers/incidents?state=closed").get_json()["features"]
    assert [f["properties"]["code"] for f in closed] == ["E-CLOSED"]
    assert get("/api/v1/layers/incidents?state=lost").status_code == 422


def test_alerts_and_sensors_carry_the_alert_level(get):
    alerts = get("/api/v1/layers/alerts").get_json()["features"]
    assert sorted(f["properties"]["level"] for f in alerts) == ["orange", "red"]
    sensors = get("/api/v1/layers/sensors?limit=10000").get_json()["features"]
    levels = {f["properties"]["id"]: f["properties"]["alert_level"] for f in sensors}
    assert levels[alerts[0]["properties"]["sensor_id"]] == "red"  # the most severe firing alert
    assert sum(1 for v in levels.values() if v) == 1


def test_cameras_list_their_platform_status_and_algorithms(get):
    feature = get("/api/v1/layers/cameras?limit=1").get_json()["features"][0]
    assert {"code", "name", "platform", "type", "status", "algorithms", "stream_url"} <= feature["properties"].keys()
    assert isinstance(feature["properties"]["algorithms"], list)


def test_roles_anonymous_401_worker_403_handler_allowed(get):
    assert get("/api/v1/layers/sensors", user=None).status_code == 401
    assert get("/api/v1/layers/sensors", user="worker").status_code == 403
    assert get("/api/v1/layers/sensors", user="handler").status_code == 200


def test_the_layer_routes_are_in_the_openapi_document():
    paths = openapi_document()["paths"]
    for kind in ("doorplates", "grids", "cameras", "sensors", "incidents", "alerts"):
        operation = paths[f"/api/v1/layers/{kind}"]["get"]
        assert "worker" not in operation["description"]
        assert {p["name"] for p in operation["parameters"]} >= {"bbox", "limit"}


def test_a_handler_gets_only_their_departments_incidents_as_in_the_incidents_api(get, city):
    with city.uow() as s:
        own = user_by_name(s, "handler").department_id
        other = s.scalars(select(Department.id).where(Department.id != own)).first()
        grid = s.scalars(select(Grid).order_by(Grid.id)).first()
        category = s.scalars(select(Category)).first()
        for code, department in (("H-OWN", own), ("H-OTHER", other)):
            s.add(Incident(code=code, state="dispatched", category_code=category.code, source="hotline",
                           title=f"{code} 某小区门口", address="某路1号", lon=(grid.minx + grid.maxx) / 2,
                           lat=(grid.miny + grid.maxy) / 2, grid_id=grid.id, department_id=department,
                           reported_at=utcnow()))
    assert own is not None
    codes = {f["properties"]["code"] for f in get("/api/v1/layers/incidents", user="handler").get_json()["features"]}
    assert codes == {"H-OWN"}
    listed = {i["code"] for i in get("/api/v1/incidents?limit=100", user="handler").get_json()}
    assert codes == listed  # one scope rule for both
    everyone = get("/api/v1/layers/incidents").get_json()["features"]  # the operator sees the whole city
    assert {"H-OWN", "H-OTHER", "E-OPEN"} <= {f["properties"]["code"] for f in everyone}
