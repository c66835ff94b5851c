"""The alert engine's PostgreSQL statements (issue 21): the history of many sensors in one LATERAL query and
the batch's ``last_received_at`` in one UPDATE give what the portable statements give, and the engine's
behaviour across runs (memory, episodes, stale sensors) holds on PostgreSQL as on SQLite — with the worker's
state kept between runs too (the same transitions as rebuilding it; the sensors' fingerprint in the server)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from alerts import engine
from alerts.ingest import ingest_readings
from data.models import Sensor
from tests.integration.conftest import _schema_database
from tests.unit import test_engine as on_sqlite
from tests.unit.test_engine import (  # noqa: F401 - the SQLite tests, run again here on PostgreSQL
    GAS,
    LATER,
    T0,
    add_sensor,
    check_kept_state_equals_rebuilt,
    evaluate,
    test_an_episode_spread_over_many_runs_stays_one_alert,
    test_kept_state_follows_a_sensor_given_another_kind_and_a_rule_changed_through_the_store,
    test_kept_state_is_dropped_when_an_open_alert_changed_elsewhere,
    test_many_sensors_and_readings_in_one_run,
    test_rate_memory_survives_between_runs,
    test_stale_sensor_goes_offline_and_comes_back,
)

city = on_sqlite.city


@pytest.fixture
def db(pg_db):
    """``city`` (tests.unit.test_engine) on PostgreSQL."""
    return pg_db


def _ingest(db, rows, now):
    with db.uow() as s:
        return ingest_readings(s, rows, now=now)


def test_history_of_many_sensors_matches_the_portable_query(city, monkeypatch):
    with city.uow() as s:
        for i in range(3, 40):
            add_sensor(s, f"GAS-P-{i:04d}")
    ids = [f"GAS-P-{i:04d}" for i in range(1, 40)]
    # Readings arrive out of ts order (ids ≠ ts order), and some after the cursor, which must not count.
    rows = [{"sensor_id": sensor_id, "ts": (T0 + timedelta(seconds=10 * step)).isoformat(), "value": step + n / 100}
            for step in (3, 1, 4, 0, 2) for n, sensor_id in enumerate(ids) if n % 5 != step]
    _ingest(city, rows, LATER)
    with city.uow() as s:
        cursor = s.execute(text("SELECT max(id) FROM readings")).scalar()
    _ingest(city, [{"sensor_id": sensor_id, "ts": (T0 + timedelta(seconds=100)).isoformat(), "value": 9.0}
                   for sensor_id in ids], LATER)

    def history(depth):
        with city.uow() as s:
            return sorted(engine._history(s, set(ids) | {"NO-SUCH-SENSOR"}, cursor, depth),
                          key=lambda x: (x.sensor_id, x.ts))

    fast = {depth: history(depth) for depth in (1, 3)}
    monkeypatch.setattr(engine, "_is_postgresql", lambda session: False)
    portable = {depth: history(depth) for depth in (1, 3)}
    assert fast == portable
    assert len(fast[3]) == 3 * len(ids) and all(sample.value < 9 for sample in fast[3])
    assert [s.ts for s in fast[1] if s.sensor_id == GAS] == [T0 + timedelta(seconds=40)]


def test_last_received_at_moves_on_in_one_statement_and_never_back(city):
    _ingest(city, [{"sensor_id": GAS, "ts": T0.isoformat(), "value": 0.3},
                   {"sensor_id": "GAS-P-0002", "ts": T0.isoformat(), "value": 0.3}], T0 + timedelta(minutes=1))
    with city.uow() as s:
        s.get(Sensor, "GAS-P-0002").last_received_at = T0 + timedelta(hours=1)  # newer than this batch's
    evaluate(city)
    with city.uow() as s:
        assert s.get(Sensor, GAS).last_received_at == T0 + timedelta(minutes=1)
        assert s.get(Sensor, "GAS-P-0002").last_received_at == T0 + timedelta(hours=1)


def test_sensor_tags_are_read_as_sets_on_postgres(city):
    with city.uow() as s:
        add_sensor(s, "GAS-P-0003", tags=["dma-3", "trunk"])
        add_sensor(s, "GAS-P-0004", tags=["trunk", "dma-3"])
        add_sensor(s, "GAS-P-0005", tags=[])
    with city.uow() as s:
        sensors = engine._sensors(s)
    assert sensors["GAS-P-0003"].tags == sensors["GAS-P-0004"].tags == frozenset({"dma-3", "trunk"})
    assert sensors["GAS-P-0005"].tags == sensors[GAS].tags == frozenset()


@pytest.mark.parametrize("seed", range(3))
def test_state_kept_between_runs_gives_the_same_alerts_and_transitions_as_rebuilding_it(pg_db, seed, monkeypatch):
    with _schema_database() as rebuilt_db:
        check_kept_state_equals_rebuilt(pg_db, rebuilt_db, seed, monkeypatch)


def test_the_sensors_fingerprint_changes_with_ids_kinds_and_tags_not_with_last_values(city):
    def token():
        with city.uow() as s:
            return engine.sensors_token(s)

    first = token()
    assert first[0] == 2
    _ingest(city, [{"sensor_id": GAS, "ts": T0.isoformat(), "value": 0.3}], LATER)  # moves last_ts/last_value
    assert token() == first
    changes = [lambda s: setattr(s.get(Sensor, GAS), "tags", ["trunk"]),
               lambda s: setattr(s.get(Sensor, GAS), "kind", "gas_concentration"),
               lambda s: add_sensor(s, "GAS-P-0003")]
    seen = {first}
    for change in changes:
        with city.uow() as s:
            change(s)
        seen.add(token())
    assert len(seen) == 1 + len(changes)
