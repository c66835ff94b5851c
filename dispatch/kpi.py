"""The KPI snapshot of DESIGN §7, computed by SQL aggregates (a few queries, whatever the volume).

Cohort: incidents reported in [start, end), exercises and merged duplicates excluded. An event (filing, dispatch,
resolution, closing, a deadline passing) counts when it happened before ``end`` and not after
``now`` — the cohort "as of min(end, now)".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, extract, func, not_, or_, select
from sqlalchemy.orm import Session

from data.models import Alert, Area, AreaLevel, Department, Grid, Incident, Sensor, utcnow
from dispatch.service import to_iso
from dispatch.sla import CARD_RED, CARD_YELLOW
from dispatch.workflow import OPEN_STATES, SOURCES

ALERT_LEVELS = ("red", "orange", "yellow", "blue")
RATE_DIGITS = 4
HOURS_DIGITS = 2


class UnknownFilter(ValueError):
    """A district or department filter names nothing that exists."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, RATE_DIGITS)


def _district_grids(session: Session, district: str) -> Any:
    """A subquery of the ids of the grids inside ``district`` (given by code or name)."""
    district_id = session.scalar(
        select(Area.id).where(
            Area.level == AreaLevel.DISTRICT, or_(Area.code == district, Area.name == district)
        )
    )
    if district_id is None:
        raise UnknownFilter("unknown_district", f"no district {district!r}")
    tree = select(Area.id).where(Area.id == district_id).cte("district_tree", recursive=True)
    tree = tree.union_all(select(Area.id).where(Area.parent_id == tree.c.id))
    return select(Grid.id).where(Grid.community_id.in_(select(tree.c.id)))


def _department_id(session: Session, department: str) -> int:
    department_id = session.scalar(select(Department.id).where(Department.code == department))
    if department_id is None:
        raise UnknownFilter("unknown_department", f"no department {department!r}")
    return department_id


def _hours_between(session: Session, later: Any, earlier: Any) -> Any:
    """SQL for (later − earlier) in hours, on SQLite or PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 24.0
    return extract("epoch", later - earlier) / 3600.0


def kpi_snapshot(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
    district: str | None = None,
    department: str | None = None,
) -> dict[str, Any]:
    """The KPIs of the incidents reported in [start, end), as of min(end, now) (DESIGN §7).

    ``district`` (code or name) and ``department`` (code) narrow the cohort; an unknown one raises
    UnknownFilter. Rates are fractions rounded to 4 places, None when the denominator is 0.
    """
    now = now or utcnow()
    if start.tzinfo is None or end.tzinfo is None or now.tzinfo is None:
        raise ValueError("KPI periods need timezone-aware times")
    if start > end:
        raise ValueError("the period starts after it ends")

    cohort: list[ColumnElement[bool]] = [
        Incident.reported_at >= start,
        Incident.reported_at < end,
        Incident.exercise.is_(False),
        # A duplicate merged into its original counts once: as the original.
        Incident.merged_into_id.is_(None),
    ]
    district_grids = _district_grids(session, district) if district else None
    if district_grids is not None:
        cohort.append(Incident.grid_id.in_(district_grids))
    if department:
        cohort.append(Incident.department_id == _department_id(session, department))

    def happened(moment: Any) -> ColumnElement[bool]:
        return and_(moment.is_not(None), moment < end, moment <= now)

    first_resolved = func.coalesce(Incident.first_resolved_at, Incident.resolved_at)
    filed = happened(Incident.filed_at)
    dispatched = and_(filed, happened(Incident.dispatched_at))
    handled = and_(dispatched, happened(first_resolved))
    closed = and_(filed, happened(Incident.closed_at))
    still_open = and_(filed, not_(happened(Incident.closed_at)))
    open_now = Incident.state.in_(OPEN_STATES)
    conditions: dict[str, ColumnElement[bool]] = {
        "filed": filed,
        "dispatched": dispatched,
        "handled": handled,
        "handled_on_time": and_(
            handled, or_(Incident.handle_deadline.is_(None), first_resolved <= Incident.handle_deadline)
        ),
        "closed": closed,
        "closed_on_time": and_(
            closed, or_(Incident.close_deadline.is_(None), Incident.closed_at <= Incident.close_deadline)
        ),
        "overdue_open": and_(still_open, happened(Incident.close_deadline)),
        "reworked": and_(handled, Incident.rework_count > 0),
        "open": still_open,
        "yellow_cards": and_(open_now, Incident.card == CARD_YELLOW),
        "red_cards": and_(open_now, Incident.card == CARD_RED),
    }
    handle_hours = _hours_between(session, first_resolved, Incident.dispatched_at)
    columns = [func.count(Incident.id).label("reported")]
    columns += [func.sum(case((cond, 1), else_=0)).label(key) for key, cond in conditions.items()]
    columns.append(func.avg(case((handled, handle_hours), else_=None)).label("mean_handle_hours"))
    row = session.execute(select(*columns).where(*cohort)).one()._mapping
    n = {key: int(row[key] or 0) for key in ("reported", *conditions)}

    by_source = dict.fromkeys(SOURCES, 0)
    for source, count in session.execute(
        select(Incident.source, func.count(Incident.id)).where(*cohort).group_by(Incident.source)
    ):
        by_source[source] = count

    firing = select(Alert.level, func.count(Alert.id)).where(
        Alert.state == "firing", Alert.exercise.is_(False)
    )
    if district_grids is not None:
        firing = firing.join(Sensor, Sensor.id == Alert.sensor_id).where(Sensor.grid_id.in_(district_grids))
    alerts_firing = dict.fromkeys(ALERT_LEVELS, 0)
    for level, count in session.execute(firing.group_by(Alert.level)):
        if level in alerts_firing:
            alerts_firing[level] = count

    due = n["closed"] + n["overdue_open"]
    mean_hours = row["mean_handle_hours"]
    return {
        "from": to_iso(start),
        "to": to_iso(end),
        "as_of": to_iso(min(end, now)),
        "district": district,
        "department": department,
        "reported": n["reported"],
        "filed": n["filed"],
        "filing_rate": _rate(n["filed"], n["reported"]),
        "dispatched": n["dispatched"],
        "handled": n["handled"],
        "handled_on_time": n["handled_on_time"],
        "handling_rate": _rate(n["handled"], n["dispatched"]),
        "closed": n["closed"],
        "closed_on_time": n["closed_on_time"],
        "closure_rate": _rate(n["closed"], n["filed"]),
        "on_time_closure_rate": _rate(n["closed_on_time"], n["closed"]),
        "due": due,
        "std_closure_rate": _rate(n["closed"], due),
        "std_on_time_closure_rate": _rate(n["closed_on_time"], due),
        "rework_rate": _rate(n["reworked"], n["handled"]),
        "open": n["open"],
        "yellow_cards": n["yellow_cards"],
        "red_cards": n["red_cards"],
        "mean_handle_hours": None if mean_hours is None else round(float(mean_hours), HOURS_DIGITS),
        "alerts_firing": alerts_firing,
        "by_source": by_source,
    }
