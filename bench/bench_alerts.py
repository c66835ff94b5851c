"""Alert-engine benchmarks (issue 4): pure evaluation, the engine over SQLite, HTTP-style ingestion,
MQTT ingestion through the real Mosquitto (127.0.0.1:1883). Prints medians of a few runs.

    .venv/bin/python bench/bench_alerts.py [--no-mqtt]
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.engine import evaluate_pending
from alerts.evaluator import Sample, SensorInfo, evaluate, evaluate_reference
from alerts.ingest import ingest_readings
from alerts.rules_loader import load_rule_folder
from alerts.rules_schema import rule_document
from alerts.simulator import PROFILES
from app import wire
from data.catalog import load_catalog
from data.db import Database
from data.models import Reading, Rule, Sensor

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def median_of(fn, runs=3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sensors(n_per_kind: int) -> dict[str, SensorInfo]:
    return {f"{kind}-{i}": SensorInfo(f"{kind}-{i}", kind) for kind in PROFILES for i in range(n_per_kind)}


def readings(infos: dict[str, SensorInfo], n: int, rng: random.Random) -> list[Sample]:
    ids = list(infos)
    return [Sample(ids[i % len(ids)], T0 + timedelta(seconds=10 * (i // len(ids))), rng.uniform(0, 100))
            for i in range(n)]


def fresh_db(folder: str, infos: dict[str, SensorInfo]) -> Database:
    db = Database(f"sqlite:///{folder}/bench-{uuid.uuid4().hex[:6]}.db")
    db.migrate()
    rules, _ = load_rule_folder()
    with db.uow() as s:
        load_catalog(s)
        s.add_all(Sensor(id=i.id, kind=i.kind, family="x", name=i.id, unit="-", lon=117.0, lat=36.6)
                  for i in infos.values())
        s.add_all(Rule(id=r.id, body=rule_document(r), enabled=True, source="file", updated_at=T0) for r in rules)
    return db


def main() -> None:
    wire()  # the composition root's ports: an alert asks the dispatch loop for its incident
    rng = random.Random(1)
    rules = [r for r in load_rule_folder()[0]]
    infos = sensors(20)
    samples = readings(infos, 100_000, rng)
    now = T0 + timedelta(days=2)
    pure = median_of(lambda: evaluate(rules, samples, {}, now, sensors=infos))
    print(f"pure evaluate: {len(rules)} rules × 100,000 readings: {pure:.2f} s")
    reference = median_of(lambda: evaluate_reference(rules, samples, {}, now, sensors=infos))
    fast_result = evaluate(rules, samples, {}, now, sensors=infos)
    same = fast_result == evaluate_reference(rules, samples, {}, now, sensors=infos)
    print(f"  per-reading reference evaluator: {reference:.2f} s; same state and transitions: {same}")

    with tempfile.TemporaryDirectory() as folder:
        rows = [{"sensor_id": s.sensor_id, "ts": s.ts.isoformat(), "value": s.value} for s in samples]

        def ingest_all() -> None:
            db = fresh_db(folder, infos)
            for start in range(0, len(rows), 10_000):  # the 10,000-row request limit
                with db.uow() as s:
                    ingest_readings(s, rows[start:start + 10_000])
            db.dispose()

        took = median_of(ingest_all)
        print(f"ingest (SQLite, 10,000-row batches): {len(rows) / took:,.0f} readings/s")

        db = fresh_db(folder, infos)
        with db.uow() as s:
            ingest_readings(s, rows)
        start = time.perf_counter()
        with db.uow() as s:
            counts = evaluate_pending(s, now=T0 + timedelta(days=2))
        print(f"engine evaluate_pending (SQLite, with persistence): {time.perf_counter() - start:.2f} s, "
              f"fired {counts['fired']}, incidents {counts['incidents']}")
        db.dispose()

        if "--no-mqtt" not in sys.argv:
            bench_mqtt(fresh_db(folder, infos), infos)


def bench_mqtt(db: Database, infos: dict[str, SensorInfo], n: int = 20_000) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from sqlalchemy import func, select

    from alerts.mqtt import TOPIC_PREFIX, MqttFeed

    client_id = f"bench-{uuid.uuid4().hex[:6]}"
    feed = MqttFeed(db, "mqtt://127.0.0.1:1883", client_id=client_id).start()
    feed.connected.wait(10)
    time.sleep(0.3)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{client_id}-pub")
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    ids = list(infos)

    def stored() -> int:
        with db.uow() as s:
            return s.scalar(select(func.count()).select_from(Reading))

    # Mosquitto keeps at most 1,000 queued QoS 1 messages per client by default (max_queued_messages) and
    # drops the rest, so the publisher goes in waves of 500 and waits for them to be stored.
    start = time.perf_counter()
    for wave in range(0, n, 500):
        sent = [pub.publish(TOPIC_PREFIX + ids[i % len(ids)],
                            json.dumps({"ts": (T0 + timedelta(seconds=i)).isoformat(), "value": 1.0}), qos=1)
                for i in range(wave, min(n, wave + 500))]
        for info in sent:
            info.wait_for_publish(60)
        deadline = time.monotonic() + 60
        while stored() < min(n, wave + 500) and time.monotonic() < deadline:
            time.sleep(0.005)
    took = time.perf_counter() - start
    print(f"MQTT QoS 1 → stored (Mosquitto, manual acks after commit): {n / took:,.0f} messages/s")
    pub.disconnect()
    pub.loop_stop()
    feed.stop()
    cleaner = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    cleaner.connect("127.0.0.1", 1883)
    cleaner.disconnect()


if __name__ == "__main__":
    main()
