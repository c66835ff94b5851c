"""The reads of the alert side that the API and the pages need (sensors, alerts, silences, rules), each a
function named by what it answers: api/ and callbacks/ build no queries themselves (DESIGN §2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from data.models import Alert, Grid, Rule, Sensor, Silence


@dataclass(frozen=True)
class Page:
    """A window of a list: at most ``limit`` rows after skipping ``offset``."""

    limit: int = 100
    offset: int = 0


def _sensor_rows() -> Select[tuple[Sensor, str | None]]:
    return select(Sensor, Grid.code).outerjoin(Grid, Grid.id == Sensor.grid_id)


def sensors_with_grid(session: Session, *, kind: str | None = None, status: str | None = None,
                      page: Page = Page()) -> list[tuple[Sensor, str | None]]:
    """Sensors (with their unit grid's code) of ``kind`` and ``status`` when given, by id."""
    query = _sensor_rows()
    if kind:
        query = query.where(Sensor.kind == kind)
    if status:
        query = query.where(Sensor.status == status)
    query = query.order_by(Sensor.id).limit(page.limit).offset(page.offset)
    return [(sensor, code) for sensor, code in session.execute(query)]


def sensor_with_grid(session: Session, sensor_id: str) -> tuple[Sensor, str | None] | None:
    """One sensor and its unit grid's code, or None when there is no such sensor."""
    row = session.execute(_sensor_rows().where(Sensor.id == sensor_id)).first()
    return None if row is None else (row[0], row[1])


def sensor_exists(session: Session, sensor_id: str) -> bool:
    """Whether a sensor with this id is registered."""
    return session.get(Sensor, sensor_id) is not None


def sensor_families(session: Session) -> list[str]:
    """The sensor families of this city, alphabetically."""
    return list(session.scalars(select(Sensor.family).distinct().order_by(Sensor.family)))


@dataclass(frozen=True)
class AlertFilter:
    """What the alert list is narrowed to; an empty field does not narrow."""

    states: Sequence[str] = ()
    levels: Sequence[str] = ()
    families: Sequence[str] = ()
    grid_code: str | None = None
    exercise: bool | None = None
    since: datetime | None = None


def alerts_matching(session: Session, where: AlertFilter, page: Page = Page()) -> list[Alert]:
    """The alerts matching ``where``, newest first."""
    query = select(Alert)
    if where.states:
        query = query.where(Alert.state.in_(where.states))
    if where.levels:
        query = query.where(Alert.level.in_(where.levels))
    if where.families:
        query = query.where(Alert.sensor_id.in_(select(Sensor.id).where(Sensor.family.in_(where.families))))
    if where.grid_code:
        in_grid = select(Sensor.id).join(Grid, Grid.id == Sensor.grid_id).where(Grid.code == where.grid_code)
        query = query.where(Alert.sensor_id.in_(in_grid))
    if where.exercise is not None:
        query = query.where(Alert.exercise.is_(where.exercise))
    if where.since is not None:
        query = query.where(Alert.started_at >= where.since)
    query = query.order_by(Alert.started_at.desc(), Alert.id.desc()).limit(page.limit).offset(page.offset)
    return list(session.scalars(query))


def alert_by_id(session: Session, alert_id: int) -> Alert | None:
    """One alert, or None."""
    return session.get(Alert, alert_id)


def silences_with_grid(session: Session, *, now: datetime, active_only: bool = False,
                       page: Page = Page()) -> list[tuple[Silence, str | None]]:
    """Silences and maintenance windows (with their grid's code), newest first; ``active_only``: those in
    force at ``now``."""
    query = select(Silence, Grid.code).outerjoin(Grid, Grid.id == Silence.grid_id)
    if active_only:
        query = query.where(Silence.starts_at <= now, Silence.ends_at > now)
    query = query.order_by(Silence.id.desc()).limit(page.limit).offset(page.offset)
    return [(silence, code) for silence, code in session.execute(query)]


def all_rules(session: Session) -> list[Rule]:
    """Every stored alert rule, by id."""
    return list(session.scalars(select(Rule).order_by(Rule.id)))


def rule_by_id(session: Session, rule_id: str) -> Rule | None:
    """One stored rule, or None."""
    return session.get(Rule, rule_id)
