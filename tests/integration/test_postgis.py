"""PostGIS on the real PostgreSQL 15 (migration 0007, data/spatial.py): the generated geometry columns and
their GiST indexes exist, the bbox layer query is answered by the GiST index, and the layers API and the
point → grid lookup give the same answers with ``CITYOPS_POSTGIS`` on and off — boundary points and bbox
edges included. On SQLite the migration does nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import shapely
from alembic import command
from sqlalchemy import create_engine, event, insert, inspect, text

import api.layers  # noqa: F401  (declares the layer routes)
from data import layers, spatial
from data.accounts import create_user, issue_token, user_by_name
from data.db import Database, alembic_config
from data.models import Alert, Area, Camera, Category, Department, Doorplate, Grid, Incident, Sensor, VideoPlatform
from data.models import utcnow as now
from dispatch import routing
from tests.integration.conftest import PG_URL, psycopg_url
from tests.unit.test_layers_api import api_client
from tests.unit.test_migrations import schema_drift

pytestmark = pytest.mark.integration

# Four grids, in id order: two squares side by side (shared edge lon 117.01), and above them a square cut
# along its diagonal into an upper triangle (inserted first: the lower id) and a lower one.
SQUARE_W = shapely.box(117.00, 36.60, 117.01, 36.61)
SQUARE_E = shapely.box(117.01, 36.60, 117.02, 36.61)
UPPER = shapely.Polygon([(117.00, 36.61), (117.02, 36.62), (117.00, 36.62)])
LOWER = shapely.Polygon([(117.00, 36.61), (117.02, 36.61), (117.02, 36.62)])
GRIDS = {"W": SQUARE_W, "E": SQUARE_E, "UP": UPPER, "LO": LOWER}
BBOX = (117.005, 36.605, 117.015, 36.615)


def _shape(geom: shapely.Geometry) -> dict:
    minx, miny, maxx, maxy = geom.bounds
    return {"geom": shapely.to_wkb(geom), "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


@pytest.fixture
def gis_db(pg_db: Database) -> Database:
    """``pg_db`` where PostGIS is installed (skipped where the server has no postgis extension)."""
    with pg_db.uow() as s:
        if not s.scalar(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")):
            pytest.skip("PostgreSQL without the postgis extension (scripts/services installs it)")
    return pg_db


@contextmanager
def postgis(monkeypatch: pytest.MonkeyPatch, on: bool) -> Iterator[None]:
    with monkeypatch.context() as m:
        m.setenv(spatial.SWITCH, "1" if on else "0")
        yield


@contextmanager
def statements(database: Database) -> Iterator[list[tuple[str, object]]]:
    """The SQL statements (with their parameters) the engine runs inside the block."""
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def edge_points() -> list[tuple[float, float]]:
    """Points on BBOX's edges and corners, one step of a double inside and outside them, and inside."""
    west, south, east, north = BBOX
    mid_lon, mid_lat = (west + east) / 2, (south + north) / 2
    points = [(west, south), (east, north), (west, north), (east, south), (mid_lon, mid_lat)]
    for lon in (west, east):
        points += [(lon, mid_lat), (np.nextafter(lon, -np.inf), mid_lat), (np.nextafter(lon, np.inf), mid_lat)]
    for lat in (south, north):
        points += [(mid_lon, lat), (mid_lon, np.nextafter(lat, -np.inf)), (mid_lon, np.nextafter(lat, np.inf))]
    return [(float(x), float(y)) for x, y in points]


def build_city(database: Database) -> dict[str, int]:
    """The four grids, and a doorplate, camera, sensor (with a firing alert) and open incident at every
    edge point; returns grid code → id."""
    with database.uow() as s:
        city = Area(code="C", name="C", level="city", **_shape(shapely.box(116.99, 36.59, 117.03, 36.63)))
        s.add(city)
        s.flush()
        ids = {}
        for code, geom in GRIDS.items():
            grid = Grid(code=code, name=code, community_id=city.id, **_shape(geom))
            s.add(grid)
            s.flush()
            ids[code] = grid.id
        s.add(Department(id=1, code="d", name_zh="d", name_en="d"))
        s.add(Category(code="X1", name_zh="x", name_en="x", kind="event", department_id=1, handle_hours=1,
                       close_hours=2))
        s.add(VideoPlatform(id=1, code="P", name="P"))
        s.flush()
        for n, (lon, lat) in enumerate(edge_points()):
            s.add_all([
                Doorplate(code=f"D{n}", address=f"a{n}", lon=lon, lat=lat, households=1),
                Camera(code=f"K{n}", name=f"k{n}", platform_id=1, type="fixed", lon=lon, lat=lat),
                Sensor(id=f"S{n}", kind="gas", family="gas", name=f"s{n}", unit="MPa", lon=lon, lat=lat),
                Incident(code=f"I{n}", state="filed", category_code="X1", source="patrol", title="t", lon=lon,
                         lat=lat, reported_at=now()),
            ])
        s.flush()
        s.add_all([Alert(rule_id="r", sensor_id=f"S{n}", state="firing", level="red", started_at=now())
                   for n in range(len(edge_points()))])
        create_user(s, "op", "operator")
    return ids


def test_the_geometry_columns_and_their_gist_indexes_exist_and_follow_the_rows(gis_db):
    inspector = inspect(gis_db.engine)
    for table, column in spatial.spatial_columns().items():
        assert column in {c["name"] for c in inspector.get_columns(table)}, table
    with gis_db.uow() as s:
        gist = dict(s.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexdef LIKE '%gist%'"
        )).all())
        assert spatial.available(s)
    assert set(gist) == {spatial.index_name(t) for t in spatial.spatial_columns()} | spatial.EXPRESSION_INDEXES
    for table, column in spatial.spatial_columns().items():
        assert gist[spatial.index_name(table)].endswith(f"USING gist ({column})")
    build_city(gis_db)
    with gis_db.uow() as s:  # generated from the row itself: nothing else writes them
        assert s.scalar(text("SELECT bool_and(ST_X(pt_4326) = lon AND ST_Y(pt_4326) = lat) FROM doorplates")) is True
        assert s.scalar(text("SELECT ST_Equals(geom_4326, ST_GeomFromText(:wkt, 4326)) FROM grids WHERE code = 'LO'"),
                        {"wkt": LOWER.wkt}) is True
        assert s.scalar(text("SELECT ST_SRID(geom_4326) FROM grids WHERE code = 'LO'")) == 4326
        s.execute(text("UPDATE doorplates SET lon = 117.5 WHERE code = 'D4'"))
        assert s.scalar(text("SELECT ST_X(pt_4326) FROM doorplates WHERE code = 'D4'")) == 117.5
        s.add(Incident(code="NOWHERE", state="filed", category_code="X1", source="patrol", title="t",
                       reported_at=now()))
        s.flush()
        assert s.scalar(text("SELECT pt_4326 IS NULL FROM incidents WHERE code = 'NOWHERE'")) is True


def test_the_bbox_layer_query_uses_the_gist_index(gis_db, monkeypatch):
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(116.9, 117.1, 20_000), rng.uniform(36.6, 36.75, 20_000)
    with gis_db.engine.begin() as conn:
        conn.execute(insert(Doorplate), [{"code": f"R{i}", "address": "a", "lon": x, "lat": y}
                                         for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True))])
        conn.execute(text("ANALYZE doorplates"))
    bbox = (117.0, 36.65, 117.01, 36.66)
    expected = {i for i, (x, y) in enumerate(zip(lon, lat, strict=True))
                if bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]}
    plans, codes = {}, {}
    for on in (True, False):
        with postgis(monkeypatch, on), gis_db.uow() as s, statements(gis_db) as seen:
            codes[on] = {f["properties"]["code"] for f in layers.doorplate_features(s, bbox, 2_001)}
        query = next((q, p) for q, p in seen if "FROM doorplates" in q)
        with gis_db.engine.connect() as conn:
            plans[on] = "\n".join(conn.exec_driver_sql("EXPLAIN " + query[0], query[1]).scalars())
    assert codes[True] == codes[False] == {f"R{i}" for i in expected} and len(expected) > 20
    assert spatial.index_name("doorplates") in plans[True], plans[True]
    assert spatial.index_name("doorplates") not in plans[False], plans[False]


def test_the_layers_api_answers_the_same_with_and_without_postgis(gis_db, monkeypatch):
    build_city(gis_db)
    client = api_client(gis_db)
    with gis_db.uow() as s:
        token = issue_token(s, user_by_name(s, "op"))
    west, south, east, north = BBOX
    boxes = [",".join(map(repr, BBOX)),
             "117.02,36.6,117.03,36.605",  # touches the east square's east edge only
             f"{float(np.nextafter(117.02, np.inf))!r},36.6,117.03,36.605"]  # one step of a double east of it
    answers = {}
    for on in (True, False):
        with postgis(monkeypatch, on), statements(gis_db) as seen:
            for kind in ("doorplates", "cameras", "sensors", "incidents", "alerts", "grids"):
                for bbox in boxes:
                    response = client.get(f"/api/v1/layers/{kind}?bbox={bbox}",
                                          headers={"Authorization": f"Bearer {token}"})
                    assert response.status_code == 200
                    answers[on, kind, bbox] = response.get_json()["features"]
        assert any("&&" in q for q, _ in seen) is on  # the PostGIS path is really the one taken
    assert all(answers[True, k, b] == answers[False, k, b] for _, k, b in answers)
    inside = {n for n, (x, y) in enumerate(edge_points()) if west <= x <= east and south <= y <= north}
    assert len(inside) == 13 == len(edge_points()) - 4  # all but the four points one step outside
    key = {"doorplates": "code", "cameras": "code", "sensors": "id", "incidents": "code", "alerts": "sensor_id"}
    for kind, field in key.items():
        found = {int(f["properties"][field][1:]) for f in answers[True, kind, boxes[0]]}
        assert found == inside, kind
        assert answers[True, kind, boxes[1]] == []
    assert sorted(f["properties"]["code"] for f in answers[True, "grids", boxes[0]]) == ["E", "LO", "UP", "W"]
    assert [f["properties"]["code"] for f in answers[True, "grids", boxes[1]]] == ["E"]
    assert answers[True, "grids", boxes[2]] == []


def test_the_grid_of_a_point_is_the_same_with_and_without_postgis(gis_db, monkeypatch):
    ids = build_city(gis_db)
    cases = {
        (117.005, 36.605): "W",
        (117.01, 36.605): "W",  # on the edge shared by W and E: the lower id
        (117.0, 36.605): "W",  # on the city's outer border: still in (intersects, not contains)
        (117.01, 36.61): "W",  # a corner of all four grids
        (117.015, 36.61): "E",  # on the edge between E and the lower triangle
        (117.01, 36.615): "UP",  # on the diagonal shared by the two triangles
        (117.019, 36.611): "LO",  # inside the upper triangle's box, but in the lower triangle
        (117.001, 36.619): "UP",
        (117.03, 36.605): None,
        (117.02, np.nextafter(36.62, np.inf)): None,  # one step of a double above a corner
    }
    rng = np.random.default_rng(3)
    t = rng.random(300)
    near_diagonal = [(117.0 + 0.02 * v, 36.61 + 0.01 * v + k * 1e-15) for v in t for k in (-1, 0, 1)]
    random = list(zip(rng.uniform(116.995, 117.025, 500), rng.uniform(36.595, 36.625, 500), strict=True))
    points = [*cases, *near_diagonal, *random]
    found = {}
    for on in (True, False):
        with postgis(monkeypatch, on), gis_db.uow() as s, statements(gis_db) as seen:
            routing.clear_cache()
            found[on] = [routing.grid_of_point(s, float(x), float(y)) for x, y in points]
        assert any("&&" in q for q, _ in seen) is on
    assert found[True] == found[False]
    assert found[True][:len(cases)] == [ids.get(code) for code in cases.values()]
    assert len(set(found[True])) == 5  # all four grids and None occur


def test_the_migration_adds_postgis_to_a_plain_database_and_removes_it_again(gis_db):
    name = f"cityops_gis_{uuid.uuid4().hex[:8]}"
    admin = create_engine(psycopg_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(psycopg_url(PG_URL).rsplit("/", 1)[0] + f"/{name}")
    try:
        database.migrate()  # no search_path set: the extension is created here, in public
        inspector = inspect(database.engine)
        assert "spatial_ref_sys" in inspector.get_table_names()  # the extension's table, not drift
        assert "pt_4326" in {c["name"] for c in inspector.get_columns("doorplates")}
        assert [d for d in schema_drift(database) if "spatial_ref_sys" in repr(d) or "_4326" in repr(d)] == []
        with database.uow() as s:
            assert spatial.available(s)
        with database.engine.begin() as conn:
            cfg = alembic_config(database.url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006")
        spatial.forget(database.engine)
        assert "pt_4326" not in {c["name"] for c in inspect(database.engine).get_columns("doorplates")}
        with database.uow() as s:
            assert not spatial.available(s)
        database.migrate()
        spatial.forget(database.engine)
        with database.uow() as s:
            assert spatial.available(s)
    finally:
        database.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_migration_does_nothing_on_sqlite(db):
    for table, column in spatial.spatial_columns().items():
        assert column not in {c["name"] for c in inspect(db.engine).get_columns(table)}
    with db.uow() as s:
        assert not spatial.available(s)
        assert layers.doorplate_features(s, BBOX, 10) == []
