"""Benchmark: the big screen's refresh callbacks and the daily PDF (issue 6) on a city with a history.

The scale-1.0 demo city (118,000 doorplates, 38,165 cameras) on SQLite, with ``--incidents`` incidents
(default 1,000,000) over the two years up to now, bulk-inserted as ``bench_kpi.py`` does. Then, through
the real app (``create_app``, gzip on, signed in as the operator, ``/_dash-update-component``):

- the 5-s live refresh (KPI tiles, live map parts, lists): server time p50/p95 over ``--runs`` calls and
  the bytes on the wire, when nothing changed and right after new incidents;
- the 15-s panels (trends, rankings, AQI, sensors in alarm): the same, first call and then unchanged;
- the daily report as PDF (and XLSX): time of ``reports.archive.report_bytes``.

    .venv/bin/python bench/bench_bigscreen.py [--incidents 1000000] [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_kpi import _BULK, _city, incident_rows
from bench_map import Callbacks, _busy_city, _prop, call_load_map, call_refresh

from data.db import Database
from data.demo import seed_demo_city
from data.models import utcnow
from layouts import ids
from reports.archive import default_day, report_bytes


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[max(round(0.95 * len(values)) - 1, 0)]
    return f"p50 {statistics.median(values) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def _timed(call, runs: int) -> tuple[list[float], tuple[int, int, dict]]:
    times, last = [], None
    for _ in range(runs):
        began = time.perf_counter()
        last = call()
        times.append(time.perf_counter() - began)
    return times, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("CITYOPS_SECRET_KEY", "bench")

    db = Database(f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}")
    db.migrate()
    began = time.perf_counter()
    seed_demo_city(db, scale=1.0, seed=42, demo_passwords=True)
    now = utcnow()
    with db.engine.begin() as conn:
        for rows in incident_rows(args.incidents, now, _city(db)):
            conn.execute(insert(_BULK), rows)
    print(f"scale-1.0 city + {args.incidents:,} incidents in {time.perf_counter() - began:.0f} s")

    app = Callbacks(db)
    _, _, answer = call_load_map(app, ["grids", "incidents", "alerts"])
    live_digest = answer["response"][ids.BIGSCREEN_LIVE_DIGEST]["data"]

    def refresh() -> tuple[int, int, dict]:
        return call_refresh(app, live_digest)

    panel_digest: dict[str, str] = {}

    def panels() -> tuple[int, int, dict]:
        return app.call(
            "refresh_panels",
            [_prop(ids.BIGSCREEN_TREND_24H, "figure"), _prop(ids.BIGSCREEN_TREND_30D, "figure"),
             _prop(ids.BIGSCREEN_RANK_CATEGORIES, "children"), _prop(ids.BIGSCREEN_RANK_DEPARTMENTS, "children"),
             _prop(ids.BIGSCREEN_AQI, "children"), _prop(ids.BIGSCREEN_AQI_TREND, "figure"),
             _prop(ids.BIGSCREEN_FAMILIES, "children"), _prop(ids.BIGSCREEN_PANEL_DIGEST, "data")],
            [_prop(ids.BIGSCREEN_SLOW_TICK, "n_intervals", 1), _prop(ids.BIGSCREEN_RANK_PERIOD, "value", "month"),
             _prop(ids.BIGSCREEN_SCOPE, "data"), _prop(ids.BIGSCREEN_SCALE, "data", 1.0)],
            [_prop(ids.BIGSCREEN_PANEL_DIGEST, "data", panel_digest)],
        )

    # Each call is sent twice by Callbacks.call (plain and gzip'd): the time is of the pair, halved.
    times, (raw, sent, _) = _timed(refresh, args.runs)
    print(f"live refresh (5 s), nothing changed: {_ms([x / 2 for x in times])}; {raw / 1e3:.1f} kB raw, "
          f"{sent / 1e3:.1f} kB on the wire")
    raw, sent, answer = panels()
    print(f"panels (15 s), first call: {raw / 1e3:.1f} kB raw, {sent / 1e3:.1f} kB on the wire")
    panel_digest.update(answer["response"][ids.BIGSCREEN_PANEL_DIGEST]["data"])
    times, (raw, sent, _) = _timed(panels, args.runs)
    print(f"panels (15 s), unchanged: {_ms([x / 2 for x in times])}; {raw / 1e3:.1f} kB raw, "
          f"{sent / 1e3:.1f} kB on the wire")
    _busy_city(db)
    raw, sent, _ = refresh()
    print(f"live refresh after 200 new incidents and 60 alerts: {raw / 1e3:.1f} kB raw, "
          f"{sent / 1e3:.1f} kB on the wire")
    times, _ = _timed(refresh, args.runs)
    print(f"live refresh, busy city: {_ms([x / 2 for x in times])}")

    day = default_day("daily", now + timedelta(hours=8))
    for fmt in ("pdf", "xlsx"):
        began = time.perf_counter()
        data = report_bytes(db, "daily", day, fmt)
        print(f"daily report {day} as {fmt}: {time.perf_counter() - began:.2f} s, {len(data) / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
