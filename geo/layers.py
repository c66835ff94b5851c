"""Map-layer builders: shapely geometries → compact GeoJSON for MapLibre layers drawn by the app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

#: 5 decimals of a degree ≈ 1 m: enough for a city map, and it keeps the payload small.
PRECISION = 5


def features_to_geojson(geoms: Sequence[shapely.Geometry] | np.ndarray,
                        properties: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A FeatureCollection of ``geoms`` with coordinates rounded to ~1 m; empty geometries skipped."""
    geoms = np.asarray(geoms, dtype=object)
    if geoms.size:
        geoms = shapely.set_precision(geoms, 10**-PRECISION)
    features = []
    for i, geom in enumerate(geoms):
        if geom is None or shapely.is_empty(geom):
            continue
        features.append({
            "type": "Feature",
            "geometry": shapely.geometry.mapping(geom),
            "properties": dict(properties[i]) if properties else {},
        })
    return {"type": "FeatureCollection", "features": features}


#: A source that draws nothing. MapLibre requires ``sources``; Plotly drops an empty ``{}`` from the layout
#: it keeps, and a later figure update would then re-apply the style without it ("missing required
#: property sources"), so the style carries one inline, unused GeoJSON point.
_PLACEHOLDER_SOURCE = {
    "type": "geojson",
    "data": {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {"unused": 1}},
}


def offline_style(background: str) -> dict[str, Any]:
    """A MapLibre style with no remote source, sprite or glyphs: only a background colour."""
    return {
        "version": 8,
        "sources": {"placeholder": _PLACEHOLDER_SOURCE},
        "layers": [{"id": "background", "type": "background", "paint": {"background-color": background}}],
    }


def polygons_to_geojson(geoms: Sequence[shapely.Geometry] | np.ndarray, ids: Sequence[str]) -> dict[str, Any]:
    """Polygons as a lean FeatureCollection for a choropleth: each feature has only its ``id``."""
    geoms = np.asarray(geoms, dtype=object)
    if geoms.size:
        geoms = shapely.set_precision(geoms, 10**-PRECISION)
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": ident, "geometry": shapely.geometry.mapping(geom)}
            for ident, geom in zip(ids, geoms, strict=True)
            if geom is not None and not shapely.is_empty(geom)
        ],
    }
