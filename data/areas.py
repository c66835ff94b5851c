"""The administrative hierarchy as SQL: the unit grids anywhere under an area (city, district,
street/town, community), for scoping KPIs, alert lists and maps; the areas listed by level and parent
(``GET /api/v1/areas``); and the area scope of a user (``users add --area``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from data.models import Area, AreaLevel, Grid, Role

#: The levels an operator or leader may be scoped to (a command tier: a district or a street).
SCOPE_LEVELS = (AreaLevel.DISTRICT.value, AreaLevel.STREET.value)


#: The roles ``users add --area`` scopes (a command tier); other roles ignore an area.
TIER_ROLES = frozenset({Role.OPERATOR.value, Role.LEADER.value})
_CACHE_KEY = "cityops.area_grid_ids"


class AreaScopeError(ValueError):
    """The code names no area a user can be scoped to; the message says why."""


def grids_under(area_id: int) -> Select[Any]:
    """A SELECT of the ids of the grids anywhere under the area ``area_id`` (a recursive CTE)."""
    tree = select(Area.id).where(Area.id == area_id).cte("area_tree", recursive=True)
    tree = tree.union_all(select(Area.id).where(Area.parent_id == tree.c.id))
    return select(Grid.id).where(Grid.community_id.in_(select(tree.c.id)))


def city_name(session: Session) -> str | None:
    """The name of the city this database holds (its area of level ``city``), None before it is imported."""
    return session.scalar(select(Area.name).where(Area.level == AreaLevel.CITY.value).order_by(Area.id).limit(1))


def area_level(session: Session, code: str) -> str | None:
    """The level of the area coded ``code``, None when there is none."""
    return session.scalar(select(Area.level).where(Area.code == code))


def area_scope(session: Session, code: str) -> str:
    """``code`` when it names a district or a street (a user's area scope); else ``AreaScopeError``."""
    level = area_level(session, code)
    if level is None:
        raise AreaScopeError(f"unknown area {code}")
    if level not in SCOPE_LEVELS:
        raise AreaScopeError(f"area {code} is a {level}: a user's area is a district or a street")
    return code


def list_areas(session: Session, *, levels: Sequence[str] | None = None,
               parent: str | None = None) -> list[dict[str, Any]]:
    """The areas (``code, name, level, parent_code``) ordered by code, of the ``levels`` and/or directly under
    the area coded ``parent``."""
    up = aliased(Area)
    query = (select(Area.code, Area.name, Area.level, up.code.label("parent_code"))
             .outerjoin(up, Area.parent_id == up.id).order_by(Area.code))
    if levels:
        query = query.where(Area.level.in_(levels))
    if parent is not None:
        query = query.where(up.code == parent)
    return [dict(row._mapping) for row in session.execute(query)]


# --- the area of an actor (a command tier, issue 17; ``dispatch.tiers`` re-exports these) -----------


def area_of(actor: Any) -> str | None:
    """The area code ``actor`` is scoped to: an operator's or leader's ``area_code``; None = the whole city."""
    if getattr(actor, "role", None) not in TIER_ROLES:
        return None
    return getattr(actor, "area_code", None) or None


def grids_of_area(code: str) -> Any:
    """A SELECT of the ids of the grids anywhere under the area coded ``code`` (none for an unknown code)."""
    return grids_under(select(Area.id).where(Area.code == code).scalar_subquery())


def area_grid_ids(session: Session, code: str) -> frozenset[int]:
    """The ids of the grids under the area ``code``, read once per unit of work (``session.info``)."""
    cache: dict[str, frozenset[int]] = session.info.setdefault(_CACHE_KEY, {})
    if code not in cache:
        cache[code] = frozenset(session.scalars(grids_of_area(code)))
    return cache[code]


def actor_grid_ids(session: Session, actor: Any) -> frozenset[int] | None:
    """The grids ``actor``'s area covers; None when the actor is not area-scoped."""
    code = area_of(actor)
    return None if code is None else area_grid_ids(session, code)
