"""The leader's briefing as data: a period and the one before it, every KPI of DESIGN §7 for both,
department and grid rankings with A/B/C grades, the top problem categories, a daily trend, the
overdue list and the warning statistics per sensor family (``alerts.review.warning_stats``, asked for
through ``dispatch.ports``). The /briefing
page, the PDF and the XLSX all render this one structure.

Every figure comes from the KPI engine (``dispatch.kpi``), on its cohort and formulas: the KPIs from
``kpi_snapshot``, both rankings from ``kpi_by`` graded by one ``grade``, the top categories from
``top_categories`` and the trend from ``daily_trend`` (the big screen's too). The periods and the period
before each are ``dispatch.kpi``'s calendar periods.

Issue 20 adds the hotline section (``HOTLINE_KEYS`` of the snapshots' ``hotline``), the monthly report (月报,
``build_monthly``: the month's snapshots with the out-of-hours figure and ``dispatch.trends``) and the urgent
report of one incident (快报, ``urgent_report``); ``reports.monthly`` lays them out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.effective_settings import effective_settings
from data.models import Category, Department, Grid, Incident
from dispatch.kpi import PERIOD_KINDS as PERIOD_KINDS  # the API and the page take their kinds from here
from dispatch.kpi import (
    CategoryCount,
    DayCount,
    calendar_period,
    daily_trend,
    kpi_by,
    kpi_snapshot,
    local_day,
    previous_calendar_period,
    top_categories,
)
from dispatch.ports import warning_stats
from dispatch.trends import Trends, trends
from dispatch.workflow import OPEN_STATES
from i18n import t
from i18n.format import format_change, format_value
from settings import get_settings

#: The KPI keys of DESIGN §7, in its order.
KPI_KEYS = (
    "reported", "filed", "filing_rate", "dispatched", "handled", "handled_on_time", "handling_rate",
    "closed", "closed_on_time", "closure_rate", "on_time_closure_rate", "due", "std_closure_rate",
    "std_on_time_closure_rate", "rework_rate", "open", "yellow_cards", "red_cards", "mean_handle_hours",
    "alerts_firing", "by_source",
)
#: Grades a snapshot A/B/C (``grade`` with the settings in force).
Grading = Callable[[Mapping[str, Any]], str | None]

#: The shortest and the longest trend a briefing shows, in days.
TREND_MIN_DAYS = 30
TREND_MAX_DAYS = 92


@dataclass(frozen=True)
class Period:
    """A half-open [start, end) in the display time zone."""

    kind: str
    start: datetime
    end: datetime

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(seconds=1)).date()


def period_of(kind: str, day: date, *, until: date | None = None) -> tuple[Period, Period]:
    """The ``kind`` period (one of PERIOD_KINDS) containing ``day`` and the calendar period of the same kind
    before it (``dispatch.kpi.calendar_period``, ``previous_calendar_period``).

    ``custom`` runs from ``day`` through ``until`` (inclusive); the period before it has the same length.
    """
    start, end = calendar_period(kind, day, until=until)
    return Period(kind, start, end), Period(kind, *previous_calendar_period(kind, start, end))


def grade(snapshot: Mapping[str, Any], weights: Mapping[str, float] | None = None,
          thresholds: tuple[float, float] | None = None) -> str | None:
    """A/B/C from the weighted KPIs and the (A from, B from) thresholds — the briefing passes those in force
    (``data.effective_settings``: /admin/settings over CITYOPS_GRADE_WEIGHTS and CITYOPS_GRADE_THRESHOLDS);
    None when nothing was filed (no basis for a grade)."""
    if not snapshot.get("filed"):
        return None
    settings = get_settings()
    weights = settings.grade_weights if weights is None else weights
    positive = sum(w for w in weights.values() if w > 0) or 1.0
    score = sum(w * (snapshot.get(key) or 0.0) for key, w in weights.items()) / positive
    a_from, b_from = settings.grade_thresholds if thresholds is None else thresholds
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
    rework_rate: float | None = None


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
    categories: list[CategoryCount] = field(default_factory=list)  # code, zh, en, count
    trend: list[DayCount] = field(default_factory=list)  # day, reported, closed
    overdue: list[OverdueRow] = field(default_factory=list)
    #: ``warning_stats`` of the alerts fired in the period, per sensor family.
    warnings: dict[str, Any] = field(default_factory=dict)


def _rank_row(snapshot: Mapping[str, Any], grading: Grading) -> RankRow:
    """A department's or grid's row from its ``kpi_by`` figures: one formula and one grade for both."""
    names = snapshot["name"] or {"zh": snapshot["code"], "en": snapshot["code"]}
    return RankRow(snapshot["code"], names["zh"], names["en"], snapshot["filed"], snapshot["closed"],
                   snapshot["closure_rate"], snapshot["on_time_closure_rate"], grading(snapshot),
                   snapshot["rework_rate"])


def _ranking(session: Session, period: Period, now: datetime, grading: Grading) -> list[RankRow]:
    """Every department graded on its KPIs of the period (one grouped query), best first."""
    rows = [
        _rank_row(snap, grading)
        for snap in kpi_by(session, period.start, period.end, "department", now=now, all_groups=True)
        if snap["code"] is not None  # incidents with no department yet rank nowhere
    ]
    return sorted(rows, key=_rank_key)  # stable: ties stay in code order


def _rank_key(row: RankRow) -> tuple[Any, ...]:
    return (row.closure_rate is None, -(row.closure_rate or 0.0), -(row.on_time_closure_rate or 0.0), -row.closed)


def _grid_ranking(session: Session, period: Period, now: datetime, grading: Grading, limit: int) -> list[RankRow]:
    """The ``limit`` grids with the most incidents filed in the period, graded like departments (the same
    ``kpi_by`` figures and ``grading``), best first."""
    snapshots = [snap for snap in kpi_by(session, period.start, period.end, "grid", now=now)
                 if snap["code"] is not None and snap["filed"]]
    busiest = sorted(snapshots, key=lambda snap: (-snap["filed"], snap["code"]))[:limit]
    return sorted((_rank_row(snap, grading) for snap in busiest), key=_rank_key)


def _trend(session: Session, period: Period, now: datetime) -> list[DayCount]:
    """The daily trend (``dispatch.kpi.daily_trend``): the period's days up to ``now`` (at most its last
    92), and at least the 30 days up to its end, so a daily briefing still shows a month's trend."""
    last = local_day(min(period.end - timedelta(seconds=1), now))
    first = max(min(local_day(period.start), last - timedelta(days=TREND_MIN_DAYS - 1)),
                last - timedelta(days=TREND_MAX_DAYS - 1))
    return daily_trend(session, first, last, now=now)


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
    """The briefing of ``period`` against ``previous`` as of ``now``, graded by the settings in force (``weights``
    replaces their weights)."""
    rules = effective_settings(session)
    weights = rules.grade_weights if weights is None else weights

    def grading(snapshot: Mapping[str, Any]) -> str | None:
        return grade(snapshot, weights, rules.grade_thresholds)

    return Briefing(
        period=period,
        previous=previous,
        as_of=min(period.end, now),
        current=kpi_snapshot(session, period.start, period.end, now=now),
        before=kpi_snapshot(session, previous.start, previous.end, now=now),
        departments=_ranking(session, period, now, grading),
        grids=_grid_ranking(session, period, now, grading, top),
        categories=top_categories(session, period.start, period.end, limit=top),
        trend=_trend(session, period, now),
        overdue=_overdue(session, now, 50),
        warnings=warning_stats(session, period.start, period.end, "family"),
    )


# --- the hotline section, the monthly report (月报) and the urgent report (快报), issue 20 ------------------

#: The hotline figures (DESIGN §7 ``hotline``) in the order the briefing and the reports list them.
HOTLINE_KEYS = ("orders", "direct", "transferred", "direct_rate", "satisfaction_rate", "mean_handle_workdays",
                "on_time_reply_rate", "repeat_calls")


#: The warning statistics' columns (``alerts.review.warning_stats`` figures) as the briefing lists them.
WARNING_COLUMNS = ("raised", "reviewed", "confirmed", "false_alarm", "mean_ack_minutes", "mean_review_minutes")


def warning_headers(lang: str | None = None) -> list[str]:
    """The header of the warning statistics table: the sensor family, then each of ``WARNING_COLUMNS``."""
    return [t("review.col.family", lang), *(t(f"review.col.{key}", lang) for key in WARNING_COLUMNS)]


def warning_rows(warnings: Mapping[str, Any], lang: str | None = None) -> list[list[str]]:
    """The warning statistics (issue 17 §5) per sensor family, then the total, as the page, the PDF and the XLSX
    list them; no rows when nothing was raised."""
    if not warnings or not warnings.get("total", {}).get("raised"):
        return []

    def cell(key: str, value: Any) -> str:
        if key.startswith("mean_"):
            return "—" if value is None else f"{value:.1f}"
        return str(int(value or 0))

    def label(key: Any) -> str:
        text = t(f"family.{key}", lang)
        return str(key) if text == f"family.{key}" else text

    listed = [(label(group["key"]), group) for group in warnings.get("groups", [])]
    return [[name, *(cell(key, row.get(key)) for key in WARNING_COLUMNS)]
            for name, row in [*listed, (t("review.total", lang), warnings["total"])]]


def hotline_rows(current: Mapping[str, Any], previous: Mapping[str, Any], lang: str | None = None) -> list[list[str]]:
    """The 12345 hotline figures (``hotline`` of the two snapshots) as the page, the PDF and the XLSX list them:
    label, value, previous value, change."""
    now, before = current.get("hotline") or {}, previous.get("hotline") or {}
    return [[t(f"kpi.hotline.{key}", lang), format_value(key, now.get(key)), format_value(key, before.get(key)),
             format_change(key, now.get(key), before.get(key))] for key in HOTLINE_KEYS]


@dataclass(frozen=True)
class MonthlyReport:
    """The month's KPIs against the month before (with the out-of-hours figure), its hotline figures and the
    trend findings at its end: one structure for the PDF and the XLSX."""

    period: Period
    previous: Period
    as_of: datetime
    current: dict[str, Any]
    before: dict[str, Any]
    trends: Trends


def build_monthly(session: Session, day: date, now: datetime) -> MonthlyReport:
    """The monthly report (月报) of the calendar month containing ``day``, as of ``now``."""
    period, previous = period_of("month", day)
    return MonthlyReport(
        period, previous, min(period.end, now),
        kpi_snapshot(session, period.start, period.end, now=now, out_of_hours=True),
        kpi_snapshot(session, previous.start, previous.end, now=now, out_of_hours=True),
        trends(session, min(period.end, now)),
    )


def urgent_report(session: Session, code: str) -> dict[str, Any]:
    """The urgent report (快报) of one incident: its facts, its timeline (every history row) and its status.
    NotFound for an unknown code (``dispatch.hotline.order_by_code``)."""
    from dispatch.hotline import order_by_code

    incident = order_by_code(session, code)
    category = session.get(Category, incident.category_code)
    department = session.get(Department, incident.department_id) if incident.department_id else None
    grid = session.get(Grid, incident.grid_id) if incident.grid_id else None
    return {
        "code": incident.code, "title": incident.title, "description": incident.description,
        "category": {"code": incident.category_code, "zh": category.name_zh if category else None,
                     "en": category.name_en if category else None},
        "source": incident.source, "severity": incident.severity, "state": incident.state,
        "card": incident.card, "escalated": incident.escalated, "address": incident.address,
        "lon": incident.lon, "lat": incident.lat, "grid": grid.code if grid else None,
        "department": {"zh": department.name_zh, "en": department.name_en} if department else None,
        "reported_at": incident.reported_at, "handle_deadline": incident.handle_deadline,
        "close_deadline": incident.close_deadline, "closed_at": incident.closed_at,
        "timeline": [{"at": h.at, "action": h.action, "from_state": h.from_state, "to_state": h.to_state,
                      "actor": h.actor.display_name if h.actor else None, "note": h.note}
                     for h in incident.history],
    }
