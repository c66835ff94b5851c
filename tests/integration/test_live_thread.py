"""The first live thread, through the service layer on the real PostgreSQL: a gas-pressure reading
breaches the rule → the scheduler's evaluation fires an alert → an incident is filed, routed to the
sensor's grid and the gas company → dispatched → resolved by the grid worker → closed → KPIs move."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import shapely
from sqlalchemy import select

from alerts.engine import evaluate_pending
from alerts.ingest import ingest_readings
from alerts.rules_loader import sync_rule_files
from data.demo import seed_demo_city
from data.models import Alert, Category, Grid, Incident, Sensor, User, utcnow
from dispatch import joint
from dispatch.kpi import kpi_snapshot
from dispatch.service import apply_action

RULES = Path(__file__).resolve().parents[2] / "alerts" / "rules"


def test_gas_reading_to_closed_incident_on_postgres(pg_db):
    seed_demo_city(pg_db, scale=0.01, seed=7, demo_passwords=False)
    now = utcnow()
    with pg_db.uow() as s:
        assert "gas-pressure-high" in sync_rule_files(s, RULES)
        before = kpi_snapshot(s, now - timedelta(days=1), now + timedelta(days=1), now=now)
        rows = [{"sensor_id": "GAS-P-0001", "ts": (now - timedelta(seconds=120 - 10 * i)).isoformat(),
                 "value": 0.47} for i in range(12)]
        result = ingest_readings(s, rows, now=now)
        assert result.accepted == 12 and not result.rejected

    with pg_db.uow() as s:
        evaluate_pending(s, now=now)

    with pg_db.uow() as s:
        alert = s.scalar(select(Alert).where(Alert.sensor_id == "GAS-P-0001"))
        assert alert is not None and alert.state == "firing" and alert.level == "red"
        incident = s.get(Incident, alert.incident_id)
        assert incident.state == "filed" and incident.source == "alert"
        sensor = s.get(Sensor, "GAS-P-0001")
        grid = s.get(Grid, incident.grid_id)
        assert shapely.from_wkb(grid.geom).intersects(shapely.Point(sensor.lon, sensor.lat))
        category = s.get(Category, incident.category_code)
        assert incident.department_id == category.department_id
        operator = s.scalar(select(User).where(User.username == "operator"))
        worker = s.scalar(select(User).where(User.id == grid.worker_id))
        incident_id, version = incident.id, incident.version

    with pg_db.uow() as s:
        incident = apply_action(s, incident_id, "dispatch", version=version, actor=operator, note="go")
        assert incident.state == "dispatched"
        # a red gas alert: the gas company leads, the fire brigade and the traffic police assist (linkage rule
        # gas-red); the grid worker works on site for the lead, each assisting handler reports their own task
        assert sorted(t.department_code for t in joint.tasks_of(s, incident_id)) == ["fire_rescue", "gas",
                                                                                    "traffic_police"]
        incident = apply_action(s, incident_id, "start", version=incident.version, actor=worker)
        incident = apply_action(s, incident_id, "resolve", version=incident.version, actor=worker, note="valve shut")
        assert incident.state == "in_progress"  # the assisting tasks are still open
        for name in ("fire", "traffic"):
            handler = s.scalar(select(User).where(User.username == name))
            incident = apply_action(s, incident_id, "resolve", version=incident.version, actor=handler, note="done")
        assert incident.state == "resolved"
        incident = apply_action(s, incident_id, "close", version=incident.version, actor=operator, note="verified")
        assert incident.state == "closed"

    with pg_db.uow() as s:
        after = kpi_snapshot(s, now - timedelta(days=1), now + timedelta(days=1), now=utcnow())
        history = [h.action for h in s.get(Incident, incident_id).history]
    assert after["reported"] == before["reported"] + 1
    assert after["closed"] == before["closed"] + 1
    assert after["closure_rate"] == 1.0
    assert after["by_source"]["alert"] == 1
    assert after["alerts_firing"]["red"] == 1
    assert history[-6:] == ["dispatch", "start", "resolve", "resolve", "resolve", "close"]
