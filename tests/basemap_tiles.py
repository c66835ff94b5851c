"""Small tile sets the basemap tests make (issue 16): raster PNG tiles drawn with Pillow and vector MVT tiles
encoded with ``mapbox-vector-tile``, written as MBTiles (SQLite, TMS rows) or PMTiles (the ``pmtiles``
package's writer), and a MapLibre style for the vector ones with place-name labels."""

from __future__ import annotations

import gzip
import io
import json
import math
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import mapbox_vector_tile
from PIL import Image, ImageDraw
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

#: Place names put in the vector tiles (CJK and Latin: both glyph ranges are fetched).
PLACES = (("人民广场", 0.3, 0.4), ("滨江路", 0.6, 0.7), ("Harbour", 0.75, 0.25))


def tiles_around(lon: float, lat: float, zooms: Iterable[int], radius: int = 1) -> list[tuple[int, int, int]]:
    """The XYZ tile holding (lon, lat) and its neighbours up to ``radius`` tiles away at each zoom of ``zooms``."""
    out = []
    for z in zooms:
        n = 2**z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        steps = range(-radius, radius + 1)
        out += [(z, x + dx, y + dy) for dx in steps for dy in steps if 0 <= x + dx < n and 0 <= y + dy < n]
    return out


def png_tile(z: int, x: int, y: int) -> bytes:
    """A 256-px PNG tile: a colour by its address and its z/x/y written on it."""
    image = Image.new("RGB", (256, 256), ((x * 40) % 256, (y * 40) % 256, 90 + z * 8))
    ImageDraw.Draw(image).text((10, 10), f"{z}/{x}/{y}", fill="white")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def mvt_tile(z: int, x: int, y: int, *, gzipped: bool = True) -> bytes:
    """A vector tile: a ``water`` polygon, a ``road`` line and ``place`` points named in ``PLACES``."""
    layers = [
        {"name": "water", "features": [{"geometry": "POLYGON ((0 0, 1500 0, 1500 1500, 0 1500, 0 0))",
                                        "properties": {"kind": "lake"}}]},
        {"name": "road", "features": [{"geometry": "LINESTRING (0 2048, 4096 2100)",
                                       "properties": {"name": f"路 {z}/{x}/{y}"}}]},
        {"name": "place", "features": [{"geometry": f"POINT ({int(fx * 4096)} {int(fy * 4096)})",
                                        "properties": {"name": name}} for name, fx, fy in PLACES]},
    ]
    data = mapbox_vector_tile.encode(layers, default_options={"y_coord_down": True})
    return gzip.compress(data) if gzipped else data


def vector_style(sprite: str | None = None) -> dict:
    """A MapLibre style for ``mvt_tile``'s layers, as a surveying bureau would ship it: remote URLs
    everywhere (the import rewrites them), labels in a named font stack."""
    style = {
        "version": 8, "name": "bureau",
        "sources": {"city": {"type": "vector", "url": "https://tiles.example.invalid/city.json"},
                    "dem": {"type": "raster-dem", "url": "https://dem.example.invalid/dem.json"}},
        "glyphs": "https://fonts.example.invalid/{fontstack}/{range}.pbf",
        "layers": [
            {"id": "bg", "type": "background", "paint": {"background-color": "#0b2033"}},
            {"id": "water", "type": "fill", "source": "city", "source-layer": "water",
             "paint": {"fill-color": "#1c5a8a"}},
            {"id": "hills", "type": "hillshade", "source": "dem"},
            {"id": "road", "type": "line", "source": "city", "source-layer": "road",
             "paint": {"line-color": "#8fa9c4", "line-width": 3}},
            {"id": "place-icon", "type": "symbol", "source": "city", "source-layer": "place",
             "layout": {"icon-image": "dot"}},
            {"id": "place-label", "type": "symbol", "source": "city", "source-layer": "place",
             "layout": {"text-field": ["get", "name"], "text-font": ["Noto Sans CJK SC Regular"],
                        "text-size": 16},
             "paint": {"text-color": "#ffffff", "text-halo-color": "#000000", "text-halo-width": 1}},
        ],
    }
    if sprite:
        style["sprite"] = sprite
    return style


def write_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], fmt: str, **metadata: str) -> Path:
    """An MBTiles file of ``tiles`` ({(z, x, y): bytes}, XYZ), rows flipped to TMS as the format says."""
    zooms = [z for z, _, _ in tiles]
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
        rows = {"name": path.stem, "format": fmt, "minzoom": str(min(zooms)), "maxzoom": str(max(zooms)), **metadata}
        db.executemany("INSERT INTO metadata VALUES (?, ?)", rows.items())
        db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                       [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()])
    return path


def write_pmtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], tile_type: TileType,
                  *, gzipped: bool = False) -> Path:
    """A PMTiles v3 file of ``tiles`` ({(z, x, y): bytes}) written with the ``pmtiles`` package."""
    zooms = [z for z, _, _ in tiles]
    with open(path, "wb") as f:
        writer = Writer(f)
        for (z, x, y), data in sorted(tiles.items(), key=lambda item: zxy_to_tileid(*item[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), data)
        writer.finalize({"tile_type": tile_type,
                         "tile_compression": Compression.GZIP if gzipped else Compression.NONE,
                         "min_zoom": min(zooms), "max_zoom": max(zooms),
                         "min_lon_e7": int(-180e7), "min_lat_e7": int(-85e7), "max_lon_e7": int(180e7),
                         "max_lat_e7": int(85e7), "center_zoom": min(zooms), "center_lon_e7": 0, "center_lat_e7": 0},
                        {"name": path.stem})
    return path


def write_style(path: Path, style: dict) -> Path:
    path.write_text(json.dumps(style, ensure_ascii=False), "utf-8")
    return path
