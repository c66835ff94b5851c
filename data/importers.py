"""Importers of city data files (DESIGN §3 ``import``): administrative areas, doorplates, unit grids,
cameras and sensors from GeoJSON, GeoPackage, Shapefile (GBK attributes without a .cpg too), CSV and XLSX
with lon/lat columns, in any CRS pyproj knows (CGCS2000, its Gauss–Krüger zones, Web Mercator…) or GCJ-02.

A file imports its good rows in one transaction, each rejected row is reported with its reason, and a
file-level problem (unreadable, unknown CRS, missing layer, mixed geometry types, swapped lat/lon,
coordinates outside China or outside the city's outline, duplicate area codes) raises ``ImportFileError``
before anything is written. Coordinates are stored in WGS-84. A re-import updates rows by code (an
upsert): the report says what was added, changed, unchanged, and what the database holds that the file
does not (kept unless ``prune``); ``dry_run`` reports all that and writes nothing.

Areas are checked as a hierarchy (city → district → street → community): every parent exists at the
level above, in the file or the database, and a child lies within its parent up to a sliver
(``SLIVER``, reported). An invalid polygon is repaired with ``make_valid`` only when that changes its
area by less than ``REPAIR_LIMIT``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from sqlalchemy import JSON, ColumnElement, Table, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from data.audit import write_audit
from data.db import Database
from data.models import (
    Area,
    AreaLevel,
    Camera,
    Doorplate,
    Grid,
    KeyPlace,
    Resource,
    Sensor,
    VideoPlatform,
)
from geo.grid_index import NO_GRID, GridIndex
from geo.transform import CHINA_BOUNDS, gcj02_to_wgs84, in_china


class ImportFileError(ValueError):
    """A whole file cannot be imported; the message says why. Nothing was written."""


@dataclass
class ImportReport:
    """What an import did: rows imported, and every rejected row (1-based row number, reason).

    An upsert (``upsert``) also counts the rows ``added``, ``changed`` and ``unchanged``, lists the codes in
    the database but not in the file (``missing``; deleted when ``pruned``), notes on accepted rows
    (a repaired polygon, a sliver outside the parent) and messages for the operator (``messages``, e.g.
    the activation codes of new users)."""

    kind: str
    imported: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    upsert: bool = False
    dry_run: bool = False
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: list[str] = field(default_factory=list)
    pruned: bool = False
    notes: list[tuple[int, str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def reject(self, row: int, reason: str) -> None:
        self.rejected.append((row, reason))

    def note(self, row: int, text: str) -> None:
        self.notes.append((row, text))

    def lines(self) -> list[str]:
        """Lines for the command line: the counts, then one line per note and per rejected row."""
        if not self.upsert:
            out = [f"{self.kind}: {self.imported} imported, {len(self.rejected)} rejected"]
            return out + [f"  row {row}: {reason}" for row, reason in self.rejected]
        out = [f"{self.kind}: {self.imported} imported ({self.added} added, {self.changed} changed, "
               f"{self.unchanged} unchanged), {len(self.rejected)} rejected"
               + (" — dry run: nothing was written" if self.dry_run else "")]
        if self.missing:
            shown = ", ".join(self.missing[:10]) + (", …" if len(self.missing) > 10 else "")
            fate = "deleted (--prune)" if self.pruned else "kept (--prune deletes them)"
            out.append(f"  {len(self.missing)} in the database but not in the file, {fate}: {shown}")
        out += [f"  row {row}: note: {text}" for row, text in sorted(self.notes)]
        out += [f"  row {row}: {reason}" for row, reason in self.rejected]
        return out + [f"  {message}" for message in self.messages]


class DryRun(Exception):
    """Raised at the end of a dry run inside its unit of work, so that everything it did is rolled back."""


KINDS = ("doorplates", "grids", "cameras", "sensors")
#: Every kind ``import_file`` takes (the table kinds departments, categories and users are
#: ``dispatch.city_import``'s).
SPATIAL_KINDS = ("areas", *KINDS, "key-places", "resources")
#: Administrative levels from the top; a parent is one level above its child.
LEVELS: tuple[str, ...] = tuple(level.value for level in AreaLevel)
LEVEL_ALIASES = {"市": "city", "地级市": "city", "区": "district", "县": "district", "区县": "district",
                 "县级": "district", "街道": "street", "乡镇": "street", "镇": "street", "乡": "street",
                 "社区": "community", "村": "community", "居委会": "community", "村委会": "community"}
#: Chinese administrative codes: 6 digits (county), 9 (township/street), 12 (统计用区划代码).
AREA_CODE = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")
#: The share of a child area that may lie outside its parent (surveying slivers); more is refused.
SLIVER = 0.01
#: Above this many rows an upsert reads the whole table once, not its keys 500 at a time; and PostgreSQL is
#: written with COPY.
WHOLE_TABLE_ABOVE = COPY_ABOVE = 5000
#: The largest change of area ``make_valid`` may make to an invalid polygon for it to be kept.
REPAIR_LIMIT = 0.001
TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
#: File column names accepted for each field (compared case-insensitively).
ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "编码", "编号", "id"),
    "id": ("id", "sensor_id", "code", "编号"),
    "name": ("name", "名称", "姓名"),
    "address": ("address", "地址", "门牌地址"),
    "lon": ("lon", "lng", "long", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "level": ("level", "级别", "层级"),
    "parent_code": ("parent_code", "parent_cod", "parent", "上级编码", "上级代码", "父级编码"),  # a .dbf keeps 10
    "parent": ("parent", "parent_code", "上级部门", "上级编码"),
    "name_zh": ("name_zh", "中文名称", "名称", "部门名称", "类别名称"),
    "name_en": ("name_en", "english_name", "英文名称"),
    "kind": ("kind", "类型"),
    "department": ("department", "部门", "责任部门", "部门编码"),
    "handle_hours": ("handle_hours", "处置时限"),
    "close_hours": ("close_hours", "结案时限"),
    "username": ("username", "用户名", "账号"),
    "role": ("role", "角色"),
    "grid": ("grid", "网格", "网格编码"),
    "area": ("area", "area_code", "辖区", "区域编码"),
    "phone": ("phone", "电话", "手机"),
    "contact_name": ("contact_name", "contact", "联系人", "负责人"),
    "contact_phone": ("contact_phone", "contact_tel", "phone", "联系电话", "电话"),
    "capacity": ("capacity", "容量", "规模", "数量"),
    "status": ("status", "状态"),
}
#: Kinds of key place (重点风险源/重点场所/重点项目) and of emergency resource (救援队伍/装备物资/避难场所),
#: with the Chinese words a register uses for them.
KEY_PLACE_KINDS = {"risk_source": ("重点风险源", "风险源"), "key_place": ("重点场所", "场所"),
                   "key_project": ("重点项目", "项目")}
RESOURCE_KINDS = {"rescue_team": ("救援队伍", "队伍"), "equipment": ("装备", "救援装备"),
                  "supplies": ("物资", "应急物资", "物资储备"), "shelter": ("避难场所", "应急避难场所")}
RESOURCE_STATUSES = {"available": ("可用", "在位", "正常"), "deployed": ("已调用", "出动", "使用中"),
                     "unavailable": ("不可用", "停用", "维修")}
_SENSOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_LIST_SPLIT = re.compile(r"[,;|、，；]")


# --- reading a file into WGS-84 features ----------------------------------------------------------


def read_table(path: Path, *, sheet: str | None = None) -> pd.DataFrame:
    """A CSV (UTF-8, else GB18030) or XLSX sheet as text columns (codes keep their leading zeros).

    Raises ``ImportFileError`` when the file cannot be read. Shared with the historical-incident import.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"cannot read {path}: no such file")
    try:
        if path.suffix.lower() == ".csv":
            for encoding in ("utf-8-sig", "gb18030"):
                try:
                    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
                except UnicodeDecodeError:
                    continue
            raise ImportFileError(f"cannot read {path.name}: it is neither UTF-8 nor GBK text")
        sheets = pd.ExcelFile(path, engine="openpyxl").sheet_names
        if sheet is not None and sheet not in sheets:
            raise ImportFileError(f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(sheets)})")
        return pd.read_excel(path, sheet_name=sheet or sheets[0], dtype=str, keep_default_na=False,
                             engine="openpyxl")
    except ImportFileError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many types for a damaged file
        raise ImportFileError(f"cannot read {path.name}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _column(frame: pd.DataFrame, field_name: str) -> str | None:
    """The file column holding ``field_name`` (by its aliases, case-insensitively), or None."""
    names = {str(c).strip().lower(): c for c in frame.columns}
    for alias in ALIASES.get(field_name, (field_name,)):
        if alias.lower() in names:
            return names[alias.lower()]
    return None


def _table_features(path: Path, sheet: str | None) -> gpd.GeoDataFrame:
    frame = read_table(path, sheet=sheet)
    lon_col, lat_col = _column(frame, "lon"), _column(frame, "lat")
    if lon_col is None or lat_col is None:
        raise ImportFileError(f"{path.name} has no lon/lat columns (columns: {', '.join(map(str, frame.columns))})")
    lon = pd.to_numeric(frame[lon_col].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(frame[lat_col].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    geoms = shapely.points(lon, lat)
    geoms[~(np.isfinite(lon) & np.isfinite(lat))] = None
    return gpd.GeoDataFrame(frame.drop(columns=[lon_col, lat_col]), geometry=geoms, crs=None)


def _shapefile_encoding(path: Path) -> str | None:
    """None when GDAL knows the encoding (.cpg or DBF code page); else UTF-8 if it decodes, else GB18030."""
    if path.with_suffix(".cpg").exists() or path.with_suffix(".CPG").exists():
        return None
    if pyogrio.read_info(path).get("encoding") not in (None, "", "ISO-8859-1"):
        return None
    try:
        pyogrio.read_dataframe(path, encoding="utf-8", read_geometry=False)
    except UnicodeDecodeError:
        return "gb18030"  # Chinese GIS exports without a .cpg are GBK (GB18030 is its superset)
    return "utf-8"


def _vector_features(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:
        raise ImportFileError(f"cannot read {path.name}: {_first_line(exc)}") from exc
    if layer is not None and layer not in layers:
        raise ImportFileError(f"{path.name} has no layer {layer!r} (layers: {', '.join(layers)})")
    if layer is None and len(layers) > 1:
        raise ImportFileError(f"{path.name} has {len(layers)} layers ({', '.join(layers)}): choose one with --layer")
    try:
        encoding = _shapefile_encoding(path) if path.suffix.lower() == ".shp" else None
        return pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except Exception as exc:
        raise ImportFileError(f"cannot read {path.name}: {_first_line(exc)}") from exc


def _target_crs(crs: str | None) -> CRS | str | None:
    if crs is None:
        return None
    if crs.strip().lower().replace("-", "") == "gcj02":
        return "gcj02"
    try:
        return CRS.from_user_input(crs)
    except CRSError:
        raise ImportFileError(f"unknown CRS {crs!r} (use an EPSG code such as EPSG:4326, or gcj02)") from None


def _to_wgs84(frame: gpd.GeoDataFrame, crs: str | None) -> gpd.GeoDataFrame:
    """The features with their geometry in WGS-84 lon/lat; ``crs`` overrides the file's own CRS."""
    target = _target_crs(crs)
    if target == "gcj02":
        frame = frame.set_crs(None, allow_override=True) if frame.crs is not None else frame
        geoms = shapely.transform(frame.geometry.to_numpy(), _gcj02_coords)
        return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index), crs="EPSG:4326")
    if target is not None:
        frame = frame.set_crs(target, allow_override=True)
    elif frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    try:
        return frame.to_crs("EPSG:4326")
    except Exception as exc:  # pyproj refuses a transformation it cannot build
        raise ImportFileError(f"cannot convert from {frame.crs.name} to WGS-84: {_first_line(exc)}") from exc


def _gcj02_coords(coords: np.ndarray) -> np.ndarray:
    lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def read_features(path: Path, *, crs: str | None = None, layer: str | None = None) -> gpd.GeoDataFrame:
    """A GeoJSON/GPKG/Shapefile layer or CSV/XLSX sheet as features in WGS-84 (``layer`` = sheet for XLSX)."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"cannot read {path}: no such file")
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        frame = _table_features(path, layer)
    elif suffix in VECTOR_SUFFIXES:
        frame = _vector_features(path, layer)
    else:
        raise ImportFileError(f"cannot import {path.name}: use GeoJSON, GPKG, Shapefile, CSV or XLSX")
    return _to_wgs84(frame.reset_index(drop=True), crs)


# --- what the city already holds ------------------------------------------------------------------


@dataclass
class CityContext:
    """The city an import lands in: its outline, its grids, and the codes already taken."""

    outline: shapely.Geometry | None
    grids: GridIndex
    bounds: tuple[float, float, float, float]

    @classmethod
    def load(cls, session: Session) -> CityContext:
        city = session.scalar(select(Area.geom).where(Area.level == AreaLevel.CITY).limit(1))
        outline = shapely.from_wkb(city) if city is not None else None
        grid_rows = session.execute(select(Grid.id, Grid.geom)).all()
        grids = GridIndex([r[0] for r in grid_rows], shapely.from_wkb([r[1] for r in grid_rows]))
        if outline is not None:
            shapely.prepare(outline)
        bounds = tuple(shapely.bounds(outline)) if outline is not None else CHINA_BOUNDS
        return cls(outline, grids, bounds)

    def inside(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        if self.outline is None:
            return np.isfinite(lon) & np.isfinite(lat)
        return shapely.intersects_xy(self.outline, lon, lat)

    def in_bounds(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        west, south, east, north = self.bounds
        return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def _check_swapped(lon: np.ndarray, lat: np.ndarray, city: CityContext) -> None:
    """Refuse a file whose points land in the city only when read as (lat, lon)."""
    finite = np.isfinite(lon) & np.isfinite(lat)
    if not finite.any():
        return
    as_given = int(city.in_bounds(lon[finite], lat[finite]).sum())
    swapped = int(city.in_bounds(lat[finite], lon[finite]).sum())
    if swapped > as_given and swapped * 2 >= int(finite.sum()):
        raise ImportFileError(
            f"coordinates look swapped (lat, lon): {swapped} of {int(finite.sum())} points fall in the "
            "city only when longitude and latitude are exchanged; fix the columns and import again"
        )


_POINTS = frozenset({"Point"})
_POLYGONS = frozenset({"Polygon", "MultiPolygon"})


def _check_geometry_types(frame: gpd.GeoDataFrame, kind: str, wanted: frozenset[str]) -> None:
    geoms = frame.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    types = sorted(set(shapely.get_type_id(geoms[present]).tolist()))
    names = sorted({_TYPE_NAMES[i] for i in types})
    families = {"point" if n in _POINTS | {"MultiPoint"} else "polygon" if n in _POLYGONS else n for n in names}
    if len(families) > 1:
        raise ImportFileError(f"mixed geometry types ({', '.join(names)}): a file holds one kind of feature")
    if names and not set(names) <= wanted:
        raise ImportFileError(f"{kind} need {' or '.join(sorted(wanted))} geometries; the file has {', '.join(names)}")


_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
               6: "MultiPolygon", 7: "GeometryCollection"}


# --- rows ------------------------------------------------------------------------------------------


class RowRejected(Exception):
    """One row cannot be imported; the message is the reason."""


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NaT:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _whole(record: dict[str, Any], name: str, default: int = 0) -> int:
    text = _text(record.get(name))
    if text is None:
        return default
    try:
        number = float(text)
    except ValueError:
        raise RowRejected(f"{name} is not a whole number: {text!r}") from None
    if not number.is_integer() or number < 0:
        raise RowRejected(f"{name} is not a whole number ≥ 0: {text!r}")
    return int(number)


@dataclass
class Rows:
    """The columns of a file, found by alias, read row by row."""

    frame: gpd.GeoDataFrame
    columns: dict[str, Any]

    @classmethod
    def of(cls, frame: gpd.GeoDataFrame, required: Iterable[str], optional: Iterable[str]) -> Rows:
        columns: dict[str, Any] = {}
        for name in required:
            column = _column(frame, name)
            if column is None:
                present = ", ".join(str(c) for c in frame.columns if c != frame.geometry.name)
                raise ImportFileError(f"the file has no {name!r} column (columns: {present})")
            columns[name] = column
        for name in optional:
            column = _column(frame, name)
            if column is not None:
                columns[name] = column
        return cls(frame, columns)

    def records(self) -> Iterable[tuple[int, dict[str, Any], shapely.Geometry | None]]:
        data = {name: self.frame[col].tolist() for name, col in self.columns.items()}
        geoms = self.frame.geometry.to_numpy()
        for i, geom in enumerate(geoms):
            yield i + 1, {name: values[i] for name, values in data.items()}, geom


def _required(record: dict[str, Any], name: str) -> str:
    text = _text(record.get(name))
    if text is None:
        raise RowRejected(f"missing field {name}")
    return text


@dataclass(frozen=True)
class KindSpec:
    """How one kind of file becomes rows: its fields, its geometry, its table and its row builder."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    geometry: frozenset[str]
    model: type
    code_field: str
    code_attr: Any
    build: Callable[[dict[str, Any], shapely.Geometry], dict[str, Any]]


def _doorplate(r: dict[str, Any], geom: shapely.Geometry) -> dict[str, Any]:
    return {"code": _required(r, "code"), "address": _required(r, "address"), "lon": geom.x, "lat": geom.y,
            "households": _whole(r, "households"), "merchants": _whole(r, "merchants"),
            "contact_name": _text(r.get("contact_name")), "contact_phone": _text(r.get("contact_phone"))}


def _camera(r: dict[str, Any], geom: shapely.Geometry) -> dict[str, Any]:
    status = (_text(r.get("status")) or "online").lower()
    if status not in ("online", "offline"):
        raise RowRejected(f"status must be online or offline: {status!r}")
    algorithms = [a.strip() for a in _LIST_SPLIT.split(_text(r.get("algorithms")) or "") if a.strip()]
    return {"code": _required(r, "code"), "name": _required(r, "name"), "type": _text(r.get("type")) or "gun",
            "status": status, "stream_url": _text(r.get("stream_url")), "algorithms": algorithms,
            "platform": _text(r.get("platform")) or "IMPORT", "lon": geom.x, "lat": geom.y}


def _sensor(r: dict[str, Any], geom: shapely.Geometry) -> dict[str, Any]:
    ident = _required(r, "id")
    if not _SENSOR_ID.match(ident) or len(ident) > 40:
        raise RowRejected(f"invalid sensor id {ident!r} (letters, digits, . _ : -)")
    tags = [a.strip() for a in _LIST_SPLIT.split(_text(r.get("tags")) or "") if a.strip()]
    return {"id": ident, "kind": _required(r, "kind"), "name": _required(r, "name"),
            "family": _text(r.get("family")) or "other", "unit": _text(r.get("unit")) or "",
            "status": _text(r.get("status")) or "online", "tags": tags, "lon": geom.x, "lat": geom.y}


def _grid(r: dict[str, Any], geom: shapely.Geometry) -> dict[str, Any]:
    code = _required(r, "code")
    return {"code": code, "name": _text(r.get("name")) or code, "community": _text(r.get("community")),
            "geom": geom}


def _choice(record: dict[str, Any], name: str, choices: dict[str, tuple[str, ...]], default: str | None = None) -> str:
    """The key of ``choices`` that the field ``name`` gives, as the key itself or one of its Chinese words."""
    raw = _text(record.get(name)) or default
    if raw is None:
        raise RowRejected(f"missing field {name}")
    for key, words in choices.items():
        if raw.lower() == key or raw in words:
            return key
    raise RowRejected(f"unknown {name} {raw!r} (one of {', '.join(choices)})")


def _contact(r: dict[str, Any]) -> dict[str, Any]:
    return {"contact_name": _text(r.get("contact_name")), "contact_phone": _text(r.get("contact_phone"))}


def _key_place(r: dict[str, Any], geom: shapely.Geometry) -> dict[str, Any]:
    outline = None
    if shapely.get_type_id(geom) in (3, 6):  # drawn as a polygon: kept, and located by a point inside it
        geom, outline = shapely.point_on_surface(geom), geom
    level = _text(r.get("level"))
    if level is not None and len(level) > 24:
        raise RowRejected(f"level is longer than 24 characters: {level!r}")
    return {"code": _required(r, "code"), "name": _required(r, "name"), "kind": _choice(r, "kind", KEY_PLACE_KINDS),
            "level": level, **_contact(r), "lon": geom.x, "lat": geom.y,
            "geom": None if outline is None else shapely.to_wkb(outline)}


def _resource(r: dict[str, Any], geom: shapely.Geometry) -> dict[str, Any]:
    return {"code": _required(r, "code"), "name": _required(r, "name"), "kind": _choice(r, "kind", RESOURCE_KINDS),
            "capacity": _whole(r, "capacity"), "status": _choice(r, "status", RESOURCE_STATUSES, "available"),
            **_contact(r), "lon": geom.x, "lat": geom.y}


SPECS: dict[str, KindSpec] = {
    "doorplates": KindSpec(("code", "address"), ("households", "merchants", "contact_name", "contact_phone"),
                           _POINTS, Doorplate, "code", Doorplate.code, _doorplate),
    "cameras": KindSpec(("code", "name"), ("platform", "type", "status", "stream_url", "algorithms"),
                        _POINTS, Camera, "code", Camera.code, _camera),
    "sensors": KindSpec(("id", "kind", "name"), ("family", "unit", "status", "tags"),
                        _POINTS, Sensor, "id", Sensor.id, _sensor),
    "grids": KindSpec(("code",), ("name", "community"), _POLYGONS, Grid, "code", Grid.code, _grid),
    "key-places": KindSpec(("code", "name", "kind"), ("level", "contact_name", "contact_phone"),
                           _POINTS | _POLYGONS, KeyPlace, "code", KeyPlace.code, _key_place),
    "resources": KindSpec(("code", "name", "kind"), ("capacity", "status", "contact_name", "contact_phone"),
                          _POINTS, Resource, "code", Resource.code, _resource),
}


# --- the import ------------------------------------------------------------------------------------


def import_file(db: Database, kind: str, path: Path, *, crs: str | None = None, layer: str | None = None,
                dry_run: bool = False, prune: bool = False) -> ImportReport:
    """Import ``path`` as ``kind`` (one of ``SPATIAL_KINDS``): good rows upserted by code in one transaction,
    rejected rows with reasons. ``dry_run`` writes nothing; ``prune`` deletes the rows of this kind the file
    does not hold.

    Raises ``ImportFileError`` (and writes nothing) for a file-level problem.
    """
    report = ImportReport(kind, upsert=True, dry_run=dry_run)
    try:
        with db.uow() as session:
            import_features(session, kind, path, report, crs=crs, layer=layer, prune=prune)
            if dry_run:
                raise DryRun
    except DryRun:
        pass
    except SQLAlchemyError as exc:
        raise ImportFileError(f"the database refused the rows; nothing was imported: {_first_line(exc)}") from exc
    return report


def import_features(session: Session, kind: str, path: Path, report: ImportReport, *, crs: str | None = None,
                    layer: str | None = None, prune: bool = False) -> None:
    """Import ``path`` as ``kind`` into the open unit of work ``session`` (the caller commits or rolls back),
    counting into ``report``. Raises ``ImportFileError`` for a file-level problem."""
    spec = AREA_SPEC if kind == "areas" else SPECS.get(kind)
    if spec is None:
        raise ImportFileError(f"unknown kind {kind!r} (one of {', '.join(SPATIAL_KINDS)})")
    frame = read_features(Path(path), crs=crs, layer=layer)
    _check_geometry_types(frame, kind, spec.geometry)
    rows = Rows.of(frame, spec.required, spec.optional)
    city = CityContext.load(session)
    probe = frame.geometry.to_numpy()
    if not spec.geometry <= _POINTS:
        probe = shapely.point_on_surface(probe)
    check_location(shapely.get_x(probe), shapely.get_y(probe), city, outline=kind != "areas")
    if kind == "areas":
        _import_areas(session, rows, report, prune)
    else:
        good = _validate(spec, rows, city, report)
        values = _grid_values(session, good) if kind == "grids" else _point_values(session, kind, good, city)
        upsert(session, spec.model, spec.code_field, values, report)
        report.imported = len(values)
        if kind == "grids":
            _hand_orphans_to(session, [v["code"] for v in values])
        keep_or_prune(session, spec.code_attr, {v[spec.code_field] for v in values}, report, prune)
    audit_import(session, report, Path(path))
    report.rejected.sort()


def audit_import(session: Session, report: ImportReport, path: Path) -> None:
    """The audit row of an import: what it added, changed, kept and pruned (a dry run's is rolled back)."""
    write_audit(session, None, f"{report.kind}.import", f"file:{path.name}",
                detail={"added": report.added, "changed": report.changed, "unchanged": report.unchanged,
                        "rejected": len(report.rejected), "missing": len(report.missing),
                        "pruned": report.pruned})


def check_location(lon: np.ndarray, lat: np.ndarray, city: CityContext, *, outline: bool = True) -> None:
    """Refuse a file whose features land, for the most part, outside China or (``outline``) outside the city's
    outline: its axes are swapped or its CRS is not the one it was read in. A few stray rows are left to the
    row checks."""
    finite = np.isfinite(lon) & np.isfinite(lat)
    total = int(finite.sum())
    if not total:
        return
    _check_swapped(lon, lat, city)
    lon, lat = lon[finite], lat[finite]
    hint = "wrong CRS? (give the file's coordinate system with --crs, e.g. EPSG:4490, EPSG:4527 or gcj02)"
    outside = ~in_china(lon, lat)
    if int(outside.sum()) * 2 > total:
        first = int(np.argmax(outside))
        raise ImportFileError(
            f"{int(outside.sum())} of {total} features lie outside China (the first at {lon[first]:.6g}, "
            f"{lat[first]:.6g} as lon, lat): swapped axes or {hint}")
    if outline and city.outline is not None:
        away = ~city.inside(lon, lat)
        if int(away.sum()) * 2 > total:
            raise ImportFileError(
                f"{int(away.sum())} of {total} features lie outside the city's outline: is it another city's file, "
                f"or the {hint}")


class _XY(NamedTuple):
    """A point's coordinates, read once for the whole file: what a point kind's row builder uses of it."""

    x: float
    y: float


def _geometry_reasons(geoms: np.ndarray) -> list[str | None]:
    """Why each geometry cannot be imported (None: it can), checked for the whole file at once."""
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    valid = np.zeros(len(geoms), dtype=bool)
    valid[~empty] = shapely.is_valid(geoms[~empty])
    reasons: list[str | None] = [None] * len(geoms)
    for i in np.flatnonzero(empty | ~valid).tolist():
        reasons[i] = "empty geometry" if empty[i] else f"invalid geometry: {shapely.is_valid_reason(geoms[i])}"
    return reasons


def _validate(spec: KindSpec, rows: Rows, city: CityContext, report: ImportReport) -> list[dict[str, Any]]:
    built: list[tuple[int, dict[str, Any]]] = []
    geoms = rows.frame.geometry.to_numpy()
    reasons = _geometry_reasons(geoms)
    if spec.geometry <= _POINTS:  # the builders read x and y: once for the file, not a shapely call a row
        xs, ys = shapely.get_x(geoms).tolist(), shapely.get_y(geoms).tolist()
        geoms = np.fromiter((_XY(x, y) for x, y in zip(xs, ys, strict=True)), dtype=object, count=len(xs))
    for (number, record, _), geom, reason in zip(rows.records(), geoms, reasons, strict=True):
        if reason is None:
            try:
                built.append((number, spec.build(record, geom)))
                continue
            except RowRejected as exc:
                reason = str(exc)
        report.reject(number, reason)
    if not built:
        return []
    if all("lon" in row for _, row in built):
        lon = np.fromiter((row["lon"] for _, row in built), dtype=np.float64, count=len(built))
        lat = np.fromiter((row["lat"] for _, row in built), dtype=np.float64, count=len(built))
    else:
        probe = shapely.point_on_surface(np.asarray([row["geom"] for _, row in built], dtype=object))
        lon, lat = shapely.get_x(probe), shapely.get_y(probe)
    inside = city.inside(lon, lat)
    seen: dict[str, int] = {}
    good = []
    for (number, row), ok in zip(built, inside.tolist(), strict=True):
        code = row[spec.code_field]
        if not ok:
            report.reject(number, "outside the city")
        elif code in seen:
            report.reject(number, f"duplicate code {code} (also row {seen[code]})")
        else:
            seen[code] = number
            good.append(row)
    return good


# --- writing: an upsert by code ----------------------------------------------------------------------


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, float) and isinstance(new, float):
        return abs(old - new) <= 1e-9
    if isinstance(old, bytes) and isinstance(new, bytes) and old != new:
        return bool(shapely.equals_exact(shapely.from_wkb(old), shapely.from_wkb(new), tolerance=1e-9))
    return old == new


def upsert(session: Session, model: type, key: str, rows: list[dict[str, Any]], report: ImportReport) -> list[str]:
    """Insert the ``rows`` whose ``key`` the table lacks, update those that differ, count the rest unchanged
    (into ``report``). Returns the keys of the rows that changed."""
    if not rows:
        return []
    key_attr = getattr(model, key)
    pk = model.__mapper__.primary_key[0].key
    columns = sorted({name for row in rows for name in row})
    existing: dict[Any, Any] = {}
    keys = [row[key] for row in rows]
    query = select(getattr(model, pk).label("_pk"), *(getattr(model, c) for c in columns))
    if len(keys) > WHOLE_TABLE_ABOVE:  # one scan beats hundreds of IN lookups (PostgreSQL: 3× on 118,000 rows)
        wanted = set(keys)
        existing = {found._mapping[key]: found for found in session.execute(query) if found._mapping[key] in wanted}
    for start in range(0, len(keys) if len(keys) <= WHOLE_TABLE_ABOVE else 0, 500):  # SQLite's parameter limit
        for found in session.execute(query.where(key_attr.in_(keys[start:start + 500]))):
            existing[getattr(found, key)] = found
    added, changed = [], []
    for row in rows:
        old = existing.get(row[key])
        if old is None:
            added.append(row)
        elif tuple(getattr(old, c) for c in row) != tuple(row.values()) and not all(
                _same(getattr(old, c), row[c]) for c in row):  # exact equality first: the common case, fast
            changed.append({**row, pk: old._pk})
    if added:
        _insert(session, model.__table__, added)
    if changed:
        session.execute(update(model), changed)
    report.added += len(added)
    report.changed += len(changed)
    report.unchanged += len(rows) - len(added) - len(changed)
    return [row[key] for row in changed]


def _insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts of the same keys): PostgreSQL through COPY (psycopg's executemany sends a statement
    a row: 118,000 doorplates took 15 s), else a Core executemany (cheaper than the ORM's bulk insert)."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    if connection.dialect.name != "postgresql" or not hasattr(driver, "cursor") or len(rows) < COPY_ABOVE:
        session.execute(insert(table), rows)
        return
    names = list(rows[0])
    for column in table.columns:  # what an INSERT would fill in: the columns' scalar and callable defaults
        if column.name not in rows[0] and column.default is not None and not column.default.is_sequence:
            names.append(column.name)
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    defaults = {c.name: c.default for c in table.columns if c.name in names and c.name not in rows[0]}
    quoted = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in names)
    with driver.cursor().copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            values = [row[name] if name in row else _default(defaults[name]) for name in names]
            copy.write_row([json.dumps(v) if name in json_columns and v is not None else v
                            for name, v in zip(names, values, strict=True)])


def _default(default: Any) -> Any:
    return default.arg(None) if default.is_callable else default.arg


def keep_or_prune(session: Session, key_attr: Any, in_file: set[str], report: ImportReport, prune: bool,
                  where: ColumnElement[bool] | None = None) -> list[str]:
    """Note in ``report`` the keys of ``key_attr``'s table (rows matching ``where``) the file does not hold,
    and delete those rows when ``prune``. Returns those keys."""
    query = select(key_attr) if where is None else select(key_attr).where(where)
    missing = sorted(set(session.scalars(query)) - in_file)
    report.missing += missing
    if prune and missing:
        for start in range(0, len(missing), 500):
            session.execute(delete(key_attr.class_).where(key_attr.in_(missing[start:start + 500])))
        report.pruned = True
    return missing


def _point_values(session: Session, kind: str, rows: list[dict[str, Any]], city: CityContext) -> list[dict[str, Any]]:
    """The rows with their grid (and a camera's platform id) as the table stores them."""
    if not rows:
        return []
    lon = np.array([r["lon"] for r in rows])
    lat = np.array([r["lat"] for r in rows])
    located = city.grids.locate(lon, lat)
    for row, grid in zip(rows, located.tolist(), strict=True):
        row["grid_id"] = None if grid == NO_GRID else grid
    if kind == "cameras":
        codes = [r.pop("platform") for r in rows]
        platforms = _platform_ids(session, set(codes))
        for row, code in zip(rows, codes, strict=True):
            row["platform_id"] = platforms[code]
    return rows


def _platform_ids(session: Session, codes: set[str]) -> dict[str, int]:
    """Ids of the video platforms named by ``codes``; unknown platforms are created (name = code)."""
    rows = session.execute(select(VideoPlatform.code, VideoPlatform.id).where(VideoPlatform.code.in_(codes)))
    known = dict(rows.all())
    for code in sorted(codes - known.keys()):
        platform = VideoPlatform(code=code, name=code)
        session.add(platform)
        session.flush()
        known[code] = platform.id
    return known


def polygon_values(geom: shapely.Geometry) -> dict[str, Any]:
    """A polygon as ``PolygonMixin`` columns: WKB and its bounding box."""
    minx, miny, maxx, maxy = shapely.bounds(geom).tolist()
    return {"geom": shapely.to_wkb(geom), "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def _grid_values(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Grids in their communities (named, else the one holding the grid), as the table stores them."""
    if not rows:
        return []
    communities = session.execute(
        select(Area.id, Area.code, Area.geom).where(Area.level == AreaLevel.COMMUNITY)
    ).all()
    by_code = {code: ident for ident, code, _ in communities}
    holder = GridIndex([c[0] for c in communities], shapely.from_wkb([c[2] for c in communities]))
    geoms = np.asarray([r["geom"] for r in rows], dtype=object)
    inner = shapely.point_on_surface(geoms)
    located = holder.locate(shapely.get_x(inner), shapely.get_y(inner))
    values = []
    for row, geom, found in zip(rows, geoms, located.tolist(), strict=True):
        community = by_code.get(row["community"]) if row["community"] else (None if found == NO_GRID else found)
        if community is None:
            raise ImportFileError(
                f"grid {row['code']}: no community "
                + (f"with code {row['community']!r}" if row["community"] else "contains it")
                + "; import the areas first or name the community in a 'community' column"
            )
        values.append({"code": row["code"], "name": row["name"], "community_id": community, **polygon_values(geom)})
    return values


def _hand_orphans_to(session: Session, codes: list[str]) -> None:
    """Give the points that have no grid to the grids ``codes`` that hold them."""
    if not codes:
        return
    new = session.execute(select(Grid.id, Grid.geom).where(Grid.code.in_(codes))).all()
    index = GridIndex([g[0] for g in new], shapely.from_wkb([g[1] for g in new]))
    for model in (Doorplate, Camera, Sensor, KeyPlace, Resource):
        orphans = session.execute(select(model.id, model.lon, model.lat).where(model.grid_id.is_(None))).all()
        if not orphans:
            continue
        found = index.locate(np.array([o[1] for o in orphans]), np.array([o[2] for o in orphans]))
        for (ident, _, _), grid in zip(orphans, found.tolist(), strict=True):
            if grid != NO_GRID:
                session.execute(update(model).where(model.id == ident).values(grid_id=grid))


# --- administrative areas ----------------------------------------------------------------------------


def _area(r: dict[str, Any], geom: shapely.Geometry) -> dict[str, Any]:
    code = _required(r, "code")
    if not AREA_CODE.match(code):
        raise RowRejected(f"code {code!r} is not an administrative code (6, 9 or 12 digits)")
    raw_level = _required(r, "level")
    level = LEVEL_ALIASES.get(raw_level, raw_level.lower())
    if level not in LEVELS:
        raise RowRejected(f"unknown level {raw_level!r} (one of {', '.join(LEVELS)})")
    parent = _text(r.get("parent_code"))
    if level != AreaLevel.CITY and parent is None:
        raise RowRejected(f"missing field parent_code (a {level} has a parent)")
    return {"code": code, "name": _required(r, "name"), "level": level,
            "parent_code": None if level == AreaLevel.CITY else parent, "geom": geom}


def area_levels(frame: gpd.GeoDataFrame) -> set[str]:
    """The known levels an areas file holds (by its ``level`` column; none without one)."""
    column = _column(frame, "level")
    if column is None:
        return set()
    found = {LEVEL_ALIASES.get(text, text.lower()) for text in map(_text, frame[column].tolist()) if text}
    return found & set(LEVELS)


def repair(geom: shapely.Geometry) -> tuple[shapely.Geometry, str | None]:
    """``geom`` made valid with ``make_valid`` (its polygons only) and a note, when that changes its area by
    less than ``REPAIR_LIMIT``; a valid polygon comes back as it is. Raises ``RowRejected`` otherwise."""
    if shapely.is_valid(geom):
        return geom, None
    reason = shapely.is_valid_reason(geom)
    fixed = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in (3, 6)]
    fixed = shapely.union_all(parts) if parts else shapely.Polygon()
    before = float(shapely.area(geom))
    change = abs(float(shapely.area(fixed)) - before) / before if before > 0 else float("inf")
    if change >= REPAIR_LIMIT or shapely.is_empty(fixed):
        raise RowRejected(f"invalid polygon ({reason}); make_valid would change its area by "
                          f"{'∞' if change == float('inf') else f'{change:.2%}'} (over {REPAIR_LIMIT:.1%}): fix it "
                          "at its source")
    return fixed, f"invalid polygon ({reason}) repaired with make_valid (area changed by {change:.4%})"


def _area_rows(rows: Rows, report: ImportReport) -> list[tuple[int, dict[str, Any]]]:
    """The rows of an areas file, built; a code twice in the file refuses the whole file."""
    first: dict[str, int] = {}
    twice: dict[str, list[int]] = {}
    for number, record, _ in rows.records():
        code = _text(record.get("code"))
        if code is not None and code in first:
            twice.setdefault(code, [first[code]]).append(number)
        first.setdefault(code or "", number)
    if twice:
        shown = "; ".join(f"{code} (rows {', '.join(map(str, numbers))})" for code, numbers in list(twice.items())[:5])
        raise ImportFileError(f"duplicate codes in the file: {shown}")
    built = []
    for number, record, geom in rows.records():
        try:
            if geom is None or shapely.is_missing(geom) or shapely.is_empty(geom):
                raise RowRejected("empty geometry")
            row = _area(record, geom)
            row["geom"], note = repair(geom)
            if note:
                report.note(number, note)
            built.append((number, row))
        except RowRejected as exc:
            report.reject(number, str(exc))
    return built


def _import_areas(session: Session, rows: Rows, report: ImportReport, prune: bool) -> None:
    """Check the areas of the file as a hierarchy and upsert them level by level from the city down."""
    built = _area_rows(rows, report)
    known = {code: (level, geom) for code, level, geom in session.execute(select(Area.code, Area.level, Area.geom))}
    db_city = next((code for code, (level, _) in known.items() if level == AreaLevel.CITY), None)
    accepted: dict[str, tuple[str, shapely.Geometry]] = {}
    ordered = sorted(built, key=lambda item: LEVELS.index(item[1]["level"]))
    for number, row in ordered:
        reason = _hierarchy_reason(number, row, accepted, known, db_city, report)
        if reason:
            report.reject(number, reason)
        else:
            accepted[row["code"]] = (row["level"], row["geom"])
    good = [row for _, row in ordered if row["code"] in accepted]
    for level in LEVELS:
        ids = dict(session.execute(select(Area.code, Area.id)).all())
        values = [{"code": r["code"], "name": r["name"], "level": level,
                   "parent_id": ids[r["parent_code"]] if r["parent_code"] else None, **polygon_values(r["geom"])}
                  for r in good if r["level"] == level]
        upsert(session, Area, "code", values, report)
    report.imported = len(good)
    for level in reversed(LEVELS):  # children before their parents
        keep_or_prune(session, Area.code, set(accepted), report, prune, where=Area.level == level)
    report.missing.sort()


def _hierarchy_reason(number: int, row: dict[str, Any], accepted: dict[str, tuple[str, shapely.Geometry]],
                      known: dict[str, tuple[str, bytes]], db_city: str | None, report: ImportReport) -> str | None:
    """Why the area ``row`` does not fit the hierarchy, or None (noting a sliver outside its parent)."""
    level, code = row["level"], row["code"]
    if level == AreaLevel.CITY:
        other = db_city if db_city not in (None, code) else next(
            (c for c, (lv, _) in accepted.items() if lv == AreaLevel.CITY), None)
        return f"the city is {other} already (one city per database)" if other else None
    parent_code = row["parent_code"]
    if parent_code in accepted:
        parent_level, parent_geom = accepted[parent_code]
    elif parent_code in known:
        parent_level, parent_geom = known[parent_code][0], shapely.from_wkb(known[parent_code][1])
    else:
        return f"unknown parent code {parent_code} (not in the file's accepted rows nor in the database)"
    above = LEVELS[LEVELS.index(level) - 1]
    if parent_level != above:
        return f"level out of order: the parent of a {level} is a {above}, but {parent_code} is a {parent_level}"
    area = float(shapely.area(row["geom"]))
    outside = 1 - float(shapely.area(shapely.intersection(row["geom"], parent_geom))) / area if area > 0 else 1.0
    if outside > SLIVER:
        return f"{outside:.1%} of it lies outside its parent {parent_code} (at most {SLIVER:.0%} is a sliver)"
    if outside > 1e-6:
        report.note(number, f"{outside:.3%} of it lies outside its parent {parent_code} (a sliver, accepted)")
    return None


AREA_SPEC = KindSpec(("code", "name", "level"), ("parent_code",), _POLYGONS, Area, "code", Area.code, _area)
