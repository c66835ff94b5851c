"""Point → unit-grid assignment: a vectorised STRtree index over the grid polygons.

A point on a border shared by several grids belongs to exactly one of them: the one given first
(lowest position) in the sequence the index was built from, so the answer is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

NO_GRID = -1


class GridIndex:
    """Locates points in a set of grid polygons (WGS-84 lon/lat or any planar coordinates)."""

    def __init__(self, ids: Sequence[int], polygons: Sequence[shapely.Geometry]) -> None:
        if len(ids) != len(polygons):
            raise ValueError(f"{len(ids)} ids but {len(polygons)} polygons")
        self.ids = np.asarray(ids, dtype=np.int64)
        self.polygons = np.asarray(polygons, dtype=object)
        if self.polygons.size and shapely.is_missing(self.polygons).any():
            raise ValueError("a grid polygon is missing (None)")
        shapely.prepare(self.polygons)
        self._tree = shapely.STRtree(self.polygons)

    def __len__(self) -> int:
        return len(self.ids)

    def locate(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """The grid id of every point (int64), ``-1`` where no grid contains or touches it."""
        lons = np.asarray(lons, dtype=np.float64).ravel()
        lats = np.asarray(lats, dtype=np.float64).ravel()
        if lons.shape != lats.shape:
            raise ValueError(f"{lons.size} longitudes but {lats.size} latitudes")
        result = np.full(lons.size, NO_GRID, dtype=np.int64)
        if lons.size == 0 or len(self.ids) == 0:
            return result
        finite = np.isfinite(lons) & np.isfinite(lats)
        points = shapely.points(lons[finite], lats[finite])
        point_idx, grid_pos = self._tree.query(points, predicate="intersects")
        if point_idx.size == 0:
            return result
        # Sort by (point, grid position) and keep the first hit of each point: the lowest position.
        order = np.lexsort((grid_pos, point_idx))
        point_idx, grid_pos = point_idx[order], grid_pos[order]
        first = np.ones(point_idx.size, dtype=bool)
        first[1:] = point_idx[1:] != point_idx[:-1]
        located = np.full(points.size, NO_GRID, dtype=np.int64)
        located[point_idx[first]] = self.ids[grid_pos[first]]
        result[finite] = located
        return result

    def locate_one(self, lon: float, lat: float) -> int | None:
        """The grid id of one point, or None when it lies in no grid."""
        found = int(self.locate(np.array([lon]), np.array([lat]))[0])
        return None if found == NO_GRID else found
