"""Benchmark: ingest at province scale (issue 21) — today's code and the new one side by side, in the same run.

Two figures, each in a fresh database per (engine, size) holding N/10 or N readings already (bulk-loaded
with ``bench_scale.load_readings``: PostgreSQL by COPY into the day partitions, not measured), ~1,000
sensors of every simulated kind:

``http`` (PostgreSQL)
    ``alerts.ingest.ingest_readings`` as ``POST /api/v1/readings`` calls it — one unit of work per batch,
    ISO strings with an offset — in 500-row batches (and 100 and 10,000), each a run of ``--stream`` new
    readings. "before" is the file of ``git show HEAD:alerts/ingest.py`` imported from a temporary folder
    (the multi-row INSERT … RETURNING and the ``IN (…)`` lookup); "after" is the working tree's (COPY into
    a staging table, INSERT … SELECT … ON CONFLICT, array parameters). They take turns, batch size by
    batch size, on distinct readings of the same stream.

``mqtt`` (SQLite and PostgreSQL)
    ``--messages`` QoS 1 messages, one reading each, published by ``PUBLISHERS`` processes to the real
    Mosquitto at 127.0.0.1:1883 and taken by ``alerts.mqtt.MqttFeed`` (manual acks after commit): from the
    first message received until every reading is stored and acknowledged. The publishers keep at most
    ``WINDOW`` messages ahead of what is stored (Mosquitto drops QoS 1 messages beyond its queue limit,
    ``max_queued_messages`` 1000, for a client that lags). "before" is ``HEAD:alerts/mqtt.py`` with
    ``HEAD:alerts/ingest.py``; "after" the working tree's.

    .venv/bin/python bench/bench_ingest.py [--part http,mqtt] [--engines sqlite,postgresql]
        [--sizes small,large] [--readings 1000000] [--factor 10] [--stream 50000] [--messages 20000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_scale import city_sensors, fresh_database, load_readings

from alerts import ingest as ingest_now
from alerts import mqtt as mqtt_now
from alerts.simulator import PROFILES
from data.catalog import load_catalog
from data.db import Database
from data.models import Sensor

ROOT = Path(__file__).resolve().parents[1]
BROKER = "mqtt://127.0.0.1:1883"
#: Messages the publishers may be ahead of what is stored.
WINDOW = 500
#: Publishing processes: one paho client acknowledged QoS 1 at ~5,000 messages/s here, below what is measured.
PUBLISHERS = 4
INTERVAL_S = 60.0
SENSORS_PER_KIND = 1000 // len(PROFILES) + 1


def head_module(path: str, name: str, folder: Path) -> ModuleType:
    """The committed version of ``path`` (``git show HEAD:path``), imported as module ``name``."""
    source = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout
    file = folder / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def add_sensors(db: Database) -> list[tuple[str, str, int | None]]:
    with db.uow() as s:
        load_catalog(s)
        s.add_all(Sensor(id=f"B-{kind[:12]}-{i:03d}", kind=kind, family="bench", name=kind, unit=profile.unit,
                         lon=117.0 + i / 1000, lat=36.6) for kind, profile in PROFILES.items()
                  for i in range(SENSORS_PER_KIND))
    return city_sensors(db)


class Stream:
    """Readings after the bulk-loaded ones, every sensor once per ``INTERVAL_S``, handed out in runs."""

    def __init__(self, sensor_ids: list[str], start: datetime) -> None:
        self.ids, self.start, self.i = sensor_ids, start, 0

    def take(self, count: int) -> list[dict]:
        rows = []
        for i in range(self.i, self.i + count):
            step, k = divmod(i, len(self.ids))
            ts = self.start + timedelta(seconds=step * INTERVAL_S + k * INTERVAL_S / len(self.ids))
            rows.append({"sensor_id": self.ids[k], "ts": ts.isoformat(), "value": round(0.2 + (i % 97) / 100, 2)})
        self.i += count
        return rows


def bench_http(db: Database, ingest_fns: dict[str, object], stream: Stream, count: int, now: datetime) -> dict:
    figures: dict[str, float] = {}
    for batch in (100, 500, 10_000):
        for label, fn in ingest_fns.items():
            rows = stream.take(count)
            accepted = 0
            began = time.perf_counter()
            for first in range(0, len(rows), batch):
                with db.uow() as s:
                    accepted += fn(s, rows[first:first + batch], now=now).accepted
            took = time.perf_counter() - began
            assert accepted == len(rows), (label, accepted, len(rows))
            figures[f"http {batch} {label}"] = len(rows) / took
            print(f"    ingest_readings, {batch:>6,}-row batches, {label:<6} {len(rows) / took:>9,.0f} readings/s "
                  f"({len(rows):,} in {took:.1f} s)", flush=True)
    return figures


def _publish(topics_payloads: list[tuple[str, str]], first: int, step: int, allowed: object, done: object) -> None:
    """Sensors, in a process of their own: publish messages ``first``, ``first + step``, … QoS 1, each once the
    stream's count of stored messages lets it (``allowed``)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    for i in range(first, len(topics_payloads), step):
        topic, payload = topics_payloads[i]
        while i >= allowed.value:
            time.sleep(0.0005)
        client.publish(topic, payload, qos=1)
    done.wait(600)
    client.disconnect()
    client.loop_stop()


def bench_mqtt(db: Database, feeds: dict[str, ModuleType], stream: Stream, count: int) -> dict:
    from tests.stack import discard_mqtt_session

    figures: dict[str, float] = {}
    ctx = mp.get_context("spawn")
    for label, module in feeds.items():
        rows = stream.take(count)
        messages = [(module.TOPIC_PREFIX + r["sensor_id"], json.dumps({"ts": r["ts"], "value": r["value"]}))
                    for r in rows]
        client_id = f"bench-ingest-{uuid.uuid4().hex[:6]}"
        feed = module.MqttFeed(db, BROKER, client_id=client_id).start()
        assert feed.connected.wait(10), "Mosquitto at 127.0.0.1:1883 is not reachable"
        time.sleep(0.3)  # the SUBACK
        allowed, done = ctx.Value("l", WINDOW), ctx.Event()
        publishers = [ctx.Process(target=_publish, args=(messages, k, PUBLISHERS, allowed, done), daemon=True)
                      for k in range(PUBLISHERS)]
        for publisher in publishers:
            publisher.start()
        time.sleep(1.0)  # the publisher's start-up (a new interpreter) is not counted ...
        allowed.value = WINDOW
        began = None
        progress, last_progress = 0, time.monotonic()
        while feed.counts["accepted"] + feed.counts["duplicates"] < count:
            if began is None and feed.counts["messages"]:
                began = time.perf_counter()  # ... from the first message received on
            if feed.counts["accepted"] != progress:
                progress, last_progress = feed.counts["accepted"], time.monotonic()
            elif time.monotonic() - last_progress > 30:
                break  # messages lost by the broker (its queue limit): reported below, not waited for
            allowed.value = feed.counts["accepted"] + WINDOW
            time.sleep(0.001)
        took = time.perf_counter() - (began or time.perf_counter())
        done.set()
        for publisher in publishers:
            publisher.join(10)
        feed.stop()
        discard_mqtt_session(BROKER, client_id)
        if feed.counts["accepted"] != count:
            print(f"    MQTT {label}: only {feed.counts['accepted']:,} of {count:,} stored", flush=True)
            continue
        figures[f"mqtt {label}"] = count / took
        print(f"    MQTT QoS 1 → stored and acked, {label:<6} {count / took:>9,.0f} messages/s "
              f"({count:,} in {took:.1f} s; {feed.counts['duplicates']} duplicates)", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="http,mqtt")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="small,large")
    parser.add_argument("--readings", type=int, default=1_000_000, help="N: readings stored before measuring")
    parser.add_argument("--factor", type=float, default=10.0)
    parser.add_argument("--stream", type=int, default=50_000, help="readings per HTTP run")
    parser.add_argument("--messages", type=int, default=20_000, help="messages per MQTT run")
    args = parser.parse_args()
    os.environ.setdefault("CITYOPS_SECRET_KEY", "bench")
    parts = args.part.split(",")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ingest_head = head_module("alerts/ingest.py", "ingest_head", folder)
        mqtt_head = head_module("alerts/mqtt.py", "mqtt_head", folder)
        mqtt_head.ingest_readings = ingest_head.ingest_readings  # today's feed on today's ingest
        for engine in args.engines.split(","):
            for size in args.sizes.split(","):
                n = args.readings if size == "large" else round(args.readings / args.factor)
                print(f"[{engine} · {n:,} readings stored] load average {os.getloadavg()[0]:.2f}", flush=True)
                with fresh_database(engine, f"ingest_{size}", folder) as db:
                    sensors = add_sensors(db)
                    now = datetime.now(UTC).replace(microsecond=0)
                    start = now - timedelta(days=30)
                    load_readings(db, sensors, start.replace(tzinfo=None), n, INTERVAL_S)
                    stream_start = start + timedelta(seconds=INTERVAL_S * (n // len(sensors) + 2))
                    stream = Stream([sid for sid, _, _ in sensors], stream_start)
                    key = f"{engine} {size}"
                    if "http" in parts and engine == "postgresql":
                        for name, value in bench_http(db, {"before": ingest_head.ingest_readings,
                                                           "after": ingest_now.ingest_readings},
                                                      stream, args.stream, now).items():
                            results[f"{key} {name}"] = value
                    if "mqtt" in parts:
                        for name, value in bench_mqtt(db, {"before": mqtt_head, "after": mqtt_now},
                                                      stream, args.messages).items():
                            results[f"{key} {name}"] = value
    print()
    for name, value in results.items():
        print(f"{name:<45} {value:>10,.0f}/s")


if __name__ == "__main__":
    main()
