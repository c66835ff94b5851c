"""Benchmark: what the out-of-hours figure (issue 20, ``kpi_snapshot(...)["out_of_hours"]``) costs.

A fresh SQLite database in a temporary folder gets N incidents reported at random over the 30 days before now
(one holiday and one make-up day in the calendar); the script prints the median time of the whole KPI snapshot
of those 30 days without and with the figure, and of the figure alone (``out_of_hours_figures``), against a
bare count of the same cohort, for N/10 and N.

    .venv/bin/python bench/bench_out_of_hours.py [--n 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_hotline import median_ms
from sqlalchemy import func, insert, select

from data.db import Database
from data.models import Category, Department, Incident, utcnow
from dispatch import kpi
from dispatch.out_of_hours import out_of_hours_figures
from dispatch.workflow import SOURCES
from dispatch.working_hours import load_calendar, set_day


def build(n: int, folder: Path) -> Database:
    database = Database(f"sqlite:///{folder / f'ooh-{n}.db'}")
    database.migrate()
    now = utcnow()
    rng = random.Random(20)
    with database.uow() as s:
        department = Department(code="d", name_zh="部门", name_en="Dept")
        s.add(department)
        s.flush()
        s.add(Category(code="C", name_zh="类", name_en="Cat", kind="event", department_id=department.id,
                       handle_hours=24, close_hours=48))
        set_day(s, (now - timedelta(days=10)).date(), workday=False, name="holiday")
        set_day(s, (now - timedelta(days=12)).date(), workday=True, name="make-up")
        for first in range(0, n, 20_000):
            rows = []
            for i in range(first, min(first + 20_000, n)):
                at = now - timedelta(seconds=rng.randrange(30 * 86400))
                rows.append({"code": f"B{i:07d}", "state": "reported", "version": 1, "category_code": "C",
                             "source": rng.choice(SOURCES), "title": "t", "reported_at": at, "card": "none",
                             "rework_count": 0, "exercise": False, "escalated": False, "updated_at": at})
            s.execute(insert(Incident), rows)
    return database


def measure(database: Database, n: int, runs: int) -> str:
    """One line of figures for a database of ``n`` incidents."""
    end = utcnow()
    start = end - timedelta(days=30)
    cohort = [Incident.reported_at >= start, Incident.reported_at < end]

    def bare(s):
        return s.scalar(select(func.count()).where(*cohort))

    def ooh(s):
        return out_of_hours_figures(s, load_calendar(s), cohort, start, end, SOURCES)

    def snapshot(s):
        return kpi.kpi_snapshot(s, start, end, now=end)

    def with_ooh(s):
        return kpi.kpi_snapshot(s, start, end, now=end, out_of_hours=True)

    figures = {name: median_ms(database, work, runs) for name, work in
               (("count", bare), ("out_of_hours alone", ooh), ("kpi_snapshot", snapshot),
                ("kpi_snapshot(out_of_hours=True)", with_ooh))}
    with database.uow() as s:
        share = with_ooh(s)["out_of_hours"] / n
    return f"N={n:>8}: " + ", ".join(f"{k} {v} ms" for k, v in figures.items()) + f"; out of hours {share:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    for n in (args.n // 10, args.n):
        database = build(n, folder)
        print(measure(database, n, args.runs))
        database.dispose()


if __name__ == "__main__":
    main()
