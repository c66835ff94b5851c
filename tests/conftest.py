"""Shared fixtures: a freshly migrated SQLite database per test, and a session on it."""

from __future__ import annotations

from collections.abc import Iterator

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

share_callbacks()


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
def _wired_ports() -> None:
    """Connect the ports as the composition root does (``app.wire``): alerts ask dispatch for incidents."""
    set_desk(DispatchDesk())
    set_warning_stats(warning_stats)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are cached per process; a test that changes CITYOPS_* variables leaves no trace."""
    yield
    get_settings.cache_clear()
