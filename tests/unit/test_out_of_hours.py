"""The out-of-hours figure (八小时工作时间之外反映事件, issue 20): incidents reported outside working hours by
the working calendar — the week's periods with the lunch break, a weekend, a holiday and a make-up working day —
counted in the KPI snapshot (``out_of_hours``, ``out_of_hours_by_source``) by one SQL predicate that agrees
with the Python rule minute by minute."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from data.models import Incident
from dispatch.kpi import kpi_snapshot
from dispatch.out_of_hours import is_out_of_hours
from dispatch.workflow import SOURCES
from dispatch.working_hours import load_calendar, set_day
from settings import get_settings
from tests.unit.test_dispatch_service import make_city

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 9, 21, tzinfo=ZONE)  # Monday
END = datetime(2026, 10, 5, tzinfo=ZONE)
NOW = datetime(2026, 10, 20, tzinfo=ZONE)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 9, day, hour, minute, tzinfo=ZONE)


def row(n: int, reported: datetime, source: str, *, exercise: bool = False) -> dict:
    return {"code": f"O{n:05d}", "state": "reported", "version": 1, "category_code": "S0101", "source": source,
            "title": "t", "reported_at": reported, "card": "none", "rework_count": 0, "exercise": exercise,
            "escalated": False, "updated_at": reported}


def calendar_with_holiday_and_makeup_day(session) -> None:
    """Friday 25 September 2026 a holiday (中秋节), Sunday 27 September a make-up working day (调休)."""
    make_city(session)
    set_day(session, date(2026, 9, 25), workday=False, name="中秋节")
    set_day(session, date(2026, 9, 27), workday=True, name="调休")


#: (local time, source, outside working hours?) — the default week: Mon–Fri 08:30–12:00 and 13:30–17:30.
CASES = [
    (at(24, 9), "citizen", False),           # Thursday morning
    (at(24, 8, 29), "hotline", True),        # a minute before opening
    (at(24, 8, 30), "hotline", False),       # opening minute
    (at(24, 12), "citizen", True),           # lunch break begins at 12:00
    (at(24, 17, 29), "patrol", False),       # last working minute
    (at(24, 17, 30), "patrol", True),        # closing time
    (at(25, 10), "citizen", True),           # the holiday, a Friday
    (at(26, 10), "hotline", True),           # Saturday
    (at(27, 10), "hotline", False),          # the make-up working Sunday, inside its periods
    (at(27, 20), "hotline", True),           # the make-up Sunday's evening
    (at(28, 23, 59), "citizen", True),       # Monday night
    (at(29, 0, 10), "operator", True),       # Tuesday, just after midnight
]


def test_is_out_of_hours_follows_periods_weekends_holidays_and_makeup_days(session):
    calendar_with_holiday_and_makeup_day(session)
    calendar = load_calendar(session)
    assert [is_out_of_hours(calendar, moment) for moment, _, _ in CASES] == [out for _, _, out in CASES]


def test_snapshot_counts_incidents_reported_outside_working_hours_by_source(session):
    calendar_with_holiday_and_makeup_day(session)
    rows = [row(n, moment, source) for n, (moment, source, _) in enumerate(CASES)]
    rows.append(row(99, at(26, 3), "citizen", exercise=True))  # a drill counts nowhere
    session.execute(insert(Incident), rows)
    snapshot = kpi_snapshot(session, START, END, now=NOW, out_of_hours=True)
    assert snapshot["reported"] == len(CASES)
    assert snapshot["out_of_hours"] == 8
    assert snapshot["out_of_hours_by_source"] == dict.fromkeys(SOURCES, 0) | {
        "patrol": 1, "hotline": 3, "operator": 1, "citizen": 3}
    # The same cohort scoped to one source counts only its own out-of-hours reports.
    assert kpi_snapshot(session, START, END, now=NOW, out_of_hours=True, source="hotline")["out_of_hours"] == 3


def test_a_holiday_added_afterwards_counts_at_once(session):
    make_city(session)
    session.execute(insert(Incident), [row(1, at(25, 10), "citizen")])
    assert kpi_snapshot(session, START, END, now=NOW, out_of_hours=True)["out_of_hours"] == 0
    set_day(session, date(2026, 9, 25), workday=False, name="中秋节")
    assert kpi_snapshot(session, START, END, now=NOW, out_of_hours=True)["out_of_hours"] == 1


def test_sql_predicate_agrees_with_the_python_rule_over_a_fortnight(session):
    calendar_with_holiday_and_makeup_day(session)
    moments = []
    moment = START
    while moment < END:
        moments.append(moment)
        moment += timedelta(minutes=7)
    session.execute(insert(Incident), [row(n, m, "citizen") for n, m in enumerate(moments)])
    calendar = load_calendar(session)
    expected = sum(is_out_of_hours(calendar, m) for m in moments)
    assert 0 < expected < len(moments)
    assert kpi_snapshot(session, START, END, now=NOW, out_of_hours=True)["out_of_hours"] == expected


def test_sql_predicate_follows_a_daylight_saving_change(session, monkeypatch):
    """In a zone with daylight saving (SQLite shifts by the offset in force on each side of the change)."""
    monkeypatch.setenv("CITYOPS_TZ", "Europe/Berlin")
    get_settings.cache_clear()
    berlin = ZoneInfo("Europe/Berlin")
    make_city(session)
    # 25 October 2026: clocks go back at 03:00 CEST. Monday 26 October 08:40 local is in hours, 08:20 not,
    # whichever offset applies; Friday 23 October 08:40 CEST likewise.
    moments = [datetime(2026, 10, d, h, m, tzinfo=berlin) for d in (23, 26) for h, m in ((8, 20), (8, 40))]
    session.execute(insert(Incident), [row(n, m, "citizen") for n, m in enumerate(moments)])
    calendar = load_calendar(session)
    assert [is_out_of_hours(calendar, m) for m in moments] == [True, False, True, False]
    snapshot = kpi_snapshot(session, datetime(2026, 10, 19, tzinfo=berlin), datetime(2026, 11, 2, tzinfo=berlin),
                            now=NOW, out_of_hours=True)
    assert snapshot["out_of_hours"] == 2


def test_the_plain_snapshot_leaves_the_figure_out(session):
    make_city(session)
    assert "out_of_hours" not in kpi_snapshot(session, START, END, now=NOW)
