"""MapLibre glyph ranges (signed-distance-field PBFs) rendered from a local font file: the labels of the
city's own vector basemap (issue 16) need ``glyphs``, and nothing may be fetched from another host.

A range is 256 code points (``0-255``, ``256-511`` … ``65280-65535``); each glyph is rendered at 24 px with
Pillow (FreeType), turned into a signed distance field (3 px buffer, 8 px radius, cutoff 0.25 — the values
MapLibre's own TinySDF uses) and encoded with the ``glyphs.proto`` schema of the MapLibre/Mapbox glyph
format through the protobuf runtime. Pure: a font path and a range in, bytes out.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from fontTools.ttLib import TTFont
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from PIL import Image, ImageDraw, ImageFont

#: Glyph size, buffer and SDF radius/cutoff of the MapLibre glyph format.
SIZE, BUFFER, RADIUS, CUTOFF = 24, 3, 8.0, 0.25
#: Where the format puts the baseline above a glyph's top (``top`` = ascent above the baseline − this).
BASELINE = 26
#: The last range start: code points above U+FFFF are not served as glyph ranges.
LAST_START = 65280


class GlyphRangeError(ValueError):
    """A glyph range that is not ``N-(N+255)`` with N a multiple of 256 up to 65280."""


def parse_range(text: str) -> int:
    """The first code point of the glyph range ``text`` (``"256-511"``); ``GlyphRangeError`` otherwise."""
    first, sep, last = text.partition("-")
    if not sep or not first.isdigit() or not last.isdigit():
        raise GlyphRangeError(f"glyph range {text!r} is not START-END")
    start, end = int(first), int(last)
    if start % 256 or end != start + 255 or start > LAST_START:
        raise GlyphRangeError(f"glyph range {text!r} must be N-(N+255) with N a multiple of 256 up to 65280")
    return start


@cache
def _glyphs_message() -> type[Any]:
    """The ``glyphs`` message class of glyphs.proto (proto2), built from its descriptor at run time."""
    proto = descriptor_pb2.FileDescriptorProto(name="cityops_glyphs.proto", package="cityops.glyphs",
                                               syntax="proto2")
    field = descriptor_pb2.FieldDescriptorProto
    required, optional, repeated = field.LABEL_REQUIRED, field.LABEL_OPTIONAL, field.LABEL_REPEATED
    glyph = proto.message_type.add(name="glyph")
    for number, (name, kind, label) in enumerate((
            ("id", field.TYPE_UINT32, required), ("bitmap", field.TYPE_BYTES, optional),
            ("width", field.TYPE_UINT32, required), ("height", field.TYPE_UINT32, required),
            ("left", field.TYPE_SINT32, required), ("top", field.TYPE_SINT32, required),
            ("advance", field.TYPE_UINT32, required)), start=1):
        glyph.field.add(name=name, number=number, type=kind, label=label)
    stack = proto.message_type.add(name="fontstack")
    stack.field.add(name="name", number=1, type=field.TYPE_STRING, label=required)
    stack.field.add(name="range", number=2, type=field.TYPE_STRING, label=required)
    stack.field.add(name="glyphs", number=3, type=field.TYPE_MESSAGE, label=repeated,
                    type_name=".cityops.glyphs.glyph")
    glyphs = proto.message_type.add(name="glyphs")
    glyphs.field.add(name="stacks", number=1, type=field.TYPE_MESSAGE, label=repeated,
                     type_name=".cityops.glyphs.fontstack")
    glyphs.extension_range.add(start=16, end=8192)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("cityops.glyphs.glyphs"))


def decode_glyphs(data: bytes) -> Any:
    """A glyph PBF decoded (for checks): ``.stacks[0].name``, ``.range`` and ``.glyphs``."""
    message = _glyphs_message()()
    message.ParseFromString(data)
    return message


def signed_distance(alpha: np.ndarray) -> np.ndarray:
    """The SDF bytes of a coverage image ``alpha`` (0..1, glyph plus buffer): 255 deep inside, 192 on the
    edge (cutoff 0.25), falling to 0 at ``RADIUS`` px outside. Exact Euclidean distances to the nearest
    pixel of the other side, corrected by each edge pixel's coverage."""
    inside = alpha >= 0.5
    rows, cols = np.indices(alpha.shape)
    points = np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.float32)
    dist = np.full(alpha.size, RADIUS + 1, dtype=np.float32)
    flat_inside = inside.ravel()
    for side, other in ((flat_inside, ~flat_inside), (~flat_inside, flat_inside)):
        if side.any() and other.any():
            delta = points[side][:, None, :] - points[other][None, :, :]
            dist[side] = np.sqrt((delta ** 2).sum(axis=2)).min(axis=1) - 0.5
    signed = np.where(flat_inside, -dist, dist) + (0.5 - alpha.ravel())  # <0 inside
    value = 255 - 255 * (signed / RADIUS + CUTOFF)
    return np.clip(np.round(value), 0, 255).astype(np.uint8).reshape(alpha.shape)


@cache
def _code_points(path: str, index: int) -> frozenset[int]:
    """The code points face ``index`` of the font file ``path`` has a glyph for (its cmap)."""
    with TTFont(path, fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap())


def _glyph(font: ImageFont.FreeTypeFont, code: int) -> dict[str, Any]:
    """One glyph's fields: metrics, and the SDF bitmap of a glyph that draws something."""
    char = chr(code)
    advance = round(font.getlength(char))
    left, top, right, bottom = font.getbbox(char, anchor="ls")  # relative to the baseline origin
    width, height = max(right - left, 0), max(bottom - top, 0)
    if not width or not height:  # a space: an advance, no bitmap
        return {"id": code, "width": 0, "height": 0, "left": 0, "top": -BASELINE, "advance": advance}
    fields = {"id": code, "width": width, "height": height, "left": left, "top": -top - BASELINE,
              "advance": advance}
    image = Image.new("L", (width + 2 * BUFFER, height + 2 * BUFFER), 0)
    ImageDraw.Draw(image).text((BUFFER - left, BUFFER - top), char, font=font, fill=255, anchor="ls")
    alpha = np.asarray(image, dtype=np.float32) / 255.0
    return {**fields, "bitmap": signed_distance(alpha).tobytes()}


def render_range(font_path: str | Path, start: int, *, fontstack: str = "CityOps", index: int = 0) -> bytes:
    """The glyph PBF of code points ``start`` … ``start + 255`` (``start`` a multiple of 256) drawn with the
    font at ``font_path`` (face ``index`` of a .ttc); code points the font lacks are left out."""
    if start % 256 or not 0 <= start <= LAST_START:
        raise GlyphRangeError(f"glyph range start {start} is not a multiple of 256 up to {LAST_START}")
    font = ImageFont.truetype(str(font_path), SIZE, index=index, layout_engine=ImageFont.Layout.BASIC)
    known = _code_points(str(font_path), index)
    message = _glyphs_message()()
    stack = message.stacks.add(name=fontstack, range=f"{start}-{start + 255}")
    for code in range(start, start + 256):
        if code >= 32 and code in known:  # no control characters, nothing the font lacks
            stack.glyphs.add(**_glyph(font, code))
    return message.SerializeToString()
