"""Reference reads the API and the pages need — users, departments, categories, grids, areas — each a
function named by what it answers, so api/ and callbacks/ build no queries themselves (DESIGN §2)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, or_, select, text
from sqlalchemy.orm import Session, aliased, selectinload

from data.models import Area, AreaLevel, Category, Department, Doorplate, Grid, User


def user_by_id(session: Session, user_id: int) -> User | None:
    """The stored user behind a signed-in user or token, or None."""
    return session.get(User, user_id)


def active_users(session: Session, roles: Collection[str] | None = None) -> list[Row[Any]]:
    """Active users (username, display_name, role) of ``roles`` (any when None), by role then username
    when roles are given, else by username."""
    query = select(User.username, User.display_name, User.role).where(User.active.is_(True))
    if roles is not None:
        query = query.where(User.role.in_(tuple(roles))).order_by(User.role, User.username)
    else:
        query = query.order_by(User.username)
    return list(session.execute(query).all())


@dataclass(frozen=True)
class UserPage:
    """One page of the user list: its rows, the page number shown and how many there are in all."""

    rows: list[Row[Any]]
    page: int
    pages: int
    total: int


def users_page(session: Session, text: str | None, page: int, size: int) -> UserPage:
    """One page of ``size`` users whose username, name or home grid code contains ``text``, by username:
    username, display_name, role, active, the home grid's ``code`` and the ``Department`` (no hash)."""
    home = aliased(Grid)
    query = (select(User.username, User.display_name, User.role, User.active, home.code, Department)
             .outerjoin(home, home.id == User.grid_id)
             .outerjoin(Department, Department.id == User.department_id))
    text = (text or "").strip()
    if text:
        query = query.where(or_(*(column.icontains(text, autoescape=True)
                                  for column in (User.username, User.display_name, home.code))))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = -(-total // size)
    page = min(max(page, 0), max(pages - 1, 0))
    rows = list(session.execute(query.order_by(User.username).limit(size).offset(page * size)).all())
    return UserPage(rows, page, pages, total)


def all_departments(session: Session) -> list[Department]:
    """Every responsible department, by id."""
    return list(session.scalars(select(Department).order_by(Department.id)))


def all_categories(session: Session) -> list[Category]:
    """Every incident category (with its department loaded), by code."""
    return list(session.scalars(select(Category).options(selectinload(Category.department)).order_by(Category.code)))


def category_by_code(session: Session, code: str | None) -> Category | None:
    """One category, or None (also for no code)."""
    return session.get(Category, code) if code else None


def grid_codes(session: Session) -> list[str]:
    """The codes of every unit grid, sorted."""
    return list(session.scalars(select(Grid.code).order_by(Grid.code)))


def grid_code_of(session: Session, grid_id: int | None) -> str | None:
    """The code of unit grid ``grid_id``, or None."""
    return None if grid_id is None else session.scalar(select(Grid.code).where(Grid.id == grid_id))


def grid_geometry(session: Session, grid_id: int) -> bytes | None:
    """The WKB outline of unit grid ``grid_id``, or None."""
    return session.scalar(select(Grid.geom).where(Grid.id == grid_id))


def city_geometry(session: Session) -> bytes | None:
    """The WKB outline of the city, or None when no city area is loaded."""
    return session.scalar(select(Area.geom).where(Area.level == AreaLevel.CITY).limit(1))


def area_name(session: Session, code: str) -> str | None:
    """The name of the area with this code, or None."""
    return session.scalar(select(Area.name).where(Area.code == code))


def filter_areas(session: Session) -> list[Row[Any]]:
    """The districts and streets/towns (id, name, level) a list may be narrowed to, by level then code."""
    return list(session.execute(
        select(Area.id, Area.name, Area.level)
        .where(Area.level.in_([AreaLevel.DISTRICT, AreaLevel.STREET]))
        .order_by(Area.level, Area.code)
    ).all())


def doorplate_by_code(session: Session, code: str) -> Doorplate | None:
    """One doorplate (address) by its code, or None."""
    return session.scalar(select(Doorplate).where(Doorplate.code == code))


def ping(session: Session) -> None:
    """Touch the database (``SELECT 1``): raises when it cannot be reached."""
    session.execute(text("SELECT 1"))
