"""Big-screen payloads and server time at the demo city's full scale (scale 1.0, SQLite).

Prints the size of the one-time map figure, the size of one live refresh (a Patch), and the median
server time of each callback. Run: .venv/bin/python bench/bench_bigscreen.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import plotly.io as pio
from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callbacks import bigscreen
from data.db import Database
from data.demo import seed_demo_city
from data.layers import _cache
from layouts import ids


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    db = Database(f"sqlite:///{folder / 'bench.db'}")
    db.migrate()
    seed_demo_city(db, scale=1.0, seed=42, demo_passwords=False)
    server = Flask(__name__)
    server.extensions["cityops_db"] = db
    tiles = [{"type": ids.BIGSCREEN_KPI_VALUE, "key": k} for k in ids.BIGSCREEN_TILE_KEYS]
    with server.test_request_context("/"):
        cold, warm = [], []
        for _ in range(3):
            _cache.clear()
            start = time.perf_counter()
            fig, _version, _digest = bigscreen.load_map("x")
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            bigscreen.load_map("x")
            warm.append(time.perf_counter() - start)
        figure_bytes = len(pio.to_json(fig))
        refresh_times = []
        for i in range(20):
            start = time.perf_counter()
            result = bigscreen.refresh(i, [1], tiles)
            refresh_times.append(time.perf_counter() - start)
        patch_bytes = len(json.dumps(result[0].to_plotly_json()))
        tiles_bytes = len(json.dumps([result[1]], ensure_ascii=False))
    print(f"map figure: {figure_bytes / 1e6:.2f} MB JSON")
    print(f"map callback: cold {statistics.median(cold) * 1000:.0f} ms, cached {statistics.median(warm) * 1000:.0f} ms")
    print(f"refresh patch: {patch_bytes} B, tiles {tiles_bytes} B")
    refresh_times.sort()
    print(f"refresh callback: median {statistics.median(refresh_times) * 1000:.1f} ms, "
          f"p95 {refresh_times[int(0.95 * len(refresh_times)) - 1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
