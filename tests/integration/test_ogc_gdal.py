"""GDAL's OAPIF driver (through pyogrio) reads the /ogc collections of a small demo city from the real app
served over HTTP: every collection the contract names, every feature of each exactly once (compared with the
database), a ``bbox`` sent by GDAL, the incident scope of the token's user. On SQLite always; on PostgreSQL
(with PostGIS where installed) under the ``integration`` mark."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from data.accounts import user_by_name
from data.db import Database
from data.demo import seed_demo_city
from data.models import Area, Camera, Category, Department, Doorplate, Grid, Incident, KeyPlace, Sensor, utcnow
from tests.ogc_client import city_server, list_collections, read_collection, token_of
from tests.unit.city_copies import seeded_template

CONTRACT_IDS = ["areas", "grids", "doorplates", "cameras", "sensors", "key-places", "resources", "incidents"]
MODELS = {"areas": Area, "grids": Grid, "doorplates": Doorplate, "cameras": Camera, "sensors": Sensor,
          "key-places": KeyPlace}


def add_incidents(db: Database) -> tuple[int, ...]:
    """Two open incidents of the handler's department, one of another, one closed; returns the ids of
    the handler's open ones."""
    with db.uow() as s:
        handler = user_by_name(s, "handler")
        grid = s.scalars(select(Grid).order_by(Grid.id)).first()
        category = s.scalars(select(Category).order_by(Category.code)).first()
        other = s.scalar(select(Department.id).where(Department.id != handler.department_id))

        def incident(code: str, state: str, department: int | None) -> Incident:
            return Incident(code=code, state=state, category_code=category.code, source="operator", title=code,
                            lon=(grid.minx + grid.maxx) / 2, lat=(grid.miny + grid.maxy) / 2, grid_id=grid.id,
                            department_id=department, reported_at=utcnow())

        rows = [incident("G-1", "dispatched", handler.department_id), incident("G-2", "filed", handler.department_id),
                incident("G-3", "dispatched", other), incident("G-4", "closed", handler.department_id)]
        s.add_all(rows)
        s.flush()
        return rows[0].id, rows[1].id


def check_city(db: Database) -> None:
    mine = add_incidents(db)
    operator, handler = token_of(db, "operator"), token_of(db, "handler")
    with city_server(db) as base:
        assert list_collections(base, operator) == CONTRACT_IDS
        with db.uow() as s:
            expected = {name: sorted(str(i) for i in s.scalars(select(model.id))) for name, model in MODELS.items()}
            grid = s.scalars(select(Grid).order_by(Grid.id)).first()
            box = (grid.minx, grid.miny, grid.maxx, grid.maxy)
            in_box = s.scalar(select(func.count()).select_from(Doorplate).where(
                Doorplate.lon >= box[0], Doorplate.lat >= box[1], Doorplate.lon <= box[2], Doorplate.lat <= box[3]))
        doorplates = read_collection(base, "doorplates", operator, page_size=500)  # several pages
        assert len(expected["doorplates"]) > 1000
        assert doorplates.count == len(expected["doorplates"])
        assert sorted(doorplates.ids) == expected["doorplates"]
        assert set(doorplates.columns) == {"code", "address", "grid_code", "geometry"}  # no personal data
        for name in ("areas", "grids", "cameras", "sensors", "key-places"):
            got = read_collection(base, name, operator)
            assert sorted(got.ids) == expected[name], name
        assert read_collection(base, "resources", operator).count == 0
        assert read_collection(base, "incidents", operator).count == 3  # the open ones
        assert sorted(read_collection(base, "incidents", handler).ids) == sorted(str(i) for i in mine)
        assert read_collection(base, "doorplates", operator, bbox=box).count == in_box > 0


def test_gdal_reads_every_collection_of_a_small_city_on_sqlite(tmp_path):
    db = Database(f"sqlite:///{seeded_template(tmp_path, seed=11)}")
    try:
        check_city(db)
    finally:
        db.dispose()


@pytest.mark.integration
def test_gdal_reads_every_collection_of_a_small_city_on_postgres(pg_db):
    seed_demo_city(pg_db, scale=0.02, seed=11, demo_passwords=False)
    check_city(pg_db)
