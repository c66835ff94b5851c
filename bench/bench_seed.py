"""Benchmark: seeding the demo city on SQLite, and locating points with the grid index.

Prints the median of 3 seeds at scale 1.0 (each into a fresh, migrated SQLite file) and at 0.1, then
the grid index's throughput on the scale-1.0 city's grids (300,000 random points, median of 5).

    .venv/bin/python bench/bench_seed.py [--runs 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
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
from geo.grid_index import GridIndex


def seed_once(folder: Path, scale: float, run: int) -> tuple[float, dict[str, int], Database]:
    db = Database(f"sqlite:///{folder / f'seed_{scale}_{run}.db'}")
    db.migrate()
    start = time.perf_counter()
    counts = seed_demo_city(db, scale=scale, seed=42)
    return time.perf_counter() - start, counts, db


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
        grids, rate = bench_index(last_db)
        last_db.dispose()
        print(f"grid index: {rate:,.0f} points/s over {grids} grids (300,000 random points, median of 5)")


if __name__ == "__main__":
    main()
