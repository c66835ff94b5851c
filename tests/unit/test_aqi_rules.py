"""``aqi`` rules judge what their ``averaging`` says (issue 13, item 4; HJ 633-2012): the mean of each clock
hour for ``1h``, of the last 24 hourly means for ``24h`` (O3: of the last 8), of the last 8 for O3 ``8h`` —
never a single instantaneous reading — through the pure evaluator and across engine runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine import evaluate_pending
from alerts.evaluator import Sample, SensorInfo, evaluate
from alerts.ingest import ingest_readings
from alerts.rules_schema import RuleValidationError, rule_document, validate_rule
from data.models import Alert, Rule, Sensor

T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
PM25 = SensorInfo("AIR-PM25-1", "air_pm25")
O3 = SensorInfo("AIR-O3-1", "air_o3")
SENSORS = {s.id: s for s in (PM25, O3)}


def aqi_rule(averaging, kinds=("air_pm25", "air_o3"), **fields):
    return validate_rule({
        "id": f"aqi-{averaging}", "name": {"zh": "空气", "en": "air"}, "applies_to": {"kinds": list(kinds)},
        "condition": {"type": "aqi", "averaging": averaging, "levels": {"yellow": 3, "red": 5}}, **fields,
    })


def hourly(sensor, means, start=T0):
    """Two readings an hour (at :15 and :45), 40 below and 40 above each hour's mean."""
    return [Sample(sensor.id, start + timedelta(hours=h, minutes=m), mean + d)
            for h, mean in enumerate(means) for m, d in ((15, -40), (45, 40))]


def transitions(rule, readings):
    _, out = evaluate([rule], readings, {}, T0 + timedelta(days=3), sensors=SENSORS)
    return [(t.kind, t.level, t.value, t.ts) for t in out]


def test_one_hour_rules_judge_each_clock_hour_by_its_mean_not_by_a_reading():
    # PM2.5 hour means 70, 90, 130, 30 (readings 30/110, 50/130, 90/170, -10/70 — the reading of 110 alone
    # would be 轻度污染 in the first hour). IAQI by the 24-hour PM limits: 70 → 50+50/40·35 = 93.75 → 94
    # (良, 2); 90 → 100+50/40·15 = 118.75 → 119 (3, yellow); 130 → 150+50/35·15 = 171.4 → 172 (4, yellow);
    # 30 → 50/35·30 = 42.9 → 43 (1): resolved. Each verdict comes with the first reading of the next hour.
    out = transitions(aqi_rule("1h"), hourly(PM25, [70, 90, 130, 30, 30]))
    assert out == [
        ("fired", "yellow", 119.0, T0 + timedelta(hours=2, minutes=15)),
        ("updated", "yellow", 172.0, T0 + timedelta(hours=3, minutes=15)),
        ("resolved", "yellow", 43.0, T0 + timedelta(hours=4, minutes=15)),
    ]


def test_24_hour_rules_need_20_hourly_means_and_judge_their_mean():
    # 19 hours at 120 µg/m³ then 30: no verdict before 20 hourly means; at the 21st hour's first reading
    # the 20 means are 19·120 + 30 → 115.5 → reported as 116 (half to even) → 150+50/35·1 = 151.4 → 152
    # (中度污染, 4: yellow). A single hour at 120 would be judged the same; what differs is the window.
    out = transitions(aqi_rule("24h"), hourly(PM25, [120] * 19 + [30] * 3))
    assert out[0] == ("fired", "yellow", 152.0, T0 + timedelta(hours=20, minutes=15))
    # The window holds every hourly mean so far (at most 24): after hour 21, (19·120 + 2·30)/21 = 111.43 →
    # 111 → 100+50/40·36 = 145 (3, still yellow).
    assert out[1] == ("updated", "yellow", 145.0, T0 + timedelta(hours=21, minutes=15))


def test_ozone_is_judged_by_its_8_hour_mean_under_8h_and_24h_rules():
    # O3 hour means: 5 hours of 100, then 300 for 3 hours. 8h: from the 6th mean on (the first valid), the
    # mean of up to the last 8: after hour 5 (6 means) (5·100 + 300)/6 = 133.3 → 133 → 50+50/60·33 = 77.5 →
    # 78 (良); after hour 7: (5·100 + 3·300)/8 = 175 → 100+50/55·15 = 113.6 → 114 (轻度, 3: yellow).
    # By the 1-hour O3 limits the hours at 300 would be 150 at once: the 8-hour mean is what counts.
    means = [100] * 5 + [300] * 3 + [100]
    for averaging in ("8h", "24h"):
        out = transitions(aqi_rule(averaging, kinds=["air_o3"]), hourly(O3, means))
        assert out == [("fired", "yellow", 114.0, T0 + timedelta(hours=8, minutes=15))], averaging


def test_an_8h_rule_is_for_ozone_only():
    with pytest.raises(RuleValidationError, match="O3 only"):
        aqi_rule("8h", kinds=["air_pm25"])


def test_the_hour_in_progress_survives_between_engine_runs(db):
    # Half an hour's readings are judged in one run, the rest of the hour in the next: the hour's mean must
    # still be of all of them — (60 + 100 + 100 + 60)/4 = 80 → 107 (3: yellow) — not of the second half.
    rule = aqi_rule("1h", kinds=["air_pm25"])
    with db.uow() as s:
        s.add(Sensor(id=PM25.id, kind="air_pm25", family="air", name="PM2.5", unit="µg/m³", lon=117.0, lat=36.6))
        s.add(Rule(id=rule.id, body=rule_document(rule), enabled=True, source="api"))

    def feed(minutes_values):
        rows = [{"sensor_id": PM25.id, "ts": (T0 + timedelta(minutes=m)).isoformat(), "value": v}
                for m, v in minutes_values]
        with db.uow() as s:
            assert ingest_readings(s, rows, now=T0 + timedelta(minutes=minutes_values[-1][0])).accepted == len(rows)
        with db.uow() as s:
            evaluate_pending(s, now=T0 + timedelta(minutes=minutes_values[-1][0]))

    feed([(5, 60.0), (20, 100.0)])
    feed([(35, 100.0), (50, 60.0)])
    feed([(65, 10.0)])
    with db.uow() as s:
        (alert,) = s.query(Alert).all()
        assert (alert.state, alert.level, alert.value) == ("firing", "yellow", 107.0)
