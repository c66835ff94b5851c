"""Benchmark of the public side (issue 20): the server's cost of one citizen report, on SQLite.

A small demo city (``--scale``) is seeded into a temporary SQLite file and the real app (``create_app``)
answers through Flask's test client, one web worker: each report fetches a challenge, solves it (client
side, timed apart), and posts a description, a doorplate and one photo of the size the page sends (1600×1200
JPEG) from its own address. Prints the median and 95th percentile of the server time of the POST and of the
challenge, the reports a minute one worker sustains, and the client's proof-of-work time at the default
difficulty (Python's hashlib; the page's script is slower, see README). Its helpers (the photo, the doorplates,
a citizen's address, a report's fields) also serve bench_load.py's ``--citizen-reports``.

    .venv/bin/python bench/bench_public_reports.py [--reports 200] [--scale 0.05] [--bits 16]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.db import Database
from data.demo import seed_demo_city
from data.models import Doorplate
from dispatch import citizen
from settings import get_settings


def photo_jpeg() -> bytes:
    """A 1600×1200 JPEG of noise at quality 85 (~1 MB): the largest photo the page sends, hard to compress."""
    image = Image.effect_noise((1600, 1200), 40).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def doorplate_codes(db: Database, n: int) -> list[str]:
    """The codes of the city's first ``n`` doorplates (the places the reports name)."""
    with db.uow() as session:
        return list(session.scalars(select(Doorplate.code).order_by(Doorplate.id).limit(n)))


def citizen_address(i: int) -> str:
    """The ``i``-th citizen's own address (distinct for the first 15 million)."""
    return f"10.{i // 62500 % 250}.{i // 250 % 250}.{i % 250 + 1}"


def report_fields(i: int, doorplate: str, nonce: str, counter: str) -> dict[str, str]:
    """The form fields of the ``i``-th report (the photo goes apart, as a ``photo`` file)."""
    return {"category": "rubbish", "description": f"路边垃圾 {i}", "doorplate": doorplate,
            "challenge": nonce, "counter": counter}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--bits", type=int, default=16)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    os.environ.update({"CITYOPS_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}", "CITYOPS_SECRET_KEY": "bench",
                       "CITYOPS_UPLOADS_DIR": str(folder / "uploads"), "CITYOPS_PUBLIC_POW_BITS": str(args.bits)})
    get_settings.cache_clear()
    db = Database(os.environ["CITYOPS_DATABASE_URL"])
    db.migrate()
    seed_demo_city(db, scale=args.scale, seed=42)
    plates = doorplate_codes(db, args.reports)
    from app import create_app  # after the settings are in the environment

    server, _dash = create_app(db=db)
    client = server.test_client()
    photo = photo_jpeg()
    challenge_s, solve_s, post_s = [], [], []
    started = time.perf_counter()
    for i in range(args.reports):
        ip = {"REMOTE_ADDR": citizen_address(i)}
        t0 = time.perf_counter()
        issued = client.get("/api/v1/public/challenge", environ_base=ip).get_json()
        t1 = time.perf_counter()
        counter = citizen.solve(issued["nonce"], issued["difficulty"])
        t2 = time.perf_counter()
        fields = report_fields(i, plates[i % len(plates)], issued["nonce"], counter)
        answer = client.post("/api/v1/public/reports", environ_base=ip, content_type="multipart/form-data",
                             data={**fields, "photo": (io.BytesIO(photo), "p.jpg")})
        t3 = time.perf_counter()
        assert answer.status_code == 201, answer.get_data(as_text=True)
        challenge_s.append(t1 - t0)
        solve_s.append(t2 - t1)
        post_s.append(t3 - t2)
    wall = time.perf_counter() - started - sum(solve_s)

    def ms(values: list[float], q: float) -> str:
        ordered = sorted(values)
        return f"{1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.0f} ms"

    print(f"{args.reports} reports, photo {len(photo) / 1024:.0f} kB, scale {args.scale}, SQLite, one worker")
    print(f"POST /api/v1/public/reports: median {ms(post_s, 0.5)}, p95 {ms(post_s, 0.95)}")
    print(f"GET /api/v1/public/challenge: median {ms(challenge_s, 0.5)}, p95 {ms(challenge_s, 0.95)}")
    print(f"server throughput: {60 * args.reports / wall:.0f} reports a minute per worker")
    print(f"client proof of work at {args.bits} bits (hashlib): median {1000 * statistics.median(solve_s):.0f} ms, "
          f"max {1000 * max(solve_s):.0f} ms")


if __name__ == "__main__":
    main()
