"""Notification outbox benchmarks (issue 17): latency from an event's commit to a local webhook receiver
with the real scheduler at its default ``outbox`` interval, and the time to drain a burst of 1,000 events.

    .venv/bin/python bench/bench_notify.py [--events 40] [--burst 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CITYOPS_CHANNEL_KEY", "bench-channel-key")

from alerts.scheduler import start_scheduler
from app import OUTBOX_S, scheduled_jobs, wire
from data.db import Database
from data.models import OutboxMessage, utcnow
from dispatch import outbox


def receiver() -> tuple[ThreadingHTTPServer, dict[str, float]]:
    """A local JSON webhook that notes when each event's message (by its title) arrived."""
    arrived: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            arrived.setdefault(payload["title"], time.time())
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, arrived


def queue_event(db: Database, name: str) -> float:
    """Commit one event (heard by the duty-post channel); returns the commit time."""
    with db.uow() as session:
        outbox.enqueue(session, outbox.Event(key=f"bench:{name}", kind="dispatch", title=name, body=f"event {name}"))
    return time.time()


def latency(db: Database, arrived: dict[str, float], events: int) -> list[float]:
    wire()
    handle = start_scheduler(db, simulator=False, jobs=scheduled_jobs())
    try:
        committed = {}
        rng = random.Random(17)
        for i in range(events):
            time.sleep(rng.uniform(0.0, 2.0))  # events arrive at random moments relative to the job's ticks
            committed[f"latency-{i}"] = queue_event(db, f"latency-{i}")
        deadline = time.time() + 60
        while len([k for k in committed if k in arrived]) < events and time.time() < deadline:
            time.sleep(0.2)
    finally:
        handle.shutdown()
    return sorted(arrived[k] - t for k, t in committed.items() if k in arrived)


def burst(db: Database, arrived: dict[str, float], n: int) -> tuple[float, int, int]:
    """Queue ``n`` events at once, then run the job back to back (as its ticks would) until all are sent:
    the seconds taken by the runs, how many runs, and how many messages arrived."""
    with db.uow() as session:
        for i in range(n):
            outbox.enqueue(session, outbox.Event(key=f"bench:burst-{i}", kind="dispatch", title=f"burst-{i}",
                                                 body="burst"))
    start, runs = time.perf_counter(), 0
    while True:
        with db.uow() as session:
            counts = outbox.deliver_due(session, utcnow())
        runs += 1
        if counts["sent"] == 0 and counts["failed"] == 0:
            break
    elapsed = time.perf_counter() - start
    with db.uow() as session:
        pending = session.query(OutboxMessage).filter(OutboxMessage.state == "pending").count()
    assert pending == 0, f"{pending} messages still pending"
    return elapsed, runs - 1, sum(1 for k in arrived if k.startswith("burst-"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    server, arrived = receiver()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.db")
        db.migrate()
        with db.uow() as session:
            outbox.create_channel(session, outbox.ChannelSpec(
                url=f"json://127.0.0.1:{server.server_address[1]}/hook", name="bench", duty_post="duty_officer"),
                actor_id=None)
        waits = latency(db, arrived, args.events)
        p50 = statistics.median(waits)
        p95 = waits[max(0, round(0.95 * len(waits)) - 1)]
        print(f"latency event→receiver, job every {OUTBOX_S:g} s, {len(waits)}/{args.events} events: "
              f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {waits[-1]:.2f} s")
        elapsed, runs, received = burst(db, arrived, args.burst)
        print(f"burst of {args.burst}: drained in {elapsed:.2f} s of job time over {runs} run(s); "
              f"{received} arrived (once each)")
        db.dispose()
    server.shutdown()


if __name__ == "__main__":
    main()
