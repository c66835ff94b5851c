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
    ``--messages`` QoS 1 messages, one reading each, published by ``PUBLISHERS`` raw-socket processes
    (encoded beforehand, many per ``send``: the sensors' CPU is not the feed's) to a Mosquitto of the bench's
    own (default configuration, on a free port: the shared one at 1883 carries other tests' readings on the
    same topic) and taken by ``alerts.mqtt.MqttFeed`` (manual acks after commit) or, for "after ×K", a
    ``FeedGroup`` of K feed processes on a shared subscription: from the moment every publisher is connected
    and released until every reading is stored and acknowledged. The publishers keep at most ``WINDOW``
    messages ahead of what is stored (Mosquitto drops QoS 1 messages beyond its queue limit,
    ``max_queued_messages`` 1000, for a client that lags). Also printed: the CPU the feed's process(es) and
    Mosquitto used per message (``/proc/<pid>/stat``; the in-process feed's figure includes the bench's own
    polling, a few per cent), steadier than the rate on a busy machine. "before" is ``HEAD:alerts/mqtt.py``
    with ``HEAD:alerts/ingest.py``; "after" the working tree's (``--feeds 1,2``: which "after" variants).

    .venv/bin/python bench/bench_ingest.py [--part http,mqtt] [--engines sqlite,postgresql]
        [--sizes small,large] [--readings 1000000] [--factor 10] [--stream 50000] [--messages 20000]
        [--feeds 1,2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_scale import city_sensors, fresh_database, load_readings
from sqlalchemy import text

from alerts import ingest as ingest_now
from alerts import mqtt as mqtt_now
from alerts.simulator import PROFILES
from data.catalog import load_catalog
from data.db import Database
from data.models import Sensor

ROOT = Path(__file__).resolve().parents[1]
#: Messages the publishers may be ahead of what is stored: within what Mosquitto holds for one lagging
#: subscriber (the feed's Receive Maximum 1,000 in flight + ``max_queued_messages`` 1,000), with room for
#: acknowledgements still on their way to the broker.
WINDOW = 1000
#: Publishing processes (raw sockets: each sends far more than the feed takes).
PUBLISHERS = 2
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


@dataclass(frozen=True)
class Broker:
    """The bench's Mosquitto: its URL, port and process id."""

    url: str
    port: int
    pid: int


@contextmanager
def private_broker(folder: Path) -> Iterator[Broker]:
    """A Mosquitto of the bench's own on a free port, with the defaults (``max_queued_messages`` 1,000): the
    shared one at 1883 carries other tests' and benches' readings on the same topic."""
    from tests.stack import free_port, wait_for

    port = free_port()
    config = folder / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n")
    with (folder / "mosquitto.log").open("w") as log:
        broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(config)],
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        def listening() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        assert wait_for(listening, 10), "mosquitto did not start"
        yield Broker(f"mqtt://127.0.0.1:{port}", port, broker.pid)
    finally:
        broker.terminate()
        broker.wait(10)


def _mqtt_packet(first_byte: int, body: bytes) -> bytes:
    """An MQTT control packet: the first byte, the remaining length (variable-length integer) and ``body``."""
    length, encoded = len(body), bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes([first_byte]) + bytes(encoded) + body


def _publish(port: int, messages: list[tuple[str, str]], first: int, step: int, allowed: object, ready: object,
             go: object, done: object) -> None:
    """Sensors, in a process of their own: publish messages ``first``, ``first + step``, … QoS 1 (MQTT 3.1.1),
    each once the count of stored messages lets it (``allowed``). The packets are encoded before ``go`` and
    written to the socket as they become allowed, many per ``send``; a thread reads the broker's PUBACKs.
    A raw socket, not paho: the sensors are other machines, and paho's ~100 µs of Python per QoS 1 message
    would take a core of this 2-core machine from the feed being measured."""
    import struct
    import threading

    mine = list(range(first, len(messages), step))
    packets = []
    for j, i in enumerate(mine):
        topic, payload = messages[i]
        name = topic.encode()
        packets.append(_mqtt_packet(0x32, struct.pack("!H", len(name)) + name + struct.pack("!H", j % 65535 + 1)
                                    + payload.encode()))
    client_id = f"bench-pub-{uuid.uuid4().hex[:6]}".encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(_mqtt_packet(0x10, b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(client_id)) + client_id))
    assert sock.recv(4) == b"\x20\x02\x00\x00", "Mosquitto refused the publisher"
    received = [0]

    def read_acks() -> None:  # PUBACKs, 4 bytes each
        while data := sock.recv(65536):
            received[0] += len(data)

    threading.Thread(target=read_acks, daemon=True).start()
    with ready.get_lock():
        ready.value += 1
    go.wait(600)
    sent = 0
    while sent < len(mine):
        upto = sent
        limit = allowed.value
        while upto < len(mine) and mine[upto] < limit:
            upto += 1
        if upto > sent:
            sock.sendall(b"".join(packets[sent:upto]))
            sent = upto
        else:
            time.sleep(0.0005)
    deadline = time.monotonic() + 60
    while received[0] < 4 * len(mine) and time.monotonic() < deadline:
        time.sleep(0.01)
    done.wait(600)
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes ``pids`` have used (``/proc/<pid>/stat``)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def backend_cpu(db: Database) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to ``db``'s database (none on SQLite)."""
    if db.is_sqlite:
        return {}
    with db.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars().all()
    cpu = {}
    for pid in pids:
        with suppress(OSError):  # ended meanwhile
            cpu[pid] = cpu_seconds([pid])
    return cpu


def _start_feed(module: ModuleType, db: Database, broker: str, client_id: str, feeds: int) -> object:
    """The feed of a variant: ``module.MqttFeed`` in this process (1), or ``feeds`` processes (FeedGroup)."""
    if feeds == 1:
        return module.MqttFeed(db, broker, client_id=client_id).start()
    return module.FeedGroup(db.url, broker, client_id=client_id, feeds=feeds).start()


def bench_mqtt(db: Database, broker: Broker, variants: dict[str, tuple[ModuleType, int]], stream: Stream,
               count: int) -> dict:
    """Each variant (label → (module, feed processes)) takes ``count`` messages of its own; returns messages/s."""
    from tests.stack import discard_mqtt_session

    figures: dict[str, float] = {}
    ctx = mp.get_context("spawn")
    for label, (module, feeds) in variants.items():
        rows = stream.take(count)
        messages = [(module.TOPIC_PREFIX + r["sensor_id"], json.dumps({"ts": r["ts"], "value": r["value"]}))
                    for r in rows]
        client_id = f"bench-ingest-{uuid.uuid4().hex[:6]}"
        feed = _start_feed(module, db, broker.url, client_id, feeds)
        wait_connected = getattr(feed, "wait_connected", None) or feed.connected.wait
        assert wait_connected(60), f"Mosquitto at {broker.url} is not reachable"
        time.sleep(0.3)  # the SUBACKs
        allowed, ready, go, done = ctx.Value("l", 0), ctx.Value("i", 0), ctx.Event(), ctx.Event()
        publishers = [ctx.Process(target=_publish, daemon=True,
                                  args=(broker.port, messages, k, PUBLISHERS, allowed, ready, go, done))
                      for k in range(PUBLISHERS)]
        for publisher in publishers:
            publisher.start()
        while ready.value < PUBLISHERS:  # the publishers' start-up (new interpreters) is not counted
            time.sleep(0.05)
        load = os.getloadavg()[0]
        feed_pids = [p.pid for p in feed.processes] if feeds > 1 else [os.getpid()]
        cpu_before_feed, cpu_before_broker = cpu_seconds(feed_pids), cpu_seconds([broker.pid])
        cpu_before_server = backend_cpu(db)
        allowed.value = WINDOW
        began = time.perf_counter()
        go.set()
        progress, last_progress = 0, time.monotonic()
        while (stored := feed.counts["accepted"] + feed.counts["duplicates"]) < count:
            if stored != progress:
                progress, last_progress = stored, time.monotonic()
            elif time.monotonic() - last_progress > 30:
                break  # messages lost by the broker (its queue limit): reported below, not waited for
            allowed.value = feed.counts["accepted"] + WINDOW
            time.sleep(0.002)
        took = time.perf_counter() - began
        feed_cpu = cpu_seconds(feed_pids) - cpu_before_feed
        broker_cpu = cpu_seconds([broker.pid]) - cpu_before_broker
        server_cpu = sum(cpu - cpu_before_server.get(pid, 0.0) for pid, cpu in backend_cpu(db).items())
        done.set()
        for publisher in publishers:
            publisher.join(10)
        feed.stop()
        for member in [client_id] if feeds == 1 else [f"{client_id}-{k}" for k in range(1, feeds + 1)]:
            discard_mqtt_session(broker.url, member)
        accepted = feed.counts["accepted"]
        if accepted != count:
            print(f"    MQTT {label}: only {accepted:,} of {count:,} stored", flush=True)
            continue
        figures[f"mqtt {label}"] = count / took
        figures[f"mqtt {label} feed CPU µs/message"] = feed_cpu / count * 1e6
        print(f"    MQTT QoS 1 → stored and acked, {label:<9} {count / took:>9,.0f} messages/s "
              f"({count:,} in {took:.1f} s; {feed.counts['duplicates']} duplicates; load {load:.1f}); CPU per "
              f"message: feed {feed_cpu / count * 1e6:.0f} µs, Mosquitto {broker_cpu / count * 1e6:.0f} µs"
              + ("" if db.is_sqlite else f", PostgreSQL {server_cpu / count * 1e6:.0f} µs"), flush=True)
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
    parser.add_argument("--feeds", default="1,2", help="feed processes of the 'after' variants")
    args = parser.parse_args()
    os.environ.setdefault("CITYOPS_SECRET_KEY", "bench")
    parts = args.part.split(",")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        broker = stack.enter_context(private_broker(folder)) if "mqtt" in parts else None
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
                        variants = {"before": (mqtt_head, 1)}
                        variants.update({"after" if k == "1" else f"after ×{k}": (mqtt_now, int(k))
                                         for k in args.feeds.split(",")})
                        for name, value in bench_mqtt(db, broker, variants, stream, args.messages).items():
                            results[f"{key} {name}"] = value
    print()
    for name, value in results.items():
        print(f"{name:<60} {value:>10,.0f}{'' if 'CPU' in name else '/s'}")


if __name__ == "__main__":
    main()
