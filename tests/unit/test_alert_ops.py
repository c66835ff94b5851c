"""Alert operations at the database edge: per-level auto-filing, silences, maintenance windows,
inhibition, triage, CAP 1.2, drills and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from alerts.cap import alert_cap
from alerts.drill import DrillFileError, load_drill_file, run_drill
from alerts.engine import evaluate_pending
from alerts.ingest import ingest_readings
from alerts.retention import roll_up_old_readings
from alerts.rules_schema import rule_document, validate_rule
from alerts.silences import create_silence, expire_silence
from alerts.triage import TriageError, triage_alert
from data.models import Alert, Incident, Reading, ReadingRollup, Rule, Sensor
from dispatch.kpi import kpi_snapshot
from tests.unit.test_dispatch_service import G1_POINT, G2_POINT, make_city

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
S1, S2 = "GAS-P-0001", "GAS-P-0002"  # in grids G1 and G2
CAP_XSD = Path(__file__).resolve().parents[1] / "data" / "cap-1.2.xsd"

HIGH = {
    "id": "hi",
    "name": {"zh": "压力超限", "en": "Over-pressure"},
    "applies_to": {"kinds": ["gas_pressure"]},
    "condition": {"type": "threshold", "op": ">", "levels": {"yellow": 0.40, "orange": 0.42, "red": 0.45}},
    "clear": {"op": "<", "value": 0.38},
    "incident": {"category": "L01", "auto_create": ["red", "orange"]},
    "labels": {"family": "lifeline"},
}
OFFLINE = {
    "id": "off",
    "name": {"zh": "离线", "en": "Offline"},
    "applies_to": {"kinds": ["gas_pressure"]},
    "condition": {"type": "stale", "after": "15m", "level": "blue"},
}


def put_rule(db, doc):
    with db.uow() as s:
        spec = validate_rule(doc)
        s.merge(Rule(id=spec.id, body=rule_document(spec), enabled=True, source="api", updated_at=T0))


@pytest.fixture
def ops(db):
    """Two grids (make_city), a gas sensor in each, and the rules HIGH and OFFLINE."""
    with db.uow() as s:
        city = make_city(s)
        for sensor_id, (lon, lat), grid in ((S1, G1_POINT, city.g1), (S2, G2_POINT, city.g2)):
            s.add(Sensor(id=sensor_id, kind="gas_pressure", family="gas", name=f"{sensor_id} 调压站", unit="MPa",
                         lon=lon, lat=lat, grid_id=grid.id))
    put_rule(db, HIGH)
    put_rule(db, OFFLINE)
    return db


def feed(db, sensor, values, *, start=T0, step=10):
    rows = [{"sensor_id": sensor, "ts": start + timedelta(seconds=step * i), "value": v} for i, v in enumerate(values)]
    with db.uow() as s:
        assert ingest_readings(s, rows, now=start + timedelta(seconds=step * (len(values) - 1))).accepted == len(values)


def evaluate(db, now=T0 + timedelta(minutes=5)):
    with db.uow() as s:
        return evaluate_pending(s, now=now)


def alert_of(db, rule="hi", sensor=S1, exercise=False) -> Alert:
    with db.uow() as s:
        return s.scalars(
            select(Alert).where(Alert.rule_id == rule, Alert.sensor_id == sensor, Alert.exercise.is_(exercise))
            .order_by(Alert.id.desc())
        ).first()


# --- alert → incident per level ------------------------------------------------------------------


def test_a_yellow_alert_waits_for_triage_and_is_filed_once_it_rises_to_orange(ops):
    feed(ops, S1, [0.41])
    assert evaluate(ops)["incidents"] == 0
    assert alert_of(ops).incident_id is None
    feed(ops, S1, [0.43], start=T0 + timedelta(seconds=10))
    assert evaluate(ops)["incidents"] == 1
    alert = alert_of(ops)
    with ops.uow() as s:
        incident = s.get(Incident, alert.incident_id)
        assert (incident.state, incident.category_code, incident.source) == ("filed", "L01", "alert")
        assert incident.grid.code == "G1"  # the sensor's grid


def test_an_episode_that_peaks_red_between_two_runs_is_filed_even_though_it_has_resolved(ops):
    feed(ops, S1, [0.41, 0.47, 0.41, 0.30])
    assert evaluate(ops)["incidents"] == 1
    alert = alert_of(ops)
    assert alert.state == "resolved" and alert.incident_id is not None


def test_two_alerts_of_one_sensor_and_category_share_the_open_incident(ops):
    low = {**HIGH, "id": "lo", "condition": {"type": "threshold", "op": ">", "levels": {"red": 0.46}}}
    del low["clear"]
    put_rule(ops, low)
    feed(ops, S1, [0.47])
    evaluate(ops)
    assert alert_of(ops, "hi").incident_id == alert_of(ops, "lo").incident_id is not None
    with ops.uow() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_operator_triage_files_a_yellow_alert_once(ops):
    feed(ops, S1, [0.41])
    evaluate(ops)
    alert_id = alert_of(ops).id
    with ops.uow() as s:
        alert, incident = triage_alert(s, alert_id)
        assert (incident.state, alert.incident_id) == ("reported", incident.id)
    with ops.uow() as s, pytest.raises(TriageError) as caught:
        triage_alert(s, alert_id)
    assert (caught.value.status, caught.value.code) == (409, "alert_has_incident")


# --- silences, maintenance windows, inhibition ---------------------------------------------------


def test_a_silence_on_a_grid_mutes_its_alerts_without_losing_them_and_files_nothing_until_it_ends(ops):
    with ops.uow() as s:
        silence = create_silence(s, grid_code="G1", starts_at=T0, ends_at=T0 + timedelta(hours=1), now=T0)
        silence_id = silence.id
    feed(ops, S1, [0.47])
    feed(ops, S2, [0.47])
    counts = evaluate(ops, now=T0 + timedelta(minutes=1))
    assert counts["fired"] == 2 and counts["incidents"] == 1
    muted, loud = alert_of(ops, sensor=S1), alert_of(ops, sensor=S2)
    assert (muted.state, muted.muted, muted.incident_id) == ("firing", "silence", None)
    assert (loud.muted, loud.incident_id is not None) == (None, True)
    # The silence ends while the alert still fires: it is filed on the next run.
    with ops.uow() as s:
        expire_silence(s, silence_id, T0 + timedelta(minutes=2))
    assert evaluate(ops, now=T0 + timedelta(minutes=3))["incidents"] == 1
    assert alert_of(ops, sensor=S1).muted is None and alert_of(ops, sensor=S1).incident_id is not None


def test_a_maintenance_window_outranks_a_silence_and_names_itself(ops):
    with ops.uow() as s:
        create_silence(s, rule_id="hi", starts_at=T0, ends_at=T0 + timedelta(hours=1), now=T0)
        create_silence(s, kind="maintenance", sensor_id=S1, starts_at=T0, ends_at=T0 + timedelta(hours=1), now=T0)
    feed(ops, S1, [0.47])
    feed(ops, S2, [0.47])
    evaluate(ops, now=T0 + timedelta(minutes=1))
    assert (alert_of(ops, sensor=S1).muted, alert_of(ops, sensor=S2).muted) == ("maintenance", "silence")


def test_a_silence_needs_a_target_and_a_real_window(ops):
    from alerts.silences import SilenceError

    with ops.uow() as s:
        with pytest.raises(SilenceError, match="rule_id"):
            create_silence(s, starts_at=T0, ends_at=T0 + timedelta(hours=1))
        with pytest.raises(SilenceError, match="ends_at"):
            create_silence(s, sensor_id=S1, starts_at=T0, ends_at=T0)
        with pytest.raises(SilenceError) as caught:
            create_silence(s, grid_code="NOPE", starts_at=T0, ends_at=T0 + timedelta(hours=1))
        assert caught.value.code == "unknown_grid"


def test_an_offline_sensor_inhibits_its_value_alerts_until_it_reports_again(ops):
    feed(ops, S1, [0.47])
    evaluate(ops, now=T0 + timedelta(minutes=1))
    assert alert_of(ops).muted is None
    # Twenty minutes without a reading: the stale alert fires, the sensor goes offline, its value alert is inhibited.
    evaluate(ops, now=T0 + timedelta(minutes=20))
    with ops.uow() as s:
        assert s.get(Sensor, S1).status == "offline"
    assert alert_of(ops, "off").state == "firing" and alert_of(ops, "off").muted is None
    assert (alert_of(ops).state, alert_of(ops).muted) == ("firing", "inhibited")
    # It reports again (still high): back online, no longer inhibited.
    feed(ops, S1, [0.47], start=T0 + timedelta(minutes=21))
    evaluate(ops, now=T0 + timedelta(minutes=21, seconds=5))
    assert alert_of(ops, "off").state == "resolved"
    assert (alert_of(ops).state, alert_of(ops).muted) == ("firing", None)


# --- CAP 1.2 -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cap_schema():
    return etree.XMLSchema(etree.parse(str(CAP_XSD)))


def cap_of(db, alert_id):
    with db.uow() as s:
        return alert_cap(s, s.get(Alert, alert_id))


def test_cap_of_a_firing_alert_is_valid_cap_1_2_with_zh_and_en_info(ops, cap_schema):
    feed(ops, S1, [0.47])
    evaluate(ops)
    document = etree.fromstring(cap_of(ops, alert_of(ops).id))
    cap_schema.assertValid(document)
    ns = {"c": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert document.findtext("c:status", namespaces=ns) == "Actual"
    assert document.findtext("c:msgType", namespaces=ns) == "Alert"
    assert document.findtext("c:sent", namespaces=ns) == "2026-03-01T16:00:00+08:00"
    infos = document.findall("c:info", ns)
    assert [i.findtext("c:language", namespaces=ns) for i in infos] == ["zh-CN", "en-US"]
    assert {i.findtext("c:severity", namespaces=ns) for i in infos} == {"Extreme"}
    assert [i.findtext("c:event", namespaces=ns) for i in infos] == ["压力超限", "Over-pressure"]
    assert infos[0].findtext("c:area/c:circle", namespaces=ns) == f"{G1_POINT[1]:.6f},{G1_POINT[0]:.6f} 0.3"
    assert infos[0].findtext("c:area/c:geocode/c:value", namespaces=ns) == "G1"


def test_cap_of_a_resolved_alert_is_an_all_clear_update_referencing_the_original(ops, cap_schema):
    feed(ops, S1, [0.43, 0.30])
    evaluate(ops)
    document = etree.fromstring(cap_of(ops, alert_of(ops).id))
    cap_schema.assertValid(document)
    ns = {"c": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert document.findtext("c:msgType", namespaces=ns) == "Update"
    assert document.findtext("c:references", namespaces=ns).endswith(
        f"cityops-alert-{alert_of(ops).id},2026-03-01T16:00:00+08:00"
    )
    assert document.findtext("c:info/c:responseType", namespaces=ns) == "AllClear"
    assert document.findtext("c:info/c:severity", namespaces=ns) == "Severe"


def test_the_cap_schema_catches_a_broken_document(ops, cap_schema):
    feed(ops, S1, [0.47])
    evaluate(ops)
    broken = cap_of(ops, alert_of(ops).id).replace(b"<status>Actual</status>", b"<status>Real</status>")
    assert not cap_schema.validate(etree.fromstring(broken))


# --- drills --------------------------------------------------------------------------------------


def write_drill(tmp_path, rows) -> Path:
    path = tmp_path / "drill.csv"
    path.write_text("sensor_id,ts,value\n" + "".join(f"{s},{ts},{v}\n" for s, ts, v in rows), encoding="utf-8")
    return path


def test_a_drill_raises_exercise_alerts_and_incidents_that_kpis_leave_out(ops, tmp_path, cap_schema):
    start = datetime(2020, 1, 1, tzinfo=UTC)
    rows = [(S1, (start + timedelta(seconds=10 * i)).isoformat(), v) for i, v in enumerate([0.30, 0.47, 0.47])]
    rows += [("NOPE-1", start.isoformat(), 1), (S1, "yesterday", 1)]
    now = T0 + timedelta(hours=2)
    counts = run_drill(ops, write_drill(tmp_path, rows), now=now)
    assert (counts["readings"], counts["fired"], counts["incidents"], counts["closed_at_end"]) == (3, 1, 1, 1)
    assert sorted(r["reason"] for r in counts["rejected"]) == ["ts is not an ISO-8601 time", "unknown sensor 'NOPE-1'"]
    drill_alert = alert_of(ops, exercise=True)
    assert drill_alert.state == "resolved" and drill_alert.fired_at == now + timedelta(seconds=10)
    assert alert_of(ops) is None  # no real alert
    with ops.uow() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == 0  # drill readings are not stored
        incident = s.get(Incident, drill_alert.incident_id)
        assert incident.exercise is True
        kpi = kpi_snapshot(s, T0, T0 + timedelta(days=1), now=now + timedelta(minutes=5))
        assert kpi["reported"] == 0
    document = etree.fromstring(cap_of(ops, drill_alert.id))
    cap_schema.assertValid(document)
    assert document.findtext("{urn:oasis:names:tc:emergency:cap:1.2}status") == "Exercise"


def test_a_paced_drill_sleeps_by_the_file_gaps_divided_by_the_speed(ops, tmp_path):
    rows = [(S1, (T0 + timedelta(seconds=60 * i)).isoformat(), 0.30) for i in range(3)]
    slept = []
    run_drill(ops, write_drill(tmp_path, rows), speed=30, now=T0, sleep=slept.append)
    assert slept == [2.0, 2.0]


def test_a_drill_file_with_missing_columns_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("sensor,when\nA,B\n", encoding="utf-8")
    with pytest.raises(DrillFileError, match="sensor_id"):
        load_drill_file(path)


def test_the_drill_command_prints_its_counts_and_refuses_an_unreadable_file(ops, tmp_path):
    import os
    import subprocess
    import sys

    rows = [(S1, (T0 + timedelta(seconds=10 * i)).isoformat(), v) for i, v in enumerate([0.30, 0.47, 0.47])]
    rows.append((S1, "soon", 1))
    root = Path(__file__).resolve().parents[2]

    def drill(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "app.py", "drill", *args], cwd=root, capture_output=True, text=True,
                              env={**os.environ, "CITYOPS_DATABASE_URL": str(ops.url)}, timeout=120)

    done = drill(str(write_drill(tmp_path, rows)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == ["readings\t3", "fired\t1", "resolved\t0", "incidents\t1", "closed_at_end\t1"]
    assert lines[5] == "  rejected line 5: ts is not an ISO-8601 time"
    assert alert_of(ops, exercise=True) is not None and alert_of(ops) is None
    (tmp_path / "bad.csv").write_text("sensor,when\nA,B\n", encoding="utf-8")
    done = drill(str(tmp_path / "bad.csv"))
    assert done.returncode != 0 and "sensor_id" in done.stderr and "Traceback" not in done.stderr


# --- retention -----------------------------------------------------------------------------------


def test_retention_rolls_old_evaluated_readings_into_hourly_buckets_then_deletes_them(ops):
    old = T0 - timedelta(days=40)
    feed(ops, S1, [0.30, 0.32, 0.34], start=old, step=600)  # 00:00, 00:10, 00:20
    feed(ops, S1, [0.31], start=old + timedelta(hours=1))
    evaluate(ops)
    feed(ops, S1, [0.33], start=old + timedelta(hours=2))  # not evaluated yet: kept
    with ops.uow() as s:
        counts = roll_up_old_readings(s, T0, keep=timedelta(days=30))
    assert counts == {"deleted": 4, "buckets": 2}
    with ops.uow() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == 1
        rollups = {r.bucket: (r.count, r.min, r.max, round(r.total, 6)) for r in s.scalars(select(ReadingRollup))}
    assert rollups == {old: (3, 0.30, 0.34, 0.96), old + timedelta(hours=1): (1, 0.31, 0.31, 0.31)}
