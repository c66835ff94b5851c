"""Users, password hashing (argon2id), API tokens (stored as SHA-256 hashes only; listed and revoked by
id) and the search of the append-only audit log."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session, joinedload

from data.models import ApiToken, AuditLog, Department, Grid, Role, User, utcnow

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


def issue_token(session: Session, user: User, *, actor_id: int | None = None) -> str:
    """Create a new API token for ``user`` and return it (shown once; only its hash is kept). The issue is
    audited as done by ``actor_id`` (None: the command line)."""
    token = "cot_" + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=_digest(token))
    session.add(row)
    session.flush()
    session.add(AuditLog(user_id=actor_id, action="token.issue", target=f"token:{row.id}",
                         detail={"user": user.username}))
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


class Viewer(Protocol):
    """Who asks: a signed-in user's id and role."""

    id: int
    role: str


class TokenNotFound(LookupError):
    """No token with this id that the asking user may see (one's own, or any for an admin)."""


def _tokens_of(viewer: Viewer) -> ColumnElement[bool]:
    return true() if viewer.role == Role.ADMIN else ApiToken.user_id == viewer.id


def list_tokens(session: Session, viewer: Viewer) -> list[ApiToken]:
    """The tokens ``viewer`` may see (all for an admin, else their own), newest first, with their users."""
    return list(session.scalars(
        select(ApiToken).options(joinedload(ApiToken.user)).where(_tokens_of(viewer))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ))


def revoke_token(session: Session, token_id: int, viewer: Viewer) -> ApiToken:
    """Revoke token ``token_id`` now (an admin any, others their own); it stops working at once.

    Revoking a revoked token changes nothing. Raises TokenNotFound when there is no such token for
    ``viewer``. The revocation is audited.
    """
    row = session.scalar(select(ApiToken).options(joinedload(ApiToken.user))
                         .where(ApiToken.id == token_id, _tokens_of(viewer)))
    if row is None:
        raise TokenNotFound(token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(AuditLog(user_id=viewer.id, action="token.revoke", target=f"token:{row.id}",
                             detail={"user": row.user.username}))
        session.flush()
    return row


# --- the audit log ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    """A search of the audit log: text filters match case-insensitively anywhere in the user name, the
    action and the target; the time range is [since, until)."""

    user: str = ""
    action: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE conditions of this search."""
        found: list[ColumnElement[bool]] = []
        for column, value in ((User.username, self.user), (AuditLog.action, self.action),
                              (AuditLog.target, self.target)):
            if value.strip():
                found.append(column.icontains(value.strip(), autoescape=True))
        if self.since is not None:
            found.append(AuditLog.at >= self.since)
        if self.until is not None:
            found.append(AuditLog.at < self.until)
        return found


@dataclass(frozen=True)
class AuditPage:
    """One page of an audit search: (row, user name) pairs, newest first, and how many rows match."""

    rows: list[tuple[AuditLog, str | None]]
    total: int


def search_audit(session: Session, query: AuditQuery, *, limit: int = 50, offset: int = 0) -> AuditPage:
    """The audit rows matching ``query``, newest first, ``limit`` of them from ``offset``."""
    conditions = query.conditions()
    total = session.scalar(select(func.count(AuditLog.id)).outerjoin(User, User.id == AuditLog.user_id)
                           .where(*conditions)) or 0
    rows = session.execute(
        select(AuditLog, User.username).outerjoin(User, User.id == AuditLog.user_id).where(*conditions)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit).offset(offset)
    ).all()
    return AuditPage([(row, name) for row, name in rows], total)
