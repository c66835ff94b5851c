"""Bringing up a city that is not the demo (issue 16, part A): an empty database with ``serve --no-demo``,
areas imported as a checked hierarchy in CGCS2000 and a Gauss–Krüger zone, the upsert report (added,
changed, unchanged, missing; dry run; prune), departments, categories and users from tables, the user's
area scope, and ``GET /api/v1/areas``. Every file is written in tmp_path with geopandas/pandas."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import Polygon, box
from sqlalchemy import func, select

import api.v1  # noqa: F401  (declares the routes, /api/v1/areas among them)
import app as cityops
from data.accounts import create_user, hash_password, issue_token, verify_password
from data.db import Database
from data.importers import ImportFileError, import_file
from data.models import Area, AuditLog, Base, Category, Department, Doorplate, Grid, User
from dispatch.city_import import activate_user, import_table
from settings import get_settings
from tests.unit.test_layers_api import api_client

CITY = "440100"
D1, D2 = "440101", "440102"
S1, S2 = "440101001", "440102001"
C1, C2 = "440101001001", "440101001002"
#: A city that is not the demo: code, name, level, parent, WGS-84/CGCS2000 box.
AREAS = [
    (CITY, "新城市", "city", None, (113.20, 23.00, 113.40, 23.20)),
    (D1, "东区", "district", CITY, (113.20, 23.00, 113.30, 23.20)),
    (D2, "西区", "district", CITY, (113.30, 23.00, 113.40, 23.20)),
    (S1, "东街道", "street", D1, (113.20, 23.00, 113.30, 23.10)),
    (S2, "西街道", "street", D2, (113.30, 23.00, 113.40, 23.10)),
    (C1, "甲社区", "community", S1, (113.20, 23.00, 113.25, 23.05)),
    (C2, "乙社区", "community", S1, (113.25, 23.00, 113.30, 23.05)),
]


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    database.migrate()
    yield database
    database.dispose()


def areas_frame(rows=AREAS, crs="EPSG:4490") -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {"code": [r[0] for r in rows], "name": [r[1] for r in rows], "level": [r[2] for r in rows],
         "parent_code": [r[3] for r in rows]},
        geometry=[box(*r[4]) for r in rows], crs="EPSG:4490")
    return frame.to_crs(crs)


def write(frame: gpd.GeoDataFrame, path) -> str:
    frame.to_file(path)
    return str(path)


def table(db: Database, model) -> dict[str, object]:
    key = model.username if model is User else model.code
    with db.uow() as s:
        return {getattr(row, key.key): row for row in s.scalars(select(model))}


def count(db: Database, model) -> int:
    with db.uow() as s:
        return s.scalar(select(func.count()).select_from(model))


def everything(db: Database) -> dict[str, int]:
    with db.uow() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def import_city(db: Database, tmp_path) -> None:
    report = import_file(db, "areas", write(areas_frame(), tmp_path / "areas.gpkg"))
    assert report.rejected == [] and report.added == len(AREAS)


# --- start empty -----------------------------------------------------------------------------------


@pytest.fixture
def serve_cli(tmp_path, monkeypatch):
    """``app.py serve`` on an empty SQLite database without a web server, scheduler or seeding."""
    import waitress

    import dispatch.demo_history

    seeded: list[object] = []
    monkeypatch.setattr(waitress, "serve", lambda *a, **k: None)
    monkeypatch.setattr(dispatch.demo_history, "seed_demo", lambda *a, **k: seeded.append(a))
    monkeypatch.setenv("CITYOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'served.db'}")
    monkeypatch.setenv("CITYOPS_SECRET_KEY", "x" * 32)
    monkeypatch.delenv("CITYOPS_DEMO", raising=False)

    def run(*args: str, **env: str):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        result = CliRunner().invoke(cityops.cli, ["serve", "--no-scheduler", "--port", "0", *args])
        get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        return result, seeded

    yield run
    get_settings.cache_clear()


def test_serve_no_demo_leaves_the_database_empty_and_says_what_to_import(serve_cli, tmp_path):
    result, seeded = serve_cli("--no-demo")
    assert seeded == []
    assert "import areas" in result.output
    db = Database(f"sqlite:///{tmp_path / 'served.db'}")
    assert db.is_empty() and count(db, User) == 0
    db.dispose()


def test_cityops_demo_0_never_seeds(serve_cli):
    result, seeded = serve_cli(CITYOPS_DEMO="0")
    assert seeded == [] and "import areas" in result.output


def test_serve_without_the_flag_still_seeds_an_empty_database(serve_cli):
    _, seeded = serve_cli()
    assert len(seeded) == 1


def test_the_big_screen_and_admin_of_an_empty_city_say_what_to_import_first(db, tmp_path):
    from app import create_app
    from settings import Settings
    from tests.unit.test_page_guard import route

    with db.uow() as s:
        create_user(s, "boss", "admin", password="boss-password")
    server, _ = create_app(Settings(database_url=str(db.url), secret_key="empty"), db)
    client = server.test_client()
    assert client.post("/login", data={"username": "boss", "password": "boss-password"}).status_code == 302

    def notice(path: str) -> bool:
        status, answer = route(client, path, "")
        assert status == 200
        return '"data-testid": "empty-city"' in json.dumps(answer, ensure_ascii=False)

    assert notice("/") and notice("/admin") and not notice("/console")
    assert "import areas" in json.dumps(route(client, "/admin", "")[1], ensure_ascii=False)
    import_city(db, tmp_path)
    assert not notice("/") and not notice("/admin")


# --- areas -----------------------------------------------------------------------------------------


def test_areas_in_cgcs2000_import_as_a_hierarchy_and_the_api_lists_them(db, tmp_path):
    report = import_file(db, "areas", write(areas_frame(), tmp_path / "areas.gpkg"))

    assert (report.imported, report.added, report.changed, report.rejected) == (7, 7, 0, [])
    areas = table(db, Area)
    ids = {code: a.id for code, a in areas.items()}
    for code, _, level, parent, bounds in AREAS:
        assert areas[code].level == level
        assert areas[code].parent_id == (ids[parent] if parent else None)
        assert (areas[code].minx, areas[code].maxy) == pytest.approx((bounds[0], bounds[3]), abs=1e-7)
    with db.uow() as s:
        create_user(s, "op", "operator")
        token = issue_token(s, s.scalar(select(User).where(User.username == "op")))
    client = api_client(db)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/areas").status_code == 401
    everything_listed = client.get("/api/v1/areas", headers=auth).get_json()
    assert [a["code"] for a in everything_listed] == sorted(r[0] for r in AREAS)
    districts = client.get("/api/v1/areas?level=district", headers=auth).get_json()
    assert districts == [{"code": D1, "name": "东区", "level": "district", "parent_code": CITY},
                         {"code": D2, "name": "西区", "level": "district", "parent_code": CITY}]
    under = client.get(f"/api/v1/areas?parent={S1}", headers=auth).get_json()
    assert [a["code"] for a in under] == [C1, C2]
    assert client.get("/api/v1/areas?level=province", headers=auth).status_code == 422
    assert client.get("/api/v1/areas?parent=999999", headers=auth).status_code == 404
    spec = client.get("/api/v1/openapi.json", headers=auth).get_json()
    assert spec["paths"]["/api/v1/areas"]["get"]["parameters"][0]["name"] == "level"


def test_areas_in_a_gauss_kruger_zone_from_a_gbk_shapefile_without_prj(db, tmp_path):
    zone38 = areas_frame(AREAS[:5], crs="EPSG:4526")  # zone 38: false easting 38,500,000 m
    assert float(zone38.total_bounds[0]) > 38_000_000
    path = tmp_path / "gk.shp"
    zone38.to_file(path, encoding="GBK")  # a .dbf names it parent_cod (10 characters): an alias
    for extra in (".prj", ".cpg"):
        path.with_suffix(extra).unlink(missing_ok=True)

    with pytest.raises(ImportFileError, match=r"outside China.*wrong CRS"):
        import_file(db, "areas", path)  # read as lon/lat, the metres land nowhere near China
    assert count(db, Area) == 0

    report = import_file(db, "areas", path, crs="EPSG:4526")
    assert report.added == 5 and report.rejected == []
    areas = table(db, Area)
    assert areas[D2].name == "西区"
    assert (areas[D2].minx, areas[D2].miny) == pytest.approx((113.30, 23.00), abs=1e-6)


def test_a_reimport_updates_by_code_reports_missing_rows_and_a_dry_run_writes_nothing(db, tmp_path):
    import_city(db, tmp_path)
    renamed = [(c, "东城区" if c == D1 else n, lv, p, b) for c, n, lv, p, b in AREAS if c != C2]
    path = write(areas_frame(renamed), tmp_path / "again.gpkg")

    before = everything(db)
    dry = import_file(db, "areas", path, dry_run=True)
    assert everything(db) == before
    assert (dry.added, dry.changed, dry.unchanged, dry.missing) == (0, 1, 5, [C2])
    assert dry.lines()[0].endswith("dry run: nothing was written")
    assert table(db, Area)[D1].name == "东区" and count(db, Area) == 7

    kept = import_file(db, "areas", path)
    assert (kept.added, kept.changed, kept.unchanged, kept.missing, kept.pruned) == (0, 1, 5, [C2], False)
    assert any("1 in the database but not in the file, kept" in line for line in kept.lines())
    assert table(db, Area)[D1].name == "东城区" and count(db, Area) == 7

    pruned = import_file(db, "areas", path, prune=True)
    assert (pruned.changed, pruned.unchanged, pruned.missing, pruned.pruned) == (0, 6, [C2], True)
    assert C2 not in table(db, Area) and count(db, Area) == 6
    with db.uow() as s:  # every import but the dry run left its audit row
        audits = s.execute(select(AuditLog.action, AuditLog.detail).order_by(AuditLog.id)).all()
    assert [a for a, _ in audits] == ["areas.import"] * 3
    assert audits[-1][1] == {"added": 0, "changed": 0, "unchanged": 6, "rejected": 0, "missing": 1, "pruned": True}


def _bad_area_files(tmp_path):
    x0, y0 = 113.20, 23.00
    bowtie = Polygon([(x0, y0), (x0 + 0.04, y0 + 0.04), (x0 + 0.04, y0), (x0, y0 + 0.04)])
    # a square with a tiny self-crossing loop on one edge: invalid, but make_valid barely changes its area
    spike = Polygon([(x0, y0), (x0 + 0.04, y0), (x0 + 0.04, y0 + 0.0199), (x0 + 0.0401, y0 + 0.0201),
                     (x0 + 0.0401, y0 + 0.0199), (x0 + 0.04, y0 + 0.0201), (x0 + 0.04, y0 + 0.04), (x0, y0 + 0.04)])
    assert not bowtie.is_valid and not spike.is_valid
    rows = [
        ("440101001003", "未知上级", "community", "440101009", box(113.2, 23.0, 113.21, 23.01)),
        ("440101001004", "层级错", "community", D1, box(113.2, 23.0, 113.21, 23.01)),
        ("440101001005", "蝴蝶", "community", S1, bowtie),
        ("440101001006", "小修", "community", S1, spike),
        ("440101001007", "出界", "community", S1, box(113.28, 23.0, 113.34, 23.05)),
        ("440101001008", "细缝", "community", S1, box(113.2, 23.0, 113.3004, 23.05)),
        ("ABC", "坏编码", "community", S1, box(113.2, 23.0, 113.21, 23.01)),
        ("440101001009", "坏层级", "village", S1, box(113.2, 23.0, 113.21, 23.01)),
        ("440199", "第二市", "city", None, box(113.2, 23.0, 113.4, 23.2)),
    ]
    frame = gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows],
                              "level": [r[2] for r in rows], "parent_code": [r[3] for r in rows]},
                             geometry=[r[4] for r in rows], crs="EPSG:4326")
    return write(frame, tmp_path / "bad.geojson")


def test_each_bad_area_is_rejected_with_its_reason_and_good_ones_are_kept(db, tmp_path):
    import_city(db, tmp_path)
    report = import_file(db, "areas", _bad_area_files(tmp_path))

    reasons = dict(report.rejected)
    assert reasons[1].startswith("unknown parent code 440101009")
    assert reasons[2] == f"level out of order: the parent of a community is a street, but {D1} is a district"
    assert reasons[3].startswith("invalid polygon (Self-intersection") and "make_valid would change" in reasons[3]
    assert reasons[5] == f"66.7% of it lies outside its parent {S1} (at most 1% is a sliver)"
    assert reasons[7] == "code 'ABC' is not an administrative code (6, 9 or 12 digits)"
    assert reasons[8].startswith("unknown level 'village'")
    assert reasons[9] == f"the city is {CITY} already (one city per database)"
    assert set(reasons) == {1, 2, 3, 5, 7, 8, 9}
    notes = dict(report.notes)
    assert "repaired with make_valid" in notes[4]
    assert "outside its parent" in notes[6] and "a sliver, accepted" in notes[6]
    areas = table(db, Area)
    assert {"440101001006", "440101001008"} <= set(areas) and "440101001005" not in areas
    assert shapely.is_valid(shapely.from_wkb(areas["440101001006"].geom))


def test_duplicate_codes_refuse_the_whole_file(db, tmp_path):
    rows = [*AREAS, (C1, "又一个", "community", S1, (113.2, 23.0, 113.21, 23.01))]
    with pytest.raises(ImportFileError, match=f"duplicate codes in the file: {C1} \\(rows 6, 8\\)"):
        import_file(db, "areas", write(areas_frame(rows), tmp_path / "dups.gpkg"))
    assert count(db, Area) == 0


def test_grids_in_a_gauss_kruger_zone_land_in_the_imported_city_and_a_file_elsewhere_is_refused(db, tmp_path):
    import_city(db, tmp_path)
    grids = gpd.GeoDataFrame({"code": ["G1", "G2"], "name": ["一号网格", "二号网格"]},
                             geometry=[box(113.20, 23.00, 113.22, 23.02), box(113.26, 23.00, 113.28, 23.02)],
                             crs="EPSG:4490").to_crs("EPSG:4547")  # the CM 114°E form, no zone prefix
    report = import_file(db, "grids", write(grids, tmp_path / "grids.gpkg"))
    assert report.added == 2
    with db.uow() as s:
        homes = dict(s.execute(select(Grid.code, Area.code).join(Area, Grid.community_id == Area.id)).all())
    assert homes == {"G1": C1, "G2": C2}
    again = import_file(db, "grids", write(grids, tmp_path / "grids2.gpkg"))
    assert (again.added, again.unchanged) == (0, 2)

    far = gpd.GeoDataFrame({"code": ["P1"], "address": ["远方"]}, geometry=[shapely.Point(116.4, 39.9)],
                           crs="EPSG:4326")
    with pytest.raises(ImportFileError, match="outside the city's outline"):
        import_file(db, "doorplates", write(far, tmp_path / "far.geojson"))


@pytest.mark.parametrize("crs", ["EPSG:4490", "EPSG:3857", "EPSG:4526", "EPSG:4547", "gcj02"])
def test_doorplates_in_any_crs_land_where_they_are(db, tmp_path, crs):
    from geo.transform import wgs84_to_gcj02

    import_city(db, tmp_path)
    lon, lat = 113.2123, 23.0321
    if crs == "gcj02":
        x, y = wgs84_to_gcj02(lon, lat)
        frame = pd.DataFrame({"code": ["MP1"], "address": ["一号"], "lon": [x], "lat": [y]})
        path = tmp_path / "d.csv"
        frame.to_csv(path, index=False)
    else:
        points = gpd.GeoDataFrame({"code": ["MP1"], "address": ["一号"]}, geometry=[shapely.Point(lon, lat)],
                                  crs="EPSG:4490").to_crs(crs)
        path = tmp_path / "d.shp"
        points.to_file(path)
        path.with_suffix(".prj").unlink()  # the CRS comes from --crs alone
    report = import_file(db, "doorplates", path, crs=crs)
    assert report.added == 1, report.lines()
    with db.uow() as s:
        stored = s.execute(select(Doorplate.lon, Doorplate.lat)).one()
    assert tuple(stored) == pytest.approx((lon, lat), abs=1e-6)


# --- departments, categories, users ---------------------------------------------------------------


def csv(tmp_path, name: str, rows: list[dict[str, object]]) -> str:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_departments_categories_and_users_import_with_activation_codes(db, tmp_path):
    import_city(db, tmp_path)
    grids = gpd.GeoDataFrame({"code": ["G1"]}, geometry=[box(113.20, 23.00, 113.22, 23.02)], crs="EPSG:4326")
    import_file(db, "grids", write(grids, tmp_path / "g.geojson"))
    departments = csv(tmp_path, "d.csv", [
        {"code": "CG", "name_zh": "城管局", "name_en": "Urban Management", "parent": ""},
        {"code": "CG1", "name_zh": "一大队", "name_en": "Squad 1", "parent": "CG"},
        {"code": "X", "name_zh": "无上级", "name_en": "Orphan", "parent": "NOPE"},
    ])
    report = import_table(db, "departments", departments)
    assert (report.added, report.rejected) == (2, [(3, "unknown parent department NOPE")])
    assert table(db, Department)["CG1"].parent_code == "CG"

    categories = csv(tmp_path, "c.csv", [
        {"code": "RQ01", "name_zh": "燃气泄漏", "name_en": "Gas leak", "kind": "event", "department": "CG",
         "handle_hours": 2, "close_hours": 24, "working_hours": "是"},
        {"code": "RQ02", "name_zh": "坏时限", "name_en": "Bad", "kind": "event", "department": "CG",
         "handle_hours": 24, "close_hours": 2},
        {"code": "RQ03", "name_zh": "坏部门", "name_en": "Bad", "kind": "event", "department": "ZZ",
         "handle_hours": 2, "close_hours": 4},
        {"code": "RQ04", "name_zh": "坏类型", "name_en": "Bad", "kind": "thing", "department": "CG",
         "handle_hours": 2, "close_hours": 4},
    ])
    report = import_table(db, "categories", categories)
    reasons = dict(report.rejected)
    assert report.added == 1 and set(reasons) == {2, 3, 4}
    assert "closing limit may not be shorter" in reasons[2] and reasons[3].startswith("unknown department ZZ")
    assert table(db, Category)["RQ01"].close_hours == 24 and table(db, Category)["RQ01"].working_hours is True

    users = [
        {"username": "wang", "name": "王网格", "role": "worker", "grid": "G1", "department": "", "area": "",
         "phone": "13800000000"},
        {"username": "li", "name": "李值班", "role": "operator", "grid": "", "department": "", "area": D1,
         "phone": ""},
        {"username": "zhao", "name": "赵处置", "role": "handler", "grid": "", "department": "CG1", "area": "",
         "phone": ""},
        {"username": "bad1", "name": "坏角色", "role": "boss", "grid": "", "department": "", "area": "", "phone": ""},
        {"username": "bad2", "name": "坏网格", "role": "worker", "grid": "G9", "department": "", "area": "",
         "phone": ""},
        {"username": "bad3", "name": "坏辖区", "role": "leader", "grid": "", "department": "", "area": "999999",
         "phone": ""},
        {"username": "bad4", "name": "社区辖区", "role": "leader", "grid": "", "department": "", "area": C1,
         "phone": ""},
    ]
    path = csv(tmp_path, "u.csv", users)
    dry = import_table(db, "users", path, dry_run=True)
    assert dry.added == 3 and count(db, User) == 0 and not any("activation" in m for m in dry.messages)
    report = import_table(db, "users", path)
    reasons = dict(report.rejected)
    assert reasons == {4: "unknown role 'boss' (one of admin, operator, leader, handler, worker)",
                       5: "unknown grid G9", 6: "unknown area 999999",
                       7: f"area {C1} is a community: a user's area is a district or a street"}
    codes = dict(m.removeprefix("activation code for ").split(": ") for m in report.messages)
    assert set(codes) == {"wang", "li", "zhao"}
    people = table(db, User)
    assert people["li"].area_code == D1 and people["wang"].phone == "13800000000"
    assert people["wang"].password_hash is None and "activation code for wang" in "\n".join(report.lines())
    with db.uow() as s:
        assert s.scalar(select(Grid.worker_id).where(Grid.code == "G1")) == people["wang"].id
        with pytest.raises(ValueError, match="no pending activation"):
            activate_user(s, "wang", "wrong-code", "secret-1")
    with db.uow() as s:
        activate_user(s, "wang", codes["wang"], "secret-1")
    with db.uow() as s:
        wang = s.scalar(select(User).where(User.username == "wang"))
        assert verify_password(wang.password_hash, "secret-1") and wang.activation_hash is None
        with pytest.raises(ValueError, match="no pending activation"):
            activate_user(s, "wang", codes["wang"], "again")  # one time only

    users[1]["role"] = "leader"
    again = import_table(db, "users", csv(tmp_path, "u2.csv", users[:2]), prune=True)
    assert (again.added, again.changed, again.unchanged, again.missing) == (0, 1, 1, ["zhao"])
    people = table(db, User)
    assert people["li"].role == "leader" and people["li"].session_epoch == 1
    assert people["zhao"].active is False  # pruned users are disabled, never deleted


def test_table_kinds_refuse_a_spatial_file_and_a_missing_column(db, tmp_path):
    with pytest.raises(ImportFileError, match="come from a CSV or XLSX table"):
        import_table(db, "users", tmp_path / "u.geojson")
    with pytest.raises(ImportFileError, match="no 'role' column"):
        import_table(db, "users", csv(tmp_path, "u.csv", [{"username": "a", "name": "b"}]))


def test_the_import_command_and_users_add_area(db, tmp_path, monkeypatch):
    monkeypatch.setenv("CITYOPS_DATABASE_URL", str(db.url))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        path = write(areas_frame(), tmp_path / "areas.gpkg")
        done = runner.invoke(cityops.cli, ["import", "areas", path, "--dry-run"])
        assert done.exit_code == 0, done.output
        assert done.output.splitlines()[0] == ("areas: 7 imported (7 added, 0 changed, 0 unchanged), 0 rejected"
                                               " — dry run: nothing was written")
        assert count(db, Area) == 0
        done = runner.invoke(cityops.cli, ["import", "areas", path, "--crs", "EPSG:4490"])
        assert done.exit_code == 0 and count(db, Area) == 7, done.output

        done = runner.invoke(cityops.cli, ["users", "add", "chen", "--role", "leader", "--area", S1])
        assert done.exit_code == 0 and f"area {S1}" in done.output, done.output
        assert table(db, User)["chen"].area_code == S1
        done = runner.invoke(cityops.cli, ["users", "add", "zhou", "--role", "leader", "--area", C1])
        assert done.exit_code != 0 and "a user's area is a district or a street" in done.output
        assert "zhou" not in table(db, User)

        with db.uow() as s:
            create_user(s, "wu", "worker")
            s.scalar(select(User).where(User.username == "wu")).activation_hash = hash_password("CODE1")
        done = runner.invoke(cityops.cli, ["users", "activate", "wu"], input="CODE1\nnew-pass\n")
        assert done.exit_code == 0, done.output
        assert verify_password(table(db, User)["wu"].password_hash, "new-pass")
    finally:
        get_settings.cache_clear()
