"""Every figure from one formula (issue 15 item 3): for one period with a realistic mix — merged duplicates,
returned and reworked incidents, closures after the period's end, open incidents past their deadline,
a drill, an incident late in a local day — the briefing's grid and department rows equal the KPI engine's
snapshot of that grid or department (graded by the same ``grade``), its top categories are the KPI
engine's, and its daily trend equals the big screen's for the same days. With an incident handled jointly
(issue 17 §2) each department is counted on its own task, and its grouped row still equals its snapshot."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from data.joint_models import JointTask
from data.models import Department, Grid, Incident
from dispatch.briefing import build_briefing, grade, period_of
from dispatch.kpi import cohort_points, kpi_by, kpi_snapshot
from tests.unit.test_dispatch_service import make_city
from tests.unit.test_kpi import _row

H = timedelta(hours=1)
D = timedelta(days=1)
#: November 2026 in Shanghai starts at 16:00 UTC on 31 October.
NOV = datetime(2026, 10, 31, 16, tzinfo=UTC)
#: After the period: closures between its end and now are not the period's.
AFTER = datetime(2026, 12, 5, tzinfo=UTC)
#: Inside the period: the big screen's "now", at noon local time on 20 November.
DURING = datetime(2026, 11, 20, 4, tzinfo=UTC)


def _lifecycle(n: int, reported: datetime, *, closed: datetime | None = None, close_hours: float = 48,
               resolved: bool = True, **fields) -> dict:
    """An incident filed an hour after its report, dispatched an hour later, resolved (when ``resolved``)
    two hours after that and closed at ``closed`` (None = still open)."""
    stamps = {
        "filed_at": reported + H, "dispatched_at": reported + 2 * H,
        "handle_deadline": reported + 24 * H, "close_deadline": reported + close_hours * H,
        "state": "closed" if closed else ("resolved" if resolved else "dispatched"),
    }
    if resolved:
        stamps.update(first_resolved_at=reported + 4 * H, resolved_at=reported + 4 * H)
    if closed:
        stamps["closed_at"] = closed
    return _row(n, reported=reported, **{**stamps, **fields})


def mixed_month(session) -> None:
    """A month of incidents in two grids, each grid held by one department (G1 ↔ gas, G2 ↔ roads)."""
    city = make_city(session)
    gas = {"grid_id": city.g1.id, "department_id": city.gas.id, "category_code": "L01"}
    roads = {"grid_id": city.g2.id, "department_id": city.roads.id, "category_code": "S0101"}
    rows = []
    # gas / G1: closed on time, closed late, reworked then closed, returned before handling, closed only after
    # the period's end, open past its closing deadline, and a report early in a local day (the day before in UTC).
    for i in range(4):
        day = NOV + (2 + 3 * i) * D + 2 * H
        rows.append(_lifecycle(1 + i, day, closed=day + 6 * H, **gas))
    rows.append(_lifecycle(5, NOV + 3 * D, closed=NOV + 6 * D, close_hours=10, **gas))
    rows.append(_lifecycle(6, NOV + 4 * D, closed=NOV + 5 * D, rework_count=1, **gas))
    rows.append(_lifecycle(7, NOV + 8 * D, resolved=False, rework_count=1, **gas))
    rows.append(_lifecycle(8, NOV + 29 * D + 20 * H, closed=NOV + 31 * D, **gas))  # closed on 2 December
    rows.append(_lifecycle(9, NOV + 9 * D, resolved=False, close_hours=30, **gas))  # open, overdue
    rows.append(_lifecycle(10, NOV + 12 * D + 7 * H + H / 2, closed=NOV + 14 * D,
                           **gas))  # 07:30 on 13 November in Shanghai, 23:30 on the 12th in UTC
    # roads / G2: mostly late, one reworked and still open, one reported and never filed.
    for i in range(5):
        day = NOV + (1 + 2 * i) * D + 5 * H
        rows.append(_lifecycle(20 + i, day, closed=day + 3 * D, close_hours=12, **roads))
    rows.append(_lifecycle(25, NOV + 11 * D, rework_count=2, **roads))
    rows.append(_row(26, reported=NOV + 15 * D, **roads))
    rows.append(_lifecycle(27, NOV + 16 * D, closed=NOV + 16 * D + 8 * H, **roads))
    # A drill, which no figure counts.
    rows.append(_lifecycle(40, NOV + 6 * D, closed=NOV + 7 * D, exercise=True, **gas))
    # Before the period (in the trend's 30 days before a daily briefing), closed inside it.
    rows.append(_lifecycle(41, NOV - 5 * D, closed=NOV + 2 * D, **roads))
    session.execute(insert(Incident), rows)
    session.flush()
    original = {code: ident for code, ident in session.execute(select(Incident.code, Incident.id))}
    # Merged duplicates (filed before they were merged; one of them was closed on its own first).
    session.execute(insert(Incident), [
        _lifecycle(50, NOV + 2 * D + 3 * H, resolved=False, state="rejected",
                   rejected_at=NOV + 2 * D + 5 * H, merged_into_id=original["T0000001"], **gas),
        _lifecycle(51, NOV + 4 * D + H, closed=NOV + 5 * D, merged_into_id=original["T0000006"], **gas),
        _lifecycle(52, NOV + 11 * D + H, resolved=False, state="rejected", rework_count=1,
                   merged_into_id=original["T0000025"], **roads),
        _lifecycle(53, NOV + 11 * D + 2 * H, resolved=False, state="rejected",
                   merged_into_id=original["T0000025"], **roads),
    ])
    session.flush()


@pytest.fixture
def month(session):
    mixed_month(session)
    return period_of("month", date(2026, 11, 10))


def _row_figures(row) -> tuple:
    return (row.filed, row.closed, row.closure_rate, row.on_time_closure_rate, row.rework_rate, row.grade)


def _snapshot_figures(snapshot: dict) -> tuple:
    return (snapshot["filed"], snapshot["closed"], snapshot["closure_rate"], snapshot["on_time_closure_rate"],
            snapshot["rework_rate"], grade(snapshot))


@pytest.mark.parametrize(("scope", "ranking", "codes"), [
    ("grid", "grids", ["G1", "G2"]),
    ("department", "departments", ["gas", "roads"]),
])
def test_every_ranking_row_of_the_briefing_is_its_kpi_snapshot(session, month, scope, ranking, codes):
    period, previous = month
    briefing = build_briefing(session, period, previous, AFTER)
    rows = getattr(briefing, ranking)
    assert sorted(row.code for row in rows) == codes
    for row in rows:
        snapshot = kpi_snapshot(session, period.start, period.end, now=AFTER, **{scope: row.code})
        assert _row_figures(row) == _snapshot_figures(snapshot), row.code


def test_departments_and_grids_are_graded_on_one_formula(session, month):
    """G1 holds exactly the gas company's incidents and G2 the roads': their rows must be the same."""
    period, previous = month
    briefing = build_briefing(session, period, previous, AFTER)
    grids = {row.code: _row_figures(row) for row in briefing.grids}
    departments = {row.code: _row_figures(row) for row in briefing.departments}
    assert grids["G1"] == departments["gas"]
    assert grids["G2"] == departments["roads"]
    # A rework in the grid ranking is over the handled incidents, as in §7 (one of G1's was never handled).
    snapshot = kpi_snapshot(session, period.start, period.end, now=AFTER, grid="G1")
    assert snapshot["rework_rate"] == round(1 / snapshot["handled"], 4)


def test_top_categories_are_the_kpi_engines_counts_without_merged_duplicates(session, month):
    period, previous = month
    briefing = build_briefing(session, period, previous, AFTER)
    by_category = kpi_by(session, period.start, period.end, "category", now=AFTER)
    expected = sorted(((r["code"], r["name"]["zh"], r["name"]["en"], r["reported"]) for r in by_category),
                      key=lambda r: (-r[3], r[0]))
    assert [tuple(c) for c in briefing.categories] == expected
    assert dict((c[0], c[3]) for c in briefing.categories) == {"L01": 10, "S0101": 8}


def test_the_briefings_daily_trend_is_the_big_screens(session, month):
    from callbacks.bigscreen.panels import read_panels  # the big screen's panels, as its callback reads them

    period, previous = month
    briefing = build_briefing(session, period, previous, DURING)
    panels = read_panels(session, DURING, "month")
    screen = [(date.fromisoformat(day), reported, closed)
              for day, (reported, closed) in zip(panels.days, panels.daily, strict=True)]
    assert [tuple(day) for day in briefing.trend] == screen
    by_day = {day: (reported, closed) for day, reported, closed in briefing.trend}
    assert by_day[date(2026, 11, 3)] == (1, 2)  # #1 (not its duplicate #50); #1 and October's #41 closed
    assert by_day[date(2026, 11, 13)][0] == 1  # 07:30 local on the 13th is the 13th
    # Each day's reports are the KPI engine's cohort of that day.
    for day, reported, _closed_n in briefing.trend:
        start = datetime(day.year, day.month, day.day, tzinfo=period.start.tzinfo)
        assert reported == kpi_snapshot(session, start, start + D, now=DURING)["reported"], day


def test_the_trend_of_a_finished_month_counts_closures_on_the_days_they_happened(session, month):
    period, previous = month
    briefing = build_briefing(session, period, previous, AFTER)
    assert [day for day, *_ in briefing.trend] == [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]
    assert sum(reported for _, reported, _ in briefing.trend) == \
        kpi_snapshot(session, period.start, period.end, now=AFTER)["reported"]
    by_day = {day: closed for day, _, closed in briefing.trend}
    assert by_day[date(2026, 11, 3)] == 2  # #1, and #41: reported in October, closed at 00:00 on 3 November



def test_the_hot_spot_map_plots_the_kpi_cohort(session, month):
    period, _ = month
    session.execute(update(Incident).values(lon=117.005, lat=36.605))
    points = cohort_points(session, period.start, period.end, limit=1000)
    assert len(points) == kpi_snapshot(session, period.start, period.end, now=AFTER)["reported"] == 18


# --- departments on their own tasks (issue 17 §2) ---------------------------------------------------

#: The jointly handled incident of ``add_joint_incident``: reported on 21 November, handled by +24 h.
JOINT_AT = NOV + 20 * D


def add_joint_incident(session) -> None:
    """One more G1 incident, led by the gas company (resolved on time) with two assisting departments: the
    fire brigade (on time) and roads (late: 30 h after its assignment, its deadline 24 h); closed in time."""
    session.add(Department(code="fire", name_zh="消防", name_en="Fire brigade"))
    session.flush()
    ids = {code: ident for code, ident in session.execute(select(Department.code, Department.id))}
    g1 = session.scalar(select(Grid.id).where(Grid.code == "G1"))
    session.execute(insert(Incident), [_lifecycle(60, JOINT_AT, closed=JOINT_AT + 40 * H, grid_id=g1,
                                                  department_id=ids["gas"], category_code="L01")])
    incident_id = session.scalar(select(Incident.id).where(Incident.code == "T0000060"))
    assigned = JOINT_AT + 2 * H
    session.execute(insert(JointTask), [
        {"incident_id": incident_id, "department_id": ids[code], "role": role, "state": "resolved",
         "assigned_at": assigned, "handle_deadline": assigned + 24 * H, "card": "none",
         "resolved_at": assigned + hours * H, "returned_count": returned, "version": 1, "updated_at": assigned}
        for code, role, hours, returned in (("gas", "lead", 2, 0), ("fire", "assist", 5, 1), ("roads", "assist", 30, 0))
    ])
    session.flush()


def department_rows(session, start: datetime, end: datetime) -> dict[str, tuple[dict, dict]]:
    """Per department: its row of ``kpi_by(group="department")`` and its ``kpi_snapshot`` (the same keys)."""
    pairs = {}
    for row in kpi_by(session, start, end, "department", now=AFTER, all_groups=True):
        snapshot = kpi_snapshot(session, start, end, now=AFTER, department=row["code"])
        pairs[row["code"]] = ({k: v for k, v in row.items() if k not in ("code", "name")},
                              {k: snapshot[k] for k in row if k not in ("code", "name")})
    return pairs


def _on_time(figures: dict) -> float:
    return figures["handled_on_time"] / figures["handled"]


def test_departments_are_counted_on_their_own_tasks_and_their_rows_are_their_snapshots(session, month):
    period, previous = month
    before = kpi_by(session, period.start, period.end, "department", now=AFTER)
    before = {row["code"]: row for row in before}
    city_before = kpi_snapshot(session, period.start, period.end, now=AFTER)
    add_joint_incident(session)
    pairs = department_rows(session, period.start, period.end)
    assert set(pairs) == {"gas", "roads", "fire"}
    for code, (row, snapshot) in pairs.items():
        assert row == snapshot, code
    after = {code: row for code, (row, _) in pairs.items()}
    # The late assisting department's on-time rate drops; the lead's (on time) does not.
    assert _on_time(after["roads"]) < _on_time(before["roads"])
    assert _on_time(after["gas"]) >= _on_time(before["gas"])
    assert after["roads"]["handled"] == before["roads"]["handled"] + 1
    assert after["roads"]["handled_on_time"] == before["roads"]["handled_on_time"]
    assert after["gas"]["handled_on_time"] == before["gas"]["handled_on_time"] + 1
    # Assisting work counts: the fire brigade has nothing but its assisting task, returned once.
    assert (after["fire"]["reported"], after["fire"]["dispatched"], after["fire"]["handled_on_time"]) == (1, 1, 1)
    assert after["fire"]["rework_rate"] == 1.0 and after["fire"]["mean_handle_hours"] == 5.0
    # The closing is the incident's, shared by every department on it.
    for code in ("gas", "roads"):
        assert after[code]["closed"] == before[code]["closed"] + 1
        assert after[code]["closed_on_time"] == before[code]["closed_on_time"] + 1
    assert (after["fire"]["closed"], after["fire"]["closed_on_time"]) == (1, 1)
    # Every other scope counts the incident once.
    city = kpi_snapshot(session, period.start, period.end, now=AFTER)
    assert city["reported"] == city_before["reported"] + 1
    assert city["handled"] == city_before["handled"] + 1
    assert kpi_snapshot(session, period.start, period.end, now=AFTER, grid="G1")["reported"] == \
        before["gas"]["reported"] + 1
    assert sum(row["reported"] for row in kpi_by(session, period.start, period.end, "category", now=AFTER)) == \
        city["reported"]
    # The briefing's department ranking follows (it reads kpi_by), each row still its snapshot.
    briefing = build_briefing(session, period, previous, AFTER)
    for row in briefing.departments:
        snapshot = kpi_snapshot(session, period.start, period.end, now=AFTER, department=row.code)
        assert _row_figures(row) == _snapshot_figures(snapshot), row.code
    assert "fire" in {row.code for row in briefing.departments}
