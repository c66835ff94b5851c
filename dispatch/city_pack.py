"""A city pack (``python app.py import pack DIR``): a folder of a city's files described by ``city.yaml``,
imported in dependency order in ONE transaction — a file-level problem in any file rolls back them all.

``city.yaml`` names the city and lists its files::

    city: {code: "330300", name: 新安市}
    files:
      - {kind: areas, path: city.geojson, crs: EPSG:4490}
      - {kind: grids, path: grids.shp, crs: EPSG:4527}
      - {kind: users, path: users.csv}

Files are imported areas → departments → categories → grids → users → doorplates, cameras, sensors,
key-places, resources (areas files from the one holding the highest level down; otherwise the manifest's
order within a kind), each upserted by code with its own report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from data.db import Database
from data.importers import (
    AREA_CODE,
    LEVELS,
    DryRun,
    ImportFileError,
    ImportReport,
    area_levels,
    import_features,
    read_features,
)
from data.models import Area, AreaLevel
from dispatch.city_import import TABLE_KINDS, forget_activation_codes, import_rows

MANIFEST = "city.yaml"
#: The order files are imported in: what a kind refers to comes before it.
ORDER = ("areas", "departments", "categories", "grids", "users", "doorplates", "cameras", "sensors", "key-places",
         "resources")
PackKind = Literal["areas", "departments", "categories", "grids", "users", "doorplates", "cameras", "sensors",
                   "key-places", "resources"]


class PackFile(BaseModel):
    """One file of the pack: its kind, its path inside the pack, and (optionally) its CRS and layer or sheet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: PackKind
    path: str = Field(min_length=1)
    crs: str | None = None
    layer: str | None = None

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise ValueError("a path inside the pack's folder (relative, without '..')")
        return value


class PackCity(BaseModel):
    """The city the pack brings up: its administrative code and its name, as its city area has them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str = Field(min_length=1, max_length=128)

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: object) -> str:
        text = str(value).strip()
        if not AREA_CODE.match(text):
            raise ValueError(f"{text!r} is not an administrative code (6, 9 or 12 digits)")
        return text


class Manifest(BaseModel):
    """``city.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    city: PackCity
    files: list[PackFile] = Field(min_length=1)


@dataclass
class PackReport:
    """What a pack import did: the city, and each file's report in the order they were imported."""

    city: PackCity
    dry_run: bool = False
    files: list[tuple[PackFile, ImportReport]] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = f"city {self.city.code} {self.city.name}: {len(self.files)} files" + (
            " — dry run: nothing was written" if self.dry_run else "")
        out = [head]
        for entry, report in self.files:
            out.append(f"{entry.path}:")
            out += ["  " + line for line in report.lines()]
        return out


def read_manifest(folder: Path) -> Manifest:
    """The validated ``city.yaml`` of ``folder``; ``ImportFileError`` naming the field when it is wrong or a
    file it lists is missing."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ImportFileError(f"{folder} has no {MANIFEST} (a pack is a folder with a {MANIFEST} manifest)")
    try:
        manifest = Manifest.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except UnicodeDecodeError:
        raise ImportFileError(f"{MANIFEST} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise ImportFileError(f"{MANIFEST} is not YAML: {str(exc).splitlines()[0]}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ImportFileError(f"{MANIFEST}: {where}: {first['msg']}") from None
    missing = [f.path for f in manifest.files if not (folder / f.path).is_file()]
    if missing:
        raise ImportFileError(f"{MANIFEST} lists files the folder does not hold: {', '.join(missing)}")
    return manifest


def import_pack(db: Database, folder: Path, *, dry_run: bool = False) -> PackReport:
    """Import the pack in ``folder`` in one transaction, files in dependency order (``ORDER``).

    Raises ``ImportFileError`` (and writes nothing) for a problem with the manifest or with any file."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    ordered = sorted(manifest.files, key=lambda f: (ORDER.index(f.kind), _top_level(folder, f)))
    pack = PackReport(manifest.city, dry_run=dry_run)
    try:
        with db.uow() as session:
            for entry in ordered:
                pack.files.append((entry, _import_one(session, folder, entry)))
            _missing_from_every_file(pack.files)
            _check_city(session, manifest.city)
            if dry_run:
                raise DryRun
    except DryRun:
        for _, report in pack.files:
            report.dry_run = True
            forget_activation_codes(report)
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        raise ImportFileError(f"the database refused the rows; nothing was imported: {first}") from exc
    return pack


def _top_level(folder: Path, entry: PackFile) -> int:
    """For an areas file, the rank of the highest level it holds (city 0 … community 3), so that parents are
    imported before their children whatever the manifest's order; 0 for other kinds (then: the manifest's)."""
    if entry.kind != "areas":
        return 0
    try:
        levels = area_levels(read_features(folder / entry.path, crs=entry.crs, layer=entry.layer))
    except ImportFileError:
        return 0  # its import says why
    return min((LEVELS.index(level) for level in levels), default=len(LEVELS))


def _import_one(session: Session, folder: Path, entry: PackFile) -> ImportReport:
    report = ImportReport(entry.kind, upsert=True)
    path = folder / entry.path
    try:
        if entry.kind in TABLE_KINDS:
            import_rows(session, entry.kind, path, report, sheet=entry.layer)
        else:
            import_features(session, entry.kind, path, report, crs=entry.crs, layer=entry.layer)
        session.flush()  # a file the database refuses names itself (the pack is then rolled back)
    except ImportFileError as exc:
        raise ImportFileError(f"{entry.path} ({entry.kind}): {exc}") from None
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        raise ImportFileError(f"{entry.path} ({entry.kind}): the database refused the rows: {first}") from None
    return report


def _missing_from_every_file(files: list[tuple[PackFile, ImportReport]]) -> None:
    """Where a kind comes in several files (areas by level, say), what is missing is what none of them holds."""
    kinds = {entry.kind for entry, _ in files}
    for kind in kinds:
        reports = [report for entry, report in files if entry.kind == kind]
        if len(reports) > 1:
            missing = set.intersection(*(set(report.missing) for report in reports))
            for report in reports:
                report.missing = sorted(missing)


def _check_city(session: Session, city: PackCity) -> None:
    """The database's city must be the one ``city.yaml`` names."""
    found = session.execute(select(Area.code, Area.name).where(Area.level == AreaLevel.CITY)).first()
    if found is None:
        raise ImportFileError(f"{MANIFEST} names the city {city.code} {city.name}, but no areas file holds a city "
                              "outline (an area of level city)")
    if tuple(found) != (city.code, city.name):
        raise ImportFileError(f"{MANIFEST} names the city {city.code} {city.name}, but the city outline is "
                              f"{found[0]} {found[1]}")
