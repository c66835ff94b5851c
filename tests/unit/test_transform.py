"""WGS-84 ⇄ GCJ-02 (DESIGN §10): published reference pairs, vectorised arrays, the inverse within 0.5 m,
points outside China unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.transform import gcj02_to_wgs84, wgs84_to_gcj02

#: (WGS-84 lon, lat) → (GCJ-02 lon, lat): the reference pairs of the widely used eviltransform library.
REFERENCE = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    dy = (lat2 - lat1) * 111_320.0
    dx = (lon2 - lon1) * 111_320.0 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_wgs84_to_gcj02_matches_the_reference_pairs(wgs, gcj):
    lon, lat = wgs84_to_gcj02(*wgs)
    assert isinstance(lon, float) and isinstance(lat, float)
    assert lon == pytest.approx(gcj[0], abs=1e-9) and lat == pytest.approx(gcj[1], abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_gcj02_to_wgs84_inverts_the_reference_pairs_within_a_centimetre(wgs, gcj):
    lon, lat = gcj02_to_wgs84(*gcj)
    assert metres(lon, lat, *wgs) < 0.01


def test_the_offset_is_hundreds_of_metres_in_china():
    lon, lat = wgs84_to_gcj02(117.02, 36.67)  # the demo city
    assert 100 < metres(117.02, 36.67, lon, lat) < 1000


@pytest.mark.parametrize("point", [(2.3522, 48.8566), (-74.006, 40.7128), (139.69, 35.68), (150.0, -33.9)])
def test_points_outside_china_are_unchanged(point):
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


def test_arrays_are_converted_elementwise_with_the_same_shape():
    lon = np.array([[121.5272106, 2.3522], [113.912316, 116.377817]])
    lat = np.array([[31.1774276, 48.8566], [22.543847, 39.911954]])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert glon.shape == lon.shape and glat.shape == lat.shape
    assert glon[0, 0] == pytest.approx(121.531541859215, abs=1e-9)
    assert (glon[0, 1], glat[0, 1]) == (2.3522, 48.8566)  # Paris is outside China
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    np.testing.assert_allclose(wlon, lon, atol=1e-8)
    np.testing.assert_allclose(wlat, lat, atol=1e-8)


def test_nan_passes_through_without_spoiling_the_other_points():
    wlon, wlat = gcj02_to_wgs84(np.array([np.nan, 117.03]), np.array([36.67, 36.67]))
    assert math.isnan(wlon[0])
    assert metres(*wgs84_to_gcj02(wlon[1], wlat[1]), 117.03, 36.67) < 0.01


@settings(max_examples=200, deadline=None)
@given(st.floats(73.0, 135.0), st.floats(18.0, 53.0))
def test_round_trip_anywhere_in_china_is_within_half_a_metre(lon, lat):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres(lon, lat, *back) < 0.5
