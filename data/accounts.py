"""Users, password hashing (argon2id), API tokens and Open311 client keys (stored as SHA-256 hashes only;
listed and revoked by id) and the search of the append-only audit log."""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, func, select, true, update
from sqlalchemy.orm import Session, joinedload

from data.audit import write_audit
from data.models import ApiToken, AuditLog, Department, Grid, LoginFailure, Role, User, utcnow

_hasher = PasswordHasher()


class AccountError(ValueError):
    """A user cannot be created or found as asked (unknown role, grid, department, duplicate name)."""


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


# --- the password policy (ASVS 2.1: length, breached and common passwords, no composition rules) -----


class WeakPassword(AccountError):
    """A new password the policy refuses; ``code`` says why: ``too_short``, ``too_long`` or ``too_common``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PasswordPolicy:
    """What a new password must be (OWASP ASVS 4.0.3 V2.1): ``min_length`` to ``max_length`` characters,
    any characters and no composition rules, and not guessable from the frequency lists of common and
    breached passwords that zxcvbn ships (its score, 0..4, at least ``min_score``); nothing is fetched."""

    min_length: int = 12
    max_length: int = 128
    min_score: int = 3


PASSWORD_POLICY = PasswordPolicy()


@dataclass(frozen=True)
class PasswordStrength:
    """How strong a candidate password is: zxcvbn's score (0..4), its warning and suggestions (English),
    and the policy's refusal code (None: the policy accepts it)."""

    score: int
    warning: str
    suggestions: tuple[str, ...]
    refusal: str | None


def password_strength(password: str, user_inputs: Collection[str] = ()) -> PasswordStrength:
    """Judge ``password`` against the policy in force (``PASSWORD_POLICY``); ``user_inputs`` (the user
    name, the display name) count as guessable words."""
    policy = PASSWORD_POLICY
    if len(password) > policy.max_length:  # before zxcvbn: its cost grows with the length
        return PasswordStrength(0, "", (), "too_long")
    from zxcvbn import zxcvbn  # imported here: a few MB of frequency lists, needed only when setting one

    found = zxcvbn(password, user_inputs=[word for word in user_inputs if word],
                   max_length=policy.max_length) if password else None  # its own default refuses past 72
    score = found["score"] if found else 0
    feedback = found["feedback"] if found else {"warning": "", "suggestions": []}
    refusal = ("too_short" if len(password) < policy.min_length
               else "too_common" if score < policy.min_score else None)
    return PasswordStrength(score, feedback.get("warning") or "", tuple(feedback.get("suggestions") or ()), refusal)


def check_new_password(password: str, user_inputs: Collection[str] = ()) -> None:
    """Raise WeakPassword when the policy refuses ``password`` as a new password."""
    policy = PASSWORD_POLICY
    strength = password_strength(password, user_inputs)
    messages = {
        "too_short": f"the password needs at least {policy.min_length} characters",
        "too_long": f"the password may have at most {policy.max_length} characters",
        "too_common": "the password is too common or too easy to guess: add another word or two"
                      + (f" ({strength.warning})" if strength.warning else ""),
    }
    if strength.refusal is not None:
        raise WeakPassword(strength.refusal, messages[strength.refusal])


@cache
def _dummy_hash() -> str:
    """A hash of a random password no one knows, made once per process."""
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; never raises.

    Without a hash (an unknown user, a user with no password) the password is still checked, against a
    dummy hash, so an answer takes as long for a name that does not exist as for one that does.
    """
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
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
    if password:
        check_new_password(password, (username, display_name or ""))
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


def issue_activation_code(session: Session, username: str) -> str:
    """A new one-time activation code for ``username`` (stored as a hash only, replacing any earlier one): the
    user sets their password with it (``users activate``). Returned once, for the administrator to pass on."""
    code = secrets.token_urlsafe(9)
    session.execute(update(User).where(User.username == username).values(activation_hash=hash_password(code)))
    return code


def user_by_name(session: Session, username: str) -> User | None:
    """The active user called ``username``, if any."""
    return session.scalar(select(User).where(User.username == username, User.active.is_(True)))


# --- sessions and sign-in throttling (issue 14) ---------------------------------------------------


def any_user_by_name(session: Session, username: str) -> User:
    """The user called ``username``, active or not; AccountError when there is none."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    return user


def end_sessions(session: Session, user: User, *, reason: str, actor_id: int | None = None) -> None:
    """End every browser session of ``user`` (its cookies stop working at their next request), audited
    with ``reason`` (``logout``, ``password``, ``role``, ``disable``...) as done by ``actor_id``."""
    user.session_epoch = (user.session_epoch or 0) + 1
    write_audit(session, actor_id, "sessions.end", f"user:{user.username}", detail={"reason": reason})


def set_password(session: Session, user: User, password: str, *, actor_id: int | None = None) -> None:
    """Give ``user`` a new password (WeakPassword when the policy refuses it); ends their sessions."""
    if not password:
        raise AccountError("the password is empty")
    check_new_password(password, (user.username, user.display_name or ""))
    user.password_hash = hash_password(password)
    end_sessions(session, user, reason="password", actor_id=actor_id)


class WrongPassword(AccountError):
    """The current password given for a self-service change is not the user's password."""


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """A user's own change of their password (ASVS 2.1.5, 2.1.6): ``current`` must be their password
    (WrongPassword), ``new`` must pass the policy (WeakPassword). Ends every session of the user and is
    audited as done by the user."""
    if not verify_password(user.password_hash, current):
        raise WrongPassword("the current password is wrong")
    set_password(session, user, new, actor_id=user.id)
    write_audit(session, user.id, "password.change", f"user:{user.username}")


def set_role(session: Session, user: User, role: str, *, actor_id: int | None = None) -> None:
    """Give ``user`` another role; ends their sessions (a session never keeps an old role's pages)."""
    if role not in {r.value for r in Role}:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}")
    if user.role != role:
        user.role = role
        end_sessions(session, user, reason="role", actor_id=actor_id)


def set_active(session: Session, user: User, active: bool, *, actor_id: int | None = None) -> None:
    """Enable or disable ``user``; disabling ends their sessions."""
    if user.active and not active:
        end_sessions(session, user, reason="disable", actor_id=actor_id)
    user.active = active


@dataclass(frozen=True)
class ThrottlePolicy:
    """How failed sign-ins slow the next attempt down.

    Per (name, address): ``free`` failures, then each further one doubles the wait from ``base`` up to
    ``cap``; failures older than ``memory`` are forgotten, and a sign-in from that address clears them.
    Per address, whatever the names: ``ceiling`` failures within ``window`` make it wait until the oldest
    of them leaves the window (generous: an office behind one NAT signs in from one address). A real user
    on another address never waits for an attacker's failures.

    Per name, whatever the addresses (ASVS 2.2.1): once ``account_ceiling`` failures within
    ``account_window`` have hit one name, no address gets free failures on it any more: every failure from
    any address makes that address wait (``base``, doubling). An attacker spread over many addresses is
    slowed down to a few tries per address, yet a hard lock is never imposed: the real user's first try
    from an address with no failures of its own is never delayed.
    """

    free: int = 5
    base: timedelta = timedelta(seconds=15)
    cap: timedelta = timedelta(minutes=15)
    memory: timedelta = timedelta(hours=24)
    ceiling: int = 100
    window: timedelta = timedelta(minutes=15)
    account_ceiling: int = 100
    account_window: timedelta = timedelta(hours=1)


THROTTLE = ThrottlePolicy()


def _failures_of(username: str, ip: str) -> ColumnElement[bool]:
    return (LoginFailure.username == username[:128]) & (LoginFailure.ip == ip[:64])


def sign_in_wait(session: Session, username: str, ip: str, now: datetime,
                 policy: ThrottlePolicy = THROTTLE) -> timedelta | None:
    """How long ``username`` must wait before trying a password from ``ip`` again; None: try now."""
    count, last = session.execute(
        select(func.count(LoginFailure.id), func.max(LoginFailure.at))
        .where(_failures_of(username, ip), LoginFailure.at >= now - policy.memory)).one()
    on_the_name = session.scalar(select(func.count(LoginFailure.id)).where(
        LoginFailure.username == username[:128], LoginFailure.at >= now - policy.account_window)) or 0
    free = 0 if on_the_name >= policy.account_ceiling else policy.free
    waits = []
    if count >= free and last is not None:
        waits.append(min(policy.base * 2 ** (count - free), policy.cap) - (now - last))
    oldest_of_ceiling = session.scalar(
        select(LoginFailure.at).where(LoginFailure.ip == ip[:64], LoginFailure.at >= now - policy.window)
        .order_by(LoginFailure.at.desc()).offset(policy.ceiling - 1).limit(1))
    if oldest_of_ceiling is not None:
        waits.append(oldest_of_ceiling + policy.window - now)
    wait = max(waits, default=timedelta(0))
    return wait if wait > timedelta(0) else None


def record_sign_in(session: Session, username: str, ip: str, ok: bool, now: datetime,
                   policy: ThrottlePolicy = THROTTLE) -> None:
    """Note a sign-in attempt: a failure is kept (and failures past ``memory`` are dropped); a success
    clears the failures of this name from this address."""
    if ok:
        session.execute(delete(LoginFailure).where(_failures_of(username, ip)))
        return
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - policy.memory))
    session.add(LoginFailure(username=username[:128], ip=ip[:64], at=now))


def unlock_sign_in(session: Session, username: str, *, actor_id: int | None = None) -> int:
    """Forget every failed sign-in of ``username`` from any address (an admin's unlock); returns how many."""
    removed = session.execute(delete(LoginFailure).where(LoginFailure.username == username[:128])).rowcount
    write_audit(session, actor_id, "sign_in.unlock", f"user:{username}", detail={"failures": removed})
    return removed


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenKind(enum.StrEnum):
    """What a token opens: an API token acts as its user on /api/v1 (and every bearer-authenticated
    route); an Open311 key only creates and reads Open311 requests for its client application."""

    API = "api"
    OPEN311 = "open311"


#: The Open311 client name: what ``python app.py open311-key NAME`` accepts.
CLIENT_NAME = re.compile(r"^[\w][\w .@-]{0,63}$")


def issue_token(session: Session, user: User, *, actor_id: int | None = None) -> str:
    """Create a new API token for ``user`` and return it (shown once; only its hash is kept). The issue is
    audited as done by ``actor_id`` (None: the command line)."""
    token = "cot_" + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=_digest(token), kind=TokenKind.API)
    session.add(row)
    session.flush()
    write_audit(session, actor_id, "token.issue", f"token:{row.id}", detail={"user": user.username})
    return token


def issue_open311_key(session: Session, client: str, *, actor_id: int | None = None) -> str:
    """Create a new Open311 ``api_key`` for the client application ``client`` and return it (shown once;
    only its hash is kept). It belongs to no user. AccountError when the name is not a plain name."""
    client = client.strip()
    if not CLIENT_NAME.match(client):
        raise AccountError("the client name needs 1 to 64 letters, digits, spaces or . @ - _")
    key = "o311_" + secrets.token_urlsafe(32)
    row = ApiToken(user_id=None, token_hash=_digest(key), kind=TokenKind.OPEN311, client=client)
    session.add(row)
    session.flush()
    write_audit(session, actor_id, "token.issue", f"token:{row.id}", detail={"open311_client": client})
    return key


#: A token's last use is recorded at most this often: a gateway posting readings every second would otherwise
#: make each of its requests a write of the same row, which its other requests queue behind (issue 21).
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def _live_token(session: Session, token: str, kind: TokenKind) -> ApiToken | None:
    """The non-revoked token of ``kind`` whose hash ``token`` has, recording its use (to the minute)."""
    row = session.scalar(select(ApiToken).where(
        ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None), ApiToken.kind == kind))
    now = utcnow()
    if row is not None and (row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_RESOLUTION):
        row.last_used_at = now
    return row


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a non-revoked API token belongs to, recording its use. An Open311 key is no API
    token: it authenticates nobody here."""
    row = _live_token(session, token, TokenKind.API)
    if row is None or row.user is None or not row.user.active:
        return None
    return row.user


def open311_client_for_key(session: Session, key: str) -> str | None:
    """The client application a non-revoked Open311 key was issued to, recording its use; None for
    anything else (an API token included)."""
    row = _live_token(session, key, TokenKind.OPEN311)
    return row.client if row is not None else None


class Viewer(Protocol):
    """Who asks: a signed-in user's id and role."""

    id: int
    role: str


class TokenNotFound(LookupError):
    """No token with this id that the asking user may see (one's own, or any for an admin)."""


def _tokens_of(viewer: Viewer) -> ColumnElement[bool]:
    return true() if viewer.role == Role.ADMIN else ApiToken.user_id == viewer.id


def list_tokens(session: Session, viewer: Viewer, *,
                kinds: Collection[str] = (TokenKind.API,)) -> list[ApiToken]:
    """The tokens of ``kinds`` (default: API tokens, which have users) that ``viewer`` may see (all for an
    admin, else their own), newest first, with their users."""
    return list(session.scalars(
        select(ApiToken).options(joinedload(ApiToken.user)).where(_tokens_of(viewer), ApiToken.kind.in_(kinds))
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
        write_audit(session, viewer.id, "token.revoke", f"token:{row.id}",
                    detail={"user": row.user.username} if row.user is not None
                    else {"open311_client": row.client})
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
