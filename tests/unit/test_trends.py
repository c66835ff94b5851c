"""Trend analysis (issue 20): rising categories week on week, hot spots against a community's own eight-week
baseline, and repeated addresses within 30 days — on hand-built incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from data.models import Incident
from dispatch.trends import HOT_MIN, trends
from tests.unit import test_pages as pages
from tests.unit.test_dispatch_service import make_city

city, server = pages.city, pages.server

END = datetime(2026, 11, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def row(n: int, days_before: float, category: str = "S0101", *, grid_id: int | None = None,
        address: str | None = None, exercise: bool = False) -> dict:
    at = END - timedelta(days=days_before)
    return {"code": f"T{n:05d}", "state": "reported", "version": 1, "category_code": category, "source": "citizen",
            "title": "t", "reported_at": at, "card": "none", "rework_count": 0, "exercise": exercise,
            "escalated": False, "updated_at": at, "grid_id": grid_id, "address": address}


def test_rising_category_needs_three_this_week_and_more_than_last(session):
    make_city(session)
    rows = [row(i, 1 + i * 0.1, "S0101") for i in range(5)]           # litter: 5 this week
    rows += [row(10 + i, 8 + i * 0.1, "S0101") for i in range(2)]     # 2 last week → +3
    rows += [row(20 + i, 2, "L01") for i in range(2)]                 # gas: 2 this week, 0 before: below 3
    rows += [row(30 + i, 3, "L01", exercise=True) for i in range(5)]  # drills count nowhere
    session.execute(insert(Incident), rows)
    found = trends(session, END).rising
    assert [(r.code, r.this_week, r.last_week, r.change) for r in found] == [("S0101", 5, 2, 3)]


def test_hot_spot_is_above_mean_plus_two_sd_of_its_own_eight_weeks(session):
    city = make_city(session)
    rows, n = [], 0
    # Community D1S1C1: 2 incidents in each of the 8 previous weeks (sd 0), 6 this week → hot.
    for week in range(1, 9):
        for _ in range(2):
            rows.append(row(n, week * 7 + 1, grid_id=city.g1.id))
            n += 1
    for _ in range(HOT_MIN + 1):
        rows.append(row(n, 1, grid_id=city.g2.id))
        n += 1
    session.execute(insert(Incident), rows)
    hot = trends(session, END).hot_spots
    assert [(h.code, h.this_week, h.baseline_mean, h.baseline_sd) for h in hot] == [("D1S1C1", 6, 2.0, 0.0)]


def test_no_hot_spot_when_this_week_is_within_the_baseline_spread(session):
    city = make_city(session)
    counts = [0, 10, 0, 10, 0, 10, 0, 10]  # mean 5, sd 5: the threshold is 15
    rows, n = [], 0
    for week, count in enumerate(counts, start=1):
        for _ in range(count):
            rows.append(row(n, week * 7 + 1, grid_id=city.g1.id))
            n += 1
    rows += [row(1000 + i, 1, grid_id=city.g1.id) for i in range(12)]
    session.execute(insert(Incident), rows)
    assert trends(session, END).hot_spots == []


def test_repeated_address_three_times_within_thirty_days(session):
    make_city(session)
    rows = [row(i, d, address="和平路 1 号") for i, d in enumerate((1, 10, 29))]
    rows += [row(10 + i, d, address="解放路 9 号") for i, d in enumerate((1, 10, 31))]  # the third is too old
    session.execute(insert(Incident), rows)
    found = trends(session, END).repeated
    assert [(r.address, r.count) for r in found] == [("和平路 1 号", 3)]
    assert found[0].first == END - 29 * DAY and found[0].last == END - DAY


def test_the_trends_page_draws_the_findings_and_links_the_monthly_report(server, db, city):
    from callbacks import trends as page

    with db.uow() as s:
        s.execute(insert(Incident), [row(i, 1 + i * 0.1) for i in range(4)])
    with pages.signed_in(server, city.operator):
        body, pdf, xlsx = page.show_trends("2026-11-29")
    assert "暴露垃圾" in pages.texts(body) and "4" in pages.texts(body)
    assert pdf == "/api/v1/reports/monthly?month=2026-11&format=pdf&lang=zh" and xlsx.endswith("format=xlsx&lang=zh")
