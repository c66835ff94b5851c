# ruff: noqa: F811  (pytest fixtures imported from test_api_v1 are parameters here)
"""The simulator never writes into real sensors (issue 13 item 6): only the demo city's generated sensors are
marked simulated, the simulator feeds only those and marks its readings, the API and the map's sensor detail
say so, and the production worker never starts the simulator."""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
from alembic import command
from click.testing import CliRunner
from sqlalchemy import func, select, text

from alerts import scheduler as scheduler_module
from alerts.ingest import ingest_readings
from alerts.scheduler import scheduler_status
from alerts.simulator import PROFILES, Simulator, simulate_tick
from callbacks.bigscreen.detail import render_detail
from data.db import Database, alembic_config
from data.importers import import_file
from data.map_details import detail
from data.models import Reading, Sensor
from settings import Settings, get_settings
from tests.unit.test_api_v1 import _error, app, call, tokens  # noqa: F401  (fixtures)
from tests.unit.test_dispatch_service import G1_POINT
from tests.unit.test_importers import city, city_template, inner_points  # noqa: F401  (fixtures)

T0 = datetime(2025, 3, 1, 0, 0, 3, tzinfo=UTC)
#: A real sensor of a kind the simulator has a profile for: it would be fed if the simulator fed everything.
REAL = "REAL-GP-0001"


def import_real_sensor(db, tmp_path) -> None:
    (lon, lat), = inner_points(db, 1)
    path = tmp_path / "sensors.csv"
    pd.DataFrame({"id": [REAL], "kind": ["gas_pressure"], "name": ["调压站实测"], "family": ["gas"],
                  "unit": ["MPa"], "lon": [lon], "lat": [lat]}).to_csv(path, index=False)
    assert import_file(db, "sensors", path).imported == 1


def simulate_one_minute(db, start=T0) -> int:
    simulator, written = Simulator(seed=1), 0
    for i in range(12):  # every sensor reports once a minute, one tick every 5 s
        with db.uow() as s:
            written += simulate_tick(s, start + timedelta(seconds=5 * i), simulator=simulator)
    return written


def test_the_demo_city_marks_every_sensor_it_generates_simulated(city):
    with city.uow() as s:
        assert s.scalar(select(func.count()).select_from(Sensor)) > 0
        assert s.scalar(select(func.count()).select_from(Sensor).where(Sensor.simulated.is_(False))) == 0


def test_an_imported_sensor_gets_no_simulator_readings_while_the_simulated_ones_do(city, tmp_path):
    import_real_sensor(city, tmp_path)
    written = simulate_one_minute(city)
    with city.uow() as s:
        assert s.get(Sensor, REAL).simulated is False
        per_sensor = dict(s.execute(select(Reading.sensor_id, func.count()).group_by(Reading.sensor_id)).all())
        fed = set(s.scalars(select(Sensor.id).where(Sensor.simulated, Sensor.kind.in_(PROFILES))))
        flags = set(s.scalars(select(Reading.simulated).distinct()))
    assert REAL not in per_sensor
    assert set(per_sensor) == fed and written == sum(per_sensor.values())
    assert flags == {True}  # every reading the simulator wrote says so

    # The real sensor's own readings, from any ingest path, are stored as measured.
    with city.uow() as s:
        assert ingest_readings(s, [{"sensor_id": REAL, "ts": T0, "value": 0.31}], now=T0).accepted == 1
        assert s.scalar(select(Reading.simulated).where(Reading.sensor_id == REAL)) is False


def test_the_api_shows_which_sensors_are_simulated_and_registers_only_real_ones(call, db):
    body = {"id": "gp-real", "kind": "gas_pressure", "family": "gas", "name": "Gas main", "unit": "MPa",
            "lon": G1_POINT[0], "lat": G1_POINT[1]}
    created = call("POST", "/api/v1/sensors", "admin", body)
    assert created.status_code == 201 and created.get_json()["simulated"] is False
    # Only the demo-city generator makes simulated sensors: the API refuses the field, with its name.
    error = _error(call("POST", "/api/v1/sensors", "admin", {**body, "id": "gp-fake", "simulated": True}), 422)
    assert "simulated" in error["message"]
    with db.uow() as s:
        s.add(Sensor(id="gp-demo", kind="gas_pressure", family="gas", name="Demo main", unit="MPa",
                     lon=G1_POINT[0], lat=G1_POINT[1], simulated=True))

    listed = {s["id"]: s["simulated"] for s in call("GET", "/api/v1/sensors", "op").get_json()}
    assert listed == {"gp-real": False, "gp-demo": True}
    assert call("GET", "/api/v1/sensors/gp-demo", "op").get_json()["simulated"] is True
    assert call("GET", "/api/v1/sensors/gp-real", "op").get_json()["simulated"] is False
    schema = call("GET", "/api/v1/openapi.json", "op").get_json()["components"]["schemas"]["SensorOut"]
    assert "simulated" in schema["required"]

    # Readings posted through the API are measured, even for a demo sensor.
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    posted = call("POST", "/api/v1/readings", "op", {"readings": [{"sensor_id": "gp-demo", "ts": ts.isoformat(),
                                                                    "value": 0.3}]})
    assert posted.get_json()["accepted"] == 1
    with db.uow() as s:
        assert s.scalar(select(Reading.simulated).where(Reading.sensor_id == "gp-demo")) is False


def rendered(found) -> str:
    return json.dumps(render_detail(found).to_plotly_json(), default=lambda o: o.to_plotly_json(),
                      ensure_ascii=False)


def test_the_sensor_detail_on_the_map_says_simulated_and_counts_the_invented_readings(city, tmp_path, monkeypatch):
    monkeypatch.setenv("CITYOPS_LANG", "en")
    get_settings.cache_clear()
    import_real_sensor(city, tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    simulate_one_minute(city, start=now - timedelta(minutes=5))
    with city.uow() as s:
        demo = s.scalar(select(Reading.sensor_id).where(Reading.simulated).limit(1))
        ingest_readings(s, [{"sensor_id": demo, "ts": now - timedelta(minutes=2), "value": 1.0}], now=now)
        ingest_readings(s, [{"sensor_id": REAL, "ts": now - timedelta(minutes=2), "value": 0.3}], now=now)
        demo_detail, real_detail = detail(s, "sensor", demo), detail(s, "sensor", REAL)
    demo_fields, real_fields = dict(demo_detail.fields), dict(real_detail.fields)
    assert demo_fields["simulated"] is True and real_fields["simulated"] is False
    invented = len(demo_detail.extra["series"][0]) - 1  # one reading of the 24 h was posted, not simulated
    assert invented >= 1 and demo_fields["simulated_readings"] == f"{invented}/{invented + 1}"
    assert "simulated_readings" not in real_fields  # a real sensor that never got an invented reading
    assert "Simulated (demo)" in rendered(demo_detail) and "Simulated readings (24 h)" in rendered(demo_detail)
    assert "Measured" in rendered(real_detail) and "Simulated readings" not in rendered(real_detail)


def test_the_production_worker_never_starts_the_simulator(tmp_path, monkeypatch):
    """``python app.py worker`` (scripts/prod's scheduler process) runs every job but ``simulate``."""
    monkeypatch.setenv("CITYOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'worker.db'}")
    get_settings.cache_clear()
    started = []
    real_start = scheduler_module.start_scheduler

    def start_then_get_terminated(*args, **kwargs):
        handle = real_start(*args, **kwargs)
        started.append(handle)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()  # as `kill` stops the worker
        return handle

    monkeypatch.setattr(scheduler_module, "start_scheduler", start_then_get_terminated)
    from app import cli

    result = CliRunner().invoke(cli, ["worker"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (handle,) = started
    assert handle.simulator is None and "simulate" not in handle.jobs
    assert {"evaluate", "sweep", "retention"} <= set(handle.jobs)  # it is the scheduler, running its jobs


def test_the_web_app_of_wsgi_starts_no_scheduler_and_so_no_simulator(city):
    """``wsgi.py`` builds each gunicorn worker with ``create_app``: nothing there may take the scheduler lease."""
    from app import create_app

    create_app(Settings(database_url=str(city.url), secret_key="k"), city)
    with city.uow() as s:
        assert scheduler_status(s, datetime.now(UTC)) == "absent"


def test_upgrading_a_sqlite_city_with_readings_keeps_every_row_and_marks_nothing_simulated(tmp_path):
    """Migration 0011 adds the columns in place: a rebuilt ``sensors`` table would fail its foreign keys."""
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")

    def alembic(action: str, revision: str) -> None:
        with db.engine.begin() as connection:
            cfg = alembic_config(str(db.url))
            cfg.attributes["connection"] = connection
            getattr(command, action)(cfg, revision)

    alembic("upgrade", "0010")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO sensors (id, kind, family, name, unit, lon, lat, status, tags) "
                          "VALUES ('OLD-1', 'gas_pressure', 'gas', 'old', 'MPa', 117.0, 36.6, 'online', '[]')"))
        conn.execute(text("INSERT INTO readings (sensor_id, ts, value, received_at) "
                          "VALUES ('OLD-1', '2026-01-01 00:00:00', 0.3, '2026-01-01 00:00:00')"))
    alembic("upgrade", "head")
    with db.uow() as s:
        assert s.execute(select(Sensor.id, Sensor.simulated)).all() == [("OLD-1", False)]
        assert s.execute(select(Reading.value, Reading.simulated)).all() == [(0.3, False)]
    alembic("downgrade", "0010")  # and back, in place as well
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM readings")).scalar_one() == 1
    db.dispose()
