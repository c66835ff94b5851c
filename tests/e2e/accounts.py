"""Browser-test setup straight in the server's database: API tokens and users, as ``python app.py users token``
and ``users add`` make them (the same ``data.accounts`` calls, one audit row each), without starting a
``python app.py`` process for each (about 4 s of CPU apiece: it imports the whole application). The command
line itself is tested in ``tests/unit/test_app.py`` and ``tests/integration/test_production_profile.py``.

Passwords set here are hashed at the in-process test cost (``tests/fast_hashing.py``): the server checks them
with argon2id as always, in microseconds instead of a second a sign-in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from data.accounts import create_user, hash_password, issue_token, user_by_name
from data.areas import area_scope
from data.db import Database
from data.demo import DEMO_LOGINS

if TYPE_CHECKING:
    from tests.e2e.conftest import LiveServer


def _database(server: LiveServer) -> Database:
    return Database(server.env["CITYOPS_DATABASE_URL"])


def api_token(server: LiveServer, username: str) -> str:
    """A new API token of the active user ``username`` (as ``python app.py users token USERNAME`` prints)."""
    db = _database(server)
    try:
        with db.uow() as s:
            user = user_by_name(s, username)
            if user is None:
                raise LookupError(f"no active user {username!r}")
            return issue_token(s, user)
    finally:
        db.dispose()


def add_user(server: LiveServer, username: str, role: str, password: str, *, department: str | None = None,
             area: str | None = None) -> None:
    """Add a user (as ``python app.py users add USERNAME --role ROLE --password-stdin``, with ``--department``
    or ``--area``)."""
    db = _database(server)
    try:
        with db.uow() as s:
            user = create_user(s, username, role, password=password, department_code=department)
            user.area_code = area_scope(s, area) if area else None
    finally:
        db.dispose()


def cheap_demo_passwords(server: LiveServer) -> None:
    """Hash the demo accounts' well-known passwords again at the test cost, so that the browser tests' many
    sign-ins each take microseconds of the server's CPU rather than a second (the embedded server only: the
    production-stack pass keeps the product's cost, as seeded)."""
    db = _database(server)
    try:
        with db.uow() as s:
            for username, password in DEMO_LOGINS.items():
                user = user_by_name(s, username)
                if user is not None and user.password_hash:
                    user.password_hash = hash_password(password)
    finally:
        db.dispose()
