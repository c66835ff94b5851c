"""Users in /admin (issue 16): create, edit (name, role, grid, department, area scope, phone), disable or
enable, and a reset by a new one-time activation code — the mechanism of ``import users``: no password
ever passes through the administrator's hands."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from admin.audit import Actor, audit, check
from data.accounts import end_sessions, issue_activation_code
from data.areas import SCOPE_LEVELS, AreaScopeError, area_scope, list_areas
from data.models import Department, Grid, Role, User
from domain.errors import Conflict, Invalid, NotFound
from domain.permissions import Permission

#: A username: 1 to 64 letters (any script), digits, ``_ . - @``.
USERNAME = re.compile(r"^[\w.\-@]{1,64}$")
ROLES = tuple(r.value for r in Role)


@dataclass(frozen=True)
class UserForm:
    """A user as the administrator submits it (codes, not ids; empty = none)."""

    username: str
    display_name: str
    role: str
    grid: str | None = None
    department: str | None = None
    area: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class NewUser:
    """A created user and their one-time activation code (shown once)."""

    username: str
    activation_code: str


def _blank(text: str | None) -> str | None:
    return (text or "").strip() or None


def _resolve(session: Session, form: UserForm) -> dict[str, object]:
    """The form's values as columns, every reference checked; ``Invalid`` names the first bad field."""
    name = (form.display_name or "").strip()
    if not 1 <= len(name) <= 128:
        raise Invalid("invalid_name", "admin_people.invalid_name", message="a name of 1 to 128 characters is required")
    if form.role not in ROLES:
        raise Invalid("unknown_role", "admin_people.unknown_role", message=f"unknown role {form.role!r}",
                      role=form.role)
    grid_code, department_code, area = _blank(form.grid), _blank(form.department), _blank(form.area)
    grid_id = department_id = None
    if grid_code:
        grid_id = session.scalar(select(Grid.id).where(Grid.code == grid_code))
        if grid_id is None:
            raise Invalid("unknown_grid", "admin_people.unknown_grid", message=f"unknown grid {grid_code}",
                          code=grid_code)
    if department_code:
        department_id = session.scalar(select(Department.id).where(Department.code == department_code))
        if department_id is None:
            raise Invalid("unknown_department", "admin_people.unknown_department",
                          message=f"unknown department {department_code}", code=department_code)
    if area:
        try:
            area_scope(session, area)
        except AreaScopeError as exc:
            raise Invalid("invalid_area", "admin_people.invalid_area", message=str(exc), code=area) from None
        if form.role not in (Role.OPERATOR, Role.LEADER):
            raise Invalid("area_for_role", "admin_people.area_for_role",
                          message="only an operator or a leader has an area scope")
    phone = _blank(form.phone)
    if phone is not None and not re.fullmatch(r"[0-9+\- ]{3,32}", phone):
        raise Invalid("invalid_phone", "admin_people.invalid_phone", message=f"not a phone number: {phone}")
    return {"display_name": name, "role": form.role, "grid_id": grid_id, "department_id": department_id,
            "area_code": area, "phone": phone}


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == (username or "").strip()))
    if user is None:
        raise NotFound("unknown_user", "admin_people.unknown_user", message=f"no user {username!r}",
                       name=username)
    return user


def _hand_grid_to(session: Session, user: User) -> None:
    """A worker with a home grid becomes that grid's worker (as ``users add`` and ``import users`` do)."""
    if user.role == Role.WORKER and user.grid_id is not None:
        session.execute(update(Grid).where(Grid.id == user.grid_id).values(worker_id=user.id))


def create_user(session: Session, actor: Actor | None, form: UserForm) -> NewUser:
    """A new user with no password and a one-time activation code (returned once, stored as a hash)."""
    check(actor, Permission.USER_WRITE)
    username = (form.username or "").strip()
    if not USERNAME.match(username):
        raise Invalid("invalid_username", "admin_people.invalid_username",
                      message="a username is 1 to 64 letters, digits or _ . - @")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict("user_exists", "admin_people.user_exists", message=f"user {username!r} exists already",
                       name=username)
    user = User(username=username, password_hash=None, active=True, **_resolve(session, form))
    session.add(user)
    session.flush()
    _hand_grid_to(session, user)
    code = issue_activation_code(session, username)
    audit(session, actor, "user.create", f"user:{username}", _shown(form))
    return NewUser(username, code)


def _shown(form: UserForm) -> dict[str, object]:
    """The audit detail of a user change (no secret in it)."""
    return {k: v for k, v in asdict(form).items() if k != "username" and v not in (None, "")}


def edit_user(session: Session, actor: Actor | None, form: UserForm) -> User:
    """Change the user ``form.username``; a changed role, grid, department or area ends their sessions (a
    session never keeps what the user may no longer see)."""
    check(actor, Permission.USER_WRITE)
    user = _user(session, form.username)
    values = _resolve(session, form)
    changed = {k: v for k, v in values.items() if getattr(user, k) != v}
    for key, value in changed.items():
        setattr(user, key, value)
    if changed.keys() & {"role", "grid_id", "department_id", "area_code"}:
        end_sessions(session, user, reason="role", actor_id=getattr(actor, "id", None))
    session.flush()
    _hand_grid_to(session, user)
    audit(session, actor, "user.edit", f"user:{user.username}", {"changed": sorted(changed)})
    return user


def set_user_active(session: Session, actor: Actor | None, username: str, active: bool) -> User:
    """Disable (ending every session) or enable the user ``username``; an administrator cannot disable
    themself (someone must stay able to undo it)."""
    check(actor, Permission.USER_WRITE)
    user = _user(session, username)
    if not active and user.id == getattr(actor, "id", None):
        raise Invalid("disable_self", "admin_people.disable_self", message="you cannot disable yourself")
    if user.active and not active:
        end_sessions(session, user, reason="disable", actor_id=getattr(actor, "id", None))
    user.active = active
    audit(session, actor, "user.enable" if active else "user.disable", f"user:{user.username}")
    return user


def reset_user(session: Session, actor: Actor | None, username: str) -> NewUser:
    """A reset: the user's password stops working, their sessions end, and a new one-time activation code
    (returned once) lets them set a new one."""
    check(actor, Permission.USER_WRITE)
    user = _user(session, username)
    user.password_hash = None
    end_sessions(session, user, reason="password", actor_id=getattr(actor, "id", None))
    session.flush()
    code = issue_activation_code(session, user.username)
    audit(session, actor, "user.reset", f"user:{user.username}")
    return NewUser(user.username, code)


def user_values(session: Session, username: str | None) -> dict[str, object]:
    """The editable values of the user ``username`` (codes, not ids), empty when there is none."""
    user = session.scalar(select(User).where(User.username == (username or "")))
    if user is None:
        return {}
    grid = session.get(Grid, user.grid_id) if user.grid_id else None
    department = session.get(Department, user.department_id) if user.department_id else None
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "grid": grid.code if grid else None, "department": department.code if department else None,
            "area": user.area_code, "phone": user.phone, "active": user.active,
            "pending": user.activation_hash is not None}


@dataclass(frozen=True)
class PeopleChoices:
    """What the user editor offers: (value, label) pairs of users, grids, departments and scope areas."""

    users: list[tuple[str, str]]
    grids: list[tuple[str, str]]
    departments: list[tuple[str, str, str]]  # code, Chinese name, English name
    areas: list[tuple[str, str]]


def people_choices(session: Session) -> PeopleChoices:
    """The users (disabled ones too), grids, departments and districts/streets, by code."""
    users = session.execute(select(User.username, User.display_name, User.active).order_by(User.username)).all()
    return PeopleChoices(
        users=[(u.username, f"{u.username} · {u.display_name}" + ("" if u.active else " ✕")) for u in users],
        grids=[(code, f"{code} {name or ''}".strip())
               for code, name in session.execute(select(Grid.code, Grid.name).order_by(Grid.code))],
        departments=[tuple(row) for row in session.execute(select(Department.code, Department.name_zh,
                                                                  Department.name_en).order_by(Department.code))],
        areas=[(a["code"], f"{a['code']} {a['name']}") for a in list_areas(session, levels=SCOPE_LEVELS)],
    )
