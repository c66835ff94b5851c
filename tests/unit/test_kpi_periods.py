"""The periods of ``dispatch.kpi`` (issue 15): one meaning per name — today, this week and month, the calendar
period before one, the equally long period before one, last month to date — with the day boundaries in the
display time zone, and the daily trend's local days across a change of UTC offset (daylight saving)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from data.models import Incident
from dispatch import kpi
from settings import get_settings
from tests.unit.test_dispatch_service import make_city
from tests.unit.test_kpi import _row

H = timedelta(hours=1)


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=get_settings().zone)


def test_today_this_week_and_this_month_are_local():
    now = datetime(2026, 11, 30, 20, tzinfo=UTC)  # 04:00 on Tuesday 1 December in Shanghai
    assert kpi.today(now) == (_local(2026, 12, 1), _local(2026, 12, 2))
    assert kpi.this_week(now) == (_local(2026, 11, 30), _local(2026, 12, 7))
    assert kpi.this_month(now) == (_local(2026, 12, 1), _local(2027, 1, 1))
    assert kpi.local_midnight(now) == _local(2026, 12, 1)
    assert kpi.local_day(now) == date(2026, 12, 1)


@pytest.mark.parametrize(("kind", "day", "before"), [
    ("day", date(2026, 3, 1), (date(2026, 2, 28), date(2026, 3, 1))),
    ("week", date(2026, 1, 1), (date(2025, 12, 22), date(2025, 12, 29))),
    ("month", date(2026, 3, 31), (date(2026, 2, 1), date(2026, 3, 1))),  # all of February, not 31 days
    ("quarter", date(2026, 2, 14), (date(2025, 10, 1), date(2026, 1, 1))),
])
def test_the_calendar_period_before_is_the_one_of_the_same_kind(kind, day, before):
    start, end = kpi.calendar_period(kind, day)
    assert kpi.previous_calendar_period(kind, start, end) == (_local(*before[0].timetuple()[:3]),
                                                              _local(*before[1].timetuple()[:3]))


def test_the_previous_period_is_as_long_and_the_custom_ones_before_is_too():
    start, end = kpi.calendar_period("custom", date(2026, 11, 10), until=date(2026, 11, 19))
    assert kpi.previous_period(start, end) == (start - timedelta(days=10), start)
    assert kpi.previous_calendar_period("custom", start, end) == kpi.previous_period(start, end)
    with pytest.raises(ValueError):
        kpi.calendar_period("custom", date(2026, 11, 10), until=date(2026, 11, 9))
    with pytest.raises(ValueError):
        kpi.calendar_period("fortnight", date(2026, 11, 10))


def test_last_month_to_date_stops_at_the_same_point_or_at_its_end():
    assert kpi.last_month_to_date(_local(2026, 3, 10, 12)) == (_local(2026, 2, 1), _local(2026, 2, 10, 12))
    assert kpi.last_month_to_date(_local(2026, 3, 31, 23)) == (_local(2026, 2, 1), _local(2026, 3, 1))


@pytest.fixture
def berlin(monkeypatch):
    """A display zone with daylight saving: 25 October 2026 has 25 hours in Berlin."""
    monkeypatch.setenv("CITYOPS_TZ", "Europe/Berlin")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("CITYOPS_TZ")
    get_settings.cache_clear()


def test_the_daily_trend_keeps_local_days_across_a_change_of_offset(session, berlin):
    # 23:30 local on each day from 23 to 27 October (UTC+2 until the 25th at 03:00, then UTC+1).
    make_city(session)
    reports = [_local(2026, 10, day, 23, 30) for day in range(23, 28)]
    session.execute(insert(Incident), [_row(i, reported=moment) for i, moment in enumerate(reports)])
    session.flush()
    runs = kpi._day_runs(date(2026, 10, 23), date(2026, 10, 27))
    assert [offset for *_, offset in runs] == [120, None, 60]
    trend = kpi.daily_trend(session, date(2026, 10, 23), date(2026, 10, 27), now=datetime(2026, 11, 1, tzinfo=UTC))
    assert [(d.day.day, d.reported) for d in trend] == [(23, 1), (24, 1), (25, 1), (26, 1), (27, 1)]
    # Each day's count is the KPI engine's cohort of that local day.
    for d in trend:
        start, end = kpi.calendar_period("day", d.day)
        assert kpi.kpi_snapshot(session, start, end, now=datetime(2026, 11, 1, tzinfo=UTC))["reported"] == 1


def test_the_daily_trend_counts_nothing_after_now(session):
    make_city(session)
    now = _local(2026, 11, 20, 12)
    session.execute(insert(Incident), [_row(1, reported=now - H), _row(2, reported=now + H)])
    session.flush()
    trend = kpi.daily_trend(session, date(2026, 11, 20), date(2026, 11, 20), now=now)
    assert [tuple(d) for d in trend] == [(date(2026, 11, 20), 1, 0)]
