"""The out-of-hours figure (issue 20) on the real PostgreSQL 15: the predicate reads the stored time with
``to_char`` there (text slices on SQLite); both count the same fortnight of reports, with a holiday and a
make-up day, as the Python rule does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from data.models import Incident
from dispatch.kpi import kpi_snapshot
from dispatch.out_of_hours import is_out_of_hours
from dispatch.working_hours import load_calendar
from tests.unit.test_out_of_hours import END, NOW, START, calendar_with_holiday_and_makeup_day, row


def _answer(database) -> tuple[int, int, dict]:
    with database.uow() as s:
        calendar_with_holiday_and_makeup_day(s)
        moments, moment = [], START
        while moment < END:
            moments.append(moment)
            moment += timedelta(minutes=13)
        s.execute(insert(Incident), [row(n, m, ("citizen", "hotline")[n % 2]) for n, m in enumerate(moments)])
        s.flush()
        calendar = load_calendar(s)
        expected = sum(is_out_of_hours(calendar, m) for m in moments)
        snapshot = kpi_snapshot(s, START, END, now=NOW, out_of_hours=True)
        return expected, snapshot["out_of_hours"], snapshot["out_of_hours_by_source"]


def test_out_of_hours_counts_the_same_on_postgres_as_on_sqlite_and_in_python(pg_db, db):
    expected, counted, by_source = _answer(pg_db)
    assert expected > 0 and counted == expected
    assert by_source["citizen"] + by_source["hotline"] == expected
    assert _answer(db) == (expected, counted, by_source)
