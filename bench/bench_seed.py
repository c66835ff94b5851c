"""Benchmark: seeding the demo city on SQLite, its year of history, the first start, and locating points
with the grid index.

Prints the median of 3 seeds at scale 1.0 (each into a fresh, migrated SQLite file) and at 0.1; then
the city with its 365 days of history as ``python app.py seed`` writes it (``dispatch.demo_history.seed_demo``,
median of 3, and once on PostgreSQL with ``--pg``); then the first start: ``python app.py serve`` on a
missing SQLite file, from launching the process until ``/healthz`` answers ok (it migrates, seeds the city
and its year, starts the scheduler; median of 3); then the grid index's throughput on the scale-1.0 city's
grids (300,000 random points, median of 5).

    .venv/bin/python bench/bench_seed.py [--runs 3] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.db import Database
from data.demo import seed_demo_city
from data.models import Grid
from dispatch.demo_history import DEFAULT_DAYS, seed_demo
from geo.grid_index import GridIndex
from tests import stack

ROOT = Path(__file__).resolve().parents[1]
FIRST_START_LIMIT = 300.0


def seed_once(folder: Path, scale: float, run: int) -> tuple[float, dict[str, int], Database]:
    db = Database(f"sqlite:///{folder / f'seed_{scale}_{run}.db'}")
    db.migrate()
    start = time.perf_counter()
    counts = seed_demo_city(db, scale=scale, seed=42)
    return time.perf_counter() - start, counts, db


def seed_with_history(url: str) -> tuple[float, int]:
    """Seconds for ``seed_demo`` (scale 1.0 and DEFAULT_DAYS of history) into the empty database at ``url``."""
    db = Database(url)
    db.migrate()
    start = time.perf_counter()
    counts = seed_demo(db, scale=1.0, seed=42, demo_passwords=False, history_days=DEFAULT_DAYS)
    seconds = time.perf_counter() - start
    db.dispose()
    return seconds, counts["incidents"]


def first_start(folder: Path, run: int) -> float:
    """Seconds from launching ``python app.py serve`` on a missing SQLite file until /healthz answers ok."""
    port = stack.free_port()
    env = {**os.environ, "CITYOPS_DATABASE_URL": f"sqlite:///{folder / f'first_{run}.db'}", "CITYOPS_DEMO": "1"}
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "app.py", "serve", "--port", str(port)], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not stack.wait_for(lambda: (stack.healthz(f"http://127.0.0.1:{port}") or {}).get("status") == "ok",
                              timeout=FIRST_START_LIMIT, step=0.2):
            raise SystemExit(f"the server did not answer /healthz within {FIRST_START_LIMIT:.0f} s")
        return time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)


def bench_index(db: Database, points: int = 300_000, runs: int = 5) -> tuple[int, float]:
    with db.uow() as s:
        rows = s.execute(select(Grid.id, Grid.geom)).all()
    index = GridIndex([r.id for r in rows], shapely.from_wkb([r.geom for r in rows]))
    minx, miny, maxx, maxy = shapely.total_bounds(index.polygons)
    rng = np.random.default_rng(0)
    lons, lats = rng.uniform(minx, maxx, points), rng.uniform(miny, maxy, points)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        index.locate(lons, lats)
        times.append(time.perf_counter() - start)
    return len(rows), points / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", help="a PostgreSQL server URL: also seed once into a fresh database there")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, SQLite, {args.runs} runs each")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        last_db = None
        for scale in (1.0, 0.1):
            times = []
            for run in range(args.runs):
                seconds, counts, db = seed_once(folder, scale, run)
                times.append(seconds)
                if scale == 1.0 and last_db is None:
                    last_db = db
                else:
                    db.dispose()
            print(
                f"scale {scale}: median {statistics.median(times):.2f} s "
                f"(min {min(times):.2f}, max {max(times):.2f}); "
                + ", ".join(f"{k} {v}" for k, v in counts.items())
            )
        assert last_db is not None
        history = [seed_with_history(f"sqlite:///{folder / f'history_{run}.db'}") for run in range(args.runs)]
        times = [seconds for seconds, _ in history]
        print(f"scale 1.0 with {DEFAULT_DAYS} days of history (seed_demo): median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}); {history[0][1]} incidents")
        if args.pg:
            with stack.fresh_database(args.pg, "cityops_bench_seed") as url:
                seconds, incidents = seed_with_history(url)
            print(f"the same on PostgreSQL (one run): {seconds:.2f} s; {incidents} incidents")
        starts = [first_start(folder, run) for run in range(args.runs)]
        print(f"first start (app.py serve on a missing SQLite file → /healthz ok): median "
              f"{statistics.median(starts):.2f} s (min {min(starts):.2f}, max {max(starts):.2f})")
        grids, rate = bench_index(last_db)
        last_db.dispose()
        print(f"grid index: {rate:,.0f} points/s over {grids} grids (300,000 random points, median of 5)")


if __name__ == "__main__":
    main()
