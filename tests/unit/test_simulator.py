"""The demo feed: plausible values per kind, a steady rate, and the scripted gas episode end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from alerts.engine import evaluate_pending
from alerts.rules_loader import RULES_FOLDER, sync_rule_files
from alerts.simulator import ANOMALY_CYCLE, ANOMALY_SENSOR, PROFILES, Simulator, simulate_tick
from data.catalog import load_catalog
from data.models import Alert, Incident, Reading, Sensor

T0 = datetime(2025, 3, 1, 0, 0, 3, tzinfo=UTC)

#: Plausible bounds per kind (the ranges the demo is meant to show, with a little room).
PLAUSIBLE = {
    "gas_pressure": (0.25, 0.35),
    "gas_concentration": (0.0, 3.0),
    "water_pressure": (0.28, 0.40),
    "water_flow": (0, 400),
    "drain_level": (0.0, 0.3),
    "bridge_deflection": (-5, 25),
    "bridge_strain": (0, 300),
    "bridge_vibration": (0, 3),
    "manhole_tilt": (0, 2),
    "heating_temp": (54, 66),
    "air_pm25": (1, 150),
    "air_pm10": (1, 250),
    "air_so2": (1, 50),
    "air_no2": (1, 120),
    "air_co": (0.1, 4),
    "air_o3": (1, 250),
    "water_cod": (0, 40),
    "water_nh3n": (0, 2),
    "water_do": (2, 14),
    "outfall_flow": (0, 1000),
    "outfall_cod": (0, 120),
    "noise_db": (30, 90),
}


def test_every_sensor_kind_has_a_profile():
    assert set(PLAUSIBLE) <= set(PROFILES)


@pytest.mark.parametrize("kind", sorted(PLAUSIBLE))
def test_values_stay_plausible_round_the_clock(kind):
    sim = Simulator(seed=3)
    low, high = PLAUSIBLE[kind]
    values = [
        sim.value(f"S-{i}", kind, T0 + timedelta(minutes=13 * j)) for i in range(10) for j in range(111)
    ]
    assert all(low <= v <= high for v in values), (min(values), max(values))
    assert max(values) > min(values)  # it moves


def test_values_follow_the_time_of_day():
    sim = Simulator(seed=1)
    local_15h, local_03h = datetime(2025, 3, 1, 7, tzinfo=UTC), datetime(2025, 3, 1, 19, tzinfo=UTC)
    o3_afternoon = sum(sim.value(f"O3-{i}", "air_o3", local_15h) for i in range(20))
    o3_night = sum(sim.value(f"O3-{i}", "air_o3", local_03h) for i in range(20))
    assert o3_afternoon > o3_night


def test_values_are_reproducible_for_a_seed():
    at = T0 + timedelta(hours=5)
    assert Simulator(seed=7).value("WS-P-0001", "water_pressure", at) == Simulator(seed=7).value(
        "WS-P-0001", "water_pressure", at
    )
    assert {Simulator(seed=s).value("WS-P-0001", "water_pressure", at) for s in range(5)} != {None}
    assert Simulator().value("X-1", "unknown_kind", at) is None


def test_scripted_gas_episode_rises_over_red_within_the_first_minutes_and_clears_every_cycle():
    sim = Simulator(started_at=T0)
    ticks = [T0 + timedelta(seconds=5 * i) for i in range(int(ANOMALY_CYCLE.total_seconds() // 5))]
    values = [sim.value(ANOMALY_SENSOR, "gas_pressure", t) for t in ticks]
    first_breach = next(t for t, v in zip(ticks, values, strict=True) if v > 0.40)
    assert first_breach - T0 < timedelta(minutes=1)
    red = [t for t, v in zip(ticks, values, strict=True) if v > 0.45]
    assert red[-1] - red[0] >= timedelta(minutes=2)
    assert all(v < 0.38 for t, v in zip(ticks, values, strict=True) if t > red[-1] + timedelta(seconds=50))
    for t in ticks[::7]:
        assert sim.anomaly(t) == sim.anomaly(t + ANOMALY_CYCLE)


def test_each_sensor_reports_once_a_minute_and_the_scripted_one_every_tick():
    sim = Simulator()
    ids = [f"AIR-PM25-{i:04d}" for i in range(200)] + [ANOMALY_SENSOR]
    ticks = [T0 + timedelta(seconds=5 * i) for i in range(12)]
    reports = {sensor_id: sum(sim.due(sensor_id, t, 5.0) for t in ticks) for sensor_id in ids}
    assert reports.pop(ANOMALY_SENSOR) == 12
    assert set(reports.values()) == {1}


@pytest.fixture
def demo_city(db):
    with db.uow() as s:
        load_catalog(s)
        for sensor_id, kind in [
            (ANOMALY_SENSOR, "gas_pressure"),
            ("GAS-P-0002", "gas_pressure"),
            ("GAS-C-0001", "gas_concentration"),
            ("AIR-O3-0001", "air_o3"),
            ("NOISE-0001", "noise_db"),
            ("ODD-0001", "unknown_kind"),
        ]:
            s.add(Sensor(id=sensor_id, kind=kind, family="x", name=sensor_id, unit="-", lon=120.1, lat=30.2,
                         simulated=True))
        sync_rule_files(s, RULES_FOLDER)
    return db


def test_simulate_tick_writes_one_reading_per_sensor_a_minute_through_ingestion(demo_city):
    sim = Simulator(seed=5)
    written = 0
    for i in range(12):
        with demo_city.uow() as s:
            written += simulate_tick(s, T0 + timedelta(seconds=5 * i), simulator=sim)
    with demo_city.uow() as s:
        per_sensor = dict(
            s.execute(select(Reading.sensor_id, func.count()).group_by(Reading.sensor_id)).all()
        )
        assert per_sensor == {
            ANOMALY_SENSOR: 12,
            "GAS-P-0002": 1,
            "GAS-C-0001": 1,
            "AIR-O3-0001": 1,
            "NOISE-0001": 1,
        }
        assert written == 16
        assert s.get(Sensor, "NOISE-0001").last_value is not None


def test_the_running_demo_shows_a_live_gas_alert_that_files_an_incident_and_then_clears(demo_city):
    sim = Simulator(seed=5)
    states = []
    for i in range(int(ANOMALY_CYCLE.total_seconds() // 5)):
        now = T0 + timedelta(seconds=5 * i)
        with demo_city.uow() as s:
            simulate_tick(s, now, simulator=sim)
            if i % 2:
                evaluate_pending(s, now=now)
                alert = s.scalar(select(Alert).where(Alert.rule_id == "gas-pressure-high"))
                states.append((now, alert.state if alert else None, alert.level if alert else None))
    firing = [now for now, state, _ in states if state == "firing"]
    assert firing and firing[0] - T0 < timedelta(minutes=2)
    assert any(level == "red" for _, state, level in states if state == "firing")
    assert states[-1][1] == "resolved"
    with demo_city.uow() as s:
        alert = s.scalar(select(Alert).where(Alert.rule_id == "gas-pressure-high"))
        incident = s.get(Incident, alert.incident_id)
        assert (incident.source, incident.state, incident.category_code) == ("alert", "filed", "L01")
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
