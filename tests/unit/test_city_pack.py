"""Bringing up a city that is not the demo (issue 16, part C): key places and emergency resources imported
with the upsert machinery, and a city pack (``import pack DIR`` with ``city.yaml``) imported in dependency
order in one transaction, all or nothing. The pack is the example of ``examples/make_pack.py``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import Point, box
from sqlalchemy import func, select

import app as cityops
from data.db import Database
from data.importers import ImportFileError, import_file
from data.models import Area, Base, Grid, KeyPlace, Resource, User
from dispatch.city_pack import import_pack, read_manifest
from settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_pack", ROOT / "examples" / "make_pack.py")
make_pack = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_pack)


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def pack(tmp_path) -> Path:
    return make_pack.make_pack(tmp_path / "linxi")


def counts(db: Database) -> dict[str, int]:
    with db.uow() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def rows(db: Database, model) -> dict[str, object]:
    with db.uow() as s:
        found = {row.code: row for row in s.scalars(select(model))}
        s.expunge_all()
        return found


def city_without(pack: Path, *kinds: str) -> Path:
    """The pack's manifest cut down to the files not of ``kinds``."""
    text = (pack / "city.yaml").read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not any(f"kind: {k}," in line for k in kinds)]
    (pack / "city.yaml").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return pack


# --- key places and resources --------------------------------------------------------------------------


@pytest.fixture
def city(db, pack):
    """The example city's areas and grids alone (no key places or resources yet)."""
    import_pack(db, city_without(pack, "key-places", "resources"))
    return db


def test_key_places_import_points_and_polygons_with_kind_level_and_contact(city, tmp_path):
    frame = gpd.GeoDataFrame(
        {"编码": ["KP-1", "KP-2", "KP-3", "KP-4"], "名称": ["加油站", "体育馆", "地铁三号线工地", "化工厂"],
         "类型": ["重点风险源", "key_place", "重点项目", "warehouse"], "级别": ["一级", "", "二级", "一级"],
         "联系人": ["张三", "", "李四", "王五"], "联系电话": ["13900000001", "", "", ""]},
        geometry=[box(116.019, 28.049, 116.021, 28.051), box(116.150, 28.050, 116.152, 28.052),
                  box(116.060, 28.080, 116.062, 28.090), box(116.03, 28.03, 116.031, 28.031)], crs="EPSG:4490")
    path = tmp_path / "key_places.gpkg"
    frame.to_crs("EPSG:4527").to_file(path)  # a Gauss–Krüger zone: stored in WGS-84
    report = import_file(city, "key-places", path)
    assert report.rejected == [(4, "unknown kind 'warehouse' (one of risk_source, key_place, key_project)")]
    assert (report.added, report.imported) == (3, 3)
    places = rows(city, KeyPlace)
    station = places["KP-1"]
    assert (station.kind, station.level, station.contact_name, station.contact_phone) == (
        "risk_source", "一级", "张三", "13900000001")
    assert places["KP-2"].kind == "key_place" and places["KP-2"].level is None
    outline = shapely.from_wkb(station.geom)
    assert outline.geom_type == "Polygon" and outline.contains(Point(station.lon, station.lat))
    assert outline.bounds == pytest.approx((116.019, 28.049, 116.021, 28.051), abs=1e-6)
    with city.uow() as s:
        assert s.scalar(select(Grid.code).where(Grid.id == station.grid_id)) == "LX-G01"
        assert s.scalar(select(Grid.code).where(Grid.id == places["KP-2"].grid_id)) == "LX-G03"
    again = import_file(city, "key-places", path)
    assert (again.added, again.changed, again.unchanged) == (0, 0, 3)


def test_resources_import_with_capacity_status_and_a_reimport_updates_by_code(city, tmp_path):
    table = pd.DataFrame({
        "code": ["R-1", "R-2", "R-3", "R-4", "R-5"],
        "name": ["消防救援站", "物资仓库", "避难场所", "坏容量", "坏状态"],
        "kind": ["救援队伍", "supplies", "shelter", "equipment", "shelter"],
        "capacity": ["30", "500", "2000", "many", "10"],
        "status": ["", "已调用", "available", "", "lost"],
        "lon": [116.03, 116.06, 116.15, 116.04, 116.05], "lat": [28.06] * 5})
    path = tmp_path / "resources.csv"
    table.to_csv(path, index=False)
    report = import_file(city, "resources", path)
    assert report.rejected == [(4, "capacity is not a whole number: 'many'"),
                               (5, "unknown status 'lost' (one of available, deployed, unavailable)")]
    found = rows(city, Resource)
    assert {code: (r.kind, r.capacity, r.status) for code, r in found.items()} == {
        "R-1": ("rescue_team", 30, "available"), "R-2": ("supplies", 500, "deployed"),
        "R-3": ("shelter", 2000, "available")}
    assert all(r.grid_id is not None for r in found.values())

    table.loc[0, "capacity"] = "45"
    table.iloc[:3].to_csv(path, index=False)
    preview = import_file(city, "resources", path, dry_run=True, prune=True)
    assert (preview.added, preview.changed, preview.unchanged, preview.missing) == (0, 1, 2, [])
    assert rows(city, Resource)["R-1"].capacity == 30  # a dry run wrote nothing
    table.iloc[1:3].to_csv(path, index=False)
    pruned = import_file(city, "resources", path, prune=True)
    assert pruned.missing == ["R-1"] and pruned.pruned and set(rows(city, Resource)) == {"R-2", "R-3"}


def test_resources_outside_the_city_or_as_polygons_are_refused(city, tmp_path):
    away = tmp_path / "away.csv"
    pd.DataFrame({"code": ["R-1", "R-2"], "name": ["a", "b"], "kind": ["shelter"] * 2,
                  "lon": [121.4, 121.5], "lat": [31.2, 31.3]}).to_csv(away, index=False)
    with pytest.raises(ImportFileError, match="outside the city's outline"):
        import_file(city, "resources", away)
    polygons = tmp_path / "polygons.geojson"
    gpd.GeoDataFrame({"code": ["R-1"], "name": ["a"], "kind": ["shelter"]},
                     geometry=[box(116.03, 28.03, 116.04, 28.04)], crs="EPSG:4326").to_file(polygons)
    with pytest.raises(ImportFileError, match="resources need Point geometries"):
        import_file(city, "resources", polygons)
    assert rows(city, Resource) == {}


# --- the city pack -----------------------------------------------------------------------------------------


def test_the_example_pack_brings_up_its_city_in_one_go_and_a_reimport_changes_nothing(db, pack):
    report = import_pack(db, pack)
    assert [(entry.kind, r.added, r.rejected) for entry, r in report.files] == [
        ("areas", 3, []), ("areas", 5, []), ("departments", 3, []), ("categories", 3, []), ("grids", 3, []),
        ("users", 8, []), ("doorplates", 6, []), ("sensors", 1, []), ("key-places", 1, []), ("resources", 2, [])]
    assert all(r.missing == [] for _, r in report.files)  # areas split by level over two files are not "missing"
    codes = [m for _, r in report.files for m in r.messages if m.startswith("activation code")]
    assert len(codes) == 8
    with db.uow() as s:
        levels = dict(s.execute(select(Area.level, func.count()).group_by(Area.level)).all())
        assert levels == {"city": 1, "district": 2, "street": 2, "community": 3}
        worker = s.scalar(select(User.username).join(Grid, Grid.worker_id == User.id).where(Grid.code == "LX-G01"))
        assert worker == "lx_w1"
    again = import_pack(db, pack)
    assert all((r.added, r.changed) == (0, 0) for _, r in again.files)
    assert not any(r.messages for _, r in again.files)


def test_a_dry_run_reports_the_pack_and_writes_nothing(db, pack):
    before = counts(db)
    report = import_pack(db, pack, dry_run=True)
    assert sum(r.added for _, r in report.files) == 35 and all(r.dry_run for _, r in report.files)
    assert not any(r.messages for _, r in report.files)  # no activation code for a user never created
    assert counts(db) == before
    assert "dry run: nothing was written" in report.lines()[0]


def test_a_file_level_error_in_the_last_file_rolls_back_the_whole_pack(db, pack):
    pd.DataFrame({"code": ["R-1"], "name": ["x"], "lon": [116.03], "lat": [28.06]}).to_csv(
        pack / "resources.csv", index=False)  # no kind column
    before = counts(db)
    with pytest.raises(ImportFileError, match=r"resources.csv \(resources\): the file has no 'kind' column"):
        import_pack(db, pack)
    assert counts(db) == before


def test_files_are_imported_in_dependency_order_whatever_the_manifest_order(db, pack):
    lines = (pack / "city.yaml").read_text(encoding="utf-8").splitlines()
    head, files = lines[:3], lines[3:]
    (pack / "city.yaml").write_text("\n".join(head + files[::-1]) + "\n", encoding="utf-8")
    report = import_pack(db, pack)
    assert [entry.kind for entry, _ in report.files][:3] == ["areas", "areas", "departments"]
    assert [entry.path for entry, _ in report.files][:2] == ["city_districts.geojson", "streets_communities.geojson"]
    assert all(r.rejected == [] for _, r in report.files)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda text: text.replace("kind: grids", "kind: parcels"), r"files\.2\.kind: Input should be"),
        (lambda text: text.replace('code: "361200"', 'code: "36"'), r"city\.code: .*not an administrative code"),
        (lambda text: text.replace("path: users.csv", "path: people.csv"), "does not hold: people.csv"),
        (lambda text: text.replace("path: users.csv", "path: ../users.csv"), r"files\.5\.path: .*inside the pack"),
        (lambda text: text.replace("name: 临溪市", "name: 别的市"), "names the city 361200 别的市, but the city "
                                                                 "outline is 361200 临溪市"),
        (lambda text: text + "extra: 1\n", r"extra: Extra inputs are not permitted"),
        (lambda text: "city: [", "city.yaml is not YAML"),
    ],
)
def test_a_bad_manifest_is_refused_with_its_reason_and_nothing_is_written(db, pack, edit, reason):
    manifest = pack / "city.yaml"
    manifest.write_text(edit(manifest.read_text(encoding="utf-8")), encoding="utf-8")
    before = counts(db)
    with pytest.raises(ImportFileError, match=reason):
        import_pack(db, pack)
    assert counts(db) == before


def test_a_folder_without_a_manifest_or_with_one_not_in_utf8_is_refused(db, tmp_path):
    with pytest.raises(ImportFileError, match=r"has no city\.yaml"):
        read_manifest(tmp_path)
    (tmp_path / "city.yaml").write_bytes("city: {code: '361200', name: 临溪市}".encode("gbk"))
    with pytest.raises(ImportFileError, match="not UTF-8"):
        read_manifest(tmp_path)


def test_the_committed_example_is_what_make_pack_writes(pack):
    committed = ROOT / "examples" / "linxi"
    assert sorted(p.name for p in committed.iterdir()) == sorted(p.name for p in pack.iterdir())
    for made in pack.iterdir():
        assert (committed / made.name).read_bytes() == made.read_bytes(), made.name
    assert sum(p.stat().st_size for p in committed.iterdir()) < 20_000


def test_the_import_pack_command(tmp_path, pack, monkeypatch):
    monkeypatch.setenv("CITYOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("CITYOPS_SECRET_KEY", "x" * 32)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        dry = runner.invoke(cityops.cli, ["import", "pack", str(pack), "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "dry run: nothing was written" in dry.output and "activation code" not in dry.output
        done = runner.invoke(cityops.cli, ["import", "pack", str(pack)])
        assert done.exit_code == 0, done.output
        assert "key-places: 1 imported (1 added" in done.output and "activation code for lx_w1" in done.output
        refused = runner.invoke(cityops.cli, ["import", "pack", str(pack), "--prune"])
        assert refused.exit_code != 0 and "not for `import pack`" in refused.output
        broken = runner.invoke(cityops.cli, ["import", "pack", str(tmp_path)])
        assert broken.exit_code != 0 and "has no city.yaml" in broken.output
    finally:
        get_settings.cache_clear()
