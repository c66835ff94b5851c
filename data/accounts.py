"""Users, password hashing (argon2id) and API tokens (stored as SHA-256 hashes only)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models import ApiToken, Department, Grid, Role, User, utcnow

_hasher = PasswordHasher()


class AccountError(ValueError):
    """A user cannot be created or found as asked (unknown role, grid, department, duplicate name)."""


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; never raises."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    session: Session,
    username: str,
    role: str,
    *,
    password: str | None = None,
    display_name: str | None = None,
    grid_code: str | None = None,
    department_code: str | None = None,
) -> User:
    """Add a user; a worker may belong to a grid, a handler to a department."""
    if role not in {r.value for r in Role}:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} exists already")
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=hash_password(password) if password else None,
    )
    if grid_code:
        grid = session.scalar(select(Grid).where(Grid.code == grid_code))
        if grid is None:
            raise AccountError(f"unknown grid {grid_code!r}")
        user.grid_id = grid.id
    if department_code:
        dept = session.scalar(select(Department).where(Department.code == department_code))
        if dept is None:
            raise AccountError(f"unknown department {department_code!r}")
        user.department_id = dept.id
    session.add(user)
    session.flush()
    if grid_code and role == Role.WORKER:
        session.get(Grid, user.grid_id).worker_id = user.id
    return user


def user_by_name(session: Session, username: str) -> User | None:
    """The active user called ``username``, if any."""
    return session.scalar(select(User).where(User.username == username, User.active.is_(True)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User) -> str:
    """Create a new API token for ``user`` and return it (shown once; only its hash is kept)."""
    token = "cot_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_digest(token)))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a non-revoked token belongs to, recording its use."""
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    return row.user
