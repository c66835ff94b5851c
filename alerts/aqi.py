"""The air quality index of China's HJ 633-2012 (环境空气质量指数（AQI）技术规定（试行）), exactly.

IAQI of a pollutant: linear interpolation between the breakpoints of Table 1, rounded UP to an integer
(the standard: 计算结果进位取整数); AQI = the highest IAQI; the category (1 优 … 6 严重污染) follows
Table 2; the primary pollutants are those whose IAQI equals the AQI, named only when AQI > 50.
Arithmetic is exact (fractions of the decimal concentration) so that e.g. PM2.5 = 35 µg/m³ gives
IAQI 50, not 51 from a floating-point crumb.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Literal

Averaging = Literal["1h", "24h"]

#: The IAQI column of Table 1.
IAQI_STEPS: tuple[int, ...] = (0, 50, 100, 150, 200, 300, 400, 500)

#: Table 1 concentration limits (µg/m³; CO mg/m³), one per IAQI step.
BREAKPOINTS: Mapping[str, tuple[float, ...]] = {
    "so2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    # Note (1)/(3): above 800 µg/m³ the 1-hour SO2 has no IAQI; the 24-hour one is reported instead.
    "so2_1h": (0, 150, 500, 650, 800),
    "no2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "no2_1h": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "pm10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
    "co_24h": (0, 2, 4, 14, 24, 36, 48, 60),
    "co_1h": (0, 5, 10, 35, 60, 90, 120, 150),
    "o3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    # Note (2): above 800 µg/m³ the 8-hour O3 has no IAQI; the 1-hour one is reported instead.
    "o3_8h": (0, 100, 160, 215, 265, 800),
    "pm25_24h": (0, 35, 75, 115, 150, 250, 350, 500),
}

POLLUTANTS: tuple[str, ...] = ("pm25", "pm10", "so2", "no2", "co", "o3")

#: Which breakpoint row each pollutant uses, per averaging of DESIGN §10, and the row to fall back on
#: above the top of the first one (the standard's notes (2) and (3); continuous at the hand-over).
_ROWS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "24h": {
        "pm25": ("pm25_24h",),
        "pm10": ("pm10_24h",),
        "so2": ("so2_24h",),
        "no2": ("no2_24h",),
        "co": ("co_24h",),
        "o3": ("o3_8h", "o3_1h"),
    },
    "1h": {
        "pm25": ("pm25_24h",),  # hourly reports use the 24-hour PM breakpoints (HJ 633-2012 §5.1)
        "pm10": ("pm10_24h",),
        "so2": ("so2_1h", "so2_24h"),
        "no2": ("no2_1h",),
        "co": ("co_1h",),
        "o3": ("o3_1h",),
    },
}

#: Table 2 categories: (highest AQI of the category, zh name, en name); category n is index n - 1.
CATEGORIES: tuple[tuple[int, str, str], ...] = (
    (50, "优", "Excellent"),
    (100, "良", "Good"),
    (150, "轻度污染", "Lightly polluted"),
    (200, "中度污染", "Moderately polluted"),
    (300, "重度污染", "Heavily polluted"),
    (10**9, "严重污染", "Severely polluted"),
)


@dataclass(frozen=True)
class AqiResult:
    """The AQI of a set of concentrations, its category (1–6), primary pollutants and every IAQI."""

    aqi: int
    category: int
    primary: list[str] = field(default_factory=list)
    iaqi: dict[str, int] = field(default_factory=dict)

    @property
    def category_name(self) -> dict[str, str]:
        """The category in both catalog languages (优/Excellent …)."""
        _, zh, en = CATEGORIES[self.category - 1]
        return {"zh": zh, "en": en}


def _exact(value: float) -> Fraction:
    return Fraction(Decimal(str(value)))


def _interpolate(concentration: Fraction, limits: tuple[float, ...]) -> Fraction | None:
    """The exact IAQI within ``limits``, or None above its top limit."""
    for (bp_lo, bp_hi), (i_lo, i_hi) in zip(pairwise(limits), pairwise(IAQI_STEPS), strict=False):
        lo, hi = _exact(bp_lo), _exact(bp_hi)
        if concentration <= hi:
            return Fraction(i_hi - i_lo) / (hi - lo) * (concentration - lo) + i_lo
    return None


def iaqi(pollutant: str, concentration: float, averaging: Averaging = "24h") -> int:
    """The IAQI of one pollutant (``pm25, pm10, so2, no2, co, o3``), rounded up; at most 500.

    Concentrations above the highest limit of Table 1 have no IAQI by the standard; they are reported
    as 500, the top of the scale.
    """
    rows = _ROWS.get(averaging)
    if rows is None:
        raise ValueError(f"averaging must be '1h' or '24h', not {averaging!r}")
    if pollutant not in rows:
        raise ValueError(f"unknown pollutant {pollutant!r}; expected one of {', '.join(POLLUTANTS)}")
    if isinstance(concentration, bool) or not isinstance(concentration, int | float):
        raise ValueError(f"{pollutant}: concentration must be a number")
    if not math.isfinite(concentration) or concentration < 0:
        raise ValueError(f"{pollutant}: concentration must be a finite number ≥ 0")
    exact = _exact(concentration)
    for row in rows[pollutant]:
        value = _interpolate(exact, BREAKPOINTS[row])
        if value is not None:
            return math.ceil(value)
    return IAQI_STEPS[-1]


#: Data validity (GB 3095-2012 Table 4; HJ 663-2013): hourly means needed for a 24-hour mean, for an
#: 8-hour mean, and valid 8-hour means (of those ending 08:00 … 24:00) for the daily maximum 8-hour O3.
MIN_HOURS_24H, MIN_HOURS_8H, MIN_WINDOWS_8H = 20, 6, 14
#: Reporting precision of mean concentrations (HJ 663-2013): CO in mg/m³ to 0.1, the others in µg/m³ to 1.
_PRECISION = {"co": Decimal("0.1")}


def reported(pollutant: str, concentration: float) -> float:
    """A mean concentration at its reporting precision, rounded half to even (GB/T 8170): what its IAQI is
    worked out from, so that 0.4 and 0.8 mg/m³ of CO average to 0.6, not to 0.6000000000000001 (IAQI 7)."""
    step = _PRECISION.get(pollutant, Decimal(1))
    return float(Decimal(repr(concentration)).quantize(step, rounding=ROUND_HALF_EVEN))


def category_of(index: int) -> int:
    """The Table 2 category (1 优 … 6 严重污染) of an AQI value."""
    return next(n for n, (top, _, _) in enumerate(CATEGORIES, start=1) if index <= top)


def aqi(values: Mapping[str, float], averaging: Averaging = "24h") -> AqiResult:
    """The AQI of ``values`` (pollutant key → concentration; µg/m³, CO in mg/m³) per HJ 633-2012.

    ``averaging`` "24h": daily values (O3 as its maximum 8-hour mean); "1h": hourly values (SO2, NO2,
    CO, O3 by their 1-hour limits; PM2.5 and PM10 by the 24-hour ones, as hourly reporting does).
    """
    if not values:
        raise ValueError("give at least one pollutant concentration")
    scores = {pollutant: iaqi(pollutant, value, averaging) for pollutant, value in values.items()}
    index = max(scores.values())
    primary = sorted(p for p, score in scores.items() if score == index) if index > 50 else []
    return AqiResult(index, category_of(index), primary, scores)
