"""PostGIS where installed: generated geometry columns with GiST indexes beside the portable geometry.

Migration 0007 adds, on PostgreSQL with the ``postgis`` extension, one STORED GENERATED column per
spatial table — ``geom_4326`` (from the WKB ``geom``) on ``areas`` and ``grids``, ``pt_4326`` (from
``lon``/``lat``) on the point tables — each with a GiST index. They are computed by the database, so the
ORM model and the importers know nothing of them; this module tells whether a database has them
(``available``, inspected once per engine, and off when ``CITYOPS_POSTGIS=0``), builds the SQL that uses
them, and keeps them out of Alembic's schema comparison (``include_object``).

The indexed operator is ``&&`` (bounding boxes meet). Its boxes are single-precision and rounded
outwards, so it finds a superset of the exact answer; callers keep their exact double-precision test
beside it, and the results are the same with and without PostGIS.
"""

from __future__ import annotations

import os
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, Connection, Engine, func, literal_column, text
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.orm import Session
from sqlalchemy.types import UserDefinedType

SRID = 4326
#: The generated polygon column and the tables that have it (built from the WKB ``geom``).
POLYGON_COLUMN = "geom_4326"
POLYGON_TABLES = ("areas", "grids")
#: The generated point column and the tables that have it (built from ``lon``/``lat``).
POINT_COLUMN = "pt_4326"
POINT_TABLES = ("doorplates", "cameras", "sensors", "incidents", "key_places", "assets")
#: Tables the extension itself creates (in its schema, usually ``public``).
EXTENSION_TABLES = frozenset({"spatial_ref_sys"})
#: GiST indexes on PostGIS expressions that later migrations add where PostGIS is (0026: the resources' points
#: as geographies, for the nearest resources by KNN in ``dispatch.emergency``).
EXPRESSION_INDEXES = frozenset({"ix_resources_geog"})
#: The environment switch: ``0`` (or ``off``, ``false``, ``no``) ignores the PostGIS columns.
SWITCH = "CITYOPS_POSTGIS"


class Geometry(UserDefinedType[Any]):
    """The PostGIS ``geometry`` type, named so that reflecting a table with PostGIS columns (Alembic's
    comparison) knows it; the model itself never uses it."""

    cache_ok = True

    def __init__(self, *args: Any) -> None:  # reflected as geometry(<kind>, <srid>)
        self.args = args

    def get_col_spec(self, **kw: Any) -> str:
        return f"geometry({', '.join(map(str, self.args))})" if self.args else "geometry"


ischema_names.setdefault("geometry", Geometry)


def spatial_columns() -> dict[str, str]:
    """Table → the name of its generated geometry column."""
    return {**{t: POLYGON_COLUMN for t in POLYGON_TABLES}, **{t: POINT_COLUMN for t in POINT_TABLES}}


def index_name(table: str) -> str:
    """The name of the GiST index on ``table``'s geometry column."""
    return f"ix_{table}_{spatial_columns()[table]}"


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: leave out what the database has and the model does not describe
    on purpose — the PostGIS columns, their indexes and the extension's own tables."""
    if not reflected or compare_to is not None:
        return True
    if type_ == "table":
        return name not in EXTENSION_TABLES
    table = getattr(obj, "table", None)
    table_name = getattr(table, "name", None)
    if type_ == "column":
        return spatial_columns().get(table_name) != name
    if type_ == "index" and name in EXPRESSION_INDEXES:
        return False
    if type_ == "index" and table_name in spatial_columns():
        return name != index_name(table_name)
    return True


def switched_on() -> bool:
    """False when ``CITYOPS_POSTGIS`` turns the PostGIS columns off."""
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "off", "false", "no")


_detected: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def _has_columns(session: Session) -> bool:
    columns = spatial_columns()
    found = session.scalar(text(
        "SELECT count(*) FROM pg_attribute WHERE NOT attisdropped AND (attrelid, attname) IN "
        "(SELECT to_regclass(t)::oid, c FROM unnest(CAST(:tables AS text[]), CAST(:columns AS text[])) AS u(t, c))"
    ), {"tables": list(columns), "columns": list(columns.values())})
    return found == len(columns)


def available(session: Session) -> bool:
    """True when the database of ``session`` has the PostGIS columns and the switch is on (the columns
    are looked for once per engine)."""
    if not switched_on():
        return False
    engine = _engine(session)
    if engine.dialect.name != "postgresql":
        return False
    found = _detected.get(engine)
    if found is None:
        found = _detected[engine] = _has_columns(session)
    return found


def forget(engine: Engine | None = None) -> None:
    """Look again next time (after a migration or downgrade on a live engine): for ``engine`` or all."""
    if engine is None:
        _detected.clear()
    else:
        _detected.pop(engine, None)


def geometry(model: Any) -> ColumnElement[Any]:
    """The generated geometry column of ``model``'s table (only where ``available``)."""
    table = model.__tablename__
    return literal_column(f"{table}.{spatial_columns()[table]}")


def envelope(bbox: tuple[float, float, float, float]) -> ColumnElement[Any]:
    """The rectangle (west, south, east, north) in WGS-84."""
    return func.ST_MakeEnvelope(*(float(v) for v in bbox), SRID)


def point(lon: float, lat: float) -> ColumnElement[Any]:
    """The point (lon, lat) in WGS-84."""
    return func.ST_SetSRID(func.ST_MakePoint(float(lon), float(lat)), SRID)


def boxes_meet(model: Any, shape: ColumnElement[Any]) -> ColumnElement[bool]:
    """``model``'s geometry and ``shape`` have meeting bounding boxes (``&&``, answered by the GiST index;
    a superset of the exact answer)."""
    return geometry(model).op("&&", is_comparison=True)(shape)
