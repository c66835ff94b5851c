"""The leader's briefing as data: a period and the one before it, every KPI of DESIGN §7 for both,
department and grid rankings with A/B/C grades, the top problem categories, a daily trend, the
overdue list and the warning statistics per sensor family (``alerts.review.warning_stats``). The /briefing
page, the PDF and the XLSX all render this one structure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Interval, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from alerts.review import warning_stats
from data.models import Category, Department, Grid, Incident
from dispatch.kpi import kpi_by, kpi_snapshot
from dispatch.workflow import OPEN_STATES
from settings import get_settings

#: The KPI keys of DESIGN §7, in its order.
KPI_KEYS = (
    "reported", "filed", "filing_rate", "dispatched", "handled", "handled_on_time", "handling_rate",
    "closed", "closed_on_time", "closure_rate", "on_time_closure_rate", "due", "std_closure_rate",
    "std_on_time_closure_rate", "rework_rate", "open", "yellow_cards", "red_cards", "mean_handle_hours",
    "alerts_firing", "by_source",
)
PERIOD_KINDS = ("day", "week", "month", "quarter", "custom")

#: The shortest trend a briefing shows, in days.
TREND_MIN_DAYS = 30


@dataclass(frozen=True)
class Period:
    """A half-open [start, end) in the display time zone."""

    kind: str
    start: datetime
    end: datetime

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(seconds=1)).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=get_settings().zone)


def period_of(kind: str, day: date, *, until: date | None = None) -> tuple[Period, Period]:
    """The ``kind`` period containing ``day`` and the equally long one before it.

    ``custom`` runs from ``day`` through ``until`` (inclusive); the period before it has the same length.
    """
    if kind == "day":
        start, end = _midnight(day), _midnight(day + timedelta(days=1))
        before = (_midnight(day - timedelta(days=1)), start)
    elif kind == "week":
        monday = day - timedelta(days=day.weekday())
        start, end = _midnight(monday), _midnight(monday + timedelta(days=7))
        before = (_midnight(monday - timedelta(days=7)), start)
    elif kind == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        start, end = _midnight(first), _midnight(following)
        before = (_midnight((first - timedelta(days=1)).replace(day=1)), start)
    elif kind == "quarter":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        following = date(first.year + (first.month + 3 > 12), (first.month + 2) % 12 + 1, 1)
        previous_first = date(first.year - (first.month == 1), (first.month - 4) % 12 + 1, 1)
        start, end = _midnight(first), _midnight(following)
        before = (_midnight(previous_first), start)
    elif kind == "custom":
        if until is None or until < day:
            raise ValueError("a custom period needs an end on or after its start")
        start, end = _midnight(day), _midnight(until + timedelta(days=1))
        before = (start - (end - start), start)
    else:
        raise ValueError(f"unknown period {kind!r}; choose one of {', '.join(PERIOD_KINDS)}")
    return Period(kind, start, end), Period(kind, *before)


def grade(snapshot: Mapping[str, Any], weights: Mapping[str, float] | None = None) -> str | None:
    """A/B/C from the weighted KPIs (CITYOPS_GRADE_WEIGHTS, CITYOPS_GRADE_THRESHOLDS); None when nothing
    was filed (no basis for a grade)."""
    if not snapshot.get("filed"):
        return None
    settings = get_settings()
    weights = settings.grade_weights if weights is None else weights
    positive = sum(w for w in weights.values() if w > 0) or 1.0
    score = sum(w * (snapshot.get(key) or 0.0) for key, w in weights.items()) / positive
    a_from, b_from = settings.grade_thresholds
    if score >= a_from:
        return "A"
    return "B" if score >= b_from else "C"


@dataclass(frozen=True)
class RankRow:
    """One department or grid in a ranking."""

    code: str
    name_zh: str
    name_en: str
    filed: int
    closed: int
    closure_rate: float | None
    on_time_closure_rate: float | None
    grade: str | None


@dataclass(frozen=True)
class OverdueRow:
    code: str
    title: str
    category_zh: str
    category_en: str
    department_zh: str | None
    department_en: str | None
    grid: str | None
    close_deadline: datetime | None
    overdue_hours: float


@dataclass(frozen=True)
class Briefing:
    """Everything a briefing shows."""

    period: Period
    previous: Period
    as_of: datetime
    current: dict[str, Any]
    before: dict[str, Any]
    departments: list[RankRow]
    grids: list[RankRow]
    categories: list[tuple[str, str, str, int]] = field(default_factory=list)  # code, zh, en, count
    trend: list[tuple[date, int, int]] = field(default_factory=list)  # day, reported, closed
    overdue: list[OverdueRow] = field(default_factory=list)
    #: ``warning_stats`` of the alerts fired in the period, per sensor family.
    warnings: dict[str, Any] = field(default_factory=dict)


def _ranking(session: Session, period: Period, now: datetime,
             weights: Mapping[str, float] | None) -> list[RankRow]:
    """Every department graded on its KPIs of the period (one grouped query), best first."""
    rows = [
        RankRow(snap["code"], snap["name"]["zh"], snap["name"]["en"], snap["filed"], snap["closed"],
                snap["closure_rate"], snap["on_time_closure_rate"], grade(snap, weights))
        for snap in kpi_by(session, period.start, period.end, "department", now=now, all_groups=True)
        if snap["code"] is not None  # incidents with no department yet rank nowhere
    ]
    return sorted(rows, key=_rank_key)  # stable: ties stay in code order


def _rank_key(row: RankRow) -> tuple[Any, ...]:
    return (row.closure_rate is None, -(row.closure_rate or 0.0), -(row.on_time_closure_rate or 0.0), -row.closed)


def _grid_ranking(session: Session, period: Period, now: datetime, weights: Mapping[str, float] | None,
                  limit: int) -> list[RankRow]:
    """The grids with the most filed incidents in the period, graded like departments."""
    closed = and_(Incident.closed_at.is_not(None), Incident.closed_at <= now)
    on_time = and_(closed, or_(Incident.close_deadline.is_(None), Incident.closed_at <= Incident.close_deadline))

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    rows = session.execute(
        select(Grid.code, Grid.name, func.count(Incident.id), count(closed), count(on_time),
               count(Incident.rework_count > 0))
        .join(Grid, Grid.id == Incident.grid_id)
        .where(Incident.reported_at >= period.start, Incident.reported_at < period.end,
               Incident.exercise.is_(False), Incident.filed_at.is_not(None))
        .group_by(Grid.code, Grid.name)
        .order_by(func.count(Incident.id).desc(), Grid.code)
        .limit(limit)
    ).all()
    ranked = []
    for code, name, filed, n_closed, n_on_time, n_rework in rows:
        snap = {"filed": filed, "closure_rate": _ratio(n_closed, filed),
                "on_time_closure_rate": _ratio(n_on_time, n_closed), "rework_rate": _ratio(n_rework, filed)}
        ranked.append(RankRow(code, name, name, filed, int(n_closed or 0), snap["closure_rate"],
                              snap["on_time_closure_rate"], grade(snap, weights)))
    return sorted(ranked, key=_rank_key)


def _ratio(numerator: Any, denominator: Any) -> float | None:
    return None if not denominator else round(float(numerator or 0) / float(denominator), 4)


def _top_categories(session: Session, period: Period, limit: int) -> list[tuple[str, str, str, int]]:
    rows = session.execute(
        select(Category.code, Category.name_zh, Category.name_en, func.count(Incident.id))
        .join(Category, Category.code == Incident.category_code)
        .where(Incident.reported_at >= period.start, Incident.reported_at < period.end,
               Incident.exercise.is_(False))
        .group_by(Category.code, Category.name_zh, Category.name_en)
        .order_by(func.count(Incident.id).desc(), Category.code)
        .limit(limit)
    ).all()
    return [(code, zh, en, int(n)) for code, zh, en, n in rows]


def _local_day(session: Session, column: Any, offset_minutes: int) -> Any:
    """SQL for the local calendar day (YYYY-MM-DD) of a UTC timestamp column."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d", column, f"{offset_minutes:+d} minutes")
    return func.to_char(column + literal(timedelta(minutes=offset_minutes), Interval()), "YYYY-MM-DD")


def _trend(session: Session, period: Period, now: datetime) -> list[tuple[date, int, int]]:
    """Incidents reported and closed per local day: the period's days (at most its last 92), and at
    least the 30 days up to its end, so a daily briefing still shows a month's trend."""
    zone = get_settings().zone
    last = min(period.end - timedelta(seconds=1), now).astimezone(zone).date()
    first = max(min(period.start.astimezone(zone).date(), last - timedelta(days=TREND_MIN_DAYS - 1)),
                last - timedelta(days=91))
    start, end = _midnight(first), _midnight(last + timedelta(days=1))
    offset = int(start.utcoffset().total_seconds() // 60)
    counts: dict[str, list[int]] = {}
    for index, column in enumerate((Incident.reported_at, Incident.closed_at)):
        day = _local_day(session, column, offset)
        for key, n in session.execute(
            select(day, func.count(Incident.id))
            .where(column >= start, column < end, Incident.exercise.is_(False))
            .group_by(day)
        ):
            counts.setdefault(key, [0, 0])[index] = int(n)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [(d, *counts.get(d.isoformat(), [0, 0])) for d in days]


def _overdue(session: Session, now: datetime, limit: int) -> list[OverdueRow]:
    """Open incidents past their closing deadline, most overdue first."""
    rows = session.execute(
        select(Incident, Category, Department, Grid.code)
        .join(Category, Category.code == Incident.category_code)
        .outerjoin(Department, Department.id == Incident.department_id)
        .outerjoin(Grid, Grid.id == Incident.grid_id)
        .where(Incident.state.in_(OPEN_STATES), Incident.exercise.is_(False),
               Incident.close_deadline.is_not(None), Incident.close_deadline < now)
        .order_by(Incident.close_deadline)
        .limit(limit)
    ).all()
    return [
        OverdueRow(i.code, i.title, c.name_zh, c.name_en, d.name_zh if d else None, d.name_en if d else None,
                   grid, i.close_deadline, round((now - i.close_deadline).total_seconds() / 3600, 1))
        for i, c, d, grid in rows
    ]


def build_briefing(session: Session, period: Period, previous: Period, now: datetime, *,
                   weights: Mapping[str, float] | None = None, top: int = 10) -> Briefing:
    """The briefing of ``period`` against ``previous`` as of ``now``."""
    return Briefing(
        period=period,
        previous=previous,
        as_of=min(period.end, now),
        current=kpi_snapshot(session, period.start, period.end, now=now),
        before=kpi_snapshot(session, previous.start, previous.end, now=now),
        departments=_ranking(session, period, now, weights),
        grids=_grid_ranking(session, period, now, weights, top),
        categories=_top_categories(session, period, top),
        trend=_trend(session, period, now),
        overdue=_overdue(session, now, 50),
        warnings=warning_stats(session, period.start, period.end, "family"),
    )
