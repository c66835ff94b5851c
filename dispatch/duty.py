"""The duty rota and the shift handover (值班, issue 17 §4): who holds which duty post in which shift, who is on
duty now, the shift log (events, instructions, open matters) and the handover note the next shift acknowledges.

Shifts are data (``SHIFTS``: a code, a local start time and a length, in CITYOPS_TZ); a rota entry stores its
shift's span in UTC, so "who is on duty at t" is one indexed query and overlapping entries for one post are
refused. Each write is one service function ``(session, actor, command)`` that checks the role, normalises the
input and writes its audit row; ``import_rota`` imports a CSV/XLSX rota all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from data.audit import write_audit
from data.db import Database
from data.importers import (
    TABLE_SUFFIXES,
    DryRun,
    ImportFileError,
    ImportReport,
    audit_import,
    read_table,
)
from data.models import DutyHandover, DutyLogEntry, DutyRota, Role, User, utcnow
from settings import get_settings

#: The duty posts (值班长, 值班员, 带班领导); ``dispatch.outbox.ESCALATION_CHAIN`` names its steps with these.
SHIFT_LEAD, DUTY_OFFICER, DUTY_LEADER = "shift_lead", "duty_officer", "duty_leader"
POSTS = (SHIFT_LEAD, DUTY_OFFICER, DUTY_LEADER)
POST_ALIASES = {"值班长": SHIFT_LEAD, "值班员": DUTY_OFFICER, "带班领导": DUTY_LEADER}
#: Kinds of shift-log entry: an event (事件), an instruction received (指示), an open matter (待办事项).
LOG_KINDS = ("event", "instruction", "open_matter")
TEXT_MAX = 4000
#: Who writes the shift log and hands over; who edits the rota; who reads the rota and the log.
DESK_ROLES = (Role.ADMIN, Role.OPERATOR)
ROTA_ROLES = (Role.ADMIN,)
READ_ROLES = (Role.ADMIN, Role.OPERATOR, Role.LEADER)


@dataclass(frozen=True)
class Shift:
    """A shift: its code, its local start time and its length (it may run past midnight)."""

    code: str
    start: time
    length: timedelta


#: The shifts of a day, in order: day 08:00–20:00 and night 20:00–08:00 (local time).
SHIFTS: tuple[Shift, ...] = (Shift("day", time(8), timedelta(hours=12)),
                             Shift("night", time(20), timedelta(hours=12)))
SHIFT_ALIASES = {"白班": "day", "夜班": "night"}


class DutyError(ValueError):
    """A refused duty write or read: HTTP-like ``status``, a machine ``code`` and an English message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --- shifts -------------------------------------------------------------------------------------


def shift_named(code: str) -> Shift:
    """The shift of ``code`` (or its Chinese name); DutyError 422 otherwise."""
    code = SHIFT_ALIASES.get(code.strip(), code.strip().lower())
    for shift in SHIFTS:
        if shift.code == code:
            return shift
    raise DutyError(422, "unknown_shift", f"shift: one of {', '.join(s.code for s in SHIFTS)}, not {code!r}")


def post_named(code: str) -> str:
    """The duty post of ``code`` (or its Chinese name); DutyError 422 otherwise."""
    post = POST_ALIASES.get(code.strip(), code.strip().lower())
    if post not in POSTS:
        raise DutyError(422, "unknown_post", f"post: one of {', '.join(POSTS)}, not {code!r}")
    return post


def shift_span(day: date, shift: Shift) -> tuple[datetime, datetime]:
    """When the shift ``shift`` of local ``day`` starts and ends (aware datetimes)."""
    start = datetime.combine(day, shift.start, tzinfo=get_settings().zone)
    return start, start + shift.length


@dataclass(frozen=True)
class ShiftSlot:
    """One shift of one day."""

    day: date
    shift: Shift

    @property
    def span(self) -> tuple[datetime, datetime]:
        return shift_span(self.day, self.shift)

    def next(self) -> ShiftSlot:
        """The shift that follows this one."""
        index = SHIFTS.index(self.shift)
        if index + 1 < len(SHIFTS):
            return ShiftSlot(self.day, SHIFTS[index + 1])
        return ShiftSlot(self.day + timedelta(days=1), SHIFTS[0])

    def to_dict(self) -> dict[str, Any]:
        from dispatch.service import to_iso

        start, end = self.span
        return {"day": self.day.isoformat(), "shift": self.shift.code, "starts_at": to_iso(start),
                "ends_at": to_iso(end)}


def slot_at(moment: datetime) -> ShiftSlot:
    """The shift in progress at ``moment`` (a night shift belongs to the day it began on)."""
    local_day = moment.astimezone(get_settings().zone).date()
    for day in (local_day, local_day - timedelta(days=1)):
        for shift in SHIFTS:
            start, end = shift_span(day, shift)
            if start <= moment < end:
                return ShiftSlot(day, shift)
    raise DutyError(422, "no_shift", f"no shift covers {moment.isoformat()}")  # only if SHIFTS leave a gap


# --- the rota -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RotaEntryIn:
    """A rota entry as asked for: a local day, a shift code, a post code and a user name."""

    day: date
    shift: str
    post: str
    username: str


def _require(actor: Any, roles: Sequence[str], what: str) -> None:
    if actor is not None and actor.role not in roles:
        raise DutyError(403, "forbidden", f"a {actor.role} may not {what}")


def _audit(session: Session, actor: Any, action: str, target: str, detail: dict[str, Any]) -> None:
    write_audit(session, getattr(actor, "id", None), action, target, detail=detail)


def _rota_row(session: Session, entry: RotaEntryIn) -> DutyRota:
    """A new (unsaved) rota row for ``entry``, validated; DutyError 422 for a bad field or an unknown user."""
    shift, post = shift_named(entry.shift), post_named(entry.post)
    user = session.scalar(select(User).where(User.username == entry.username.strip()))
    if user is None or not user.active:
        raise DutyError(422, "unknown_user", f"username: no active user {entry.username!r}")
    start, end = shift_span(entry.day, shift)
    return DutyRota(day=entry.day, shift=shift.code, post=post, user=user, user_id=user.id, starts_at=start,
                    ends_at=end)


def _overlapping(session: Session, row: DutyRota, ignore: Iterable[int] = ()) -> DutyRota | None:
    """An entry already in the rota for ``row``'s post whose span overlaps ``row``'s."""
    query = select(DutyRota).where(DutyRota.post == row.post, DutyRota.starts_at < row.ends_at,
                                   DutyRota.ends_at > row.starts_at)
    ignored = list(ignore)
    if ignored:
        query = query.where(DutyRota.id.not_in(ignored))
    return session.scalars(query.limit(1)).first()


def _overlap_reason(row: DutyRota, other: DutyRota) -> str:
    return (f"overlaps the {other.shift} shift of {other.day.isoformat()} for post {row.post} "
            f"(held by {other.user.username})")


def rota_to_dict(row: DutyRota) -> dict[str, Any]:
    """The API representation of a rota entry."""
    from dispatch.service import to_iso

    return {"id": row.id, "day": row.day.isoformat(), "shift": row.shift, "post": row.post,
            "username": row.user.username, "name": row.user.display_name, "starts_at": to_iso(row.starts_at),
            "ends_at": to_iso(row.ends_at)}


def add_rota_entry(session: Session, actor: Any, entry: RotaEntryIn) -> DutyRota:
    """Put a user on a post for a shift (admin); DutyError 409 when the post is already held then."""
    _require(actor, ROTA_ROLES, "edit the duty rota")
    row = _rota_row(session, entry)
    other = _overlapping(session, row)
    if other is not None:
        raise DutyError(409, "rota_overlap", _overlap_reason(row, other))
    session.add(row)
    session.flush()
    _audit(session, actor, "duty.rota.add", f"duty_rota:{row.id}", rota_to_dict(row))
    return row


def remove_rota_entry(session: Session, actor: Any, entry_id: int) -> DutyRota:
    """Take an entry off the rota (admin); DutyError 404 when there is none."""
    _require(actor, ROTA_ROLES, "edit the duty rota")
    row = session.get(DutyRota, entry_id)
    if row is None:
        raise DutyError(404, "rota_entry_not_found", f"no rota entry {entry_id}")
    detail = rota_to_dict(row)
    session.delete(row)
    _audit(session, actor, "duty.rota.remove", f"duty_rota:{entry_id}", detail)
    return row


def rota_between(session: Session, first: date, last: date) -> list[DutyRota]:
    """The rota entries of the local days ``first`` to ``last`` inclusive, by day, shift start and post."""
    rows = session.scalars(select(DutyRota).where(DutyRota.day >= first, DutyRota.day <= last)
                           .order_by(DutyRota.starts_at, DutyRota.post))
    return list(rows)


def on_duty(session: Session, moment: datetime | None = None) -> dict[str, User]:
    """Who holds each duty post at ``moment`` (now by default): post code → user; posts nobody holds are absent."""
    moment = moment or utcnow()
    rows = session.scalars(select(DutyRota).where(DutyRota.starts_at <= moment, DutyRota.ends_at > moment))
    return {row.post: row.user for row in rows if row.user.active}


def on_duty_now(session: Session, moment: datetime | None = None) -> dict[str, Any]:
    """The shift in progress and who holds each post in it: ``{"shift": {...}, "on_duty": [{post, username,
    name}]}`` in the order of ``POSTS`` (a post nobody holds has ``username`` None)."""
    moment = moment or utcnow()
    holders = on_duty(session, moment)
    return {"shift": slot_at(moment).to_dict(),
            "on_duty": [{"post": post, "username": holders[post].username if post in holders else None,
                         "name": holders[post].display_name if post in holders else None} for post in POSTS]}


# --- import -------------------------------------------------------------------------------------

ROTA_COLUMNS = {"date": ("date", "day", "日期"), "shift": ("shift", "班次"), "post": ("post", "岗位", "值班岗位"),
                "username": ("username", "user", "用户名", "账号")}


class RotaReport(ImportReport):
    """The report of a rota import: the counts and rejected rows, then its messages (why nothing was written)."""

    def lines(self) -> list[str]:
        return super().lines() + [f"  {message}" for message in self.messages]


def _rota_rows(session: Session, path: Path, sheet: str | None, report: ImportReport) -> list[tuple[int, DutyRota]]:
    frame = read_table(path, sheet=sheet)
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    renamed = {}
    for name, aliases in ROTA_COLUMNS.items():
        column = next((lowered[a.lower()] for a in aliases if a.lower() in lowered), None)
        if column is not None:
            renamed[column] = name
    frame = frame.rename(columns=renamed)
    missing = [name for name in ROTA_COLUMNS if name not in frame.columns]
    if missing:
        raise ImportFileError(f"the file has no {missing[0]!r} column (columns: {', '.join(map(str, frame.columns))})")
    built: list[tuple[int, DutyRota]] = []
    for number, record in enumerate(frame[list(ROTA_COLUMNS)].to_dict("records"), start=1):
        try:
            raw_day = str(record["date"]).strip()[:10]
            try:
                day = date.fromisoformat(raw_day)
            except ValueError:
                raise DutyError(422, "invalid_date", f"date is not YYYY-MM-DD: {record['date']!r}") from None
            built.append((number, _rota_row(session, RotaEntryIn(day, str(record["shift"]), str(record["post"]),
                                                                 str(record["username"])))))
        except DutyError as exc:
            report.reject(number, exc.message)
    return built


def import_rota(db: Database, path: Path, *, sheet: str | None = None, dry_run: bool = False) -> RotaReport:
    """Import a rota table (``date, shift, post, username``; Chinese headers and names welcome), all or nothing:
    an entry of the file replaces the database's entry for the same day, shift and post; a row with a bad
    field, an unknown user, or a span overlapping another entry of its post (in the file or the database) is
    rejected with its reason, and then nothing is written. Raises ``ImportFileError`` for a file problem."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ImportFileError(f"a rota comes from a CSV or XLSX table, not {path.name}")
    report = RotaReport("rota", dry_run=dry_run)
    try:
        with db.uow() as session:
            built = _rota_rows(session, path, sheet, report)
            replaced = _check_overlaps(session, built, report)
            if report.rejected:
                report.rejected.sort()
                report.messages.append("nothing was imported: correct the rejected rows and import again")
                raise DryRun
            for row_id in replaced:
                session.delete(session.get(DutyRota, row_id))
            session.flush()
            for _, row in built:
                session.add(row)
            report.imported = report.added = len(built)
            audit_import(session, report, path)
            if dry_run:
                report.messages.append("dry run: nothing was written")
                raise DryRun
    except DryRun:
        pass
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0]
        raise ImportFileError(f"the database refused the rows; nothing was imported: {first}") from exc
    return report


def _check_overlaps(session: Session, built: list[tuple[int, DutyRota]], report: ImportReport) -> set[int]:
    """Reject the rows overlapping another of the file or of the database for one post; returns the ids of the
    database entries the file replaces (same day, shift and post)."""
    keys = {(row.day, row.shift, row.post) for _, row in built}
    replaced = {old.id for old in session.scalars(select(DutyRota).where(
        DutyRota.day.in_({day for day, _, _ in keys}))) if (old.day, old.shift, old.post) in keys}
    accepted: list[DutyRota] = []
    for number, row in built:
        clash = next((other for other in accepted if other.post == row.post and other.starts_at < row.ends_at
                      and other.ends_at > row.starts_at), None) or _overlapping(session, row, replaced)
        if clash is not None:
            report.reject(number, _overlap_reason(row, clash))
        else:
            accepted.append(row)
    return replaced


# --- the shift log and the handover -------------------------------------------------------------


def add_log_entry(session: Session, actor: Any, kind: str, text: str, now: datetime | None = None) -> DutyLogEntry:
    """Record an event, instruction or open matter in the log of the shift in progress (desk roles)."""
    _require(actor, DESK_ROLES, "write the shift log")
    if kind not in LOG_KINDS:
        raise DutyError(422, "invalid_kind", f"kind: one of {', '.join(LOG_KINDS)}")
    text = (text or "").strip()
    if not text or len(text) > TEXT_MAX:
        raise DutyError(422, "invalid_text", f"text: 1 to {TEXT_MAX} characters")
    now = now or utcnow()
    slot = slot_at(now)
    row = DutyLogEntry(day=slot.day, shift=slot.shift.code, kind=kind, text=text, author_id=actor.id, at=now)
    session.add(row)
    session.flush()
    _audit(session, actor, "duty.log.add", f"duty_log:{row.id}", {"kind": kind, **slot.to_dict()})
    return row


def shift_log(session: Session, slot: ShiftSlot) -> list[DutyLogEntry]:
    """The log entries of one shift, oldest first."""
    return list(session.scalars(select(DutyLogEntry).where(DutyLogEntry.day == slot.day,
                                                           DutyLogEntry.shift == slot.shift.code)
                                .order_by(DutyLogEntry.at, DutyLogEntry.id)))


def log_to_dict(row: DutyLogEntry) -> dict[str, Any]:
    """The API representation of a shift-log entry."""
    from dispatch.service import to_iso

    return {"id": row.id, "day": row.day.isoformat(), "shift": row.shift, "kind": row.kind, "text": row.text,
            "author": row.author.username if row.author is not None else None, "at": to_iso(row.at)}


def hand_over(session: Session, actor: Any, note: str, now: datetime | None = None) -> DutyHandover:
    """Write the handover note of the shift in progress (desk roles); one per shift (409 for a second)."""
    _require(actor, DESK_ROLES, "hand over a shift")
    note = (note or "").strip()
    if not note or len(note) > TEXT_MAX:
        raise DutyError(422, "invalid_note", f"note: 1 to {TEXT_MAX} characters")
    now = now or utcnow()
    slot = slot_at(now)
    if session.scalar(select(DutyHandover.id).where(DutyHandover.day == slot.day,
                                                    DutyHandover.shift == slot.shift.code)) is not None:
        raise DutyError(409, "already_handed_over", f"the {slot.shift.code} shift of {slot.day} is handed over")
    row = DutyHandover(day=slot.day, shift=slot.shift.code, note=note, author_id=actor.id, at=now)
    session.add(row)
    session.flush()
    _audit(session, actor, "duty.handover", f"duty_handover:{row.id}", slot.to_dict())
    return row


def acknowledge_handover(session: Session, actor: Any, handover_id: int, now: datetime | None = None) -> DutyHandover:
    """The next shift takes over: who and when are recorded once. Refused (403) to the author, and to a user who
    is not on the next shift's rota when that shift has one; 409 when already acknowledged."""
    _require(actor, DESK_ROLES, "acknowledge a handover")
    row = session.get(DutyHandover, handover_id)
    if row is None:
        raise DutyError(404, "handover_not_found", f"no handover {handover_id}")
    if row.acked_at is not None:
        raise DutyError(409, "already_acknowledged", f"handover {handover_id} is already acknowledged")
    if row.author_id == actor.id:
        raise DutyError(403, "own_handover", "the next shift acknowledges a handover, not its author")
    start, end = ShiftSlot(row.day, shift_named(row.shift)).next().span
    next_crew = set(session.scalars(select(DutyRota.user_id).where(DutyRota.starts_at == start,
                                                                   DutyRota.ends_at == end)))
    if next_crew and actor.id not in next_crew:
        raise DutyError(403, "not_next_shift", "only a member of the next shift's rota acknowledges this handover")
    row.acked_by_id, row.acked_at = actor.id, now or utcnow()
    session.flush()
    _audit(session, actor, "duty.handover.ack", f"duty_handover:{row.id}", {"day": row.day.isoformat(),
                                                                            "shift": row.shift})
    return row


def handovers(session: Session, limit: int = 50) -> list[DutyHandover]:
    """The latest handovers, newest first."""
    return list(session.scalars(select(DutyHandover).order_by(DutyHandover.at.desc(), DutyHandover.id.desc())
                                .limit(limit)))


def get_handover(session: Session, handover_id: int) -> DutyHandover:
    """One handover; DutyError 404 when there is none."""
    row = session.get(DutyHandover, handover_id)
    if row is None:
        raise DutyError(404, "handover_not_found", f"no handover {handover_id}")
    return row


def handover_to_dict(session: Session, row: DutyHandover) -> dict[str, Any]:
    """A handover with its shift, the shift's crew, its log and its open matters: what the print view shows."""
    from dispatch.service import to_iso

    slot = ShiftSlot(row.day, shift_named(row.shift))
    start, end = slot.span
    crew = session.scalars(select(DutyRota).where(DutyRota.starts_at == start, DutyRota.ends_at == end)
                           .order_by(DutyRota.post))
    log = [log_to_dict(entry) for entry in shift_log(session, slot)]
    return {"id": row.id, **slot.to_dict(), "note": row.note,
            "author": row.author.username if row.author is not None else None, "at": to_iso(row.at),
            "acked_by": row.acked_by.username if row.acked_by is not None else None,
            "acked_at": to_iso(row.acked_at), "crew": [rota_to_dict(entry) for entry in crew],
            "log": log, "open_matters": [entry for entry in log if entry["kind"] == "open_matter"]}
