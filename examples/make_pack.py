"""Writes the example city pack ``examples/linxi/`` (临溪市, a made-up city that is not the demo city):
``python examples/make_pack.py [OUT]`` then ``python app.py import pack examples/linxi``.

Its outline, districts and grids are in CGCS2000 (EPSG:4490), its streets and communities in the
Gauss–Krüger 3° zone 39 (EPSG:4527, false easting with the zone number), its doorplates in GCJ-02 (as a
Chinese web map gives them); departments, categories and users are CSV tables. Everything is generated
from the numbers below, so the committed files stay a few KB and can be rebuilt at will.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import Point, box

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # geo.transform, when run as a script from anywhere

from geo.transform import wgs84_to_gcj02  # noqa: E402

CITY_CODE, CITY_NAME = "361200", "临溪市"
CGCS2000, GAUSS_KRUGER_39 = "EPSG:4490", "EPSG:4527"
#: code, name, level, parent, box (lon/lat, CGCS2000 — the same as WGS-84 at this scale).
AREAS = [
    (CITY_CODE, CITY_NAME, "city", None, (116.000, 28.000, 116.200, 28.120)),
    ("361202", "溪东区", "district", CITY_CODE, (116.000, 28.000, 116.100, 28.120)),
    ("361203", "溪西区", "district", CITY_CODE, (116.100, 28.000, 116.200, 28.120)),
    ("361202001", "临江街道", "street", "361202", (116.001, 28.001, 116.099, 28.119)),
    ("361203001", "望山街道", "street", "361203", (116.101, 28.001, 116.199, 28.119)),
    ("361202001001", "江畔社区", "community", "361202001", (116.002, 28.002, 116.050, 28.118)),
    ("361202001002", "柳岸社区", "community", "361202001", (116.050, 28.002, 116.098, 28.118)),
    ("361203001001", "山前社区", "community", "361203001", (116.102, 28.002, 116.198, 28.118)),
]
#: code, name, community, box.
GRIDS = [
    ("LX-G01", "江畔一网格", "361202001001", (116.003, 28.003, 116.049, 28.117)),
    ("LX-G02", "柳岸一网格", "361202001002", (116.051, 28.003, 116.097, 28.117)),
    ("LX-G03", "山前一网格", "361203001001", (116.103, 28.003, 116.197, 28.117)),
]
DEPARTMENTS = [
    {"code": "LX-GAS", "name_zh": "临溪燃气集团", "name_en": "Linxi Gas Group", "parent": ""},
    {"code": "LX-CGJ", "name_zh": "临溪市城市管理局", "name_en": "Linxi Urban Management Bureau", "parent": ""},
    {"code": "LX-CGJ-1", "name_zh": "城管执法一大队", "name_en": "Enforcement Brigade 1", "parent": "LX-CGJ"},
]
CATEGORIES = [
    {"code": "L01", "name_zh": "燃气管网异常", "name_en": "Gas network fault", "kind": "event",
     "department": "LX-GAS", "handle_hours": 2, "close_hours": 4, "working_hours": "no"},
    {"code": "E01", "name_zh": "占道经营", "name_en": "Street vending", "kind": "event",
     "department": "LX-CGJ-1", "handle_hours": 24, "close_hours": 48, "working_hours": "yes"},
    {"code": "C01", "name_zh": "井盖破损", "name_en": "Broken manhole cover", "kind": "component",
     "department": "LX-CGJ", "handle_hours": 8, "close_hours": 24, "working_hours": "no"},
]
USERS = [
    {"username": "lx_admin", "name": "系统管理员", "role": "admin", "grid": "", "department": "", "area": "",
     "phone": ""},
    {"username": "lx_op", "name": "值班员甲", "role": "operator", "grid": "", "department": "", "area": "",
     "phone": "13900000001"},
    {"username": "lx_east_op", "name": "溪东区坐席", "role": "operator", "grid": "", "department": "",
     "area": "361202", "phone": ""},
    {"username": "lx_leader", "name": "带班领导", "role": "leader", "grid": "", "department": "", "area": "",
     "phone": ""},
    {"username": "lx_gas", "name": "燃气抢修", "role": "handler", "grid": "", "department": "LX-GAS", "area": "",
     "phone": "13900000002"},
    {"username": "lx_w1", "name": "网格员一", "role": "worker", "grid": "LX-G01", "department": "", "area": "",
     "phone": "13900000011"},
    {"username": "lx_w2", "name": "网格员二", "role": "worker", "grid": "LX-G02", "department": "", "area": "",
     "phone": "13900000012"},
    {"username": "lx_w3", "name": "网格员三", "role": "worker", "grid": "LX-G03", "department": "", "area": "",
     "phone": "13900000013"},
]
#: The gas sensor sits in grid LX-G01; the key place (a gas regulating station) around it.
GAS_SENSOR = {"id": "LX-RQ-0001", "kind": "gas_pressure", "name": "江畔调压站压力", "family": "gas",
              "unit": "MPa", "tags": "medium-a", "point": (116.020, 28.050)}
KEY_PLACE = {"code": "LX-ZD-001", "name": "江畔燃气调压站", "kind": "重点风险源", "level": "一级",
             "contact_name": "王工", "contact_phone": "13900000021", "box": (116.019, 28.049, 116.021, 28.051)}
RESOURCES = [
    {"code": "LX-YJ-001", "name": "燃气抢险队", "kind": "救援队伍", "capacity": 24, "status": "可用",
     "contact_name": "李队", "contact_phone": "13900000031", "lon": 116.030, "lat": 28.060},
    {"code": "LX-YJ-002", "name": "山前公园应急避难场所", "kind": "shelter", "capacity": 3000,
     "status": "available", "contact_name": "", "contact_phone": "", "lon": 116.150, "lat": 28.060},
]


def _polygons(rows: list[tuple], crs: str) -> gpd.GeoDataFrame:
    """Boxes reprojected to ``crs`` (densified for a projected CRS, where a straight edge bends a little)."""
    geoms = [box(*r[-1]) if crs == CGCS2000 else shapely.segmentize(box(*r[-1]), 0.01) for r in rows]
    return gpd.GeoDataFrame({}, geometry=geoms, crs=CGCS2000).to_crs(crs)


def _areas(rows: list[tuple], crs: str) -> gpd.GeoDataFrame:
    frame = _polygons(rows, crs)
    for i, name in enumerate(("code", "name", "level", "parent_code")):
        frame.insert(i, name, [r[i] for r in rows])
    return frame


def _geojson(frame: gpd.GeoDataFrame, path: Path, digits: int) -> None:
    frame.to_file(path, driver="GeoJSON", engine="pyogrio", layer_options={"COORDINATE_PRECISION": digits})


def _doorplates() -> pd.DataFrame:
    """Two doorplates in each grid, their coordinates in GCJ-02 (as read off a Chinese web map)."""
    rows = []
    for n, (code, _, _, (west, south, east, north)) in enumerate(GRIDS):
        for k in range(2):
            lon, lat = west + (east - west) * (k + 1) / 3, south + (north - south) * (k + 1) / 3
            glon, glat = wgs84_to_gcj02(lon, lat)
            rows.append({"code": f"LX-MP-{n * 2 + k + 1:04d}", "address": f"临溪市{code[3:]}路{k + 1}号",
                         "households": 12 + k, "merchants": k, "lon": round(float(glon), 7),
                         "lat": round(float(glat), 7)})
    return pd.DataFrame(rows)


def make_pack(out: Path) -> Path:
    """Write the pack into the folder ``out`` (created); returns it."""
    out.mkdir(parents=True, exist_ok=True)
    by_level = {level: [a for a in AREAS if a[2] == level] for level in ("city", "district", "street", "community")}
    _geojson(_areas(by_level["city"] + by_level["district"], CGCS2000), out / "city_districts.geojson", 6)
    _geojson(_areas(by_level["street"] + by_level["community"], GAUSS_KRUGER_39),
             out / "streets_communities.geojson", 2)
    grids = _polygons(GRIDS, CGCS2000)
    grids.insert(0, "code", [g[0] for g in GRIDS])
    grids.insert(1, "name", [g[1] for g in GRIDS])
    grids.insert(2, "community", [g[2] for g in GRIDS])
    _geojson(grids, out / "grids.geojson", 6)
    pd.DataFrame(DEPARTMENTS).to_csv(out / "departments.csv", index=False)
    pd.DataFrame(CATEGORIES).to_csv(out / "categories.csv", index=False)
    pd.DataFrame(USERS).to_csv(out / "users.csv", index=False)
    _doorplates().to_csv(out / "doorplates.csv", index=False)
    sensor = {k: v for k, v in GAS_SENSOR.items() if k != "point"}
    _geojson(gpd.GeoDataFrame([sensor], geometry=[Point(GAS_SENSOR["point"])], crs=CGCS2000),
             out / "sensors.geojson", 6)
    place = {k: v for k, v in KEY_PLACE.items() if k != "box"}
    _geojson(gpd.GeoDataFrame([place], geometry=[box(*KEY_PLACE["box"])], crs=CGCS2000), out / "key_places.geojson", 6)
    pd.DataFrame(RESOURCES).to_csv(out / "resources.csv", index=False)
    (out / "city.yaml").write_text(MANIFEST, encoding="utf-8")
    return out


MANIFEST = f"""\
# The example city pack: python app.py import pack examples/linxi  (made by examples/make_pack.py)
city: {{code: "{CITY_CODE}", name: {CITY_NAME}}}
files:
  - {{kind: areas, path: city_districts.geojson, crs: "{CGCS2000}"}}
  - {{kind: areas, path: streets_communities.geojson, crs: "{GAUSS_KRUGER_39}"}}
  - {{kind: grids, path: grids.geojson, crs: "{CGCS2000}"}}
  - {{kind: departments, path: departments.csv}}
  - {{kind: categories, path: categories.csv}}
  - {{kind: users, path: users.csv}}
  - {{kind: doorplates, path: doorplates.csv, crs: gcj02}}
  - {{kind: sensors, path: sensors.geojson, crs: "{CGCS2000}"}}
  - {{kind: key-places, path: key_places.geojson, crs: "{CGCS2000}"}}
  - {{kind: resources, path: resources.csv}}
"""


if __name__ == "__main__":
    print(make_pack(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "linxi"))
