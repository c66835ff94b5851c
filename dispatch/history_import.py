"""Import of historical incidents (``python app.py import incidents FILE.csv|xlsx``, DESIGN §3).

Columns: ``code, category, source, reported_at, filed_at, dispatched_at, resolved_at, closed_at,
handle_deadline, close_deadline, lon, lat`` and optionally ``rejected_at``, ``title`` and what the old
system knew of each case: ``department`` (the department code that handled it; default: the
category's department today), ``rework_count`` (times it was returned, 返工), ``assignee`` (a
username) and ``grid_code`` (its unit grid; default: the grid at its point). An empty cell = it
never happened / not known. A category map (``read_category_map``: legacy code → our code) renames
the old system's categories. Every timestamp and deadline is kept as given, so the KPIs, rankings
and rework rates cover the years before the system existed; a missing deadline is computed from the
category's limits. A time without an offset is local time (CITYOPS_TZ). Rows whose times are in an
impossible order (dispatched before filed, closed before resolved, a step without the one before
it...) or that name an unknown category, department, assignee or grid are rejected with their
reason; the good rows of a file are written in one transaction with bulk inserts, and a file-level
problem (unreadable file, missing column) raises ``ImportFileError`` before anything is written.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from data.audit import write_audit
from data.db import Database
from data.importers import ImportFileError, ImportReport, read_table
from data.models import Category, Department, Grid, Incident, IncidentHistory, IncidentState, User, utcnow
from dispatch import routing, sla
from dispatch.workflow import SOURCES
from geo.grid_index import NO_GRID
from settings import get_settings

S = IncidentState
KIND = "incidents"
COLUMNS = ("code", "category", "source", "reported_at", "filed_at", "dispatched_at", "resolved_at", "closed_at",
           "handle_deadline", "close_deadline", "lon", "lat")
OPTIONAL = ("rejected_at", "title", "department", "rework_count", "assignee", "grid_code")
#: The steps of the loop in the order they must happen; each needs the one before it (except that a
#: hotline call answered directly is closed without being dispatched or resolved).
STEPS = ("reported_at", "filed_at", "dispatched_at", "resolved_at", "closed_at")
BATCH = 5_000
CODE_MAX = 40


class RowRejected(Exception):
    """One row cannot be imported; the message is the reason."""


def _cell(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    text = "" if value is None else str(value).strip()
    return text or None


def _moment(record: dict[str, Any], name: str) -> datetime | None:
    text = _cell(record, name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise RowRejected(f"{name} is not an ISO-8601 time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=get_settings().zone)


def _point(record: dict[str, Any]) -> tuple[float | None, float | None]:
    lon_text, lat_text = _cell(record, "lon"), _cell(record, "lat")
    if lon_text is None and lat_text is None:
        return None, None
    try:
        lon, lat = float(lon_text), float(lat_text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RowRejected(f"lon and lat must both be numbers, or both empty: {lon_text!r}, {lat_text!r}") from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise RowRejected(f"({lon}, {lat}) is not a WGS-84 longitude/latitude")
    return lon, lat


def check_order(times: dict[str, datetime | None]) -> None:
    """Refuse an impossible order of the loop's timestamps (RowRejected says which)."""
    if times["reported_at"] is None:
        raise RowRejected("missing reported_at")
    previous = "reported_at"
    for step in STEPS[1:]:
        moment = times[step]
        if moment is None:
            continue
        needed = "filed_at" if step == "closed_at" else STEPS[STEPS.index(step) - 1]
        if times[needed] is None:
            raise RowRejected(f"{step} without {needed}")
        if step == "closed_at" and times["dispatched_at"] is not None and times["resolved_at"] is None:
            raise RowRejected("closed_at of a dispatched incident without resolved_at")
        earlier = times[previous]
        if earlier is not None and moment < earlier:
            raise RowRejected(f"{step} {moment.isoformat()} is before {previous} {earlier.isoformat()}")
        previous = step
    rejected = times.get("rejected_at")
    if rejected is not None:
        if times["filed_at"] is not None:
            raise RowRejected("rejected_at of an incident that was filed")
        if rejected < times["reported_at"]:
            raise RowRejected("rejected_at is before reported_at")
    for deadline in ("handle_deadline", "close_deadline"):
        moment = times.get(deadline)
        if moment is not None and moment < times["reported_at"]:
            raise RowRejected(f"{deadline} is before reported_at")


def state_and_card(times: dict[str, datetime | None], handle_deadline: datetime, close_deadline: datetime,
                   now: datetime) -> tuple[str, str]:
    """The state a past incident reached by its last step in ``times``, and the card it carries ``now``."""
    state = next((state for column, state in (("closed_at", S.CLOSED), ("rejected_at", S.REJECTED),
                                              ("resolved_at", S.RESOLVED), ("dispatched_at", S.DISPATCHED),
                                              ("filed_at", S.FILED)) if times.get(column) is not None), S.REPORTED)
    card = sla.CARD_NONE
    if state in (S.FILED, S.DISPATCHED, S.RESOLVED):
        reported = times["reported_at"]
        assert reported is not None
        card = sla.incident_card(now, reported, handle_deadline, close_deadline, resolved=state == S.RESOLVED)
    return state, card


@dataclass
class _Context:
    categories: dict[str, tuple[int, float, float, str]]
    known_codes: set[str]
    now: datetime
    category_map: Mapping[str, str]
    departments: dict[str, int]
    users: dict[str, int]
    grids: dict[str, int]

    @classmethod
    def load(cls, session: Session, now: datetime, category_map: Mapping[str, str]) -> _Context:
        """The codes a row may name, read once per file."""
        categories = {
            row.code: (row.department_id, row.handle_hours, row.close_hours, row.name_zh)
            for row in session.execute(select(Category.code, Category.department_id, Category.handle_hours,
                                              Category.close_hours, Category.name_zh))
        }
        return cls(categories, set(session.scalars(select(Incident.code))), now, category_map,
                   dict(session.execute(select(Department.code, Department.id)).all()),
                   dict(session.execute(select(User.username, User.id)).all()),
                   dict(session.execute(select(Grid.code, Grid.id)).all()))


def _category(record: dict[str, Any], ctx: _Context) -> str:
    given = _cell(record, "category")
    category = ctx.category_map.get(given, given) if given is not None else None
    if category not in ctx.categories:
        if category != given:
            raise RowRejected(f"category {given!r} maps to unknown category {category!r}")
        raise RowRejected(f"unknown category {given!r}")
    return category


def _known(record: dict[str, Any], column: str, ids: dict[str, int]) -> int | None:
    """The id of the row named in ``column`` (None when the cell is empty); RowRejected when unknown."""
    code = _cell(record, column)
    if code is None:
        return None
    if code not in ids:
        raise RowRejected(f"unknown {column.removesuffix('_code')} {code!r}")
    return ids[code]


def _rework_count(record: dict[str, Any], times: dict[str, datetime | None]) -> int:
    text = _cell(record, "rework_count")
    if text is None:
        return 0
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number >= 0 and number == int(number)):
        raise RowRejected(f"rework_count must be a whole number 0 or more, not {text!r}")
    if number and times["dispatched_at"] is None:
        raise RowRejected("rework_count of an incident that was never dispatched")
    return int(number)


def _row(number: int, record: dict[str, Any], ctx: _Context) -> dict[str, Any]:
    code = _cell(record, "code")
    if code is None:
        raise RowRejected("missing code")
    if len(code) > CODE_MAX:
        raise RowRejected(f"code longer than {CODE_MAX} characters")
    if code in ctx.known_codes:
        raise RowRejected(f"code {code} exists already")
    category = _category(record, ctx)
    source = _cell(record, "source") or "operator"
    if source not in SOURCES:
        raise RowRejected(f"unknown source {source!r} (one of {', '.join(SOURCES)})")
    times = {col: _moment(record, col) for col in (*STEPS, "rejected_at", "handle_deadline", "close_deadline")}
    check_order(times)
    lon, lat = _point(record)
    category_department, handle_hours, close_hours, name = ctx.categories[category]
    department_id = _known(record, "department", ctx.departments) or category_department
    assignee_id = _known(record, "assignee", ctx.users)
    grid_id = _known(record, "grid_code", ctx.grids)
    rework_count = _rework_count(record, times)
    reported = times["reported_at"]
    assert reported is not None
    handle_deadline = times["handle_deadline"] or sla.DEFAULT_CALENDAR.add_hours(reported, handle_hours)
    close_deadline = times["close_deadline"] or sla.DEFAULT_CALENDAR.add_hours(reported, close_hours)
    state, card = state_and_card(times, handle_deadline, close_deadline, ctx.now)
    ctx.known_codes.add(code)
    return {
        "code": code, "state": state, "version": 1, "category_code": category, "source": source,
        "title": (_cell(record, "title") or name)[:255], "lon": lon, "lat": lat, "department_id": department_id,
        "assignee_id": assignee_id, "grid_id": grid_id,
        "reported_at": reported, "filed_at": times["filed_at"], "rejected_at": times["rejected_at"],
        "dispatched_at": times["dispatched_at"], "resolved_at": times["resolved_at"],
        "first_resolved_at": times["resolved_at"], "started_at": None, "closed_at": times["closed_at"],
        "handle_deadline": handle_deadline, "close_deadline": close_deadline, "card": card, "escalated": False,
        "rework_count": rework_count, "exercise": False, "updated_at": ctx.now, "severity": "normal",
        "_row": number,
    }


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    frame = read_table(path)
    names = {str(c).strip().lower(): c for c in frame.columns}
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ImportFileError(f"{path.name} lacks the column(s) {', '.join(missing)} "
                              f"(columns: {', '.join(map(str, frame.columns))})")
    wanted = [c for c in (*COLUMNS, *OPTIONAL) if c in names]
    data = {c: frame[names[c]].tolist() for c in wanted}
    for i in range(len(frame)):
        yield i + 1, {c: data[c][i] for c in wanted}


def assign_grids(session: Session, rows: list[dict[str, Any]]) -> None:
    """Set ``grid_id`` of every incident row that has none from its point (one vectorised lookup)."""
    unset = [r for r in rows if r.get("grid_id") is None]
    lon = np.array([np.nan if r["lon"] is None else r["lon"] for r in unset], dtype=np.float64)
    lat = np.array([np.nan if r["lat"] is None else r["lat"] for r in unset], dtype=np.float64)
    located = routing.grid_index(session).locate(lon, lat) if unset else np.array([], dtype=np.int64)
    for row, grid in zip(unset, located.tolist(), strict=True):
        row["grid_id"] = None if grid == NO_GRID else grid


def write_rows(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    """Bulk-insert incident rows (with ``_row``, their file row) and one ``import`` history row each."""
    # render_nulls: without it the ORM leaves out None values and splits the rows into one statement per
    # run of rows with the same empty columns (thousands of statements for a varied history)
    options = {"render_nulls": True}
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        ids = dict(session.execute(
            insert(Incident).returning(Incident.code, Incident.id),
            [{k: v for k, v in r.items() if k != "_row"} for r in chunk], execution_options=options,
        ).all())
        session.execute(insert(IncidentHistory), execution_options=options, params=[
            {"incident_id": ids[r["code"]], "at": now, "actor_id": None, "action": "import", "from_state": None,
             "to_state": r["state"], "note": None, "data": {"row": r["_row"]}}
            for r in chunk
        ])


def read_category_map(path: Path | str) -> dict[str, str]:
    """A CSV of two columns, the old system's category code and ours, as a dict (a header line is read
    as one more pair and does no harm). ``ImportFileError`` for an unreadable file, a line without
    exactly two codes, or a legacy code mapped twice to different codes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read the category map {path}: {exc.strerror}") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportFileError(f"cannot read the category map {path.name}: it is neither UTF-8 nor GBK text")
    mapping: dict[str, str] = {}
    for number, cells in enumerate(csv.reader(text.splitlines()), start=1):
        codes = [c.strip() for c in cells if c.strip()]
        if not codes:
            continue
        if len(codes) != 2 or len(cells) != 2:
            raise ImportFileError(f"category map {path.name} line {number}: expected two columns "
                                  f"(legacy code, our code), got {cells!r}")
        legacy, ours = codes
        if mapping.setdefault(legacy, ours) != ours:
            raise ImportFileError(f"category map {path.name} line {number}: {legacy!r} is mapped to both "
                                  f"{mapping[legacy]!r} and {ours!r}")
    return mapping


def import_incidents(db: Database, path: Path | str, *, category_map: Mapping[str, str] | None = None) -> ImportReport:
    """Import the historical incidents of a CSV/XLSX file, renaming categories by ``category_map``
    (legacy code → our code): good rows in one transaction, bad rows reported with their reason.
    ``ImportFileError`` (nothing written) for a file-level problem."""
    path = Path(path)
    records = list(_records(path))
    report = ImportReport(KIND)
    now = utcnow()
    try:
        with db.uow() as session:
            ctx = _Context.load(session, now, category_map or {})
            good = []
            for number, record in records:
                try:
                    good.append(_row(number, record, ctx))
                except RowRejected as exc:
                    report.reject(number, str(exc))
            assign_grids(session, good)
            write_rows(session, good, now)
            write_audit(session, None, "incident.import", f"file:{path.name}", at=now,
                        detail={"imported": len(good), "rejected": len(report.rejected)})
            report.imported = len(good)
    except SQLAlchemyError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFileError(f"the database refused the rows; nothing was imported: {reason}") from exc
    return report
