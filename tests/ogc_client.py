"""A real HTTP server and a real OGC API – Features client for tests and benchmarks: the app's Flask server
under werkzeug's ``make_server`` in a thread, read by GDAL's OAPIF driver (the GDAL inside the pyogrio wheel)
with a bearer token (``bearer``). Used by ``tests/integration/test_ogc_gdal.py`` and
``bench/bench_ogc.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

import pyogrio
from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from data.accounts import issue_token, user_by_name
from data.db import Database
from settings import Settings


@contextmanager
def serving(server: Flask) -> Iterator[str]:
    """``server`` answering on a free port of 127.0.0.1 from a thread (threaded, so GDAL may open more than
    one connection); yields the base URL and shuts down afterwards."""
    http = make_server("127.0.0.1", 0, server, threaded=True)
    thread = threading.Thread(target=http.serve_forever, name="ogc-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join(10)
        http.server_close()


@contextmanager
def city_server(db: Database) -> Iterator[str]:
    """The whole app (API, /ogc, pages) on ``db``, served over HTTP; yields its base URL."""
    server, _ = create_app(Settings(database_url=str(db.url), secret_key="ogc-client"), db)
    with serving(server) as base:
        yield base


def token_of(db: Database, username: str) -> str:
    """A new API token of ``username``."""
    with db.uow() as session:
        return issue_token(session, user_by_name(session, username))


#: GDAL's bearer authentication (GDAL ≥ 3.9). ``GDAL_HTTP_HEADERS`` would be the general way, but the OAPIF
#: driver sends headers of its own (``Accept``) and GDAL then ignores that option (checked with GDAL 3.12.4,
#: as OSGeo/gdal#11385 reports for the ESRIJSON driver); ``GDAL_HTTP_HEADER_FILE`` works as well.
@contextmanager
def bearer(token: str) -> Iterator[None]:
    """GDAL sends ``Authorization: Bearer <token>`` with every request inside the block (set in the
    environment, where GDAL reads its configuration options)."""
    with mock.patch.dict(os.environ, {"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": token}):
        yield


_READER = """
import json, sys, time
import pyogrio
base, layer, page_size, bbox = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
started = time.perf_counter()
frame = pyogrio.read_dataframe(f"OAPIF:{base}/ogc", layer=layer, PAGE_SIZE=page_size, fid_as_index=True,
                               bbox=tuple(bbox) if bbox else None)
seconds = time.perf_counter() - started
ids = [str(v) for v in (frame["id"] if "id" in frame.columns else frame.index)]
print(json.dumps({"count": len(frame), "seconds": seconds, "columns": list(frame.columns), "ids": ids,
                  "bounds": [float(v) for v in frame.total_bounds] if len(frame) else []}))
"""


@dataclass(frozen=True)
class GdalRead:
    """What GDAL read of one collection: the feature count, the seconds ``read_dataframe`` took, the
    attribute columns, the feature ids (the ``id`` column GDAL makes of string ids) and the bounds."""

    count: int
    seconds: float
    columns: list[str]
    ids: list[str]
    bounds: list[float]


def read_collection(base: str, collection: str, token: str, page_size: int = 1000,
                    bbox: tuple[float, float, float, float] | None = None) -> GdalRead:
    """Every feature of ``collection`` (inside ``bbox`` when given: GDAL sends it as the ``bbox`` parameter)
    read by GDAL's OAPIF driver through pyogrio, page by page.

    GDAL runs in a child process: pyogrio holds the GIL while it reads features, so a server thread of
    this process could not answer GDAL's next page (a deadlock)."""
    with bearer(token):
        done = subprocess.run([sys.executable, "-c", _READER, base, collection, str(page_size),
                               json.dumps(bbox)],
                              capture_output=True, text=True, timeout=900, check=False, env=dict(os.environ))
    if done.returncode != 0:
        raise RuntimeError(f"GDAL could not read {collection}: {done.stderr.strip()[-2000:]}")
    return GdalRead(**json.loads(done.stdout.strip().splitlines()[-1]))


def list_collections(base: str, token: str) -> list[str]:
    """The layer names GDAL's OAPIF driver finds at ``base``/ogc."""
    with bearer(token):
        return [str(name) for name, _kind in pyogrio.list_layers(f"OAPIF:{base}/ogc")]
