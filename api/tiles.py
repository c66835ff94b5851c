"""The city's own basemap over HTTP (issue 16): ``/tiles/{name}/{z}/{x}/{y}`` (the tiles of an imported
MBTiles/PMTiles set), ``/tiles/{name}/style.json`` (its MapLibre style, every URL on this app),
``/tiles/{name}/sprite{,@2x}.{json,png}`` and ``/tiles/glyphs/{fontstack}/{range}.pbf``. Signed-in users only
(the page guard, then ``require_roles``), GETs, never a 500: a bad z/x/y or range is a 400, a missing tile
or basemap a 404. Tiles and glyphs carry an ETag and Cache-Control; gzip'd vector tiles go out as they are
stored, with ``Content-Encoding: gzip``."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, jsonify, request, send_file

from api.auth import require_roles
from api.errors import error_response
from data.basemap import (
    CONTENT_TYPES,
    MAX_AGE,
    etag,
    glyph_range,
    label_font,
    served_style,
    sprite_file,
    stored_tileset,
    ungzip,
)
from geo.glyphs import GlyphRangeError
from settings import get_settings

tiles_bp = Blueprint("tiles", __name__, url_prefix="/tiles")


def basemaps_root() -> Path:
    """The folder of the imported basemaps (``CITYOPS_BASEMAPS_DIR``)."""
    return Path(get_settings().basemaps_dir)


def _cached(data: bytes, mimetype: str, **headers: str) -> Response:
    """``data`` with its ETag and Cache-Control, or a 304 when the browser holds that version."""
    tag = etag(data)
    fresh = request.if_none_match.contains(tag)
    response = Response(status=304) if fresh else Response(data, mimetype=mimetype)
    response.set_etag(tag)
    response.headers.update({"Cache-Control": f"private, max-age={MAX_AGE}", **headers})
    return response


@tiles_bp.get("/<name>/<z>/<x>/<y>")
@require_roles()
def tile(name: str, z: str, x: str, y: str) -> Response:
    """One tile; ``y`` may end in its format's extension (``.png``, ``.pbf`` …)."""
    y = y.rsplit(".", 1)[0] if "." in y else y
    if not (z.isdigit() and x.isdigit() and y.isdigit()) or int(z) > 30:
        return error_response(400, "bad_tile", "z, x and y must be whole numbers (z at most 30)")
    zi, xi, yi = int(z), int(x), int(y)
    if xi >= 2**zi or yi >= 2**zi:
        return error_response(400, "bad_tile", f"x and y must be below {2**zi} at zoom {zi}")
    tiles = stored_tileset(basemaps_root(), name)
    if tiles is None:
        return error_response(404, "not_found", f"no basemap {name!r}")
    data = tiles.tile(zi, xi, yi)
    if data is None:
        return error_response(404, "not_found", f"no tile {zi}/{xi}/{yi} in {name}")
    headers: dict[str, str] = {}
    if tiles.vector and tiles.gzipped:
        if "gzip" in request.accept_encodings:
            headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        else:
            data = ungzip(data)
    return _cached(data, CONTENT_TYPES[tiles.tile_format], **headers)


@tiles_bp.get("/<name>/style.json")
@require_roles()
def style(name: str) -> Response:
    """The basemap's MapLibre style with this app's absolute URLs."""
    found = served_style(basemaps_root(), name, request.host_url.rstrip("/"))
    if found is None:
        return error_response(404, "not_found", f"no basemap {name!r}")
    response = jsonify(found)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@tiles_bp.get("/<name>/sprite<suffix>")
@require_roles()
def sprite(name: str, suffix: str) -> Response:
    """The basemap's sprite sheet or its index (``sprite.png``, ``sprite.json``, ``sprite@2x.*``)."""
    path = sprite_file(basemaps_root(), name, suffix)
    if path is None:
        return error_response(404, "not_found", f"no sprite{suffix} for {name!r}")
    return send_file(path.resolve(), max_age=MAX_AGE, conditional=True)


@tiles_bp.get("/glyphs/<fontstack>/<glyphs>.pbf")
@require_roles()
def glyphs(fontstack: str, glyphs: str) -> Response:
    """A glyph range of the labels, drawn with the local CJK font whatever the font stack names."""
    try:
        data = glyph_range(basemaps_root(), fontstack, glyphs, label_font(get_settings().basemap_font))
    except GlyphRangeError as exc:
        return error_response(400, "bad_range", str(exc))
    if data is None:
        return error_response(404, "not_found", "no font for labels on this server (CITYOPS_BASEMAP_FONT)")
    return _cached(data, "application/x-protobuf")
