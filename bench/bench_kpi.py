"""Benchmark: the KPI engine (issue 6) at 100,000 and 1,000,000 incidents, on SQLite and PostgreSQL.

A scale-0.05 demo city gets N incidents spread over the two years up to now (Core ``insert()``
executemany in chunks on SQLite, ``COPY`` on PostgreSQL, in report order as in real life): categories of
the catalogue with their departments and limits, sources, grids, rejections, drills, lifecycles truncated
at now, deadlines and cards. Then the median time of each KPI query (each in its own unit of work, scope
lookups included): today's and this month's city snapshot, district- and department-scoped ones, the
grouped-by-department and by-grid queries, the snapshot with the previous period, and a whole year.

``--compare-indexes`` also times the same queries once the (scope, reported_at) indexes of migration
0006 are dropped, to show what they are for.

``--year`` (issue 21) times instead the city snapshot of a whole year — the last 12 full months and this
year to date — before (the committed ``dispatch/kpi.py``, ``git show HEAD:...``, imported from a temporary
folder) and after (the daily rollups of ``dispatch.kpi_rollup``, once the days are rolled), p50/p95 over
``--runs`` runs each, with the time to roll the days and a check that every figure is the same as the raw
query's (and as the committed code's).

    .venv/bin/python bench/bench_kpi.py [--rows 100000,1000000] [--backends sqlite,postgresql]
        [--runs 7] [--compare-indexes] [--year]

PostgreSQL: ``CITYOPS_TEST_PG`` (default postgresql://postgres@127.0.0.1:5432/test); the data go into a
schema ``bench_kpi`` that is dropped afterwards. SQLite: a file in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from sqlalchemy import Column, DateTime, MetaData, Table, create_engine, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.db import Database
from data.demo import seed_demo_city
from data.models import Area, AreaLevel, Category, Department, Grid, Incident, UTCDateTime
from dispatch import kpi
from dispatch.kpi import day_start, kpi_by, kpi_compare, kpi_snapshot
from dispatch.kpi_rollup import roll_days
from dispatch.workflow import SOURCES
from settings import get_settings

PG_URL = os.environ.get("CITYOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = "bench_kpi"
CHUNK = 50_000
DAYS = 730
#: The indexes of migration 0006 that ``--compare-indexes`` drops.
SCOPE_INDEXES = ("ix_incidents_department_reported", "ix_incidents_grid_reported",
                 "ix_incidents_category_reported", "ix_incidents_source_reported")
#: Every row of an executemany has the same keys: the lifecycle stamps start as "never happened".
NO_STAMPS = dict.fromkeys(("filed_at", "rejected_at", "dispatched_at", "first_resolved_at", "resolved_at",
                           "closed_at"))
SOURCE_WEIGHTS = {"alert": 0.08, "patrol": 0.45, "hotline": 0.25, "open311": 0.05, "video": 0.12, "operator": 0.03,
                  "citizen": 0.02}

# The incidents table with plain (naive UTC) timestamps: the rows are generated in UTC already, so the
# bulk insert skips the aware→naive conversion of UTCDateTime (the stored values are the same).
_BULK = Table("incidents", MetaData(), *(
    Column(c.name, DateTime() if isinstance(c.type, UTCDateTime) else c.type) for c in Incident.__table__.columns
))


# --- data ---------------------------------------------------------------------------------------


def _city(db: Database) -> dict[str, Any]:
    with db.uow() as s:
        categories = s.execute(select(Category.code, Category.department_id, Category.handle_hours,
                                      Category.close_hours).order_by(Category.code)).all()
        grids = list(s.scalars(select(Grid.id).order_by(Grid.id)))
        district = s.scalar(select(Area.code).where(Area.level == AreaLevel.DISTRICT).order_by(Area.code))
    return {"categories": categories, "grids": grids, "district": district}


def incident_rows(n: int, now: datetime, city: dict[str, Any], seed: int = 6) -> Iterator[list[dict[str, Any]]]:
    """``n`` incidents over the ``DAYS`` days before ``now``, in report order, in chunks of CHUNK rows."""
    rng = np.random.default_rng(seed)
    cats = city["categories"]
    popularity = 1.0 / np.arange(1, len(cats) + 1)  # a few categories make most of the cases
    popularity /= popularity.sum()
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    offsets = np.sort(rng.uniform(0, DAYS * 24.0, n))[::-1]  # hours before now, oldest first
    hour = timedelta(hours=1)
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        cat = rng.choice(len(cats), size, p=popularity)
        source = rng.choice(SOURCES, size, p=[SOURCE_WEIGHTS[s] for s in SOURCES])
        grid = rng.choice(city["grids"], size)
        no_grid = rng.random(size) < 0.03
        fate = rng.random(size)  # < 0.04 rejected, < 0.05 never triaged
        delays = rng.uniform(0.1, 2.0, (size, 2))  # filing, dispatch
        work = rng.lognormal(np.log(6.0), 0.9, size)  # hours to the first resolution
        check = rng.uniform(0.5, 12.0, size)  # hours from resolution to closing
        rework = rng.random(size) < 0.03
        drill = rng.random(size) < 0.005
        rows = []
        for i in range(size):
            code, dept, handle_h, close_h = cats[cat[i]]
            reported = naive_now - offsets[first + i] * hour
            row = {**NO_STAMPS, "code": f"B{first + i:08d}", "state": "reported", "version": 1, "category_code": code,
                   "source": str(source[i]), "title": "bench", "grid_id": None if no_grid[i] else int(grid[i]),
                   "department_id": dept, "reported_at": reported, "updated_at": reported, "card": "none",
                   "escalated": False, "rework_count": 0, "exercise": bool(drill[i]), "severity": "normal",
                   "handle_deadline": reported + handle_h * hour, "close_deadline": reported + close_h * hour}
            if fate[i] < 0.04:
                row |= {"state": "rejected", "rejected_at": reported + 0.5 * hour}
            elif fate[i] >= 0.05:
                filed = reported + delays[i, 0] * hour
                stamps = {"filed_at": filed, "dispatched_at": filed + delays[i, 1] * hour}
                stamps["first_resolved_at"] = stamps["dispatched_at"] + work[i] * hour
                stamps["resolved_at"] = stamps["first_resolved_at"] + (24 * hour if rework[i] else hour * 0)
                stamps["closed_at"] = stamps["resolved_at"] + check[i] * hour
                for state, key in (("filed", "filed_at"), ("dispatched", "dispatched_at"),
                                   ("resolved", "first_resolved_at"), ("closed", "closed_at")):
                    if stamps[key] > naive_now:
                        break
                    row[key], row["state"] = stamps[key], state
                if row.get("first_resolved_at") and stamps["resolved_at"] <= naive_now:
                    row["resolved_at"] = stamps["resolved_at"]
                    row["rework_count"] = int(rework[i])
                if row["state"] != "closed":
                    remaining = (row["close_deadline"] - naive_now) / (close_h * hour)
                    row["card"] = "red" if remaining < 0 else "yellow" if remaining < 0.2 else "none"
            rows.append(row)
        yield rows


def copy_rows(db: Database, table: str, chunks: Iterable[list[dict[str, Any]]]) -> None:
    """PostgreSQL: write ``chunks`` of rows (dicts with the same keys) into ``table`` with ``COPY``, in one
    transaction — several times faster than a multi-row INSERT, whose long text psycopg parses anew each time."""
    raw = db.engine.raw_connection()
    try:
        with raw.cursor() as cur:
            for rows in chunks:
                columns = list(rows[0])
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in columns])
        raw.commit()
    finally:
        raw.close()


def load(db: Database, n: int, now: datetime) -> float:
    """Seed the small city and bulk-insert ``n`` incidents; returns the seconds the incidents took."""
    seed_demo_city(db, scale=0.05, seed=42, demo_passwords=False)
    city = _city(db)
    began = time.perf_counter()
    if db.engine.dialect.name != "postgresql":
        with db.engine.begin() as conn:
            for rows in incident_rows(n, now, city):
                conn.execute(insert(_BULK), rows)
    else:
        copy_rows(db, "incidents", incident_rows(n, now, city))
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE incidents"))  # what autovacuum does after a bulk load
    return time.perf_counter() - began


# --- timing -------------------------------------------------------------------------------------


def _timed_ms(db: Database, call: Callable[[Any], Any], runs: int) -> tuple[list[float], Any]:
    """The wall times of ``call(session)`` in ms over ``runs`` runs (after one warm-up run), and its last answer."""
    with db.uow() as s:
        answer = call(s)
    times = []
    for _ in range(runs):
        with db.uow() as s:
            began = time.perf_counter()
            answer = call(s)
            times.append((time.perf_counter() - began) * 1000)
    return times, answer


def _median_ms(db: Database, call: Callable[[Any], Any], runs: int) -> tuple[float, Any]:
    """The median wall time of ``call(session)`` in ms (after one warm-up run), and its last answer."""
    times, answer = _timed_ms(db, call, runs)
    return statistics.median(times), answer


def cases(db: Database, now: datetime) -> list[tuple[str, Callable[[Any], Any], int]]:
    """(label, query, runs divisor) of every measured KPI query."""
    zone = get_settings().zone
    local = now.astimezone(zone)
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow, month = today + timedelta(days=1), today.replace(day=1)
    month_end = (month + timedelta(days=32)).replace(day=1)
    year = (today - timedelta(days=365), tomorrow)
    district = _city(db)["district"]
    with db.uow() as s:  # the busiest department
        department = s.scalar(select(Department.code).join(Incident, Incident.department_id == Department.id)
                              .group_by(Department.code).order_by(func.count().desc()).limit(1))
    return [
        ("today, city", lambda s: kpi_snapshot(s, today, tomorrow, now=now), 1),
        (f"today, district {district}", lambda s: kpi_snapshot(s, today, tomorrow, now=now, district=district), 1),
        (f"today, department {department}",
         lambda s: kpi_snapshot(s, today, tomorrow, now=now, department=department), 1),
        ("this month, city", lambda s: kpi_snapshot(s, month, month_end, now=now), 1),
        (f"this month, district {district}",
         lambda s: kpi_snapshot(s, month, month_end, now=now, district=district), 1),
        (f"this month, department {department}",
         lambda s: kpi_snapshot(s, month, month_end, now=now, department=department), 1),
        ("this month, source hotline", lambda s: kpi_snapshot(s, month, month_end, now=now, source="hotline"), 1),
        ("this month + previous month (kpi_compare)", lambda s: kpi_compare(s, month, month_end, now=now), 1),
        ("this month, grouped by department (kpi_by)",
         lambda s: kpi_by(s, month, month_end, "department", now=now, all_groups=True), 1),
        ("this month, grouped by grid (kpi_by)", lambda s: kpi_by(s, month, month_end, "grid", now=now), 1),
        ("today, grouped by department (kpi_by)",
         lambda s: kpi_by(s, today, tomorrow, "department", now=now, all_groups=True), 1),
        ("last 365 days, city", lambda s: kpi_snapshot(s, *year, now=now), 3),
        (f"last 365 days, department {department}",
         lambda s: kpi_snapshot(s, *year, now=now, department=department), 3),
        ("last 365 days, grouped by department", lambda s: kpi_by(s, *year, "department", now=now), 3),
    ]


def measure(db: Database, now: datetime, runs: int) -> dict[str, tuple[float, int]]:
    """label → (median ms, incidents in the cohort)."""
    results = {}
    for label, call, divisor in cases(db, now):
        ms, answer = _median_ms(db, call, max(3, runs // divisor))
        if isinstance(answer, list):
            cohort = sum(g["reported"] for g in answer)
        else:
            cohort = answer["current"]["reported"] if "current" in answer else answer["reported"]
        results[label] = (ms, cohort)
        print(f"    {label:<48} {ms:9.1f} ms  ({cohort:,} incidents)", flush=True)
    return results


# --- a whole year (issue 21) ---------------------------------------------------------------------


def _percentiles(db: Database, call: Callable[[Any], Any], runs: int) -> tuple[float, float, Any]:
    """p50 and p95 wall time of ``call(session)`` in ms over ``runs`` runs (after a warm-up), and its answer."""
    times, answer = _timed_ms(db, call, runs)
    p50, p95 = np.percentile(times, [50, 95])
    return float(p50), float(p95), answer


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def measure_year(db: Database, now: datetime, runs: int, head: ModuleType) -> None:
    """Roll the last two years' days, then time the year snapshots before (``head``) and after (rolled)."""
    zone = get_settings().zone
    today = now.astimezone(zone).date()
    month = today.replace(day=1)
    periods = {
        "last 12 full months": (day_start(month.replace(year=month.year - 1)), day_start(month)),
        "this year to date": (day_start(today.replace(month=1, day=1)), day_start(today + timedelta(days=1))),
    }
    began = time.perf_counter()
    with db.uow() as s:
        ready = roll_days(s, today - timedelta(days=365), today - timedelta(days=1), now)
    year_s = time.perf_counter() - began
    began = time.perf_counter()
    with db.uow() as s:
        ready += roll_days(s, today - timedelta(days=DAYS), today - timedelta(days=366), now)
    print(f"    rolled 365 days in {year_s:.2f} s, the {DAYS - 365} before in {time.perf_counter() - began:.2f} s "
          f"({ready} ready; load {_load()})", flush=True)
    for label, (start, end) in periods.items():
        before = _percentiles(db, partial(head.kpi_snapshot, start=start, end=end, now=now), runs)
        raw = _percentiles(db, partial(kpi_snapshot, start=start, end=end, now=now, rollups=False), runs)
        after = _percentiles(db, partial(kpi_snapshot, start=start, end=end, now=now), runs)
        with db.uow() as s:
            gaps = sum((b - a for a, b in kpi_rollup_gaps(s, start, end, now)), timedelta())
        same = after[2] == raw[2]
        as_head = after[2] == before[2]
        print(f"    {label} ({after[2]['reported']:,} incidents; {gaps} of it raw): before p50 {before[0]:.1f} ms "
              f"p95 {before[1]:.1f} ms | raw now p50 {raw[0]:.1f} ms | after p50 {after[0]:.1f} ms "
              f"p95 {after[1]:.1f} ms | same figures as raw: {same}, as before: {as_head} (load {_load()})",
              flush=True)
        if not as_head:
            diff = {k: (before[2][k], after[2][k]) for k in after[2] if before[2].get(k) != after[2][k]}
            print(f"      differs from before in {diff}", flush=True)


def kpi_rollup_gaps(session: Any, start: datetime, end: datetime, now: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) the rolled snapshot still aggregates raw."""
    rolled = kpi._rolled(session, start, end, now)
    return [(start, end)] if rolled is None else list(rolled.gaps)


# --- databases ----------------------------------------------------------------------------------


@contextmanager
def database(backend: str, folder: Path, n: int) -> Iterator[Database]:
    """A fresh, migrated CityOps database on ``backend``, removed afterwards."""
    if backend == "sqlite":
        db = Database(f"sqlite:///{folder / f'kpi-{n}.db'}")
        try:
            db.migrate()
            yield db
        finally:
            db.dispose()
        return
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    db = Database(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{SCHEMA}")
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated incident counts")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--compare-indexes", action="store_true",
                        help="also time the queries without the (scope, reported_at) indexes")
    parser.add_argument("--year", action="store_true",
                        help="time only the whole-year snapshots, before vs after the daily rollups")
    args = parser.parse_args()
    now = datetime.now(UTC)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        head = None
        if args.year:
            from bench_ingest import head_module  # (bench_ingest imports this module through bench_scale)

            head = head_module("dispatch/kpi.py", "kpi_head", Path(tmp))
        for backend in args.backends.split(","):
            for n in (int(r) for r in args.rows.split(",")):
                with database(backend, Path(tmp), n) as db:
                    seconds = load(db, n, now)
                    print(f"{backend}, {n:,} incidents (loaded in {seconds:.0f} s; load {_load()}):", flush=True)
                    if head is not None:
                        measure_year(db, now, args.runs, head)
                        continue
                    measure(db, now, args.runs)
                    if args.compare_indexes:
                        with db.engine.begin() as conn:
                            for index in SCOPE_INDEXES:
                                conn.execute(text(f"DROP INDEX {index}"))
                        print(f"{backend}, {n:,} incidents, without the (scope, reported_at) indexes:", flush=True)
                        measure(db, now, args.runs)


if __name__ == "__main__":
    main()
