"""The demo feed: plausible readings for the demo city's simulated sensors, plus scripted anomalies.

Only sensors marked ``simulated`` (the demo-city generator marks its own; imported and API-made sensors
never are) get readings, and every reading written here is stored with ``simulated`` set, so invented
data never mixes with a real sensor's own and can always be told apart.

Values follow a daily cycle (local time) with per-sensor offsets and noise, and are a pure function of
(seed, sensor, time), so a run can be replayed. So that a running demo always shows live alerts, every
10-minute cycle (anchored at the first tick) plays scripted episodes, staggered so that some are always
live: a gas over-pressure on the demo city's scripted gas sensor (``data.demo.SCRIPTED_GAS_SENSOR``; above
0.45 MPa from 20 s in, back below the 0.38 MPa clear level of ``gas-pressure-high``), a water-main burst
(pressure falls, flow surges), a rainstorm waterlogging several underpasses in different grids, a PM2.5
episode at one air station, and an outfall spill (flow and COD). Scripted sensors other than the gas one
keep reporting once a minute.
"""

from __future__ import annotations

import itertools
import math
import random
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.ingest import ingest_readings
from data.demo import SCRIPTED_GAS_SENSOR
from data.models import Sensor


@dataclass(frozen=True)
class Profile:
    """How one sensor kind behaves: a level, a daily swing peaking at ``peak_hour`` (local), noise."""

    unit: str
    base: float
    swing: float
    noise: float
    peak_hour: float
    low: float = 0.0
    high: float = math.inf
    digits: int = 2


PROFILES: Mapping[str, Profile] = {
    # Lifeline. Gas pressure dips at the morning and evening demand peaks; water pressure is highest at night.
    "gas_pressure": Profile("MPa", 0.30, -0.025, 0.004, 19, digits=3),
    "gas_concentration": Profile("%LEL", 0.8, 0.4, 0.25, 14, high=100, digits=2),
    "water_pressure": Profile("MPa", 0.34, 0.03, 0.004, 3, digits=3),
    "water_flow": Profile("m3/h", 120.0, 60.0, 8.0, 8, digits=1),
    # Water depth at the underpass / road low point: a few centimetres of standing water in dry weather.
    "drain_level": Profile("m", 0.03, 0.01, 0.005, 18, high=0.3, digits=3),
    "bridge_deflection": Profile("mm", 8.0, 3.0, 0.6, 8, low=-math.inf, digits=2),
    "bridge_strain": Profile("µε", 120.0, 40.0, 8.0, 8, low=-math.inf, digits=1),
    "bridge_vibration": Profile("mm/s", 0.8, 0.4, 0.12, 8, digits=3),
    "manhole_tilt": Profile("deg", 0.3, 0.05, 0.08, 14, digits=2),
    "heating_temp": Profile("°C", 60.0, 2.5, 0.5, 6, digits=1),
    # Air (µg/m3; CO in mg/m3). NO2 follows traffic, O3 peaks in the afternoon sun.
    "air_pm25": Profile("µg/m3", 45.0, 15.0, 5.0, 8, low=1, digits=0),
    "air_pm10": Profile("µg/m3", 75.0, 20.0, 8.0, 8, low=1, digits=0),
    "air_so2": Profile("µg/m3", 10.0, 4.0, 1.5, 9, low=1, digits=0),
    "air_no2": Profile("µg/m3", 35.0, 12.0, 4.0, 8, low=1, digits=0),
    "air_co": Profile("mg/m3", 0.8, 0.3, 0.08, 8, low=0.1, digits=2),
    "air_o3": Profile("µg/m3", 80.0, 50.0, 8.0, 15, low=1, digits=0),
    # Surface water and outfalls (mg/L, m3/h); dissolved oxygen peaks with photosynthesis.
    "water_cod": Profile("mg/L", 14.0, 2.0, 1.0, 10, digits=1),
    "water_nh3n": Profile("mg/L", 0.6, 0.15, 0.06, 10, digits=2),
    "water_do": Profile("mg/L", 7.5, 1.0, 0.25, 15, digits=2),
    "outfall_flow": Profile("m3/h", 300.0, 120.0, 20.0, 10, digits=1),
    "outfall_cod": Profile("mg/L", 30.0, 10.0, 4.0, 10, digits=1),
    "noise_db": Profile("dB(A)", 55.0, 8.0, 1.5, 14, low=30, digits=1),
}

ANOMALY_SENSOR = SCRIPTED_GAS_SENSOR
ANOMALY_CYCLE = timedelta(minutes=10)
#: The episode within each cycle, in seconds from the cycle start: ramp up, hold, ramp down.
_EPISODE = ((20.0, 0.32), (80.0, 0.47), (260.0, 0.47), (320.0, 0.33))

Points = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Script:
    """A scripted anomaly: ``count`` sensors of ``kind`` (in distinct grids where known) follow ``points``.

    Points are (seconds from the cycle start, value); past the cycle length they wrap into the next
    cycle. Each further sensor of the script runs ``stagger`` seconds after the previous one.
    """

    name: str
    kind: str
    points: Points
    count: int = 1
    stagger: float = 0.0


SCRIPTS: tuple[Script, ...] = (
    Script("water_main_burst", "water_pressure", ((90, 0.33), (150, 0.12), (390, 0.12), (450, 0.33))),
    Script("water_main_burst", "water_flow", ((90, 125), (150, 480), (390, 480), (450, 130))),
    Script("rainstorm", "drain_level", ((420, 0.03), (540, 0.46), (780, 0.46), (880, 0.04)), count=4, stagger=20),
    Script("pm25_episode", "air_pm25", ((30, 55), (150, 200), (450, 200), (570, 55))),
    Script("outfall_spill", "outfall_flow", ((240, 310), (300, 1300), (480, 1300), (540, 320))),
    Script("outfall_spill", "outfall_cod", ((240, 32), (300, 180), (480, 180), (540, 35))),
)


def _interpolate(points: Points, x: float) -> float | None:
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x < x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


class Simulator:
    """Readings for every sensor kind of ``PROFILES``; deterministic for a seed."""

    def __init__(
        self,
        seed: int = 42,
        *,
        zone: str = "Asia/Shanghai",
        anomaly_sensor: str = ANOMALY_SENSOR,
        started_at: datetime | None = None,
        scripts: tuple[Script, ...] = SCRIPTS,
    ) -> None:
        self.seed = seed
        self.zone = ZoneInfo(zone)
        self.anomaly_sensor = anomaly_sensor
        #: The anomaly cycle is anchored here; None = at the first tick.
        self.started_at = started_at
        self.scripts = scripts
        #: Sensor id → (points, delay in seconds) of its script; chosen at the first tick.
        self.scripted: dict[str, tuple[Points, float]] | None = None

    def cast(self, sensors: Iterable[tuple]) -> dict[str, str]:
        """Choose the sensors of each script among ``sensors`` ((id, kind[, grid id]) tuples); returns id → script.

        The first sensors of the script's kind by id, skipping any whose grid the script already has.
        """
        self.scripted, cast = {}, {}
        ordered = sorted(sensors)
        for script in self.scripts:
            grids: set[object] = set()
            chosen = 0
            for sensor_id, kind, *rest in ordered:
                grid = rest[0] if rest else None
                taken = sensor_id == self.anomaly_sensor or sensor_id in self.scripted
                if kind != script.kind or taken or (grid is not None and grid in grids):
                    continue
                grids.add(grid)
                self.scripted[sensor_id] = (script.points, chosen * script.stagger)
                cast[sensor_id] = script.name
                chosen += 1
                if chosen == script.count:
                    break
        return cast

    def scripted_value(self, sensor_id: str, at: datetime) -> float | None:
        """The value a script gives a sensor at ``at``, or None (no script, or outside its episode)."""
        if sensor_id == self.anomaly_sensor:
            return self.anomaly(at)
        if self.started_at is None or not self.scripted or sensor_id not in self.scripted:
            return None
        points, delay = self.scripted[sensor_id]
        cycle = ANOMALY_CYCLE.total_seconds()
        phase = ((at - self.started_at).total_seconds() - delay) % cycle
        found = _interpolate(points, phase)
        return found if found is not None else _interpolate(points, phase + cycle)

    def _random(self, sensor_id: str, at: datetime) -> random.Random:
        return random.Random(f"{self.seed}:{sensor_id}:{int(at.timestamp())}")

    def anomaly(self, at: datetime) -> float | None:
        """The scripted pressure of the anomaly sensor at ``at``, or None outside its episodes."""
        if self.started_at is None:
            return None
        phase = (at - self.started_at) % ANOMALY_CYCLE
        return _interpolate(_EPISODE, phase.total_seconds())

    def value(self, sensor_id: str, kind: str, at: datetime) -> float | None:
        """The reading of a sensor of ``kind`` at ``at`` (None for a kind without a profile)."""
        profile = PROFILES.get(kind)
        if profile is None:
            return None
        # Noise is Gaussian cut at ±3σ, so every kind stays within its plausible range.
        noise = min(max(self._random(sensor_id, at).gauss(0.0, 1.0), -3.0), 3.0) * profile.noise
        scripted = self.scripted_value(sensor_id, at)
        if scripted is not None:
            return round(scripted + noise / 2, profile.digits)
        local = at.astimezone(self.zone)
        hour = local.hour + local.minute / 60 + local.second / 3600
        # Each sensor sits a little above or below its kind's level, steadily (±3 %).
        offset = (zlib.crc32(f"{self.seed}:{sensor_id}".encode()) % 1001 / 1000 - 0.5) * 0.06 * profile.base
        daily = profile.swing * math.cos(2 * math.pi * (hour - profile.peak_hour) / 24)
        value = min(max(profile.base + offset + daily + noise, profile.low), profile.high)
        return round(value, profile.digits)

    def due(self, sensor_id: str, at: datetime, interval_s: float) -> bool:
        """Whether a sensor reports on the tick at ``at``: once a minute, spread over the ticks."""
        if sensor_id == self.anomaly_sensor:
            return True
        slots = max(1, round(60 / interval_s))
        tick = int(at.timestamp() // interval_s)
        return tick % slots == zlib.crc32(sensor_id.encode()) % slots

    def readings(
        self, sensors: Iterable[tuple[str, str]], now: datetime, interval_s: float = 5.0
    ) -> list[dict]:
        """One tick of readings for the due ones of ``sensors`` ((id, kind[, grid id]) tuples), stamped ``now``."""
        sensors = list(sensors)
        if self.started_at is None:
            self.started_at = now
        if self.scripted is None:
            self.cast(sensors)
        ts = now.replace(microsecond=0)
        rows = []
        for sensor_id, kind, *_ in sensors:
            if not self.due(sensor_id, ts, interval_s):
                continue
            value = self.value(sensor_id, kind, ts)
            if value is not None:
                rows.append({"sensor_id": sensor_id, "ts": ts, "value": value})
        return rows


_shared = Simulator()


def simulate_tick(
    session: Session, now: datetime, *, simulator: Simulator | None = None, interval_s: float = 5.0
) -> int:
    """Write one tick of readings, marked simulated, for the simulated sensors through ``ingest_readings``;
    returns how many were accepted. Real (imported, API-made) sensors never get any."""
    simulator = simulator or _shared
    query = select(Sensor.id, Sensor.kind, Sensor.grid_id).where(Sensor.simulated.is_(True)).order_by(Sensor.id)
    sensors = [tuple(row) for row in session.execute(query)]
    rows = simulator.readings(sensors, now, interval_s)
    return ingest_readings(session, rows, now=now, simulated=True).accepted if rows else 0
