"""Departments in /admin (issue 16): create one or change its names and the department above it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.audit import Actor, audit, check
from data.models import Department
from domain.errors import Conflict, Invalid, NotFound
from domain.permissions import Permission

#: A department code: a letter, then letters, digits, ``_`` or ``-`` (up to 32).
CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,31}$")


@dataclass(frozen=True)
class DepartmentForm:
    """A department as submitted: its code, both names and the code of its parent (empty: none)."""

    code: str
    name_zh: str
    name_en: str
    parent: str | None = None


def _ancestors(session: Session, code: str | None) -> list[str]:
    """``code`` and the codes above it, up the parent chain (stops at a loop)."""
    chain: list[str] = []
    while code and code not in chain:
        chain.append(code)
        code = session.scalar(select(Department.parent_code).where(Department.code == code))
    return chain


def save_department(session: Session, actor: Actor | None, form: DepartmentForm, *, create: bool) -> Department:
    """Create (``create``) or change a department; refusals name the field, nothing is half-saved."""
    check(actor, Permission.DEPARTMENT_WRITE)
    code = (form.code or "").strip()
    if not CODE.match(code):
        raise Invalid("invalid_code", "admin_city.invalid_code",
                      message="a code is a letter and up to 31 letters, digits, _ or -")
    name_zh, name_en = (form.name_zh or "").strip(), (form.name_en or "").strip()
    if not (1 <= len(name_zh) <= 128 and 1 <= len(name_en) <= 128):
        raise Invalid("invalid_name", "error.invalid_name", message="both names (1 to 128 characters) are required")
    department = session.scalar(select(Department).where(Department.code == code))
    if create and department is not None:
        raise Conflict("department_exists", "admin_city.department_exists", message=f"department {code} exists",
                       code=code)
    if not create and department is None:
        raise NotFound("unknown_department", "admin_people.unknown_department", message=f"no department {code}",
                       code=code)
    parent = (form.parent or "").strip() or None
    if parent is not None:
        if session.scalar(select(Department.id).where(Department.code == parent)) is None:
            raise Invalid("unknown_parent", "admin_city.unknown_parent", message=f"no department {parent}",
                          code=parent)
        if code in _ancestors(session, parent):
            raise Invalid("parent_loop", "admin_city.parent_loop",
                          message=f"{parent} lies under {code}: a department cannot sit under itself")
    if department is None:
        department = Department(code=code)
        session.add(department)
    before = {"name_zh": department.name_zh, "name_en": department.name_en, "parent": department.parent_code}
    department.name_zh, department.name_en, department.parent_code = name_zh, name_en, parent
    session.flush()
    after = {"name_zh": name_zh, "name_en": name_en, "parent": parent}
    audit(session, actor, "department.create" if create else "department.edit", f"department:{code}",
          {k: v for k, v in after.items() if before[k] != v})
    return department


def department_values(session: Session, code: str | None) -> dict[str, object]:
    """The editable values of the department ``code``, empty when there is none."""
    department = session.scalar(select(Department).where(Department.code == (code or "")))
    if department is None:
        return {}
    return {"code": department.code, "name_zh": department.name_zh, "name_en": department.name_en,
            "parent": department.parent_code}


def list_departments(session: Session) -> list[Department]:
    """Every department, by code."""
    return list(session.scalars(select(Department).order_by(Department.code)))
