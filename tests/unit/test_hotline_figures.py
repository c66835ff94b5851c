"""The 12345 hotline figures of DESIGN §7 (``kpi_snapshot(...)["hotline"]``) against a month computed by
hand — working days with a holiday, follow-up satisfaction, on-time replies and repeat calls — and the
working-day measure on its own."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from data.models import Incident
from dispatch.kpi import kpi_snapshot, workdays_between
from dispatch.working_hours import DEFAULT_WEEK, WorkingCalendar, load_calendar, set_day
from tests.unit.test_dispatch_service import make_city

ZONE = ZoneInfo("Asia/Shanghai")
#: The cohort: September 2026, local time; the snapshot is taken on 20 October.
START = datetime(2026, 9, 1, tzinfo=ZONE)
END = datetime(2026, 10, 1, tzinfo=ZONE)
NOW = datetime(2026, 10, 20, tzinfo=ZONE)
HOTLINE_KEYS = {"orders", "direct", "transferred", "direct_rate", "satisfaction_rate", "mean_handle_workdays",
                "on_time_reply_rate", "repeat_calls"}


def at(day: int, hour: int, minute: int = 0, month: int = 9) -> datetime:
    """A local (Asia/Shanghai) time in 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=ZONE)


def order(n: int, reported: datetime, *, mode: str = "transfer", phone: str | None = None,
          address: str | None = None, closed: datetime | None = None, deadline: datetime | None = None,
          replied: datetime | None = None, rated: str | None = None, source: str = "hotline",
          exercise: bool = False) -> dict:
    """One order row for a bulk insert: filed at the call, closed (or dispatched and open) as given."""
    return {
        "code": f"H{n:04d}", "state": "closed" if closed else "dispatched", "version": 1,
        "category_code": "S0101", "source": source, "title": "call", "reported_at": reported,
        "filed_at": reported, "dispatched_at": None if mode == "direct" else reported, "closed_at": closed,
        "close_deadline": deadline or reported + timedelta(days=2), "card": "none", "rework_count": 0,
        "exercise": exercise, "escalated": False, "updated_at": reported,
        "hotline_mode": mode if source == "hotline" else None, "caller_phone": phone, "address": address,
        "replied_at": replied, "public_reply": "答复" if replied else None,
        "satisfaction": rated, "rated_at": closed + timedelta(days=1) if rated else None,
    }


@pytest.fixture
def month(session):
    seed_month(session)


def seed_month(session) -> None:
    """Five hotline orders in September 2026 (the default week: Mon–Fri 08:30–12:00 and 13:30–17:30, 450
    working minutes a day) with the Mid-Autumn Festival, Friday 25 September, a holiday."""
    make_city(session)
    set_day(session, date(2026, 9, 25), workday=False, name="中秋节")
    session.execute(insert(Incident), [
        # Before the month: an earlier call about 和平路 1 号 (25 days before O2) and one from 139…1111
        # (71 days before O4: outside the 30-day window).
        order(1, at(30, 10, month=8), mode="direct", address="和平路 1 号", phone="13900000000",
              closed=at(30, 10, month=8)),
        order(2, at(20, 10, month=7), mode="direct", phone="13911111111", closed=at(20, 10, month=7)),
        # O1, direct (直办): answered and closed at once → 0 working days; replied at once (on time);
        # the follow-up reached the caller: satisfied.
        order(11, at(1, 9), mode="direct", phone="13800000001", closed=at(1, 9), replied=at(1, 9), rated="satisfied"),
        # O2, transferred: Thu 24 Sep 09:00 → Mon 28 Sep 17:30. Thu 09:00–12:00 + 13:30–17:30 = 420/450;
        # Fri 25 is the holiday (0), Sat and Sun 0, Mon a whole day (1) → 420/450 + 1 = 29/15 = 1.9333.
        # Replied 28 Sep 18:00, before its deadline 29 Sep 17:30 (on time); reached: dissatisfied.
        # A repeat call: 和平路 1 号 called on 30 Aug, 25 days before.
        order(12, at(24, 9), address="和平路 1 号", phone="13800000002", closed=at(28, 17, 30),
              deadline=at(29, 17, 30), replied=at(28, 18), rated="dissatisfied"),
        # O3, transferred: Wed 2 Sep 13:30 → Wed 9 Sep 13:30. Wed 240/450 + Thu, Fri 2 + Mon, Tue 2 + Wed
        # 08:30–12:00 210/450 → 5.0 working days. Replied 9 Sep 14:00, after its deadline 8 Sep (late);
        # reached: basically satisfied. A repeat call: the same phone as O1, the day before.
        order(13, at(2, 13, 30), phone="13800000001", closed=at(9, 13, 30), deadline=at(8, 17, 30),
              replied=at(9, 14), rated="basically_satisfied"),
        # O4, transferred, still open: its deadline (30 Sep 10:00) passed with no reply → a reply due and
        # late. Its phone last called 71 days before: not a repeat call.
        order(14, at(29, 10), phone="13911111111", deadline=at(30, 10)),
        # O5, transferred: Thu 10 Sep 10:00 → Fri 11 Sep 10:00. Thu 10:00–12:00 + 13:30–17:30 = 360/450;
        # Fri 08:30–10:00 = 90/450 → 1.0 working day. Replied on time; the follow-up did not reach the
        # caller (no rating).
        order(15, at(10, 10), phone="13800000005", closed=at(11, 10), deadline=at(12, 10), replied=at(11, 9)),
        # Not hotline orders of the cohort: a patrol report, a drill, a call in October.
        order(21, at(3, 10), source="patrol", closed=at(3, 11), replied=at(3, 11), rated="dissatisfied"),
        order(22, at(4, 10), phone="13800000001", exercise=True, closed=at(4, 11)),
        order(23, at(2, 10, month=10), phone="13800000002"),
    ])


def test_the_hotline_figures_of_a_hand_computed_month(session, month):
    hotline = kpi_snapshot(session, START, END, now=NOW)["hotline"]
    assert set(hotline) == HOTLINE_KEYS
    # O1..O5: one answered directly, four transferred.
    assert (hotline["orders"], hotline["direct"], hotline["transferred"]) == (5, 1, 4)
    assert hotline["direct_rate"] == 0.2
    # Reached: O1 satisfied, O2 dissatisfied, O3 basically satisfied → 2 of 3 (O5 was not reached).
    assert hotline["satisfaction_rate"] == 0.6667
    # Closed O1, O2, O3, O5: (0 + 29/15 + 5 + 1) / 4 = 119/60 = 1.9833 working days.
    assert hotline["mean_handle_workdays"] == 1.98
    # Replies due: O1, O2, O3, O5 given and O4 overdue; on time: O1, O2, O5 → 3/5.
    assert hotline["on_time_reply_rate"] == 0.6
    # O2 (same address 25 days before) and O3 (same phone the day before).
    assert hotline["repeat_calls"] == 2


def test_without_the_holiday_the_same_month_takes_a_quarter_day_longer(session, month):
    set_day(session, date(2026, 9, 25), workday=None)
    # O2 now also counts Friday 25 September: (0 + 44/15 + 5 + 1) / 4 = 134/60 = 2.2333.
    assert kpi_snapshot(session, START, END, now=NOW)["hotline"]["mean_handle_workdays"] == 2.23


def test_the_figures_are_as_of_the_snapshot_time(session, month):
    # 1–27 September as of 26 September 12:00: O1, O3 and O5 were closed, replied and followed up; O2
    # (24 Sep) was open with its deadline ahead; O4 had not called yet.
    hotline = kpi_snapshot(session, START, at(27, 0), now=at(26, 12))["hotline"]
    assert (hotline["orders"], hotline["transferred"]) == (4, 3)
    assert hotline["satisfaction_rate"] == 1.0  # O1 satisfied, O3 basically satisfied
    assert hotline["on_time_reply_rate"] == round(2 / 3, 4)  # O1, O5 on time; O3 late
    assert hotline["mean_handle_workdays"] == 2.0  # (0 + 5 + 1) / 3


def test_a_cohort_without_hotline_orders_has_no_rates(session, month):
    hotline = kpi_snapshot(session, START, END, now=NOW, source="patrol")["hotline"]
    assert hotline == {"orders": 0, "direct": 0, "transferred": 0, "direct_rate": None, "satisfaction_rate": None,
                       "mean_handle_workdays": None, "on_time_reply_rate": None, "repeat_calls": 0}


def test_working_days_count_the_share_of_each_working_day_and_skip_holidays_and_weekends():
    calendar = WorkingCalendar(DEFAULT_WEEK, {date(2026, 9, 25): False}, ZONE)
    assert workdays_between(calendar, at(24, 9), at(28, 17, 30)) == pytest.approx(29 / 15)
    assert workdays_between(calendar, at(26, 9), at(27, 18)) == 0  # a weekend
    assert workdays_between(calendar, at(24, 12), at(24, 13, 30)) == 0  # the lunch break
    assert workdays_between(calendar, at(28, 8, 30), at(28, 17, 30)) == 1
    assert workdays_between(calendar, at(28, 17), at(28, 9)) == 0  # an end before its start
    # UTC in, the local calendar applies: 01:00 UTC is 09:00 in Shanghai.
    assert workdays_between(calendar, datetime(2026, 9, 28, 1, tzinfo=UTC), at(28, 12)) == pytest.approx(180 / 450)


def test_a_make_up_working_day_counts(session):
    set_day(session, date(2026, 9, 27), workday=True, name="调休")
    calendar = load_calendar(session)
    assert workdays_between(calendar, at(26, 0), at(28, 0)) == 1  # Sunday 27 worked, Saturday not
