"""Benchmark of the city map at the demo city's full scale (scale 1.0, SQLite).

Prints:
1. the static map data on the wire: the one-time map callback answer (all layers), raw and gzip'd
   (what the browser downloads when the app compresses responses: Flask-Compress, ``compress=True``);
2. the live refresh on the wire: unchanged (no figure patch) and after 200 new incidents and 60 alerts;
3. point → grid assignment: vectorised ``GridIndex.locate`` against a per-point STRtree loop;
4. with ``--browser`` (``--browser-only``: this part alone): time from navigation to every layer drawn in
   headless Chromium, today's committed code (``git archive HEAD`` in a temporary folder, served against a copy
   of the database) and the working tree taking turns in the same run: median and p95 of ``--browser-runs``
   navigations each, and the median time of each phase (scripts, Plotly, figure, map style);
5. the live layers (every open incident and firing alert, ``callbacks/maplive.py``) at 500 and 5,000 open
   incidents: the one-time Store, the 5-s refresh's server time (the live layers' callback and the big
   screen's ``refresh`` beside it, median of ``--runs``) and its bytes after 200 new incidents.
   ``--live`` runs only this part.

    .venv/bin/python bench/bench_map.py [--browser | --browser-only [--browser-runs 7] [--no-before]] [--live]
        [--runs 15] [--scale 1.0 | --db sqlite:////tmp/city.db]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.db import Database
from data.demo import seed_demo_city
from data.layers import map_incident_rows
from data.models import Alert, Category, Grid, Incident, Sensor, utcnow
from geo.grid_index import GridIndex
from layouts import ids
from layouts.mapstyle import LAYERS

ROOT = Path(__file__).resolve().parents[1]

def _city(url: str | None, scale: float = 1.0) -> Database:
    if url:
        return Database(url)
    db = Database(f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}")
    db.migrate()
    seed_demo_city(db, scale=scale, seed=42, demo_passwords=True)
    return db


class Callbacks:
    """The real app (create_app) with gzip on, signed in as the operator, calling callbacks by name."""

    def __init__(self, db: Database) -> None:
        from flask_compress import Compress

        import app as cityops_app

        server, self.dash = cityops_app.create_app(db=db)
        if "compress" not in server.extensions:
            Compress(server)  # what dash.Dash(compress=True) does
        self.client = server.test_client()
        self.client.post("/login", data={"username": "operator", "password": "operator123"})

    def key(self, name: str) -> str:
        return next(k for k, v in self.dash.callback_map.items()
                    if getattr(v.get("callback"), "__name__", "") == name
                    or getattr(getattr(v.get("callback"), "__wrapped__", None), "__name__", "") == name)

    def call(self, name: str, outputs: list | dict, inputs: list, state: list) -> tuple[int, int, dict]:
        """(raw bytes, gzip'd bytes as sent, answer) of one callback request."""
        body = {"output": self.key(name), "outputs": outputs, "inputs": inputs, "state": state,
                "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
        raw = self.client.post("/_dash-update-component", json=body)
        assert raw.status_code == 200, raw.get_data(as_text=True)[:300]
        zipped = self.client.post("/_dash-update-component", json=body, headers={"Accept-Encoding": "gzip"})
        gz = zipped.headers.get("Content-Encoding") == "gzip"
        return len(raw.get_data()), len(zipped.get_data()) if gz else len(gzip.compress(raw.get_data())), raw.get_json()


def _prop(cid: object, prop: str, value: object = None) -> dict:
    return {"id": cid, "property": prop, "value": value}


TILES = [{"type": ids.BIGSCREEN_KPI_VALUE, "key": k} for k in ids.BIGSCREEN_TILE_KEYS]
#: The tiles with parts under their value (alert levels, sources): their own pattern-matching ids.
TILE_PARTS = [{"type": ids.BIGSCREEN_KPI_PARTS, "key": k} for k in ("alerts_firing", "by_source")]


def call_load_map(app: Callbacks, layers: list[str]) -> tuple[int, int, dict]:
    """The big screen's one-time map request with ``layers`` switched on."""
    return app.call(
        "load_map",
        [_prop(ids.BIGSCREEN_MAP, "figure"), _prop(ids.BIGSCREEN_MAP_VERSION, "data"),
         _prop(ids.BIGSCREEN_LIVE_DIGEST, "data")],
        [_prop(ids.BIGSCREEN_MAP_VERSION, "id", ids.BIGSCREEN_MAP_VERSION)],
        [_prop(ids.BIGSCREEN_LAYERS, "value", layers), _prop(ids.BIGSCREEN_GRID_METRIC, "value", "open")],
    )


def call_load_dense(app: Callbacks) -> tuple[int, int, dict]:
    """The big screen's one-time request of the dense layers (doorplate and camera arrays, cells per level)."""
    return app.call("load_dense", _prop(ids.BIGSCREEN_DENSE, "data"),
                    [_prop(ids.BIGSCREEN_MAP_VERSION, "data", [1])], [])


def call_refresh(app: Callbacks, digest: dict) -> tuple[int, int, dict]:
    """One 5-s live refresh of the city-wide big screen whose live parts have ``digest``."""
    return app.call(
        "refresh",
        [_prop(ids.BIGSCREEN_MAP, "figure"), [_prop(tile, "children") for tile in TILES],
         [_prop(tile, "className") for tile in TILES],
         *([_prop({**tile, "type": ids.BIGSCREEN_KPI_CHANGE}, prop) for tile in TILES]
           for prop in ("children", "className")),
         [_prop(part, "children") for part in TILE_PARTS],
         _prop(ids.BIGSCREEN_ALERT_LIST, "children"), _prop(ids.BIGSCREEN_INCIDENT_LIST, "children"),
         _prop(ids.BIGSCREEN_UPDATED, "children"), _prop(ids.BIGSCREEN_LIVE_DIGEST, "data"),
         _prop(ids.BIGSCREEN_HOTLINE, "children")],  # issue 20's hotline panel, the refresh's last output
        [_prop(ids.BIGSCREEN_TICK, "n_intervals", 3)],
        [_prop(ids.BIGSCREEN_MAP_VERSION, "data", [1]), [_prop(tile, "id", tile) for tile in TILES],
         [_prop(part, "id", part) for part in TILE_PARTS],
         _prop(ids.BIGSCREEN_LIVE_DIGEST, "data", digest), _prop(ids.BIGSCREEN_SCOPE, "data"),
         _prop(ids.BIGSCREEN_GRID_METRIC, "value", "open")],
    )


def bench_payloads(db: Database) -> None:
    app = Callbacks(db)
    raw, sent, answer = call_load_map(app, list(LAYERS))
    figure = answer["response"][ids.BIGSCREEN_MAP]["figure"]
    print(f"static map data (the one-time map callback): {raw / 1e6:.2f} MB raw, "
          f"{sent / 1e6:.2f} MB gzip'd on the wire")
    for i, trace in enumerate(figure["data"]):
        part = json.dumps(trace).encode()
        print(f"  trace {i} {trace.get('type')}: {len(part) / 1e3:.0f} kB raw, "
              f"{len(gzip.compress(part)) / 1e3:.0f} kB gz")
    basemap = json.dumps(figure["layout"]["map"]["layers"]).encode()
    print(f"  basemap + boundaries: {len(basemap) / 1e3:.0f} kB raw, {len(gzip.compress(basemap)) / 1e3:.0f} kB gz")
    dense_raw, dense_sent, dense = call_load_dense(app)
    print(f"dense layers (the one-time dense callback): {dense_raw / 1e6:.2f} MB raw, "
          f"{dense_sent / 1e6:.2f} MB gzip'd on the wire")
    for kind in ("doorplates", "cameras"):
        part = dense["response"][ids.BIGSCREEN_DENSE]["data"][kind]
        cells = json.dumps(part["cells"]).encode()
        points = json.dumps({k: v for k, v in part.items() if k != "cells"}).encode()
        print(f"  {kind}: points {len(points) / 1e3:.0f} kB raw, {len(gzip.compress(points)) / 1e3:.0f} kB gz; "
              f"cells of every level {len(cells) / 1e3:.0f} kB raw, {len(gzip.compress(cells)) / 1e3:.0f} kB gz")
    print(f"all static map data: {(raw + dense_raw) / 1e6:.2f} MB raw, {(sent + dense_sent) / 1e6:.2f} MB on the wire")
    digest = answer["response"][ids.BIGSCREEN_LIVE_DIGEST]["data"]

    def refresh() -> tuple[int, int, dict]:
        return call_refresh(app, digest)

    raw, sent, _ = refresh()
    print(f"live refresh, nothing changed: {raw / 1e3:.1f} kB raw, {sent / 1e3:.1f} kB on the wire")
    _busy_city(db)
    raw, sent, answer = refresh()
    patched = answer["response"].get(ids.BIGSCREEN_MAP, {}).get("figure")
    patch_bytes = len(json.dumps(patched).encode()) if patched else 0
    print(f"live refresh after 200 new incidents and 60 alerts: {raw / 1e3:.1f} kB raw "
          f"(figure Patch {patch_bytes / 1e3:.1f} kB), {sent / 1e3:.1f} kB on the wire")


def call_refresh_live(app: Callbacks, held: str | None) -> tuple[int, int, dict]:
    """One 5-s refresh of the live layers for a browser holding ``held``."""
    return app.call(
        "refresh_live",
        [_prop(ids.BIGSCREEN_LIVE, "data"), _prop(ids.BIGSCREEN_LIVE_HELD, "data")],
        [_prop(ids.BIGSCREEN_TICK, "n_intervals", 3), _prop(ids.BIGSCREEN_MAP_VERSION, "data", [1])],
        [_prop(ids.BIGSCREEN_LIVE_HELD, "data", held)],
    )


def _timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median milliseconds of ``call`` (one warm-up first): wall time, and the CPU time of this process (the
    server's own work, without the waits for a core that a busy shared machine adds to the wall time)."""
    call()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def _ms(figure: tuple[float, float]) -> str:
    return f"{figure[0]:.1f} ms (CPU {figure[1]:.1f} ms)"


def _open_incidents(db: Database, count: int, prefix: str) -> None:
    """``count`` more open incidents spread over the city (states and cards mixed, reported ones too)."""
    with db.uow() as s:
        grids = s.execute(select(Grid.id, Grid.minx, Grid.miny, Grid.maxx, Grid.maxy).order_by(Grid.id)).all()
        category = s.scalars(select(Category.code)).first()
        now = utcnow()
        rows = []
        for i in range(count):
            gid, minx, miny, maxx, maxy = grids[(i * 7) % len(grids)]
            f = ((i * 13) % 97 + 1) / 99
            rows.append({"code": f"{prefix}-{i}", "state": ("reported", "filed", "dispatched", "in_progress")[i % 4],
                         "category_code": category, "source": "patrol", "title": f"道路积水 第{i}处",
                         "lon": minx + (maxx - minx) * f, "lat": miny + (maxy - miny) * f, "grid_id": gid,
                         "reported_at": now, "card": ("none", "yellow", "red")[i % 3]})
        s.execute(insert(Incident), rows)


def _open_on_map(db: Database) -> int:
    with db.uow() as s:
        return len(map_incident_rows(s))


def bench_live(db: Database, runs: int) -> None:
    app = Callbacks(db)
    _, _, answer = call_load_map(app, list(LAYERS))
    digest = answer["response"][ids.BIGSCREEN_LIVE_DIGEST]["data"]
    for target in (500, 5_000):
        _open_incidents(db, max(0, target - _open_on_map(db)), f"BENCH-OPEN-{target}")
        total = _open_on_map(db)
        raw, sent, answer = call_refresh_live(app, None)
        held = answer["response"][ids.BIGSCREEN_LIVE_HELD]["data"]
        print(f"live layers at {total:,} open incidents: the one-time Store {raw / 1e3:.0f} kB raw, "
              f"{sent / 1e3:.0f} kB on the wire")
        live_ms = _timed(lambda held=held: call_refresh_live(app, held), runs)
        screen_ms = _timed(lambda: call_refresh(app, digest), runs)
        together = (live_ms[0] + screen_ms[0], live_ms[1] + screen_ms[1])
        print(f"  5-s refresh, nothing new: live layers {_ms(live_ms)}, big-screen refresh {_ms(screen_ms)}, "
              f"together {_ms(together)} (server time, median of {runs})")
        _open_incidents(db, 200, f"BENCH-NEW-{target}")
        raw, sent, answer = call_refresh_live(app, held)  # the memory keeps ``held``: the same delta each run
        store = answer["response"][ids.BIGSCREEN_LIVE]["data"]
        assert "__dash_patch_update" in store, "a delta was expected"
        live_ms = _timed(lambda held=held: call_refresh_live(app, held), runs)
        print(f"  5-s refresh after 200 new incidents: live layers Patch {raw / 1e3:.1f} kB raw, "
              f"{sent / 1e3:.1f} kB on the wire; {_ms(live_ms)} server time")


def _busy_city(db: Database) -> None:
    with db.uow() as s:
        grids = s.execute(select(Grid.id, Grid.minx, Grid.miny, Grid.maxx, Grid.maxy).limit(200)).all()
        category = s.scalars(select(Category.code)).first()
        sensors = s.scalars(select(Sensor.id).limit(60)).all()
        now = utcnow()
        for i, (gid, minx, miny, maxx, maxy) in enumerate(grids):
            s.add(Incident(code=f"BENCH-{i}", state="dispatched", category_code=category, source="operator",
                           title=f"路面破损 {i}", lon=(minx + maxx) / 2, lat=(miny + maxy) / 2, grid_id=gid,
                           reported_at=now, card=("none", "yellow", "red")[i % 3]))
        for sid in sensors:
            s.add(Alert(rule_id="bench", sensor_id=sid, state="firing", level="orange", value=1.0, started_at=now,
                        fired_at=now))


def bench_assignment(db: Database, points: int = 300_000, loop_points: int = 3_000, runs: int = 5) -> None:
    with db.uow() as s:
        rows = s.execute(select(Grid.id, Grid.geom)).all()
        bounds = s.execute(select(Grid.minx, Grid.miny, Grid.maxx, Grid.maxy)).all()
    index = GridIndex([r[0] for r in rows], shapely.from_wkb([r[1] for r in rows]))
    west, south = min(b[0] for b in bounds), min(b[1] for b in bounds)
    east, north = max(b[2] for b in bounds), max(b[3] for b in bounds)
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(west, east, points), rng.uniform(south, north, points)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        found = index.locate(lon, lat)
        times.append(time.perf_counter() - start)
    vector_rate = points / statistics.median(times)
    tree, polygons, ids_ = index._tree, index.polygons, index.ids
    loop_times = []
    for _ in range(3):
        start = time.perf_counter()
        loop = []
        for x, y in zip(lon[:loop_points].tolist(), lat[:loop_points].tolist(), strict=True):
            hits = tree.query(shapely.Point(x, y), predicate="intersects")
            loop.append(int(ids_[hits.min()]) if hits.size else -1)
        loop_times.append(time.perf_counter() - start)
    loop_rate = loop_points / statistics.median(loop_times)
    assert loop == found[:loop_points].tolist()
    naive_start = time.perf_counter()
    for x, y in zip(lon[:300].tolist(), lat[:300].tolist(), strict=True):
        point = shapely.Point(x, y)
        next((i for i, poly in zip(ids_.tolist(), polygons, strict=True) if poly.intersects(point)), -1)
    naive_rate = 300 / (time.perf_counter() - naive_start)
    print(f"point → grid ({len(rows)} grids, {points:,} points): vectorised {vector_rate:,.0f} points/s; "
          f"per-point STRtree loop {loop_rate:,.0f} points/s (×{vector_rate / loop_rate:.0f}); "
          f"per-point scan of every polygon {naive_rate:,.0f} points/s (×{vector_rate / naive_rate:,.0f})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVE = """
import sys
from waitress import serve
import app
server, _ = app.create_app()  # gzip'd responses: dash.Dash(compress=True) in app.py
serve(server, host="127.0.0.1", port=int(sys.argv[1]), threads=8)
"""

DRAWN = """() => { const gd = document.querySelector('#bigscreen-map .js-plotly-plot');
  if (!gd || !gd._fullData || gd._fullData.length !== 8 || !gd._fullLayout.map) return false;
  const map = gd._fullLayout.map._subplot && gd._fullLayout.map._subplot.map;
  const style = map && map.getStyle();
  if (!style || !style.layers) return false;
  const names = style.layers.map(l => l.id).join(' ');
  const dense = [1, 2].every(i => gd.data[i].meta && gd._fullData[i].lon && gd._fullData[i].lon.length > 0);
  return dense && gd._fullData.every(t => names.includes(t.uid)) && map.loaded() && map.areTilesLoaded(); }"""

#: Where the time goes, from the page itself (ms since navigation start, one mark per phase, each the first
#: animation frame it is true in): the page's scripts run (DOMContentLoaded), Plotly compiled, the figure in
#: the graph (Plotly.react has run), MapLibre's style holding the traces' layers, then ``DRAWN``.
PHASES = """(() => { window.__mapPhases = {};
  const mark = k => { if (!(k in window.__mapPhases)) window.__mapPhases[k] = performance.now(); };
  document.addEventListener('DOMContentLoaded', () => mark('scripts run'));
  const poll = () => {
    if (window.Plotly && window.Plotly.react) mark('Plotly compiled');
    const gd = document.querySelector('#bigscreen-map .js-plotly-plot');
    if (gd && gd._fullData && gd._fullData.length === 8) mark('figure in the graph');
    const map = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot
      && gd._fullLayout.map._subplot.map;
    try { if (map && map.getStyle().layers.length > 20) mark('traces in the map style'); } catch (e) { /* loading */ }
    if (!('traces in the map style' in window.__mapPhases) || !window.__mapPhasesDone) requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll); })();"""
PHASE_NAMES = ("response", "scripts run", "Plotly compiled", "figure in the graph", "traces in the map style")


def _committed_tree() -> Path:
    """Today's committed code (``git archive HEAD``) unpacked in a temporary folder: the "before" server."""
    folder = Path(tempfile.mkdtemp(prefix="bench_map_before_"))
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def _serve(tree: Path, db_url: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "CITYOPS_DATABASE_URL": db_url, "CITYOPS_SECRET_KEY": "bench", "CITYOPS_DEMO": "1"}
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], cwd=tree, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return server, f"http://127.0.0.1:{port}"


def _wait_ready(url: str, timeout: float = 90) -> None:
    """Until the server at ``url`` answers (a busy machine takes a while to import the app)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _copy_db(db_url: str) -> str:
    """A copy of the SQLite city for the "before" server (both read the same data; neither writes it)."""
    source = Path(db_url.removeprefix("sqlite:///"))
    target = Path(tempfile.mkdtemp(prefix="bench_map_db_")) / source.name
    shutil.copy(source, target)
    return f"sqlite:///{target}"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def bench_browser(db_url: str, runs: int = 7, compare: bool = True) -> None:
    """Navigation to ``/`` → every layer drawn (``DRAWN``) in headless Chromium, ``runs`` times: today's
    committed code ("before", a ``git archive HEAD`` served against a copy of the database) and the working
    tree ("after"), taking turns in the same run; medians and p95 of the whole and of its phases."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS

    variants = {"after": (ROOT, db_url)}
    if compare:
        if not db_url.startswith("sqlite:///"):
            raise SystemExit("--browser compares on a SQLite city (give --db sqlite:///… or none)")
        variants = {"before": (_committed_tree(), _copy_db(db_url)), **variants}
    servers = {name: _serve(tree, url) for name, (tree, url) in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    phases: dict[str, dict[str, list[float]]] = {name: {p: [] for p in PHASE_NAMES} for name in variants}
    try:
        for _, url in servers.values():
            _wait_ready(url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            pages = {}
            for name, (_, url) in servers.items():
                page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
                page.add_init_script(PHASES)
                page.goto(f"{url}/login")
                page.fill("[data-testid=login-username]", "operator")
                page.fill("[data-testid=login-password]", "operator123")
                page.click("[data-testid=login-submit]")
                page.wait_for_function(DRAWN, timeout=120_000)  # warm the server's static-layer cache
                pages[name] = page
            for page in pages.values():
                page.goto("about:blank")  # no big screen left running beside the one being timed
            for run in range(runs):
                for name in (list(pages) if run % 2 == 0 else list(pages)[::-1]):  # each goes first in turn
                    page = pages[name]
                    time.sleep(1.0)  # the last page's leftovers settle before the clock starts
                    start = time.perf_counter()
                    page.goto(servers[name][1] + "/")
                    page.wait_for_function(DRAWN, timeout=120_000, polling=50)
                    times[name].append(time.perf_counter() - start)
                    marks = page.evaluate("() => { window.__mapPhasesDone = true; return {...window.__mapPhases,"
                                          " response: performance.getEntriesByType('navigation')[0].responseEnd}; }")
                    page.goto("about:blank")
                    for phase in PHASE_NAMES:
                        phases[name][phase].append(marks.get(phase, float("nan")) / 1000)
            browser.close()
        load = Path("/proc/loadavg").read_text().split()[:3]
        for name in variants:
            print(f"navigation → every layer drawn, {name} (headless Chromium, SwiftShader): "
                  f"median {statistics.median(times[name]):.2f} s, p95 {_p95(times[name]):.2f} s "
                  f"(runs: {', '.join(f'{t:.2f}' for t in times[name])}); load average {' '.join(load)}")
            print("  phases, median s after navigation: " + ", ".join(
                f"{phase} {statistics.median(phases[name][phase]):.2f}" for phase in PHASE_NAMES))
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=10)


def main() -> None:
    os.environ.setdefault("CITYOPS_SECRET_KEY", "bench")
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="an existing scale-1.0 demo city (default: seed a fresh one)")
    parser.add_argument("--browser", action="store_true", help="also time the map in headless Chromium")
    parser.add_argument("--live", action="store_true", help="only the live layers at 500 and 5,000 open incidents")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per live figure (median)")
    parser.add_argument("--browser-runs", type=int, default=7, help="navigations per variant (--browser)")
    parser.add_argument("--browser-only", action="store_true", help="only the browser comparison")
    parser.add_argument("--no-before", action="store_true", help="--browser without today's committed code")
    parser.add_argument("--scale", type=float, default=1.0, help="the demo city's scale when seeding one")
    args = parser.parse_args()
    db = _city(args.db, args.scale)
    if args.live:
        bench_live(db, args.runs)
        return
    if args.browser or args.browser_only:
        bench_browser(db.url, args.browser_runs, compare=not args.no_before)
        if args.browser_only:
            return
    bench_assignment(db)
    bench_payloads(db)
    bench_live(db, args.runs)


if __name__ == "__main__":
    main()
