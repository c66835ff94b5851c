"""Every figure from one formula, on the real PostgreSQL: the local-day buckets (``to_char`` there,
``strftime`` on SQLite), the grouped KPI query and its outer joins differ by dialect, so the agreement
tests' month (``tests.unit.test_figures_agree.mixed_month``) is checked here too — the briefing's grid and
department rows equal the KPI snapshots, its trend equals the big screen's, and every figure equals
SQLite's. With an incident handled jointly (issue 17 §2), each department's grouped row (counted on its own
tasks, through the outer join to them) equals its snapshot there too, and SQLite's."""

from __future__ import annotations

from datetime import date

from dispatch.briefing import build_briefing, grade, period_of
from dispatch.kpi import kpi_snapshot
from tests.unit.test_figures_agree import AFTER, DURING, add_joint_incident, department_rows, mixed_month


def _figures(database) -> dict:
    from callbacks.bigscreen.panels import read_panels

    period, previous = period_of("month", date(2026, 11, 10))
    with database.uow() as s:
        mixed_month(s)
        done = build_briefing(s, period, previous, AFTER)
        rows = {}
        for group, ranked in (("grid", done.grids), ("department", done.departments)):
            for row in ranked:
                snap = kpi_snapshot(s, period.start, period.end, now=AFTER, **{group: row.code})
                rows[row.code] = ((row.filed, row.closed, row.closure_rate, row.on_time_closure_rate, row.grade),
                                  (snap["filed"], snap["closed"], snap["closure_rate"], snap["on_time_closure_rate"],
                                   grade(snap)))
        during = build_briefing(s, period, previous, DURING)
        panels = read_panels(s, DURING, "month")
    return {
        "rows": rows,
        "categories": [tuple(c) for c in done.categories],
        "trend": [tuple(d) for d in during.trend],
        "screen": [(date.fromisoformat(day), *counts) for day, counts in zip(panels.days, panels.daily, strict=True)],
        "month_trend": [tuple(d) for d in done.trend],
    }


def test_the_briefing_the_kpi_engine_and_the_big_screen_agree_on_postgres(pg_db, db):
    figures = _figures(pg_db)
    assert set(figures["rows"]) == {"G1", "G2", "gas", "roads"}
    for code, (briefing_row, snapshot_row) in figures["rows"].items():
        assert briefing_row == snapshot_row, code
    assert figures["rows"]["G1"][0] == figures["rows"]["gas"][0]
    assert figures["trend"] == figures["screen"]
    assert dict((c[0], c[3]) for c in figures["categories"]) == {"L01": 10, "S0101": 8}
    assert figures == _figures(db)


def _joint_department_rows(database) -> dict:
    period, _ = period_of("month", date(2026, 11, 10))
    with database.uow() as s:
        mixed_month(s)
        add_joint_incident(s)
        return department_rows(s, period.start, period.end)


def test_departments_on_their_own_tasks_agree_on_postgres(pg_db, db):
    pairs = _joint_department_rows(pg_db)
    assert set(pairs) == {"gas", "roads", "fire"}
    for code, (row, snapshot) in pairs.items():
        assert row == snapshot, code
    assert pairs["roads"][0]["handled_on_time"] < pairs["roads"][0]["handled"]  # its late assisting task
    assert pairs == _joint_department_rows(db)
