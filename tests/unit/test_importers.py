"""Importing city data files: every format, CRS handling, row rejections with reasons, and bad files that
change nothing. The fixture files are written in tmp_path with geopandas/pyogrio/pandas."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, Polygon
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from data import importers
from data.db import Database
from data.importers import ImportFileError, ImportReport, import_file
from data.models import Area, AreaLevel, Base, Camera, Doorplate, Grid, Sensor, VideoPlatform
from geo.grid_index import GridIndex
from geo.transform import gcj02_to_wgs84, wgs84_to_gcj02
from tests.unit.city_copies import city_copy, seeded_template


@pytest.fixture(scope="module")
def city_template(tmp_path_factory):
    return seeded_template(tmp_path_factory.mktemp("city"), seed=3)


@pytest.fixture
def city(city_template, tmp_path):
    yield from city_copy(city_template, tmp_path)


def inner_points(db: Database, n: int) -> list[tuple[float, float]]:
    """``n`` points well inside distinct grids of the seeded city."""
    with db.uow() as s:
        geoms = shapely.from_wkb(list(s.scalars(select(Grid.geom).order_by(Grid.id).limit(n))))
    pts = shapely.point_on_surface(geoms)
    return list(zip(shapely.get_x(pts).tolist(), shapely.get_y(pts).tolist(), strict=True))


def counts(db: Database) -> dict[str, int]:
    with db.uow() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def test_geojson_doorplates_import_good_rows_and_report_each_rejection(city, tmp_path):
    (a, b, c, d) = inner_points(city, 4)
    with city.uow() as s:
        existing = s.scalar(select(Doorplate.code).limit(1))
    frame = gpd.GeoDataFrame(
        {"code": ["NEW-1", "NEW-2", "NEW-3", "NEW-2", existing, "FAR-1", "NOGEOM", "NOADDR", "BADHH"],
         "address": ["示范市和平路1号", "示范市和平路3号", "示范市和平路5号", "重复", "已有", "远处", "无坐标", None,
                     "户数错"],
         "households": [3, 0, 12, 1, 1, 1, 1, 1, "many"]},
        geometry=[Point(a), Point(b), Point(c), Point(d), Point(d), Point(2.35, 48.85), None, Point(d), Point(d)],
        crs="EPSG:4326",
    )
    path = tmp_path / "doorplates.geojson"
    frame.to_file(path, driver="GeoJSON")

    report = import_file(city, "doorplates", path)

    assert report.imported == 4  # a code already in the database is updated (an upsert, issue 16)
    assert (report.added, report.changed, report.unchanged) == (3, 1, 0)
    reasons = dict(report.rejected)
    assert reasons[4] == "duplicate code NEW-2 (also row 2)"
    assert 5 not in reasons
    assert reasons[6] == "outside the city"
    assert reasons[7] == "empty geometry"
    assert reasons[8] == "missing field address"
    assert reasons[9].startswith("households is not a whole number")
    with city.uow() as s:
        rows = {d.code: d for d in s.scalars(select(Doorplate).where(Doorplate.code.like("NEW-%")))}
        grid_rows = s.execute(select(Grid.id, Grid.geom)).all()
    index = GridIndex([g[0] for g in grid_rows], shapely.from_wkb([g[1] for g in grid_rows]))
    assert rows["NEW-3"].households == 12 and rows["NEW-1"].address == "示范市和平路1号"
    for code, (lon, lat) in zip(("NEW-1", "NEW-2", "NEW-3"), (a, b, c), strict=True):
        assert (rows[code].lon, rows[code].lat) == pytest.approx((lon, lat))
        assert rows[code].grid_id == index.locate_one(lon, lat) is not None


def test_report_lines_print_counts_then_every_rejection():
    report = ImportReport("cameras", imported=2, rejected=[(3, "outside the city")])
    assert report.lines() == ["cameras: 2 imported, 1 rejected", "  row 3: outside the city"]


def test_gpkg_with_two_layers_needs_a_layer_and_imports_the_chosen_one(city, tmp_path):
    pts = inner_points(city, 3)
    path = tmp_path / "city.gpkg"
    gpd.GeoDataFrame({"code": ["CAM-A", "CAM-B"], "name": ["和平路口", "幸福路口"], "platform": ["VPX", "VPX"],
                      "status": ["online", "offline"], "algorithms": ["waterlogging;river_litter", ""]},
                     geometry=[Point(pts[0]), Point(pts[1])], crs="EPSG:4326").to_file(path, layer="cameras")
    gpd.GeoDataFrame({"code": ["MP-X"], "address": ["某地"]}, geometry=[Point(pts[2])],
                     crs="EPSG:4326").to_file(path, layer="doorplates")
    before = counts(city)

    with pytest.raises(ImportFileError, match=r"2 layers \(.*cameras.*\).*--layer"):
        import_file(city, "cameras", path)
    with pytest.raises(ImportFileError, match="no layer 'cams'"):
        import_file(city, "cameras", path, layer="cams")
    assert counts(city) == before

    report = import_file(city, "cameras", path, layer="cameras")
    assert (report.imported, report.rejected) == (2, [])
    with city.uow() as s:
        cams = {c.code: c for c in s.scalars(select(Camera).where(Camera.code.in_(["CAM-A", "CAM-B"])))}
        platform = s.scalar(select(VideoPlatform).where(VideoPlatform.code == "VPX"))
    assert cams["CAM-A"].algorithms == ["waterlogging", "river_litter"] and cams["CAM-B"].status == "offline"
    assert cams["CAM-A"].platform_id == platform.id and cams["CAM-A"].grid_id is not None


def test_shapefile_with_gbk_attributes_and_no_cpg_keeps_its_chinese(city, tmp_path):
    pts = inner_points(city, 2)
    folder = tmp_path / "shp"
    folder.mkdir()
    path = folder / "doorplates.shp"
    gpd.GeoDataFrame({"code": ["GBK-1", "GBK-2"], "address": ["示范市东城区和平路1号", "示范市幸福街道2号"]},
                     geometry=[Point(p) for p in pts], crs="EPSG:4326").to_file(path, encoding="gbk")
    path.with_suffix(".cpg").unlink(missing_ok=True)

    report = import_file(city, "doorplates", path)

    assert report.imported == 2
    with city.uow() as s:
        addresses = set(s.scalars(select(Doorplate.address).where(Doorplate.code.like("GBK-%"))))
    assert addresses == {"示范市东城区和平路1号", "示范市幸福街道2号"}


def test_csv_in_gcj02_is_stored_in_wgs84(city, tmp_path):
    (lon, lat), (lon2, lat2) = inner_points(city, 2)
    glon, glat = wgs84_to_gcj02(np.array([lon, lon2]), np.array([lat, lat2]))
    path = tmp_path / "doorplates.csv"
    frame = pd.DataFrame({"code": ["0012", "0013"], "address": ["甲", "乙"], "lng": glon, "lat": glat})
    frame.to_csv(path, index=False)

    report = import_file(city, "doorplates", path, crs="gcj02")

    assert report.imported == 2
    with city.uow() as s:
        stored = s.execute(select(Doorplate.lon, Doorplate.lat).where(Doorplate.code == "0012")).one()  # zeros kept
    expected = gcj02_to_wgs84(float(glon[0]), float(glat[0]))
    assert stored == pytest.approx(expected, abs=1e-9)
    assert stored == pytest.approx((lon, lat), abs=1e-7)  # within centimetres of where it really is


def test_gbk_csv_is_read(city, tmp_path):
    (lon, lat), = inner_points(city, 1)
    path = tmp_path / "gbk.csv"
    pd.DataFrame({"code": ["G-1"], "address": ["和平路"], "lon": [lon], "lat": [lat]}).to_csv(
        path, index=False, encoding="gbk")
    assert import_file(city, "doorplates", path).imported == 1


def test_xlsx_sensors_import_with_their_grid(city, tmp_path):
    pts = inner_points(city, 2)
    path = tmp_path / "sensors.xlsx"
    pd.DataFrame({"id": ["WL-9001", "bad id!"], "kind": ["water_level", "water_level"], "name": ["1号井", "2号井"],
                  "family": ["drainage", "drainage"], "unit": ["m", "m"], "lon": [pts[0][0], pts[1][0]],
                  "lat": [pts[0][1], pts[1][1]]}).to_excel(path, index=False)

    report = import_file(city, "sensors", path)

    assert report.imported == 1
    assert report.rejected[0][0] == 2 and "invalid sensor id" in report.rejected[0][1]
    with city.uow() as s:
        sensor = s.get(Sensor, "WL-9001")
    assert sensor.family == "drainage" and sensor.grid_id is not None


def test_projected_crs_is_converted_with_pyproj(city, tmp_path):
    (lon, lat), = inner_points(city, 1)
    path = tmp_path / "projected.gpkg"
    gpd.GeoDataFrame({"code": ["PRJ-1"], "address": ["投影"]}, geometry=[Point(lon, lat)],
                     crs="EPSG:4326").to_crs("EPSG:4547").to_file(path)  # CGCS2000 / 3-degree Gauss-Kruger CM 114E
    assert import_file(city, "doorplates", path).imported == 1
    with city.uow() as s:
        stored = s.execute(select(Doorplate.lon, Doorplate.lat).where(Doorplate.code == "PRJ-1")).one()
    assert stored == pytest.approx((lon, lat), abs=1e-7)


def test_grids_import_into_their_community_and_reject_invalid_polygons(city, tmp_path):
    with city.uow() as s:
        community = s.execute(select(Area.id, Area.geom).where(Area.level == AreaLevel.COMMUNITY).limit(1)).one()
    inner = shapely.point_on_surface(shapely.from_wkb(community[1]))
    x, y = inner.x, inner.y
    square = Polygon([(x - 1e-4, y - 1e-4), (x + 1e-4, y - 1e-4), (x + 1e-4, y + 1e-4), (x - 1e-4, y + 1e-4)])
    bowtie = Polygon([(x, y), (x + 1e-4, y + 1e-4), (x + 1e-4, y), (x, y + 1e-4)])
    path = tmp_path / "grids.geojson"
    gpd.GeoDataFrame({"code": ["G-NEW", "G-BAD"], "name": ["新网格", "坏网格"]}, geometry=[square, bowtie],
                     crs="EPSG:4326").to_file(path)

    report = import_file(city, "grids", path)

    assert report.imported == 1
    assert report.rejected[0][0] == 2 and report.rejected[0][1].startswith("invalid geometry")
    with city.uow() as s:
        grid = s.scalar(select(Grid).where(Grid.code == "G-NEW"))
    assert grid.community_id == community[0] and grid.name == "新网格"
    assert (grid.minx, grid.maxy) == pytest.approx((x - 1e-4, y + 1e-4))


def _bad_files(tmp_path, pts):
    garbage = tmp_path / "garbage.geojson"
    garbage.write_bytes(b"\x00\x01 this is not json")
    mixed = tmp_path / "mixed.geojson"
    gpd.GeoDataFrame({"code": ["M-1", "M-2"], "address": ["a", "b"]},
                     geometry=[Point(pts[0]), shapely.LineString([pts[0], pts[1]])], crs="EPSG:4326").to_file(mixed)
    swapped = tmp_path / "swapped.csv"
    pd.DataFrame({"code": ["S-1", "S-2"], "address": ["a", "b"], "lon": [p[1] for p in pts[:2]],
                  "lat": [p[0] for p in pts[:2]]}).to_csv(swapped, index=False)
    good = tmp_path / "good.csv"
    pd.DataFrame({"code": ["OK-1"], "address": ["a"], "lon": [pts[0][0]], "lat": [pts[0][1]]}).to_csv(good, index=False)
    polygons = tmp_path / "polygons.geojson"
    gpd.GeoDataFrame({"code": ["P-1"], "address": ["a"]}, geometry=[shapely.box(*pts[0], pts[0][0] + 1e-3,
                     pts[0][1] + 1e-3)], crs="EPSG:4326").to_file(polygons)
    no_code = tmp_path / "nocode.csv"
    pd.DataFrame({"address": ["a"], "lon": [pts[0][0]], "lat": [pts[0][1]]}).to_csv(no_code, index=False)
    return [
        (garbage, {}, "cannot read garbage.geojson"),
        (tmp_path / "missing.geojson", {}, "no such file"),
        (tmp_path / "notes.txt", {}, "no such file"),
        (mixed, {}, "mixed geometry types"),
        (swapped, {}, "swapped"),
        (good, {"crs": "EPSG:999999"}, "unknown CRS"),
        (good, {"crs": "not a crs"}, "unknown CRS"),
        (good, {"layer": "Sheet9"}, None),  # a CSV has no layers: --layer is ignored
        (polygons, {}, "doorplates need Point geometries; the file has Polygon"),
        (no_code, {}, "no 'code' column"),
    ]


def test_bad_files_give_a_clear_message_and_change_nothing(city, tmp_path):
    pts = inner_points(city, 2)
    before = counts(city)
    for path, options, message in _bad_files(tmp_path, pts):
        if message is None:
            continue
        with pytest.raises(ImportFileError, match=message):
            import_file(city, "doorplates", path, **options)
        assert counts(city) == before, path.name


def test_unsupported_file_type_and_unknown_kind_are_refused(city, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ImportFileError, match="use GeoJSON, GPKG, Shapefile, CSV or XLSX"):
        import_file(city, "doorplates", path)
    with pytest.raises(ImportFileError, match="unknown kind 'trees'"):
        import_file(city, "trees", path)


def test_missing_xlsx_sheet_is_refused(city, tmp_path):
    (lon, lat), = inner_points(city, 1)
    path = tmp_path / "cams.xlsx"
    pd.DataFrame({"code": ["X"], "name": ["x"], "lon": [lon], "lat": [lat]}).to_excel(path, index=False)
    with pytest.raises(ImportFileError, match="no sheet 'cams'"):
        import_file(city, "cameras", path, layer="cams")


def test_a_database_refusal_rolls_back_the_whole_file(city, tmp_path, monkeypatch):
    (lon, lat), = inner_points(city, 1)
    path = tmp_path / "cams.csv"
    pd.DataFrame({"code": ["C-1"], "name": ["x"], "platform": ["NEWPLAT"], "lon": [lon], "lat": [lat]}).to_csv(
        path, index=False)
    before = counts(city)

    def refuse(model):
        raise IntegrityError("INSERT", {}, Exception("disk says no"))

    monkeypatch.setattr(importers, "insert", refuse)
    with pytest.raises(ImportFileError, match="nothing was imported"):
        import_file(city, "cameras", path)
    assert counts(city) == before  # the platform created on the way was rolled back too


def _import_cli(db: Database, *args: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "app.py", "import", *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "CITYOPS_DATABASE_URL": str(db.url)}, timeout=120)


def test_the_import_command_prints_counts_and_reasons_and_refuses_a_bad_file_in_one_line(city, tmp_path):
    (a, b) = inner_points(city, 2)
    pd.DataFrame({"code": ["CLI-1", "CLI-2", "CLI-1"], "address": ["甲路1号", "甲路2号", "甲路3号"],
                  "lon": [a[0], b[0], b[0]], "lat": [a[1], b[1], b[1]]}).to_csv(tmp_path / "d.csv", index=False)
    done = _import_cli(city, "doorplates", str(tmp_path / "d.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "doorplates: 2 imported (2 added, 0 changed, 0 unchanged), 1 rejected"
    assert done.stdout.splitlines()[-1] == "  row 3: duplicate code CLI-1 (also row 1)"
    before = counts(city)
    (tmp_path / "broken.geojson").write_text("{not json", encoding="utf-8")
    done = _import_cli(city, "cameras", str(tmp_path / "broken.geojson"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "nothing was imported" in done.stderr, done.stderr
    assert counts(city) == before
