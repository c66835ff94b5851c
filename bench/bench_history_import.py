"""Benchmark: importing 100,000 historical incidents (CSV) into a small demo city on SQLite, and the
KPI snapshot over them afterwards.

Prints the median of 3 imports (each into a fresh copy of a scale-0.05 demo city) and of 5 KPI
snapshots over the imported year.

    .venv/bin/python bench/bench_history_import.py [--rows 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.db import Database
from data.demo import seed_demo_city
from dispatch.history_import import COLUMNS, import_incidents
from dispatch.kpi import kpi_snapshot
from settings import get_settings


def write_file(path: Path, rows: int) -> None:
    rng = np.random.default_rng(1)
    zone = get_settings().zone
    start = datetime(2024, 1, 1, tzinfo=zone)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for i in range(rows):
            reported = start + timedelta(minutes=float(rng.uniform(0, 365 * 24 * 60)))
            steps = [reported + timedelta(hours=h) for h in (0.2, 0.5, 5.0, 20.0)]
            out.writerow([f"B-{i:07d}", "S0101", "patrol", reported.isoformat(), *(s.isoformat() for s in steps),
                          (reported + timedelta(hours=4)).isoformat(), (reported + timedelta(hours=24)).isoformat(),
                          f"{117.0 + rng.uniform(0, 0.1):.6f}", f"{36.6 + rng.uniform(0, 0.08):.6f}"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = folder / "city.db"
        city = Database(f"sqlite:///{template}")
        city.migrate()
        seed_demo_city(city, scale=0.05, seed=42)
        city.dispose()
        source = folder / "history.csv"
        write_file(source, args.rows)
        timings, db = [], None
        for run in range(args.runs):
            target = folder / f"run{run}.db"
            shutil.copy(template, target)
            db = Database(f"sqlite:///{target}")
            began = time.perf_counter()
            report = import_incidents(db, source)
            timings.append(time.perf_counter() - began)
            assert report.imported == args.rows, report.lines()[:3]
        zone = get_settings().zone
        kpi_times = []
        with db.uow() as s:
            for _ in range(5):
                began = time.perf_counter()
                kpi = kpi_snapshot(s, datetime(2024, 1, 1, tzinfo=zone), datetime(2025, 1, 1, tzinfo=zone))
                kpi_times.append(time.perf_counter() - began)
        print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
        print(f"import {args.rows} rows: median {statistics.median(timings):.2f} s "
              f"({args.rows / statistics.median(timings):,.0f} rows/s) over {args.runs} runs")
        print(f"KPI snapshot over them: median {statistics.median(kpi_times) * 1000:.0f} ms "
              f"(reported {kpi['reported']}, closed {kpi['closed']})")


if __name__ == "__main__":
    main()
