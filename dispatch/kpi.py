"""The KPI engine of DESIGN §7: snapshots, grouped snapshots and period comparisons, all by SQL aggregates.

Cohort: incidents reported in [start, end), exercises (drills) and merged duplicates excluded. An event
(filing, dispatch, resolution, closing, a deadline passing) counts when it happened before ``end`` and
not after ``now`` — the cohort "as of min(end, now)".

Every figure of a snapshot comes from one aggregate query over the cohort (plus one for the firing
alerts); ``kpi_by`` gives the same figures per department, category, source, grid or area in one grouped
query. Nothing loads incidents into Python, so the cost follows the cohort's size through the indexes
on ``reported_at`` and on (scope column, ``reported_at``), not the table's.

The same cohort predicates give the briefing's rankings and top categories and the daily trend that
both the briefing and the big screen draw (``kpi_by``, ``top_categories``, ``daily_trend``), so a figure
is the same number wherever it is shown. The "periods" section is the one place that says what today,
this week, this month and the period before are, with the day boundaries in the display time zone
(CITYOPS_TZ).

Scopes narrow the cohort, in any combination: ``district``, ``street``, ``community`` (area code or
name), ``grid`` (code), ``department`` (code), ``category`` (code), ``source`` (one of the workflow
SOURCES) and ``tier`` (the command tier handling it: an area code, or ``city``). A scope naming nothing raises
UnknownFilter (``unknown_<scope>``).

Departments are counted on their own tasks (issue 17 §2, DESIGN §7 extension): the ``department`` scope and
``kpi_by(group="department")`` count a department on the incidents where it has a joint task (lead or
assisting) and on those without tasks that are its own, with the handling figures (dispatched, handled,
on time, rework, mean handling hours, cards) of its task where there is one; the closing figures are the
incident's, shared by every department on it. Every other scope and group counts an incident once.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Interval,
    Select,
    and_,
    case,
    cast,
    exists,
    extract,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased

from data.joint_models import JointTask
from data.models import Alert, Area, AreaLevel, Category, Department, Grid, Incident, KpiDaily, Sensor, utcnow
from dispatch.out_of_hours import out_of_hours_figures
from dispatch.service import to_iso
from dispatch.sla import CARD_RED, CARD_YELLOW
from dispatch.tiers import CITY
from dispatch.workflow import OPEN_STATES, SOURCES
from dispatch.working_hours import WorkingCalendar, load_calendar
from domain.states import ALERT_LEVELS_DESC
from settings import get_settings

ALERT_LEVELS = ALERT_LEVELS_DESC
RATE_DIGITS = 4
HOURS_DIGITS = 2
US_PER_HOUR = 3_600_000_000

#: The scopes a snapshot can be narrowed by, with what each one takes.
SCOPE_HELP: dict[str, str] = {
    "district": "district code or name",
    "street": "street (街道/镇) code or name",
    "community": "community (社区) code or name",
    "grid": "unit grid code",
    "department": "department code",
    "category": "incident category code",
    "source": f"incident source: {', '.join(SOURCES)}",
    "tier": "handling tier (issue 17): the district or street code an incident was passed down to, or city",
}
SCOPES = tuple(SCOPE_HELP)
AREA_SCOPES = (AreaLevel.DISTRICT.value, AreaLevel.STREET.value, AreaLevel.COMMUNITY.value)
#: What ``kpi_by`` can group by.
GROUPS = ("department", "category", "source", "grid", *AREA_SCOPES)

#: Counted figures of the aggregate query, besides ``reported`` (the cohort's size).
_COUNTS = ("filed", "dispatched", "handled", "handled_on_time", "closed", "closed_on_time", "overdue_open",
           "reworked", "yellow_cards", "red_cards")


class UnknownFilter(ValueError):
    """A scope names nothing that exists (``code`` e.g. ``unknown_street``), or names several areas."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- scopes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """Scopes resolved to SQL: conditions on incidents, and the sets of grids the area scopes allow."""

    conditions: tuple[ColumnElement[bool], ...]
    grid_sets: tuple[Any, ...]  # each a SELECT or a list of grid ids
    #: The department scope's department: its figures are counted on its own tasks (``_department_cohort``).
    department_id: int | None = None

    def on_grid(self, column: Any) -> list[ColumnElement[bool]]:
        """The area scopes as conditions on another grid column (e.g. a sensor's)."""
        return [column.in_(grids) for grids in self.grid_sets]


def _area_id(session: Session, level: str, value: str) -> int:
    """The id of the area of ``level`` whose code is ``value`` or, failing that, whose only name it is."""
    rows = session.execute(
        select(Area.id, Area.code).where(Area.level == level, or_(Area.code == value, Area.name == value))
    ).all()
    by_code = [ident for ident, code in rows if code == value]
    if by_code:
        return by_code[0]
    if not rows:
        raise UnknownFilter(f"unknown_{level}", f"no {level} {value!r}")
    if len(rows) > 1:
        raise UnknownFilter(f"ambiguous_{level}", f"{len(rows)} {level}s are named {value!r}; give its code")
    return rows[0].id


def _area_grids(level: str, area_id: int) -> Select[Any]:
    """The ids of the grids anywhere under an area (of ``level``: each scope gets its own CTE name)."""
    tree = select(Area.id).where(Area.id == area_id).cte(f"{level}_tree", recursive=True)
    tree = tree.union_all(select(Area.id).where(Area.parent_id == tree.c.id))
    return select(Grid.id).where(Grid.community_id.in_(select(tree.c.id)))


def _existing(session: Session, scope: str, column: Any, code: Any, value: str) -> Any:
    """The ``column`` of the row whose ``code`` is ``value``; UnknownFilter when there is none."""
    found = session.scalar(select(column).where(code == value))
    if found is None:
        raise UnknownFilter(f"unknown_{scope}", f"no {scope} {value!r}")
    return found


def _resolve(session: Session, scope: Mapping[str, str | None], grid_ids: Iterable[int] | None = None) -> _Scope:
    """Check the scopes and turn them into SQL conditions (one small lookup each); ``grid_ids`` (the unit
    grids of an area the caller has already resolved, as the big screen has) narrows like an area scope."""
    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        raise TypeError(f"unknown KPI scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    conditions: list[ColumnElement[bool]] = []
    grid_sets: list[Any] = []
    for level in AREA_SCOPES:
        if scope.get(level):
            grid_sets.append(_area_grids(level, _area_id(session, level, scope[level])))
    if scope.get("grid"):
        grid_sets.append([_existing(session, "grid", Grid.id, Grid.code, scope["grid"])])
    if grid_ids is not None:
        grid_sets.append(list(grid_ids))
    conditions += [Incident.grid_id.in_(grids) for grids in grid_sets]
    department_id = None
    if scope.get("department"):
        department_id = _existing(session, "department", Department.id, Department.code, scope["department"])
        conditions.append(_department_cohort(department_id))
    if scope.get("category"):
        conditions.append(Incident.category_code == _existing(session, "category", Category.code,
                                                              Category.code, scope["category"]))
    if source := scope.get("source"):
        if source not in SOURCES:
            raise UnknownFilter("unknown_source", f"no source {source!r}; sources are {', '.join(SOURCES)}")
        conditions.append(Incident.source == source)
    if tier := scope.get("tier"):
        conditions.append(_tier_condition(session, tier))
    return _Scope(tuple(conditions), tuple(grid_sets), department_id)


def _tier_condition(session: Session, tier: str) -> ColumnElement[bool]:
    """The incidents handled at the command tier ``tier``: ``city`` (never passed down) or an area code."""
    if tier == CITY:
        return Incident.tier_area_code.is_(None)
    return Incident.tier_area_code == _existing(session, "tier", Area.code, Area.code, tier)


# --- departments on their own tasks (issue 17 §2) -----------------------------------------------
# A department is counted on its own tasks: on an incident handled jointly (主办/协办, ``JointTask`` rows) it
# is counted when it has a task there — lead or assisting — with the handling figures of that task; on an
# incident without tasks it is counted when it is the incident's department, with the incident's own
# handling columns. The closing figures stay the incident's: an assisting department shares the closure.
# An aggregate that counts departments (the department scope, or ``kpi_by`` by department) reads one row
# per (incident, department): the incidents LEFT JOINed to their tasks (``_from``).


def _department_cohort(department_id: int) -> ColumnElement[bool]:
    """The incidents department ``department_id`` is counted on: those where it has a task, and those
    without tasks whose department it is (each incident once). Two correlated EXISTS, each a seek on a
    ``joint_tasks`` index per cohort incident (an IN over the department's tasks reads all of them, whatever
    the period); the tasks' own aliases, so that the join of ``_from`` does not correlate them away."""
    its, any_task = aliased(JointTask, name="its_task"), aliased(JointTask, name="any_task")
    return or_(
        exists().where(its.incident_id == Incident.id, its.department_id == department_id),
        and_(Incident.department_id == department_id, ~exists().where(any_task.incident_id == Incident.id)),
    )


def _from(query: Select[Any], scope: _Scope, *, per_department: bool = False) -> Select[Any]:
    """``query`` over the incidents; when departments are counted (``per_department``, or a department
    scope) each incident LEFT JOINed to its tasks (to the scoped department's task only, under a scope)."""
    query = query.select_from(Incident)
    if scope.department_id is None and not per_department:
        return query
    on = JointTask.incident_id == Incident.id
    if scope.department_id is not None:
        on = and_(on, JointTask.department_id == scope.department_id)
    return query.outerjoin(JointTask, on)


#: The department of a row of ``_from(..., per_department=True)``: its task's, else the incident's.
DEPARTMENT_KEY = func.coalesce(JointTask.department_id, Incident.department_id)


@dataclass(frozen=True)
class _Handling:
    """Where the handling figures of a row come from: the incident's columns, or its department's task's."""

    assigned_at: Any
    resolved_at: Any  # the (first) resolution
    deadline: Any
    returns: Any
    card: Any


def _handling(own_tasks: bool) -> _Handling:
    """The incident's handling columns or, when departments are counted on their own tasks, the joined
    task's (assigned_at, resolved_at, handle_deadline, returned_count, card) where there is one."""
    incident = _Handling(Incident.dispatched_at, func.coalesce(Incident.first_resolved_at, Incident.resolved_at),
                         Incident.handle_deadline, Incident.rework_count, Incident.card)
    if not own_tasks:
        return incident
    on_task = JointTask.id.is_not(None)
    return _Handling(*(case((on_task, task), else_=own) for task, own in (
        (JointTask.assigned_at, incident.assigned_at), (JointTask.resolved_at, incident.resolved_at),
        (JointTask.handle_deadline, incident.deadline), (JointTask.returned_count, incident.returns),
        (JointTask.card, incident.card))))


# --- the aggregate ------------------------------------------------------------------------------


def _check_period(start: datetime, end: datetime, now: datetime | None) -> datetime:
    """``now`` (default: the current time) once the period is known to be aware and ordered."""
    now = now or utcnow()
    if start.tzinfo is None or end.tzinfo is None or now.tzinfo is None:
        raise ValueError("KPI periods need timezone-aware times")
    if start > end:
        raise ValueError("the period starts after it ends")
    return now


def counted_incidents() -> list[ColumnElement[bool]]:
    """The incidents any figure counts: no drills (exercises), and a duplicate merged into its original
    counts once, as the original."""
    return [Incident.exercise.is_(False), Incident.merged_into_id.is_(None)]


def _cohort(start: datetime, end: datetime, scope: _Scope) -> list[ColumnElement[bool]]:
    return [Incident.reported_at >= start, Incident.reported_at < end, *counted_incidents(), *scope.conditions]


def _microseconds_between(session: Session, later: Any, earlier: Any) -> Any:
    """SQL for (later − earlier) in whole microseconds, an integer (so that its sums are exact whatever their
    order): exact on PostgreSQL, to the millisecond SQLite's date functions keep."""
    if session.get_bind().dialect.name == "sqlite":
        ms = func.round((func.julianday(later) - func.julianday(earlier)) * 86_400_000.0)
        return cast(ms, BigInteger) * 1000
    return cast(func.round(extract("epoch", later - earlier) * 1_000_000), BigInteger)


def _happened(moment: Any, end: datetime, now: datetime) -> ColumnElement[bool]:
    """An event "happened" when its time is before ``end`` and not after ``now``: one comparison, since
    one of the two implies the other (a NULL time compares as unknown, which no FILTER counts)."""
    return moment <= now if now < end else moment < end


def _not_yet(moment: Any, end: datetime, now: datetime) -> ColumnElement[bool]:
    """The event has not happened as of min(end, now) (or never will)."""
    return or_(moment.is_(None), moment > now if now < end else moment >= end)


class _AsOf:
    """``_happened`` and ``_not_yet`` as of min(end, now), noting every time they compare (``moments``): a
    daily rollup is exact for a snapshot when every such time of its day happened for both (``kpi_rollup``)."""

    def __init__(self, end: datetime, now: datetime, moments: list[Any] | None = None) -> None:
        self.end, self.now = end, now
        self.moments = moments if moments is not None else []

    def _note(self, moment: Any) -> Any:
        if not any(moment is seen for seen in self.moments):
            self.moments.append(moment)
        return moment

    def happened(self, moment: Any) -> ColumnElement[bool]:
        return _happened(self._note(moment), self.end, self.now)

    def not_yet(self, moment: Any) -> ColumnElement[bool]:
        return _not_yet(self._note(moment), self.end, self.now)


def _measures(session: Session, end: datetime, now: datetime, *, own_tasks: bool = False,
              moments: list[Any] | None = None) -> list[Any]:
    """The aggregate columns of every figure, as of min(end, now); with ``own_tasks`` the handling figures
    are each row's department task's (``_handling``), for a query built by ``_from``. Every column is a sum
    (a count, or the exact total of the handling times, ``_figures`` divides), so that sums of the columns
    over days equal the columns over the days' union. ``moments`` collects the times compared with the
    moment the figures are as of."""
    as_of = _AsOf(end, now, moments)
    happened, not_yet = as_of.happened, as_of.not_yet

    work = _handling(own_tasks)
    filed = happened(Incident.filed_at)
    # A task counts as dispatched once the incident is dispatched and the task assigned.
    dispatched = and_(filed, happened(Incident.dispatched_at), *([happened(work.assigned_at)] if own_tasks else []))
    handled = and_(dispatched, happened(work.resolved_at))
    closed = and_(filed, happened(Incident.closed_at))
    open_now = Incident.state.in_(OPEN_STATES)
    conditions: dict[str, ColumnElement[bool]] = {
        "filed": filed,
        "dispatched": dispatched,
        "handled": handled,
        "handled_on_time": and_(handled, or_(work.deadline.is_(None), work.resolved_at <= work.deadline)),
        "closed": closed,
        "closed_on_time": and_(
            closed, or_(Incident.close_deadline.is_(None), Incident.closed_at <= Incident.close_deadline)
        ),
        "overdue_open": and_(filed, not_yet(Incident.closed_at), happened(Incident.close_deadline)),
        "reworked": and_(handled, work.returns > 0),
        "yellow_cards": and_(open_now, work.card == CARD_YELLOW),
        "red_cards": and_(open_now, work.card == CARD_RED),
        **{f"source_{source}": Incident.source == source for source in SOURCES},
    }
    columns = [func.count().label("reported")]
    columns += [func.count().filter(condition).label(key) for key, condition in conditions.items()]
    handle_us = _microseconds_between(session, work.resolved_at, work.assigned_at)
    columns.append(func.sum(handle_us).filter(handled).label("handle_us"))
    return columns


# --- the 12345 hotline ---------------------------------------------------------------------------

#: Two hotline orders from the same caller's phone or about the same address this close together make
#: the later one a repeat call (重复来电).
REPEAT_WINDOW_DAYS = 30
WORKDAYS_DIGITS = 2
_HOTLINE = Incident.source == "hotline"
_SATISFIED = ("satisfied", "basically_satisfied")


def _days_before(session: Session, moment: Any, days: int) -> Any:
    """SQL for ``moment`` minus ``days`` days, on SQLite (naive UTC text) or PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return func.datetime(moment, f"-{days} days")
    return moment - literal_column(f"interval '{days} days'")


#: The earlier calls' aliases, built once (a new alias per query costs more than the rest of its SQL).
_EARLIER = {column: aliased(Incident, name=f"earlier_{column}") for column in ("caller_phone", "address")}


def _repeat_call(session: Session) -> ColumnElement[bool]:
    """The hotline order follows another (not a drill) from the same phone or about the same address
    within REPEAT_WINDOW_DAYS before it: two correlated EXISTS, each a range seek on its own
    (caller_phone | address, reported_at) index (one EXISTS with an OR inside scans instead)."""
    window_start = _days_before(session, Incident.reported_at, REPEAT_WINDOW_DAYS)

    def earlier_call(column: str) -> ColumnElement[bool]:
        earlier = _EARLIER[column]
        return and_(getattr(Incident, column).is_not(None), exists().where(
            getattr(earlier, column) == getattr(Incident, column),
            earlier.reported_at >= window_start,
            or_(earlier.reported_at < Incident.reported_at,
                and_(earlier.reported_at == Incident.reported_at, earlier.id < Incident.id)),
            # Through coalesce, so that SQLite's planner (no statistics) seeks the phone/address index
            # rather than (source, reported_at), which would scan a month of calls per call.
            func.coalesce(earlier.source, "") == "hotline",
            earlier.exercise.is_(False),
        ))

    return or_(earlier_call("caller_phone"), earlier_call("address"))


def _hotline_measures(session: Session, end: datetime, now: datetime, *,
                      moments: list[Any] | None = None) -> list[Any]:
    """The aggregate columns of the hotline figures (DESIGN §7 ``hotline``), for the same single query.

    A reply is due once it is given or once the order's closing deadline (the reply deadline: the caller
    hears back by the time the order should be done) has passed without it; satisfaction counts the
    follow-up calls that reached the caller (``Incident.satisfaction``, written by ``settle_followup``).
    """
    as_of = _AsOf(end, now, moments)
    replied = as_of.happened(Incident.replied_at)
    reached = and_(as_of.happened(Incident.rated_at), Incident.satisfaction.is_not(None))
    conditions: dict[str, ColumnElement[bool]] = {
        "hl_orders": _HOTLINE,
        "hl_direct": and_(_HOTLINE, Incident.hotline_mode == "direct"),
        "hl_transferred": and_(_HOTLINE, Incident.hotline_mode == "transfer"),
        "hl_reached": and_(_HOTLINE, reached),
        "hl_satisfied": and_(_HOTLINE, reached, Incident.satisfaction.in_(_SATISFIED)),
        "hl_reply_due": and_(_HOTLINE, or_(replied, and_(as_of.not_yet(Incident.replied_at),
                                                         as_of.happened(Incident.close_deadline)))),
        "hl_replied_on_time": and_(_HOTLINE, replied, or_(Incident.close_deadline.is_(None),
                                                          Incident.replied_at <= Incident.close_deadline)),
        "hl_repeat": and_(_HOTLINE, _repeat_call(session)),
    }
    return [func.count().filter(condition).label(key) for key, condition in conditions.items()]


def workday_parts(calendar: WorkingCalendar, start: datetime, end: datetime) -> Counter[int]:
    """The working time from ``start`` to ``end`` by ``calendar``, exactly: working minutes of a day → the
    microseconds of that day's working periods lying between the two (a whole working day of 450 minutes
    is ``{450: 27_000_000_000}``; a holiday or weekend adds nothing). Integers, so that sums of parts over
    many orders are exact in any order (``workdays``)."""
    parts: Counter[int] = Counter()
    if end <= start:
        return parts
    local_start, local_end = start.astimezone(calendar.zone), end.astimezone(calendar.zone)
    day = local_start.date()
    while day <= local_end.date():
        periods = calendar.periods_on(day)
        length = sum(b - a for a, b in periods)
        midnight = datetime.combine(day, time(), calendar.zone)
        inside = timedelta()
        for first, last in periods:
            begin = max(midnight + timedelta(minutes=first), local_start)
            finish = min(midnight + timedelta(minutes=last), local_end)
            inside += max(finish - begin, timedelta())
        if length and inside:
            parts[length] += inside // timedelta(microseconds=1)
        day += timedelta(days=1)
    return parts


def workdays(parts: Mapping[int, int]) -> Fraction:
    """Working days of ``workday_parts`` (or of their sum): each day's share of its working minutes."""
    return sum((Fraction(us, minutes * 60_000_000) for minutes, us in parts.items()), Fraction(0))


def workdays_between(calendar: WorkingCalendar, start: datetime, end: datetime) -> float:
    """Working days from ``start`` to ``end`` by ``calendar``: each working day counts the share of its
    working minutes that lie between the two (a whole working day is 1, a holiday or weekend 0)."""
    return float(workdays(workday_parts(calendar, start, end)))


#: The key of the hotline's closed orders counted in the mean working days, and the prefix of the keys of
#: their working time by day length (``workday_parts``), in the sums ``_workday_sums`` gives.
WORKDAY_ORDERS = "hl_wd_orders"
WORKDAY_PREFIX = "hl_wd_us_"


def _closed_hotline_orders(session: Session, cohort: Iterable[ColumnElement[bool]], end: datetime,
                           now: datetime) -> list[Any]:
    """(reported_at, closed_at) of the closed hotline orders among ``cohort`` (through the (source,
    reported_at) index): the working calendar lives in Python, so their working days are counted there."""
    as_of = _AsOf(end, now)
    closed = and_(as_of.happened(Incident.filed_at), as_of.happened(Incident.closed_at))
    return session.execute(select(Incident.reported_at, Incident.closed_at)
                           .where(*cohort, _HOTLINE, closed)).all()


def _workday_sums(calendar: WorkingCalendar, orders: Iterable[tuple[datetime, datetime]]) -> Counter[str]:
    """The sums the mean working days is made of (``WORKDAY_ORDERS`` and the ``WORKDAY_PREFIX`` parts),
    over ``orders`` (call, closing)."""
    sums: Counter[str] = Counter()
    for called, closed_at in orders:
        sums[WORKDAY_ORDERS] += 1
        for minutes, us in workday_parts(calendar, called, closed_at).items():
            sums[f"{WORKDAY_PREFIX}{minutes}"] += us
    return sums


def _mean_workdays(sums: Mapping[str, int]) -> float | None:
    """The mean working days of ``_workday_sums`` (exact until the final rounding), None without orders."""
    orders = int(sums.get(WORKDAY_ORDERS) or 0)
    if not orders:
        return None
    parts = {int(key[len(WORKDAY_PREFIX):]): int(us) for key, us in sums.items() if key.startswith(WORKDAY_PREFIX)}
    return round(float(workdays(parts) / orders), WORKDAYS_DIGITS)


def _mean_handle_workdays(session: Session, start: datetime, end: datetime, now: datetime,
                          scope: _Scope) -> float | None:
    """Mean working days from the call to the closing of the cohort's closed hotline orders."""
    rows = _closed_hotline_orders(session, _cohort(start, end, scope), end, now)
    return _mean_workdays(_workday_sums(load_calendar(session), rows)) if rows else None


def _hotline_figures(row: Mapping[str, Any], mean_workdays: float | None) -> dict[str, Any]:
    n = {key: int(row.get(key) or 0) for key in ("hl_orders", "hl_direct", "hl_transferred", "hl_reached",
                                                 "hl_satisfied", "hl_reply_due", "hl_replied_on_time", "hl_repeat")}
    return {
        "orders": n["hl_orders"],
        "direct": n["hl_direct"],
        "transferred": n["hl_transferred"],
        "direct_rate": _rate(n["hl_direct"], n["hl_orders"]),
        "satisfaction_rate": _rate(n["hl_satisfied"], n["hl_reached"]),
        "mean_handle_workdays": mean_workdays,
        "on_time_reply_rate": _rate(n["hl_replied_on_time"], n["hl_reply_due"]),
        "repeat_calls": n["hl_repeat"],
    }


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, RATE_DIGITS)


def _figures(row: Mapping[str, Any]) -> dict[str, Any]:
    """The §7 figures (without ``alerts_firing``) from one row of the aggregate; a missing row is zero."""
    n = {key: int(row.get(key) or 0) for key in ("reported", *_COUNTS)}
    due = n["closed"] + n["overdue_open"]
    handle_us = row.get("handle_us")
    mean_hours = None if not n["handled"] or handle_us is None else int(handle_us) / n["handled"] / US_PER_HOUR
    return {
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
        "open": n["filed"] - n["closed"],  # closed ones are filed ones
        "yellow_cards": n["yellow_cards"],
        "red_cards": n["red_cards"],
        "mean_handle_hours": None if mean_hours is None else round(float(mean_hours), HOURS_DIGITS),
        "by_source": {source: int(row.get(f"source_{source}") or 0) for source in SOURCES},
    }


def _alerts_firing(session: Session, scope: _Scope) -> dict[str, int]:
    """Live (non-exercise) firing alerts by level, inside the area scopes (other scopes do not apply)."""
    firing = select(Alert.level, func.count(Alert.id)).where(Alert.state == "firing", Alert.exercise.is_(False))
    if scope.grid_sets:
        firing = firing.join(Sensor, Sensor.id == Alert.sensor_id).where(*scope.on_grid(Sensor.grid_id))
    counts = dict.fromkeys(ALERT_LEVELS, 0)
    for level, count in session.execute(firing.group_by(Alert.level)):
        if level in counts:
            counts[level] = count
    return counts


# --- periods ------------------------------------------------------------------------------------
# The one place that says what a period is, each name with one meaning. Days are the local days of the
# display time zone (CITYOPS_TZ): a period runs [start, end) between local midnights, except the "to date"
# periods, which stop at a moment.

#: The kinds of calendar period (``calendar_period``).
PERIOD_KINDS = ("day", "week", "month", "quarter", "custom")
ONE_DAY = timedelta(days=1)


def display_zone() -> ZoneInfo:
    """The display time zone (CITYOPS_TZ), whose midnights bound every day of a period."""
    return get_settings().zone


def day_start(day: date) -> datetime:
    """Local midnight at the start of ``day``."""
    return datetime.combine(day, time(), tzinfo=display_zone())


def local_day(moment: datetime) -> date:
    """The local calendar day ``moment`` falls on."""
    return moment.astimezone(display_zone()).date()


def local_midnight(moment: datetime) -> datetime:
    """The start of ``moment``'s local day."""
    return day_start(local_day(moment))


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def calendar_period(kind: str, day: date, *, until: date | None = None) -> tuple[datetime, datetime]:
    """The ``kind`` period (one of PERIOD_KINDS) containing ``day``: that day, its week (from Monday), its
    month or its quarter; ``custom`` runs from ``day`` through ``until`` (inclusive)."""
    if kind == "day":
        first, following = day, day + ONE_DAY
    elif kind == "week":
        first = day - timedelta(days=day.weekday())
        following = first + 7 * ONE_DAY
    elif kind == "month":
        first = day.replace(day=1)
        following = _add_months(first, 1)
    elif kind == "quarter":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        following = _add_months(first, 3)
    elif kind == "custom":
        if until is None or until < day:
            raise ValueError("a custom period needs an end on or after its start")
        first, following = day, until + ONE_DAY
    else:
        raise ValueError(f"unknown period {kind!r}; choose one of {', '.join(PERIOD_KINDS)}")
    return day_start(first), day_start(following)


def previous_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The equally long period just before [start, end) (``kpi_compare``, ``previous=1`` in the API)."""
    return start - (end - start), start


def previous_calendar_period(kind: str, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The calendar period of the same kind just before the one [start, end): the day, week, month or
    quarter before it (a month before March is all of February); a custom one has ``previous_period``."""
    if kind == "custom":
        return previous_period(start, end)
    first = local_day(start)
    if kind == "day":
        before = first - ONE_DAY
    elif kind == "week":
        before = first - 7 * ONE_DAY
    elif kind in ("month", "quarter"):
        before = _add_months(first, -1 if kind == "month" else -3)
    else:
        raise ValueError(f"unknown period {kind!r}; choose one of {', '.join(PERIOD_KINDS)}")
    return day_start(before), start


def today(now: datetime) -> tuple[datetime, datetime]:
    """``now``'s local day."""
    return calendar_period("day", local_day(now))


def this_week(now: datetime) -> tuple[datetime, datetime]:
    """``now``'s local week, Monday to Sunday."""
    return calendar_period("week", local_day(now))


def this_month(now: datetime) -> tuple[datetime, datetime]:
    """``now``'s local calendar month: the big screen's KPI cohort."""
    return calendar_period("month", local_day(now))


def last_month_to_date(now: datetime) -> tuple[datetime, datetime]:
    """Last month from its start up to the same point in it as ``now`` is in this month (capped at its
    end): what the big screen's "this month so far" is compared with."""
    start, _ = this_month(now)
    before, _ = previous_calendar_period("month", start, start)
    return before, min(before + (now - start), start)


def local_bucket(session: Session, column: Any, offset_minutes: int, *, hourly: bool) -> Any:
    """SQL for the local hour (``YYYY-MM-DD HH``) or day (``YYYY-MM-DD``) of a UTC timestamp column, on
    SQLite or PostgreSQL, at a fixed offset of ``offset_minutes`` from UTC."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H" if hourly else "%Y-%m-%d", column, f"{offset_minutes:+d} minutes")
    local = column + literal(timedelta(minutes=offset_minutes), Interval())
    return func.to_char(local, "YYYY-MM-DD HH24" if hourly else "YYYY-MM-DD")


def _steady_offset(day: date) -> int | None:
    """The local day's UTC offset in minutes, or None when the offset changes during it (daylight saving)."""
    start, end = day_start(day), day_start(day + ONE_DAY)
    offset = start.utcoffset()
    if offset is None or end.utcoffset() != offset:
        return None
    return int(offset.total_seconds() // 60)


def _day_runs(first: date, last: date) -> list[tuple[date, date, int | None]]:
    """The days ``first``..``last`` as runs of consecutive days with one UTC offset (first, last, offset),
    a day during which the offset changes being a run of its own (offset None)."""
    runs = []
    day = first
    while day <= last:
        offset = _steady_offset(day)
        end = day
        while offset is not None and end < last and _steady_offset(end + ONE_DAY) == offset:
            end += ONE_DAY
        runs.append((day, end, offset))
        day = end + ONE_DAY
    return runs


# --- daily rollups (issue 21) -------------------------------------------------------------------
# ``kpi_daily`` holds, per local day, the sums of every aggregate column of ``_measures`` and
# ``_hotline_measures`` (and ``_workday_sums``) over the day's counted incidents, as of the moment it was
# rolled (``dispatch.kpi_rollup``), with ``max_time``, the latest time of any of the day's incidents that
# the measures compare with the moment they are as of (``_AsOf.moments``). A row is used only when it was
# ready — ``max_time`` had passed when it was rolled — and ``max_time`` has happened as of the snapshot
# too (``usable``, ``usable_row``): every compared time then happened for both, and every other input of
# the measures (states, cards, sources, the hotline fields, earlier calls) is the row's as it is now,
# since triggers on ``incidents`` (migration 0029) delete the rows of a day — and of the 32 days after
# it, for the repeat calls — whenever one of its incidents is written. The working calendar the
# working days are counted by is part of the row (``calendar_key``).


def usable(max_time: datetime | None, end: datetime, now: datetime) -> bool:
    """Whether every time a daily row compared (all ≤ ``max_time``) has happened as of min(end, now)."""
    return max_time is None or bool(_happened(max_time, end, now))


def ready_row() -> ColumnElement[bool]:
    """A ``kpi_daily`` row that was ready when rolled: its ``max_time`` had passed."""
    return or_(KpiDaily.max_time.is_(None), KpiDaily.max_time < KpiDaily.rolled_at)


def usable_row(end: datetime, now: datetime) -> ColumnElement[bool]:
    """A ``ready_row`` that gives its day's figures as of min(end, now) (``usable``, in SQL); it must also be of
    the working calendar in force (``calendar_key``) and hold every aggregate column of today's formula
    (``measure_labels``)."""
    return and_(ready_row(), or_(KpiDaily.max_time.is_(None), _happened(KpiDaily.max_time, end, now)))


def calendar_key(calendar: WorkingCalendar) -> str:
    """A fingerprint of the working calendar (zone, week, holidays and make-up days) the working days of
    a daily row were counted by."""
    text = repr((calendar.zone.key, sorted(calendar.week.items()), sorted(calendar.exceptions.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_LABELS: dict[str, frozenset[str]] = {}


def measure_labels(session: Session) -> frozenset[str]:
    """The names of the aggregate columns a daily row must hold (all of them, or the row is of an older
    formula and not used)."""
    dialect = session.get_bind().dialect.name
    if dialect not in _LABELS:
        moment = utcnow()
        columns = [*_measures(session, moment, moment), *_hotline_measures(session, moment, moment)]
        _LABELS[dialect] = frozenset(column.name for column in columns)
    return _LABELS[dialect]


def whole_days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The local days lying wholly inside [start, end), as (start, end) instants."""
    day = local_day(start)
    if day_start(day) < start:
        day += ONE_DAY
    days = []
    while (following := day_start(day + ONE_DAY)) <= end:
        days.append((day_start(day), following))
        day += ONE_DAY
    return days


class DaySums(NamedTuple):
    """A local day's sums as of a moment (``daily_sums``): what a ``kpi_daily`` row holds."""

    start: datetime
    end: datetime
    sums: dict[str, int]
    max_time: datetime | None


def daily_sums(session: Session, first: date, last: date, as_of: datetime) -> list[DaySums]:
    """The sums of every aggregate column of a snapshot for each local day ``first``..``last``, as of
    ``as_of``: the snapshot's own aggregate query grouped by day (one per run of days with one UTC offset),
    with the latest compared time of each day (``max_time``), and the working-day sums of its closed hotline
    orders."""
    calendar = load_calendar(session)
    result = []
    for run_first, run_last, offset in _day_runs(first, last):
        start, end = day_start(run_first), day_start(run_last + ONE_DAY)
        moments: list[Any] = []
        columns = [*_measures(session, as_of, as_of, moments=moments),
                   *_hotline_measures(session, as_of, as_of, moments=moments)]
        latest = [func.max(moment).label(f"latest_{i}") for i, moment in enumerate(moments)]
        cohort = [Incident.reported_at >= start, Incident.reported_at < end, *counted_incidents()]
        query = select(*columns, *latest).where(*cohort)
        if offset is not None:
            bucket = local_bucket(session, Incident.reported_at, offset, hourly=False)
            query = query.add_columns(bucket.label("day")).group_by(bucket)
        found = {}
        for row in session.execute(query):
            mapping = row._mapping
            times = [mapping[f"latest_{i}"] for i in range(len(moments)) if mapping[f"latest_{i}"] is not None]
            sums = Counter({column.name: int(mapping[column.name] or 0) for column in columns})
            found[mapping["day"] if offset is not None else run_first.isoformat()] = (sums, max(times, default=None))
        for called, closed_at in _closed_hotline_orders(session, cohort, as_of, as_of):
            found[local_day(called).isoformat()][0].update(_workday_sums(calendar, [(called, closed_at)]))
        day = run_first
        while day <= run_last:
            sums, max_time = found.get(day.isoformat(), (Counter(dict.fromkeys(measure_labels(session), 0)), None))
            result.append(DaySums(day_start(day), day_start(day + ONE_DAY), dict(sums), max_time))
            day += ONE_DAY
    return result


@dataclass(frozen=True)
class _Rolled:
    """The sums of the usable daily rows of a period, and the ranges of it they leave to the raw query."""

    sums: Counter[str]
    gaps: tuple[tuple[datetime, datetime], ...]


def _rolled(session: Session, start: datetime, end: datetime, now: datetime) -> _Rolled | None:
    """The usable ``kpi_daily`` rows of the whole local days of [start, end), summed (None when there is
    none): one lookup, and the calendar (two small queries) when there are rows."""
    days = whole_days(start, end)
    if not days:
        return None
    found = session.execute(select(KpiDaily.day_start, KpiDaily.day_end, KpiDaily.calendar_key, KpiDaily.sums)
                            .where(KpiDaily.day_start >= start, KpiDaily.day_end <= end, usable_row(end, now))).all()
    if not found:
        return None
    key, labels = calendar_key(load_calendar(session)), measure_labels(session)
    # keyed by UTC instants: hashing the local days' zone-aware times costs a zone lookup each
    rows = {(row.day_start.astimezone(UTC), row.day_end.astimezone(UTC)): row.sums for row in found
            if row.calendar_key == key and labels <= row.sums.keys()}
    used = [bounds for bounds in days if (bounds[0].astimezone(UTC), bounds[1].astimezone(UTC)) in rows]
    if not used:
        return None
    sums: Counter[str] = Counter()
    gaps = []
    cursor = start
    for bounds in used:
        sums.update(rows[bounds[0].astimezone(UTC), bounds[1].astimezone(UTC)])
        if cursor < bounds[0]:
            gaps.append((cursor, bounds[0]))
        cursor = bounds[1]
    if cursor < end:
        gaps.append((cursor, end))
    return _Rolled(sums, tuple(gaps))


def _reported_within(ranges: Iterable[tuple[datetime, datetime]]) -> ColumnElement[bool]:
    """The incidents reported in one of ``ranges`` ([start, end) each)."""
    return or_(*(and_(Incident.reported_at >= a, Incident.reported_at < b) for a, b in ranges))


# --- public -------------------------------------------------------------------------------------


def kpi_snapshot(
    session: Session, start: datetime, end: datetime, *, now: datetime | None = None, out_of_hours: bool = False,
    rollups: bool = True, **scope: str | None
) -> dict[str, Any]:
    """The KPIs of the incidents reported in [start, end), as of min(end, now) (DESIGN §7).

    ``scope`` narrows the cohort: any of ``district``, ``street``, ``community``, ``grid``,
    ``department``, ``category``, ``source`` (None or "" = not narrowed); an unknown one raises
    UnknownFilter; ``department`` counts that department on its own tasks (``_department_cohort``: its
    handling figures are its task's). Rates are fractions rounded to 4 places, None when the denominator is 0.
    ``alerts_firing`` follows the area scopes only. ``hotline`` holds the figures of the cohort's
    12345 hotline orders (``_hotline_measures``). With ``out_of_hours`` (issue 20) it adds ``out_of_hours`` and
    ``out_of_hours_by_source``, the cohort reported outside working hours (``dispatch.out_of_hours``: three
    small queries more, the calendar and one grouped count). Three queries
    whatever the volume, and one more reading the call and closing times of the closed hotline orders (their
    mean in working days).

    Unscoped, the whole local days of the period take their sums from the daily rollups (``kpi_daily``,
    ``_rolled``) where a row is usable, and only the rest of the cohort is aggregated: the same figures,
    exactly (issue 21). ``rollups=False`` aggregates the whole cohort (the reference the tests compare with).
    """
    now = _check_period(start, end, now)
    resolved = _resolve(session, scope)
    own_tasks = resolved.department_id is not None  # a department is counted on its own tasks
    rolled = _rolled(session, start, end, now) if rollups and not any(scope.values()) else None
    sums: Counter[str] = rolled.sums if rolled else Counter()
    gaps = rolled.gaps if rolled else ((start, end),)
    if gaps:  # what no usable daily row holds: the whole cohort, or the days around and between the rows
        cohort = [*_cohort(start, end, resolved), *([_reported_within(gaps)] if rolled else [])]
        row = session.execute(_from(select(*_measures(session, end, now, own_tasks=own_tasks),
                                           *_hotline_measures(session, end, now)), resolved).where(*cohort)).one()
        sums.update({key: int(value) for key, value in row._mapping.items() if value is not None})
        if orders := _closed_hotline_orders(session, cohort, end, now):
            sums.update(_workday_sums(load_calendar(session), orders))
    figures = _figures(sums)
    by_source = figures.pop("by_source")
    hotline = _hotline_figures(sums, _mean_workdays(sums))
    return {
        "from": to_iso(start),
        "to": to_iso(end),
        "as_of": to_iso(min(end, now)),
        **{key: scope.get(key) or None for key in SCOPES},
        **figures,
        "alerts_firing": _alerts_firing(session, resolved),
        "by_source": by_source,
        "hotline": hotline,
        **(out_of_hours_figures(session, load_calendar(session), _cohort(start, end, resolved), start, end, SOURCES)
           if out_of_hours else {}),
    }


def kpi_compare(
    session: Session, start: datetime, end: datetime, *, now: datetime | None = None, out_of_hours: bool = False,
    **scope: str | None,
) -> dict[str, dict[str, Any]]:
    """``{"current": …, "previous": …}``: the snapshot of [start, end) and of the equally long period
    before it (each as of the earlier of its end and ``now``), with the same scopes (and ``out_of_hours``)."""
    now = _check_period(start, end, now)
    return {
        "current": kpi_snapshot(session, start, end, now=now, out_of_hours=out_of_hours, **scope),
        "previous": kpi_snapshot(session, *previous_period(start, end), now=now, out_of_hours=out_of_hours, **scope),
    }


def _grid_ancestors(level: str) -> Any:
    """(grid_id, area_id) of every grid and its enclosing area of ``level``, walking up the area tree."""
    chain = select(Grid.id.label("grid_id"), Grid.community_id.label("area_id")).cte("grid_chain", recursive=True)
    chain = chain.union_all(
        select(chain.c.grid_id, Area.parent_id).join(Area, Area.id == chain.c.area_id)
        .where(Area.parent_id.is_not(None))
    )
    return (select(chain.c.grid_id, chain.c.area_id).join(Area, Area.id == chain.c.area_id)
            .where(Area.level == level).subquery("grid_area"))


def _grouping(group: str) -> tuple[Any, Any | None, Any | None]:
    """The group key on incidents, a join it needs, and the (id, code, name_zh, name_en) of its groups."""
    if group == "department":  # each department on its own tasks (``_from(..., per_department=True)``)
        return DEPARTMENT_KEY, None, select(
            Department.id, Department.code, Department.name_zh, Department.name_en).subquery("dim")
    if group == "category":
        return Incident.category_code, None, select(
            Category.code.label("id"), Category.code, Category.name_zh, Category.name_en).subquery("dim")
    if group == "grid":
        return Incident.grid_id, None, select(
            Grid.id, Grid.code, Grid.name.label("name_zh"), Grid.name.label("name_en")).subquery("dim")
    if group in AREA_SCOPES:
        ancestors = _grid_ancestors(group)
        return ancestors.c.area_id, ancestors, select(
            Area.id, Area.code, Area.name.label("name_zh"), Area.name.label("name_en"))\
            .where(Area.level == group).subquery("dim")
    if group == "source":
        return Incident.source, None, None
    raise ValueError(f"unknown KPI group {group!r}; groups are {', '.join(GROUPS)}")


def kpi_by(
    session: Session,
    start: datetime,
    end: datetime,
    group: str,
    *,
    now: datetime | None = None,
    all_groups: bool = False,
    grid_ids: Iterable[int] | None = None,
    **scope: str | None,
) -> list[dict[str, Any]]:
    """The figures of ``kpi_snapshot`` (without ``alerts_firing``) per ``group`` (one of GROUPS), in one
    grouped query: ``[{"code", "name": {"zh", "en"} | None, "reported", …, "by_source"}]`` by code.

    Only groups with incidents in the cohort are listed, unless ``all_groups`` (then every department,
    category, source, grid or area of that level, zero-filled, whatever the scopes). Cohort incidents
    without a group (no grid, no department) form the group with code None, listed last. ``grid_ids``
    narrows the cohort to those unit grids (as an area scope does).
    """
    now = _check_period(start, end, now)
    resolved = _resolve(session, scope, grid_ids)
    key, join, dim = _grouping(group)
    per_department = group == "department"
    base = _from(select(key.label("group_key"),
                        *_measures(session, end, now, own_tasks=per_department or resolved.department_id is not None)),
                 resolved, per_department=per_department)
    if join is not None:
        base = base.outerjoin(join, join.c.grid_id == Incident.grid_id)
    agg = base.where(*_cohort(start, end, resolved)).group_by(key).subquery("agg")
    if dim is None:
        query = select(agg.c.group_key.label("code"), agg)
    else:
        query = select(dim.c.code, dim.c.name_zh, dim.c.name_en, agg).select_from(agg).join(
            dim, dim.c.id == agg.c.group_key, isouter=True, full=all_groups)
    rows = {}
    for row in session.execute(query):
        mapping = row._mapping
        names = {"zh": mapping["name_zh"], "en": mapping["name_en"]} if dim is not None and mapping["code"] else None
        rows[mapping["code"]] = {"code": mapping["code"], "name": names, **_figures(mapping)}
    if all_groups and dim is None:
        for source in SOURCES:
            rows.setdefault(source, {"code": source, "name": None, **_figures({})})
    return sorted(rows.values(), key=lambda r: (r["code"] is None, r["code"] or ""))


# --- figures the briefing and the big screen share ---------------------------------------------


class CategoryCount(NamedTuple):
    """A category and how many cohort incidents of it were reported (``kpi_by(group="category")``'s
    ``reported``)."""

    code: str
    name_zh: str
    name_en: str
    reported: int


def top_categories(session: Session, start: datetime, end: datetime, *, limit: int = 10,
                   grid_ids: Iterable[int] | None = None, **scope: str | None) -> list[CategoryCount]:
    """The categories with the most incidents in the KPI cohort of [start, end) (drills and merged
    duplicates left out), most first, ties by code: one grouped query."""
    resolved = _resolve(session, scope, grid_ids)
    n = func.count(Incident.id)
    rows = session.execute(
        select(Category.code, Category.name_zh, Category.name_en, n)
        .join(Category, Category.code == Incident.category_code)
        .where(*_cohort(start, end, resolved))
        .group_by(Category.code, Category.name_zh, Category.name_en)
        .order_by(n.desc(), Category.code)
        .limit(limit)
    ).all()
    return [CategoryCount(code, zh, en, int(count)) for code, zh, en, count in rows]


class DayCount(NamedTuple):
    """One local day of the trend: incidents reported that day and incidents closed that day."""

    day: date
    reported: int
    closed: int


def bucket_counts(session: Session, start: datetime, end: datetime, offset_minutes: int | None, *,
                  hourly: bool = False, conditions: Iterable[ColumnElement[bool]] = ()) -> dict[str, list[int]]:
    """Counted incidents (``counted_incidents``) reported and closed in [start, end) per local hour or day
    at a fixed UTC offset: bucket → [reported, closed]. With ``offset_minutes`` None the whole span is one
    bucket, keyed by its first local day."""
    counts: dict[str, list[int]] = {}
    for index, column in enumerate((Incident.reported_at, Incident.closed_at)):
        where = [column >= start, column < end, *counted_incidents(), *conditions]
        if offset_minutes is None:
            n = session.scalar(select(func.count(Incident.id)).where(*where))
            counts.setdefault(local_day(start).isoformat(), [0, 0])[index] = int(n or 0)
            continue
        bucket = local_bucket(session, column, offset_minutes, hourly=hourly)
        for key, n in session.execute(select(bucket, func.count(Incident.id)).where(*where).group_by(bucket)):
            counts.setdefault(key, [0, 0])[index] = int(n)
    return counts


def daily_trend(session: Session, first: date, last: date, *, now: datetime | None = None,
                grid_ids: Iterable[int] | None = None, **scope: str | None) -> list[DayCount]:
    """The daily trend the briefing and the big screen both draw: for each local day ``first``..``last``
    the incidents reported that day — that day's KPI cohort, so each equals ``kpi_snapshot`` of the day's
    ``reported`` — and the incidents (of the same population) closed that day, both up to ``now``.

    Scopes as for ``kpi_snapshot``, ``grid_ids`` as for ``kpi_by``. Days bucket in SQL at the display
    zone's offset, two grouped queries per run of days with one offset (a day on which daylight saving
    changes the offset is counted on its own)."""
    now = now or utcnow()
    resolved = _resolve(session, scope, grid_ids)
    until = min(day_start(last + ONE_DAY), now)
    counts: dict[str, list[int]] = {}
    for run_first, run_last, offset in _day_runs(first, last):
        start, end = day_start(run_first), min(day_start(run_last + ONE_DAY), until)
        if start < end:
            counts.update(bucket_counts(session, start, end, offset, conditions=resolved.conditions))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [DayCount(day, *counts.get(day.isoformat(), (0, 0))) for day in days]


def cohort_points(session: Session, start: datetime, end: datetime, *, limit: int,
                  **scope: str | None) -> list[tuple[float, float]]:
    """(lon, lat) of the KPI cohort's located incidents of [start, end), newest first, at most ``limit``:
    the briefing's hot-spot map counts what its figures count."""
    resolved = _resolve(session, scope)
    rows = session.execute(
        select(Incident.lon, Incident.lat)
        .where(*_cohort(start, end, resolved), Incident.lon.is_not(None), Incident.lat.is_not(None))
        .order_by(Incident.reported_at.desc())
        .limit(limit)
    ).all()
    return [(float(lon), float(lat)) for lon, lat in rows]
