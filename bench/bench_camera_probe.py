"""Benchmark of camera health (issue 19): one full probe round of 38,165 cameras (the seeds' count).

A local HTTP server in its own process stands in for the media gateway and answers every camera's playlist
(a live HLS media playlist whose media sequence moves every second, ``Last-Modified`` now, keep-alive).
The cameras are rows of a fresh SQLite database with RTSP stream URLs mapped by ``CITYOPS_VIDEO_GATEWAY``.
Each round is ``CameraProber.run`` as the scheduler runs it: read the cameras, probe them ``--parallel`` at a
time, store the status changes. Prints per round the wall time, cameras/s and the CPU seconds of this process
(the prober) — then the medians, and the gateway process's CPU.

    .venv/bin/python bench/bench_camera_probe.py [--cameras 38165] [--parallel 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.camera_probe import CameraProber
from app import wire
from data.db import Database
from data.models import Camera, VideoPlatform, utcnow
from settings import Settings

#: The gateway stand-in: any GET answers a live playlist of the path's camera (HTTP/1.1, keep-alive).
GATEWAY = textwrap.dedent('''
    import sys, time
    from email.utils import formatdate
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seq = int(time.time())
            body = ("#EXTM3U\\n#EXT-X-VERSION:3\\n#EXT-X-TARGETDURATION:2\\n#EXT-X-MEDIA-SEQUENCE:%d\\n"
                    "#EXTINF:2.0,\\nseg%d.ts\\n#EXTINF:2.0,\\nseg%d.ts\\n" % (seq, seq, seq + 1)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.apple.mpegurl")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Last-Modified", formatdate(usegmt=True))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()
''')


def _cameras(db: Database, count: int) -> None:
    with db.uow() as session:
        platform = VideoPlatform(code="BENCH", name="bench")
        session.add(platform)
        session.flush()
        session.execute(insert(Camera), [
            {"code": f"CAM{i:06d}", "name": f"camera {i}", "platform_id": platform.id, "type": "dome",
             "status": "offline", "stream_url": f"rtsp://video.city/live/{i}", "algorithms": [],
             "lon": 117.0 + (i % 1000) * 1e-4, "lat": 36.6 + (i // 1000) * 1e-4}
            for i in range(count)
        ])


def main() -> None:
    wire()  # the composition root's ports: an alert asks the dispatch loop for its incident
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=38_165)
    parser.add_argument("--parallel", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    gateway = subprocess.Popen([sys.executable, "-c", GATEWAY], stdout=subprocess.PIPE, text=True)
    try:
        port = int(gateway.stdout.readline())
        with tempfile.TemporaryDirectory() as folder:
            db = Database(f"sqlite:///{Path(folder) / 'cameras.db'}")
            db.migrate()
            _cameras(db, args.cameras)
            settings = Settings(video_gateway=f"http://127.0.0.1:{port}/{{code}}/index.m3u8",
                                camera_offline_minutes=60)
            prober = CameraProber(timeout_s=settings.camera_probe_timeout_s, parallel=args.parallel)
            walls, cpus = [], []
            for number in range(1, args.rounds + 1):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                with db.uow() as session:
                    outcome = prober.run(session, utcnow(), settings)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                walls.append(wall)
                cpus.append(cpu)
                print(f"round {number}: {outcome.probed} probed, {outcome.online} online, {outcome.changed} changed;"
                      f" {wall:.1f} s wall ({outcome.probed / wall:,.0f} cameras/s), {cpu:.1f} s CPU (prober)")
            db.dispose()
    finally:
        gateway.terminate()
        gateway.wait()
    served = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"median of {args.rounds}: {statistics.median(walls):.1f} s wall per round of {args.cameras:,} cameras,"
          f" {statistics.median(cpus):.1f} s CPU (prober), parallel {args.parallel}, {os.cpu_count()} CPUs;"
          f" gateway stand-in {served.ru_utime + served.ru_stime:.1f} s CPU over all rounds")


if __name__ == "__main__":
    main()
