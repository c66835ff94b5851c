"""Benchmark: the big screen's refresh callbacks and the daily PDF (issue 6) on a city with a history.

The scale-1.0 demo city (118,000 doorplates, 38,165 cameras) on SQLite, with ``--incidents`` incidents
(default 1,000,000) over the two years up to now, bulk-inserted as ``bench_kpi.py`` does. Then, through
the real app (``create_app``, gzip on, signed in as the operator, ``/_dash-update-component``):

- the 5-s live refresh (KPI tiles, live map parts, lists): server time p50/p95 over ``--runs`` calls and
  the bytes on the wire, when nothing changed and right after new incidents;
- the 15-s panels (trends, rankings, AQI, sensors in alarm): the same, first call and then unchanged;
- the daily report as PDF (and XLSX): time of ``reports.archive.report_bytes``.

    .venv/bin/python bench/bench_bigscreen.py [--incidents 1000000] [--runs 40]

``--compare N[,N…]`` (issue 21) measures only the 5-s refresh, **before** (the committed code of the files the
refresh's speed-up changed, ``git show HEAD:…`` over a copy of the working tree) against **after** (the working
tree), each in its own process against the same database, taking turns (the partial indexes of migration 0030
dropped for the before turns, created again for the after turns), at each N; ``--db`` names a PostgreSQL
server (a database ``bench_screen_<N>`` is created there, loaded by ``COPY`` and dropped afterwards), else
SQLite in a temporary folder. Per variant: the refresh when nothing changed, and right after a new incident
(one written before every refresh, not timed): p50/p95 wall and CPU of the server's process.

    .venv/bin/python bench/bench_bigscreen.py --compare 100000,1000000 [--db postgresql://…] [--runs 40]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_kpi import _BULK, _city, copy_rows, incident_rows
from bench_map import Callbacks, _busy_city, _prop, call_load_map, call_refresh

from data.db import Database
from data.demo import seed_demo_city
from data.models import Category, Grid, Incident, utcnow
from layouts import ids
from reports.archive import default_day, report_bytes


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[max(round(0.95 * len(values)) - 1, 0)]
    return f"p50 {statistics.median(values) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def _timed(call, runs: int) -> tuple[list[float], tuple[int, int, dict]]:
    times, last = [], None
    for _ in range(runs):
        began = time.perf_counter()
        last = call()
        times.append(time.perf_counter() - began)
    return times, last


ROOT = Path(__file__).resolve().parents[1]
#: The files of the refresh's speed-up (issue 21): "before" runs them as committed.
CHANGED = ("data/layers.py", "dispatch/screen_tiles.py")


def _load(db: Database, n: int) -> None:
    """The scale-1.0 city and ``n`` incidents over two years (executemany on SQLite, COPY on PostgreSQL)."""
    db.migrate()
    seed_demo_city(db, scale=1.0, seed=42, demo_passwords=True)
    rows = incident_rows(n, utcnow(), _city(db))
    if db.engine.dialect.name == "postgresql":
        copy_rows(db, "incidents", rows)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE incidents"))
    else:
        with db.engine.begin() as conn:
            for chunk in rows:
                conn.execute(insert(_BULK), chunk)


def _before_tree(folder: Path) -> Path:
    """A copy of the working tree with the ``CHANGED`` files as committed (``git show HEAD:…``)."""
    tree = folder / "before"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".venv", ".git", "var", "node_modules", "__pycache__",
                                                              "*.db"))
    for path in CHANGED:
        (tree / path).write_text(subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, check=True,
                                                capture_output=True, text=True).stdout)
    return tree


def _new_incident(db: Database, i: int) -> None:
    """One incident reported now in a grid, dispatched (a change every screen must show at its next refresh)."""
    with db.uow() as s:
        grid = s.execute(select(Grid.id, Grid.minx, Grid.miny).order_by(Grid.id).offset(i % 500).limit(1)).one()
        s.add(Incident(code=f"SCREEN-{os.getpid()}-{i}", state="dispatched", source="operator", title=f"bench {i}",
                       category_code=s.scalars(select(Category.code)).first(), lon=grid.minx, lat=grid.miny,
                       grid_id=grid.id, reported_at=utcnow(), card="none"))


def serve_refresh(url: str, runs: int) -> None:
    """(In a child process, on the code of ``sys.path[0]``.) The refresh's times as JSON on stdout."""
    db = Database(url)
    app = Callbacks(db)
    _, _, answer = call_load_map(app, ["grids", "incidents", "alerts"])
    digest = answer["response"][ids.BIGSCREEN_LIVE_DIGEST]["data"]
    for _ in range(3):
        call_refresh(app, digest)
    result: dict[str, list[float]] = {}
    for case in ("unchanged", "changed"):
        wall, cpu = [], []
        for i in range(runs):
            if case == "changed":
                _new_incident(db, i)
            began, began_cpu = time.perf_counter(), time.process_time()
            call_refresh(app, digest)  # sent twice (plain and gzip'd): the pair, halved
            wall.append((time.perf_counter() - began) * 500)
            cpu.append((time.process_time() - began_cpu) * 500)
        result[case], result[case + "_cpu"] = wall, cpu
    print(json.dumps(result))


#: The partial indexes of the after code (migration 0030): dropped for the before turns (today's schema).
OPEN_INDEXES = [index for index in Incident.__table__.indexes if index.name.startswith("ix_incidents_open_")]


def _open_indexes(url: str, present: bool) -> None:
    """Create (after) or drop (before) the partial indexes of the open incidents."""
    db = Database(url)
    with db.engine.begin() as conn:
        for index in OPEN_INDEXES:
            (index.create if present else index.drop)(conn, checkfirst=True)
        if present and db.engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE incidents"))
    db.dispose()


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(round(q * len(values)) - 1, 0)]


def compare(sizes: list[int], server: str | None, runs: int, rounds: int = 2) -> None:
    """Before vs after, each in its own process on the same database, taking turns, at each size."""
    folder = Path(tempfile.mkdtemp())
    trees = {"before": _before_tree(folder), "after": ROOT}
    for n in sizes:
        admin = None
        if server:
            admin = create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1),
                                  isolation_level="AUTOCOMMIT")
            name = f"bench_screen_{n}"
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
                conn.execute(text(f"CREATE DATABASE {name}"))
            url = server.rsplit("/", 1)[0] + f"/{name}"
        else:
            url = f"sqlite:///{folder / f'screen-{n}.db'}"
        began = time.perf_counter()
        db = Database(url)
        _load(db, n)
        db.dispose()
        print(f"{'PostgreSQL' if server else 'SQLite'}, {n:,} incidents, loaded in {time.perf_counter() - began:.0f} s",
              flush=True)
        times: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
        loads = []
        for _ in range(rounds):
            for variant, tree in trees.items():
                _open_indexes(url, present=variant == "after")
                loads.append(os.getloadavg()[0])
                env = {**os.environ, "CITYOPS_SECRET_KEY": "bench"}
                out = subprocess.run([sys.executable, str(tree / "bench" / Path(__file__).name), "--serve-refresh",
                                      url, "--runs", str(runs // rounds)],
                                     env=env, cwd=tree, capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(f"{variant} failed:\n{out.stderr[-3000:]}")
                out = out.stdout
                for case, values in json.loads(out.splitlines()[-1]).items():
                    times[variant].setdefault(case, []).extend(values)
        for variant, cases in times.items():
            print(f"  {variant:6}: nothing changed p50 {statistics.median(cases['unchanged']):.1f} ms, "
                  f"p95 {_p(cases['unchanged'], 0.95):.1f} ms (CPU p50 {statistics.median(cases['unchanged_cpu']):.1f}"
                  f" ms); after a new incident p50 {statistics.median(cases['changed']):.1f} ms, "
                  f"p95 {_p(cases['changed'], 0.95):.1f} ms (CPU p50 {statistics.median(cases['changed_cpu']):.1f} ms)",
                  flush=True)
        print(f"  load average (1 min) at each turn: {', '.join(f'{x:.1f}' for x in loads)}", flush=True)
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS bench_screen_{n} WITH (FORCE)"))
            admin.dispose()
    shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--compare", help="comma-separated incident counts: the refresh before vs after")
    parser.add_argument("--db", help="a PostgreSQL server URL for --compare (default: SQLite)")
    parser.add_argument("--serve-refresh", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("CITYOPS_SECRET_KEY", "bench")
    if args.serve_refresh:
        serve_refresh(args.serve_refresh, args.runs)
        return
    if args.compare:
        compare([int(n) for n in args.compare.split(",")], args.db, args.runs)
        return

    db = Database(f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}")
    db.migrate()
    began = time.perf_counter()
    seed_demo_city(db, scale=1.0, seed=42, demo_passwords=True)
    now = utcnow()
    with db.engine.begin() as conn:
        for rows in incident_rows(args.incidents, now, _city(db)):
            conn.execute(insert(_BULK), rows)
    print(f"scale-1.0 city + {args.incidents:,} incidents in {time.perf_counter() - began:.0f} s")

    app = Callbacks(db)
    _, _, answer = call_load_map(app, ["grids", "incidents", "alerts"])
    live_digest = answer["response"][ids.BIGSCREEN_LIVE_DIGEST]["data"]

    def refresh() -> tuple[int, int, dict]:
        return call_refresh(app, live_digest)

    panel_digest: dict[str, str] = {}

    def panels() -> tuple[int, int, dict]:
        return app.call(
            "refresh_panels",
            [_prop(ids.BIGSCREEN_TREND_24H, "figure"), _prop(ids.BIGSCREEN_TREND_30D, "figure"),
             _prop(ids.BIGSCREEN_RANK_CATEGORIES, "children"), _prop(ids.BIGSCREEN_RANK_DEPARTMENTS, "children"),
             _prop(ids.BIGSCREEN_AQI, "children"), _prop(ids.BIGSCREEN_AQI_TREND, "figure"),
             _prop(ids.BIGSCREEN_FAMILIES, "children"), _prop(ids.BIGSCREEN_PANEL_DIGEST, "data")],
            [_prop(ids.BIGSCREEN_SLOW_TICK, "n_intervals", 1), _prop(ids.BIGSCREEN_RANK_PERIOD, "value", "month"),
             _prop(ids.BIGSCREEN_SCOPE, "data"), _prop(ids.BIGSCREEN_SCALE, "data", 1.0)],
            [_prop(ids.BIGSCREEN_PANEL_DIGEST, "data", panel_digest)],
        )

    # Each call is sent twice by Callbacks.call (plain and gzip'd): the time is of the pair, halved.
    times, (raw, sent, _) = _timed(refresh, args.runs)
    print(f"live refresh (5 s), nothing changed: {_ms([x / 2 for x in times])}; {raw / 1e3:.1f} kB raw, "
          f"{sent / 1e3:.1f} kB on the wire")
    raw, sent, answer = panels()
    print(f"panels (15 s), first call: {raw / 1e3:.1f} kB raw, {sent / 1e3:.1f} kB on the wire")
    panel_digest.update(answer["response"][ids.BIGSCREEN_PANEL_DIGEST]["data"])
    times, (raw, sent, _) = _timed(panels, args.runs)
    print(f"panels (15 s), unchanged: {_ms([x / 2 for x in times])}; {raw / 1e3:.1f} kB raw, "
          f"{sent / 1e3:.1f} kB on the wire")
    _busy_city(db)
    raw, sent, _ = refresh()
    print(f"live refresh after 200 new incidents and 60 alerts: {raw / 1e3:.1f} kB raw, "
          f"{sent / 1e3:.1f} kB on the wire")
    times, _ = _timed(refresh, args.runs)
    print(f"live refresh, busy city: {_ms([x / 2 for x in times])}")

    day = default_day("daily", now + timedelta(hours=8))
    for fmt in ("pdf", "xlsx"):
        began = time.perf_counter()
        data = report_bytes(db, "daily", day, fmt)
        print(f"daily report {day} as {fmt}: {time.perf_counter() - began:.2f} s, {len(data) / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
