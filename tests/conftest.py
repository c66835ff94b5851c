"""Shared fixtures: a freshly migrated SQLite database per test, and a session on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from data.db import Database
from settings import get_settings


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    """A new, migrated, empty SQLite database in a temporary folder."""
    database = Database(f"sqlite:///{tmp_path / 'cityops.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session on ``db`` that commits at the end of the test."""
    with db.uow() as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are cached per process; a test that changes CITYOPS_* variables leaves no trace."""
    yield
    get_settings.cache_clear()
