"""What the big screen (/) reads beyond the KPI snapshot: the alert ticker, today's intake by source, the
state of the "now" tiles at an earlier moment (for their change), category and department rankings, the
incident trend, the latest air-quality concentrations and their hourly means, and sensors in alarm per
family. Each read is one or two grouped SQL queries; ``grid_ids`` narrows it to an area when given.

Incident reads follow the KPI cohort of DESIGN §7 (``dispatch.kpi.counted_incidents``: exercises and merged
duplicates are left out); the category and department rankings and the daily trend are the KPI engine's own
(``top_categories``, ``kpi_by``, ``daily_trend``), the same figures the briefing shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from data.models import Alert, Incident, Sensor
from dispatch import sla
from dispatch.kpi import CategoryCount, bucket_counts, counted_incidents, daily_trend, kpi_by, local_day, top_categories
from dispatch.workflow import SOURCES
from domain.states import ALERT_LEVELS_DESC

ALERT_LEVELS = ALERT_LEVELS_DESC


def _in_grids(grid_ids: Iterable[int] | None) -> list[ColumnElement[bool]]:
    return [] if grid_ids is None else [Incident.grid_id.in_(list(grid_ids))]


def _real_incidents(grid_ids: Iterable[int] | None) -> list[ColumnElement[bool]]:
    return [*counted_incidents(), *_in_grids(grid_ids)]


# --- the alert ticker and the "now" tiles ----------------------------------------------------------


@dataclass(frozen=True)
class TickerAlert:
    """One firing alert of the ticker; ``exercise`` marks a drill's, ``muted`` why it is quiet."""

    id: int
    level: str
    family: str
    sensor_name: str
    value: float | None
    at: datetime
    exercise: bool
    muted: str | None


def ticker_alerts(session: Session, *, limit: int = 20, grid_ids: Iterable[int] | None = None) -> list[TickerAlert]:
    """The latest firing alerts, drills included (newest first)."""
    query = (
        select(Alert, Sensor.name, Sensor.family)
        .join(Sensor, Sensor.id == Alert.sensor_id)
        .where(Alert.state == "firing")
        .order_by(Alert.fired_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    if grid_ids is not None:
        query = query.where(Sensor.grid_id.in_(list(grid_ids)))
    return [TickerAlert(a.id, a.level, family, name, a.value, a.fired_at or a.started_at, bool(a.exercise), a.muted)
            for a, name, family in session.execute(query)]


def alerts_firing_at(session: Session, at: datetime, *, grid_ids: Iterable[int] | None = None) -> dict[str, int]:
    """Real (not drill) alerts firing at the moment ``at``, per level (the history of fired/resolved times)."""
    query = (
        select(Alert.level, func.count(Alert.id))
        .where(Alert.exercise.is_(False), Alert.fired_at.is_not(None), Alert.fired_at <= at,
               or_(Alert.resolved_at.is_(None), Alert.resolved_at > at))
        .group_by(Alert.level)
    )
    if grid_ids is not None:
        query = query.join(Sensor, Sensor.id == Alert.sensor_id).where(Sensor.grid_id.in_(list(grid_ids)))
    counts = dict.fromkeys(ALERT_LEVELS, 0)
    for level, n in session.execute(query):
        if level in counts:
            counts[level] = int(n)
    return counts


def cards_at(session: Session, start: datetime, end: datetime, at: datetime, *,
             grid_ids: Iterable[int] | None = None) -> dict[str, int]:
    """Yellow and red cards that the open incidents reported in [start, end) carried at the moment ``at``,
    rebuilt from their times and deadlines (``dispatch.sla.incident_card``); postponements are seen with
    today's deadlines."""
    resolved = func.coalesce(Incident.first_resolved_at, Incident.resolved_at)
    rows = session.execute(
        select(Incident.reported_at, Incident.handle_deadline, Incident.close_deadline, resolved)
        .where(Incident.reported_at >= start, Incident.reported_at < end, *_real_incidents(grid_ids),
               Incident.filed_at.is_not(None), Incident.filed_at <= at,
               or_(Incident.closed_at.is_(None), Incident.closed_at > at))
    ).all()
    counts = {sla.CARD_YELLOW: 0, sla.CARD_RED: 0}
    for reported, handle, close, resolved_at in rows:
        card = sla.incident_card(at, reported, handle, close, resolved=resolved_at is not None and resolved_at <= at)
        if card in counts:
            counts[card] += 1
    return {"yellow_cards": counts[sla.CARD_YELLOW], "red_cards": counts[sla.CARD_RED]}


def intake_by_source(session: Session, start: datetime, end: datetime, *,
                     grid_ids: Iterable[int] | None = None) -> dict[str, int]:
    """Incidents reported in [start, end) per source (every source of DESIGN §7, zero included)."""
    counts = dict.fromkeys(SOURCES, 0)
    for source, n in session.execute(
        select(Incident.source, func.count(Incident.id))
        .where(Incident.reported_at >= start, Incident.reported_at < end, *_real_incidents(grid_ids))
        .group_by(Incident.source)
    ):
        counts[source] = int(n)
    return counts


# --- rankings ----------------------------------------------------------------------------------------


#: A category and how many incidents of it were reported in the period.
CategoryRank = CategoryCount


@dataclass(frozen=True)
class DepartmentRank:
    """A department, the filed incidents of the period it holds, how many of those are closed, and the rate."""

    code: str
    name_zh: str
    name_en: str
    filed: int
    closed: int

    @property
    def closure_rate(self) -> float | None:
        return None if not self.filed else round(self.closed / self.filed, 4)


def category_ranking(session: Session, start: datetime, end: datetime, *, limit: int = 5,
                     grid_ids: Iterable[int] | None = None) -> list[CategoryRank]:
    """The categories with the most incidents reported in [start, end), most first (``kpi.top_categories``)."""
    return top_categories(session, start, end, limit=limit, grid_ids=grid_ids)


def department_ranking(session: Session, start: datetime, end: datetime, now: datetime, *, limit: int = 5,
                       grid_ids: Iterable[int] | None = None) -> list[DepartmentRank]:
    """The departments holding the most incidents filed of those reported in [start, end), as of ``now``
    (``kpi.kpi_by``'s ``filed`` and ``closed``); ties go to the better closure rate. Each department counts
    on its own tasks (issue 17 §2): an incident handled jointly counts for its lead and for each assisting
    department, and its closure is shared by them."""
    ranked = [DepartmentRank(row["code"], row["name"]["zh"], row["name"]["en"], row["filed"], row["closed"])
              for row in kpi_by(session, start, end, "department", now=now, grid_ids=grid_ids)
              if row["code"] is not None and row["filed"]]
    ranked.sort(key=lambda r: (-r.filed, -(r.closure_rate or 0.0), r.code))
    return ranked[:limit]


# --- trends ------------------------------------------------------------------------------------------


def incident_trend(session: Session, start: datetime, end: datetime, offset_minutes: int, *, hourly: bool,
                   grid_ids: Iterable[int] | None = None) -> dict[str, tuple[int, int]]:
    """Incidents reported and closed in [start, end) per local hour or day: bucket → (reported, closed).
    Days are ``kpi.daily_trend``'s (the briefing's trend; ``start`` a local midnight), hours are bucketed at
    ``offset_minutes``."""
    if hourly:
        counts = bucket_counts(session, start, end, offset_minutes, hourly=True, conditions=_in_grids(grid_ids))
        return {key: (pair[0], pair[1]) for key, pair in counts.items()}
    last = local_day(end - timedelta(microseconds=1))
    return {day.day.isoformat(): (day.reported, day.closed)
            for day in daily_trend(session, local_day(start), last, now=end, grid_ids=grid_ids)
            if day.reported or day.closed}


# --- lifeline and environment ------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyAlarm:
    """A sensor family: how many sensors it has, how many are in alarm now and the worst level among them."""

    family: str
    sensors: int
    in_alarm: int
    worst: str | None


def family_alarms(session: Session, *, grid_ids: Iterable[int] | None = None) -> list[FamilyAlarm]:
    """Every sensor family with its sensors in alarm (a real alert firing), most in alarm first."""
    totals_query = select(Sensor.family, func.count(Sensor.id)).group_by(Sensor.family)
    firing_query = (
        select(Sensor.family, Alert.sensor_id, Alert.level)
        .join(Sensor, Sensor.id == Alert.sensor_id)
        .where(Alert.state == "firing", Alert.exercise.is_(False))
    )
    if grid_ids is not None:
        grids = list(grid_ids)
        totals_query = totals_query.where(Sensor.grid_id.in_(grids))
        firing_query = firing_query.where(Sensor.grid_id.in_(grids))
    rank = {level: i for i, level in enumerate(ALERT_LEVELS)}
    in_alarm: dict[str, set[str]] = {}
    worst: dict[str, str] = {}
    for family, sensor_id, level in session.execute(firing_query):
        in_alarm.setdefault(family, set()).add(sensor_id)
        if rank.get(level, 9) < rank.get(worst.get(family, ""), 9):
            worst[family] = level
    rows = [FamilyAlarm(family, int(total), len(in_alarm.get(family, ())), worst.get(family))
            for family, total in session.execute(totals_query)]
    return sorted(rows, key=lambda r: (-r.in_alarm, rank.get(r.worst or "", 9), r.family))
