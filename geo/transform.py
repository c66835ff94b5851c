"""WGS-84 ⇄ GCJ-02 (DESIGN §10): the offset coordinate system of Chinese web basemaps.

Both functions take scalars or numpy arrays of longitudes and latitudes, work vectorised, and return
``(lon, lat)`` of the same shape (floats for scalars). Points outside China are returned unchanged.
GCJ-02 → WGS-84 has no closed form: it is solved by fixed-point iteration to well under a centimetre.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_A = 6378245.0  # the Krasovsky 1940 semi-major axis the GCJ-02 algorithm uses
_EE = 0.00669342162296594323  # its first eccentricity squared
#: The rough rectangle GCJ-02 applies to (the usual public convention).
CHINA_BOUNDS = (72.004, 0.8293, 137.8347, 55.8271)
_TOLERANCE_DEG = 1e-9  # ≈ 0.1 mm
_MAX_ITERATIONS = 30


def _as_arrays(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return lon_a, lat_a, scalar


def _result(lon: np.ndarray, lat: np.ndarray, scalar: bool) -> tuple[Any, Any]:
    return (float(lon), float(lat)) if scalar else (lon, lat)


def in_china(lon: Any, lat: Any) -> np.ndarray:
    """True where a point lies inside the rectangle GCJ-02 is applied to."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    west, south, east, north = CHINA_BOUNDS
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 shift (degrees) at WGS-84 points."""
    x, y = lon - 105.0, lat - 35.0
    wave = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + wave
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + wave
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad_lat = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS-84 → GCJ-02; points outside China (and NaN) are returned unchanged."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    inside = in_china(lon_a, lat_a)
    dlon, dlat = _offset(lon_a, lat_a)
    return _result(np.where(inside, lon_a + dlon, lon_a), np.where(inside, lat_a + dlat, lat_a), scalar)


def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 → WGS-84 by fixed-point iteration (error well under 0.5 m); outside China unchanged."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    inside = in_china(lon_a, lat_a)
    wlon, wlat = lon_a.copy(), lat_a.copy()
    for _ in range(_MAX_ITERATIONS):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        err_lon, err_lat = glon - lon_a, glat - lat_a
        wlon, wlat = wlon - err_lon, wlat - err_lat
        worst = np.nanmax(np.abs(np.concatenate([err_lon.ravel(), err_lat.ravel()])), initial=0.0)
        if worst < _TOLERANCE_DEG:
            break
    return _result(np.where(inside, wlon, lon_a), np.where(inside, wlat, lat_a), scalar)
