"""Load bench (issues 7 and 21): the real app under big screens, phones and sensor ingest at once.

Starts the app in each ``--profile`` given, one after the other, each on a fresh copy of a seeded scale-1.0
city (``load_servers``):

- ``embedded`` (default): ``python app.py serve`` (web + scheduler + simulator, as the embedded default
  runs) on SQLite (``--db``, copied; default: a new one seeded);
- ``production``: the processes of ``scripts/prod`` with TLS off — gunicorn with ``--web-workers`` (3)
  sync workers through ``wsgi.py`` and one ``python app.py worker`` (scheduler; no simulator, no MQTT) — on
  PostgreSQL (``--pg-city``, a database copied with ``CREATE DATABASE … TEMPLATE``; default: a new one
  seeded; the copy is dropped at the end); ``production:T`` runs gunicorn's gthread workers with T threads
  each instead (not what scripts/prod runs: a variant to compare);

and, for ``--duration`` seconds (default 600), drives at the same time:

- ``--screens`` big screens (default 20), each signed in as the operator on ``/``;
- ``--phones`` grid workers' phones (default 200), each signed in as its own worker on ``/worker``;
- sensor ingest at ``--ingest-factor`` times the demo rate (default 10; the demo has every sensor report
  once a minute) through ``POST /api/v1/readings`` with a bearer token, from 10 gateways posting every
  second;
- an alert probe: every ``--probe-every`` seconds a breaching reading for a probe sensor, then
  ``GET /api/v1/alerts?state=firing`` until its alert shows (the alert lag), then a clearing reading;
- ``--citizen-reports`` citizen reports a minute (default 0; issue 20), started at a steady rate once the
  pages are open (open loop: a slow answer does not slow the rate), each as a phone on the open side files
  one: ``GET /api/v1/public/challenge``, the proof of work solved in a separate process (as the phone
  would, off the bench's own threads), ``POST /api/v1/public/reports`` with a ~1 MB 1600×1200 JPEG and a
  doorplate (bench_public_reports' helpers), then a ``GET`` of its tracking page ``/report/<code>``.
  Each report comes from its own address, as real citizens' phones do: the embedded default trusts no proxy
  header, and the per-address limits (10 reports, 60 challenges an hour by default) are kept as shipped
  rather than raised for the bench; the server is therefore started as the public side is
  deployed behind the DMZ proxy (README), ``CITYOPS_PUBLIC_CLIENT_IP_HEADER=X-Real-IP``, and each report
  carries its own ``X-Real-IP`` (the rate limits are not raised: every address files one report).

Each page is driven as the browser drives it: the bench reads ``/_dash-layout``, ``/_dash-dependencies``
and the page's layout (the ``_pages_content`` callback), fires the callbacks a page fires when it opens,
then every server-side callback tied to one of the page's ``dcc.Interval`` components at that interval
(big screen: the 5-s live refresh and the 15-s panels; phone: the task list at the page's reload
interval), with the inputs and states the page holds (the layout's values, updated from each answer).
Simplifications: a page's periodic callbacks go one after the other (a browser may send them in
parallel), and callbacks that an answer would trigger in turn are not followed.

The client is one process: a thread per page, each with its own keep-alive session (a phone's task
list polls once a minute, so 1,000 phones are ~17 requests a second, and a screen ~0.6 a second), and a
GIL switch interval of 1 ms so that an answer waits little for the interpreter. Sign-ins happen before the
window, against passwords the bench hashes at argon2's cheapest cost (``prepare_city``).

Prints p50/p95/p99 latency per callback and client kind (and per Interval, every callback it fires), the
ingest rate achieved, the alert lag and every error (any non-2xx answer or exception), the server's CPU by
part (web, scheduler worker, PostgreSQL backends) and memory, the client's own CPU, how busy the whole
machine was and the load average; with both profiles, a table of the two side by side.

    .venv/bin/python bench/bench_load.py [--duration 600] [--screens 20] [--phones 200] [--db URL]
                                         [--citizen-reports 0] [--profile embedded,production]
                                         [--pg-city URL] [--web-workers 3] [--opening 4] [--open-timeout 900]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from argon2 import PasswordHasher, Type
from sqlalchemy import func, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_public_reports import citizen_address, doorplate_codes, photo_jpeg, report_fields
from load_servers import Server, Usage, loadavg, machine_busy, pg_copy, pg_drop

from alerts.simulator import PROFILES
from data.db import Database
from data.models import Grid, Incident, Sensor, User
from dispatch import citizen

ROOT = Path(__file__).resolve().parents[1]
SCREEN_LOGIN = ("operator", "operator123")
PHONE_PASSWORD = "phone-bench-1"
PROBE_SENSOR = "BENCH-PROBE-01"
PROBE_RULE = {
    "id": "bench-probe-high", "name": {"zh": "压测探针", "en": "Load bench probe"},
    "applies_to": {"ids": [PROBE_SENSOR]},
    "condition": {"type": "threshold", "op": ">", "levels": {"red": 100}},
    "clear": {"op": "<", "value": 50},
}
GATEWAYS = 10
TIMEOUT_S = 60.0
OPEN_STATES = ("reported", "filed", "dispatched", "in_progress", "resolved")
#: The header the DMZ proxy puts a citizen's address in (README "Deployment through the DMZ").
CITIZEN_ADDRESS_HEADER = "X-Real-IP"
#: Reports in flight at most (each a thread); beyond, a report waits for a free one (and starts late).
CITIZEN_THREADS = 32
CITIZEN_PLATES = 2000
#: argon2id at its cheapest (8 KiB, one pass) for the bench's own sign-ins: see ``prepare_city``
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=16, type=Type.ID)
PROFILES_RUN = ("embedded", "production")


# --- measurements -------------------------------------------------------------------------------


@dataclass
class Stats:
    """Latencies and errors by kind; only what starts inside the measured window counts."""

    window: tuple[float, float] = (float("inf"), float("inf"))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    warmup_errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inside(self, started: float) -> bool:
        return self.window[0] <= started < self.window[1]

    def record(self, kind: str, started: float, seconds: float, error: str | None = None) -> None:
        with self.lock:
            if not self.inside(started):
                if error:
                    self.warmup_errors[kind] += 1
                    when = "warm-up" if started < self.window[0] else "after the window"
                    self.samples.append(f"({when}) {kind}: {error}")
                return
            if error:
                self.errors[kind] += 1
                self.samples.append(f"{kind}: {error}")
            else:
                self.latencies[kind].append(seconds)

    def add(self, name: str, started: float, n: int = 1) -> None:
        with self.lock:
            if self.inside(started):
                self.counts[name] += n


def percentiles(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) < 2:
        return f"{values[0] * 1000:.0f} ms (1 sample)"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return (f"p50 {statistics.median(values) * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, "
            f"p99 {q[98] * 1000:.0f} ms, max {max(values) * 1000:.0f} ms (n={len(values)})")


def timed(stats: Stats, kind: str, send: Callable[[], requests.Response]) -> requests.Response | None:
    """Send one request, record its latency or its error (non-2xx or exception); the answer if 2xx."""
    started = time.monotonic()
    try:
        response = send()
    except requests.RequestException as exc:
        stats.record(kind, started, time.monotonic() - started, f"{type(exc).__name__}: {exc}"[:300])
        return None
    elapsed = time.monotonic() - started
    if not 200 <= response.status_code < 300:
        stats.record(kind, started, elapsed, f"HTTP {response.status_code}: {response.text[:200]}")
        return None
    stats.record(kind, started, elapsed)
    return response


# --- the city under test -------------------------------------------------------------------------


def seed_city(url: str, env: dict[str, str]) -> None:
    """Migrate and seed the scale-1.0 demo city (with its year of history) at ``url``."""
    env = {**env, "CITYOPS_DATABASE_URL": url, "CITYOPS_DEMO": "1"}
    for args in (("db", "upgrade"), ("seed", "--scale", "1.0")):
        subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=env, check=True, capture_output=True,
                       timeout=900)


def copy_city(source: str, name: str, pg_server: str) -> str:
    """A fresh copy of the seeded city at ``source`` (a SQLite file through the backup API, a PostgreSQL
    database through ``CREATE DATABASE … TEMPLATE``), so that every run starts from the same city."""
    if source.startswith("sqlite"):
        target = Path(tempfile.mkdtemp(prefix="bench-load-")) / "city.db"
        with sqlite3.connect(source.split("///", 1)[1]) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return f"sqlite:///{target}"
    return pg_copy(pg_server, source.rsplit("/", 1)[1], name)


def prepare_city(url: str, phones: int) -> list[str]:
    """The usernames of ``phones`` workers, given a password: the workers of the grids with the most open
    incidents first; the operator (the screens' sign-in) gets its password too. Both are hashed with
    argon2id at its cheapest cost: each check is then microseconds instead of the product's ~0.2–1 s, so that
    1,050 sign-ins (all before the measured window) do not take the server a quarter of an hour."""
    db = Database(url)
    with db.uow() as s:
        open_work = (select(Grid.worker_id, func.count(Incident.id).label("n"))
                     .join(Incident, Incident.grid_id == Grid.id).where(Incident.state.in_(OPEN_STATES))
                     .group_by(Grid.worker_id).subquery())
        names = list(s.scalars(
            select(User.username).outerjoin(open_work, open_work.c.worker_id == User.id)
            .where(User.role == "worker", User.username != "worker")
            .order_by(func.coalesce(open_work.c.n, 0).desc(), User.id).limit(phones)))
        s.execute(update(User).where(User.username.in_(names)).values(password_hash=CHEAP_HASHER.hash(PHONE_PASSWORD)))
        s.execute(update(User).where(User.username == SCREEN_LOGIN[0])
                  .values(password_hash=CHEAP_HASHER.hash(SCREEN_LOGIN[1])))
    db.dispose()
    return names


def sensor_kinds(url: str) -> list[tuple[str, str]]:
    """(id, kind) of the city's simulated sensors."""
    db = Database(url)
    with db.uow() as s:
        rows = [tuple(r) for r in s.execute(select(Sensor.id, Sensor.kind).order_by(Sensor.id))]
    db.dispose()
    return [(sid, kind) for sid, kind in rows if kind in PROFILES]


# --- a page as the browser holds it ---------------------------------------------------------------


def key_of(cid: Any) -> str:
    """One string per component id (pattern ids as sorted JSON)."""
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else str(cid)


def components(tree: Any) -> Iterator[dict[str, Any]]:
    """Every component (``{"type", "namespace", "props"}``) of a layout tree."""
    if isinstance(tree, list):
        for item in tree:
            yield from components(item)
    elif isinstance(tree, dict):
        if "props" in tree and "type" in tree:
            yield tree
            for value in tree["props"].values():
                yield from components(value)
        else:
            for value in tree.values():
                yield from components(value)


def parse_outputs(key: str) -> list[tuple[Any, str]]:
    """Dash's callback key (``id.prop`` or ``..a.p...b.q..``) → (id, property) pairs (``@hash`` removed)."""
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    pairs = []
    for part in parts:
        component, prop = part.rsplit(".", 1)
        pairs.append((json.loads(component) if component.startswith("{") else component, prop.split("@")[0]))
    return pairs


def is_wildcard(cid: Any) -> bool:
    return isinstance(cid, dict) and any(isinstance(v, list) for v in cid.values())


class DashPage:
    """One browser tab on one page: the component properties it holds and the callbacks it fires."""

    def __init__(self, http: requests.Session, base: str, path: str, stats: Stats, label: str) -> None:
        self.http, self.base, self.path, self.stats, self.label = http, base, path, stats, label
        self.props: dict[str, dict[str, Any]] = {}
        self.ids: dict[str, Any] = {}
        self.types: dict[str, str] = {}
        self.deps: list[dict[str, Any]] = []
        self.periodic: list[tuple[float, list[dict[str, Any]], str]] = []  # (seconds, callbacks, interval id)
        self.ticks: Counter[str] = Counter()

    def _index(self, tree: Any) -> None:
        for component in components(tree):
            cid = component["props"].get("id")
            if cid is not None:
                self.ids[key_of(cid)] = cid
                self.types[key_of(cid)] = component["type"]
                self.props.setdefault(key_of(cid), {}).update(
                    {k: v for k, v in component["props"].items() if k != "children"})

    def _matches(self, pattern: Any) -> list[Any]:
        """The component ids a pattern id (ALL) stands for, or the id itself."""
        if not is_wildcard(pattern):
            return [pattern]
        return [cid for cid in self.ids.values() if isinstance(cid, dict) and cid.keys() == pattern.keys()
                and all(isinstance(v, list) or cid[k] == v for k, v in pattern.items())]

    def _entries(self, specs: list[dict[str, Any]]) -> list[Any]:
        entries = []
        for spec in specs:
            raw = spec["id"]
            cid = json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else raw
            items = [{"id": c, "property": spec["property"],
                      "value": self.props.get(key_of(c), {}).get(spec["property"])} for c in self._matches(cid)]
            entries.append(items if is_wildcard(cid) else items[0])
        return entries

    def name_of(self, dep: dict[str, Any]) -> str:
        return key_of(parse_outputs(dep["output"])[0][0]).split('"type":')[-1].strip('"}')

    def fire(self, dep: dict[str, Any], trigger: str | None = None, kind: str | None = None) -> bool:
        """Send one callback request as the browser builds it; keep what it answers. True when 2xx."""
        outputs = [[{"id": c, "property": prop} for c in self._matches(cid)] if is_wildcard(cid)
                   else {"id": cid, "property": prop} for cid, prop in parse_outputs(dep["output"])]
        body = {"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": self._entries(dep["inputs"]), "state": self._entries(dep.get("state", [])),
                "changedPropIds": [trigger] if trigger else []}
        kind = kind or f"{self.label} {self.name_of(dep)}"
        response = timed(self.stats, kind, lambda: self.http.post(f"{self.base}/_dash-update-component",
                                                                   json=body, timeout=TIMEOUT_S))
        if response is None:
            return False
        if response.status_code == 200:
            for cid, values in response.json().get("response", {}).items():
                key = key_of(json.loads(cid)) if cid.startswith("{") else cid
                keep = {p: v for p, v in values.items() if p != "figure" and not (
                    isinstance(v, dict) and "__dash_patch_update" in v)}
                self.props.setdefault(key, {}).update(keep)
                if "children" in values:
                    self._index(values["children"])
        return True

    def open(self) -> None:
        """Load the shell and the page, then fire the callbacks a page fires when it opens."""
        self.deps = [d for d in self.http.get(f"{self.base}/_dash-dependencies", timeout=TIMEOUT_S).json()
                     if not d.get("clientside_function")]
        self._index(self.http.get(f"{self.base}/_dash-layout", timeout=TIMEOUT_S).json())
        self.props.setdefault("_pages_location", {}).update({"pathname": self.path, "search": ""})
        router = next(d for d in self.deps if "_pages_content.children" in d["output"])
        if not self.fire(router, "_pages_location.pathname", kind=f"{self.label} page"):
            raise RuntimeError(f"{self.label}: cannot open {self.path}")
        present = set(self.ids)
        for dep in self.deps:
            inputs = [i["id"] for i in dep["inputs"]]
            if dep is router or dep.get("prevent_initial_call") is True:
                continue
            if all(i.startswith("{") or i in present for i in inputs) and any(i in present for i in inputs):
                self.fire(dep, kind=f"{self.label} open")
        for key, cid in list(self.ids.items()):
            p = self.props.get(key, {})
            if self.types.get(key) == "Interval" and not p.get("disabled"):
                tied = [d for d in self.deps if {"id": cid, "property": "n_intervals"} in d["inputs"]]
                if tied:
                    self.periodic.append((p.get("interval", 1000) / 1000, tied, cid))

    def tick(self, interval_id: str, callbacks: list[dict[str, Any]]) -> None:
        """One ``n_intervals`` step of an Interval: fire its callbacks."""
        self.ticks[interval_id] += 1
        self.props.setdefault(interval_id, {})["n_intervals"] = self.ticks[interval_id]
        for dep in callbacks:
            self.fire(dep, f"{interval_id}.n_intervals", kind=f"{self.label} {interval_id} → {self.name_of(dep)}")


def login(http: requests.Session, base: str, username: str, password: str) -> None:
    answer = http.post(f"{base}/login", data={"username": username, "password": password}, allow_redirects=False,
                       timeout=TIMEOUT_S)
    if answer.status_code != 302:
        raise RuntimeError(f"login {username}: HTTP {answer.status_code}")


def run_page(base: str, credentials: tuple[str, str], path: str, label: str, stats: Stats, stop: threading.Event,
             opening: threading.Semaphore, opened: threading.Semaphore) -> None:
    """A browser tab: sign in, open ``path`` (a few tabs at a time: ``opening``; ``opened`` is released
    once done), then fire each Interval's callbacks at its interval until ``stop`` (the first tick of each
    at a random point of its interval, as tabs are opened at random)."""
    http = requests.Session()
    try:
        with opening:
            if stop.is_set():  # the run is over before this page's turn came: no sign-in into a stopping server
                return
            login(http, base, *credentials)
            page = DashPage(http, base, path, stats, label)
            page.open()
    except (requests.RequestException, RuntimeError, ValueError) as exc:
        stats.record(f"{label} open", time.monotonic(), 0.0, f"{type(exc).__name__}: {exc}"[:300])
        return
    finally:
        opened.release()
    now = time.monotonic()
    due = [now + random.uniform(0, seconds) for seconds, _, _ in page.periodic]
    while not stop.is_set() and page.periodic:
        i = min(range(len(due)), key=due.__getitem__)
        if stop.wait(max(0.0, due[i] - time.monotonic())):
            break
        seconds, callbacks, interval_id = page.periodic[i]
        page.tick(interval_id, callbacks)
        due[i] += seconds
        if due[i] < time.monotonic():  # a browser's Interval does not catch up on missed ticks
            due[i] = time.monotonic() + seconds


# --- sensors ------------------------------------------------------------------------------------


def reading_value(rng: random.Random, kind: str) -> float:
    """A plausible, quiet reading of ``kind`` (its level plus noise): load without an alert storm."""
    profile = PROFILES[kind]
    value = profile.base + max(-3.0, min(3.0, rng.gauss(0, 1))) * profile.noise
    return round(min(max(value, profile.low), profile.high), profile.digits)


def run_gateway(base: str, token: str, sensors: list[tuple[str, str]], every_s: float, stats: Stats,
                stop: threading.Event) -> None:
    """Post this gateway's sensors' readings once a second, each sensor once per ``every_s``."""
    http, rng = requests.Session(), random.Random(len(sensors))
    headers = {"Authorization": f"Bearer {token}"}
    per_tick = max(1, round(len(sensors) / every_s))
    offset, next_at = rng.randrange(len(sensors)), time.monotonic() + rng.random()
    while not stop.wait(max(0.0, next_at - time.monotonic())):
        next_at += 1.0
        now = datetime.now(UTC)
        batch = [sensors[(offset + i) % len(sensors)] for i in range(per_tick)]
        offset += per_tick
        rows = [{"sensor_id": sid, "ts": now.isoformat(), "value": reading_value(rng, kind)} for sid, kind in batch]
        started = time.monotonic()
        answer = timed(stats, "ingest POST /api/v1/readings",
                       lambda rows=rows: http.post(f"{base}/api/v1/readings", json={"readings": rows},
                                                   headers=headers, timeout=TIMEOUT_S))
        if answer is not None:
            body = answer.json()
            stats.add("readings accepted", started, body["accepted"])
            stats.add("readings sent", started, len(rows))
            stats.add("readings rejected", started, len(body["rejected"]))


def setup_probe(base: str, token: str) -> None:
    """The probe sensor (a kind the simulator does not feed) and its rule, through the API."""
    headers = {"Authorization": f"Bearer {token}"}
    sensor = {"id": PROBE_SENSOR, "kind": "bench_probe", "family": "bench", "name": "压测探针", "unit": "1",
              "lon": 117.02, "lat": 36.67}
    for path, body in (("/api/v1/sensors", sensor), ("/api/v1/rules", {"rule": PROBE_RULE})):
        answer = requests.post(base + path, json=body, headers=headers, timeout=TIMEOUT_S)
        if answer.status_code not in (201, 409):
            raise RuntimeError(f"{path}: HTTP {answer.status_code} {answer.text[:300]}")


def run_probe(base: str, token: str, every_s: float, stats: Stats, stop: threading.Event) -> None:
    """Every ``every_s``: a breaching reading, then poll the firing alerts until its alert shows (the lag,
    from sending the reading), then a clearing reading so that the next probe opens a new alert."""
    http = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    seen: set[int] = set()

    def post(value: float) -> requests.Response | None:
        row = {"sensor_id": PROBE_SENSOR, "ts": datetime.now(UTC).isoformat(), "value": value}
        return timed(stats, "probe POST /api/v1/readings",
                     lambda: http.post(f"{base}/api/v1/readings", json={"readings": [row]}, headers=headers,
                                       timeout=TIMEOUT_S))

    next_at = time.monotonic() + 5
    while not stop.wait(max(0.0, next_at - time.monotonic())):
        next_at += every_s
        since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        started = time.monotonic()
        if post(150.0) is None:
            continue
        shown = None
        while shown is None and time.monotonic() - started < TIMEOUT_S and not stop.is_set():
            answer = timed(stats, "probe GET /api/v1/alerts",
                           lambda since=since: http.get(f"{base}/api/v1/alerts", headers=headers,
                                                        params={"state": "firing", "since": since}, timeout=TIMEOUT_S))
            alerts = answer.json() if answer is not None else []
            shown = next((a for a in alerts if a["sensor_id"] == PROBE_SENSOR and a["id"] not in seen), None)
            if shown is None:
                time.sleep(0.25)
        if shown is None:
            if not stop.is_set():
                stats.record("alert lag", started, 0.0, f"no firing alert within {TIMEOUT_S:.0f} s")
            continue
        seen.add(shown["id"])
        stats.record("alert lag", started, time.monotonic() - started)
        time.sleep(0.2)
        post(0.0)


# --- citizens on the public side (issue 20) ------------------------------------------------------


def solve_timed(nonce: str, difficulty: int) -> tuple[str, float]:
    """Solve a challenge (in the proof-of-work process); the counter and the seconds it took."""
    started = time.perf_counter()
    return citizen.solve(nonce, difficulty), time.perf_counter() - started


def file_report(base: str, i: int, plate: str, photo: bytes, solver: Executor, stats: Stats,
                local: threading.local) -> None:
    """The ``i``-th citizen files a report from its own address and opens its tracking page."""
    http = getattr(local, "http", None)
    if http is None:
        http = local.http = requests.Session()
    headers = {CITIZEN_ADDRESS_HEADER: citizen_address(i)}
    started = time.monotonic()
    issued = timed(stats, "citizen GET /api/v1/public/challenge",
                   lambda: http.get(f"{base}/api/v1/public/challenge", headers=headers, timeout=TIMEOUT_S))
    if issued is None:
        return
    nonce, difficulty = issued.json()["nonce"], issued.json()["difficulty"]
    counter, solve_s = solver.submit(solve_timed, nonce, difficulty).result()
    stats.record("citizen proof of work (client side, hashlib)", started, solve_s)
    fields = report_fields(i, plate, nonce, counter)
    answer = timed(stats, "citizen POST /api/v1/public/reports",
                   lambda: http.post(f"{base}/api/v1/public/reports", data=fields, headers=headers,
                                     files={"photo": ("p.jpg", photo, "image/jpeg")}, timeout=TIMEOUT_S))
    if answer is None:
        return
    stats.add("citizen reports filed", started)
    code = answer.json()["tracking_code"]
    timed(stats, "citizen GET /report/<code>",
          lambda: http.get(f"{base}/report/{code}", headers=headers, timeout=TIMEOUT_S))


def run_citizens(base: str, per_minute: float, plates: list[str], stats: Stats, stop: threading.Event) -> None:
    """Start a citizen's report every ``60 / per_minute`` s until ``stop``, each on a thread of a pool (so a
    slow answer does not slow the rate), the proofs of work in one separate process."""
    photo, local, every = photo_jpeg(), threading.local(), 60 / per_minute

    def one(i: int) -> None:
        started = time.monotonic()
        try:
            file_report(base, i, plates[i % len(plates)], photo, solver, stats, local)
        except (requests.RequestException, KeyError, ValueError, RuntimeError) as exc:
            stats.record("citizen report", started, 0.0, f"{type(exc).__name__}: {exc}"[:300])

    with (ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as solver,
          ThreadPoolExecutor(CITIZEN_THREADS) as pool):
        i, next_at = 0, time.monotonic()
        while not stop.wait(max(0.0, next_at - time.monotonic())):
            stats.add("citizen reports started", time.monotonic())
            pool.submit(one, i)
            i, next_at = i + 1, next_at + every
        pool.shutdown(cancel_futures=True)


# --- the run --------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Run:
    """One profile's measured window and what it cost."""

    profile: str
    stats: Stats
    seconds: float
    usage: Usage
    client_cpu: float
    machine: float
    load: tuple[str, str]
    opened_s: float
    pages_open: int
    log: str
    logdir: Path
    uploads_mb: float
    target_rate: float

    def periodic(self, label: str) -> dict[str, list[float]]:
        """The latencies of a client kind's periodic callbacks, by Interval (every callback it fires)."""
        groups: dict[str, list[float]] = defaultdict(list)
        for kind, values in self.stats.latencies.items():
            if kind.startswith(f"{label} ") and " → " in kind:
                groups[kind[len(label) + 1:].split(" → ")[0]].extend(values)
        return groups

    def share(self, seconds: float) -> str:
        return f"{seconds / self.seconds * 100:.0f} %"


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def p50_95(values: list[float]) -> str:
    return f"{quantile(values, 50) * 1000:,.0f} / {quantile(values, 95) * 1000:,.0f} ms" if values else "—"


def report(run: Run, args: argparse.Namespace) -> None:
    stats, seconds = run.stats, run.seconds
    print(f"\n== load ({run.profile}): {args.screens} big screens, {args.phones} phones, "
          f"ingest ×{args.ingest_factor:g}, {args.citizen_reports:g} citizen reports a minute for {seconds:.0f} s ==")
    for kind in sorted(stats.latencies):
        values = stats.latencies[kind]
        print(f"{kind:58s} {percentiles(values)}  ({len(values) / seconds:.1f}/s)")
    for label in ("screen", "phone"):
        for interval, values in sorted(run.periodic(label).items()):
            print(f"{f'{label} {interval}, every callback':58s} {percentiles(values)}  ({len(values) / seconds:.1f}/s)")
    print(f"ingest: {stats.counts['readings accepted'] / seconds:.1f} readings/s accepted "
          f"(target {run.target_rate:.1f}/s = ×{args.ingest_factor:g} the demo's rate), "
          f"{stats.counts['readings sent']} sent, {stats.counts['readings rejected']} rejected")
    if args.citizen_reports:
        print(f"citizen reports: {stats.counts['citizen reports filed'] / seconds * 60:.1f}/min filed "
              f"(target {args.citizen_reports:g}/min; {stats.counts['citizen reports started']} started, "
              f"{stats.counts['citizen reports filed']} filed in the window); photos stored: {run.uploads_mb:.0f} MB "
              f"in all (removed)")
    total = sum(len(v) for v in stats.latencies.values()) + sum(stats.errors.values())
    print(f"{run.pages_open} of {args.screens + args.phones} pages open after {run.opened_s:.0f} s "
          f"(the window began 10 s later); requests: {total} in the window ({total / seconds:.1f}/s); "
          f"errors: {sum(stats.errors.values())} {dict(stats.errors) or ''}; "
          f"errors outside the window (warm-up, shutdown): {sum(stats.warmup_errors.values())}")
    for sample in stats.samples[:10]:
        print(f"  {sample}")
    parts = ", ".join(f"{part} {run.share(cpu)}" for part, cpu in run.usage.cpu.items())
    print(f"server: {run.share(sum(run.usage.cpu.values()))} of one core on average ({parts}; {os.cpu_count()} cores), "
          f"RSS {run.usage.rss_mb:.0f} MB at the end (summed over its processes); log lines with Traceback: "
          f"{run.log.count('Traceback')} ({run.logdir})")
    print(f"bench client: {run.share(run.client_cpu)} of one core (its threads; the proofs of work apart); "
          f"the whole machine {run.machine * 100:.0f} % busy; load average {run.load[0]} at the start, "
          f"{run.load[1]} at the end")


def compare(runs: list[Run]) -> None:
    """The profiles side by side: the figures of issue 21's load row."""
    head = "| p50 / p95 | " + " | ".join(r.profile for r in runs) + " |"
    print("\n" + head + "\n|" + "---|" * (len(runs) + 1))
    rows: list[tuple[str, list[str]]] = []
    for label in ("screen", "phone"):
        intervals = sorted({i for r in runs for i in r.periodic(label)})
        rows += [(f"{label} {i}", [p50_95(r.periodic(label).get(i, [])) for r in runs]) for i in intervals]
    rows += [
        ("ingest POST", [p50_95(r.stats.latencies["ingest POST /api/v1/readings"]) for r in runs]),
        ("alert lag", [p50_95(r.stats.latencies["alert lag"]) for r in runs]),
        ("readings accepted", [f"{r.stats.counts['readings accepted'] / r.seconds:.1f}/s of {r.target_rate:.1f}"
                               for r in runs]),
        ("requests; errors", [f"{sum(len(v) for v in r.stats.latencies.values())}; {sum(r.stats.errors.values())}"
                              for r in runs]),
        ("pages open; seconds to open", [f"{r.pages_open}; {r.opened_s:.0f} s" for r in runs]),
        ("server CPU (of one core)", [", ".join(f"{p} {r.share(c)}" for p, c in r.usage.cpu.items()) for r in runs]),
        ("server RSS", [f"{r.usage.rss_mb:.0f} MB" for r in runs]),
        ("bench client CPU", [r.share(r.client_cpu) for r in runs]),
        ("machine busy; load average", [f"{r.machine * 100:.0f} %; {r.load[0]} → {r.load[1]}" for r in runs]),
    ]
    for name, cells in rows:
        print(f"| {name} | " + " | ".join(cells) + " |")


def run_profile(profile: str, args: argparse.Namespace, city: str, port: int, web_threads: int = 1) -> Run:
    """Start ``profile`` on a fresh copy of ``city``, open the pages, drive everything and measure (production:
    gunicorn with ``web_threads`` threads per worker; 1 = sync workers, as scripts/prod)."""
    logdir = Path(tempfile.mkdtemp(prefix=f"bench-load-{profile}-"))
    env = {**os.environ, "CITYOPS_SECRET_KEY": "bench-load", "CITYOPS_LANG": "zh",
           "CITYOPS_UPLOADS_DIR": str(logdir / "uploads"), "CITYOPS_PUBLIC_CLIENT_IP_HEADER": CITIZEN_ADDRESS_HEADER,
           "CITYOPS_DEMO": "1" if profile == "embedded" else "0"}
    env.pop("CITYOPS_MQTT_URL", None)  # readings come over HTTP only (the shared broker carries other work)
    if profile == "production":  # as scripts/prod sets them, TLS off
        env.update({"CITYOPS_TLS": "off", "CITYOPS_HTTPS": "0", "CITYOPS_WEB_WORKERS": str(args.web_workers)})
    (logdir / "uploads").mkdir()
    database = f"bench_load_{profile}_{os.getpid()}"
    print(f"[{profile}] copying the city …", flush=True)
    url = copy_city(city, database, args.pg_server)
    server = Server(profile, f"http://127.0.0.1:{port}", {**env, "CITYOPS_DATABASE_URL": url}, logdir,
                    args.web_workers, web_threads)
    try:
        phone_users = prepare_city(url, args.phones)
        sensors = sensor_kinds(url)
        db = Database(url)
        plates = doorplate_codes(db, CITIZEN_PLATES)
        db.dispose()
        print(f"[{profile}] starting the server …", flush=True)
        server.start()
        stats, seconds, usage, client_cpu, machine, load, (opened_s, pages_open) = drive(
            server, args, phone_users, sensors, plates)
    finally:
        server.stop()
        if url.startswith("postgresql"):
            pg_drop(args.pg_server, database)
        else:
            shutil.rmtree(Path(url.split("///", 1)[1]).parent, ignore_errors=True)
    uploads = Path(env["CITYOPS_UPLOADS_DIR"])
    uploads_mb = sum(f.stat().st_size for f in uploads.rglob("*") if f.is_file()) / 2**20
    shutil.rmtree(uploads, ignore_errors=True)
    label = profile if profile == "embedded" else f"production ({args.web_workers}×{web_threads})"
    return Run(label, stats, seconds, usage, client_cpu, machine, load, opened_s, pages_open, server.log_text(),
               logdir, uploads_mb, len(sensors) / 60 * args.ingest_factor)


def drive(server: Server, args: argparse.Namespace, phone_users: list[str], sensors: list[tuple[str, str]],
          plates: list[str]) -> tuple[Stats, float, Usage, float, float, tuple[str, str], tuple[float, int]]:
    """Open the pages, run every client until the window ends; what the window measured."""
    stats, stop = Stats(), threading.Event()
    threads: list[threading.Thread] = []
    try:
        token = server.cli("users", "token", "admin").strip().splitlines()[-1]
        setup_probe(server.url, token)
        opening, opened = threading.Semaphore(args.opening), threading.Semaphore(0)
        pages = [(SCREEN_LOGIN, "/", "screen") for _ in range(args.screens)]
        pages += [((name, PHONE_PASSWORD), "/worker", "phone") for name in phone_users]
        for credentials, path, label in pages:
            threads.append(threading.Thread(target=run_page, daemon=True, args=(
                server.url, credentials, path, label, stats, stop, opening, opened)))
        every_s = 60 / args.ingest_factor
        for g in range(GATEWAYS):
            threads.append(threading.Thread(target=run_gateway, daemon=True, args=(
                server.url, token, sensors[g::GATEWAYS], every_s, stats, stop)))
        threads.append(threading.Thread(target=run_probe, daemon=True,
                                        args=(server.url, token, args.probe_every, stats, stop)))
        print(f"[{server.profile}] opening {len(pages)} pages; {len(sensors)} sensors over {GATEWAYS} gateways …",
              flush=True)
        began = time.monotonic()
        for thread in threads:
            thread.start()
        n_open, give_up = 0, began + args.open_timeout
        while n_open < len(pages) and opened.acquire(timeout=max(0.0, give_up - time.monotonic())):
            n_open += 1
        opened_s = time.monotonic() - began
        print(f"[{server.profile}] {n_open} of {len(pages)} pages open after {opened_s:.0f} s", flush=True)
        if args.citizen_reports > 0:
            citizens = threading.Thread(target=run_citizens, daemon=True, args=(
                server.url, args.citizen_reports, plates, stats, stop))
            threads.append(citizens)
            citizens.start()
        time.sleep(10)
        cpu_before, client_before, busy_before = server.snapshot(), time.process_time(), machine_busy()
        load_before, start = loadavg(), time.monotonic()
        stats.window = (start, start + args.duration)
        print(f"[{server.profile}] measuring for {args.duration:.0f} s (load average {load_before}) …", flush=True)
        time.sleep(args.duration)
        elapsed, client_cpu, busy = time.monotonic() - start, time.process_time() - client_before, machine_busy()
        usage, load = server.usage(cpu_before), (load_before, loadavg())
        machine = (busy[0] - busy_before[0]) / max(1, busy[1] - busy_before[1])
    finally:
        stop.set()
        deadline = time.monotonic() + TIMEOUT_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    return stats, elapsed, usage, client_cpu, machine, load, (opened_s, n_open)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="measured seconds (default 600)")
    parser.add_argument("--screens", type=int, default=20)
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--ingest-factor", type=float, default=10.0, help="× the demo's reading rate")
    parser.add_argument("--probe-every", type=float, default=30.0, help="seconds between alert probes")
    parser.add_argument("--profile", default="embedded",
                        help="embedded, production, or several in turn: embedded,production (default embedded); "
                             "production:T runs gunicorn's gthread workers with T threads each (--threads T) "
                             "instead of scripts/prod's sync workers")
    parser.add_argument("--db", help="a seeded scale-1.0 city for the embedded default, copied for each run "
                                     "(default: seed a new SQLite one)")
    parser.add_argument("--pg-city", help="a seeded scale-1.0 PostgreSQL city for the production profile, copied "
                                          "for each run (default: seed a new one, dropped at the end)")
    parser.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432",
                        help="the PostgreSQL server of the production profile (trust auth; default %(default)s)")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn web workers (production; default 3)")
    parser.add_argument("--opening", type=int, default=4, help="pages opened at a time (default 4)")
    parser.add_argument("--open-timeout", type=float, default=900.0,
                        help="seconds to wait for the pages to open; the window then begins with those open "
                             "(the rest keep opening; default 900)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--citizen-reports", type=float, default=0.0,
                        help="citizen reports a minute on the public side (default 0)")
    args = parser.parse_args()
    profiles = args.profile.split(",")
    if not {p.split(":")[0] for p in profiles} <= set(PROFILES_RUN) or not all(
            p.split(":")[1].isdigit() for p in profiles if ":" in p):
        parser.error(f"--profile: one or more of {', '.join(PROFILES_RUN)} (production:T for T threads)")
    # a response that arrives waits less for the GIL among ~1,000 client threads (default 5 ms)
    sys.setswitchinterval(0.001)
    seeded: list[str] = []
    cities = {"embedded": args.db, "production": args.pg_city}
    runs = []
    try:
        for spec in profiles:
            profile, _, threads = spec.partition(":")
            if cities[profile] is None:
                print(f"[{profile}] seeding a scale-1.0 city …", flush=True)
                if profile == "embedded":
                    cities[profile] = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-load-seed-')) / 'city.db'}"
                else:
                    name = f"bench_load_seed_{os.getpid()}"
                    pg_drop(args.pg_server, name)
                    pg_copy(args.pg_server, "template0", name)
                    cities[profile] = f"{args.pg_server}/{name}"
                    seeded.append(name)
                seed_city(cities[profile], dict(os.environ))
            runs.append(run_profile(profile, args, cities[profile], args.port or free_port(), int(threads or 1)))
            report(runs[-1], args)
    finally:
        for name in seeded:
            pg_drop(args.pg_server, name)
    if len(runs) > 1:
        compare(runs)


if __name__ == "__main__":
    main()
