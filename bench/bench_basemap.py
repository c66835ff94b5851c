"""The city's own basemap (issue 16): how fast /tiles answers tiles of an MBTiles and a PMTiles set, how
long a glyph range takes to draw from the local CJK font (once; then it is a file), and the import.

Run: ``.venv/bin/python bench/bench_basemap.py`` (writes nothing outside a temporary folder). Server time
through Flask's test client (auth by bearer token, no network); medians of 5 runs.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask import Flask
from pmtiles.tile import TileType

from api.auth import init_auth
from api.errors import register_error_handlers
from api.tiles import tiles_bp
from data.accounts import create_user, issue_token
from data.basemap import import_basemap, label_font, stored_tileset
from data.db import Database
from geo.glyphs import render_range
from tests.basemap_tiles import mvt_tile, png_tile, tiles_around, write_mbtiles, write_pmtiles

RUNS = 5


def median_s(work) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-basemap-"))
    os.environ["CITYOPS_BASEMAPS_DIR"] = str(folder / "basemaps")
    addresses = tiles_around(117.02, 36.67, range(10, 15), radius=4)  # 405 tiles
    raster = {a: png_tile(*a) for a in addresses}
    vector = {a: mvt_tile(*a) for a in addresses}
    files = {"raster.mbtiles": write_mbtiles(folder / "raster.mbtiles", raster, "png"),
             "raster.pmtiles": write_pmtiles(folder / "raster.pmtiles", raster, TileType.PNG),
             "vector.mbtiles": write_mbtiles(folder / "vector.mbtiles", vector, "pbf"),
             "vector.pmtiles": write_pmtiles(folder / "vector.pmtiles", vector, TileType.MVT, gzipped=True)}
    db = Database(f"sqlite:///{folder / 'cityops.db'}")
    db.migrate()
    with db.uow() as s:
        token = issue_token(s, create_user(s, "bench", "operator"))
    server = Flask(__name__)
    server.secret_key = "bench"
    init_auth(server, db)
    register_error_handlers(server)
    server.register_blueprint(tiles_bp)
    client = server.test_client()
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    print(f"{len(addresses)} tiles a set")
    for label, file in files.items():
        name = label.replace(".", "-")
        style = None
        if "vector" in label:
            style = folder / "style.json"
            style.write_text('{"version": 8, "sources": {"v": {"type": "vector"}}, "layers": []}')
        took = median_s(lambda file=file, name=name, style=style: import_basemap(
            file, root=folder / "basemaps", style=style, name=name, font=label_font()))
        urls = [f"/tiles/{name}/{z}/{x}/{y}" for z, x, y in addresses]

        def fetch_all(urls=urls) -> None:
            for url in urls:
                assert client.get(url, headers=headers).status_code == 200

        def read_all(name=name) -> None:
            for z, x, y in addresses:
                assert stored_tileset(folder / "basemaps", name).tile(z, x, y)

        per_tile = median_s(fetch_all) / len(urls)
        per_read = median_s(read_all) / len(addresses)
        print(f"{label}: import {took * 1000:.0f} ms; over HTTP (bearer token) {per_tile * 1000:.2f} ms a tile "
              f"({1 / per_tile:.0f} tiles/s, one thread), of which the tile read {per_read * 1000:.3f} ms")
    font = label_font()
    if font is not None:
        for start, what in ((0, "Latin 0-255"), (19968, "CJK 19968-20223")):
            took = median_s(lambda start=start: render_range(font[0], start, index=font[1]))
            print(f"glyph range {what}: {took:.2f} s to draw (once; then served from the file)")
    db.dispose()


if __name__ == "__main__":
    main()
