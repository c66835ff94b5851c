"""HJ 633-2012 AQI against the standard's Table 1 (breakpoints) and Table 2 (categories)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.aqi import aqi, category_of, iaqi

IAQI = (0, 50, 100, 150, 200, 300, 400, 500)

# Table 1 of HJ 633-2012, typed in again here from the standard (not imported from the module).
TABLE_1 = {
    ("so2", "24h"): (0, 50, 150, 475, 800, 1600, 2100, 2620),
    ("so2", "1h"): (0, 150, 500, 650, 800),
    ("no2", "24h"): (0, 40, 80, 180, 280, 565, 750, 940),
    ("no2", "1h"): (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    ("pm10", "24h"): (0, 50, 150, 250, 350, 420, 500, 600),
    ("co", "24h"): (0, 2, 4, 14, 24, 36, 48, 60),
    ("co", "1h"): (0, 5, 10, 35, 60, 90, 120, 150),
    ("o3", "1h"): (0, 160, 200, 300, 400, 800, 1000, 1200),
    ("o3", "24h"): (0, 100, 160, 215, 265, 800),  # the 8-hour O3 of a daily report
    ("pm25", "24h"): (0, 35, 75, 115, 150, 250, 350, 500),
}
BREAKPOINT_CASES = [
    (pollutant, averaging, limit, IAQI[i])
    for (pollutant, averaging), limits in TABLE_1.items()
    for i, limit in enumerate(limits)
]


@pytest.mark.parametrize(("pollutant", "averaging", "limit", "expected"), BREAKPOINT_CASES)
def test_every_table_1_breakpoint_gives_its_iaqi_exactly(pollutant, averaging, limit, expected):
    assert iaqi(pollutant, limit, averaging) == expected


@pytest.mark.parametrize(("pollutant", "averaging"), list(TABLE_1))
def test_iaqi_is_the_linear_interpolation_rounded_up(pollutant, averaging):
    limits = TABLE_1[pollutant, averaging]
    for (lo, hi), (i_lo, i_hi) in zip(itertools.pairwise(limits), itertools.pairwise(IAQI), strict=False):
        for fraction in (0.1, 0.37, 0.5, 0.93):
            c = round(lo + (hi - lo) * fraction, 3)
            exact = (i_hi - i_lo) / (hi - lo) * (c - lo) + i_lo
            assert iaqi(pollutant, c, averaging) == math.ceil(round(exact, 9)), (pollutant, c)


def test_worked_examples():
    # PM2.5 75.5 µg/m³: 100 + 50/40 × 0.5 = 100.625 → 101 (rounded up, not to nearest).
    assert iaqi("pm25", 75.5) == 101
    # PM10 160 µg/m³: 100 + 50/100 × 10 = 105.
    assert iaqi("pm10", 160) == 105
    # CO 1-hour 6 mg/m³: 50 + 50/5 × 1 = 60; the same value over 24 h: 100 + 50/10 × 2 = 110.
    assert iaqi("co", 6, "1h") == 60
    assert iaqi("co", 6, "24h") == 110
    # PM2.5 by 24-hour limits even in hourly reporting.
    assert iaqi("pm25", 100, "1h") == iaqi("pm25", 100, "24h") == 132


def test_exact_arithmetic_does_not_round_a_breakpoint_up():
    # 50/35 × 35 is 50.000000000000007 in floating point: ceil would give 51.
    assert iaqi("pm25", 35) == 50
    assert iaqi("pm25", 35.0001) == 51


def test_notes_2_and_3_hand_over_above_the_top_of_the_short_rows():
    # SO2 1-hour above 800 µg/m³ is reported by the 24-hour breakpoints; O3 8-hour above 800 by 1-hour.
    assert iaqi("so2", 800, "1h") == 200 and iaqi("so2", 1600, "1h") == 300
    assert iaqi("o3", 800, "24h") == 300 and iaqi("o3", 1000, "24h") == 400


def test_above_the_top_of_table_1_the_iaqi_is_500():
    assert iaqi("pm25", 800) == 500
    assert iaqi("co", 1000, "1h") == 500


@pytest.mark.parametrize(
    ("index", "category"),
    [(0, 1), (50, 1), (51, 2), (100, 2), (101, 3), (150, 3), (151, 4), (200, 4), (201, 5), (300, 5),
     (301, 6), (500, 6)],
)
def test_table_2_categories(index, category):
    assert category_of(index) == category


def test_aqi_is_the_highest_iaqi_with_its_primary_pollutant():
    result = aqi({"pm25": 80, "pm10": 160, "so2": 10, "no2": 30, "co": 0.8, "o3": 120})
    assert result.iaqi == {"pm25": 107, "pm10": 105, "so2": 10, "no2": 38, "co": 20, "o3": 67}
    assert (result.aqi, result.category, result.primary) == (107, 3, ["pm25"])
    assert result.category_name == {"zh": "轻度污染", "en": "Lightly polluted"}


def test_no_primary_pollutant_at_or_below_50():
    result = aqi({"pm25": 35, "pm10": 50})
    assert (result.aqi, result.category, result.primary) == (50, 1, [])


def test_pollutants_sharing_the_highest_iaqi_are_all_primary():
    result = aqi({"pm25": 75, "pm10": 150})
    assert (result.aqi, result.primary) == (100, ["pm10", "pm25"])


def test_hourly_averaging_uses_the_one_hour_gas_breakpoints():
    # NO2 250 µg/m³: 1-hour IAQI 105; the 24-hour table would say 185.
    assert aqi({"no2": 250}, averaging="1h").aqi == 105
    assert aqi({"no2": 250}, averaging="24h").aqi == 185


@pytest.mark.parametrize(
    ("values", "averaging"),
    [({}, "24h"), ({"pm1": 3}, "24h"), ({"pm25": -1}, "24h"), ({"pm25": float("nan")}, "24h"),
     ({"pm25": 10}, "8h"), ({"pm25": True}, "24h")],
)
def test_bad_input_is_refused(values, averaging):
    with pytest.raises(ValueError):
        aqi(values, averaging=averaging)


@given(st.sampled_from(sorted(TABLE_1)), st.floats(0, 3000), st.floats(0, 3000))
def test_property_iaqi_is_monotonic_and_within_0_500(key, a, b):
    pollutant, averaging = key
    low, high = sorted((a, b))
    assert 0 <= iaqi(pollutant, low, averaging) <= iaqi(pollutant, high, averaging) <= 500
