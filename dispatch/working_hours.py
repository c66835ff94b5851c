"""Working hours and holidays: the ``Calendar`` that counts limit hours only while offices are open.

A week of working periods (``WorkPeriod`` rows; Monday–Friday 08:30–12:00 and 13:30–17:30 when
none are stored) and a list of exceptional days (``CalendarDay``: public holidays, and make-up
working days on a weekend, 调休) are kept in the database, so the administrator can change them
without a restart. Categories marked ``working_hours`` count their limits with this calendar; the
others count every elapsed hour (``sla.ElapsedHours``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from data.models import CalendarDay, Category, CategoryLimit, WorkPeriod
from dispatch import sla
from settings import get_settings

#: (start, end) minutes after local midnight.
Period = tuple[int, int]

#: The default week: Monday (0) to Friday, 08:30–12:00 and 13:30–17:30; Saturday and Sunday off.
DEFAULT_WEEK: dict[int, tuple[Period, ...]] = {d: ((510, 720), (810, 1050)) for d in range(5)}
#: A calendar with no working minute for this long is refused rather than looping for ever.
MAX_SEARCH_DAYS = 3660
SEVERITIES = sla.SEVERITIES


class CalendarError(ValueError):
    """A working-hours setting that cannot be used (overlapping or empty periods, a week with no work)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _check_periods(periods: Sequence[Period]) -> tuple[Period, ...]:
    ordered = tuple(sorted((int(a), int(b)) for a, b in periods))
    for start, end in ordered:
        if not 0 <= start < end <= 24 * 60:
            raise CalendarError("invalid_period", f"a working period must lie within one day: {start}–{end}")
    for (_, end), (start, _) in pairwise(ordered):
        if start < end:
            raise CalendarError("overlapping_periods", "working periods of one day overlap")
    return ordered


@dataclass(frozen=True)
class WorkingCalendar:
    """Counts hours only inside working periods, skipping holidays and counting make-up working days.

    A make-up working day (调休) works the periods of the first working weekday of the week.
    """

    week: Mapping[int, Sequence[Period]]
    exceptions: Mapping[date, bool] = field(default_factory=dict)
    zone: ZoneInfo = field(default_factory=lambda: get_settings().zone)

    def __post_init__(self) -> None:
        week = {int(d): _check_periods(p) for d, p in self.week.items() if p}
        if not week:
            raise CalendarError("no_working_hours", "the week has no working period")
        object.__setattr__(self, "week", week)

    def periods_on(self, day: date) -> tuple[Period, ...]:
        """The working periods of ``day`` (none on a holiday)."""
        workday = self.exceptions.get(day)
        if workday is False:
            return ()
        periods = self.week.get(day.weekday(), ())
        if workday is True and not periods:
            periods = self.week[min(self.week)]
        return tuple(periods)

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` working hours after ``start`` (aware in, aware out)."""
        if start.tzinfo is None:
            raise ValueError("working hours need a timezone-aware start")
        remaining = timedelta(hours=float(hours))
        local = start.astimezone(self.zone)
        day = local.date()
        for _ in range(MAX_SEARCH_DAYS):
            midnight = datetime.combine(day, time(), self.zone)
            for first, last in self.periods_on(day):
                begin = max(midnight + timedelta(minutes=first), local)
                end = midnight + timedelta(minutes=last)
                if begin >= end:
                    continue
                if end - begin >= remaining:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= end - begin
            day += timedelta(days=1)
        raise CalendarError("no_working_hours", "no working hours in the next ten years")


def load_calendar(session: Session) -> WorkingCalendar:
    """The working calendar stored in the database (the default week when no period is stored)."""
    week: dict[int, list[Period]] = {}
    for row in session.scalars(select(WorkPeriod).order_by(WorkPeriod.weekday, WorkPeriod.start_minute)):
        week.setdefault(row.weekday, []).append((row.start_minute, row.end_minute))
    exceptions = dict(session.execute(select(CalendarDay.day, CalendarDay.workday)).all())
    return WorkingCalendar(week or DEFAULT_WEEK, exceptions)


def save_week(session: Session, week: Mapping[int, Iterable[Period]]) -> None:
    """Replace the stored week of working periods (validated as a whole first)."""
    checked = WorkingCalendar({d: list(p) for d, p in week.items()}).week
    session.execute(delete(WorkPeriod))
    session.add_all(WorkPeriod(weekday=d, start_minute=a, end_minute=b) for d, ps in checked.items() for a, b in ps)
    session.flush()


def set_day(session: Session, day: date, *, workday: bool | None, name: str | None = None) -> None:
    """Mark ``day`` a holiday (``workday`` False) or a make-up working day (True); None forgets it."""
    row = session.get(CalendarDay, day)
    if workday is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(CalendarDay(day=day, workday=workday, name=name))
    else:
        row.workday, row.name = workday, name
    session.flush()


def calendar_for(session: Session, category: Category) -> sla.Calendar:
    """The calendar ``category``'s limits are counted in."""
    return load_calendar(session) if category.working_hours else sla.DEFAULT_CALENDAR


@dataclass(frozen=True)
class Limits:
    """A handling and a closing limit in hours."""

    handle_hours: float
    close_hours: float


def limits_for(session: Session, category: Category, severity: str) -> Limits:
    """The limits of ``category`` for ``severity``: its per-severity override, else its own."""
    override = session.get(CategoryLimit, (category.code, severity))
    if override is not None:
        return Limits(override.handle_hours, override.close_hours)
    return Limits(category.handle_hours, category.close_hours)


# --- the administrator's text form of the calendar ------------------------------------------------

_WEEKDAYS = re.compile(r"^([1-7])(?:-([1-7]))?$")
_PERIOD = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def parse_week(text: str) -> dict[int, list[Period]]:
    """Working periods from lines like ``1-5 08:30-12:00 13:30-17:30`` (1 = Monday … 7 = Sunday)."""
    week: dict[int, list[Period]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        days = _WEEKDAYS.match(parts[0])
        if days is None or len(parts) < 2:
            raise CalendarError("invalid_period", f"line {number}: expected 'DAYS HH:MM-HH:MM ...'")
        first, last = int(days.group(1)), int(days.group(2) or days.group(1))
        periods = []
        for part in parts[1:]:
            hours = _PERIOD.match(part)
            if hours is None:
                raise CalendarError("invalid_period", f"line {number}: {part!r} is not HH:MM-HH:MM")
            h1, m1, h2, m2 = (int(g) for g in hours.groups())
            periods.append((h1 * 60 + m1, h2 * 60 + m2))
        for day in range(first, last + 1):
            week.setdefault(day - 1, []).extend(periods)
    WorkingCalendar(week)  # validates the whole week
    return week


def format_week(week: Mapping[int, Sequence[Period]]) -> str:
    """The text form of a week of working periods, one line per weekday."""
    def hhmm(minute: int) -> str:
        return f"{minute // 60:02d}:{minute % 60:02d}"

    return "\n".join(f"{day + 1} " + " ".join(f"{hhmm(a)}-{hhmm(b)}" for a, b in week[day]) for day in sorted(week))


def parse_days(text: str) -> dict[date, tuple[bool, str | None]]:
    """Exceptional days from lines ``2026-10-01 国庆节`` (a holiday) or ``2026-10-10 + 调休`` (a working day)."""
    days: dict[date, tuple[bool, str | None]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            raise CalendarError("invalid_date", f"line {number}: {parts[0]!r} is not YYYY-MM-DD") from None
        rest = parts[1].strip() if len(parts) > 1 else ""
        workday = rest.startswith("+")
        days[day] = (workday, rest.lstrip("+").strip()[:64] or None)
    return days


def format_days(session: Session) -> str:
    """The stored exceptional days in their text form, by date."""
    rows = session.scalars(select(CalendarDay).order_by(CalendarDay.day))
    return "\n".join(f"{r.day.isoformat()} {'+ ' if r.workday else ''}{r.name or ''}".rstrip() for r in rows)


def save_days(session: Session, days: Mapping[date, tuple[bool, str | None]]) -> None:
    """Replace the stored exceptional days."""
    session.execute(delete(CalendarDay))
    session.add_all(CalendarDay(day=d, workday=w, name=n) for d, (w, n) in days.items())
    session.flush()


def stored_week(session: Session) -> dict[int, list[Period]]:
    """The stored week (the default week when none is stored)."""
    return {d: list(p) for d, p in load_calendar(session).week.items()}
