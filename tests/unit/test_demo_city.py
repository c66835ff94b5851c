"""The demo city: exact counts, an exact grid tiling and hierarchy, points in their grids, determinism."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest
import shapely
from sqlalchemy import func, select

from data.accounts import verify_password
from data.db import Database
from data.demo import DEMO_LOGINS, DEMO_ROLES, DemoCityError, seed_demo_city
from data.models import (
    Area,
    Asset,
    BasemapFeature,
    Camera,
    Category,
    Department,
    Doorplate,
    Grid,
    KeyPlace,
    Sensor,
    User,
    VideoPlatform,
)

SCALE = 0.02
SENSOR_KINDS = {
    "gas": {"gas_pressure": "MPa", "gas_concentration": "%LEL"},
    "water_supply": {"water_pressure": "MPa", "water_flow": "m3/h"},
    "drainage": {"drain_level": "m"},
    "bridge": {"bridge_deflection": "mm", "bridge_strain": "µε", "bridge_vibration": "mm/s"},
    "manhole": {"manhole_tilt": "deg"},
    "heating": {"heating_temp": "°C"},
    "air": {
        "air_pm25": "µg/m3",
        "air_pm10": "µg/m3",
        "air_so2": "µg/m3",
        "air_no2": "µg/m3",
        "air_co": "mg/m3",
        "air_o3": "µg/m3",
    },
    "surface_water": {"water_cod": "mg/L", "water_nh3n": "mg/L", "water_do": "mg/L"},
    "outfall": {"outfall_flow": "m3/h", "outfall_cod": "mg/L"},
    "noise": {"noise_db": "dB(A)"},
}


def _new_db(tmp_path_factory: pytest.TempPathFactory, name: str) -> Database:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp(name) / 'city.db'}")
    db.migrate()
    return db


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """One demo city at a small scale, shared by the read-only tests of this module."""
    db = _new_db(tmp_path_factory, "city")
    counts = seed_demo_city(db, scale=SCALE, seed=42)
    yield db, counts
    db.dispose()


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _fingerprint(db: Database) -> str:
    """A hash of every code and coordinate the generator drew."""
    digest = hashlib.sha256()
    with db.uow() as s:
        for query in (
            select(Grid.code, Grid.geom).order_by(Grid.code),
            select(Doorplate.code, Doorplate.address, Doorplate.lon, Doorplate.lat).order_by(Doorplate.code),
            select(Camera.code, Camera.lon, Camera.lat, Camera.type).order_by(Camera.code),
            select(Sensor.id, Sensor.lon, Sensor.lat).order_by(Sensor.id),
            select(KeyPlace.code, KeyPlace.lon, KeyPlace.lat).order_by(KeyPlace.code),
        ):
            for row in s.execute(query):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def _grid_polygons(session) -> dict[int, shapely.Geometry]:
    return {gid: shapely.from_wkb(wkb) for gid, wkb in session.execute(select(Grid.id, Grid.geom))}


def test_counts_follow_the_scale_exactly_and_are_reported(city):
    db, counts = city
    with db.uow() as s:
        assert _count(s, Doorplate) == round(118_000 * SCALE)
        assert _count(s, Camera) == round(38_165 * SCALE)
        assert _count(s, VideoPlatform) == max(1, round(383 * SCALE))
        for model in (Area, Grid, Doorplate, Camera, Asset, Sensor, KeyPlace, BasemapFeature, User):
            assert counts[model.__tablename__] == _count(s, model), model.__tablename__
        assert counts["departments"] == 20
        assert counts["categories"] == _count(s, Category) > 0
        assert Counter(level for (level,) in s.execute(select(Area.level)))["district"] == 5


def test_grids_tile_the_city_without_gaps_or_overlaps(city):
    db, _ = city
    with db.uow() as s:
        grids = np.array(list(_grid_polygons(s).values()), dtype=object)
        city_geom = shapely.from_wkb(s.scalar(select(Area.geom).where(Area.level == "city")))
    assert shapely.is_valid(grids).all()
    union = shapely.union_all(grids)
    assert union.area == pytest.approx(city_geom.area, rel=1e-9)  # no gaps
    assert shapely.area(grids).sum() == pytest.approx(union.area, rel=1e-9)  # no overlaps
    assert city_geom.symmetric_difference(union).area <= 1e-9 * city_geom.area


def test_hierarchy_nests_exactly_from_grid_to_city(city):
    db, _ = city
    with db.uow() as s:
        areas = {a.id: a for a in s.scalars(select(Area))}
        shapes = {a.id: shapely.from_wkb(a.geom) for a in areas.values()}
        parent_level = {"district": "city", "street": "district", "community": "street"}
        for area in areas.values():
            if area.level == "city":
                assert area.parent_id is None
                continue
            parent = areas[area.parent_id]
            assert parent.level == parent_level[area.level]
            # GB/T 2260: a district 3799DD belongs to the city 379900
            assert area.code.startswith(
                parent.code.removesuffix("00") if parent.level == "city" else parent.code
            )
            assert shapes[parent.id].covers(shapes[area.id]), area.code
        for grid in s.scalars(select(Grid)):
            community = areas[grid.community_id]
            assert community.level == "community"
            assert grid.code.startswith(community.code) and len(grid.code) == 15
            assert shapes[community.id].covers(shapely.from_wkb(grid.geom)), grid.code
            bounds = shapely.from_wkb(grid.geom).bounds
            assert (grid.minx, grid.miny, grid.maxx, grid.maxy) == pytest.approx(bounds)
        # every community is exactly the union of its grids
        for area in areas.values():
            if area.level == "community":
                members = [
                    shapely.from_wkb(g)
                    for (g,) in s.execute(select(Grid.geom).where(Grid.community_id == area.id))
                ]
                assert shapely.union_all(members).symmetric_difference(shapes[area.id]).area <= (
                    1e-9 * shapes[area.id].area
                )


@pytest.mark.parametrize(
    "model, key",
    [(Doorplate, Doorplate.code), (Camera, Camera.code), (Sensor, Sensor.id), (KeyPlace, KeyPlace.code)],
)
def test_every_point_has_a_grid_and_lies_inside_it(city, model, key):
    db, _ = city
    with db.uow() as s:
        polygons = _grid_polygons(s)
        rows = s.execute(select(key, model.lon, model.lat, model.grid_id)).all()
    assert rows
    assert all(grid_id is not None for *_, grid_id in rows)
    points = shapely.points([(lon, lat) for _, lon, lat, _ in rows])
    cells = np.array([polygons[grid_id] for *_, grid_id in rows], dtype=object)
    inside = shapely.covers(cells, points)
    assert inside.all(), [rows[i][0] for i in np.flatnonzero(~inside)][:5]


def test_every_sensor_family_and_kind_is_present_on_an_asset(city):
    db, _ = city
    with db.uow() as s:
        sensors = s.scalars(select(Sensor)).all()
        assets = {a.id: a for a in s.scalars(select(Asset))}
    found = {(x.family, x.kind, x.unit) for x in sensors}
    expected = {(fam, kind, unit) for fam, kinds in SENSOR_KINDS.items() for kind, unit in kinds.items()}
    assert found == expected
    for sensor in sensors:
        asset = assets[sensor.asset_id]
        assert asset.family == sensor.family
        assert f"asset:{asset.code}" in sensor.tags
        assert sensor.status == "online"
    # an air station carries all six pollutants, tagged with the station
    station = next(a for a in assets.values() if a.family == "air")
    on_station = {x.kind for x in sensors if f"station:{station.code}" in x.tags}
    assert on_station == set(SENSOR_KINDS["air"])


def test_the_scripted_gas_sensor_and_demo_accounts(city):
    db, _ = city
    with db.uow() as s:
        gas = s.get(Sensor, "GAS-P-0001")
        assert gas.kind == "gas_pressure" and gas.family == "gas"
        users = {u.username: u for u in s.scalars(select(User))}
        for name, password in DEMO_LOGINS.items():
            assert users[name].role == DEMO_ROLES.get(name, name)
            assert verify_password(users[name].password_hash, password)
        assert users["worker"].grid_id == gas.grid_id
        assert s.get(Grid, gas.grid_id).worker_id == users["worker"].id
        assert s.get(Department, users["handler"].department_id).code == "gas"
        # the handlers who assist on a red gas alert (linkage rule gas-red)
        assert {s.get(Department, users[n].department_id).code for n in ("fire", "traffic")} == {
            "fire_rescue", "traffic_police"}
        grids = s.scalars(select(Grid)).all()
        workers = {u.id: u for u in users.values() if u.role == "worker"}
        assert all(g.worker_id in workers and workers[g.worker_id].grid_id == g.id for g in grids)
        others = [u for u in users.values() if u.username not in DEMO_LOGINS]
        assert len(others) == len(grids) - 1
        assert all(
            u.password_hash is None and u.username == f"w{s.get(Grid, u.grid_id).code}" for u in others
        )


def test_doorplates_cameras_and_basemap_look_like_a_city(city):
    db, _ = city
    with db.uow() as s:
        district_names = set(s.scalars(select(Area.name).where(Area.level == "district")))
        plates = s.scalars(select(Doorplate)).all()
        cameras = s.scalars(select(Camera)).all()
        platforms = {p.id: p.code for p in s.scalars(select(VideoPlatform))}
        kinds = set(s.scalars(select(BasemapFeature.kind)))
    assert all(p.address.startswith("示范市") and p.address.endswith("号") for p in plates)
    assert all(any(d in p.address for d in district_names) for p in plates)
    assert sum(p.households for p in plates) > 0 and sum(p.merchants for p in plates) > 0
    assert all(
        p.contact_phone is None or (len(p.contact_phone) == 11 and p.contact_phone[0] == "1") for p in plates
    )
    assert {c.type for c in cameras} == {"gun", "dome", "panoramic"}
    assert 0.9 < sum(c.status == "online" for c in cameras) / len(cameras) < 0.99
    for c in cameras:
        assert len(c.code) == 20 and c.code.isdigit()
        assert c.stream_url == f"rtsp://video.demo.local/{platforms[c.platform_id]}/{c.code}"
        assert set(c.algorithms) <= {"waterlogging", "construction_safety", "river_litter"}
    assert any(c.algorithms for c in cameras)
    assert {"arterial", "street", "river", "water", "boundary", "district_border"} <= kinds


def test_the_same_seed_gives_the_same_city_and_another_seed_another(city, tmp_path_factory):
    db, _ = city
    again = _new_db(tmp_path_factory, "again")
    other = _new_db(tmp_path_factory, "other")
    try:
        seed_demo_city(again, scale=SCALE, seed=42)
        seed_demo_city(other, scale=SCALE, seed=7)
        assert _fingerprint(again) == _fingerprint(db)
        assert _fingerprint(other) != _fingerprint(db)
    finally:
        again.dispose()
        other.dispose()


def test_a_database_holding_a_city_is_refused_without_reset(city):
    db, counts = city
    with pytest.raises(DemoCityError, match="reset"):
        seed_demo_city(db, scale=SCALE, seed=1)
    with db.uow() as s:
        assert _count(s, Doorplate) == counts["doorplates"]


def test_reset_replaces_the_city_and_counts_scale_to_a_larger_city(tmp_path_factory):
    db = _new_db(tmp_path_factory, "reset")
    try:
        seed_demo_city(db, scale=SCALE, seed=3, demo_passwords=False)
        with db.uow() as s:
            assert all(h is None for (h,) in s.execute(select(User.password_hash)))
            old_codes = set(s.scalars(select(Grid.code)))
        counts = seed_demo_city(db, scale=0.1, seed=3, reset=True)
        with db.uow() as s:
            assert _count(s, Doorplate) == counts["doorplates"] == round(118_000 * 0.1)
            assert _count(s, Camera) == counts["cameras"] == round(38_165 * 0.1)
            assert _count(s, VideoPlatform) == round(383 * 0.1)
            assert _count(s, Department) == 20
            assert set(s.scalars(select(Grid.code))) != old_codes
            assert _count(s, Grid) > len(old_codes)
            assert (
                s.scalar(select(func.count()).select_from(Sensor).where(Sensor.kind == "gas_pressure")) >= 10
            )
    finally:
        db.dispose()


@pytest.mark.parametrize("scale", [0, -1.0, float("nan")])
def test_a_meaningless_scale_is_refused(db, scale):
    with pytest.raises(DemoCityError, match="scale"):
        seed_demo_city(db, scale=scale)
