"""Benchmark: what the hotline figures (issue 20, ``kpi_snapshot(...)["hotline"]``) add to a KPI snapshot.

On an existing CityOps database (e.g. the demo city with a year of history: ``python app.py seed
--history-days 365``), the median time of the snapshot's aggregate query without and with the hotline
columns (the repeat-call EXISTS included), of the working-day mean alone, and of whole snapshots over the
last 30 and 365 days. ``--phones`` first gives the hotline orders of a copy of the database random
callers and addresses (2,000 phones, 3,000 addresses: the demo history has neither, so no repeat call
would ever be searched for).

    .venv/bin/python bench/bench_hotline.py [--db var/cityops.db] [--runs 7] [--phones]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from data.db import Database
from data.models import Incident
from dispatch import kpi
from settings import get_settings


def median_ms(database: Database, work: Callable, runs: int) -> float:
    times = []
    for _ in range(runs):
        with database.uow() as session:
            started = time.perf_counter()
            work(session)
            times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="var/cityops.db", help="a SQLite database file")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--phones", action="store_true", help="random callers and addresses on a copy")
    args = parser.parse_args()
    path = Path(args.db)
    if args.phones:
        path = Path(tempfile.mkdtemp()) / "hotline.db"
        shutil.copy(args.db, path)
        with sqlite3.connect(path) as connection:
            connection.execute("UPDATE incidents SET caller_phone = '138' || (abs(random()) % 2000), "
                               "address = 'addr ' || (abs(random()) % 3000) WHERE source = 'hotline'")
    database = Database(f"sqlite:///{path}")
    now = datetime.now(get_settings().zone)
    with database.uow() as session:
        total = session.scalar(select(func.count(Incident.id)))
        calls = session.scalar(select(func.count(Incident.id)).where(Incident.source == "hotline"))
    print(f"{total} incidents, {calls} hotline orders; median of {args.runs} runs")
    for days in (30, 365):
        start = now - timedelta(days=days)

        def aggregate(session, hotline: bool, start=start):
            scope = kpi._resolve(session, {})
            columns = kpi._measures(session, now, now) + (kpi._hotline_measures(session, now, now) if hotline else [])
            session.execute(select(*columns).where(*kpi._cohort(start, now, scope))).one()

        def workdays(session, start=start):
            kpi._mean_handle_workdays(session, start, now, now, kpi._resolve(session, {}))

        print(f"last {days} days: aggregate {median_ms(database, lambda s: aggregate(s, False), args.runs)} ms, "
              f"with hotline columns {median_ms(database, lambda s: aggregate(s, True), args.runs)} ms, "
              f"working-day mean {median_ms(database, workdays, args.runs)} ms, whole snapshot "
              f"{median_ms(database, lambda s, start=start: kpi.kpi_snapshot(s, start, now, now=now), args.runs)} ms")


if __name__ == "__main__":
    main()
