"""Importing a city's organisation from CSV/XLSX tables (DESIGN §3 ``import``): its departments, incident
categories and users, upserted by code (username for users) with the report of ``data.importers``
(added, changed, unchanged, in the database but not in the file; ``dry_run``; ``prune``).

Users never come with passwords: each new user gets a one-time activation code, printed once in the
report and stored only as a hash; ``activate_user`` turns it into the user's password
(``python app.py users activate NAME``). ``prune`` disables users (their incidents keep their names)
and deletes departments and categories nothing refers to.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from data.accounts import AccountError, issue_activation_code, set_password, verify_password
from data.areas import AreaScopeError, area_scope
from data.db import Database
from data.importers import (
    TABLE_SUFFIXES,
    DryRun,
    ImportFileError,
    ImportReport,
    RowRejected,
    Rows,
    audit_import,
    keep_or_prune,
    read_table,
    upsert,
)
from data.models import Category, Department, Grid, Role, User
from dispatch.categories import CODE, KINDS
from dispatch.categories import _hours as hours_pair  # the limits' one validation
from dispatch.service import InvalidInput

TABLE_KINDS = ("departments", "categories", "users")
ROLES = tuple(r.value for r in Role)
FLAGS = {"1": True, "true": True, "yes": True, "y": True, "是": True,
         "0": False, "false": False, "no": False, "n": False, "否": False}


def _cell(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    text = "" if value is None else str(value).strip()
    return text or None


def _need(record: dict[str, Any], name: str) -> str:
    text = _cell(record, name)
    if text is None:
        raise RowRejected(f"missing field {name}")
    return text


# --- the kinds --------------------------------------------------------------------------------------


def _departments(session: Session, rows: Rows, report: ImportReport) -> list[dict[str, Any]]:
    built = _build(rows, report, lambda r: {"code": _need(r, "code"), "name_zh": _need(r, "name_zh"),
                                            "name_en": _need(r, "name_en"), "parent_code": _cell(r, "parent")})
    known = set(session.scalars(select(Department.code))) | {row["code"] for _, row in built}
    good = []
    for number, row in built:
        if row["parent_code"] and row["parent_code"] not in known:
            report.reject(number, f"unknown parent department {row['parent_code']}")
        elif row["parent_code"] == row["code"]:
            report.reject(number, "a department cannot be its own parent")
        else:
            good.append(row)
    return good


def _categories(session: Session, rows: Rows, report: ImportReport) -> list[dict[str, Any]]:
    departments = dict(session.execute(select(Department.code, Department.id)).all())

    def build(r: dict[str, Any]) -> dict[str, Any]:
        code = _need(r, "code")
        if not CODE.match(code):
            raise RowRejected(f"code {code!r}: a capital letter and 1 to 15 capitals or digits")
        kind = _need(r, "kind").lower()
        if kind not in KINDS:
            raise RowRejected(f"kind must be component or event: {kind!r}")
        department = _need(r, "department")
        if department not in departments:
            raise RowRejected(f"unknown department {department} (import the departments first)")
        try:
            handle, close = hours_pair(_need(r, "handle_hours"), _need(r, "close_hours"), "hours")
        except InvalidInput as exc:
            raise RowRejected(exc.message) from None
        row = {"code": code, "name_zh": _need(r, "name_zh"), "name_en": _need(r, "name_en"), "kind": kind,
               "department_id": departments[department], "handle_hours": handle, "close_hours": close}
        if "working_hours" in r:  # the optional column: limits counted in working hours only
            flag = (_cell(r, "working_hours") or "0").lower()
            if flag not in FLAGS:
                raise RowRejected(f"working_hours must be yes or no: {flag!r}")
            row["working_hours"] = FLAGS[flag]
        return row

    return [row for _, row in _build(rows, report, build)]


def _users(session: Session, rows: Rows, report: ImportReport) -> list[dict[str, Any]]:
    grids = dict(session.execute(select(Grid.code, Grid.id)).all())
    departments = dict(session.execute(select(Department.code, Department.id)).all())

    def build(r: dict[str, Any]) -> dict[str, Any]:
        role = _need(r, "role").lower()
        if role not in ROLES:
            raise RowRejected(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        grid, department, area = _cell(r, "grid"), _cell(r, "department"), _cell(r, "area")
        if grid is not None and grid not in grids:
            raise RowRejected(f"unknown grid {grid}")
        if department is not None and department not in departments:
            raise RowRejected(f"unknown department {department}")
        if area is not None:
            try:
                area_scope(session, area)
            except AreaScopeError as exc:
                raise RowRejected(str(exc)) from None
        return {"username": _need(r, "username"), "display_name": _need(r, "name"), "role": role,
                "grid_id": grids.get(grid) if grid else None,
                "department_id": departments.get(department) if department else None,
                "area_code": area, "phone": _cell(r, "phone")}

    return [row for _, row in _build(rows, report, build)]


def _build(rows: Rows, report: ImportReport,
           build: Callable[[dict[str, Any]], dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Each row built, a rejected row reported with its reason; a key twice in the file is rejected."""
    built: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for number, record, _ in rows.records():
        try:
            row = build(record)
        except RowRejected as exc:
            report.reject(number, str(exc))
            continue
        key = row.get("code", row.get("username"))
        if key in seen:
            report.reject(number, f"duplicate code {key} (also row {seen[key]})")
            continue
        seen[key] = number
        built.append((number, row))
    return built


KIND_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "departments": (("code", "name_zh", "name_en"), ("parent",)),
    "categories": (("code", "name_zh", "name_en", "kind", "department", "handle_hours", "close_hours"),
                   ("working_hours",)),
    "users": (("username", "name", "role"), ("grid", "department", "area", "phone")),
}


# --- the import ---------------------------------------------------------------------------------------


def import_table(db: Database, kind: str, path: Path, *, sheet: str | None = None, dry_run: bool = False,
                 prune: bool = False) -> ImportReport:
    """Import the CSV/XLSX ``path`` as ``kind`` (departments, categories or users), upserting by code.

    Raises ``ImportFileError`` (and writes nothing) for a file-level problem."""
    report = ImportReport(kind, upsert=True, dry_run=dry_run)
    try:
        with db.uow() as session:
            import_rows(session, kind, path, report, sheet=sheet, prune=prune)
            if dry_run:
                raise DryRun
    except DryRun:
        forget_activation_codes(report)
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        raise ImportFileError(f"the database refused the rows; nothing was imported: {first}") from exc
    return report


def import_rows(session: Session, kind: str, path: Path, report: ImportReport, *, sheet: str | None = None,
                prune: bool = False) -> None:
    """Import the table ``path`` as ``kind`` into the open unit of work ``session`` (the caller commits or rolls
    back), counting into ``report``. Raises ``ImportFileError`` for a file-level problem."""
    if kind not in TABLE_KINDS:
        raise ImportFileError(f"unknown kind {kind!r} (one of {', '.join(TABLE_KINDS)})")
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ImportFileError(f"{kind} come from a CSV or XLSX table, not {path.name}")
    frame = read_table(path, sheet=sheet)
    required, optional = KIND_COLUMNS[kind]
    rows = Rows.of(gpd.GeoDataFrame(frame, geometry=[None] * len(frame)), required, optional)
    if kind == "departments":
        _write(session, Department, "code", _departments(session, rows, report), report, prune)
    elif kind == "categories":
        _write(session, Category, "code", _categories(session, rows, report), report, prune)
    else:
        _write_users(session, _users(session, rows, report), report, prune)
    audit_import(session, report, path)
    report.rejected.sort()


def forget_activation_codes(report: ImportReport) -> None:
    """A dry run created no user: the codes it printed would activate nobody."""
    report.messages = [m for m in report.messages if not m.startswith("activation code")]


def _write(session: Session, model: type, key: str, rows: list[dict[str, Any]], report: ImportReport,
           prune: bool) -> None:
    upsert(session, model, key, rows, report)
    report.imported = len(rows)
    keep_or_prune(session, getattr(model, key), {row[key] for row in rows}, report, prune)


def _write_users(session: Session, rows: list[dict[str, Any]], report: ImportReport, prune: bool) -> None:
    before = set(session.scalars(select(User.username)))
    changed = upsert(session, User, "username", rows, report)
    report.imported = len(rows)
    if changed:  # a changed role, grid or scope ends the user's sessions
        session.execute(update(User).where(User.username.in_(changed))
                        .values(session_epoch=User.session_epoch + 1))
    for row in rows:
        if row["role"] == Role.WORKER and row["grid_id"] is not None:
            user_id = session.scalar(select(User.id).where(User.username == row["username"]))
            session.execute(update(Grid).where(Grid.id == row["grid_id"]).values(worker_id=user_id))
        if row["username"] not in before:
            code = issue_activation_code(session, row["username"])
            report.messages.append(f"activation code for {row['username']}: {code}")
    missing = keep_or_prune(session, User.username, {row["username"] for row in rows}, report, prune=False)
    if prune and missing:  # users are disabled, never deleted: their incidents and audit rows keep them
        session.execute(update(User).where(User.username.in_(missing))
                        .values(active=False, session_epoch=User.session_epoch + 1))
        report.pruned = True


def activate_user(session: Session, username: str, code: str, password: str) -> None:
    """Set the password of the imported user ``username`` with their one-time activation ``code``, which then
    stops working. Raises ``AccountError`` for an unknown user or a wrong or used code."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.activation_hash or not verify_password(user.activation_hash, code):
        raise AccountError(f"no pending activation of {username!r} with this code")
    set_password(session, user, password)
    user.activation_hash = None
