"""Reading ingestion: bad rows are rejected with a reason, duplicates counted, good rows kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from alerts.ingest import ingest_readings
from data.models import Reading, Sensor

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def sensors(session):
    for sensor_id in ("GAS-P-0001", "GAS-P-0002"):
        session.add(
            Sensor(
                id=sensor_id,
                kind="gas_pressure",
                family="gas",
                name=sensor_id,
                unit="MPa",
                lon=120.0,
                lat=30.0,
            )
        )
    session.flush()


def row(value=0.3, *, sensor_id="GAS-P-0001", ts=NOW):
    return {"sensor_id": sensor_id, "ts": ts.isoformat() if isinstance(ts, datetime) else ts, "value": value}


def stored(session):
    return session.scalar(select(func.count()).select_from(Reading))


def test_good_rows_are_stored_and_move_the_sensor_last_value(session, sensors):
    result = ingest_readings(session, [row(0.31, ts=NOW - timedelta(seconds=10)), row(0.33)], now=NOW)
    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, [])
    assert stored(session) == 2
    sensor = session.get(Sensor, "GAS-P-0001")
    assert (sensor.last_value, sensor.last_ts) == (0.33, NOW)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (row(float("nan")), "finite"),
        (row(float("inf")), "finite"),
        (row(float("-inf")), "finite"),
        (row("0.3"), "number"),
        (row(True), "number"),
        (row(None), "missing field 'value'"),
        (row(sensor_id="NOPE-0001"), "unknown sensor 'NOPE-0001'"),
        (row(sensor_id=7), "sensor_id"),
        (row(ts="2025-03-01T08:00:00"), "timezone"),
        (row(ts="yesterday"), "ISO-8601"),
        (row(ts=1740816000), "ISO-8601"),
        (row(ts=NOW + timedelta(minutes=5, seconds=1)), "5 minutes in the future"),
        ({"sensor_id": "GAS-P-0001", "value": 0.3}, "missing field 'ts'"),
        (["GAS-P-0001", NOW.isoformat(), 0.3], "object"),
        ("GAS-P-0001,0.3", "object"),
    ],
)
def test_a_bad_row_is_rejected_with_its_reason_and_the_good_ones_are_kept(session, sensors, bad, reason):
    good_before = row(0.30, ts=NOW - timedelta(seconds=20))
    good_after = row(0.32, sensor_id="GAS-P-0002")
    result = ingest_readings(session, [good_before, bad, good_after], now=NOW)
    assert result.accepted == 2 and result.duplicates == 0
    assert len(result.rejected) == 1
    assert result.rejected[0]["index"] == 1
    assert reason in result.rejected[0]["reason"]
    assert stored(session) == 2


def test_a_time_up_to_five_minutes_ahead_is_accepted(session, sensors):
    assert ingest_readings(session, [row(ts=NOW + timedelta(minutes=5))], now=NOW).accepted == 1


def test_duplicates_in_the_batch_and_already_stored_are_counted_not_rejected(session, sensors):
    assert ingest_readings(session, [row(0.30)], now=NOW).accepted == 1
    same_instant_other_offset = row(0.31, ts="2025-03-01T16:00:00+08:00")
    batch = [
        row(0.30),
        same_instant_other_offset,
        row(0.35, ts=NOW - timedelta(seconds=5)),
        row(0.36, ts=NOW - timedelta(seconds=5)),
    ]
    result = ingest_readings(session, batch, now=NOW)
    assert (result.accepted, result.duplicates, result.rejected) == (1, 3, [])
    assert stored(session) == 2


def test_an_older_reading_does_not_move_last_value_back(session, sensors):
    ingest_readings(session, [row(0.33)], now=NOW)
    ingest_readings(session, [row(0.20, ts=NOW - timedelta(minutes=1))], now=NOW)
    sensor = session.get(Sensor, "GAS-P-0001")
    assert (sensor.last_value, sensor.last_ts) == (0.33, NOW)


def test_rejections_are_listed_in_row_order(session, sensors):
    rows = [row(sensor_id="X"), row(float("nan")), row(sensor_id="Y"), row()]
    result = ingest_readings(session, rows, now=NOW)
    assert [r["index"] for r in result.rejected] == [0, 1, 2]
    assert result.as_dict() == {"accepted": 1, "duplicates": 0, "rejected": result.rejected}


def test_a_full_request_of_ten_thousand_rows_is_taken_in_one_call(session, sensors):
    rows = [row(0.3, ts=NOW - timedelta(seconds=i), sensor_id=f"GAS-P-000{1 + i % 2}") for i in range(10_000)]
    result = ingest_readings(session, rows, now=NOW)
    assert (result.accepted, result.duplicates, result.rejected) == (10_000, 0, [])
    again = ingest_readings(session, rows[:500], now=NOW)
    assert (again.accepted, again.duplicates) == (0, 500)
