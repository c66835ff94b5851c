"""Trend analysis (倾向性、苗头性、普遍性问题, issue 20): categories rising week on week, hot spots and repeated
addresses, over the KPI cohort (``dispatch.kpi.counted_incidents``: no drills, duplicates once).

The rules, stated once:

- **Rising categories**: the last 7 days of the period against the 7 days before; a category rises when it has
  at least ``RISE_MIN`` incidents this week and more than last week; listed by the increase, then by code.
- **Hot spots**: a community whose count this week is unusual against its own baseline, the previous
  ``BASELINE_WEEKS`` weeks: more than mean + 2 × standard deviation (population) of those weeks, and at least
  ``HOT_MIN`` incidents.
- **Repeated addresses**: the same address (a hotline order's, a citizen's doorplate) reported at least
  ``REPEAT_MIN`` times in the ``REPEAT_DAYS`` days up to the period's end.

Each is one grouped query; nothing loads incidents into Python.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.models import Area, Category, Grid, Incident
from dispatch.kpi import counted_incidents

WEEK = timedelta(days=7)
RISE_MIN = 3
BASELINE_WEEKS = 8
HOT_MIN = 5
HOT_SIGMAS = 2.0
REPEAT_MIN = 3
REPEAT_DAYS = 30


@dataclass(frozen=True)
class RisingCategory:
    code: str
    name_zh: str
    name_en: str
    this_week: int
    last_week: int
    change: int


@dataclass(frozen=True)
class HotSpot:
    code: str
    name: str
    this_week: int
    baseline_mean: float
    baseline_sd: float


@dataclass(frozen=True)
class RepeatedAddress:
    address: str
    count: int
    first: datetime
    last: datetime


@dataclass(frozen=True)
class Trends:
    """The three findings of the period ending at ``end``."""

    end: datetime
    rising: list[RisingCategory]
    hot_spots: list[HotSpot]
    repeated: list[RepeatedAddress]

    def to_dict(self) -> dict[str, Any]:
        return {"end": self.end.isoformat(), "rising_categories": [asdict(r) for r in self.rising],
                "hot_spots": [asdict(h) for h in self.hot_spots],
                "repeated_addresses": [{**asdict(r), "first": r.first.isoformat(), "last": r.last.isoformat()}
                                       for r in self.repeated],
                "rules": {"rise_min": RISE_MIN, "baseline_weeks": BASELINE_WEEKS, "hot_min": HOT_MIN,
                          "hot_sigmas": HOT_SIGMAS, "repeat_min": REPEAT_MIN, "repeat_days": REPEAT_DAYS}}


def rising_categories(session: Session, end: datetime, *, limit: int = 10) -> list[RisingCategory]:
    """Categories with more incidents in the 7 days before ``end`` than in the 7 days before those."""
    this_week = func.count().filter(Incident.reported_at >= end - WEEK)
    last_week = func.count().filter(Incident.reported_at < end - WEEK)
    rows = session.execute(
        select(Category.code, Category.name_zh, Category.name_en, this_week, last_week)
        .join(Category, Category.code == Incident.category_code)
        .where(Incident.reported_at >= end - 2 * WEEK, Incident.reported_at < end, *counted_incidents())
        .group_by(Category.code, Category.name_zh, Category.name_en)
    ).all()
    found = [RisingCategory(code, zh, en, int(now), int(before), int(now) - int(before))
             for code, zh, en, now, before in rows if now >= RISE_MIN and now > before]
    return sorted(found, key=lambda r: (-r.change, r.code))[:limit]


def hot_spots(session: Session, end: datetime) -> list[HotSpot]:
    """Communities whose last 7 days exceed mean + 2 sd of their previous BASELINE_WEEKS weeks (and HOT_MIN)."""
    start = end - (BASELINE_WEEKS + 1) * WEEK
    weeks = [func.count().filter(Incident.reported_at >= end - (i + 1) * WEEK, Incident.reported_at < end - i * WEEK)
             for i in range(BASELINE_WEEKS + 1)]
    rows = session.execute(
        select(Area.code, Area.name, *weeks)
        .join(Grid, Grid.id == Incident.grid_id).join(Area, Area.id == Grid.community_id)
        .where(Incident.reported_at >= start, Incident.reported_at < end, *counted_incidents())
        .group_by(Area.code, Area.name)
    ).all()
    found = []
    for code, name, now, *baseline in rows:
        counts = [int(n) for n in baseline]
        mean, sd = statistics.fmean(counts), statistics.pstdev(counts)
        if now >= HOT_MIN and now > mean + HOT_SIGMAS * sd:
            found.append(HotSpot(code, name, int(now), round(mean, 2), round(sd, 2)))
    return sorted(found, key=lambda h: (-(h.this_week - h.baseline_mean), h.code))


def repeated_addresses(session: Session, end: datetime, *, limit: int = 20) -> list[RepeatedAddress]:
    """Addresses reported at least REPEAT_MIN times in the REPEAT_DAYS days before ``end``, most first."""
    n = func.count()
    rows = session.execute(
        select(Incident.address, n, func.min(Incident.reported_at), func.max(Incident.reported_at))
        .where(Incident.address.is_not(None), Incident.address != "",
               Incident.reported_at >= end - timedelta(days=REPEAT_DAYS), Incident.reported_at < end,
               *counted_incidents())
        .group_by(Incident.address).having(n >= REPEAT_MIN)
        .order_by(n.desc(), Incident.address).limit(limit)
    ).all()
    return [RepeatedAddress(address, int(count), _aware(first), _aware(last)) for address, count, first, last in rows]


def _aware(moment: Any) -> datetime:
    """An aggregate's time (SQLite gives min/max of the stored naive-UTC text back as text) as aware UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def trends(session: Session, end: datetime) -> Trends:
    """The three findings of the weeks up to ``end``."""
    if end.tzinfo is None:
        raise ValueError("trends need a timezone-aware end")
    return Trends(end, rising_categories(session, end), hot_spots(session, end), repeated_addresses(session, end))

