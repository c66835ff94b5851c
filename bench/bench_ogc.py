"""Benchmark of OGC API – Features (/ogc) at the demo city's full scale (118,000 doorplates).

Prints:
1. the time GDAL's OAPIF driver (pyogrio, in a child process) takes to read every doorplate from the real
   app served over HTTP (werkzeug ``make_server`` in a thread), at PAGE_SIZE 1,000 and 10,000 (median of
   ``--runs``), checked against the database's count;
2. the server time of one page of 1,000 near the end of the collection: by ``offset`` alone and by the
   ``next`` link's keyset (``after``), median of 20 — why the ``next`` links carry ``after``.

    .venv/bin/python bench/bench_ogc.py [--runs 3] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.db import Database
from data.demo import seed_demo_city
from data.models import Doorplate
from tests.ogc_client import city_server, read_collection, token_of


@contextmanager
def full_city(pg: str | None) -> Iterator[Database]:
    """The scale-1.0 demo city on a fresh SQLite file, or a fresh PostgreSQL database on ``pg``'s server."""
    if pg:
        from tests.stack import fresh_database

        with fresh_database(pg, "cityops_bench_ogc") as url:
            db = Database(url)
            db.migrate()
            seed_demo_city(db, scale=1.0, seed=42, demo_passwords=False)
            yield db
            db.dispose()
        return
    db = Database(f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}")
    db.migrate()
    seed_demo_city(db, scale=1.0, seed=42, demo_passwords=False)
    yield db
    db.dispose()


def page_times(base: str, token: str, total: int, runs: int = 20) -> tuple[float, float]:
    """Median seconds of the page of 1,000 at offset ``total - 1000``: by offset, and by keyset."""
    import requests

    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}/ogc/collections/doorplates/items"
    offset = total - 1000
    before = requests.get(url, params={"limit": 1, "offset": offset - 1}, headers=headers, timeout=60).json()
    after = before["features"][0]["id"]
    timings = []
    for params in ({"limit": 1000, "offset": offset}, {"limit": 1000, "offset": offset, "after": after}):
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            answer = requests.get(url, params=params, headers=headers, timeout=60)
            seconds.append(time.perf_counter() - started)
            assert answer.status_code == 200 and answer.json()["numberReturned"] == 1000
        timings.append(statistics.median(seconds))
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", help="a PostgreSQL server URL (a fresh database is made on it)")
    args = parser.parse_args()
    with full_city(args.pg) as db:
        with db.uow() as s:
            total = s.scalar(select(func.count()).select_from(Doorplate))
        token = token_of(db, "operator")
        print(f"{'PostgreSQL' if args.pg else 'SQLite'}: {total:,} doorplates")
        with city_server(db) as base:
            for page_size in (1000, 10_000):
                reads = [read_collection(base, "doorplates", token, page_size=page_size) for _ in range(args.runs)]
                assert all(r.count == total for r in reads), [r.count for r in reads]
                seconds = sorted(r.seconds for r in reads)
                spread = f"{seconds[0]:.2f}–{seconds[-1]:.2f} s, {args.runs} runs"
                print(f"GDAL OAPIF read of all doorplates, PAGE_SIZE={page_size}: "
                      f"median {statistics.median(seconds):.2f} s ({spread})")
            by_offset, by_key = page_times(base, token, total)
            print(f"one page of 1,000 at offset {total - 1000:,}: by offset {by_offset * 1000:.0f} ms, "
                  f"by keyset (next link) {by_key * 1000:.0f} ms (median of 20)")


if __name__ == "__main__":
    main()
