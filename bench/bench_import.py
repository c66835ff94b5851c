"""Benchmark of the importers' hot path (issue 16): N doorplates from a Shapefile in CGCS2000 (EPSG:4490)
imported cold into a city (the example pack plus 900 unit grids), then re-imported unchanged, at N/10 and N
(N = 118,000, the doorplates of the seeds' city). Target: ≤ 30 s each. Prints one line per run.

    .venv/bin/python bench/bench_import.py [--n 118000] [--database-url postgresql://…]

Without ``--database-url`` each run uses a fresh SQLite file in a temporary folder; with it (PostgreSQL),
its ``public`` schema is dropped and made again for each run: give it a database of its own.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import box

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.db import Database  # noqa: E402
from data.importers import import_file  # noqa: E402
from dispatch.city_pack import import_pack  # noqa: E402

_spec = importlib.util.spec_from_file_location("make_pack", ROOT / "examples" / "make_pack.py")
make_pack = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_pack)

#: Each community of the example city cut into 10 × 30 unit grids.
COLUMNS, ROWS = 10, 30


def grids_file(folder: Path) -> Path:
    """900 unit grids tiling the example city's communities, in CGCS2000."""
    codes, communities, geoms = [], [], []
    for code, _, level, _, (west, south, east, north) in make_pack.AREAS:
        if level != "community":
            continue
        dx, dy = (east - west) / COLUMNS, (north - south) / ROWS
        for i in range(COLUMNS):
            for j in range(ROWS):
                codes.append(f"B{len(codes):04d}")
                communities.append(code)
                geoms.append(box(west + i * dx, south + j * dy, west + (i + 1) * dx, south + (j + 1) * dy))
    path = folder / "bench_grids.gpkg"
    gpd.GeoDataFrame({"code": codes, "community": communities}, geometry=geoms, crs="EPSG:4490").to_file(path)
    return path


def doorplates_file(folder: Path, n: int, seed: int = 16) -> Path:
    """``n`` doorplates at random inside the example city, as a Shapefile in CGCS2000."""
    rng = np.random.default_rng(seed)
    west, south, east, north = make_pack.AREAS[0][-1]
    lon = rng.uniform(west + 0.003, east - 0.003, n)
    lat = rng.uniform(south + 0.003, north - 0.003, n)
    frame = gpd.GeoDataFrame(
        {"code": [f"MP{i:07d}" for i in range(n)],
         "address": [f"临溪市某路{i % 997 + 1}号{i // 997 + 1}栋" for i in range(n)],
         "households": rng.integers(0, 60, n), "merchants": rng.integers(0, 5, n)},
        geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4490")
    path = folder / f"doorplates_{n}.shp"
    frame.to_file(path, engine="pyogrio")
    return path


def fresh(url: str | None, folder: Path) -> Database:
    db = Database(url or f"sqlite:///{folder / 'bench.db'}")
    if url:  # a database of its own: everything in it goes
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    db.migrate()
    return db


def run(n: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = fresh(url, folder)
        pack = make_pack.make_pack(folder / "linxi")
        import_pack(db, pack)
        import_file(db, "grids", grids_file(folder))
        shapefile = doorplates_file(folder, n)
        for label in ("cold", "re-import (unchanged)"):
            started = time.perf_counter()
            report = import_file(db, "doorplates", shapefile)
            elapsed = time.perf_counter() - started
            print(f"{db.engine.dialect.name:10s} n={n:>7,d} {label:22s} {elapsed:6.2f} s  "
                  f"({n / elapsed:,.0f} rows/s; added {report.added:,d}, unchanged {report.unchanged:,d}, "
                  f"rejected {len(report.rejected)})", flush=True)
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=118_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    for n in (args.n // 10, args.n):
        run(n, args.database_url)


if __name__ == "__main__":
    main()
