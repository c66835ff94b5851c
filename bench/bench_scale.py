"""Benchmark: CityOps at city scale (issue 8), each cost at N and at N/10, on SQLite and PostgreSQL.

Three parts, each in a fresh database per (engine, size) — a temporary SQLite file, or a PostgreSQL
database ``bench_scale_…`` created for the run, migrated with the app's Alembic migrations (so it has the
0007 PostGIS columns and the 0008 daily partitions of ``readings``) and dropped afterwards:

``incidents`` (default 1,000,000 and 100,000)
    A scale-0.05 city with N incidents over the two years up to now, bulk-inserted by ``bench_kpi.load``.
    Timed (medians): the KPI snapshot of this month (``dispatch.kpi.kpi_snapshot``, as ``bench_kpi``); the
    console's queue page (``dispatch.service.list_incidents`` as the console's ``show_queue`` calls it:
    the operator, ``QUEUE_LIMIT`` rows, relations loaded) with no filter and with filters; the daily
    briefing's data (``dispatch.briefing.build_briefing`` of yesterday, as ``reports.archive.report_bytes``)
    and its rendering to PDF and XLSX (``reports.render.render``, after one untimed warm-up render) apart,
    since WeasyPrint's fixed cost dominates the PDF.

``readings`` (default 10,000,000 and 1,000,000)
    The scale-1.0 demo city (963 sensors, the shipped rules), each sensor reporting every ``--interval``
    seconds (90 s: 10.8 days at 10 M, 1.1 days at 1 M, so a 24 h chart holds the same ~960 readings at
    both sizes). All but the last ``--stream`` readings are **bulk-loaded**, not measured: values from the
    simulator's profiles (``alerts.simulator.PROFILES``: level, daily swing, noise) computed with numpy;
    PostgreSQL by ``COPY`` (after making the days' partitions), SQLite by ``executemany`` in 500,000-row
    transactions; the sensors' last values are set and the alert engine's cursor put after them, as if
    they had been evaluated. Then **measured**: the last ``--stream`` readings (default 200,000, ~5 h of
    the city), made by the demo simulator (``alerts.simulator.Simulator``, scripted episodes included),
    go through the real ingest path (``alerts.ingest.ingest_readings``, one unit of work per batch, ISO
    strings as the API receives them) — the first 10 % in 100-row batches (a gateway posting every
    second or so), the rest in 10,000-row batches (the API's limit); the alert engine evaluates them all
    (``alerts.engine.evaluate_pending``, with persistence); and the 24 h chart of the sensor detail card
    (``data.map_details.sensor_detail``) is read for ``--charts`` random sensors (p50/p95).

``map`` (default scale 1.0 and 0.1)
    The demo city at that scale (1.0: 118,000 doorplates, 38,165 cameras) with 200 open incidents and 60
    firing alerts (``bench_map._busy_city``). Timed: the static map data built cold (the caches of
    ``data.layers`` emptied): ``data.layers.static_layers``, ``callbacks.mapkit.dense_payload``,
    ``callbacks.mapkit.build_map_figure`` and its JSON; and the 5-s live refresh's map part
    (``callbacks.mapkit.live_map`` + ``live_patch``, median of ``--runs``).

Prints one line per figure as it goes and a table at the end: what, engine, small N, large N, and the
ratio large/small of the cost (of the time; for rates, of the time per reading).

    .venv/bin/python bench/bench_scale.py [--part incidents,readings,map] [--engines sqlite,postgresql]
        [--sizes small,large] [--incidents 1000000] [--readings 10000000] [--map-scale 1.0] [--factor 10]
        [--stream 200000] [--interval 90] [--charts 50] [--runs 7] [--json results.json]

PostgreSQL: the server of ``CITYOPS_TEST_PG`` (default postgresql://postgres@127.0.0.1:5432/test); the
role must be allowed to create databases.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io as pio
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_kpi import _median_ms, cases
from bench_kpi import load as load_incidents
from bench_map import _busy_city

from alerts.engine import CURSOR_KEY, evaluate_pending
from alerts.ingest import ingest_readings
from alerts.rules_loader import sync_rule_files
from alerts.simulator import PROFILES, Simulator
from app import wire
from data import layers as layer_data
from data.db import Database
from data.demo import seed_demo_city
from data.map_details import sensor_detail
from data.models import Department, Incident, JobState, Reading, Sensor, User
from data.partitions import days_between, ensure_partitions, is_partitioned
from dispatch.briefing import build_briefing, period_of
from dispatch.kpi import kpi_snapshot
from dispatch.service import list_incidents
from reports.archive import default_day
from reports.render import render
from settings import get_settings
from tests.stack import PG_URL
from tests.stack import fresh_database as pg_database

PARTS = ("incidents", "readings", "map")
#: What the console's queue asks for (``callbacks.console.QUEUE_LIMIT``; not imported: that module
#: registers the page's Dash callbacks).
QUEUE_LIMIT = 100
#: Rows per bulk-load chunk (and per SQLite transaction) of readings.
READING_CHUNK = 500_000
#: The measured ingest stream: this share of it in small batches, the rest in the API's largest.
SMALL_BATCH, LARGE_BATCH, SMALL_SHARE = 100, 10_000, 0.1


# --- results -------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured figure at one size: ``value`` in ``unit``; ``rate`` when larger is better."""

    what: str
    engine: str
    size: str
    value: float
    unit: str
    rate: bool = False


RESULTS: list[Figure] = []


def record(what: str, engine: str, size: str, value: float, unit: str, *, rate: bool = False,
           note: str = "") -> None:
    RESULTS.append(Figure(what, engine, size, value, unit, rate))
    shown = f"{value:,.0f}" if rate or value >= 100 else f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"
    print(f"    {what:<58} {shown:>10} {unit}{'  ' + note if note else ''}", flush=True)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit.endswith("/s") or value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:,.1f} {unit}" if value >= 10 else f"{value:,.2f} {unit}"


def table(small_label: str, large_label: str) -> str:
    """The figures of RESULTS as a Markdown table: one row per (what, engine), small and large side by side."""
    rows: dict[tuple[str, str], dict[str, Figure]] = {}
    for fig in RESULTS:
        rows.setdefault((fig.what, fig.engine), {})[fig.size] = fig
    lines = [f"| what | engine | {small_label} | {large_label} | ratio (cost) |", "|---|---|---|---|---|"]
    for (what, engine), sizes in rows.items():
        small, large = sizes.get("small"), sizes.get("large")
        ratio = "—"
        if small and large and small.value and large.value:
            cost = small.value / large.value if small.rate else large.value / small.value
            ratio = f"×{cost:.2f}"
        unit = (small or large).unit
        lines.append(f"| {what} | {engine} | {_fmt(small and small.value, unit)} | "
                     f"{_fmt(large and large.value, unit)} | {ratio} |")
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, answer) of one call."""
    began = time.perf_counter()
    answer = call()
    return time.perf_counter() - began, answer


# --- databases -----------------------------------------------------------------------------------


@contextmanager
def fresh_database(engine: str, label: str, folder: Path) -> Iterator[Database]:
    """A fresh CityOps database on ``engine``, migrated to head, removed afterwards."""
    if engine == "sqlite":
        path = folder / f"{label}.db"
        db = Database(f"sqlite:///{path}")
        try:
            db.migrate()
            yield db
        finally:
            db.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    with pg_database(PG_URL, prefix=f"bench_scale_{label}".lower()) as url:
        db = Database(url)
        try:
            db.migrate()
            yield db
        finally:
            db.dispose()


def vacuum_analyze(db: Database, table_name: str = "") -> None:
    """What autovacuum does after a bulk load (PostgreSQL only): of ``table_name``, or of every table."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM ANALYZE {table_name}".strip()))


# --- part 1: incidents ---------------------------------------------------------------------------


CARD_FILTER = "console queue: red cards (card filter alone)"
#: The index of migration 0009 that ``--compare-card-index`` drops.
CARD_INDEX = "ix_incidents_card_reported"


def queue_filters(db: Database) -> list[tuple[str, dict[str, Any]]]:
    """(label, list_incidents filters) of the queue pages timed: the default page and filtered ones."""
    with db.uow() as s:
        department = s.scalar(select(Department.code).join(Incident, Incident.department_id == Department.id)
                              .group_by(Department.code).order_by(func.count().desc()).limit(1))
    return [
        ("console queue: first page, no filter", {}),
        (CARD_FILTER, {"card": "red"}),
        ("console queue: one department, state reported", {"department_code": department, "state": "reported"}),
    ]


def bench_incidents(db: Database, engine: str, size: str, n: int, runs: int, pdf_runs: int,
                    compare_card_index: bool = False) -> None:
    now = datetime.now(UTC)
    seconds = load_incidents(db, n, now)
    print(f"  {engine}, {n:,} incidents (bulk-loaded in {seconds:.0f} s, not measured):", flush=True)
    month = next(call for label, call, _ in cases(db, now) if label == "this month, city")
    ms, snap = _median_ms(db, month, runs)
    record("KPI snapshot, this month, city", engine, size, ms, "ms", note=f"({snap['reported']:,} in the cohort)")
    last_month, _ = period_of("month", now.astimezone(get_settings().zone).date().replace(day=1) - timedelta(days=1))
    ms, snap = _median_ms(db, lambda s: kpi_snapshot(s, last_month.start, last_month.end, now=now), runs)
    record("KPI snapshot, last month (whole), city", engine, size, ms, "ms",
           note=f"({snap['reported']:,} in the cohort)")

    with db.uow() as s:
        operator = s.scalar(select(User).where(User.username == "operator"))
        s.expunge(operator)
    for label, filters in queue_filters(db):
        ms, page = _median_ms(db, lambda s, f=filters: list_incidents(s, user=operator, limit=QUEUE_LIMIT, **f),
                              runs)
        record(label, engine, size, ms, "ms", note=f"({len(page)} rows)")
    if compare_card_index:
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP INDEX {CARD_INDEX}"))
        ms, page = _median_ms(db, lambda s: list_incidents(s, user=operator, limit=QUEUE_LIMIT, card="red"), runs)
        record(f"{CARD_FILTER}, without {CARD_INDEX}", engine, size, ms, "ms", note=f"({len(page)} rows)")
        with db.engine.begin() as conn:
            conn.execute(text(f"CREATE INDEX {CARD_INDEX} ON incidents (card, reported_at)"))

    period, previous = period_of("day", default_day("daily", now))
    ms, briefing = _median_ms(db, lambda s: build_briefing(s, period, previous, now), runs)
    record("daily briefing, data (build_briefing)", engine, size, ms, "ms",
           note=f"({briefing.current['reported']:,} reported that day)")
    for fmt in ("pdf", "xlsx"):
        render(briefing, fmt)  # warm-up (imports, fonts): not counted
        times = []
        for _ in range(pdf_runs):
            took, data = timed(lambda f=fmt: render(briefing, f))
            times.append(took)
        record(f"daily briefing, render {fmt.upper()}", engine, size, statistics.median(times) * 1000, "ms",
               note=f"({len(data) / 1e3:.0f} kB)")


# --- part 2: readings ----------------------------------------------------------------------------


def city_sensors(db: Database) -> list[tuple[str, str, int | None]]:
    """(id, kind, grid id) of every sensor, by id."""
    with db.uow() as s:
        return [tuple(r) for r in s.execute(select(Sensor.id, Sensor.kind, Sensor.grid_id).order_by(Sensor.id))]


def bulk_readings(sensors: list[tuple[str, str, Any]], start: datetime, count: int, interval_s: float,
                  *, seed: int = 8, t_sep: str = " ") -> Iterator[tuple[list[str], list[str], list[float]]]:
    """``count`` readings from naive UTC ``start`` on: every sensor once per ``interval_s`` (staggered over
    the interval), in time order, as chunks of (sensor ids, ts text 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC,
    values). Values follow the simulator's profiles: the kind's level with a steady per-sensor offset (±3 %),
    its daily swing (local time) and Gaussian noise cut at ±3σ, clipped to the kind's range."""
    rng = np.random.default_rng(seed)
    n_sensors = len(sensors)
    fallback = PROFILES["noise_db"]
    profiles = [PROFILES.get(kind, fallback) for _, kind, _ in sensors]
    base = np.array([p.base for p in profiles]) * (1 + rng.uniform(-0.03, 0.03, n_sensors))
    swing, noise, peak = (np.array([getattr(p, k) for p in profiles]) for k in ("swing", "noise", "peak_hour"))
    low, high = np.array([p.low for p in profiles]), np.array([p.high for p in profiles])
    ids = [s[0] for s in sensors]
    zone_hours = start.replace(tzinfo=UTC).astimezone(get_settings().zone).utcoffset().total_seconds() / 3600
    stagger = np.arange(n_sensors) * (interval_s / n_sensors)
    origin = np.datetime64(start, "us")
    steps_per_chunk = max(1, READING_CHUNK // n_sensors)
    done, step = 0, 0
    while done < count:
        steps = np.arange(step, step + steps_per_chunk)
        offsets = steps[:, None] * interval_s + stagger[None, :]  # seconds from start, (steps, sensors)
        hours = (start.hour + start.minute / 60 + offsets / 3600 + zone_hours) % 24
        values = base + swing * np.cos(2 * np.pi * (hours - peak) / 24) + noise * np.clip(
            rng.standard_normal(offsets.shape), -3, 3)
        values = np.clip(values, low, high).round(3)
        stamps = np.datetime_as_string(origin + (offsets * 1e6).astype("timedelta64[us]"), unit="us")
        take = min(count - done, offsets.size)
        ts = [x.replace("T", t_sep) for x in stamps.ravel()[:take].tolist()] if t_sep != "T" \
            else stamps.ravel()[:take].tolist()
        yield (ids * steps_per_chunk)[:take], ts, values.ravel()[:take].tolist()
        done += take
        step += steps_per_chunk


def load_readings(db: Database, sensors: list[tuple[str, str, Any]], start: datetime, count: int,
                  interval_s: float) -> int:
    """Bulk-load ``count`` readings (see ``bulk_readings``), set each sensor's last value and move the alert
    engine's cursor after them; returns the highest reading id."""
    end = start + timedelta(seconds=interval_s * math.ceil(count / len(sensors)))
    if db.engine.dialect.name == "postgresql":
        with db.uow() as s:
            if is_partitioned(s):
                ensure_partitions(s, days_between(start, end))
        raw = db.engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy("COPY readings (sensor_id, ts, value, received_at) FROM STDIN") as copy:
                for ids, ts, values in bulk_readings(sensors, start, count, interval_s, t_sep="T"):
                    copy.write("".join(f"{i}\t{t}\t{v}\t{t}\n" for i, t, v in zip(ids, ts, values, strict=True)))
            raw.commit()
        finally:
            raw.close()
    else:
        raw = db.engine.raw_connection()
        try:
            for ids, ts, values in bulk_readings(sensors, start, count, interval_s):
                raw.cursor().executemany("INSERT INTO readings (sensor_id, ts, value, received_at) "
                                         "VALUES (?, ?, ?, ?)", zip(ids, ts, values, ts, strict=True))
                raw.commit()
        finally:
            raw.close()
    vacuum_analyze(db, "readings")
    with db.uow() as s:
        s.execute(text(
            "UPDATE sensors SET "
            "last_ts = (SELECT max(r.ts) FROM readings r WHERE r.sensor_id = sensors.id), "
            "last_value = (SELECT r.value FROM readings r WHERE r.sensor_id = sensors.id ORDER BY r.ts DESC LIMIT 1)"
        ))
        last = int(s.scalar(select(func.max(Reading.id))) or 0)
        s.merge(JobState(key=CURSOR_KEY, value={"reading_id": last}))
    return last


def stream_rows(sensors: list[tuple[str, str, Any]], start: datetime, count: int,
                interval_s: float) -> list[dict[str, Any]]:
    """``count`` readings from aware ``start`` on, from the demo simulator (its scripted episodes on), every
    sensor once per ``interval_s`` (staggered), as the API receives them (ISO strings with an offset)."""
    simulator = Simulator(started_at=start)
    simulator.cast(sensors)
    rows: list[dict[str, Any]] = []
    step = 0
    while len(rows) < count:
        for index, (sensor_id, kind, _) in enumerate(sensors):
            at = (start + timedelta(seconds=step * interval_s + index * interval_s / len(sensors))).replace(
                microsecond=0)
            value = simulator.value(sensor_id, kind, at)
            if value is not None:
                rows.append({"sensor_id": sensor_id, "ts": at.isoformat(), "value": value})
        step += 1
    return rows[:count]


def bench_readings(db: Database, engine: str, size: str, n: int, stream: int, interval_s: float,
                   charts: int) -> None:
    seed_demo_city(db, scale=1.0, seed=42, demo_passwords=False)
    with db.uow() as s:
        sync_rule_files(s)
    sensors = city_sensors(db)
    now = datetime.now(UTC).replace(microsecond=0)
    stream_start = now - timedelta(seconds=interval_s * math.ceil(stream / len(sensors)) + 60)
    bulk = n - stream
    bulk_start = (stream_start - timedelta(seconds=interval_s * math.ceil(bulk / len(sensors)))).replace(tzinfo=None)
    took, _ = timed(lambda: load_readings(db, sensors, bulk_start, bulk, interval_s))
    span = (stream_start.replace(tzinfo=None) - bulk_start) / timedelta(days=1)
    print(f"  {engine}, {n:,} readings of {len(sensors)} sensors every {interval_s:g} s: {bulk:,} bulk-loaded in "
          f"{took:.0f} s ({bulk / took:,.0f}/s, not measured: {span:.1f} days), {stream:,} measured:", flush=True)

    rows = stream_rows(sensors, stream_start, stream, interval_s)
    small = int(len(rows) * SMALL_SHARE)
    for part, batch in ((rows[:small], SMALL_BATCH), (rows[small:], LARGE_BATCH)):
        accepted = 0
        began = time.perf_counter()
        for first in range(0, len(part), batch):
            with db.uow() as s:
                accepted += ingest_readings(s, part[first:first + batch], now=now).accepted
        took = time.perf_counter() - began
        assert accepted == len(part), (accepted, len(part))
        record(f"ingest_readings, {batch:,}-row batches", engine, size,
               len(part) / took, "readings/s", rate=True, note=f"({len(part):,} readings in {took:.1f} s)")

    with db.uow() as s:
        took, counts = timed(lambda: evaluate_pending(s, now=datetime.now(UTC)))
    record(f"rule evaluation, evaluate_pending ({counts['rules']} rules)", engine, size, counts["readings"] / took,
           "readings/s", rate=True, note=f"({counts['readings']:,} readings in {took:.1f} s; fired {counts['fired']}, "
                                         f"resolved {counts['resolved']}, incidents {counts['incidents']})")

    rng = np.random.default_rng(24)
    chosen = [sensors[i][0] for i in rng.choice(len(sensors), min(charts, len(sensors)), replace=False)]
    times, points = [], []
    chart_now = datetime.now(UTC)
    for sensor_id in chosen[:5]:  # warm-up (first plans, the partitions' catalog entries): not counted
        with db.uow() as s:
            sensor_detail(s, sensor_id, chart_now)
    for sensor_id in chosen:
        with db.uow() as s:
            took, found = timed(lambda sid=sensor_id: sensor_detail(s, sid, chart_now))
        times.append(took * 1000)
        points.append(len(found.extra["series"][0]))
    note = f"({len(chosen)} sensors, {statistics.median(points):.0f} readings each)"
    record("sensor 24 h chart (sensor_detail), p50", engine, size, statistics.median(times), "ms", note=note)
    record("sensor 24 h chart (sensor_detail), p95", engine, size, percentile(times, 0.95), "ms")


# --- part 3: map ---------------------------------------------------------------------------------


def _cold_caches() -> None:
    """Forget the static layers (and the per-minute data version), as after a restart or an import."""
    layer_data._cache.clear()
    layer_data._this_minute.clear()
    gc.collect()


def bench_map(db: Database, engine: str, size: str, scale: float, runs: int) -> None:
    from callbacks import mapkit

    took, counts = timed(lambda: seed_demo_city(db, scale=scale, seed=42, demo_passwords=False))
    _busy_city(db)
    vacuum_analyze(db)
    print(f"  {engine}, city at scale {scale:g}: {counts['doorplates']:,} doorplates, {counts['cameras']:,} cameras, "
          f"{counts['grids']:,} grids (seeded in {took:.1f} s, not measured):", flush=True)
    parts: dict[str, list[float]] = {k: [] for k in ("layers", "dense", "figure", "json", "total")}
    sizes: tuple[int, int] = (0, 0)
    for run in range(1 + max(3, runs // 2)):  # the first run (imports, first figure) is not counted
        _cold_caches()
        with db.uow() as s:
            t_layers, static = timed(lambda s=s: layer_data.static_layers(s))
            t_figure, (fig, _, _) = timed(lambda s=s: mapkit.build_map_figure(s))
            t_dense, dense = timed(lambda static=static: mapkit.dense_payload(static))
        t_json, sizes = timed(lambda fig=fig, dense=dense: (len(pio.to_json(fig, validate=False)),
                                                            len(json.dumps(dense))))
        for key, value in zip(parts, (t_layers, t_dense, t_figure, t_json,
                                      t_layers + t_dense + t_figure + t_json), strict=True):
            if run:
                parts[key].append(value * 1000)
    record("map: static layers (static_layers, cold)", engine, size, statistics.median(parts["layers"]), "ms")
    record("map: dense payload (dense_payload)", engine, size, statistics.median(parts["dense"]), "ms",
           note=f"({sizes[1] / 1e6:.2f} MB JSON)")
    record("map: figure (build_map_figure, layers cached)", engine, size, statistics.median(parts["figure"]), "ms",
           note=f"({sizes[0] / 1e6:.2f} MB JSON)")
    record("map: figure + dense payload to JSON", engine, size, statistics.median(parts["json"]), "ms")
    record("map: static map data, all of the above", engine, size, statistics.median(parts["total"]), "ms")

    with db.uow() as s:
        static = layer_data.static_layers(s)

    def refresh() -> int:
        with db.uow() as s:
            live = mapkit.live_map(s, static, "open")
            mapkit.live_patch(live, mapkit.LIVE_PARTS)
            live.digests()
            return len(live.parts["incidents"]["lon"])

    refresh()
    times = []
    for _ in range(runs * 3):
        took, shown = timed(refresh)
        times.append(took * 1000)
    record("map: live refresh (live_map + live_patch), p50", engine, size, statistics.median(times), "ms",
           note=f"({shown} open incidents on the map)")
    record("map: live refresh (live_map + live_patch), p95", engine, size, percentile(times, 0.95), "ms")


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    wire()  # the composition root's ports: an alert asks the dispatch loop for its incident
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default=",".join(PARTS), help="comma-separated: incidents, readings, map")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="small,large", help="small (N / factor), large (N) or both")
    parser.add_argument("--incidents", type=int, default=1_000_000, help="N of the incidents part")
    parser.add_argument("--readings", type=int, default=10_000_000, help="N of the readings part")
    parser.add_argument("--map-scale", type=float, default=1.0, help="demo-city scale of the map part")
    parser.add_argument("--factor", type=float, default=10.0, help="small size = N / factor")
    parser.add_argument("--stream", type=int, default=200_000, help="readings measured through ingest")
    parser.add_argument("--interval", type=float, default=90.0, help="seconds between a sensor's readings")
    parser.add_argument("--charts", type=int, default=50, help="sensors whose 24 h chart is read")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pdf-runs", type=int, default=3, help="timed renders of the briefing per format")
    parser.add_argument("--compare-card-index", action="store_true",
                        help="also time the red-card queue page without the index of migration 0009")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    os.environ.setdefault("CITYOPS_SECRET_KEY", "bench")
    parts = [p for p in args.part.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    sizes = [s for s in args.sizes.split(",") if s]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for part in parts:
            for engine in args.engines.split(","):
                for size in sizes:
                    print(f"[{part} · {engine} · {size}] load average {os.getloadavg()[0]:.2f}", flush=True)
                    with fresh_database(engine, f"{part}_{size}", folder) as db:
                        if part == "incidents":
                            n = args.incidents if size == "large" else round(args.incidents / args.factor)
                            bench_incidents(db, engine, size, n, args.runs, args.pdf_runs, args.compare_card_index)
                        elif part == "readings":
                            n = args.readings if size == "large" else round(args.readings / args.factor)
                            bench_readings(db, engine, size, n, min(args.stream, n // 2), args.interval, args.charts)
                        else:
                            scale = args.map_scale if size == "large" else args.map_scale / args.factor
                            bench_map(db, engine, size, scale, args.runs)
    print(f"\nall parts in {(time.perf_counter() - began) / 60:.1f} min\n")
    print(table("N / factor", "N"))
    if args.json:
        args.json.write_text(json.dumps([f.__dict__ for f in RESULTS], indent=1))


if __name__ == "__main__":
    main()
