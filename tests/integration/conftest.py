"""Integration fixtures: a fresh schema in the real PostgreSQL (database ``test``) per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from data.db import Database

PG_URL = os.environ.get("CITYOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def pg_db() -> Iterator[Database]:
    """A migrated, empty CityOps database in its own PostgreSQL schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_psycopg(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    database = Database(f"{_psycopg(PG_URL)}{sep}options=-csearch_path%3D{schema}")
    try:
        database.migrate()
        yield database
    finally:
        database.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
