"""Benchmark: the emergency command board's refresh (issue 18 §3; targets ≤ 100 ms server time and ≤ 20 KB on the
wire per tick).

A fresh SQLite database (or ``--pg URL``: a PostgreSQL database that is migrated here and must be empty) with the
reference catalog, the shipped rules and plans, and an event activated at level IV whose area holds ``--incidents``
open incidents (default 500), ``--sensors`` sensors (200) with the last hour of their readings (one a minute, as the
simulator's sensors report) and a firing alert on every tenth, and ``--cameras`` cameras (50), plus resources and key
places. A signed-in operator's browser is the Flask test client; each tick is the real Dash request
(``/_dash-update-component`` of ``callbacks.command.refresh_board``). Measured, ``--runs`` times each (median and
max of the server time, size of the answer):

- ``first``: the first draw (every section and the whole map figure);
- ``values``: every sensor has a new reading and value (the simulator's minute): the map is a Patch of the sensors'
  look, the sensors panel (the trends of the few worth watching) is redrawn;
- ``alert``: one alert is raised or lowered a level: a Patch of the alerts layer's look and the sensors panel;
- ``idle``: nothing changed: only the digests go back;
- ``sensors``: alone, the part of a tick that reads the sensors' trends and the area's alerts
  (``dispatch.event_sensors``).

``cpu ms`` is the process's CPU time for the request (the test client serves it in this process): on a shared,
busy machine it moves far less than the wall-clock time, which includes waiting for a core.

Run: ``.venv/bin/python bench/bench_command_board.py [--runs 20]``. Prints a table; figures in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, update

import app as cityops
from alerts.rules_loader import sync_rule_files
from data.accounts import create_user
from data.catalog import load_catalog
from data.db import Database
from data.models import Alert, Camera, Incident, KeyPlace, Reading, Resource, Sensor, User, VideoPlatform, utcnow
from dispatch import emergency, emergency_plans, event_sensors, routing
from layouts import ids
from settings import Settings

PASSWORD = "a long bench pass phrase 18"
CENTRE = (117.0, 36.65)
ALERT_EVERY = 10  # a firing alert on every tenth sensor
ALERT_LEVELS = ("yellow", "orange", "red", "blue")
SPREAD = 0.012  # degrees: the points fall within ~1.3 km of the centre (the plan's 2 km area)
OUTPUTS = [(ids.COMMAND_HEADER, "children"), (ids.COMMAND_MAP, "figure"), (ids.COMMAND_TASKS, "children"),
           (ids.COMMAND_TIMELINE, "children"), (ids.COMMAND_KPIS, "children"), (ids.COMMAND_DUTY, "children"),
           (ids.COMMAND_RESOURCES, "children"), (ids.COMMAND_CAMERAS, "children"),
           (ids.COMMAND_SENSORS, "children"), (ids.COMMAND_DIGESTS, "data")]


def _point(rng: random.Random) -> tuple[float, float]:
    return CENTRE[0] + rng.uniform(-SPREAD, SPREAD), CENTRE[1] + rng.uniform(-SPREAD, SPREAD)


def build(db: Database, incidents: int, sensors: int, cameras: int) -> int:
    """The city and the event; returns the event's id."""
    rng = random.Random(18)
    now = utcnow()
    with db.uow() as s:
        routing.clear_cache()
        load_catalog(s)
        sync_rule_files(s)
        emergency_plans.sync_plan_files(s)
        op = create_user(s, "benchop", "operator", password=PASSWORD)
        platform = VideoPlatform(code="P1", name="bench")
        s.add(platform)
        s.flush()
        s.add_all(Sensor(id=f"S-{i:04d}", kind="drain_level", family="lifeline", name=f"积水 {i}", unit="m",
                         lon=x, lat=y, last_value=0.05) for i, (x, y) in
                  ((i, _point(rng)) for i in range(sensors)))
        s.add_all(Camera(code=f"C-{i:03d}", name=f"视频 {i}", platform_id=platform.id, type="gun", lon=x, lat=y)
                  for i, (x, y) in ((i, _point(rng)) for i in range(cameras)))
        s.add_all(Resource(code=f"R-{i:03d}", name=f"队伍 {i}", kind="rescue_team", capacity=20, status="available",
                           lon=x, lat=y) for i, (x, y) in ((i, _point(rng)) for i in range(30)))
        s.add_all(KeyPlace(code=f"K-{i:03d}", name=f"场所 {i}", kind="key_place", lon=x, lat=y)
                  for i, (x, y) in ((i, _point(rng)) for i in range(20)))
        s.add_all(Incident(code=f"B-{i:05d}", state="dispatched", category_code="L03", source="patrol",
                           title="积水", lon=x, lat=y, reported_at=now, filed_at=now, dispatched_at=now)
                  for i, (x, y) in ((i, _point(rng)) for i in range(incidents)))
        s.flush()
        s.execute(insert(Reading), [{"sensor_id": f"S-{i:04d}", "ts": now - timedelta(minutes=m),
                                     "value": round(0.05 + 0.002 * m + rng.uniform(0, 0.01), 3)}
                                    for i in range(sensors) for m in range(60)])
        s.add_all(Alert(rule_id="drainage-waterlogging", sensor_id=f"S-{i:04d}", state="firing",
                        level=ALERT_LEVELS[i // ALERT_EVERY % len(ALERT_LEVELS)], value=0.3, started_at=now,
                        fired_at=now) for i in range(0, sensors, ALERT_EVERY))
        event = emergency.open_event(s, op, title="bench", scenario="urban_waterlogging", lon=CENTRE[0],
                                     lat=CENTRE[1], radius_m=2000)
        emergency.activate(s, op, event.id, plan_id="waterlogging", level="IV")
        return event.id


def sensors_part_ms(db: Database, event_id: int, runs: int) -> list[float]:
    """The time of the board's sensors and alerts reads alone (over the sensors ``emergency.board`` finds)."""
    times = []
    with db.uow() as s:
        op = s.scalar(select(User).where(User.username == "benchop"))
        data = emergency.board(s, op, event_id)
        event = data["event"]
        for _ in range(runs):
            started = time.perf_counter()
            event_sensors.area_alerts(s, data["sensors"], exercise=event["exercise"])
            event_sensors.sensor_trends(s, data["sensors"], event["lon"], event["lat"])
            times.append((time.perf_counter() - started) * 1000)
    return times


def request(event_id: int, digests: dict | None, tick: int) -> dict:
    return {"output": ".." + "...".join(f"{c}.{p}" for c, p in OUTPUTS) + "..",
            "outputs": [{"id": c, "property": p} for c, p in OUTPUTS],
            "inputs": [{"id": ids.COMMAND_TICK, "property": "n_intervals", "value": tick}],
            "state": [{"id": ids.COMMAND_EVENT, "property": "data", "value": event_id},
                      {"id": ids.COMMAND_DIGESTS, "property": "data", "value": digests}],
            "changedPropIds": [f"{ids.COMMAND_TICK}.n_intervals"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--sensors", type=int, default=200)
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--pg", default=None, help="a PostgreSQL URL of an empty database (default: SQLite)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench_command_")
    db = Database(args.pg or f"sqlite:///{folder}/bench.db")
    db.migrate()
    cityops.wire()
    event_id = build(db, args.incidents, args.sensors, args.cameras)
    server, _ = cityops.create_app(Settings(database_url=str(db.url), secret_key="bench"), db)
    client = server.test_client()
    signed_in = client.post("/login", data={"username": "benchop", "password": PASSWORD})
    assert signed_in.status_code == 302
    rng = random.Random(5)
    figures: dict[str, list[tuple[float, float, int]]] = {"first": [], "values": [], "alert": [], "idle": []}
    digests: dict = {}
    for run in range(args.runs + 1):  # run 0 warms the caches up and is not counted
        for kind in figures:
            if kind == "values":
                with db.uow() as s:
                    value = round(rng.uniform(0, 0.4), 3)
                    s.execute(update(Sensor).values(last_value=value))
                    s.execute(insert(Reading), [{"sensor_id": f"S-{i:04d}", "ts": utcnow(), "value": value}
                                                for i in range(args.sensors)])
            if kind == "alert":
                with db.uow() as s:
                    s.execute(update(Alert).where(Alert.sensor_id == "S-0000")
                              .values(level=("orange", "red")[run % 2]))
            state = {} if kind == "first" else digests
            started, cpu = time.perf_counter(), time.process_time()
            answer = client.post("/_dash-update-component", json=request(event_id, state or {}, run * 4))
            elapsed, cpu = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
            assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
            digests = answer.json["response"][ids.COMMAND_DIGESTS]["data"]
            if run:
                figures[kind].append((elapsed, cpu, len(answer.data)))
    print(f"command board: {args.incidents} incidents, {args.sensors} sensors, {args.cameras} cameras in the area; "
          f"{'PostgreSQL' if args.pg else 'SQLite'}; {args.runs} runs")
    print(f"{'tick':8} {'median ms':>10} {'max ms':>8} {'cpu ms':>8} {'bytes':>8}")
    for kind, rows in figures.items():
        times = [ms for ms, _, _ in rows]
        cpu_ms = statistics.median(c for _, c, _ in rows)
        size = statistics.median(b for _, _, b in rows)
        print(f"{kind:8} {statistics.median(times):10.1f} {max(times):8.1f} {cpu_ms:8.1f} {size:8.0f}")
    part = sensors_part_ms(db, event_id, args.runs)
    print(f"{'sensors':8} {statistics.median(part):10.1f} {max(part):8.1f} {'':>8} {'':>8}  (event_sensors alone)")


if __name__ == "__main__":
    main()
