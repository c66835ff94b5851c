"""PostGIS geometry columns with GiST indexes on PostgreSQL, where the extension is installed.

On PostgreSQL with ``postgis`` among the available extensions: creates the extension when it is not
there yet (in ``public`` when that schema is on the search path; a role that may not create it leaves
the schema as it was), then adds STORED GENERATED geometry columns, so that the ORM and the importers
write nothing new:

- ``geom_4326 geometry(Geometry, 4326)`` from the WKB ``geom`` on ``areas`` and ``grids``;
- ``pt_4326 geometry(Point, 4326)`` from ``lon``/``lat`` on the point tables (NULL without a place);

each with a GiST index (``ix_<table>_<column>``). ``data/spatial.py`` uses them for bbox and
point-in-grid queries and keeps them out of Alembic's schema comparison. Everywhere else (SQLite,
PostgreSQL without PostGIS) this revision does nothing. The downgrade drops the columns and indexes but
leaves the extension installed (other databases' objects may use it).

Revision ID: 0007
Revises: 0006
"""

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Frozen here as this revision made them; data/spatial.py names the same columns for the queries.
SRID = 4326
POLYGON_COLUMN = "geom_4326"
POLYGON_TABLES = ("areas", "grids")
POINT_COLUMN = "pt_4326"
POINT_TABLES = ("doorplates", "cameras", "sensors", "incidents", "key_places", "assets")


def _index(table: str, column: str) -> str:
    return f"ix_{table}_{column}"


def _postgis_ready() -> bool:
    """PostgreSQL with the postgis extension installed (installing it if possible) and its types visible."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    if not bind.scalar(text("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")):
        return False
    if not bind.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")):
        on_path = bind.scalar(text("SELECT 'public' = ANY(current_schemas(false))"))
        try:
            with bind.begin_nested():
                bind.execute(text("CREATE EXTENSION IF NOT EXISTS postgis" + (" SCHEMA public" if on_path else "")))
        except DBAPIError:  # no privilege to create it: go on without PostGIS
            return False
    # Installed in a schema outside the search path: its types and functions cannot be named here.
    return bind.scalar(text("SELECT to_regtype('geometry') IS NOT NULL")) is True


def upgrade() -> None:
    """Add the generated geometry columns and their GiST indexes (PostgreSQL with PostGIS only)."""
    if not _postgis_ready():
        return
    for table in POLYGON_TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN {POLYGON_COLUMN} geometry(Geometry, {SRID}) "
                   f"GENERATED ALWAYS AS (ST_GeomFromWKB(geom, {SRID})) STORED")
        op.execute(f"CREATE INDEX {_index(table, POLYGON_COLUMN)} ON {table} USING gist ({POLYGON_COLUMN})")
    for table in POINT_TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN {POINT_COLUMN} geometry(Point, {SRID}) "
                   f"GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), {SRID})) STORED")
        op.execute(f"CREATE INDEX {_index(table, POINT_COLUMN)} ON {table} USING gist ({POINT_COLUMN})")


def downgrade() -> None:
    """Drop the columns and indexes (where they exist)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    columns = [(t, POINT_COLUMN) for t in POINT_TABLES] + [(t, POLYGON_COLUMN) for t in POLYGON_TABLES]
    for table, column in columns:
        op.execute(f"DROP INDEX IF EXISTS {_index(table, column)}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {column}")
