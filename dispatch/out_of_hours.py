"""Out-of-hours reports (八小时工作时间之外反映事件): incidents reported outside working hours, as the working
calendar (``dispatch.working_hours``: the week of working periods, holidays and make-up days) defines them.

The figure is computed, not stored: ``out_of_hours_condition`` is one SQL predicate on ``reported_at`` that the
KPI snapshot counts per source in one grouped query over its cohort, so a holiday added afterwards counts at once and
no intake path (hotline, citizen, Open311, imports, alerts) needs to remember a flag. The calendar is turned
into UTC once per query, in Python: for each UTC day of the period, the UTC minutes that are working minutes
(local periods converted exactly, daylight saving included). Days with the same working minutes form a group;
the predicate asks whether the row's UTC day (text ``YYYY-MM-DD``) is in a group's days and its UTC minute
(``HH:MM``) among that group's minutes — two constant IN lists per group (one group for a plain week and its
make-up days, none for holidays and weekends), looked up in lists the database builds once per query. Text
slices of the stored time, not date functions: SQLite's ``strftime`` costs ~2 µs a call, a slice next to
nothing (bench/bench_out_of_hours.py). ``is_out_of_hours`` is the same rule in Python, the reference the tests
hold the SQL to.

A moment is within working hours when its local minute lies in a working period ``[start, end)`` of its day:
08:30:00 is inside, 12:00:00 outside (the lunch break), every minute of a holiday outside, a make-up working day
(调休) inside its periods.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal_column, not_, or_, select
from sqlalchemy.orm import Session

from data.models import Incident
from dispatch.working_hours import WorkingCalendar

ONE_DAY = timedelta(days=1)


def is_out_of_hours(calendar: WorkingCalendar, moment: datetime) -> bool:
    """True when ``moment`` (aware) lies outside every working period of its local day."""
    local = moment.astimezone(calendar.zone)
    minute = local.hour * 60 + local.minute
    return not any(start <= minute < end for start, end in calendar.periods_on(local.date()))


def utc_working_minutes(calendar: WorkingCalendar, start: datetime, end: datetime) -> dict[date, set[int]]:
    """For each UTC day touching [start, end), its working minutes (minutes after UTC midnight)."""
    minutes: dict[date, set[int]] = defaultdict(set)
    first = start.astimezone(calendar.zone).date() - ONE_DAY
    last = end.astimezone(calendar.zone).date() + ONE_DAY
    day = first
    while day <= last:
        midnight = datetime.combine(day, time(), calendar.zone)
        for a, b in calendar.periods_on(day):
            begin = (midnight + timedelta(minutes=a)).astimezone(UTC)
            if (midnight + timedelta(minutes=b)).astimezone(UTC) - begin == timedelta(minutes=b - a):
                first_minute = begin.hour * 60 + begin.minute  # one offset all along: count on from the start
                last_minute = first_minute + b - a
                minutes[begin.date()].update(range(first_minute, min(last_minute, 1440)))
                if last_minute > 1440:  # the period runs past UTC midnight
                    minutes[begin.date() + ONE_DAY].update(range(0, last_minute - 1440))
                continue
            for m in range(a, b):  # a daylight-saving change inside the period: each minute on its own
                at = (midnight + timedelta(minutes=m)).astimezone(UTC)
                minutes[at.date()].add(at.hour * 60 + at.minute)
        day += ONE_DAY
    return minutes


def _text_list(values: Sequence[str]) -> Any:
    """A constant list written into the statement (values are our own dates and times: digits, - and :)."""
    return literal_column("(" + ",".join(f"'{v}'" for v in values) + ")")


def _utc_text(session: Session, column: Any) -> tuple[Any, Any]:
    """SQL for the UTC day (``YYYY-MM-DD``) and minute (``HH:MM``) of a naive-UTC ``column``: slices of the
    stored text on SQLite, ``to_char`` on PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(column, 1, 10), func.substr(column, 12, 5)
    return func.to_char(column, "YYYY-MM-DD"), func.to_char(column, "HH24:MI")


def out_of_hours_condition(session: Session, calendar: WorkingCalendar, column: Any, start: datetime,
                           end: datetime) -> ColumnElement[bool]:
    """SQL: ``column`` (a naive-UTC time, e.g. ``Incident.reported_at``) falls outside working hours, for rows
    whose time lies in [start, end)."""
    groups: dict[frozenset[int], list[str]] = defaultdict(list)
    for day, minutes in sorted(utc_working_minutes(calendar, start, end).items()):
        if minutes:
            groups[frozenset(minutes)].append(day.isoformat())
    day_text, minute_text = _utc_text(session, column)
    working = [and_(day_text.op("IN")(_text_list(days)),
                    minute_text.op("IN")(_text_list([f"{m // 60:02d}:{m % 60:02d}" for m in sorted(minutes)])))
               for minutes, days in groups.items()]
    return not_(or_(*working)) if working else not_(false())


def out_of_hours_figures(session: Session, calendar: WorkingCalendar, cohort: Sequence[ColumnElement[bool]],
                         start: datetime, end: datetime, sources: Sequence[str]) -> dict[str, Any]:
    """``out_of_hours`` and ``out_of_hours_by_source`` of the incidents matching ``cohort`` (the KPI cohort of
    [start, end)): one grouped query, so each row's time is looked up once (FILTER columns per source would
    each look it up again)."""
    outside = out_of_hours_condition(session, calendar, Incident.reported_at, start, end)
    counted = dict(session.execute(select(Incident.source, func.count()).where(*cohort, outside)
                                   .group_by(Incident.source)).all())
    by_source = {s: int(counted.get(s, 0)) for s in sources}
    return {"out_of_hours": sum(int(n) for n in counted.values()), "out_of_hours_by_source": by_source}
