"""The Alembic migrations build exactly the schema the SQLAlchemy model describes (no drift), and the
revisions form one line of history."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from data.db import alembic_config
from data.models import Base
from data.partitions import include_name
from data.spatial import include_object


def schema_drift(db) -> list:
    """What autogenerate would change to make the migrated database match the model (the PostGIS columns,
    which the model leaves out on purpose, are not drift: ``data.spatial.include_object``, nor are the
    partitions of ``readings``: ``data.partitions.include_name``)."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": include_object,
                                                                  "include_name": include_name})
        return compare_metadata(context, Base.metadata)


def test_the_migrated_sqlite_schema_matches_the_model(db):
    assert schema_drift(db) == []


def test_the_revisions_have_one_head(db):
    script = ScriptDirectory.from_config(alembic_config(str(db.url)))
    assert len(script.get_heads()) == 1
