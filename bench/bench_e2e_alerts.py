"""Benchmark: reading → alert stored, end to end, sustained, on PostgreSQL (issue 21).

A fresh PostgreSQL database per variant with ``--sensors`` sensors of every simulated kind, the shipped rules
and ``--preload`` readings per sensor of history (bulk COPY, not measured). Then, for ``--seconds``:

* ``INGESTERS`` processes call ``alerts.ingest.ingest_readings`` (as ``POST /api/v1/readings`` does) in
  batches of 500, paced to ``--rate`` readings/s in total: every sensor reports once per
  ``sensors / rate`` seconds, ``ts`` the time it is due (so ``ts`` is the wall clock when sent). Values
  follow the simulator's profiles; a rotating 0.05 % of the sensors sits at its kind's plausible maximum
  for 20 readings at a time, so rules fire and resolve all the time;
* one evaluator process runs ``evaluate_pending`` in its own unit of work, again and again (at most every
  ``--every`` seconds, as the scheduler's evaluate job), like ``python app.py worker``.

Figures: readings ingested and evaluated per second (sustained: over the whole run, and the evaluator's
backlog at the end), the lag of every reading from its ``received_at`` to the commit of the evaluation that
judged it (every alert a reading causes is stored in that commit), and the lag of every alert that fired
from the ``ts`` of its reading to that commit — p50/p95/max. The lags are read by the evaluator process after
each commit (one aggregate over the readings just judged), outside the timed evaluation.

"before" is today's committed engine and evaluator (``git show HEAD:alerts/engine.py`` and
``HEAD:alerts/evaluator.py``, imported from a temporary folder; the evaluator put in place of
``alerts.evaluator`` before anything imports it) rebuilding its state every run, as committed; "after" the
working tree's, with the worker's ``EngineMemory`` kept from run to run as ``python app.py worker`` keeps it.
``--before REF`` takes "before" from another commit than HEAD (e.g. the one before a change was committed).

    .venv/bin/python bench/bench_e2e_alerts.py [--variants before,after] [--rate 20000] [--sensors 100000]
        [--seconds 120] [--every 1] [--preload 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import math
import multiprocessing as mp
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_scale import percentile, vacuum_analyze
from sqlalchemy import func, select, text

from alerts.engine import CURSOR_KEY
from alerts.rules_loader import sync_rule_files
from alerts.simulator import PROFILES
from data.catalog import load_catalog
from data.db import Database
from data.models import Alert, JobState, Reading, Sensor
from data.partitions import days_between, ensure_partitions, is_partitioned
from tests.stack import PG_URL
from tests.stack import fresh_database as pg_database

ROOT = Path(__file__).resolve().parents[1]
INGESTERS = 2
BATCH = 500
#: One sensor in EPISODE_EVERY is at its kind's maximum for EPISODE_LEN readings in a row, in turn.
EPISODE_EVERY = 2000
EPISODE_LEN = 20


def add_sensors(db: Database, count: int) -> list[tuple[str, str, None]]:
    kinds = sorted(PROFILES)
    sensors = [(f"E-{i:07d}", kinds[i % len(kinds)], None) for i in range(count)]
    with db.uow() as s:
        load_catalog(s)
        sync_rule_files(s)
    raw = db.engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy("COPY sensors (id, kind, family, name, unit, lon, lat, status, tags) "
                                           "FROM STDIN") as copy:
            for sensor_id, kind, _ in sensors:
                copy.write_row((sensor_id, kind, "bench", kind, PROFILES[kind].unit, 117.0, 36.6, "online", "[]"))
        raw.commit()
    finally:
        raw.close()
    return sensors


def value_of(kind: str, index: int, step: int) -> float:
    """Reading ``step`` of sensor ``index`` (of kind ``kind``): the kind's level ± one noise σ by sensor, or its
    plausible maximum (4 × its level when unbounded) while the sensor's turn of a breach lasts."""
    profile = PROFILES[kind]
    if (index + step // EPISODE_LEN) % EPISODE_EVERY == 0:
        return profile.high if math.isfinite(profile.high) else 4 * profile.base
    return profile.base + (index % 3 - 1) * profile.noise


def preload(db: Database, sensors: list[tuple[str, str, None]], start: float, interval_s: float, steps: int) -> None:
    """``steps`` readings per sensor before wall time ``start`` (the same values as the stream), bulk-copied;
    the sensors' last values and the engine's cursor after them, as ``bench_scale.load_readings`` leaves them."""
    first = datetime.fromtimestamp(start - steps * interval_s, UTC).replace(tzinfo=None)
    with db.uow() as s:
        if is_partitioned(s):
            ensure_partitions(s, days_between(first, datetime.fromtimestamp(start + 86_400, UTC).replace(tzinfo=None)))
    raw = db.engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy("COPY readings (sensor_id, ts, value, received_at) FROM STDIN") as copy:
            for step in range(-steps, 0):
                for index, (sensor_id, kind, _) in enumerate(sensors):
                    at = datetime.fromtimestamp(start + step * interval_s + index * interval_s / len(sensors), UTC)
                    copy.write_row((sensor_id, at, value_of(kind, index, step), at))
        raw.commit()
    finally:
        raw.close()
    vacuum_analyze(db, "readings")
    with db.uow() as s:
        s.execute(text("UPDATE sensors SET last_ts = r.ts, last_value = r.value FROM (SELECT DISTINCT ON (sensor_id)"
                       " sensor_id, ts, value FROM readings ORDER BY sensor_id, ts DESC) r"
                       " WHERE r.sensor_id = sensors.id"))
        s.merge(JobState(key=CURSOR_KEY, value={"reading_id": int(s.scalar(select(func.max(Reading.id))) or 0)}))


def _started(db: Database, ready: object, clock: object, seconds: float) -> tuple[float, float]:
    """Once this process is ready (imports done, connected), wait for the common start: (start, stop) wall times."""
    with db.uow() as s:
        s.execute(text("SELECT 1"))
    ready.put(os.getpid())
    while not clock.value:
        time.sleep(0.01)
    return clock.value, clock.value + seconds


def _ingest(url: str, sensors: list[tuple[int, str, str]], clock: object, seconds: float, interval_s: float,
            counter: object, cpu: object, ready: object) -> None:
    """One ingesting process: its share of the sensors ((index, id, kind)), each once per ``interval_s`` from
    the start on, in batches of ``BATCH``, each sent when its last reading is due."""
    from alerts.ingest import ingest_readings

    db = Database(url)
    start, stop_at = _started(db, ready, clock, seconds)
    cpu_start = time.process_time()
    total = len(sensors) * INGESTERS
    step = k = 0  # k: the next sensor of this step
    while True:
        last = min(len(sensors), k + BATCH) - 1
        due = start + step * interval_s + sensors[last][0] * interval_s / total
        if start + step * interval_s + sensors[k][0] * interval_s / total >= stop_at:
            break
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        rows = [{"sensor_id": sensor_id, "value": value_of(kind, index, step),
                 "ts": datetime.fromtimestamp(start + step * interval_s + index * interval_s / total, UTC)}
                for index, sensor_id, kind in sensors[k:last + 1]]
        with db.uow() as s:
            result = ingest_readings(s, rows)
        with counter.get_lock():
            counter.value += result.accepted
        k = last + 1
        if k >= len(sensors):
            step, k = step + 1, 0
    with cpu.get_lock():
        cpu.value += time.process_time() - cpu_start
    db.dispose()


def _head_module(name: str, path: str) -> ModuleType:
    """The committed module ``name`` from the file ``path``, registered under that name."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _evaluate(url: str, head: tuple[str, str] | None, clock: object, seconds: float, every: float, out: object,
              profile: bool, ready: object) -> None:
    """The evaluator process: ``evaluate_pending`` again and again until every reading before ``stop_at``
    is judged; sends (per run: seconds, readings, fired) and the lag histograms back on ``out``. ``head``: the
    committed engine and evaluator files ("before"); None: the working tree's, with the worker's memory."""
    if head:  # before anything imports the working tree's evaluator
        _head_module("alerts.evaluator", head[1])
    from app import wire

    wire()
    memory = None
    if head:
        engine = _head_module("engine_head", head[0])
        run = engine.evaluate_pending
    else:
        from alerts import engine

        memory = engine.EngineMemory()

        def run(session: object) -> dict:
            return engine.evaluate_pending(session, memory=memory)
    db = Database(url)
    start, stop_at = _started(db, ready, clock, seconds)
    cpu_start = time.process_time()
    with db.uow() as s:
        cursor = int(s.execute(text("SELECT (value->>'reading_id')::bigint FROM job_state WHERE key = :k"),
                               {"k": engine.CURSOR_KEY}).scalar() or 0)
    runs, reading_lags, alert_lags = [], [], []
    seen_alerts: set[int] = set()
    profiler = cProfile.Profile() if profile else None
    idle_after_stop = 0
    while True:
        began = time.time()
        if profiler:
            profiler.enable()
        with db.uow() as s:
            counts = run(s)
        if profiler:
            profiler.disable()
        committed = time.time()
        runs.append((committed - began, counts["readings"], counts.get("fired", 0)))
        if profile:
            print(f"    run at {began - start:6.1f} s: {committed - began:5.2f} s, {counts['readings']:,} readings",
                  flush=True)
        if counts["readings"]:
            with db.uow() as s:  # the lags of what was just judged: not part of the timed run
                for bucket, count in s.execute(text(
                    "SELECT floor(extract(epoch FROM received_at) * 10), count(*) FROM readings "
                    "WHERE id > :a AND id <= :b GROUP BY 1"), {"a": cursor, "b": counts["cursor"]}):
                    reading_lags.append((committed - float(bucket) / 10, int(count)))
                for alert_id, fired_at in s.execute(select(Alert.id, Alert.fired_at).where(
                        Alert.fired_at >= datetime.fromtimestamp(began - 120, UTC))):
                    if alert_id not in seen_alerts:
                        seen_alerts.add(alert_id)
                        alert_lags.append(committed - fired_at.timestamp())
            cursor = counts["cursor"]
        if time.time() > stop_at + 1:
            idle_after_stop += counts["readings"] == 0
            if idle_after_stop >= 1 or time.time() > stop_at + 120:
                break
        pause = every - (time.time() - began)
        if pause > 0:
            time.sleep(pause)
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(40)
    kept = (memory.reused, memory.rebuilt) if memory is not None else None
    out.put((runs, reading_lags, alert_lags, time.process_time() - cpu_start, kept))
    db.dispose()


def weighted_percentile(pairs: list[tuple[float, int]], q: float) -> float:
    """The q-th percentile (0–100) of values given as (value, weight) pairs."""
    if not pairs:
        return float("nan")
    ordered = sorted(pairs)
    total = sum(weight for _, weight in ordered)
    rank, seen = q / 100 * total, 0
    for value, weight in ordered:
        seen += weight
        if seen >= rank:
            return value
    return ordered[-1][0]


@contextmanager
def fresh_database(label: str) -> Iterator[Database]:
    """A fresh migrated PostgreSQL database ``bench_e2e_<label>_<random>``, dropped afterwards."""
    with pg_database(PG_URL, prefix=f"bench_e2e_{label}") as url:
        db = Database(url)
        try:
            db.migrate()
            yield db
        finally:
            db.dispose()


def run_variant(label: str, head: tuple[str, str] | None, args: argparse.Namespace) -> dict:
    with fresh_database(label) as db:
        sensors = add_sensors(db, args.sensors)
        interval_s = args.sensors / args.rate
        start = time.time() + 3.0
        preload(db, sensors, start, interval_s, args.preload)
        url = db.engine.url.render_as_string(hide_password=False)
        ctx = mp.get_context("spawn")
        counter, out, ready, clock = ctx.Value("q", 0), ctx.Queue(), ctx.Queue(), ctx.Value("d", 0.0)
        ingest_cpu = ctx.Value("d", 0.0)
        indexed = [(index, sensor_id, kind) for index, (sensor_id, kind, _) in enumerate(sensors)]
        shares = [indexed[k::INGESTERS] for k in range(INGESTERS)]
        ingesters = [ctx.Process(target=_ingest, args=(url, share, clock, args.seconds, interval_s, counter,
                                                              ingest_cpu, ready))
                     for share in shares]
        evaluator = ctx.Process(target=_evaluate, args=(url, head, clock, args.seconds, args.every, out,
                                                             args.profile and head is None, ready))
        for process in (*ingesters, evaluator):
            process.start()
        for _ in (*ingesters, evaluator):
            ready.get(timeout=120)
        start = clock.value = max(start, time.time() + 0.5)  # the processes' start-up is not counted
        for process in ingesters:
            process.join()
        ingest_took = time.time() - start
        runs, reading_lags, alert_lags, evaluator_cpu, kept = out.get()
        evaluator.join()
        with db.uow() as s:
            alerts = s.scalar(select(func.count()).select_from(Alert))
            watched = s.scalar(select(func.count()).select_from(Sensor))
    ingested = counter.value
    judged = sum(r[1] for r in runs)
    busy = sum(r[0] for r in runs)
    figure = {
        "ingested/s": ingested / ingest_took,
        "evaluated/s (busy)": judged / busy if busy else 0.0,
        "lag p50": weighted_percentile(reading_lags, 50),
        "lag p95": weighted_percentile(reading_lags, 95),
        "lag max": max((lag for lag, _ in reading_lags), default=float("nan")),
        "alert lag p95": percentile(alert_lags, 0.95) if alert_lags else float("nan"),
        "alert lag max": max(alert_lags, default=float("nan")),
    }
    print(f"  {label:<6} ingested {ingested:,} in {ingest_took:.0f} s = {figure['ingested/s']:,.0f}/s; "
          f"evaluated {judged:,} in {len(runs)} runs, busy {busy:.0f} s = {figure['evaluated/s (busy)']:,.0f}/s; "
          f"run p50/max {percentile([r[0] for r in runs], 0.5):.2f}/{max(r[0] for r in runs):.2f} s; "
          f"reading → evaluated lag p50 {figure['lag p50']:.1f} s, p95 {figure['lag p95']:.1f} s, "
          f"max {figure['lag max']:.1f} s; {len(alert_lags)} alerts fired ({alerts} rows, {watched:,} sensors), "
          f"alert lag p95 {figure['alert lag p95']:.1f} s, max {figure['alert lag max']:.1f} s; client CPU per "
          f"reading: ingest {ingest_cpu.value / max(ingested, 1) * 1e6:.0f} µs (2 processes), "
          f"evaluator {evaluator_cpu / max(judged, 1) * 1e6:.0f} µs"
          + (f"; state kept in {kept[0]} runs, rebuilt in {kept[1]}" if kept else "")
          + f"; load average {os.getloadavg()[0]:.2f}", flush=True)
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="before,after")
    parser.add_argument("--rate", type=float, default=20_000.0, help="readings/s offered in total")
    parser.add_argument("--sensors", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between evaluation starts, at least")
    parser.add_argument("--preload", type=int, default=3, help="readings per sensor stored before")
    parser.add_argument("--before", default="HEAD", help="the commit whose engine is 'before' (default HEAD)")
    parser.add_argument("--profile", action="store_true", help="cProfile the evaluator (after variant)")
    args = parser.parse_args()
    os.environ.setdefault("CITYOPS_SECRET_KEY", "bench")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}; {args.sensors:,} sensors at {args.rate:,.0f} readings/s "
          f"for {args.seconds:.0f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        head = []
        for name in ("engine", "evaluator"):
            path = folder / f"{name}_head.py"
            path.write_text(subprocess.run(["git", "show", f"{args.before}:alerts/{name}.py"], cwd=ROOT, check=True,
                                           capture_output=True, text=True).stdout)
            head.append(str(path))
        for label in args.variants.split(","):
            print(f"[{label}] load average {os.getloadavg()[0]:.2f}", flush=True)
            run_variant(label, (head[0], head[1]) if label == "before" else None, args)


if __name__ == "__main__":
    main()
