"""Integration fixtures: a fresh schema in the real PostgreSQL (database ``test``) per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from data.db import Database
from tests.stack import PG_URL


def psycopg_url(url: str) -> str:
    """``url`` with the psycopg 3 driver named."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@contextmanager
def _schema_database(**query: str) -> Iterator[Database]:
    """A migrated, empty CityOps database in its own PostgreSQL schema (``query``: more URL parameters),
    dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(psycopg_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    extra = "".join(f"&{key}={value}" for key, value in query.items())
    # ``public`` after the test's schema: where PostGIS keeps its types and functions, when installed.
    database = Database(f"{psycopg_url(PG_URL)}{sep}options=-csearch_path%3D{schema}%2Cpublic{extra}")
    try:
        database.migrate()
        yield database
    finally:
        database.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_db() -> Iterator[Database]:
    """A migrated, empty CityOps database in its own PostgreSQL schema, dropped afterwards."""
    with _schema_database() as database:
        yield database


@pytest.fixture
def pg_app_db() -> Iterator[tuple[Database, str]]:
    """Like ``pg_db``, with every connection carrying its own ``application_name`` (returned with it), so
    that a test can find and terminate exactly this database's connections in ``pg_stat_activity``."""
    name = f"cityops-test-{uuid.uuid4().hex[:8]}"
    with _schema_database(application_name=name) as database:
        yield database, name
