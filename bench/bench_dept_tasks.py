"""Benchmark: departments counted on their own tasks (issue 17 §2) — the department rows of the KPI engine.

The data of ``bench_kpi.py`` (a scale-0.05 city, N incidents over two years), plus joint handling: every
``JOINT_EVERY``-th dispatched incident gets a lead task (its department, its own stamps) and one or two
assisting tasks of other departments (assigned with the lead, resolved an hour after it or — three in
ten — 30 h after it, or not yet). Then the median time of the department queries (a department-scoped
snapshot of a day, a month and a year; ``kpi_by`` by department of a month and a year), which read the
departments' tasks.

``--baseline FILE`` times the same queries with another version of ``dispatch/kpi.py`` too (e.g. the one
before departments were counted on their tasks: ``git show HEAD~1:dispatch/kpi.py > /tmp/kpi_old.py``),
interleaved run by run on the same data, so that the load of the machine hits both alike.

    .venv/bin/python bench/bench_dept_tasks.py [--rows 10000,100000] [--backends sqlite,postgresql] [--runs 5]
        [--baseline /tmp/kpi_old.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_kpi import database, load

from data.db import Database
from data.joint_models import JointTask
from data.models import Department, Incident
from dispatch import kpi

#: One dispatched incident in this many is handled jointly.
JOINT_EVERY = 10


def add_tasks(db: Database, seed: int = 17) -> int:
    """Give every JOINT_EVERY-th dispatched incident a lead task and one or two assisting ones; returns how
    many tasks were written."""
    rng = np.random.default_rng(seed)
    with db.uow() as s:
        departments = list(s.scalars(select(Department.id).order_by(Department.id)))
        chosen = s.execute(
            select(Incident.id, Incident.department_id, Incident.dispatched_at, Incident.first_resolved_at,
                   Incident.handle_deadline, Incident.rework_count)
            .where(Incident.dispatched_at.is_not(None), Incident.department_id.is_not(None),
                   Incident.id % JOINT_EVERY == 0)
        ).all()
    rows: list[dict[str, Any]] = []
    for ident, lead, assigned, resolved, deadline, rework in chosen:
        common = {"incident_id": ident, "assigned_at": assigned, "handle_deadline": deadline, "card": "none",
                  "version": 1, "updated_at": assigned}
        rows.append({**common, "department_id": lead, "role": "lead", "state": "resolved" if resolved else "open",
                     "resolved_at": resolved, "returned_count": rework or 0})
        others = [d for d in departments if d != lead]
        for helper in rng.choice(others, int(rng.integers(1, 3)), replace=False):
            late = rng.random() < 0.3
            done = resolved + timedelta(hours=30 if late else 1) if resolved else None
            rows.append({**common, "department_id": int(helper), "role": "assist",
                         "state": "resolved" if done else "open", "resolved_at": done, "returned_count": 0})
    with db.uow() as s:
        for first in range(0, len(rows), 5000):
            s.execute(insert(JointTask), rows[first:first + 5000])
    return len(rows)


def cases(db: Database, now: datetime) -> list[tuple[str, Callable[[ModuleType, Any], Any]]]:
    """(label, query(kpi module, session)) of every measured department query."""
    day, month, year = (now - timedelta(days=days) for days in (1, 30, 365))
    with db.uow() as s:  # the department with the most tasks
        department = s.scalar(select(Department.code).join(JointTask, JointTask.department_id == Department.id)
                              .group_by(Department.code).order_by(func.count().desc()).limit(1))
    return [
        (f"a day, department {department}", lambda m, s: m.kpi_snapshot(s, day, now, now=now, department=department)),
        (f"30 days, department {department}",
         lambda m, s: m.kpi_snapshot(s, month, now, now=now, department=department)),
        ("30 days, grouped by department (kpi_by)",
         lambda m, s: m.kpi_by(s, month, now, "department", now=now, all_groups=True)),
        (f"365 days, department {department}",
         lambda m, s: m.kpi_snapshot(s, year, now, now=now, department=department)),
        ("365 days, grouped by department (kpi_by)", lambda m, s: m.kpi_by(s, year, now, "department", now=now)),
    ]


def _load_module(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("kpi_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kpi_baseline"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def measure(db: Database, now: datetime, runs: int, modules: dict[str, ModuleType]) -> None:
    """Print each case's median time per module (one warm-up run each, then the runs interleaved)."""
    for label, call in cases(db, now):
        times: dict[str, list[float]] = {name: [] for name in modules}
        answers: dict[str, Any] = {}
        for run in range(runs + 1):
            for name, module in modules.items():
                with db.uow() as s:
                    began = time.perf_counter()
                    answers[name] = call(module, s)
                    if run:
                        times[name].append((time.perf_counter() - began) * 1000)
        answer = answers["current"]
        rows = sum(g["reported"] for g in answer) if isinstance(answer, list) else answer["reported"]
        figures = "".join(f"  {name} {statistics.median(t):8.1f} ms" for name, t in times.items())
        print(f"    {label:<44}{figures}  ({rows:,} rows)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="10000,100000", help="comma-separated incident counts")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", help="another dispatch/kpi.py to time alongside")
    args = parser.parse_args()
    modules = {"current": kpi, **({"baseline": _load_module(args.baseline)} if args.baseline else {})}
    now = datetime.now(UTC)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            for n in (int(r) for r in args.rows.split(",")):
                with database(backend, Path(tmp), n) as db:
                    load(db, n, now)
                    tasks = add_tasks(db)
                    with db.uow() as s:
                        joint = s.scalar(select(func.count(func.distinct(JointTask.incident_id))))
                    print(f"{backend}, {n:,} incidents, {joint:,} of them joint with {tasks:,} tasks:", flush=True)
                    measure(db, now, args.runs, modules)


if __name__ == "__main__":
    main()
