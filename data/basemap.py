"""The city's own basemap, offline (issue 16): MBTiles and PMTiles tile sets — raster (PNG/JPEG/WebP) or
vector (MVT with a MapLibre style) — imported into ``CITYOPS_BASEMAPS_DIR`` (default var/basemaps) with a
small JSON registry, their tiles read by z/x/y, their style rewritten so every source, glyph and sprite URL
points at this app, and glyph ranges rendered once from a local CJK font and kept as files.

Layout of the folder: ``registry.json`` (``{"active": NAME, "basemaps": {NAME: {...}}}``), ``NAME.mbtiles`` or
``NAME.pmtiles``, ``NAME.style.json`` (the style as imported, its URLs rewritten when served), ``NAME.sprite*``
and ``glyphs/START-END.pbf``. The last imported basemap is the active one: the big screen draws it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mmap
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pmtiles.reader import Reader
from pmtiles.tile import Compression, MagicNumberNotFound, SpecVersionUnsupported, TileType

from geo.glyphs import parse_range, render_range

#: A basemap name: it is a URL path segment and a file name.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: Names taken by the /tiles routes themselves.
RESERVED_NAMES = frozenset({"glyphs"})
#: Tile formats: (the MBTiles ``format`` value or PMTiles type) → content type.
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "pbf": "application/x-protobuf"}
_PMTILES_TYPES = {TileType.MVT: "pbf", TileType.PNG: "png", TileType.JPEG: "jpg", TileType.WEBP: "webp"}
#: Leading bytes of each tile format (a tile set without a ``format`` is told by its first tile).
_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpg"), (b"RIFF", "webp"), (b"\x1f\x8b", "pbf"))
_SQLITE_MAGIC, _PMTILES_MAGIC = b"SQLite format 3\x00", b"PMTiles"
#: CJK fonts looked for when ``CITYOPS_BASEMAP_FONT`` is empty: (file, face index of the SC face).
FONT_CANDIDATES = (("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
                   ("/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc", 2),
                   ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
                   ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0))
#: The glyph ranges rendered at import: Latin, CJK punctuation, and the whole of CJK Unified Ideographs.
SETUP_RANGES = (0, 12288, 65280, *range(19968, 40960, 256))
#: How long a browser keeps a tile or glyph range before asking again (an ETag answers that cheaply).
MAX_AGE = 3600


class BasemapError(ValueError):
    """A file that cannot be imported as a basemap, with the reason; nothing was stored."""


@dataclass(frozen=True)
class TileSet:
    """One opened MBTiles or PMTiles file: its kind, tile format and the metadata the style needs."""

    path: Path
    container: str  # "mbtiles" | "pmtiles"
    tile_format: str  # a key of CONTENT_TYPES
    gzipped: bool  # vector tiles stored gzip-compressed (answered with Content-Encoding: gzip)
    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float] | None
    metadata: dict[str, Any]

    @property
    def vector(self) -> bool:
        return self.tile_format == "pbf"

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The stored bytes of tile z/x/y (XYZ numbering, y down), or None when the set has none."""
        if not (0 <= z <= 30 and 0 <= x < 2**z and 0 <= y < 2**z):
            return None
        if self.container == "mbtiles":
            with _sqlite(self.path) as db:
                row = db.execute("SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                                 (z, x, (1 << z) - 1 - y)).fetchone()  # MBTiles rows are TMS: y up
            return bytes(row[0]) if row and row[0] is not None else None
        with _pmtiles(self.path) as reader:
            return reader.get(z, x, y)


@contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def _pmtiles(path: Path) -> Iterator[Reader]:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        yield Reader(lambda offset, length: data[offset:offset + length])  # closed on leaving


def _format_of(data: bytes | None) -> str | None:
    return next((fmt for magic, fmt in _MAGIC if data and data.startswith(magic)), None)


def open_tileset(path: Path) -> TileSet:
    """Open and check ``path`` as an MBTiles (SQLite with ``metadata`` and ``tiles``) or PMTiles file holding
    at least one tile of a known format; ``BasemapError`` with the reason otherwise."""
    path = Path(path)
    if not path.is_file():
        raise BasemapError(f"{path.name}: no such file")
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(_SQLITE_MAGIC):
        return _open_mbtiles(path)
    if head.startswith(_PMTILES_MAGIC):
        return _open_pmtiles(path)
    raise BasemapError(f"{path.name} is neither an MBTiles (SQLite) nor a PMTiles file")


def _open_mbtiles(path: Path) -> TileSet:
    try:
        with _sqlite(path) as db:
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")}
            if not {"metadata", "tiles"} <= names:
                raise BasemapError(f"{path.name} is an SQLite database but not an MBTiles file "
                                   "(it needs the tables metadata and tiles)")
            metadata = {str(k): v for k, v in db.execute("SELECT name, value FROM metadata")}
            first = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles LIMIT 1").fetchone()
            zooms = (metadata["minzoom"], metadata["maxzoom"]) if {"minzoom", "maxzoom"} <= set(metadata) \
                else db.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BasemapError(f"{path.name} is not a readable MBTiles file: {exc}") from None
    if first is None:
        raise BasemapError(f"{path.name} holds no tiles")
    data = bytes(first[3] or b"")
    fmt = str(metadata.get("format", "")).lower().replace("jpeg", "jpg") or _format_of(data)
    if fmt == "mvt":
        fmt = "pbf"
    if fmt not in CONTENT_TYPES:
        raise BasemapError(f"{path.name}: tile format {metadata.get('format')!r} is not png, jpg, webp or pbf")
    try:
        minzoom, maxzoom = int(zooms[0]), int(zooms[1])
    except (TypeError, ValueError):
        raise BasemapError(f"{path.name}: minzoom/maxzoom {zooms[0]!r}/{zooms[1]!r} are no zoom levels") from None
    return TileSet(path, "mbtiles", fmt, fmt == "pbf" and data.startswith(b"\x1f\x8b"), minzoom, maxzoom,
                   _bounds(metadata.get("bounds")), _metadata_json(metadata))


def _open_pmtiles(path: Path) -> TileSet:
    try:
        with _pmtiles(path) as reader:
            header, metadata = reader.header(), reader.metadata()
    except (MagicNumberNotFound, SpecVersionUnsupported, ValueError, OSError, EOFError, IndexError) as exc:
        raise BasemapError(f"{path.name} is not a readable PMTiles file: {exc or type(exc).__name__}") from None
    fmt = _PMTILES_TYPES.get(header["tile_type"])
    if fmt is None:
        raise BasemapError(f"{path.name}: tile type {header['tile_type'].name} is not MVT, PNG, JPEG or WebP")
    if not header.get("addressed_tiles_count"):
        raise BasemapError(f"{path.name} holds no tiles")
    bounds = tuple(header[k] for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7"))
    return TileSet(path, "pmtiles", fmt, header["tile_compression"] == Compression.GZIP,
                   int(header["min_zoom"]), int(header["max_zoom"]), tuple(v / 1e7 for v in bounds),
                   metadata if isinstance(metadata, dict) else {})


def _bounds(text: Any) -> tuple[float, float, float, float] | None:
    try:
        west, south, east, north = (float(v) for v in str(text).split(","))
    except ValueError:
        return None
    return west, south, east, north


def _metadata_json(metadata: dict[str, Any]) -> dict[str, Any]:
    """MBTiles metadata with its ``json`` row (vector_layers) unpacked."""
    try:
        extra = json.loads(metadata.get("json") or "{}")
    except json.JSONDecodeError:
        extra = {}
    return {**{k: v for k, v in metadata.items() if k != "json"}, **(extra if isinstance(extra, dict) else {})}


# --- the folder and its registry --------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def read_registry(root: Path) -> dict[str, Any]:
    """The registry of ``root``: ``{"active": NAME | None, "basemaps": {NAME: entry}}``."""
    try:
        registry = json.loads((Path(root) / "registry.json").read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"active": None, "basemaps": {}}
    return registry if isinstance(registry, dict) and isinstance(registry.get("basemaps"), dict) \
        else {"active": None, "basemaps": {}}


def basemap_entry(root: Path, name: str) -> dict[str, Any] | None:
    """The registry entry of basemap ``name``, or None."""
    entry = read_registry(root)["basemaps"].get(name)
    return entry if isinstance(entry, dict) else None


def active_basemap(root: Path) -> str | None:
    """The name of the basemap the big screen draws (the last imported), or None."""
    registry = read_registry(root)
    active = registry.get("active")
    return active if active in registry["basemaps"] else None


def stored_tileset(root: Path, name: str) -> TileSet | None:
    """The imported tile set ``name`` as its registry entry describes it (checked at import, not again on
    every tile), or None when there is none (or its file went away)."""
    entry = basemap_entry(root, name)
    path = Path(root) / str(entry.get("file")) if entry else None
    if entry is None or path is None or not path.is_file():
        return None
    bounds = entry.get("bounds")
    return TileSet(path, entry["container"], entry["format"], bool(entry.get("gzipped")), entry["minzoom"],
                   entry["maxzoom"], tuple(bounds) if bounds else None, {})


def check_style(style: Any, origin: str) -> dict[str, Any]:
    """``style`` checked as a MapLibre style (version 8, sources, layers); ``BasemapError`` naming
    ``origin`` otherwise."""
    if not isinstance(style, dict) or style.get("version") != 8:
        raise BasemapError(f"{origin} is not a MapLibre style (version 8)")
    if not isinstance(style.get("sources"), dict) or not isinstance(style.get("layers"), list):
        raise BasemapError(f"{origin} is not a MapLibre style: it needs sources and layers")
    return style


def import_basemap(file: Path, *, root: Path, style: Path | None = None, name: str | None = None,
                   font: tuple[str, int] | None = None, audit: Any = None) -> dict[str, Any]:
    """Check ``file`` (MBTiles or PMTiles; a vector one needs ``style``, a MapLibre style JSON) and store it
    under ``root`` as basemap ``name`` (default the file's stem), replacing one of that name and making it
    the active basemap; for a vector one the Latin glyph range is rendered with ``font`` (others on first
    use). ``audit(action, target, detail)`` records the import. Returns the registry entry. Nothing is
    stored when a check fails (``BasemapError``)."""
    file, root = Path(file), Path(root)
    tiles = open_tileset(file)
    name = name or re.sub(r"[^a-z0-9_-]+", "-", file.stem.lower()).strip("-_") or "basemap"
    if not NAME_PATTERN.match(name) or name in RESERVED_NAMES:
        raise BasemapError(f"basemap name {name!r}: use 1–64 lower-case letters, digits, - and _ (not glyphs)")
    style_json = _read_style(style) if style is not None else None
    if tiles.vector and style_json is None:
        raise BasemapError(f"{file.name} holds vector tiles: give their MapLibre style with --style STYLE.json")
    kind = "vector" if tiles.vector else "raster"
    if style_json is not None and not any(isinstance(source, dict) and source.get("type") == kind
                                          for source in style_json["sources"].values()):
        raise BasemapError(f"{Path(style).name} has no {kind} source for the tiles of {file.name}")
    sprites = _sprite_files(style, style_json) if style_json is not None else []
    root.mkdir(parents=True, exist_ok=True)
    stored = f"{name}.{tiles.container}"
    previous = basemap_entry(root, name)
    if previous is not None and previous.get("file") != stored:
        (root / str(previous.get("file"))).unlink(missing_ok=True)  # an MBTiles replaced by a PMTiles, or back
    tmp = root / f".{stored}.importing"
    shutil.copyfile(file, tmp)
    os.replace(tmp, root / stored)
    for old in root.glob(f"{name}.sprite*"):
        old.unlink()
    for source, suffix in sprites:
        shutil.copyfile(source, root / f"{name}.sprite{suffix}")
    if style_json is not None:
        _write_atomic(root / f"{name}.style.json", json.dumps(style_json, ensure_ascii=False).encode())
    else:
        (root / f"{name}.style.json").unlink(missing_ok=True)
    entry = {"file": stored, "format": tiles.tile_format, "container": tiles.container, "gzipped": tiles.gzipped,
             "minzoom": tiles.minzoom, "maxzoom": tiles.maxzoom, "bounds": tiles.bounds,
             "style": style_json is not None, "sprite": bool(sprites),
             "imported_at": datetime.now(UTC).isoformat(timespec="seconds")}
    registry = read_registry(root)
    registry["basemaps"][name] = entry
    registry["active"] = name
    _write_atomic(root / "registry.json", json.dumps(registry, indent=1).encode())
    if tiles.vector:
        prepare_glyphs(root, font)
    if audit is not None:
        audit("basemap.import", f"basemap:{name}", {"file": file.name, "format": tiles.tile_format,
                                                   "container": tiles.container, "zoom": [tiles.minzoom,
                                                                                          tiles.maxzoom]})
    return {"name": name, **entry}


def _read_style(path: Path) -> dict[str, Any]:
    try:
        style = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BasemapError(f"{Path(path).name}: not a readable JSON style ({exc})") from None
    return check_style(style, Path(path).name)


def _sprite_files(style_path: Path | None, style: dict[str, Any]) -> list[tuple[Path, str]]:
    """The sprite files (``X.json``, ``X.png``, ``X@2x.*``) found beside the style for its ``sprite`` URL's
    last path segment X, as (file, suffix); none when the style has no sprite or the files are not there."""
    sprite = style.get("sprite")
    if not isinstance(sprite, str) or style_path is None:
        return []
    stem = sprite.rstrip("/").rsplit("/", 1)[-1]
    folder = Path(style_path).parent
    found = [(folder / f"{stem}{suffix}", suffix) for suffix in (".json", ".png", "@2x.json", "@2x.png")]
    return [(path, suffix) for path, suffix in found if path.is_file()] if found[0][0].is_file() else []


# --- serving -----------------------------------------------------------------------------------------


def served_style(root: Path, name: str, base: str) -> dict[str, Any] | None:
    """The MapLibre style of basemap ``name`` with every URL on this app (``base``, e.g.
    ``http://host:8050``): its tile sources → ``/tiles/NAME/{z}/{x}/{y}``, glyphs →
    ``/tiles/glyphs/{fontstack}/{range}.pbf``, sprite → ``/tiles/NAME/sprite``. Sources this app cannot serve
    (remote GeoJSON, DEM, images) are left out with their layers: nothing is fetched from another host.
    A raster basemap without a style gets one raster layer. None for an unknown basemap."""
    entry = basemap_entry(root, name)
    if entry is None:
        return None
    tiles = {"tiles": [f"{base}/tiles/{name}/{{z}}/{{x}}/{{y}}"], "minzoom": entry["minzoom"],
             "maxzoom": entry["maxzoom"]}
    if entry.get("bounds"):
        tiles["bounds"] = entry["bounds"]
    kind = "vector" if entry["format"] == "pbf" else "raster"
    if not entry.get("style"):
        return {"version": 8, "name": name, "sources": {name: {"type": "raster", "tileSize": 256, **tiles}},
                "layers": [{"id": f"{name}-raster", "type": "raster", "source": name}]}
    try:
        style = json.loads((Path(root) / f"{name}.style.json").read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    sources: dict[str, Any] = {}
    for source_id, source in style.get("sources", {}).items():
        if isinstance(source, dict) and source.get("type") == kind:
            kept = {k: v for k, v in source.items() if k not in ("url", "tiles", "minzoom", "maxzoom", "bounds")}
            sources[source_id] = {**kept, **tiles}
        elif isinstance(source, dict) and source.get("type") == "geojson" and isinstance(source.get("data"), dict):
            sources[source_id] = source  # inline data: nothing to fetch
    style["sources"] = sources
    style["layers"] = [layer for layer in style.get("layers", []) if isinstance(layer, dict)
                       and (layer.get("type") == "background" or layer.get("source") in sources)]
    style["glyphs"] = f"{base}/tiles/glyphs/{{fontstack}}/{{range}}.pbf"
    if entry.get("sprite"):
        style["sprite"] = f"{base}/tiles/{name}/sprite"
    else:  # no icons: Plotly would fetch a missing icon from a CDN
        style.pop("sprite", None)
        for layer in style["layers"]:
            if isinstance(layer.get("layout"), dict):
                layer["layout"].pop("icon-image", None)
    return style


def active_style(root: Path, base: str) -> dict[str, Any] | None:
    """The served style (``served_style``) of the basemap the city map draws — the last imported — or None
    when none is imported: the map then draws its GeoJSON basemap."""
    name = active_basemap(root)
    return served_style(root, name, base) if name else None


def sprite_file(root: Path, name: str, suffix: str) -> Path | None:
    """The stored sprite file of basemap ``name`` (``suffix`` one of .json, .png, @2x.json, @2x.png)."""
    if suffix not in (".json", ".png", "@2x.json", "@2x.png") or basemap_entry(root, name) is None:
        return None
    path = Path(root) / f"{name}.sprite{suffix}"
    return path if path.is_file() else None


def etag(data: bytes) -> str:
    """A strong ETag of ``data`` (unquoted)."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def ungzip(data: bytes) -> bytes:
    """A gzip-compressed tile unpacked (for a client that does not accept gzip)."""
    return gzip.decompress(data)


def label_font(configured: str = "") -> tuple[str, int] | None:
    """The font labels are drawn with: ``configured`` (a path, ``PATH#INDEX`` for a face of a .ttc), else
    the first of ``FONT_CANDIDATES`` present; None when there is none."""
    if configured:
        path, _, index = configured.partition("#")
        return (path, int(index or 0)) if Path(path).is_file() and (index or "0").isdigit() else None
    return next(((path, index) for path, index in FONT_CANDIDATES if Path(path).is_file()), None)


def glyph_range(root: Path, fontstack: str, text: str, font: tuple[str, int] | None) -> bytes | None:
    """The glyph PBF of range ``text`` (``"0-255"``): the stored file, else rendered from ``font`` and
    stored; None when there is no font. Every font stack is drawn with the one local font.
    ``GlyphRangeError`` for a malformed range."""
    start = parse_range(text)
    path = Path(root) / "glyphs" / f"{start}-{start + 255}.pbf"
    if path.is_file():
        return path.read_bytes()
    if font is None:
        return None
    data = render_range(font[0], start, fontstack=fontstack[:128], index=font[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, data)
    return data


def prepare_glyphs(root: Path, font: tuple[str, int] | None = None, starts: tuple[int, ...] = (0,)) -> int:
    """Render and store the glyph ranges ``starts`` (default Latin; ``SETUP_RANGES`` for every CJK range)
    ahead of the first label; returns how many were rendered. Other ranges are rendered on first use."""
    font = font or label_font()
    done = 0
    for start in starts:
        if not (Path(root) / "glyphs" / f"{start}-{start + 255}.pbf").is_file() and font is not None:
            glyph_range(root, "CityOps", f"{start}-{start + 255}", font)
            done += 1
    return done
