"""Shared fixtures: a freshly migrated SQLite database per test (a copy of one migrated per test session: a file
copy instead of running every Alembic revision again), and a session on it; cheap password hashing in process."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from alerts.ports import set_desk
from alerts.review import warning_stats
from data.accounts import PasswordPolicy
from data.db import Database
from dispatch.desk import DispatchDesk
from dispatch.ports import set_warning_stats
from settings import get_settings
from tests.dash_apps import share_callbacks
from tests.fast_hashing import CHEAP_HASHER

share_callbacks()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An empty SQLite file migrated to the newest revision, once per test session (per xdist worker), with
    its write-ahead log checkpointed into it: copying the one file gives the whole schema."""
    path = tmp_path_factory.mktemp("migrated") / "cityops.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture
def db(tmp_path, migrated_sqlite: Path) -> Iterator[Database]:
    """A new, migrated, empty SQLite database in a temporary folder (a copy of ``migrated_sqlite``)."""
    shutil.copy(migrated_sqlite, tmp_path / "cityops.db")
    database = Database(f"sqlite:///{tmp_path / 'cityops.db'}")
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session on ``db`` that commits at the end of the test."""
    with db.uow() as s:
        yield s


@pytest.fixture(scope="session", autouse=True)
def _short_fixture_passwords() -> Iterator[None]:
    """Test fixtures sign in with short passwords (``admin-pw``), module-wide fixtures too: in-process tests
    run with a length-only policy of 1 character. The real policy (``data.accounts.PasswordPolicy()``) is
    put back and checked by the password tests (``tests/unit/test_asvs_l2.py``) and holds in every CLI
    subprocess."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("data.accounts.PASSWORD_POLICY", PasswordPolicy(min_length=1, min_score=0))
        yield


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """In-process tests hash and check passwords with argon2id at its cheapest cost (``tests/fast_hashing.py``):
    the product's cost (about a second each on this machine) is checked by ``tests/unit/test_password_hashing.py``
    and holds in every CLI subprocess and browser-test server."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("data.accounts._hasher", CHEAP_HASHER)
        yield


@pytest.fixture(scope="session", autouse=True)
def _wired_ports() -> None:
    """Connect the ports as the composition root does (``app.wire``): alerts ask dispatch for incidents."""
    set_desk(DispatchDesk())
    set_warning_stats(warning_stats)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are cached per process; a test that changes CITYOPS_* variables leaves no trace."""
    yield
    get_settings.cache_clear()
