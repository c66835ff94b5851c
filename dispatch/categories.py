"""Administration of incident categories: create or change a category with its department, its
handling and closing limits per severity and whether they count working hours only."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from data.models import Category, CategoryLimit, Department
from dispatch.service import InvalidInput
from dispatch.sla import SEVERITIES

CODE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")
#: Category prefixes raised by machines (lifeline and environmental alert rules, video AI): people do
#: not report these by hand (patrol, hotline, Open311).
MACHINE_PREFIXES = ("L", "E", "V")
KINDS = ("component", "event")
MAX_HOURS = 24 * 365


@dataclass(frozen=True)
class CategoryChange:
    """A category as the administrator submits it; ``limits`` maps a severity to (handle, close) hours."""

    code: str
    name_zh: str
    name_en: str
    kind: str
    department: str
    handle_hours: float
    close_hours: float
    major: str | None = None
    working_hours: bool = False
    limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)


def _hours(handle: Any, close: Any, where: str) -> tuple[float, float]:
    try:
        handle_f, close_f = float(handle), float(close)
    except (TypeError, ValueError):
        raise InvalidInput("invalid_hours", f"{where}: hours must be numbers") from None
    if not (math.isfinite(handle_f) and math.isfinite(close_f) and 0 < handle_f <= MAX_HOURS
            and 0 < close_f <= MAX_HOURS):
        raise InvalidInput("invalid_hours", f"{where}: hours must be in (0, {MAX_HOURS}]")
    if close_f < handle_f:
        raise InvalidInput("invalid_hours", f"{where}: the closing limit may not be shorter than the handling limit")
    return handle_f, close_f


def save_category(session: Session, change: CategoryChange, *, create: bool) -> Category:
    """Create (``create``) or update a category; InvalidInput names what is wrong, nothing is half-saved."""
    if not CODE.match(change.code or ""):
        raise InvalidInput("invalid_code", "a code is a capital letter and 1 to 15 capitals or digits")
    name_zh, name_en = (change.name_zh or "").strip(), (change.name_en or "").strip()
    if not name_zh or not name_en or len(name_zh) > 128 or len(name_en) > 128:
        raise InvalidInput("invalid_name", "both names (1 to 128 characters) are required")
    if change.kind not in KINDS:
        raise InvalidInput("invalid_kind", "kind must be component or event")
    handle, close = _hours(change.handle_hours, change.close_hours, "limits")
    limits = {}
    for severity, pair in change.limits.items():
        if severity not in SEVERITIES:
            raise InvalidInput("unknown_severity", f"severity must be one of {', '.join(SEVERITIES)}")
        limits[severity] = _hours(pair[0], pair[1], severity)
    department = session.scalar(select(Department).where(Department.code == change.department))
    if department is None:
        raise InvalidInput("unknown_department", f"no department {change.department!r}")
    category = session.get(Category, change.code)
    if create and category is not None:
        raise InvalidInput("category_exists", f"category {change.code!r} exists already")
    if not create and category is None:
        raise InvalidInput("unknown_category", f"unknown category {change.code!r}")
    if category is None:
        category = Category(code=change.code)
        session.add(category)
    category.name_zh, category.name_en, category.kind = name_zh, name_en, change.kind
    category.major = (change.major or "").strip() or category.major
    category.department_id = department.id
    category.department = department
    category.handle_hours, category.close_hours = handle, close
    category.working_hours = bool(change.working_hours)
    session.flush()
    session.execute(delete(CategoryLimit).where(CategoryLimit.category_code == change.code))
    session.add_all(CategoryLimit(category_code=change.code, severity=s, handle_hours=h, close_hours=c)
                    for s, (h, c) in limits.items())
    session.flush()
    return category


def limits_of(session: Session, codes: list[str] | None = None) -> dict[str, dict[str, tuple[float, float]]]:
    """The per-severity limits of the given categories (all when None): code → severity → (handle, close)."""
    query = select(CategoryLimit)
    if codes is not None:
        query = query.where(CategoryLimit.category_code.in_(codes))
    found: dict[str, dict[str, tuple[float, float]]] = {}
    for row in session.scalars(query):
        found.setdefault(row.category_code, {})[row.severity] = (row.handle_hours, row.close_hours)
    return found


def reportable(code: str) -> bool:
    """True when people may report incidents of category ``code`` (not a machine-raised category)."""
    return not code.startswith(MACHINE_PREFIXES)


def reportable_categories(session: Session) -> list[Category]:
    """The categories people may report, by code."""
    return [c for c in session.scalars(select(Category).order_by(Category.code)) if reportable(c.code)]
