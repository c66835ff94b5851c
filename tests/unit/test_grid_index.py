"""The grid index gives every point exactly one grid (lowest position on shared borders) or -1."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.grid_index import NO_GRID, GridIndex


def _lattice(nx: int = 6, ny: int = 5) -> tuple[list[int], list[shapely.Geometry]]:
    xs = np.linspace(117.0, 117.06, nx + 1)
    ys = np.linspace(36.6, 36.65, ny + 1)
    polys = [shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(nx) for j in range(ny)]
    # ids deliberately unrelated to positions, so the test catches position/id mix-ups
    ids = [1000 + 7 * k for k in range(len(polys))]
    return ids, polys


def _naive(ids: list[int], polys: list[shapely.Geometry], lon: float, lat: float) -> int:
    point = shapely.Point(lon, lat)
    for grid_id, poly in zip(ids, polys, strict=True):
        if poly.intersects(point):
            return grid_id
    return NO_GRID


def test_locate_matches_a_naive_loop_on_random_points_including_outside():
    ids, polys = _lattice()
    # an irregular polygon too, partly overlapping nothing else, to exercise non-box shapes
    ids.append(5)
    polys.append(shapely.Polygon([(117.06, 36.6), (117.09, 36.62), (117.07, 36.66), (117.06, 36.65)]))
    index = GridIndex(ids, polys)
    rng = np.random.default_rng(7)
    lons = rng.uniform(116.99, 117.1, 3000)
    lats = rng.uniform(36.59, 36.67, 3000)
    got = index.locate(lons, lats)
    expected = np.array([_naive(ids, polys, lo, la) for lo, la in zip(lons, lats, strict=True)])
    assert got.dtype == np.int64
    assert (got == NO_GRID).any() and (got != NO_GRID).any()
    np.testing.assert_array_equal(got, expected)


def test_points_on_shared_borders_get_the_lowest_position_grid():
    ids, polys = _lattice()
    index = GridIndex(ids, polys)
    # every lattice vertex and edge midpoint touches 1, 2 or 4 cells
    xs = np.linspace(117.0, 117.06, 7)
    ys = np.linspace(36.6, 36.65, 6)
    gx, gy = np.meshgrid(xs, ys)
    lons = np.concatenate([gx.ravel(), (gx[:, :-1].ravel() + gx[:, 1:].ravel()) / 2])
    lats = np.concatenate([gy.ravel(), gy[:, :-1].ravel()])
    got = index.locate(lons, lats)
    expected = [_naive(ids, polys, lo, la) for lo, la in zip(lons, lats, strict=True)]
    np.testing.assert_array_equal(got, expected)
    # the shared corner of the first four cells belongs to the first of them
    assert index.locate_one(float(xs[1]), float(ys[1])) == ids[0]


def test_locate_one_returns_none_outside_and_the_id_inside():
    ids, polys = _lattice()
    index = GridIndex(ids, polys)
    assert index.locate_one(0.0, 0.0) is None
    centre = polys[13].centroid
    assert index.locate_one(centre.x, centre.y) == ids[13]


def test_nan_coordinates_and_empty_input_give_no_grid():
    ids, polys = _lattice()
    index = GridIndex(ids, polys)
    got = index.locate(np.array([np.nan, 117.001, np.inf]), np.array([36.601, np.nan, 36.601]))
    np.testing.assert_array_equal(got, [NO_GRID, NO_GRID, NO_GRID])
    assert index.locate(np.array([]), np.array([])).shape == (0,)


def test_an_index_without_grids_locates_nothing():
    index = GridIndex([], [])
    np.testing.assert_array_equal(index.locate(np.array([117.0]), np.array([36.6])), [NO_GRID])


def test_mismatched_inputs_are_refused():
    ids, polys = _lattice()
    with pytest.raises(ValueError, match="ids but"):
        GridIndex(ids[:-1], polys)
    index = GridIndex(ids, polys)
    with pytest.raises(ValueError, match="longitudes but"):
        index.locate(np.array([1.0, 2.0]), np.array([1.0]))
