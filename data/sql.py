"""SQL helpers shared by the services that write in bulk (readings, alerts, the outbox, the scheduler lease)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(session: Session, table: Table | type) -> Any:
    """An INSERT for the session's dialect that supports ``on_conflict_do_nothing`` (SQLite, PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"database dialect {name!r} is not supported")
