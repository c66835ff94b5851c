"""Routing of incidents: a point → its unit grid (spatial) → the grid's worker (falling back to the
community's, then the street's); a category → its department.

The grid index is built once per database and reused until the grids change (their count, highest
id or bounding boxes), so locating an incident costs one small aggregate query, not a rebuild. With
PostGIS (``data.spatial``) a point is located in SQL instead: the GiST index on the grids' geometry
finds the few grids whose box holds the point, and shapely's ``intersects`` decides among them exactly
as the index does (boundary included, lowest grid id first), so both paths give the same grid.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import shapely
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from data import spatial
from data.models import Area, Category, Grid, User
from geo.grid_index import GridIndex


@dataclass(frozen=True)
class Route:
    """Where an incident goes: its grid, the grid's worker and the category's department."""

    grid_id: int | None
    worker_id: int | None
    department_id: int | None


_lock = threading.Lock()
_cache: dict[str, tuple[tuple, GridIndex]] = {}


def _data_version(session: Session) -> tuple:
    """A cheap fingerprint of the grids table: it changes when grids are added, removed or reshaped."""
    row = session.execute(
        select(
            func.count(Grid.id),
            func.max(Grid.id),
            func.sum(Grid.minx + Grid.miny + Grid.maxx + Grid.maxy),
        )
    ).one()
    return (row[0], row[1], None if row[2] is None else round(float(row[2]), 9))


def grid_index(session: Session) -> GridIndex:
    """The grid index of the database ``session`` is bound to (cached per database and data version)."""
    key = session.get_bind().url.render_as_string(hide_password=True)
    version = _data_version(session)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
    rows = session.execute(select(Grid.id, Grid.geom).order_by(Grid.id)).all()
    index = GridIndex([r.id for r in rows], shapely.from_wkb([r.geom for r in rows]) if rows else [])
    with _lock:
        _cache[key] = (version, index)
    return index


def clear_cache() -> None:
    """Forget every cached grid index (after an import that rewrites grids in place, or in tests)."""
    with _lock:
        _cache.clear()


def grid_of_point(session: Session, lon: float | None, lat: float | None) -> int | None:
    """The id of the unit grid containing (lon, lat), or None (no point, or outside every grid)."""
    if lon is None or lat is None or not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    if spatial.available(session):
        return _grid_of_point_postgis(session, lon, lat)
    return grid_index(session).locate_one(lon, lat)


def _grid_of_point_postgis(session: Session, lon: float, lat: float) -> int | None:
    """``grid_of_point`` through the GiST index (``&&``: the grids whose box holds the point). PostGIS's
    own point-in-polygon test takes the side of an edge in plain floating point where GEOS's is exact, so
    they may differ within rounding error of an edge: the test on the candidates is shapely's, as in
    GridIndex, and the answer is the same by construction."""
    candidates = session.execute(
        select(Grid.id, Grid.geom).where(spatial.boxes_meet(Grid, spatial.point(lon, lat))).order_by(Grid.id)
    ).all()
    here = shapely.Point(lon, lat)
    return next((r.id for r in candidates if shapely.intersects(shapely.from_wkb(r.geom), here)), None)


def _first_worker(session: Session, *where: ColumnElement[bool]) -> int | None:
    """The active worker of the first grid (by code) matching ``where`` that has one."""
    return session.scalar(
        select(Grid.worker_id)
        .join(User, User.id == Grid.worker_id)
        .where(User.active.is_(True), *where)
        .order_by(Grid.code)
        .limit(1)
    )


def worker_of_grid(session: Session, grid_id: int | None) -> int | None:
    """The user id of the worker responsible for ``grid_id``: the grid's own, else a worker of another
    grid of the same community, else of the same street (the four-level command's fallback)."""
    if grid_id is None:
        return None
    own = _first_worker(session, Grid.id == grid_id)
    if own is not None:
        return own
    community_id = session.scalar(select(Grid.community_id).where(Grid.id == grid_id))
    street_id = session.scalar(select(Area.parent_id).where(Area.id == community_id))
    wider = [Grid.community_id == community_id]
    if street_id is not None:
        wider.append(Grid.community_id.in_(select(Area.id).where(Area.parent_id == street_id)))
    for where in wider:
        found = _first_worker(session, where)
        if found is not None:
            return found
    return None


def department_of_category(session: Session, category_code: str) -> int | None:
    """The id of the department responsible for ``category_code`` (None for an unknown category)."""
    return session.scalar(select(Category.department_id).where(Category.code == category_code))


def route(session: Session, lon: float | None, lat: float | None, category_code: str) -> Route:
    """Route an incident of ``category_code`` at (lon, lat)."""
    grid_id = grid_of_point(session, lon, lat)
    return Route(
        grid_id=grid_id,
        worker_id=worker_of_grid(session, grid_id),
        department_id=department_of_category(session, category_code),
    )
