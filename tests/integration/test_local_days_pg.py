"""Local-day and local-hour buckets on the real PostgreSQL 15: the briefing's daily trend (also the daily
report's) and the big screen's incident trend group by the display zone's day, as on SQLite. Both add the
zone offset to a UTC column in SQL; a plain ``timedelta`` there used to go through the column's
``UTCDateTime`` bind processing and fail on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert

from data.models import Incident
from dispatch.briefing import build_briefing, period_of
from dispatch.screen import incident_trend
from tests.unit.test_dispatch_service import make_city
from tests.unit.test_kpi import _closed

NOW = datetime(2026, 12, 2, tzinfo=UTC)
LATE = datetime(2026, 11, 1, 20, tzinfo=UTC)  # 04:00 on 2 November in Shanghai


def _answers(database) -> tuple[list, dict]:
    with database.uow() as s:
        city = make_city(s)
        s.execute(insert(Incident), [_closed(i, department_id=city.gas.id, grid_id=city.g1.id) for i in range(3)]
                  + [_closed(9, reported=LATE, department_id=city.gas.id, grid_id=city.g1.id)])
        s.flush()
        briefing = build_briefing(s, *period_of("month", date(2026, 11, 10)), NOW)
        hourly = incident_trend(s, LATE - timedelta(days=2), LATE + timedelta(days=1), 480, hourly=True)
    return briefing.trend, hourly


def test_the_briefing_and_screen_trends_bucket_by_local_day_on_postgres_as_on_sqlite(pg_db, db):
    trend, hourly = _answers(pg_db)
    by_day = {d: (reported, closed) for d, reported, closed in trend}
    assert by_day[date(2026, 11, 1)][0] == 3 and by_day[date(2026, 11, 2)][0] == 1
    assert hourly["2026-11-02 04"][0] == 1
    assert (trend, hourly) == _answers(db)
