"""OGC API – Features under /ogc: every answer validates against the OGC Part 1 schemas (tests/data/ogc),
paging by ``next`` links reads a whole collection exactly once, ``bbox`` selects what lies inside, doorplates
carry no personal data, incidents are open ones in the caller's scope, bad input is a 4xx OGC exception."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from sqlalchemy import func, select

from api.auth import init_auth
from api.errors import register_error_handlers
from api.ogc import COLLECTIONS, CONFORMANCE, MAX_LIMIT, ogc_bp
from api.registry import api_v1
from data.accounts import issue_token, user_by_name
from data.db import Database
from data.models import Area, Category, Department, Doorplate, Grid, Incident, Sensor, utcnow
from data.models import Resource as Resource_
from tests.unit.city_copies import city_copy, seeded_template

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "ogc"
REGISTRY = Registry().with_resources(
    (path.name, Resource.from_contents(json.loads(path.read_text()))) for path in SCHEMAS.glob("*.json"))
CONTRACT_IDS = ["areas", "grids", "doorplates", "cameras", "sensors", "key-places", "resources", "incidents"]


def assert_valid(body: object, schema: str) -> None:
    validator = Draft202012Validator({"$ref": schema}, registry=REGISTRY,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, f"{schema}: {errors[0].message} at {list(errors[0].absolute_path)}"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = seeded_template(tmp_path_factory.mktemp("ogc"), seed=7)
    db = Database(f"sqlite:///{path}")
    with db.uow() as s:
        handler = user_by_name(s, "handler")
        other = s.scalars(select(Department).where(Department.id != handler.department_id)).first()
        grid = s.scalars(select(Grid).order_by(Grid.id)).first()
        category = s.scalars(select(Category)).first()
        lon, lat, now = (grid.minx + grid.maxx) / 2, (grid.miny + grid.maxy) / 2, utcnow()

        def incident(code: str, state: str, department: int) -> Incident:
            return Incident(code=code, state=state, category_code=category.code, source="operator",
                            title="secret title", caller_phone="13900000000", lon=lon, lat=lat, grid_id=grid.id,
                            department_id=department, reported_at=now)

        s.add_all([incident("O-MINE", "dispatched", handler.department_id),
                   incident("O-OTHER", "dispatched", other.id),
                   incident("O-CLOSED", "closed", handler.department_id)])
        s.execute(Doorplate.__table__.update().values(contact_name="张小三", contact_phone="13812345678"))
    db.dispose()
    return path


@pytest.fixture
def city(template, tmp_path):
    yield from city_copy(template, tmp_path)


@pytest.fixture
def get(city):
    server = Flask(__name__)
    server.secret_key = "test"
    init_auth(server, city)
    register_error_handlers(server)
    server.register_blueprint(api_v1)
    server.register_blueprint(ogc_bp)
    client = server.test_client()
    with city.uow() as s:
        tokens = {name: issue_token(s, user_by_name(s, name)) for name in ("operator", "handler", "worker")}

    def request(path: str, user: str | None = "operator", **headers: str):
        if user:
            headers["Authorization"] = f"Bearer {tokens[user]}"
        return client.get(path, headers=headers)

    return request


def local(url: str) -> str:
    """A link's href as a path for the test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def rels(body: dict) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in body["links"]}


def test_landing_page_and_conformance_follow_the_schemas(get):
    landing = get("/ogc")
    assert landing.status_code == 200 and landing.mimetype == "application/json"
    assert_valid(landing.json, "landingPage.json")
    links = rels(landing.json)
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    definition = get(local(links["service-desc"]))
    assert definition.mimetype == "application/vnd.oai.openapi+json"
    validate_openapi(definition.json)  # a valid OpenAPI 3.0 document (the oas30 conformance class)
    assert definition.json["openapi"].startswith("3.0.")
    assert "/collections/{collectionId}/items" in definition.json["paths"]
    conformance = get(local(links["conformance"]))
    assert_valid(conformance.json, "confClasses.json")
    assert set(conformance.json["conformsTo"]) == set(CONFORMANCE)
    assert any(c.endswith("/conf/core") for c in CONFORMANCE) and any(c.endswith("/conf/geojson") for c in CONFORMANCE)


def test_collections_are_the_contract_ids_with_extents_from_the_data(get, city):
    body = get("/ogc/collections?f=json").json
    assert_valid(body, "collections.json")
    assert [c["id"] for c in body["collections"]] == CONTRACT_IDS
    by_id = {c["id"]: c for c in body["collections"]}
    with city.uow() as s:
        box = s.execute(select(func.min(Doorplate.lon), func.min(Doorplate.lat), func.max(Doorplate.lon),
                               func.max(Doorplate.lat))).one()
        grid_box = s.execute(select(func.min(Grid.minx), func.min(Grid.miny), func.max(Grid.maxx),
                                    func.max(Grid.maxy))).one()
    crs84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert by_id["doorplates"]["extent"]["spatial"] == {"bbox": [list(box)], "crs": crs84}
    assert by_id["grids"]["extent"]["spatial"]["bbox"] == [list(grid_box)]
    assert "extent" not in by_id["resources"]  # no table yet: an empty collection without extent
    one = get("/ogc/collections/doorplates")
    assert_valid(one.json, "collection.json")
    assert one.json == by_id["doorplates"]
    assert get(local(rels(one.json)["items"])).status_code == 200


@pytest.mark.parametrize("collection_id", CONTRACT_IDS)
def test_every_collection_pages_through_all_its_features_once(get, city, collection_id):
    page = get(f"/ogc/collections/{collection_id}/items?limit=7")
    assert page.status_code == 200 and page.mimetype == "application/geo+json"
    matched = page.json["numberMatched"]
    seen: list = []
    while True:
        assert_valid(page.json, "featureCollectionGeoJSON.json")
        assert page.json["numberReturned"] == len(page.json["features"]) <= 7
        assert page.json["numberMatched"] == matched
        seen += [f["id"] for f in page.json["features"]]
        following = rels(page.json).get("next")
        if following is None:
            break
        page = get(local(following))
    assert len(seen) == len(set(seen)) == matched
    model = COLLECTIONS[collection_id].model
    if model is not None and collection_id != "incidents":
        with city.uow() as s:
            assert sorted(seen) == sorted(s.scalars(select(model.id)))


def test_offset_links_and_keyset_links_give_the_same_pages(get):
    first = get("/ogc/collections/doorplates/items?limit=5").json
    following = get(local(rels(first)["next"])).json
    assert parse_qs(urlsplit(rels(first)["next"]).query)["offset"] == ["5"]
    by_offset = get("/ogc/collections/doorplates/items?limit=5&offset=5").json
    assert [f["id"] for f in following["features"]] == [f["id"] for f in by_offset["features"]]
    assert local(rels(by_offset)["prev"]).endswith("limit=5")


def test_limit_defaults_to_10_and_a_larger_limit_than_allowed_is_the_maximum(get):
    assert get("/ogc/collections/doorplates/items").json["numberReturned"] == 10
    for huge in (MAX_LIMIT * 5, "9" * 5000):
        body = get(f"/ogc/collections/doorplates/items?limit={huge}").json
        assert parse_qs(urlsplit(rels(body)["self"]).query)["limit"] == [str(MAX_LIMIT)]
        assert body["numberReturned"] == min(MAX_LIMIT, body["numberMatched"])
    assert get("/ogc/collections/doorplates/items?limit=007").json["numberReturned"] == 7


def test_bbox_selects_the_points_inside_it(get, city):
    with city.uow() as s:
        grid = s.scalars(select(Grid).order_by(Grid.id)).first()
        box = (grid.minx, grid.miny, grid.maxx, grid.maxy)
        inside = s.scalar(select(func.count()).select_from(Doorplate).where(
            Doorplate.lon >= box[0], Doorplate.lat >= box[1], Doorplate.lon <= box[2], Doorplate.lat <= box[3]))
    bbox = ",".join(map(str, box))
    body = get(f"/ogc/collections/doorplates/items?bbox={bbox}&limit=10000").json
    assert 0 < body["numberMatched"] == inside == body["numberReturned"]
    assert all(box[0] <= f["geometry"]["coordinates"][0] <= box[2] + 1e-6 for f in body["features"])
    assert parse_qs(urlsplit(rels(body)["self"]).query)["bbox"] == [bbox]
    with_heights = get(f"/ogc/collections/doorplates/items?bbox={box[0]},{box[1]},0,{box[2]},{box[3]},100&limit=1")
    assert with_heights.json["numberMatched"] == inside


def test_bbox_selects_polygons_whose_bounds_meet_it(get, city):
    with city.uow() as s:
        grid = s.scalars(select(Grid).order_by(Grid.id)).first()
        total = s.scalar(select(func.count()).select_from(Grid))
    bbox = f"{grid.minx + 1e-7},{grid.miny + 1e-7},{grid.minx + 2e-7},{grid.miny + 2e-7}"
    body = get(f"/ogc/collections/grids/items?bbox={bbox}&limit=100").json
    assert grid.code in {f["properties"]["code"] for f in body["features"]}
    assert 0 < body["numberMatched"] < total
    assert body["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_doorplates_carry_no_personal_data(get):
    response = get("/ogc/collections/doorplates/items?limit=50")
    assert set(response.json["features"][0]["properties"]) == {"code", "address", "grid_code"}
    assert "13812345678" not in response.text and "张小三" not in response.text


def test_incidents_are_open_ones_in_the_callers_scope_with_public_fields(get):
    codes = {f["properties"]["code"] for f in get("/ogc/collections/incidents/items?limit=1000").json["features"]}
    assert {"O-MINE", "O-OTHER"} <= codes and "O-CLOSED" not in codes
    handler = get("/ogc/collections/incidents/items?limit=1000", user="handler").json
    assert {f["properties"]["code"] for f in handler["features"]} == {"O-MINE"}
    assert handler["numberMatched"] == 1
    assert "secret title" not in json.dumps(handler) and "13900000000" not in json.dumps(handler)
    other = next(f["id"] for f in get("/ogc/collections/incidents/items?limit=1000").json["features"]
                 if f["properties"]["code"] == "O-OTHER")
    assert get(f"/ogc/collections/incidents/items/{other}", user="handler").status_code == 404


def test_a_single_item_is_the_feature_of_the_list(get, city):
    listed = get("/ogc/collections/cameras/items?limit=1").json["features"][0]
    one = get(f"/ogc/collections/cameras/items/{listed['id']}")
    assert one.status_code == 200 and one.mimetype == "application/geo+json"
    assert_valid(one.json, "featureGeoJSON.json")
    same = ("id", "geometry", "properties")
    assert {k: one.json[k] for k in same} == {k: listed[k] for k in same}
    with city.uow() as s:
        sensor = s.scalars(select(Sensor).order_by(Sensor.id)).first()
        area = s.scalars(select(Area).where(Area.parent_id.is_not(None))).first()
        parent = s.get(Area, area.parent_id).code
    assert get(f"/ogc/collections/sensors/items/{sensor.id}").json["properties"]["name"] == sensor.name
    assert get(f"/ogc/collections/areas/items/{area.id}").json["properties"]["parent_code"] == parent


@pytest.mark.parametrize(("path", "status"), [
    ("/ogc/collections/doorplates/items?limit=abc", 400),
    ("/ogc/collections/doorplates/items?limit=0", 400),
    ("/ogc/collections/doorplates/items?limit=-5", 400),
    ("/ogc/collections/doorplates/items?limit=%C2%B2", 400),  # "²" is a digit to str.isdigit, not to int()
    ("/ogc/collections/doorplates/items?offset=%C2%B2", 400),
    ("/ogc/collections/doorplates/items?offset=99999999999999999999999", 400),
    ("/ogc/collections/doorplates/items?offset=x", 400),
    ("/ogc/collections/doorplates/items?after=x", 400),
    ("/ogc/collections/doorplates/items?bbox=1,2,3", 400),
    ("/ogc/collections/doorplates/items?bbox=a,b,c,d", 400),
    ("/ogc/collections/doorplates/items?bbox=117,37,116,36", 400),
    ("/ogc/collections/doorplates/items?bbox=", 400),
    ("/ogc/collections/doorplates/items?bbox=nan,1,2,3", 400),
    ("/ogc/collections/doorplates/items?color=red", 400),
    ("/ogc/collections?f=html", 400),
    ("/ogc/collections/parks", 404),
    ("/ogc/collections/parks/items", 404),
    ("/ogc/collections/doorplates/items/99999999", 404),
    ("/ogc/collections/doorplates/items/abc", 404),
    ("/ogc/collections/doorplates/items/%C2%B2", 404),
    ("/ogc/collections/doorplates/items/99999999999999999999999", 404),
    ("/ogc/collections/resources/items/1", 404),
    ("/ogc/collections/sensors/items/NO-SUCH", 404),
    ("/ogc/nothing/here", 404),
])
def test_bad_requests_are_ogc_exceptions(get, path, status):
    response = get(path)
    assert response.status_code == status, response.text
    assert response.mimetype == "application/json"
    assert_valid(response.json, "exception.json")
    assert response.json["description"]


def test_accept_header_is_respected(get):
    assert get("/ogc", Accept="application/json").status_code == 200
    assert get("/ogc/collections/grids/items", Accept="application/geo+json").status_code == 200
    refused = get("/ogc/collections", Accept="text/html")
    assert refused.status_code == 406
    assert_valid(refused.json, "exception.json")


def test_bearer_auth_as_the_api(get):
    anonymous = get("/ogc/collections/doorplates/items", user=None)
    assert anonymous.status_code == 401 and anonymous.json["code"] == "Unauthorized"  # not a sign-in redirect
    assert get("/ogc", user=None).status_code == 401
    assert get("/ogc/collections", user="worker").status_code == 403  # as the layers API: no city-wide layers


def test_resources_are_served_from_the_resources_table_without_contacts(get, city):
    with city.uow() as s:
        s.add(Resource_(code="R-TEAM-1", name="排涝抢险队", kind="rescue_team", capacity=30, status="available",
                        contact_name="李四", contact_phone="13700000000", lon=118.0, lat=30.0))
    body = get("/ogc/collections/resources/items?bbox=117.9,29.9,118.1,30.1").json
    assert_valid(body, "featureCollectionGeoJSON.json")
    assert [f["properties"]["code"] for f in body["features"]] == ["R-TEAM-1"]
    props = body["features"][0]["properties"]
    assert props["capacity"] == 30 and props["kind"] == "rescue_team"
    assert "contact_name" not in props and "contact_phone" not in props
    assert body["features"][0]["geometry"] == {"type": "Point", "coordinates": [118.0, 30.0]}
