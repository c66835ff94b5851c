"""Importers of city data files (DESIGN §3 ``import``): doorplates, unit grids, cameras and sensors from
GeoJSON, GeoPackage, Shapefile (GBK attributes without a .cpg too), CSV and XLSX with lon/lat columns.

A file imports its good rows in one transaction, each rejected row is reported with its reason, and a
file-level problem (unreadable, unknown CRS, missing layer, mixed geometry types, swapped lat/lon)
raises ``ImportFileError`` before anything is written. Coordinates are stored in WGS-84.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from data.db import Database
from data.models import Area, AreaLevel, Camera, Doorplate, Grid, KeyPlace, Sensor, VideoPlatform
from geo.grid_index import NO_GRID, GridIndex
from geo.transform import CHINA_BOUNDS, gcj02_to_wgs84


class ImportFileError(ValueError):
    """A whole file cannot be imported; the message says why. Nothing was written."""


@dataclass
class ImportReport:
    """What an import did: rows imported, and every rejected row (1-based row number, reason)."""

    kind: str
    imported: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def reject(self, row: int, reason: str) -> None:
        self.rejected.append((row, reason))

    def lines(self) -> list[str]:
        """Lines for the command line: the counts, then one line per rejected row."""
        out = [f"{self.kind}: {self.imported} imported, {len(self.rejected)} rejected"]
        out += [f"  row {row}: {reason}" for row, reason in self.rejected]
        return out


KINDS = ("doorplates", "grids", "cameras", "sensors")
TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
#: File column names accepted for each field (compared case-insensitively).
ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "编码", "编号", "id"),
    "id": ("id", "sensor_id", "code", "编号"),
    "name": ("name", "名称"),
    "address": ("address", "地址", "门牌地址"),
    "lon": ("lon", "lng", "long", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
}
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


def _geometry_reason(geom: shapely.Geometry | None) -> str | None:
    if geom is None or shapely.is_missing(geom) or shapely.is_empty(geom):
        return "empty geometry"
    if not shapely.is_valid(geom):
        return f"invalid geometry: {shapely.is_valid_reason(geom)}"
    return None


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


SPECS: dict[str, KindSpec] = {
    "doorplates": KindSpec(("code", "address"), ("households", "merchants", "contact_name", "contact_phone"),
                           _POINTS, Doorplate, "code", Doorplate.code, _doorplate),
    "cameras": KindSpec(("code", "name"), ("platform", "type", "status", "stream_url", "algorithms"),
                        _POINTS, Camera, "code", Camera.code, _camera),
    "sensors": KindSpec(("id", "kind", "name"), ("family", "unit", "status", "tags"),
                        _POINTS, Sensor, "id", Sensor.id, _sensor),
    "grids": KindSpec(("code",), ("name", "community"), _POLYGONS, Grid, "code", Grid.code, _grid),
}


# --- the import ------------------------------------------------------------------------------------


def import_file(db: Database, kind: str, path: Path, *, crs: str | None = None,
                layer: str | None = None) -> ImportReport:
    """Import ``path`` as ``kind``: good rows in one transaction, rejected rows with reasons.

    Raises ``ImportFileError`` (and writes nothing) for a file-level problem.
    """
    spec = SPECS.get(kind)
    if spec is None:
        raise ImportFileError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    frame = read_features(Path(path), crs=crs, layer=layer)
    _check_geometry_types(frame, kind, spec.geometry)
    rows = Rows.of(frame, spec.required, spec.optional)
    report = ImportReport(kind)
    try:
        with db.uow() as session:
            city = CityContext.load(session)
            probe = frame.geometry.to_numpy()
            if spec.geometry is _POLYGONS:
                probe = shapely.point_on_surface(probe)
            _check_swapped(shapely.get_x(probe), shapely.get_y(probe), city)
            good = _validate(session, spec, rows, city, report)
            if kind == "grids":
                _write_grids(session, good, city)
            else:
                _write_points(session, kind, spec, good, city)
            report.imported = len(good)
    except SQLAlchemyError as exc:
        raise ImportFileError(f"the database refused the rows; nothing was imported: {_first_line(exc)}") from exc
    report.rejected.sort()
    return report


def _validate(session: Session, spec: KindSpec, rows: Rows, city: CityContext,
              report: ImportReport) -> list[dict[str, Any]]:
    built: list[tuple[int, dict[str, Any]]] = []
    for number, record, geom in rows.records():
        reason = _geometry_reason(geom)
        if reason is None:
            try:
                built.append((number, spec.build(record, geom)))
                continue
            except RowRejected as exc:
                reason = str(exc)
        report.reject(number, reason)
    if not built:
        return []
    probe = [row["geom"] if "geom" in row else shapely.Point(row["lon"], row["lat"]) for _, row in built]
    probe = shapely.point_on_surface(np.asarray(probe, dtype=object))
    inside = city.inside(shapely.get_x(probe), shapely.get_y(probe))
    codes = [row[spec.code_field] for _, row in built]
    taken = set()
    for start in range(0, len(codes), 500):  # stay under the bound-parameter limits of SQLite
        taken.update(session.scalars(select(spec.code_attr).where(spec.code_attr.in_(codes[start:start + 500]))))
    seen: dict[str, int] = {}
    good = []
    for (number, row), ok in zip(built, inside.tolist(), strict=True):
        code = row[spec.code_field]
        if not ok:
            report.reject(number, "outside the city")
        elif code in taken:
            report.reject(number, f"duplicate code {code} (already in the database)")
        elif code in seen:
            report.reject(number, f"duplicate code {code} (also row {seen[code]})")
        else:
            seen[code] = number
            good.append(row)
    return good


def _write_points(session: Session, kind: str, spec: KindSpec, rows: list[dict[str, Any]], city: CityContext) -> None:
    if not rows:
        return
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
    session.execute(insert(spec.model), rows)


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


def _write_grids(session: Session, rows: list[dict[str, Any]], city: CityContext) -> None:
    """Insert grids into their communities (named, else the one holding the grid), then hand the
    points that had no grid to the new grids."""
    if not rows:
        return
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
        minx, miny, maxx, maxy = shapely.bounds(geom).tolist()
        values.append({"code": row["code"], "name": row["name"], "community_id": community,
                       "geom": shapely.to_wkb(geom), "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy})
    session.execute(insert(Grid), values)
    new = session.execute(select(Grid.id, Grid.geom).where(Grid.code.in_([v["code"] for v in values]))).all()
    index = GridIndex([g[0] for g in new], shapely.from_wkb([g[1] for g in new]))
    for model in (Doorplate, Camera, Sensor, KeyPlace):
        orphans = session.execute(select(model.id, model.lon, model.lat).where(model.grid_id.is_(None))).all()
        if not orphans:
            continue
        found = index.locate(np.array([o[1] for o in orphans]), np.array([o[2] for o in orphans]))
        for (ident, _, _), grid in zip(orphans, found.tolist(), strict=True):
            if grid != NO_GRID:
                session.execute(update(model).where(model.id == ident).values(grid_id=grid))
