"""Benchmark: the nearest resources of a kind (``dispatch.emergency.nearest_resources``, issue 18 §4) — the
portable growing box and, on PostgreSQL with PostGIS, the KNN search on the GiST index of migration 0026.

``--resources`` resources (default 100,000, and a tenth of that for the growth) scattered over a 60 × 60 km
city, a quarter of each of the four kinds, two thirds available; ``--queries`` random points in the city, and
as many 150–300 km outside it (a resource looked for from afar: the box grows several times), the 5 nearest
available rescue teams from each. Measured per database and size: the median and the 95th percentile
of one query (server time, in-process), and whether the KNN answer equals the box's on every query.

Run: ``.venv/bin/python bench/bench_nearest_resources.py [--pg postgresql://postgres@127.0.0.1:5432/test]``
(the PostgreSQL database must have PostGIS; the bench works in a schema of its own and drops it).
Figures in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, select, text

from data.db import Database
from data.models import Resource
from dispatch import emergency

KINDS = ("rescue_team", "equipment", "supplies", "shelter")
CENTRE = (117.0, 36.6)
SPAN = 0.33  # degrees each side: about 60 km across


def fill(db: Database, count: int, rng: random.Random) -> None:
    rows = [{"code": f"B-{i:06d}", "name": f"r{i}", "kind": KINDS[i % 4], "capacity": 1,
             "status": "available" if i % 3 else "deployed",
             "lon": CENTRE[0] + rng.uniform(-SPAN, SPAN), "lat": CENTRE[1] + rng.uniform(-SPAN, SPAN)}
            for i in range(count)]
    with db.uow() as session:
        session.execute(insert(Resource), rows)
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE resources"))


def measure(db: Database, search, points: list[tuple[float, float]]) -> tuple[list[float], list[list[str]]]:
    base = select(Resource).where(Resource.kind == "rescue_team", Resource.status == "available")
    times, answers = [], []
    with db.uow() as session:
        for lon, lat in points:
            start = time.perf_counter()
            found = search(session, base, lon, lat, 5)
            times.append((time.perf_counter() - start) * 1000)
            answers.append([near.resource.code for near in found])
    return times, answers


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    return f"{statistics.median(ordered):.2f} ms (p95 {ordered[int(len(ordered) * 0.95) - 1]:.2f})"


def _far(rng: random.Random) -> tuple[float, float]:
    angle, reach = rng.uniform(0, 6.283), rng.uniform(1.4, 2.8)  # degrees: about 150–300 km
    return CENTRE[0] + reach * math.cos(angle), CENTRE[1] + reach * math.sin(angle)


def run(db: Database, label: str, count: int, queries: int) -> None:
    rng = random.Random(18)
    fill(db, count, rng)
    with db.uow() as session:
        knn = emergency.knn_available(session)
    for where, points in (
        ("in the city", [(CENTRE[0] + rng.uniform(-SPAN, SPAN), CENTRE[1] + rng.uniform(-SPAN, SPAN))
                         for _ in range(queries)]),
        ("150–300 km out", [_far(rng) for _ in range(queries)]),
    ):
        box_times, box_answers = measure(db, emergency._nearest_by_box, points)
        line = f"| {label} | {count:,} | {where} | box {summary(box_times)}"
        if knn:
            knn_times, knn_answers = measure(db, emergency._nearest_by_knn, points)
            line += f" | KNN {summary(knn_times)} | same answer: {knn_answers == box_answers}"
        print(line + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pg", help="a PostgreSQL URL with PostGIS (a schema of its own is made and dropped)")
    args = parser.parse_args()
    for count in (args.resources // 10, args.resources):
        with tempfile.TemporaryDirectory() as folder:
            db = Database(f"sqlite:///{folder}/bench.db")
            db.migrate()
            run(db, "SQLite", count, args.queries)
            db.dispose()
        if args.pg:
            url = args.pg.replace("postgresql://", "postgresql+psycopg://", 1)
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(url)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                db = Database(f"{url}?options=-csearch_path%3D{schema}%2Cpublic")
                db.migrate()
                run(db, "PostgreSQL + PostGIS", count, args.queries)
                db.dispose()
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
