"""The Alembic migrations build exactly the schema the SQLAlchemy model describes (no drift), and the
revisions form one line of history."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from data.db import alembic_config
from data.models import Base


def schema_drift(db) -> list:
    """What autogenerate would change to make the migrated database match the model."""
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def test_the_migrated_sqlite_schema_matches_the_model(db):
    assert schema_drift(db) == []


def test_the_revisions_have_one_head(db):
    script = ScriptDirectory.from_config(alembic_config(str(db.url)))
    assert len(script.get_heads()) == 1
