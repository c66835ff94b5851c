"""The big screen's periods, from the KPI engine's "periods" section (``dispatch.kpi``: this month, last month
to the same point, local midnight in the display time zone): what the tiles compare, where the rankings
start, and the buckets of the 24-hour and 30-day trends."""

from __future__ import annotations

from datetime import datetime, timedelta

from dispatch.kpi import display_zone, last_month_to_date, local_midnight, this_month
from dispatch.screen_tiles import TilePeriods

TREND_HOURS = 24
TREND_DAYS = 30


def tile_periods(now: datetime) -> TilePeriods:
    """The periods the KPI tiles compare as of ``now``: this month against last month to the same point,
    today's intake from local midnight."""
    return TilePeriods(*this_month(now), *last_month_to_date(now), local_midnight(now))


def rank_since(now: datetime, period: str) -> datetime:
    """Where the rankings' period starts: today's local midnight for ``today``, else the month's start."""
    return local_midnight(now) if period == "today" else this_month(now)[0]


def hour_key(moment: datetime) -> str:
    """The local hour of ``moment`` as the 24-hour trend keys it (YYYY-MM-DD HH)."""
    return moment.astimezone(display_zone()).strftime("%Y-%m-%d %H")


def hour_buckets(now: datetime) -> tuple[datetime, list[str]]:
    """The last 24 local hours up to ``now``'s: the first one's start and each one's key (YYYY-MM-DD HH)."""
    first = now.astimezone(display_zone()).replace(minute=0, second=0, microsecond=0)
    first -= timedelta(hours=TREND_HOURS - 1)
    return first, [(first + timedelta(hours=i)).strftime("%Y-%m-%d %H") for i in range(TREND_HOURS)]


def day_buckets(now: datetime) -> tuple[datetime, list[str]]:
    """The last 30 local days up to ``now``'s: the first one's start and each one's key (YYYY-MM-DD)."""
    first = local_midnight(now) - timedelta(days=TREND_DAYS - 1)
    return first, [(first + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(TREND_DAYS)]


def utc_offset_minutes(now: datetime) -> int:
    """The display time zone's offset from UTC at ``now``, in minutes (for the hourly trend's SQL buckets)."""
    offset = now.astimezone(display_zone()).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0
