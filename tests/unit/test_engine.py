"""The engine at the database edge: cursor, batches, persistence, incidents, crash safety, file rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from alerts.engine import CURSOR_KEY, evaluate_pending
from alerts.ingest import ingest_readings
from alerts.rules_loader import RULES_FOLDER, sync_rule_files
from alerts.rules_schema import rule_document, validate_rule
from data.catalog import load_catalog
from data.models import Alert, Category, Incident, JobState, Rule, Sensor

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=10)
GAS = "GAS-P-0001"


def add_sensor(session, sensor_id, kind="gas_pressure", **fields):
    session.add(
        Sensor(
            id=sensor_id,
            kind=kind,
            family="gas",
            name=f"{sensor_id} 中山路",
            unit="MPa",
            lon=120.15,
            lat=30.25,
            **fields,
        )
    )


@pytest.fixture
def city(db):
    """Catalog (departments, categories), two gas sensors and the shipped rule files."""
    with db.uow() as s:
        load_catalog(s)
        add_sensor(s, GAS)
        add_sensor(s, "GAS-P-0002")
        sync_rule_files(s, RULES_FOLDER)
    return db


def feed(db, values, *, start=T0, step=10, sensor=GAS):
    rows = [
        {"sensor_id": sensor, "ts": (start + timedelta(seconds=step * i)).isoformat(), "value": v}
        for i, v in enumerate(values)
    ]
    with db.uow() as s:
        result = ingest_readings(s, rows, now=start + timedelta(seconds=step * (len(values) - 1)))
    assert result.accepted == len(values)


def evaluate(db, now=LATER, **kwargs):
    with db.uow() as s:
        return evaluate_pending(s, now=now, **kwargs)


def alerts(db, rule_id=None):
    query = select(Alert).order_by(Alert.id)
    if rule_id is not None:
        query = query.where(Alert.rule_id == rule_id)
    with db.uow() as s:
        return s.scalars(query).all()


def put_rule(db, doc, *, enabled=True):
    with db.uow() as s:
        spec = validate_rule(doc)
        s.merge(Rule(id=spec.id, body=rule_document(spec), enabled=enabled, source="api", updated_at=T0))


def test_the_cursor_advances_and_a_second_run_judges_nothing_again(city):
    feed(city, [0.30, 0.31, 0.32])
    counts = evaluate(city)
    assert counts["readings"] == 3 and counts["cursor"] > 0
    with city.uow() as s:
        assert s.get(JobState, CURSOR_KEY).value == {"reading_id": counts["cursor"]}
    again = evaluate(city)
    assert again["readings"] == 0 and again["cursor"] == counts["cursor"]


def test_gas_episode_fires_once_links_an_incident_and_resolves_below_the_band(city):
    feed(city, [0.36, 0.41, 0.43, 0.44, 0.46, 0.47, 0.43, 0.39, 0.385, 0.37, 0.36])
    counts = evaluate(city, batch_size=3)
    assert counts["readings"] == 11
    assert (counts["pending"], counts["fired"], counts["resolved"], counts["incidents"]) == (1, 1, 1, 1)
    (alert,) = alerts(city)
    assert (alert.rule_id, alert.sensor_id, alert.state) == ("gas-pressure-high", GAS, "resolved")
    assert alert.started_at == T0 + timedelta(seconds=10)
    assert alert.fired_at == T0 + timedelta(seconds=40)  # 30 s of breach in event time
    assert alert.resolved_at == T0 + timedelta(seconds=90)  # first reading below 0.38
    with city.uow() as s:
        incident = s.get(Incident, alert.incident_id)
        assert (incident.source, incident.category_code, incident.state) == ("alert", "L01", "filed")
        assert incident.reported_at == alert.fired_at
        assert incident.department_id == s.get(Category, "L01").department_id
        assert (incident.lon, incident.lat) == (120.15, 30.25)


def test_an_episode_spread_over_many_runs_stays_one_alert(city):
    values = [0.41, 0.43, 0.46, 0.46, 0.44, 0.41, 0.39, 0.46, 0.37]
    for i, value in enumerate(values):
        feed(city, [value], start=T0 + timedelta(seconds=10 * i))
        evaluate(city)
    (alert,) = alerts(city)
    assert alert.state == "resolved" and alert.resolved_at == T0 + timedelta(seconds=80)
    with city.uow() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_level_follows_the_value_while_firing(city):
    feed(city, [0.41, 0.41, 0.41, 0.41])
    evaluate(city)
    assert [(a.state, a.level) for a in alerts(city)] == [("firing", "yellow")]
    feed(city, [0.46], start=T0 + timedelta(minutes=1))
    evaluate(city)
    assert [(a.state, a.level, a.value) for a in alerts(city)] == [("firing", "red", 0.46)]


def test_a_dropped_pending_alert_is_not_kept(city):
    feed(city, [0.43, 0.44])
    evaluate(city)
    assert [a.state for a in alerts(city)] == ["pending"]
    feed(city, [0.30], start=T0 + timedelta(seconds=20))
    counts = evaluate(city)
    assert counts["dropped"] == 1
    assert alerts(city) == []


def test_a_run_rolled_back_by_a_crash_is_redone_without_duplicates(city):
    feed(city, [0.43, 0.44, 0.45, 0.46])
    with pytest.raises(RuntimeError), city.uow() as s:
        assert evaluate_pending(s, now=LATER)["fired"] == 1
        raise RuntimeError("crash before commit")
    assert alerts(city) == []
    counts = evaluate(city)
    assert counts["fired"] == 1 and counts["readings"] == 4
    assert evaluate(city)["readings"] == 0
    (alert,) = alerts(city)
    assert alert.state == "firing" and alert.incident_id is not None
    with city.uow() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_a_rule_without_auto_create_leaves_the_alert_for_triage(city):
    doc = {
        "id": "gas-low",
        "name": {"zh": "低压", "en": "low pressure"},
        "applies_to": {"kinds": ["gas_pressure"]},
        "condition": {"type": "threshold", "op": "<", "levels": {"yellow": 0.2}},
        "incident": {"category": "L01", "auto_create": False},
    }
    put_rule(city, doc)
    feed(city, [0.15])
    assert evaluate(city)["incidents"] == 0
    (alert,) = alerts(city, "gas-low")
    assert (alert.rule_id, alert.state, alert.incident_id) == ("gas-low", "firing", None)


def test_an_unknown_incident_category_does_not_stop_alerting(city):
    doc = {
        "id": "gas-low",
        "name": {"zh": "低压", "en": "low pressure"},
        "applies_to": {"ids": [GAS]},
        "condition": {"type": "threshold", "op": "<", "levels": {"yellow": 0.2}},
        "incident": {"category": "ZZ99", "auto_create": True},
    }
    put_rule(city, doc)
    feed(city, [0.15])
    counts = evaluate(city)
    assert (counts["fired"], counts["incidents"], counts["incident_errors"]) == (1, 0, 1)
    (alert,) = alerts(city, "gas-low")
    assert alert.state == "firing" and alert.incident_id is None


def test_rate_memory_survives_between_runs(city):
    doc = {
        "id": "gas-rise",
        "name": {"zh": "骤升", "en": "fast rise"},
        "applies_to": {"ids": [GAS]},
        "condition": {"type": "rate", "per": "1m", "op": ">", "levels": {"orange": 0.05}},
    }
    put_rule(city, doc)
    feed(city, [0.30])
    evaluate(city)
    feed(city, [0.34], start=T0 + timedelta(seconds=30))  # +0.04 in 30 s = 0.08/min
    evaluate(city)
    assert [(a.rule_id, a.level, round(a.value, 3)) for a in alerts(city)] == [("gas-rise", "orange", 0.08)]


def test_stale_sensor_goes_offline_and_comes_back(city):
    feed(city, [0.30], sensor="GAS-P-0002")
    with city.uow() as s:
        s.get(Sensor, GAS).last_ts = None  # never reported: not judged stale
    assert evaluate(city, now=T0 + timedelta(minutes=10))["fired"] == 0
    assert evaluate(city, now=T0 + timedelta(minutes=16))["fired"] == 1
    (alert,) = alerts(city)
    assert (alert.rule_id, alert.sensor_id, alert.state) == ("gas-sensor-offline", "GAS-P-0002", "firing")
    with city.uow() as s:
        assert s.get(Sensor, "GAS-P-0002").status == "offline"
    feed(city, [0.31], start=T0 + timedelta(minutes=17), sensor="GAS-P-0002")
    assert evaluate(city, now=T0 + timedelta(minutes=17))["resolved"] == 1
    with city.uow() as s:
        assert s.get(Sensor, "GAS-P-0002").status == "online"


def test_disabling_a_rule_closes_its_open_alert(city):
    feed(city, [0.46, 0.46, 0.46, 0.46])
    evaluate(city)
    with city.uow() as s:
        s.get(Rule, "gas-pressure-high").enabled = False
    assert evaluate(city, now=LATER)["resolved"] == 1
    (alert,) = alerts(city)
    assert alert.state == "resolved" and alert.resolved_at == LATER


def test_many_sensors_and_readings_in_one_run(city):
    with city.uow() as s:
        for i in range(3, 403):
            add_sensor(s, f"GAS-P-{i:04d}")
    rows = [
        {
            "sensor_id": f"GAS-P-{3 + i % 400:04d}",
            "ts": (T0 + timedelta(seconds=10 * (i // 400))).isoformat(),
            "value": 0.46 if i % 400 == 0 else 0.30,
        }
        for i in range(4000)
    ]
    with city.uow() as s:
        assert ingest_readings(s, rows, now=LATER).accepted == 4000
    counts = evaluate(city, batch_size=1000)
    assert counts["readings"] == 4000 and counts["fired"] == 1
    assert [(a.sensor_id, a.state) for a in alerts(city)] == [("GAS-P-0003", "firing")]


def test_sync_rule_files_keeps_api_rules_and_the_enabled_flag(city, tmp_path):
    with city.uow() as s:
        s.get(Rule, "gas-pressure-high").enabled = False
        s.delete(s.get(Rule, "gas-concentration-high"))  # then redefined through the API
    put_rule(
        city,
        {
            "id": "gas-concentration-high",
            "name": {"zh": "改", "en": "edited"},
            "applies_to": {"ids": [GAS]},
            "condition": {"type": "threshold", "op": ">", "levels": {"red": 60}},
        },
    )
    with city.uow() as s:
        loaded = sync_rule_files(s, RULES_FOLDER)
        assert "gas-concentration-high" not in loaded and "gas-pressure-high" in loaded
        assert s.get(Rule, "gas-concentration-high").body["name"]["en"] == "edited"
        assert s.get(Rule, "gas-pressure-high").enabled is False
        assert s.get(Rule, "gas-pressure-high").source == "file"


def test_sync_rule_files_loads_good_rules_despite_a_bad_file(db, tmp_path, caplog):
    (tmp_path / "good.yaml").write_text(
        "id: noise-night\nname: {zh: 夜间噪声, en: Night noise}\napplies_to: {kinds: [noise_db]}\n"
        "condition: {type: threshold, op: '>', levels: {yellow: 55}}\n",
        encoding="utf-8",
    )
    (tmp_path / "bad.yaml").write_text("id: x\ncondition: {type: threshold}\n", encoding="utf-8")
    with db.uow() as s:
        assert sync_rule_files(s, tmp_path) == ["noise-night"]
        assert s.get(Rule, "noise-night").source == "file"
    assert "bad.yaml" in caplog.text


def test_a_run_judges_the_readings_stored_when_it_started_and_leaves_later_ones_to_the_next(city, monkeypatch):
    """Under a steady stream a run must end and commit (issue 21): readings stored while it runs wait."""
    from alerts import engine

    feed(city, [0.30, 0.31, 0.32])
    judge = engine.EngineRun.judge
    arrived = []

    def judge_while_a_reading_arrives(run, batch, cursor):
        if not arrived:  # a reading stored during the run (in its own transaction here: SQLite has one writer)
            arrived.append(ingest_readings(run.session, [{"sensor_id": GAS, "ts": (T0 + timedelta(minutes=1))
                                                          .isoformat(), "value": 0.33}], now=LATER).accepted)
        return judge(run, batch, cursor)

    monkeypatch.setattr(engine.EngineRun, "judge", judge_while_a_reading_arrives)
    assert evaluate(city, batch_size=1)["readings"] == 3 and arrived == [1]
    monkeypatch.setattr(engine.EngineRun, "judge", judge)
    assert evaluate(city)["readings"] == 1
    assert evaluate(city)["readings"] == 0


# --- the evaluator's state kept between runs (issue 21) -----------------------------------------------------

KEPT_RULES = [
    {"id": "gas-rise", "name": {"zh": "骤升", "en": "fast rise"}, "applies_to": {"kinds": ["gas_pressure"]},
     "condition": {"type": "rate", "per": "1m", "op": ">", "levels": {"yellow": 0.05, "red": 0.2}}},
    {"id": "gas-thrice", "name": {"zh": "连续", "en": "three in a row"}, "applies_to": {"ids": [GAS, "GAS-P-0003"]},
     "condition": {"type": "repeat", "count": 3, "op": ">", "levels": {"yellow": 0.35, "orange": 0.4}},
     "clear": {"op": "<", "value": 0.33}},
    {"id": "pm25-hour", "name": {"zh": "空气", "en": "air"}, "applies_to": {"kinds": ["air_pm25"]},
     "condition": {"type": "aqi", "averaging": "1h", "levels": {"yellow": 3, "red": 5}}},
]
SENSORS = [GAS, "GAS-P-0002", "GAS-P-0003", "GAS-C-0001", "AIR-PM25-01"]
GAS_VALUES = [0.15, 0.30, 0.30, 0.36, 0.39, 0.41, 0.43, 0.46, 0.37]


def _stream(seed, steps=48):
    """A reproducible stream of steps: readings (some late, some sensors silent for a while), a rule switched
    off and on, a run rolled back, a run by another process; with the wall clock and the batch size of each run."""
    import random

    rnd = random.Random(seed)
    t, last, silent_until, out = T0, {}, {}, []
    for _ in range(steps):
        t += timedelta(seconds=rnd.choice([20, 40, 60, 90, 300]))
        rows = []
        for sensor in SENSORS:
            if silent_until.get(sensor, T0) > t or rnd.random() < 0.2:
                continue
            if rnd.random() < 0.04:
                silent_until[sensor] = t + timedelta(minutes=rnd.choice([10, 20, 40]))
            late = sensor in last and rnd.random() < 0.15
            ts = (last[sensor] - timedelta(seconds=rnd.randint(1, 30)) if late
                  else t - timedelta(seconds=rnd.randint(0, 9)))
            if not late:
                last[sensor] = ts
            if sensor.startswith("AIR"):
                value = rnd.choice([20.0, 60.0, 90.0, 160.0, 260.0])
            elif sensor.startswith("GAS-C"):
                value = rnd.choice([1.0, 5.0, 22.0, 30.0, 55.0, 8.0])
            else:
                value = rnd.choice(GAS_VALUES)
            rows.append({"sensor_id": sensor, "ts": ts.isoformat(), "value": value})
        event = rnd.choices(["run", "rule_off", "rule_on", "rollback", "other"], [20, 1, 1, 1, 1])[0]
        out.append((t, rows, event, rnd.randint(1, 6)))
    return out


def _city_for_kept_state(db):
    with db.uow() as s:
        load_catalog(s)
        for sensor in SENSORS:
            kind = ("air_pm25" if sensor.startswith("AIR") else
                    "gas_concentration" if sensor.startswith("GAS-C") else "gas_pressure")
            add_sensor(s, sensor, kind=kind)
        sync_rule_files(s, RULES_FOLDER)
    for doc in KEPT_RULES:
        put_rule(db, doc)


def _replay(db, stream, memory, monkeypatch):
    """Feed ``stream`` to ``db``, evaluating after each step (with ``memory``, or rebuilding every run); returns
    every run's counts and transitions and the alerts, incidents and sensors left."""
    from alerts import engine

    recorded = []
    apply = engine.EngineRun._apply

    def record(run, transition):
        recorded.append(transition)
        return apply(run, transition)

    monkeypatch.setattr(engine.EngineRun, "_apply", record)
    runs = []
    current = False  # whether ``memory`` holds the state of the last committed run, for the rules enabled now

    def evaluate_with_memory(s, t, batch):
        rebuilt = memory.rebuilt
        counts = evaluate_pending(s, now=t, batch_size=batch, memory=memory)
        assert memory.rebuilt - rebuilt == (not current), "kept only when current, rebuilt only when not"
        return counts

    for t, rows, event, batch in stream:
        seen = set()  # a (sensor, ts) once per step; the store refuses repeats anyway
        rows = [row for row in rows
                if (row["sensor_id"], row["ts"]) not in seen and not seen.add((row["sensor_id"], row["ts"]))]
        if rows:
            with db.uow() as s:
                ingest_readings(s, rows, now=t)
        if event in ("rule_off", "rule_on"):
            with db.uow() as s:
                rule = s.get(Rule, "gas-pressure-high")
                current = current and rule.enabled == (event == "rule_on")
                rule.enabled = event == "rule_on"
        if event == "rollback" and memory is not None:
            with pytest.raises(RuntimeError), db.uow() as s:
                evaluate_with_memory(s, t, batch)
                raise RuntimeError("crash before commit")
            recorded.clear()
            current = False
        with db.uow() as s:
            if memory is None or event == "other":  # another process (or every run) rebuilds
                counts = evaluate_pending(s, now=t, batch_size=batch)
                current = False
            else:
                counts = evaluate_with_memory(s, t, batch)
                current = True
        runs.append((counts, list(recorded)))
        recorded.clear()
    monkeypatch.setattr(engine.EngineRun, "_apply", apply)
    with db.uow() as s:
        kept = [(a.rule_id, a.sensor_id, a.state, a.level, a.value, a.started_at, a.fired_at, a.resolved_at,
                 a.last_ts, a.peak_level, a.muted, a.incident_id is not None)
                for a in s.scalars(select(Alert).order_by(Alert.rule_id, Alert.sensor_id, Alert.started_at))]
        incidents = s.scalar(select(func.count()).select_from(Incident))
        sensors = [(x.id, x.status, x.last_received_at) for x in s.scalars(select(Sensor).order_by(Sensor.id))]
    return runs, kept, incidents, sensors


def _second_sqlite(tmp_path, migrated_sqlite):
    import shutil

    from data.db import Database

    shutil.copy(migrated_sqlite, tmp_path / "rebuilt.db")
    return Database(f"sqlite:///{tmp_path / 'rebuilt.db'}")


def check_kept_state_equals_rebuilt(kept_db, rebuilt_db, seed, monkeypatch):
    """The same stream, evaluated in many short runs, gives the same transitions (run by run, in order), alerts,
    incidents and sensors whether the worker keeps its state between runs or rebuilds it every run."""
    from alerts.engine import EngineMemory

    stream = _stream(seed)
    for db in (kept_db, rebuilt_db):
        _city_for_kept_state(db)
    memory = EngineMemory()
    kept = _replay(kept_db, stream, memory, monkeypatch)
    rebuilt = _replay(rebuilt_db, stream, None, monkeypatch)
    for number, (with_memory, without) in enumerate(zip(kept[0], rebuilt[0], strict=True)):
        assert with_memory == without, f"run {number} (seed {seed})"
    assert kept[1:] == rebuilt[1:]
    assert sum(counts["readings"] for counts, _ in kept[0]) > 80
    assert sum(counts["fired"] + counts["resolved"] for counts, _ in kept[0]) > 5  # not a quiet stream
    assert memory.reused > 2 * memory.rebuilt  # the state really was kept (and rebuilt when it had to be)


@pytest.mark.parametrize("seed", range(8))
def test_state_kept_between_runs_gives_the_same_alerts_and_transitions_as_rebuilding_it(
        seed, db, tmp_path, migrated_sqlite, monkeypatch):
    rebuilt_db = _second_sqlite(tmp_path, migrated_sqlite)
    try:
        check_kept_state_equals_rebuilt(db, rebuilt_db, seed, monkeypatch)
    finally:
        rebuilt_db.dispose()


def test_kept_state_follows_a_sensor_given_another_kind_and_a_rule_changed_through_the_store(city):
    """What the worker keeps is rebuilt when sensors or rules change: the next run judges by the new ones."""
    from alerts import rules_store
    from alerts.engine import EngineMemory

    memory = EngineMemory()

    def run(now=LATER):
        with city.uow() as s:
            return evaluate_pending(s, now=now, memory=memory)

    feed(city, [0.30, 0.30])
    run()
    feed(city, [0.30], start=T0 + timedelta(seconds=20))
    run()
    assert (memory.rebuilt, memory.reused) == (1, 1)
    with city.uow() as s:  # GAS-P-0002 becomes a gas-concentration sensor: ≥ 20 %LEL is a breach for it
        s.get(Sensor, "GAS-P-0002").kind = "gas_concentration"
    feed(city, [30.0, 31.0, 32.0, 33.0], sensor="GAS-P-0002")
    counts = run()
    assert memory.rebuilt == 2 and counts["fired"] == 1
    assert [(a.rule_id, a.sensor_id) for a in alerts(city)] == [("gas-concentration-high", "GAS-P-0002")]
    with city.uow() as s:  # the API adds a rule: 0.30 MPa now breaches at once
        rules_store.create_rule(s, {"id": "gas-watch", "name": {"zh": "关注", "en": "watch"},
                                    "applies_to": {"kinds": ["gas_pressure"]},
                                    "condition": {"type": "threshold", "op": ">", "levels": {"red": 0.25}}})
    feed(city, [0.30], start=T0 + timedelta(seconds=30))
    counts = run()
    assert memory.rebuilt == 3 and counts["fired"] == 1
    assert ("gas-watch", GAS, "firing", "red") in [(a.rule_id, a.sensor_id, a.state, a.level)
                                                          for a in alerts(city)]
    feed(city, [0.31], start=T0 + timedelta(seconds=40))
    assert run()["updated"] == 1 and memory.reused == 2


def test_kept_state_is_dropped_when_an_open_alert_changed_elsewhere(city):
    from alerts.engine import EngineMemory

    memory = EngineMemory()
    feed(city, [0.46, 0.46, 0.46, 0.46])
    with city.uow() as s:
        evaluate_pending(s, now=LATER, memory=memory)
    with city.uow() as s:  # closed by hand (or by a process this worker does not know)
        (alert,) = s.scalars(select(Alert)).all()
        alert.state, alert.resolved_at = "resolved", LATER
    feed(city, [0.47], start=T0 + timedelta(minutes=1))
    with city.uow() as s:
        counts = evaluate_pending(s, now=LATER, memory=memory)
    assert memory.rebuilt == 2 and counts["pending"] == 1  # a new episode, not an update of the closed one
