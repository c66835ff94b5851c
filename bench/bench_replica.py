"""Benchmark: the big screen's 5-s refresh with its reads on the primary vs on the streaming replica (issue 21).

A fresh PostgreSQL database on ``CITYOPS_TEST_PG``'s cluster (the demo city at ``--scale``), ``--incidents``
incidents bulk-inserted as ``bench_kpi.py`` does, first N/10 then N; the replica of the cluster
(``scripts/replica``, ``CITYOPS_TEST_REPLICA``) replays them. Then, through the real app (``create_app``,
signed in as the operator, ``/_dash-update-component``), the live refresh's server time p50/p95 over
``--runs`` calls, alternating an app reading the primary and one reading the replica. Also: the largest
replica lag (``Database.replica_lag``) seen while the bulk insert runs, and how long the replica takes to
have replayed it all once the insert commits.

Both servers share this machine's two cores, so the replica takes load off the primary's connections and
buffers but no CPU: the figures say that reads there cost about the same, not that they scale.

    .venv/bin/python bench/bench_replica.py [--scale 0.2] [--incidents 100000] [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_kpi import _BULK, _city, incident_rows
from bench_map import Callbacks, call_load_map, call_refresh

from data.db import Database
from data.demo import seed_demo_city
from data.models import utcnow
from layouts import ids
from tests import stack
from tests.dash_apps import share_callbacks

REPLICA_URL = os.environ.get("CITYOPS_TEST_REPLICA", "postgresql://postgres@127.0.0.1:5433/test")


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(round(q * len(values)) - 1, 0)] * 1000


def _caught_up(primary: Database, replica: Database) -> float:
    """Seconds until the replica has replayed everything the primary has written so far."""
    began = time.perf_counter()
    with primary.engine.connect() as conn:
        lsn = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()
    query = text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)")
    while True:
        with replica.read_engine.connect() as conn:
            if conn.execute(query, {"lsn": lsn}).scalar_one():
                return time.perf_counter() - began
        time.sleep(0.05)


def _insert(db: Database, n: int, replica: Database, prefix: str) -> tuple[float, float, float]:
    """Bulk-insert ``n`` incidents (codes starting ``prefix``); (seconds, the largest lag seen meanwhile,
    seconds until the replica has replayed them all after the commit)."""
    worst, done = [0.0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            replica._lag = None  # measure afresh each time
            worst[0] = max(worst[0], replica.replica_lag() or 0.0)
            time.sleep(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    began = time.perf_counter()
    with db.engine.begin() as conn:
        for rows in incident_rows(n, utcnow(), _city(db), seed=n):
            conn.execute(insert(_BULK), [{**row, "code": f"{prefix}{row['code']}"} for row in rows])
    took = time.perf_counter() - began
    catch_up = _caught_up(db, replica)
    done.set()
    watcher.join()
    return took, worst[0], catch_up


def _refresh_times(apps: dict[str, Callbacks], runs: int) -> dict[str, list[float]]:
    digests = {}
    for name, app in apps.items():
        _, _, answer = call_load_map(app, ["grids", "incidents", "alerts"])
        digests[name] = answer["response"][ids.BIGSCREEN_LIVE_DIGEST]["data"]
        call_refresh(app, digests[name])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(runs):
        for name, app in apps.items():  # alternate, so both see the same machine load
            began = time.perf_counter()
            call_refresh(app, digests[name])
            times[name].append((time.perf_counter() - began) / 2)  # Callbacks.call sends each request twice
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("CITYOPS_SECRET_KEY", "bench")
    replica_at = make_url(REPLICA_URL)
    with stack.fresh_database(stack.PG_URL, "cityops_bench_replica") as url:
        read_url = make_url(url).set(host=replica_at.host, port=replica_at.port).render_as_string(False)
        primary, replicated = Database(url), Database(url, read_url)
        primary.migrate()
        began = time.perf_counter()
        seed_demo_city(primary, scale=args.scale, seed=42, demo_passwords=True)
        print(f"scale-{args.scale} city seeded in {time.perf_counter() - began:.0f} s; "
              f"replica caught up {_caught_up(primary, replicated):.2f} s later")
        share_callbacks()  # two apps in this process: each gets every callback
        apps = {"primary": Callbacks(primary), "replica": Callbacks(replicated)}
        total = 0
        for step, n in enumerate((args.incidents // 10, args.incidents - args.incidents // 10)):
            took, worst, catch_up = _insert(primary, n, replicated, f"R{step}")
            total += n
            print(f"+{n:,} incidents in {took:.1f} s: largest replica lag meanwhile {worst:.1f} s, "
                  f"replayed all {catch_up:.2f} s after the commit")
            times = _refresh_times(apps, args.runs)
            for name, values in times.items():
                print(f"  {total:,} incidents, live refresh reading the {name}: "
                      f"p50 {statistics.median(values) * 1000:.1f} ms, p95 {_p(values, 0.95):.1f} ms")
        for db in (primary, replicated):
            db.dispose()


if __name__ == "__main__":
    main()
