"""Daily KPI rollups (issue 21, ``dispatch.kpi_rollup``): a snapshot helped by the ``kpi_daily`` rows gives
exactly the figures of the raw aggregate (a property test over random incidents, rolls, later writes,
periods and "now"s, in a zone without and one with daylight saving), the triggers drop the rows a write
could change, the job rolls the due days, and a year's snapshot really reads the rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st
from sqlalchemy import delete, event, insert, select, text, update

from data.db import Database
from data.models import Category, Department, Incident, KpiDaily
from dispatch.kpi import day_start, kpi_snapshot, local_day, whole_days
from dispatch.kpi_rollup import DAYS_PER_RUN, roll_days, roll_job, triggers_present
from dispatch.working_hours import set_day
from domain.enums import IncidentState
from domain.states import SOURCES
from settings import get_settings

STEP = timedelta(minutes=30)  # every time lies on this grid, so that ties with "now" and period ends happen
BASE = datetime(2026, 10, 10, tzinfo=UTC)  # Berlin leaves summer time on 2026-10-25, inside the window
SPAN_STEPS = 40 * 48
STATES = [s.value for s in IncidentState]
ZONES = ("Asia/Shanghai", "Europe/Berlin")

# --- the scenario --------------------------------------------------------------------------------


def _moment(draw: Callable[..., Any], low: int = -48, high: int = SPAN_STEPS + 10 * 48) -> datetime:
    return BASE + draw(st.integers(low, high)) * STEP


def _maybe_after(draw: Callable[..., Any], moment: datetime | None, steps: int = 150) -> datetime | None:
    if moment is None or draw(st.integers(0, 4)) == 0:
        return None
    return moment + draw(st.integers(0, steps)) * STEP


FIELDS: dict[str, Callable[[Callable[..., Any], datetime], Any]] = {
    "state": lambda draw, _: draw(st.sampled_from(STATES)),
    "card": lambda draw, _: draw(st.sampled_from(["none", "yellow", "red"])),
    "source": lambda draw, _: draw(st.sampled_from(["hotline", *SOURCES])),
    "closed_at": lambda draw, t: _maybe_after(draw, t, 300),
    "filed_at": lambda draw, t: _maybe_after(draw, t, 20),
    "close_deadline": lambda draw, t: _maybe_after(draw, t, 300),
    "replied_at": lambda draw, t: _maybe_after(draw, t, 300),
    "rated_at": lambda draw, t: _maybe_after(draw, t, 300),
    "satisfaction": lambda draw, _: draw(st.sampled_from([None, "satisfied", "basically_satisfied", "unsatisfied"])),
    "caller_phone": lambda draw, _: draw(st.sampled_from([None, "p1", "p2"])),
    "address": lambda draw, _: draw(st.sampled_from([None, "a1", "a2"])),
    "hotline_mode": lambda draw, _: draw(st.sampled_from([None, "direct", "transfer"])),
    "exercise": lambda draw, _: draw(st.integers(0, 5)) == 0,
    "rework_count": lambda draw, _: draw(st.integers(0, 2)),
    "reported_at": lambda draw, _: _moment(draw, 0, SPAN_STEPS),
}


@st.composite
def incident(draw: Callable[..., Any], ident: int) -> dict[str, Any]:
    """One incident with random milestones, deadlines, state, card, source and hotline fields."""
    reported = _moment(draw, 0, SPAN_STEPS)
    filed = _maybe_after(draw, reported, 20)
    dispatched = _maybe_after(draw, filed, 20)
    first_resolved = _maybe_after(draw, dispatched)
    resolved = (first_resolved and _maybe_after(draw, first_resolved, 60)) or first_resolved
    row = {
        "id": ident, "code": f"R{ident:06d}", "version": 1, "category_code": "C1", "title": "t",
        "reported_at": reported, "updated_at": reported, "escalated": False, "severity": "normal",
        "filed_at": filed, "dispatched_at": dispatched, "first_resolved_at": first_resolved, "resolved_at": resolved,
        "closed_at": _maybe_after(draw, resolved), "handle_deadline": _maybe_after(draw, reported, 200),
        "merged_into_id": None,
    }
    for key in ("state", "card", "source", "close_deadline", "replied_at", "rated_at", "satisfaction",
                "caller_phone", "address", "hotline_mode", "exercise", "rework_count"):
        row[key] = FIELDS[key](draw, reported)
    return row


@dataclass
class Scenario:
    incidents: list[dict[str, Any]]
    first_roll: datetime
    writes: list[tuple[int, str, Any]]  # (incident index, field, value)
    merges: list[tuple[int, int]]  # (duplicate index, original index)
    later_incidents: list[dict[str, Any]]
    second_roll: tuple[datetime, int, int] | None  # (moment, first day offset, days)
    periods: list[tuple[datetime, datetime, datetime]] = field(default_factory=list)


def _bound(draw: Callable[..., Any]) -> datetime:
    """A period bound: a local midnight (whole days are what the rows serve) or any moment of the grid."""
    if draw(st.booleans()):
        return day_start(local_day(BASE) + timedelta(days=draw(st.integers(-2, 45))))
    return _moment(draw)


@st.composite
def scenarios(draw: Callable[..., Any]) -> Scenario:
    n = draw(st.integers(1, 24))
    incidents = [draw(incident(i + 1)) for i in range(n)]
    writes = []
    for _ in range(draw(st.integers(0, 4))):
        index, key = draw(st.integers(0, n - 1)), draw(st.sampled_from(sorted(FIELDS)))
        writes.append((index, key, FIELDS[key](draw, incidents[index]["reported_at"])))
    merges = []  # a later incident merged into an earlier one
    for _ in range(draw(st.integers(0, 2))):
        original, duplicate = sorted((draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))))
        if original != duplicate:
            merges.append((duplicate, original))
    later = [draw(incident(n + 1 + i)) for i in range(draw(st.integers(0, 3)))]
    second = None
    if draw(st.booleans()):
        second = (_moment(draw, 0, SPAN_STEPS + 20 * 48), draw(st.integers(-1, 41)), draw(st.integers(1, 10)))
    periods = []
    for _ in range(3):
        start, end = sorted((_bound(draw), _bound(draw)))
        periods.append((start, end, _moment(draw, 0, SPAN_STEPS + 20 * 48)))
    # and one that the rows can serve almost whole: the window, long after everything happened
    periods.append((day_start(local_day(BASE)), day_start(local_day(BASE) + timedelta(days=42)),
                    BASE + timedelta(days=60)))
    return Scenario(incidents, _moment(draw, 0, SPAN_STEPS + 20 * 48), writes, merges, later, second, periods)


def first_day() -> date:
    return local_day(BASE) - timedelta(days=1)


def prepare(db: Database) -> None:
    """The one category every incident is of (the department it routes to), once."""
    with db.uow() as s:
        if s.get(Category, "C1") is not None:
            return
        department = Department(code="d1", name_zh="部门", name_en="Dept")
        s.add(department)
        s.flush()
        s.add(Category(code="C1", name_zh="类", name_en="Cat", kind="event", department_id=department.id,
                       handle_hours=24, close_hours=48))


def reset(db: Database) -> None:
    """No incident and no rollup (the city stays)."""
    with db.uow() as s:
        if db.is_sqlite:
            s.execute(update(Incident).values(merged_into_id=None))
            s.execute(delete(Incident))
        else:
            s.execute(text("TRUNCATE incidents CASCADE"))
        s.execute(delete(KpiDaily))


def check(db: Database, scenario: Scenario) -> int:
    """Play ``scenario`` and compare each of its snapshots with and without the rollups; returns how many of
    them used a row."""
    reset(db)
    with db.uow() as s:
        s.execute(insert(Incident), scenario.incidents)
    with db.uow() as s:
        roll_days(s, first_day(), first_day() + timedelta(days=43), scenario.first_roll)
    with db.uow() as s:
        for index, key, value in scenario.writes:
            s.execute(update(Incident).where(Incident.id == scenario.incidents[index]["id"]).values({key: value}))
        for duplicate, original in scenario.merges:
            s.execute(update(Incident).where(Incident.id == scenario.incidents[duplicate]["id"])
                      .values(merged_into_id=scenario.incidents[original]["id"]))
        if scenario.later_incidents:
            s.execute(insert(Incident), scenario.later_incidents)
    if scenario.second_roll:
        moment, offset, days = scenario.second_roll
        with db.uow() as s:
            roll_days(s, first_day() + timedelta(days=offset), first_day() + timedelta(days=offset + days), moment)
    used = 0
    with db.uow() as s:
        for start, end, now in scenario.periods:
            assert kpi_snapshot(s, start, end, now=now) == kpi_snapshot(s, start, end, now=now, rollups=False)
            used += any(s.execute(select(KpiDaily.day_start).where(KpiDaily.day_start == bounds[0]))
                        .first() for bounds in whole_days(start, end))
    return used


@pytest.fixture
def zone(request, monkeypatch) -> str:
    monkeypatch.setenv("CITYOPS_TZ", request.param)
    get_settings.cache_clear()
    yield request.param
    get_settings.cache_clear()


@pytest.mark.parametrize("zone", ZONES, indirect=True)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_a_snapshot_helped_by_the_rollups_has_exactly_the_raw_figures(db, zone, scenario):
    prepare(db)
    target(float(check(db, scenario)), label="snapshots that used a row")


# --- plain tests --------------------------------------------------------------------------------

DAY = date(2026, 3, 10)  # a Tuesday


def _at(day: date, hour: int = 10) -> datetime:
    return day_start(day) + timedelta(hours=hour)


def _incident(ident: int, reported: datetime, **fields: Any) -> dict[str, Any]:
    t = reported
    row = {"id": ident, "code": f"P{ident:05d}", "state": "closed", "version": 1, "category_code": "C1",
           "title": "t", "source": "hotline", "caller_phone": "p1", "reported_at": t, "updated_at": t,
           "card": "none", "escalated": False, "exercise": False, "rework_count": 0, "severity": "normal",
           "filed_at": t + STEP, "dispatched_at": t + 2 * STEP, "first_resolved_at": t + 3 * STEP,
           "resolved_at": t + 3 * STEP, "closed_at": t + 4 * STEP, "handle_deadline": t + 10 * STEP,
           "close_deadline": t + 20 * STEP}
    return row | fields


@pytest.fixture
def city(db):
    prepare(db)
    return db


def _rolled_days(db: Database) -> set[date]:
    with db.uow() as s:
        return {local_day(d) for d in s.scalars(select(KpiDaily.day_start))}


def test_a_write_to_an_old_incident_drops_its_day_and_the_32_after(city):
    db = city
    with db.uow() as s:
        s.execute(insert(Incident), [_incident(1, _at(DAY)), _incident(2, _at(DAY + timedelta(days=60)))])
        roll_days(s, DAY - timedelta(days=5), DAY + timedelta(days=40), datetime(2026, 6, 1, tzinfo=UTC))
    assert len(_rolled_days(db)) == 46
    with db.uow() as s:
        s.execute(update(Incident).where(Incident.id == 1).values(card="red"))
    kept = _rolled_days(db)
    # the hotline call may make calls of the next 30 days repeat calls: those rows go too
    assert DAY not in kept and DAY + timedelta(days=30) not in kept
    assert DAY - timedelta(days=1) in kept and DAY + timedelta(days=34) in kept
    with db.uow() as s:  # a new incident reported on an old day drops that day's row as well
        s.execute(insert(Incident), [_incident(3, _at(DAY - timedelta(days=3)))])
    assert DAY - timedelta(days=3) not in _rolled_days(db)


def test_the_job_rolls_the_due_days_oldest_first_and_comes_back_when_a_day_is_ready(city):
    db = city
    now = _at(DAY + timedelta(days=100))
    far = now + timedelta(days=20)
    with db.uow() as s:
        s.execute(insert(Incident), [_incident(1, _at(DAY)),
                                     # open, its closing deadline still ahead: its day is not ready
                                     _incident(2, _at(DAY + timedelta(days=10)), state="dispatched",
                                               first_resolved_at=None, resolved_at=None, closed_at=None,
                                               close_deadline=far)])
    with db.uow() as s:
        roll_job(s, now)
    rolled = _rolled_days(db)
    assert min(rolled) == DAY and len(rolled) == DAYS_PER_RUN  # a bounded number a run, oldest first
    with db.uow() as s:
        for _ in range(100 // DAYS_PER_RUN + 1):
            roll_job(s, now)
    assert max(_rolled_days(db)) == local_day(now) - timedelta(days=1)  # up to yesterday
    late = DAY + timedelta(days=10)
    with db.uow() as s:
        row = s.get(KpiDaily, (day_start(late), day_start(late + timedelta(days=1))))
        assert row.max_time == far and row.rolled_at == now  # stored, not ready
        queries: list[str] = []
        event.listen(s.get_bind(), "before_cursor_execute", lambda *a: queries.append(a[2]))
        roll_job(s, now + timedelta(hours=1))  # nothing due: no aggregate runs
        assert not any("GROUP BY" in q for q in queries)
        roll_job(s, far + timedelta(seconds=1))  # ready now: rolled again
        row = s.get(KpiDaily, (day_start(late), day_start(late + timedelta(days=1))))
        s.refresh(row)
        assert row.rolled_at == far + timedelta(seconds=1)


def test_a_years_snapshot_reads_the_rows(city):
    db = city
    now = _at(DAY + timedelta(days=400))
    start, end = day_start(DAY), day_start(DAY + timedelta(days=365))
    with db.uow() as s:
        s.execute(insert(Incident), [_incident(i, _at(DAY + timedelta(days=i), 3 + i % 18)) for i in range(1, 300)])
        roll_days(s, DAY, DAY + timedelta(days=364), now)
    with db.uow() as s:
        raw = kpi_snapshot(s, start, end, now=now, rollups=False)
        assert kpi_snapshot(s, start, end, now=now) == raw
        assert raw["reported"] == 299 and raw["hotline"]["repeat_calls"] == 298
        # the rows are what is summed: change one behind the triggers' back and the snapshot follows it
        row = s.get(KpiDaily, (day_start(DAY + timedelta(days=5)), day_start(DAY + timedelta(days=6))))
        row.sums = {**row.sums, "reported": row.sums["reported"] + 1000}
    with db.uow() as s:
        queries: list[str] = []
        event.listen(s.get_bind(), "before_cursor_execute", lambda *a: queries.append(a[2]))
        assert kpi_snapshot(s, start, end, now=now)["reported"] == 1299
        assert kpi_snapshot(s, start, end, now=now, rollups=False)["reported"] == 299
        assert not any("FROM incidents" in q for q in queries[:4])  # every day from the rows


def test_a_row_of_another_working_calendar_is_not_used(city):
    db = city
    now = _at(DAY + timedelta(days=30))
    start, end = day_start(DAY), day_start(DAY + timedelta(days=7))
    with db.uow() as s:
        s.execute(insert(Incident), [_incident(1, _at(DAY), closed_at=_at(DAY + timedelta(days=3)))])
        roll_days(s, DAY, DAY + timedelta(days=6), now)
        before = kpi_snapshot(s, start, end, now=now)
    with db.uow() as s:
        set_day(s, DAY + timedelta(days=1), workday=False)  # a holiday: one working day less to closing
    with db.uow() as s:
        after = kpi_snapshot(s, start, end, now=now)
        assert after == kpi_snapshot(s, start, end, now=now, rollups=False)
        assert after["hotline"]["mean_handle_workdays"] < before["hotline"]["mean_handle_workdays"]
        roll_job(s, now)  # rolled again by the new calendar
        assert kpi_snapshot(s, start, end, now=now) == after


def test_without_its_triggers_the_job_trusts_no_row(city):
    db = city
    now = _at(DAY + timedelta(days=30))
    with db.uow() as s:
        s.execute(insert(Incident), [_incident(1, _at(DAY))])
        roll_days(s, DAY, DAY + timedelta(days=6), now)
        assert triggers_present(s)
        s.execute(text("DROP TRIGGER kpi_daily_forget_update"))
        assert not triggers_present(s)
        roll_job(s, now)
        assert s.scalar(select(KpiDaily.day_start)) is None
