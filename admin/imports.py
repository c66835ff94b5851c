"""The import page of /admin (issue 16): an uploaded file imported as one KIND in its CRS — the importers of
``python app.py import`` (``data.importers`` for spatial kinds, ``dispatch.city_import`` for tables) in one
unit of work, all or nothing. A dry run reports what would be added, changed, unchanged and missing and
writes nothing; a real import is audited as done by the administrator."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path, PurePath

from sqlalchemy.exc import SQLAlchemyError

from admin.audit import Actor, audit, check
from data.db import Database
from data.importers import (
    TABLE_SUFFIXES,
    VECTOR_SUFFIXES,
    DryRun,
    ImportFileError,
    ImportReport,
    import_features,
)
from dispatch.city_import import TABLE_KINDS, forget_activation_codes, import_rows
from domain.errors import Invalid
from domain.permissions import Permission

#: Every kind the page imports, in the order the page offers them (dependencies first).
IMPORT_KINDS = ("areas", "grids", "departments", "categories", "users", "doorplates", "cameras", "sensors",
                "key-places", "resources")
#: The permission an import of each kind needs (city geography: the settings of the city).
KIND_PERMISSIONS = {"users": Permission.USER_WRITE, "departments": Permission.DEPARTMENT_WRITE,
                    "categories": Permission.CATEGORY_WRITE, "sensors": Permission.SENSOR_WRITE}
#: A zipped Shapefile (its .shp, .shx, .dbf, .prj, .cpg) is uploaded as one .zip.
UPLOAD_SUFFIXES = (*TABLE_SUFFIXES, *VECTOR_SUFFIXES, ".zip")
#: The largest upload the page takes (the server's request limit is 8 MB; base64 adds a third).
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def _refuse(message: str) -> Invalid:
    return Invalid("import_refused", "admin_import.refused", message=message, reason=message)


def _unzipped(archive: Path, folder: Path) -> Path:
    """The one data file of a zipped Shapefile (or GPKG/GeoJSON), extracted flat into ``folder``."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > 20 * MAX_UPLOAD_BYTES:
                raise _refuse(f"{archive.name} unpacks to more than {20 * MAX_UPLOAD_BYTES // 2**20} MB")
            for member in members:
                name = PurePath(member.filename).name  # flat: no path of the archive leaves the folder
                if name and not name.startswith("."):
                    (folder / name).write_bytes(zipped.read(member))
    except zipfile.BadZipFile:
        raise _refuse(f"{archive.name} is not a zip archive") from None
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in VECTOR_SUFFIXES)
    if len(found) != 1:
        raise _refuse(f"{archive.name} must hold exactly one .shp, .gpkg or .geojson file, not {len(found)}")
    return found[0]


def import_upload(db: Database, actor: Actor | None, kind: str, filename: str, content: bytes, *,
                  crs: str | None = None, layer: str | None = None, dry_run: bool = True) -> ImportReport:
    """Import the uploaded ``content`` (named ``filename``) as ``kind``: the report (a dry run: nothing
    written). ``domain.errors.Invalid`` for a file-level refusal (nothing imported), ``Forbidden`` for a user
    who may not write this kind."""
    check(actor, KIND_PERMISSIONS.get(kind, Permission.SETTING_WRITE))
    if kind not in IMPORT_KINDS:
        raise _refuse(f"unknown kind {kind!r} (one of {', '.join(IMPORT_KINDS)})")
    name = PurePath(filename or "").name
    if PurePath(name).suffix.lower() not in UPLOAD_SUFFIXES:
        raise _refuse(f"cannot import {name or 'this file'}: use GeoJSON, GPKG, a zipped Shapefile, CSV or XLSX")
    if len(content) > MAX_UPLOAD_BYTES:
        raise _refuse(f"{name} is larger than {MAX_UPLOAD_BYTES // 2**20} MB: import it with `python app.py import`")
    if kind in TABLE_KINDS and PurePath(name).suffix.lower() not in TABLE_SUFFIXES:
        raise _refuse(f"{kind} come from a CSV or XLSX table, not {name}")
    report = ImportReport(kind, upsert=True, dry_run=dry_run)
    with tempfile.TemporaryDirectory(prefix="cityops-import-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        if path.suffix.lower() == ".zip":
            unpacked = Path(folder) / "unzipped"
            unpacked.mkdir()
            path = _unzipped(path, unpacked)
        try:
            with db.uow() as session:
                if kind in TABLE_KINDS:
                    import_rows(session, kind, path, report, sheet=layer or None)
                else:
                    import_features(session, kind, path, report, crs=crs or None, layer=layer or None)
                audit(session, actor, "admin.import", f"file:{name}",
                      {"kind": kind, "crs": crs or None, "added": report.added, "changed": report.changed,
                       "unchanged": report.unchanged, "rejected": len(report.rejected),
                       "missing": len(report.missing)})
                if dry_run:
                    raise DryRun
        except DryRun:
            forget_activation_codes(report)
        except ImportFileError as exc:
            raise _refuse(str(exc)) from None
        except SQLAlchemyError as exc:
            raise _refuse(f"the database refused the rows; nothing was imported: {str(exc).splitlines()[0]}") from None
    return report
